// CSV tables (`bsmhunt import --format csv`, HiggsML style): header, rows, numbers
// and text, read whole through the collective TableReader.
#include <string>
#include <vector>

#include "bsmhunt/io/TableReader.hpp"
#include <cstddef>
#include <cstdint>

#include "FuzzSupport.hpp"
#include "bsmhunt/core/Error.hpp"

using namespace bsmhunt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file(data, size, ".csv");
  fuzz::expect_accept_or_refuse([&] {
    io::TableReader table(fuzz::world(), path, io::TableFormat::csv);
    std::vector<std::string> names;
    for (const auto& c : table.columns())
      if (c.kind != io::ColumnKind::unsupported) names.push_back(c.name);
    for (const auto& column : table.read(names, 0, table.rows()))
      for (std::size_t i = 0; i < column.size(); ++i) (void)column.as_text(i);
  });
  return 0;
}
