// Feature and score files (extract, import, predict): the validator, then every row.
#include <string>

#include "bsmhunt/io/FeatureFile.hpp"
#include <cstddef>
#include <cstdint>

#include "FuzzSupport.hpp"
#include "bsmhunt/core/Error.hpp"

using namespace bsmhunt;

namespace {
void read_whole(const std::string& path, io::RowFileKind kind) {
  io::FeatureFileReader reader(fuzz::world(), path, kind);
  io::FeatureBlock block;
  for (uint64_t begin = 0; begin < reader.rows(); begin += 4096)
    reader.read(begin, std::min<uint64_t>(reader.rows(), begin + 4096), block);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file(data, size, ".h5");
  fuzz::expect_accept_or_refuse([&] { read_whole(path, io::RowFileKind::features); });
  fuzz::expect_accept_or_refuse([&] { read_whole(path, io::RowFileKind::scores); });
  return 0;
}
