// Options of `bsmhunt significance` and their mapping onto SignificanceConfig.
#include <cmath>
#include <filesystem>

#include "SignificanceResult.hpp"
#include "bsmhunt/pipeline/Significance.hpp"

namespace bsmhunt::pipeline {

std::string significance_h5_path(const std::string& output) {
  const std::filesystem::path p(output);
  if (p.extension() == ".json") return std::filesystem::path(p).replace_extension(".h5").string();
  return output + ".h5";
}

// Which splits count: the test split by default (events the classifier never saw).
std::vector<bool> split_mask(const std::string& split) {
  if (split == "all") return {true, true, true};
  if (split == "train") return {true, false, false};
  if (split == "validation") return {false, true, false};
  if (split == "test") return {false, false, true};
  throw InputError(fmt::format("--split '{}': expected test, validation, train or all", split));
}

std::pair<double, double> parse_range(const std::string& text) {
  const auto parts = split(text, ',');
  double lo = 0, hi = 0;
  try {
    if (parts.size() != 2) throw std::invalid_argument("");
    lo = std::stod(parts[0]), hi = std::stod(parts[1]);
  } catch (const std::exception&) {
    throw InputError(fmt::format("--range '{}': expected auto or LO,HI", text));
  }
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi))
    throw InputError(fmt::format("--range '{}': expected finite LO < HI", text));
  return {lo, hi};
}

void add_significance_options(po::options_description& d) {
  const SignificanceConfig c;
  const stats::ScanOptions s;
  d.add_options()
      ("scores", po::value<std::string>()->default_value(""), "score file from bsmhunt predict")
      ("features", po::value<std::string>()->default_value(""),
       "the feature file the scores were predicted from (needed by --channels and --cuts)")
      ("output,o", po::value<std::string>()->default_value(""), "result (JSON); histograms and curves go to --output-h5")
      ("output-h5", po::value<std::string>()->default_value(""), "HDF5 result (default: OUTPUT with .h5 for .json)")
      ("score-column", po::value<std::string>()->default_value(""), "score to cut on (default: the first column)")
      ("signal", po::value<std::string>()->default_value("all"),
       "signal samples to scan: all, or comma-separated glob patterns (e.g. zp_DH_HDS_*)")
      ("metric", po::value<std::string>()->default_value("asimov"), "asimov | s_over_sqrt_b | ams (b_reg = 10)")
      ("bkg-uncertainty", double_value(s.bkg_uncertainty),
       "relative background uncertainty R (sigma_b = R b) in the Asimov Z")
      ("min-background", double_value(s.min_background),
       "a cut counts only with at least this much background (weighted events)")
      ("min-mc-events", double_value(s.min_mc_events),
       "... from at least this many effective MC events (b^2 / sum w^2)")
      ("split", po::value<std::string>()->default_value(c.split),
       "events counted: test | validation | train | all (scaled per sample to all events)")
      ("bins", po::value<std::size_t>()->default_value(c.bins), "score bins (cut positions)")
      ("transform", po::value<std::string>()->default_value(c.transform),
       "bin the score in: logit (ln p/(1-p): cuts close to p = 1), none, or auto (logit for probabilities)")
      ("range", po::value<std::string>()->default_value(c.range),
       "range LO,HI of the binned variable, or auto ([-20, 20] for the logit, min..max of the score otherwise)")
      ("channels", po::value<std::string>()->default_value(c.channels),
       "channels 'NAME: SELECTION; ...', e.g. 'ee: channel_flag == 0; mumu: channel_flag == 1' (default: one, all)")
      ("cuts", po::value<std::string>()->default_value(c.cuts),
       "cut-and-count selection, e.g. 'met_significance > 10 && mt_llmet > 160 && n_bjets == 0'")
      ("threshold", double_value(c.threshold), "score threshold of the confusion matrix")
      ("cut-folds", po::value<std::size_t>()->default_value(c.cut_folds),
       "the unbiased significance: the counted events in K folds (a hash of the event), the best cut chosen on "
       "K-1 folds and s, b evaluated on the K-th, rotating; 'Z folds' is the Z of the K folds' mean s and b "
       "+- the spread of the folds' own Z "
       "(JSON: unbiased) beside the best Z over all events, which is chosen on the events it is evaluated on; "
       "0: that best Z only")
      ("combination-bins", po::value<std::size_t>()->default_value(c.combination_bins),
       "at most this many score bins in the binned combination")
      ("print-top", po::value<std::size_t>()->default_value(c.print_top), "signals per channel in the printed table")
      ("chunk-rows", po::value<uint64_t>()->default_value(c.chunk_rows), "rows per rank per read")
      ("block-rows", po::value<uint64_t>()->default_value(c.block_rows),
       "histogram weights are summed in double over blocks of this many rows, then exactly; ranks own whole blocks "
       "(the result is the same on any rank count for one value)")
      ("overwrite", switch_value(), "replace existing outputs");
}

SignificanceConfig significance_config_from(const po::variables_map& vm) {
  SignificanceConfig c;
  c.scores = required(vm, "scores", "bsmhunt significance: --scores SCORES.h5 is required");
  c.features = option<std::string>(vm, "features");
  c.output = required(vm, "output", "bsmhunt significance: --output RESULT.json is required");
  c.output_h5 = option<std::string>(vm, "output-h5");
  if (c.output_h5.empty()) c.output_h5 = significance_h5_path(c.output);
  c.score_column = option<std::string>(vm, "score-column");
  for (const auto& p : split_list(option<std::string>(vm, "signal")))
    if (p != "all") c.signals.push_back(p);
  c.scan.metric = stats::parse_metric(option<std::string>(vm, "metric"));
  c.scan.bkg_uncertainty = option<double>(vm, "bkg-uncertainty");
  c.scan.min_background = option<double>(vm, "min-background");
  c.scan.min_mc_events = option<double>(vm, "min-mc-events");
  stats::validate(c.scan);
  c.split = option<std::string>(vm, "split");
  split_mask(c.split);
  c.bins = option<std::size_t>(vm, "bins");
  if (c.bins == 0) throw InputError("--bins must be >= 1");
  c.range = option<std::string>(vm, "range");
  if (c.range != "auto") parse_range(c.range);
  c.transform = option<std::string>(vm, "transform");
  if (c.transform != "auto" && c.transform != "logit" && c.transform != "none")
    throw InputError(fmt::format("--transform '{}': expected auto, logit or none", c.transform));
  c.channels = option<std::string>(vm, "channels");
  c.cuts = option<std::string>(vm, "cuts");
  c.threshold = option<double>(vm, "threshold");
  c.combination_bins = option<std::size_t>(vm, "combination-bins");
  c.cut_folds = option<std::size_t>(vm, "cut-folds");
  if (c.cut_folds > 100) throw InputError(fmt::format("--cut-folds {}: expected 0 to 100", c.cut_folds));
  if (c.combination_bins == 0) throw InputError("--combination-bins must be >= 1");
  c.print_top = option<std::size_t>(vm, "print-top");
  c.chunk_rows = std::max<uint64_t>(1, option<uint64_t>(vm, "chunk-rows"));
  c.block_rows = option<uint64_t>(vm, "block-rows");
  if (c.block_rows == 0) throw InputError("--block-rows must be >= 1");
  c.overwrite = option<bool>(vm, "overwrite");
  return c;
}

}  // namespace bsmhunt::pipeline
