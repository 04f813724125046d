// Tables written by other tools: pandas DataFrame.to_hdf (fixed format) and h5py
// files with one dataset per column (`bsmhunt import`), read whole.
#include <string>
#include <vector>

#include "bsmhunt/io/TableReader.hpp"
#include <cstddef>
#include <cstdint>

#include "FuzzSupport.hpp"
#include "bsmhunt/core/Error.hpp"

using namespace bsmhunt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file(data, size, ".h5");
  for (const auto format : {io::TableFormat::automatic, io::TableFormat::pandas, io::TableFormat::h5py}) {
    fuzz::expect_accept_or_refuse([&] {
      io::TableReader table(fuzz::world(), path, format);
      std::vector<std::string> names;
      for (const auto& c : table.columns())
        if (c.kind != io::ColumnKind::unsupported) names.push_back(c.name);
      for (const auto& column : table.read(names, 0, std::min<uint64_t>(table.rows(), 100000)))
        for (std::size_t i = 0; i < column.size(); ++i) (void)column.as_text(i);
    });
  }
  return 0;
}
