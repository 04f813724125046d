// Spectra as CSV (lo,hi,count lines) for `bsmhunt fit` and `bumphunt`.
#include <string>

#include "bsmhunt/io/SpectrumFile.hpp"
#include <cstddef>
#include <cstdint>

#include "FuzzSupport.hpp"
#include "bsmhunt/core/Error.hpp"

using namespace bsmhunt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file(data, size, ".csv");
  fuzz::expect_accept_or_refuse([&] {
    const auto s = io::read_spectrum_csv(path);
    if (s.edges.size() != s.counts.size() + 1) throw InternalError("edges and counts disagree");
  });
  return 0;
}
