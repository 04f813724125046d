// Options of `bsmhunt extract` and their mapping onto ExtractConfig.
#include "bsmhunt/pipeline/Extract.hpp"

namespace bsmhunt::pipeline {

void add_extract_options(po::options_description& d) {
  const ExtractConfig c;
  const physics::FeatureSetOptions& s = c.selection;
  d.add_options()
      ("input", po::value<std::string>()->default_value(""), "event file (from bsmhunt generate) (positional)")
      ("output,o", po::value<std::string>()->default_value(""),
       "output feature file (HDF5); the cutflow also goes to <output>.cutflow.json")
      ("features", po::value<std::string>()->default_value(""),
       fmt::format("feature set: {} (default: the event file's channel attribute)",
                   join(physics::feature_set_names(), ", ")).c_str())
      ("select", po::value<std::string>()->default_value(""),
       "comma-separated features of the set to write, in this order (default: all)")
      ("lepton-pt-min", double_value(s.lepton_pt_min), "dilepton_met, rmm: leptons count with pT > this (GeV)")
      ("lepton-eta-max", double_value(s.lepton_eta_max), "dilepton_met, rmm: leptons count with |eta| < this")
      ("require", po::value<std::string>()->default_value("sfos"),
       "dilepton_met: sfos (same flavour, opposite sign) or any (ee, mumu and emu)")
      ("met-min", double_value(s.met_min), "dilepton_met: MET > this (GeV)")
      ("max-bjets", po::value<int64_t>()->default_value(s.max_bjets),
       "dilepton_met: b-jet veto, at most this many b-tagged jets (-1: off)")
      ("mjj-min", double_value(s.mjj_min), "dijet: m_JJ >= this (GeV)")
      ("rmm-types", po::value<std::string>()->default_value(join(s.rmm_types, ",")),
       "rmm: object types, one block each in this order: jets, bjets (b-tagged jets, then no longer in jets), "
       "electrons, muons")
      ("rmm-slots", po::value<int64_t>()->default_value(s.rmm_slots),
       "rmm: objects kept per type (N); the matrix has 1 + T x N rows")
      ("rmm-angle-scale", double_value(s.rmm_angle_scale), "rmm: C of the rapidity cells h = C (cosh(dy/2) - 1)")
      ("rmm-min-leptons", po::value<int64_t>()->default_value(s.rmm_min_leptons),
       "rmm: keep events with at least this many leptons (pT > --lepton-pt-min, |eta| < --lepton-eta-max); 0: all")
      ("padding", po::value<std::string>()->default_value(std::string(to_string(c.padding))),
       "dilepton_met, missing leading jets: sentinel (pT 0, eta and phi = --sentinel), mean (training-split mean of "
       "the present values over all ranks), drop-feature (no jet1/jet2 features), drop-event (events with fewer than "
       "two jets removed, cutflow step 'padding')")
      ("sentinel", double_value(c.sentinel), "eta/phi of a missing jet (--padding sentinel)")
      ("on-nonfinite", po::value<std::string>()->default_value("error"),
       "NaN or infinite input value: error (naming sample and event number) or drop (counted in the cutflow as "
       "failing 'finite')")
      ("block-events", po::value<int64_t>()->default_value(int64_t(c.block_events)),
       "events per work item (ranks take items in turn; the file does not depend on the rank count)");
  add_feature_file_options(d, c.file);
}

ExtractConfig extract_config_from(const po::variables_map& vm) {
  ExtractConfig c;
  c.input = required(vm, "input",
                     "bsmhunt extract: give the event file, e.g. 'bsmhunt extract --input events.h5 --output "
                     "features.h5'");
  c.output = required(vm, "output", "bsmhunt extract: --output FILE is required");
  c.feature_set = trim(option<std::string>(vm, "features"));
  c.select = list_option(vm, "select");
  auto& s = c.selection;
  s.lepton_pt_min = option<double>(vm, "lepton-pt-min");
  s.lepton_eta_max = option<double>(vm, "lepton-eta-max");
  const std::string require = option<std::string>(vm, "require");
  if (require != "sfos" && require != "any")
    throw InputError(fmt::format("--require '{}': expected sfos or any{}", require,
                                 did_you_mean(require, {"sfos", "any"})));
  s.require_sfos = require == "sfos";
  s.met_min = option<double>(vm, "met-min");
  s.max_bjets = option<int64_t>(vm, "max-bjets");
  s.mjj_min = option<double>(vm, "mjj-min");
  s.rmm_types = list_option(vm, "rmm-types");
  s.rmm_slots = option<int64_t>(vm, "rmm-slots");
  s.rmm_angle_scale = option<double>(vm, "rmm-angle-scale");
  s.rmm_min_leptons = option<int64_t>(vm, "rmm-min-leptons");
  c.padding = parse_padding_policy(option<std::string>(vm, "padding"));
  if (c.padding == PaddingPolicy::keep)
    throw InputError("--padding keep: extract computes its features and has no missing-value marker to keep; "
                     "use sentinel, mean, drop-feature or drop-event (keep is import's)");
  c.sentinel = option<double>(vm, "sentinel");
  if (!std::isfinite(c.sentinel)) throw InputError("--sentinel must be a finite number");
  c.drop_nonfinite = drop_nonfinite_option(vm);
  c.file = feature_file_options_from(vm);
  c.block_events = positive_option(vm, "block-events");
  return c;
}

}  // namespace bsmhunt::pipeline
