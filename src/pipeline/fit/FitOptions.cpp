// Options of `bsmhunt fit` and their mapping onto FitConfig.
#include <cmath>

#include "bsmhunt/pipeline/Fit.hpp"

namespace bsmhunt::pipeline {

void add_fit_options(po::options_description& d) {
  const stats::FitOptions o;
  const stats::ToyOptions toys;
  std::vector<std::string> functions;
  for (auto f : o.functions) functions.emplace_back(stats::to_string(f));
  d.add_options()
      ("input", po::value<std::string>()->default_value(""),
       "binned spectrum (positional): CSV/text with a header lo,hi,count (GeV, one bin per line), HDF5 with "
       "datasets 'edges' (bins + 1) and 'counts', or a feature/score file whose mass column is binned (--mass-bins)")
      ("format", po::value<std::string>()->default_value("auto"), "auto (HDF5 by its signature, else CSV), csv, hdf5")
      ("mass-bins", po::value<std::string>()->default_value(""),
       "input a feature or score file: bin its mass column in these edges (e.g. 'log:2750:5500:11' or '1000,1100,...')")
      ("select", po::value<std::string>()->default_value(""),
       "input a feature or score file: cuts on its features or scores, e.g. 'score > 0.9' or 'mj1 > 100'")
      ("samples", po::value<std::string>()->default_value("auto"),
       "input a feature or score file: auto (= data) | data | background | simulated | name patterns; counts are "
       "sums of the analysis weights")
      ("split", po::value<std::string>()->default_value("all"),
       "input a feature or score file: all | train | validation | test")
      ("output,o", po::value<std::string>()->default_value(""), "result (JSON)")
      ("output-h5", po::value<std::string>()->default_value(""), "optional per-bin arrays (HDF5)")
      ("signal-region", po::value<std::vector<std::string>>()->composing(),
       "LO,HI (or LO:HI) in GeV on bin edges; repeatable. The other bins are fitted and the region predicted")
      ("scan-bins", po::value<int64_t>()->default_value(0),
       "also scan every window of this many adjacent bins as a signal region (0: none)")
      ("functions", po::value<std::string>()->default_value(join(functions, ",")),
       fmt::format("dijet functions to try in this order ({})", join(stats::dijet_function_names(), ", ")).c_str())
      ("pvalue-threshold",
       double_value(o.pvalue_threshold),
       "a fit is accepted when its sideband chi2 p-value exceeds this")
      ("reduce-range", po::value<bool>()->default_value(o.reduce_range),
       "when no function passes, drop the outermost bin on each side and try again")
      ("min-sideband-bins", po::value<int64_t>()->default_value(int64_t(o.min_sideband_bins)),
       "bins kept on each side of a signal region when the range is reduced (and left by --scan-bins)")
      ("max-reductions", po::value<int64_t>()->default_value(o.max_reductions),
       "range reductions at most (-1: until no function can be fitted)")
      ("starts", po::value<int64_t>()->default_value(o.starts), "starting points per fit, 1-5 (the best is kept)")
      ("toys", po::value<int64_t>()->default_value(int64_t(toys.toys)),
       "pseudo-experiments for the global p-value, spread over the ranks (0: none)")
      ("seed", po::value<uint64_t>()->default_value(toys.seed), "seed of the pseudo-experiments")
      ("sqrt-s-GeV", double_value(o.sqrt_s_GeV),
       "centre-of-mass energy: x = m / sqrt(s)")
      ("peak", po::value<std::string>()->default_value("none"),
       "fit a peak instead of the dijet sidebands: none | gauss | crystalball | bw | voigt (docs/fit.md, 'Peak fits')")
      ("background", po::value<std::string>()->default_value("exp"),
       "--peak: background family exp | exp2 | bernstein:N | f3 | f4 | fexp (normalised over the fit range)")
      ("fit-range", po::value<std::string>()->default_value(""), "--peak: LO,HI in GeV on bin edges (default: the spectrum)")
      ("mass", double_value(0.0), "--peak: starting mass in GeV (0: the best point of the scan)")
      ("width", double_value(0.0),
       "--peak: starting width in GeV (sigma for gauss and crystalball, Gamma for bw and voigt; 0: two bins); also "
       "the width of the scan")
      ("fix-width", switch_value(), "--peak: keep the width at --width")
      ("resolution", double_value(0.0), "--peak voigt: the Gaussian resolution sigma in GeV (fixed, required)")
      ("cb-tails", po::value<std::string>()->default_value("1.5,5,1.5,5"),
       "--peak crystalball: alpha_low,n_low,alpha_high,n_high of the power-law tails (fixed)")
      ("peak-scan", po::value<bool>()->default_value(true),
       "--peak: scan the peak across the range in steps of --scan-step (local Z at each; global Z with --toys)")
      ("scan-step", double_value(0.0), "--peak: step of the scan in GeV (0: the width)")
      ("truth-mass", double_value(0.0), "--peak: the generated mass in GeV, to report the fitted mass's pull")
      ("overwrite", switch_value(), "replace existing output files");
}

namespace {

PeakConfig peak_config_from(const po::variables_map& vm, double sqrt_s_GeV) {
  PeakConfig p;
  const std::string shape = option<std::string>(vm, "peak");
  if (shape == "none") return p;
  p.enabled = true;
  p.model.shape = stats::parse_peak_shape(shape);
  p.model.background = stats::parse_background_family(option<std::string>(vm, "background"));
  p.model.sqrt_s_GeV = sqrt_s_GeV;
  const std::string range = option<std::string>(vm, "fit-range");
  if (!range.empty()) {
    const auto v = parse_numbers(range, "--fit-range");
    if (v.size() != 2 || !(v[0] < v[1]))
      throw InputError(fmt::format("--fit-range '{}': expected LO,HI in GeV with LO < HI", range));
    p.range_lo = v[0], p.range_hi = v[1];
  }
  p.mass = option<double>(vm, "mass");
  p.width = option<double>(vm, "width");
  p.fix_width = option<bool>(vm, "fix-width");
  if (p.fix_width && !(p.width > 0)) throw InputError("--fix-width needs --width W > 0");
  p.model.resolution = option<double>(vm, "resolution");
  if (p.model.shape == stats::PeakShape::voigt && !(p.model.resolution > 0))
    throw InputError("--peak voigt needs --resolution SIGMA > 0 in GeV (the Gaussian part is fixed)");
  const std::vector<double> t = parse_numbers(option<std::string>(vm, "cb-tails"), "--cb-tails");
  if (t.size() != 4 || !(t[0] > 0) || !(t[1] > 1) || !(t[2] > 0) || !(t[3] > 1))
    throw InputError(fmt::format("--cb-tails '{}': expected alpha_low,n_low,alpha_high,n_high with alpha > 0, n > 1",
                                 option<std::string>(vm, "cb-tails")));
  p.model.cb_alpha_lo = t[0], p.model.cb_n_lo = t[1], p.model.cb_alpha_hi = t[2], p.model.cb_n_hi = t[3];
  p.scan = option<bool>(vm, "peak-scan");
  p.scan_step = option<double>(vm, "scan-step");
  p.truth_mass = option<double>(vm, "truth-mass");
  for (const auto& [name, v] : {std::pair{"mass", p.mass}, {"width", p.width}, {"scan-step", p.scan_step},
                                {"truth-mass", p.truth_mass}, {"resolution", p.model.resolution}})
    if (!(v >= 0) || !std::isfinite(v)) throw InputError(fmt::format("--{} {}: expected a value >= 0", name, v));
  if (!p.scan && !(p.mass > 0)) throw InputError("--peak-scan false needs a starting --mass");
  return p;
}

}  // namespace

FitConfig fit_config_from(const po::variables_map& vm) {
  FitConfig c;
  c.input = required(vm, "input",
                     "bsmhunt fit: give the spectrum, e.g. 'bsmhunt fit --input spectrum.csv --signal-region "
                     "1900,2300 --output fit.json'");
  c.output = required(vm, "output", "bsmhunt fit: --output RESULT.json is required");
  c.output_h5 = option<std::string>(vm, "output-h5");
  c.format = parse_spectrum_format(option<std::string>(vm, "format"));
  c.rows.mass_bins = option<std::string>(vm, "mass-bins");
  c.rows.select = option<std::string>(vm, "select");
  c.rows.samples = option<std::string>(vm, "samples");
  c.rows.split = option<std::string>(vm, "split");
  if (vm.count("signal-region"))
    for (const auto& text : option<std::vector<std::string>>(vm, "signal-region"))
      c.signal_regions.push_back(parse_signal_region(text));
  const auto non_negative = [&](const char* name) {
    const int64_t v = option<int64_t>(vm, name);
    if (v < 0) throw InputError(fmt::format("--{} {} must not be negative", name, v));
    return v;
  };
  c.scan_bins = std::size_t(non_negative("scan-bins"));
  c.options.functions = stats::parse_dijet_functions(option<std::string>(vm, "functions"));
  c.options.pvalue_threshold = option<double>(vm, "pvalue-threshold");
  c.options.reduce_range = option<bool>(vm, "reduce-range");
  c.options.min_sideband_bins = std::size_t(non_negative("min-sideband-bins"));
  const int64_t reductions = option<int64_t>(vm, "max-reductions");
  if (reductions < -1) throw InputError(fmt::format("--max-reductions {}: expected -1 or more", reductions));
  c.options.max_reductions = int(reductions);
  const int64_t starts = option<int64_t>(vm, "starts");
  if (starts < 1 || starts > 5) throw InputError(fmt::format("--starts {}: expected 1 to 5", starts));
  c.options.starts = int(starts);
  c.toys.toys = uint64_t(non_negative("toys"));
  c.toys.seed = option<uint64_t>(vm, "seed");
  c.options.sqrt_s_GeV = option<double>(vm, "sqrt-s-GeV");
  if (!(c.options.sqrt_s_GeV > 0) || !std::isfinite(c.options.sqrt_s_GeV))
    throw InputError(fmt::format("--sqrt-s-GeV {} must be positive", c.options.sqrt_s_GeV));
  c.peak = peak_config_from(vm, c.options.sqrt_s_GeV);
  if (c.peak.enabled && (!c.signal_regions.empty() || c.scan_bins > 0))
    throw InputError("--peak fits a peak; --signal-region and --scan-bins belong to the dijet sideband fits");
  c.overwrite = option<bool>(vm, "overwrite");
  return c;
}

}  // namespace bsmhunt::pipeline
