// Options of `bsmhunt efficiencies` and their mapping onto EfficienciesConfig.
#include "bsmhunt/pipeline/Efficiencies.hpp"

namespace bsmhunt::pipeline {

void add_efficiencies_options(po::options_description& d) {
  const EfficienciesConfig c;
  d.add_options()
      ("scores", po::value<std::string>()->default_value(""), "score file from bsmhunt predict")
      ("features", po::value<std::string>()->default_value(""), "the feature file of the scores (for --selection)")
      ("output,o", po::value<std::string>()->default_value(""), "result (JSON)")
      ("score-column", po::value<std::string>()->default_value(""), "score column (default: the first)")
      ("groups", po::value<std::string>()->default_value(""),
       "process groups 'NAME: PATTERN,PATTERN; NAME: ...' over sample names, e.g. 'znunu: znunu_*; wtaunu: wtaunu_*'")
      ("signal-group", po::value<std::string>()->default_value(""),
       "the group a score at or above the threshold classifies correctly (the others: below it)")
      ("slice-parameter", po::value<std::string>()->default_value(""),
       "sample parameter whose values split the per-slice table (e.g. slice)")
      ("reference-slice", po::value<std::string>()->default_value(""),
       "slice of the threshold table that chooses the threshold (default: every slice)")
      ("reference-background", po::value<std::string>()->default_value(""),
       "the group the threshold table sets against the signal group")
      ("threshold", po::value<std::string>()->default_value(c.threshold),
       "auto (the largest precision x recall of the table's 21 thresholds) or a number")
      ("split", po::value<std::string>()->default_value(c.split), "events counted: test | validation | train | all")
      ("selection", po::value<std::string>()->default_value(""),
       "cuts on features for the selected table and the gains, e.g. 'atlas_selection == 1'")
      ("yields", po::value<std::string>()->default_value(""),
       "expected events per group for the gain with given yields, 'NAME=N,NAME=N' (groups absent from the file "
       "count with efficiency 1)")
      ("scaled", po::value<std::string>()->default_value(""),
       "groups the classifier acts on in the gain with given yields (default: every group of the file)")
      ("overwrite", switch_value(), "replace an existing output");
}

EfficienciesConfig efficiencies_config_from(const po::variables_map& vm) {
  EfficienciesConfig c;
  c.scores = required(vm, "scores", "bsmhunt efficiencies: --scores SCORES.h5 is required");
  c.features = option<std::string>(vm, "features");
  c.output = required(vm, "output", "bsmhunt efficiencies: --output RESULT.json is required");
  c.score_column = option<std::string>(vm, "score-column");
  for (const auto& part : split(option<std::string>(vm, "groups"), ';')) {
    if (trim(part).empty()) continue;
    const auto colon = part.find(':');
    if (colon == std::string::npos || trim(part.substr(0, colon)).empty())
      throw InputError(fmt::format("--groups: '{}' is not NAME: PATTERN,PATTERN", trim(part)));
    SampleGroup g{trim(part.substr(0, colon)), split_list(part.substr(colon + 1))};
    if (g.patterns.empty()) throw InputError(fmt::format("--groups: group '{}' has no sample pattern", g.name));
    for (const auto& other : c.groups)
      if (other.name == g.name) throw InputError(fmt::format("--groups: group '{}' given twice", g.name));
    c.groups.push_back(std::move(g));
  }
  if (c.groups.size() < 2) throw InputError("--groups: give at least two groups, e.g. 'znunu: znunu_*; wtaunu: wtaunu_*'");
  c.signal_group = required(vm, "signal-group", "bsmhunt efficiencies: --signal-group NAME is required");
  c.slice_parameter = option<std::string>(vm, "slice-parameter");
  c.reference_slice = option<std::string>(vm, "reference-slice");
  c.reference_background = required(vm, "reference-background",
                                    "bsmhunt efficiencies: --reference-background NAME is required");
  c.threshold = trim(option<std::string>(vm, "threshold"));
  if (c.threshold != "auto") {
    const double t = parse_numbers(c.threshold, "--threshold").front();
    if (!(t >= 0 && t <= 1)) throw InputError(fmt::format("--threshold {}: expected auto or a number in [0, 1]", t));
  }
  c.split = choose<std::string>(option<std::string>(vm, "split"), "split",
                                {{"test", "test"}, {"validation", "validation"}, {"train", "train"}, {"all", "all"}});
  c.selection = option<std::string>(vm, "selection");
  for (const auto& item : list_option(vm, "yields")) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw InputError(fmt::format("--yields: '{}' is not NAME=NUMBER", item));
    const double v = parse_numbers(item.substr(eq + 1), "--yields").front();
    if (!(v >= 0)) throw InputError(fmt::format("--yields: '{}' must not be negative", item));
    c.yields.emplace_back(trim(item.substr(0, eq)), v);
  }
  c.scaled = list_option(vm, "scaled");
  if (c.scaled.empty())
    for (const auto& g : c.groups) c.scaled.push_back(g.name);
  for (const auto& s : c.scaled) {
    bool known = false;
    for (const auto& g : c.groups) known = known || g.name == s;
    if (!known) throw InputError(fmt::format("--scaled: '{}' is not one of the groups", s));
  }
  c.overwrite = option<bool>(vm, "overwrite");
  return c;
}

}  // namespace bsmhunt::pipeline
