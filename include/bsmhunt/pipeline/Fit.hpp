#pragma once
// `bsmhunt fit`: sideband fits of a binned spectrum with the dijet functions, the
// signal-region predictions and their local and global significance (docs/fit.md).
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/pipeline/Command.hpp"
#include "bsmhunt/stats/DijetFit.hpp"
#include "bsmhunt/stats/PeakFit.hpp"

namespace bsmhunt::pipeline {

enum class SpectrumFormat { automatic, csv, hdf5 };
SpectrumFormat parse_spectrum_format(std::string_view text);  // auto, csv, hdf5

// Not collective. CSV/text or HDF5 (io/SpectrumFile.hpp); InputError naming the
// file, the line or dataset, and what was expected.
stats::Spectrum read_spectrum(const std::filesystem::path& path, SpectrumFormat format = SpectrumFormat::automatic);

// "LO,HI" or "LO:HI" in GeV.
stats::SignalRegion parse_signal_region(std::string_view text);

// A spectrum built from the `mass` column of a feature or score file (bsmhunt
// extract / import / predict): the events of `samples` (auto: the data samples;
// data, background, simulated, or glob patterns) in `split` (all, train,
// validation, test) that pass `select` (cuts on the file's features or scores,
// Selection.hpp), binned in `mass_bins` (bumphunt's syntax: edges, or [log:]LO:HI:N),
// counts = sums of the analysis weights (1 for data). Collective; the same bits on
// any rank count.
struct RowSpectrumOptions {
  std::string mass_bins, select, samples = "auto", split = "all";
};
stats::Spectrum spectrum_from_rows(const dist::Communicator& comm, const std::filesystem::path& path,
                                   const RowSpectrumOptions& options, std::string* description = nullptr);

// --peak: a signal + background fit of a peak instead of the dijet sideband fits.
struct PeakConfig {
  bool enabled = false;
  stats::PeakModel model;      // shape, background family, tails, resolution (lo, hi set from the range)
  double range_lo = 0, range_hi = 0;  // 0, 0: the whole spectrum
  double mass = 0, width = 0;  // starting values; mass 0: the scan's best point; width 0: 2 bins
  bool fix_width = false;
  bool scan = true;            // the sliding scan (and, with --toys, its global significance)
  double scan_step = 0;        // 0: the width
  double truth_mass = 0;       // > 0: the pull of the fitted mass is reported
};

struct FitConfig {
  std::filesystem::path input, output, output_h5;  // output: JSON; output_h5: per-bin arrays (optional)
  SpectrumFormat format = SpectrumFormat::automatic;
  RowSpectrumOptions rows;  // when `input` is a feature or score file
  std::vector<stats::SignalRegion> signal_regions;
  std::size_t scan_bins = 0;  // also every window of this many bins (0: none)
  stats::FitOptions options;
  stats::ToyOptions toys;
  PeakConfig peak;
  bool overwrite = false;
};

struct FitRun {
  stats::Spectrum spectrum;
  std::string source;  // how a spectrum built from a feature or score file was made
  stats::SidebandFit background_only;  // every bin fitted: the pseudo-data model of the toys
  std::vector<stats::SignalRegionResult> regions;
  double max_z = 0;                    // largest local Z (with the fit uncertainty) over the regions
  std::optional<stats::GlobalSignificance> global;
  double fit_seconds = 0;              // the observed spectrum's fits
  double toys_per_second = 0;          // this rank's toys over their wall time
};

void add_fit_options(po::options_description& options);
FitConfig fit_config_from(const po::variables_map& vm);

// Collective. Reads the spectrum (every rank), fits every signal region and the
// background-only model (every rank, identically), runs the toys spread over the
// ranks, and writes the outputs from rank 0 (NAME.partial, then renamed); rank 0
// prints the summary. Returns 0.
int run_fit(const dist::Communicator& comm, const FitConfig& config);
// The spectrum of config.input (a spectrum file or a feature/score file's mass column).
// Collective; `source` says how a spectrum from rows was made.
stats::Spectrum load_spectrum(const dist::Communicator& comm, const FitConfig& config, std::string* source);
// --peak: the scan, the signal + background fit, its local and global significance;
// outputs from rank 0 (docs/fit.md, "Peak fits"). Returns 0.
int run_peak_fit(const dist::Communicator& comm, const FitConfig& config);
// The same, returning the results and writing nothing.
FitRun fit_spectrum(const dist::Communicator& comm, const FitConfig& config);

// The result as JSON (docs/fit.md lists the fields), the per-bin HDF5 arrays, and a
// readable summary table.
void write_fit_json(const std::filesystem::path& path, const FitRun& run, const FitConfig& config);
void write_fit_h5(const std::filesystem::path& path, const FitRun& run, const FitConfig& config);
std::string format_fit_summary(const FitRun& run, const FitConfig& config);

}  // namespace bsmhunt::pipeline
