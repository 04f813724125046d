// Options of `bsmhunt bumphunt` and their mapping onto BumphuntConfig.
#include <cmath>

#include "bsmhunt/pipeline/Bumphunt.hpp"

namespace bsmhunt::pipeline {

namespace {

void validate(const BumphuntConfig& c) {
  if (c.folds < 3) throw InputError(fmt::format("--folds {}: at least 3 (train, validation, score)", c.folds));
  if (c.sr_bins < 1) throw InputError("--sr-bins must be >= 1");
  if (c.ensemble < 1 || c.ensemble + 1 > c.folds)
    throw InputError(fmt::format("--ensemble {}: between 1 and folds - 1 = {}", c.ensemble, c.folds - 1));
  if (c.efficiencies.empty()) throw InputError("--efficiencies: give at least one");
  for (const double e : c.efficiencies)
    if (!(e > 0 && e <= 1)) throw InputError(fmt::format("--efficiencies: {} is not in (0, 1]", e));
  const std::size_t nbins = c.mass_bins.size() - 1;
  if (nbins < c.sr_bins + 2 * c.sb_bins || c.sb_bins < 1)
    throw InputError(fmt::format("--mass-bins gives {} bins: a signal region of {} bins with {} sideband bins on each "
                                 "side needs at least {} (and --sb-bins >= 1)",
                                 nbins, c.sr_bins, c.sb_bins, c.sr_bins + 2 * c.sb_bins));
  for (const auto r : c.regions)
    if (r < c.sb_bins || r + c.sr_bins + c.sb_bins > nbins)
      throw InputError(fmt::format("--regions: a signal region starting at bin {} does not fit in {} bins with {} "
                                   "sideband bins per side (possible: {}..{})",
                                   r, nbins, c.sb_bins, c.sb_bins, nbins - c.sr_bins - c.sb_bins));
}

}  // namespace

void add_bumphunt_options(po::options_description& d) {
  const BumphuntConfig c;
  std::vector<std::string> eff;
  for (const double e : c.efficiencies) eff.push_back(fmt::format("{:g}", e));
  d.add_options()
      ("features", po::value<std::string>()->default_value(""), "feature file with the mass column (e.g. dijet)")
      ("output,o", po::value<std::string>()->default_value(""), "result (JSON)")
      ("mass-bins", po::value<std::string>()->default_value(""),
       "mass bin edges in GeV: E0,E1,... or LO:HI:N or log:LO:HI:N")
      ("sr-bins", po::value<std::size_t>()->default_value(c.sr_bins), "mass bins per signal region")
      ("sb-bins", po::value<std::size_t>()->default_value(c.sb_bins), "sideband bins on each side")
      ("folds", po::value<std::size_t>()->default_value(c.folds), "k of the k-fold cross-training")
      ("efficiencies", po::value<std::string>()->default_value(join(eff, ",")),
       "fractions of the SR+SB events kept by the classifier cut")
      ("samples", po::value<std::string>()->default_value(""),
       "samples to hunt in, glob patterns (default: the data samples, or every sample if there is none)")
      ("exclude-features", po::value<std::string>()->default_value(""),
       "features not to train on besides the mass (columns equal to the mass are always left out)")
      ("regions", po::value<std::string>()->default_value(""), "first bins of the signal regions to hunt (default: all)")
      ("background", po::value<std::string>()->default_value("dijet"),
       "background in the SR: dijet (sideband fit of the whole spectrum) | linear (line through the sidebands)")
      ("functions", po::value<std::string>()->default_value("f3,f4,fexp"), "dijet functions in the order to try")
      ("pvalue-threshold", double_value(c.fit.pvalue_threshold), "sideband fit acceptance")
      ("sqrt-s", double_value(c.fit.sqrt_s_GeV), "centre-of-mass energy in GeV (x = m / sqrt(s))")
      ("toys", po::value<uint64_t>()->default_value(c.toys), "pseudo-experiments for the global p-value (dijet)")
      ("seed", po::value<uint64_t>()->default_value(c.seed), "seed of the folds, the networks and the toys")
      ("ensemble", po::value<std::size_t>()->default_value(c.ensemble),
       "classifiers per fold, each validated on another fold; their mean logit is the score")
      ("hidden", po::value<std::string>()->default_value("32,32,32"), "classifier hidden layer widths")
      ("epochs", po::value<uint64_t>()->default_value(c.epochs), "classifier epochs at most")
      ("batch-size", po::value<uint64_t>()->default_value(c.batch_size), "classifier batch size")
      ("patience", po::value<uint64_t>()->default_value(c.patience), "early stopping on the validation fold")
      ("learning-rate", double_value(c.learning_rate), "Adam learning rate")
      ("overwrite", switch_value(), "replace an existing output");
}

BumphuntConfig bumphunt_config_from(const po::variables_map& vm) {
  BumphuntConfig c;
  c.features = required(vm, "features", "bsmhunt bumphunt: --features FILE is required");
  c.output = required(vm, "output", "bsmhunt bumphunt: --output RESULT.json is required");
  const std::string bins = option<std::string>(vm, "mass-bins");
  if (bins.empty()) throw InputError("bsmhunt bumphunt: --mass-bins is required (e.g. 2000:5000:15)");
  c.mass_bins = parse_bin_edges(bins, "--mass-bins");
  c.sr_bins = option<std::size_t>(vm, "sr-bins");
  c.sb_bins = option<std::size_t>(vm, "sb-bins");
  c.folds = option<std::size_t>(vm, "folds");
  c.efficiencies = parse_numbers(option<std::string>(vm, "efficiencies"), "--efficiencies");
  c.samples = list_option(vm, "samples");
  c.exclude_features = list_option(vm, "exclude-features");
  const std::string regions = option<std::string>(vm, "regions");
  if (!trim(regions).empty())
    for (const double r : parse_numbers(regions, "--regions")) {
      if (r < 0 || r != std::floor(r)) throw InputError(fmt::format("--regions: {} is not a bin index", r));
      c.regions.push_back(std::size_t(r));
    }
  const std::string background = option<std::string>(vm, "background");
  if (background == "dijet") c.background = BumpBackground::dijet;
  else if (background == "linear") c.background = BumpBackground::linear;
  else throw InputError(fmt::format("--background '{}': expected dijet or linear", background));
  c.fit.functions = stats::parse_dijet_functions(option<std::string>(vm, "functions"));
  c.fit.pvalue_threshold = option<double>(vm, "pvalue-threshold");
  c.fit.sqrt_s_GeV = option<double>(vm, "sqrt-s");
  c.toys = option<uint64_t>(vm, "toys");
  c.seed = option<uint64_t>(vm, "seed");
  c.hidden.clear();
  for (const double w : parse_numbers(option<std::string>(vm, "hidden"), "--hidden")) {
    if (!(w >= 1) || w != std::floor(w)) throw InputError(fmt::format("--hidden: {} is not a layer width", w));
    c.hidden.push_back(std::size_t(w));
  }
  c.ensemble = option<std::size_t>(vm, "ensemble");
  c.epochs = option<uint64_t>(vm, "epochs");
  c.batch_size = option<uint64_t>(vm, "batch-size");
  c.patience = option<uint64_t>(vm, "patience");
  c.learning_rate = option<double>(vm, "learning-rate");
  if (c.epochs == 0 || c.batch_size == 0 || !(c.learning_rate > 0))
    throw InputError("--epochs, --batch-size and --learning-rate must be positive");
  c.overwrite = option<bool>(vm, "overwrite");
  validate(c);
  return c;
}

}  // namespace bsmhunt::pipeline
