// Model and checkpoint files (HDF5 archives written by train, read by predict,
// export and resumed training): the archive reader, then the model loaded for
// scoring as predict loads it (preprocessing, network or BDT, folds, parameters).
#include <string>

#include "../src/pipeline/ModelFile.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "FuzzSupport.hpp"
#include "bsmhunt/core/Error.hpp"

using namespace bsmhunt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file(data, size, ".h5");
  fuzz::expect_accept_or_refuse([&] { (void)io::read_archive(path, ""); });
  fuzz::expect_accept_or_refuse([&] { pipeline::TrainedModel model(fuzz::world(), path, nn::DeviceKind::cpu, 1); });
  return 0;
}
