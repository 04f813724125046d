// Options of `bsmhunt datamc` and their mapping onto DataMcConfig.
#include "bsmhunt/pipeline/DataMc.hpp"

namespace bsmhunt::pipeline {

void add_datamc_options(po::options_description& d) {
  const DataMcConfig c;
  d.add_options()
      ("features", po::value<std::string>()->default_value(""), "feature file with data and MC samples (positional)")
      ("output,o", po::value<std::string>()->default_value(""), "result (JSON); the table also goes to OUTPUT.csv")
      ("only", po::value<std::string>()->default_value(""),
       "features to check, comma-separated glob patterns (default: every feature)")
      ("mc-samples", po::value<std::string>()->default_value(""),
       "MC samples of the prediction, glob patterns (default: every background sample)")
      ("data-samples", po::value<std::string>()->default_value(""),
       "data samples, glob patterns (default: every sample with role data)")
      ("select", po::value<std::string>()->default_value(""),
       "cuts on features applied to data and MC alike, e.g. 'n_bjets == 0 && met > 50'")
      ("split", po::value<std::string>()->default_value(c.split), "rows compared: all | train | validation | test")
      ("bins", po::value<int64_t>()->default_value(int64_t(c.bins)),
       "bins per feature, of about equal data content (fewer for discrete features)")
      ("fine-bins", po::value<int64_t>()->default_value(int64_t(c.fine_bins)),
       "uniform bins between the smallest and largest value, from which the bins and the KS distance come")
      ("normalization", po::value<std::string>()->default_value(c.shape ? "shape" : "luminosity"),
       "shape (MC scaled to the data total; compares shapes, ndf one less) | luminosity (MC as weighted)")
      ("flag-p-value", double_value(c.flag_p_value),
       "a feature disagrees when its chi2 p-value is below this (mind the number of features checked)")
      ("overwrite", switch_value(), "replace an existing output");
}

DataMcConfig datamc_config_from(const po::variables_map& vm) {
  DataMcConfig c;
  c.features = required(vm, "features", "bsmhunt datamc: give the feature file, e.g. 'bsmhunt datamc F.h5 -o datamc.json'");
  c.output = required(vm, "output", "bsmhunt datamc: --output RESULT.json is required");
  c.only = list_option(vm, "only");
  c.mc_samples = list_option(vm, "mc-samples");
  c.data_samples = list_option(vm, "data-samples");
  c.select = option<std::string>(vm, "select");
  c.split = choose<std::string>(option<std::string>(vm, "split"), "split",
                                {{"all", "all"}, {"train", "train"}, {"validation", "validation"}, {"test", "test"}});
  c.bins = positive_option(vm, "bins");
  c.fine_bins = positive_option(vm, "fine-bins");
  if (c.fine_bins < c.bins)
    throw InputError(fmt::format("--fine-bins {} must be at least --bins {}", c.fine_bins, c.bins));
  if (c.fine_bins > 100000) throw InputError(fmt::format("--fine-bins {}: at most 100000", c.fine_bins));
  c.shape = choose<bool>(option<std::string>(vm, "normalization"), "normalization",
                         {{"shape", true}, {"luminosity", false}});
  c.flag_p_value = option<double>(vm, "flag-p-value");
  if (!(c.flag_p_value > 0 && c.flag_p_value < 1))
    throw InputError(fmt::format("--flag-p-value {}: expected a number in (0, 1)", c.flag_p_value));
  c.overwrite = option<bool>(vm, "overwrite");
  return c;
}

}  // namespace bsmhunt::pipeline
