// Spectra as HDF5 (datasets edges and counts) for `bsmhunt fit` and `bumphunt`.
#include <string>

#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/pipeline/Fit.hpp"
#include <cstddef>
#include <cstdint>

#include "FuzzSupport.hpp"
#include "bsmhunt/core/Error.hpp"

using namespace bsmhunt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file(data, size, ".h5");
  fuzz::expect_accept_or_refuse([&] {
    // As `bsmhunt fit --input` reads it: is it a feature or score file (the format
    // attribute)? If not, the io reader, then the shape checks.
    (void)io::hdf5_format_attribute(path);
    const auto s = pipeline::read_spectrum(path, pipeline::SpectrumFormat::hdf5);
    if (s.edges.size() != s.counts.size() + 1) throw InternalError("edges and counts disagree");
  });
  return 0;
}
