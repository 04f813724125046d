// bsmhunt fit: sideband fits of a binned spectrum, the signal-region predictions and
// their local significance (every rank, identically), and the global significance
// from toys spread over the ranks.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/pipeline/Fit.hpp"

namespace bsmhunt::pipeline {

stats::Spectrum load_spectrum(const dist::Communicator& comm, const FitConfig& config, std::string* source) {
  // A feature or score file is binned collectively; a spectrum file is read by every rank.
  bool row_file = false;
  dist::collectively(comm, [&] {
    const std::string format = config.format == SpectrumFormat::csv ? "" : io::hdf5_format_attribute(config.input);
    row_file = format == io::kFeatureFormat || format == io::kScoreFormat;
  });
  stats::Spectrum spectrum;
  if (row_file) {
    spectrum = spectrum_from_rows(comm, config.input, config.rows, source);
    log::info("{}", *source);
  } else if (!config.rows.mass_bins.empty() || !config.rows.select.empty()) {
    throw InputError(fmt::format("--mass-bins and --select apply to a feature or score file; {} is a spectrum file",
                                 config.input.string()));
  }
  dist::collectively(comm, [&] {
    if (!row_file) spectrum = read_spectrum(config.input, config.format);
    try {
      stats::validate_spectrum(spectrum, config.options.sqrt_s_GeV);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: {}", config.input.string(), e.what()));
    }
  });
  return spectrum;
}

FitRun fit_spectrum(const dist::Communicator& comm, const FitConfig& config) {
  if (config.toys.toys > 0 && config.signal_regions.empty() && config.scan_bins == 0)
    throw InputError("--toys needs signal regions: give --signal-region LO,HI or --scan-bins K");
  if (!(config.options.pvalue_threshold >= 0 && config.options.pvalue_threshold < 1))
    throw InputError(fmt::format("--pvalue-threshold {} must be in [0, 1)", config.options.pvalue_threshold));

  FitRun run;
  std::vector<stats::SignalRegion> regions = config.signal_regions;
  run.spectrum = load_spectrum(comm, config, &run.source);
  // Every rank fits the same small spectrum: identical results, no messages.
  dist::collectively(comm, [&] {
    if (config.scan_bins > 0) {
      const auto scan = stats::sliding_signal_regions(run.spectrum, config.scan_bins,
                                                      std::max<std::size_t>(config.options.min_sideband_bins, 1));
      regions.insert(regions.end(), scan.begin(), scan.end());
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& region : regions)
      run.regions.push_back(stats::fit_signal_region(run.spectrum, region, config.options));
    run.background_only = stats::fit_sidebands(run.spectrum, 0, 0, config.options);
    run.fit_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  });
  for (const auto& r : run.regions) run.max_z = std::max(run.max_z, r.z);

  if (config.toys.toys > 0) {
    run.global = stats::global_significance(comm, run.background_only.result().expected, run.spectrum.edges, regions,
                                            run.max_z, config.options, config.toys);
    const double mine = double(dist::partition(config.toys.toys, comm.size(), comm.rank()).size());
    run.toys_per_second = run.global->seconds > 0 ? mine / run.global->seconds : 0.0;
  }

  return run;
}

int run_fit(const dist::Communicator& comm, const FitConfig& config) {
  if (config.peak.enabled) return run_peak_fit(comm, config);
  io::check_output_path(comm, config.output, config.overwrite, "--output");
  if (!config.output_h5.empty()) io::check_output_path(comm, config.output_h5, config.overwrite, "--output-h5");
  const FitRun run = fit_spectrum(comm, config);
  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    write_fit_json(config.output, run, config);
    if (!config.output_h5.empty()) write_fit_h5(config.output_h5, run, config);
    std::cout << format_fit_summary(run, config) << std::flush;
  });
  return 0;
}

}  // namespace bsmhunt::pipeline
