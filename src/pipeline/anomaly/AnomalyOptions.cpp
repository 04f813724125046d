// Options of `bsmhunt anomaly` and their mapping onto AnomalyConfig.
#include <algorithm>

#include "bsmhunt/pipeline/Anomaly.hpp"

namespace bsmhunt::pipeline {

void add_anomaly_options(po::options_description& d) {
  const AnomalyConfig c;
  std::vector<std::string> effs;
  for (const double e : c.sm_efficiencies) effs.push_back(fmt::format("{:g}", e));
  d.add_options()
      ("scores", po::value<std::string>()->default_value(""), "score file from bsmhunt predict (positional)")
      ("output,o", po::value<std::string>()->default_value(""), "result (JSON)")
      ("score-column", po::value<std::string>()->default_value(""),
       "score column (default: the first, e.g. reconstruction_mse); larger = more anomalous")
      ("sm-efficiencies", po::value<std::string>()->default_value(join(effs, ",")),
       "Standard Model (weighted background) efficiencies of the thresholds")
      ("search-efficiency", double_value(c.search_efficiency), "the SM efficiency of the headline search")
      ("mc-split", po::value<std::string>()->default_value(c.mc_split),
       "MC rows of the prediction: test | validation | train | all (rows the model was not trained on; scaled to "
       "each sample's full yield)")
      ("data-split", po::value<std::string>()->default_value(c.data_split),
       "data rows counted: all | test | validation | train (all, unless the model was trained on data)")
      ("background-uncertainty", double_value(c.background_uncertainty),
       "relative systematic uncertainty of the expected background, added to its MC statistical one")
      ("reference-significance", double_value(c.reference_significance),
       "per signal: the expected Z after the cut when injected with this inclusive S/sqrt(B)")
      ("bins", po::value<int64_t>()->default_value(int64_t(c.bins)),
       "score bins (log-spaced for positive scores); thresholds are bin edges")
      ("exclude-samples", po::value<std::string>()->default_value(""), "samples to leave out, glob patterns")
      ("overwrite", switch_value(), "replace an existing output");
}

AnomalyConfig anomaly_config_from(const po::variables_map& vm) {
  AnomalyConfig c;
  c.scores = required(vm, "scores", "bsmhunt anomaly: give the score file, e.g. 'bsmhunt anomaly S.h5 -o R.json'");
  c.output = required(vm, "output", "bsmhunt anomaly: --output RESULT.json is required");
  c.score_column = option<std::string>(vm, "score-column");
  c.sm_efficiencies = parse_numbers(option<std::string>(vm, "sm-efficiencies"), "--sm-efficiencies");
  c.search_efficiency = option<double>(vm, "search-efficiency");
  for (const double e : c.sm_efficiencies)
    if (!(e > 0 && e < 1)) throw InputError(fmt::format("--sm-efficiencies: {} is not in (0, 1)", e));
  if (!(c.search_efficiency > 0 && c.search_efficiency < 1))
    throw InputError(fmt::format("--search-efficiency {}: expected a number in (0, 1)", c.search_efficiency));
  if (std::find(c.sm_efficiencies.begin(), c.sm_efficiencies.end(), c.search_efficiency) == c.sm_efficiencies.end())
    c.sm_efficiencies.push_back(c.search_efficiency);
  std::sort(c.sm_efficiencies.rbegin(), c.sm_efficiencies.rend());
  const auto split = [&](const char* name) {
    return choose<std::string>(option<std::string>(vm, name), name,
                               {{"all", "all"}, {"train", "train"}, {"validation", "validation"}, {"test", "test"}});
  };
  c.mc_split = split("mc-split");
  c.data_split = split("data-split");
  c.background_uncertainty = option<double>(vm, "background-uncertainty");
  if (!(c.background_uncertainty >= 0))
    throw InputError(fmt::format("--background-uncertainty {}: must not be negative", c.background_uncertainty));
  c.reference_significance = option<double>(vm, "reference-significance");
  if (!(c.reference_significance > 0))
    throw InputError(fmt::format("--reference-significance {}: must be positive", c.reference_significance));
  c.bins = positive_option(vm, "bins");
  if (c.bins < 10 || c.bins > 1'000'000) throw InputError(fmt::format("--bins {}: expected 10 to 1000000", c.bins));
  c.exclude_samples = list_option(vm, "exclude-samples");
  c.overwrite = option<bool>(vm, "overwrite");
  return c;
}

}  // namespace bsmhunt::pipeline
