// The per-stage records of `bsmhunt run` (DIR/manifest/<stage>.txt): a damaged one
// must read as "no record" (the stage is redone), never as a wrong record.
#include <string>

#include "../src/pipeline/run/Manifest.hpp"
#include "FuzzSupport.hpp"
#include "bsmhunt/core/Error.hpp"

using namespace bsmhunt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file(data, size, ".txt");
  fuzz::expect_accept_or_refuse([&] {
    // A record that reads is exactly the text record_text writes for it: no byte of
    // the file was changed since.
    if (const auto record = pipeline::read_record(path);
        record && pipeline::record_text(*record) != std::string(reinterpret_cast<const char*>(data), size))
      throw InternalError("a manifest record was read from text that record_text would not write");
  });
  return 0;
}
