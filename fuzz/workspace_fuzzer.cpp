// JSON from outside: HistFactory workspaces (pyhf's schema) read by `bsmhunt limits
// --workspace`, through the one JSON reader of core/.
#include <string>

#include "bsmhunt/stats/Workspace.hpp"
#include <cstddef>
#include <cstdint>

#include "FuzzSupport.hpp"
#include "bsmhunt/core/Error.hpp"

using namespace bsmhunt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file(data, size, ".json");
  fuzz::expect_accept_or_refuse([&] { (void)stats::read_workspace(path); });
  return 0;
}
