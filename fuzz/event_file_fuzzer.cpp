// Event files (generate, convert): the validator, then every sample read whole.
#include <string>

#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/physics/EventBlock.hpp"
#include <cstddef>
#include <cstdint>

#include "FuzzSupport.hpp"
#include "bsmhunt/core/Error.hpp"

using namespace bsmhunt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file(data, size, ".h5");
  fuzz::expect_accept_or_refuse([&] {
    io::EventFileReader reader(fuzz::world(), path);
    physics::EventBlock block;
    for (std::size_t s = 0; s < reader.samples().size(); ++s) {
      const uint64_t n = reader.samples()[s].info.n_events;
      for (uint64_t begin = 0; begin < n; begin += 4096) reader.read(s, begin, std::min<uint64_t>(n, begin + 4096), block);
    }
  });
  return 0;
}
