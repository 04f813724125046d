#pragma once
// Binned spectra in HDF5 for `bsmhunt fit` (docs/fit.md): the input holds 1-D
// numeric datasets `edges` (bins + 1, GeV) and `counts` (bins) in the root group,
// as h5py writes them (`f["edges"] = edges`); the per-bin output is a set of 1-D
// float64 datasets.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace bsmhunt::io {

struct SpectrumArrays {
  std::vector<double> edges, counts;
};

// Not collective. CSV (or whitespace-separated text): a header line naming the
// columns lo, hi and count (any order; 'counts' is accepted for 'count'; other
// columns are ignored), then one bin per line in increasing, contiguous order; '#'
// starts a comment line. InputError naming the file, the line and what was expected.
SpectrumArrays read_spectrum_csv(const std::filesystem::path& path);

// Not collective (serial HDF5 API, read-only: any rank may call it). InputError
// naming the file and dataset when one is missing, not 1-D or not numeric. The
// values are returned as stored, converted to double; their meaning is checked by
// the caller.
SpectrumArrays read_spectrum_file(const std::filesystem::path& path);

struct NamedArray {
  std::string name;  // "a/b" puts dataset b in group a
  std::vector<double> values;
};
// Not collective: one rank writes the whole file. 1-D float64 datasets and string
// attributes of the root group, written to NAME.partial and renamed when complete.
void write_array_file(const std::filesystem::path& path, const std::vector<NamedArray>& arrays,
                      const std::vector<std::pair<std::string, std::string>>& attributes);

}  // namespace bsmhunt::io
