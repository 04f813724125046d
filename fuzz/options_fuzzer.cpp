// Option values parsed by bsmhunt itself rather than by Boost: number lists, bin
// edges ("E0,E1,..", "LO:HI:N", "log:LO:HI:N") and table formats.
#include <string>

#include "bsmhunt/io/TableReader.hpp"
#include "bsmhunt/pipeline/Options.hpp"
#include <cstddef>
#include <cstdint>

#include "FuzzSupport.hpp"
#include "bsmhunt/core/Error.hpp"

using namespace bsmhunt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_accept_or_refuse([&] { (void)pipeline::parse_numbers(text, "weights"); });
  fuzz::expect_accept_or_refuse([&] { (void)pipeline::parse_bin_edges(text, "bins"); });
  fuzz::expect_accept_or_refuse([&] { (void)io::parse_table_format(text); });
  return 0;
}
