// Options of `bsmhunt limits` and their mapping onto LimitsConfig.
#include <cmath>

#include "bsmhunt/pipeline/Limits.hpp"
#include "bsmhunt/pipeline/Significance.hpp"

namespace bsmhunt::pipeline {

void add_limits_options(po::options_description& d) {
  const ModelOptions m;
  const stats::LimitOptions l;
  d.add_options()
      ("workspace", po::value<std::string>()->default_value(""),
       "a HistFactory workspace in pyhf's JSON schema: its limit (one model)")
      ("measurement", po::value<std::string>()->default_value(""), "--workspace: the measurement (default: the first)")
      ("histograms", po::value<std::string>()->default_value(""),
       "the HDF5 output of bsmhunt significance: one model per signal sample from its score histograms")
      ("output,o", po::value<std::string>()->default_value(""), "result (JSON); per-model arrays go to --output-h5")
      ("output-h5", po::value<std::string>()->default_value(""), "HDF5 result (default: OUTPUT with .h5 for .json)")
      ("export-workspace", po::value<std::string>()->default_value(""),
       "also write each model as a pyhf workspace DIR/<model>.json (POI bounds as the limit search used them)")
      ("signal", po::value<std::string>()->default_value("all"),
       "--histograms: signal samples, all or comma-separated glob patterns (e.g. zp_DH_HDS_*)")
      ("channels", po::value<std::string>()->default_value(""),
       "--histograms: channels combined in each model, comma-separated (default: every channel of the file)")
      ("bins", po::value<std::size_t>()->default_value(m.max_bins),
       "--histograms: bins per channel at most; the score bins are merged from the top into bins of equal signal")
      ("min-background", double_value(m.min_background),
       "--histograms: a merged bin holds at least this much background (weighted events) ...")
      ("min-mc-events", double_value(m.min_mc_events), "... from at least this many effective MC events (b^2 / sum w^2)")
      ("lumi-uncertainty", double_value(m.lumi_uncertainty),
       "--histograms: relative luminosity uncertainty on every MC sample (0: none; Run 2: 0.017)")
      ("background-norm", po::value<std::string>()->default_value(""),
       "--histograms: normalisation uncertainties of the backgrounds, 'PATTERN=REL, ...' (first match; one "
       "parameter per sample, shared by the channels), e.g. 'ttbar*=0.06, *=0.1'")
      ("shape-systematic", po::value<std::vector<std::string>>()->composing(),
       "--histograms: NAME=UP.h5,DOWN.h5, repeatable: significance files of the same selection with an input varied "
       "up and down; a histosys modifier NAME on every MC sample (interpolated as pyhf does)")
      ("signal-norm", double_value(m.signal_norm), "--histograms: relative signal normalisation uncertainty (0: none)")
      ("free-norm", po::value<std::string>()->default_value(""),
       "--histograms: backgrounds whose normalisation floats freely (normfactor k_<sample>, shared by the channels: "
       "a control-region channel constrains it), comma-separated glob patterns")
      ("mc-stat", po::value<bool>()->default_value(m.mc_stat),
       "--histograms: MC statistical uncertainty per bin (staterror, Barlow-Beeston lite)")
      ("data", po::value<std::string>()->default_value(m.data),
       "--histograms: observed = auto (the data samples, else the background-only expectation) | asimov")
      ("cl", double_value(l.cl), "confidence level of the upper limits (CLs)")
      ("cls", po::value<std::string>()->default_value("asymptotic"),
       "asymptotic (CCGV formulae; models over the ranks) | toys (pseudo-experiments, for small counts; the toys "
       "of each model over the ranks)")
      ("toys", po::value<uint64_t>()->default_value(stats::ToyLimitOptions{}.toys),
       "--cls toys: pseudo-experiments per hypothesis and mu point")
      ("toy-grid", po::value<std::size_t>()->default_value(stats::ToyLimitOptions{}.grid),
       "--cls toys: mu points (from 0.5 x the lowest asymptotic band to 1.6 x the highest; extended if needed)")
      ("seed", po::value<uint64_t>()->default_value(stats::ToyLimitOptions{}.seed), "--cls toys: seed of the toys")
      ("mu-max", double_value(l.mu_max),
       "the limit search widens the POI range (x4 at a time) up to this; a model whose limit is above fails")
      ("impacts", po::value<bool>()->default_value(true),
       "rank the nuisance parameters by their impact on the fitted signal strength (4 fits each)")
      ("print-top", po::value<std::size_t>()->default_value(20), "models printed, best expected limit first")
      ("overwrite", switch_value(), "replace existing output files");
}

LimitsConfig limits_config_from(const po::variables_map& vm) {
  LimitsConfig c;
  c.workspace = option<std::string>(vm, "workspace");
  c.histograms = option<std::string>(vm, "histograms");
  if (c.workspace.empty() == c.histograms.empty())
    throw InputError("bsmhunt limits: give exactly one of --workspace WS.json (a pyhf workspace) and --histograms "
                     "SIG.h5 (the HDF5 output of bsmhunt significance)");
  c.measurement = option<std::string>(vm, "measurement");
  c.output = required(vm, "output", "bsmhunt limits: --output LIMITS.json is required");
  const std::string h5 = option<std::string>(vm, "output-h5");
  c.output_h5 = h5.empty() ? significance_h5_path(c.output.string()) : h5;
  c.export_dir = option<std::string>(vm, "export-workspace");
  ModelOptions& m = c.model;
  m.signals = split_list(option<std::string>(vm, "signal"));
  m.channels = split_list(option<std::string>(vm, "channels"));
  m.max_bins = option<std::size_t>(vm, "bins");
  if (m.max_bins < 1) throw InputError("--bins 0: expected at least 1");
  m.min_background = option<double>(vm, "min-background");
  m.min_mc_events = option<double>(vm, "min-mc-events");
  m.lumi_uncertainty = option<double>(vm, "lumi-uncertainty");
  m.signal_norm = option<double>(vm, "signal-norm");
  for (const auto& [name, v] : {std::pair{"min-background", m.min_background}, {"min-mc-events", m.min_mc_events},
                                {"lumi-uncertainty", m.lumi_uncertainty}, {"signal-norm", m.signal_norm}})
    if (!(v >= 0) || !std::isfinite(v)) throw InputError(fmt::format("--{} {}: expected a finite value >= 0", name, v));
  m.background_norm = parse_norm_list(option<std::string>(vm, "background-norm"), "background-norm");
  m.free_norm = split_list(option<std::string>(vm, "free-norm"));
  if (vm.count("shape-systematic"))
    for (const auto& text : option<std::vector<std::string>>(vm, "shape-systematic"))
      m.shapes.push_back(parse_shape_systematic(text));
  m.mc_stat = option<bool>(vm, "mc-stat");
  m.data = option<std::string>(vm, "data");
  if (m.data != "auto" && m.data != "asimov")
    throw InputError(fmt::format("--data '{}': expected auto or asimov", m.data));
  c.limits.cl = option<double>(vm, "cl");
  if (!(c.limits.cl > 0 && c.limits.cl < 1)) throw InputError(fmt::format("--cl {}: expected in (0, 1)", c.limits.cl));
  c.limits.mu_max = option<double>(vm, "mu-max");
  if (!(c.limits.mu_max > 0) || !std::isfinite(c.limits.mu_max))
    throw InputError(fmt::format("--mu-max {}: expected a positive number", c.limits.mu_max));
  const std::string cls = option<std::string>(vm, "cls");
  if (cls != "asymptotic" && cls != "toys")
    throw InputError(fmt::format("--cls '{}': expected asymptotic or toys", cls));
  c.toys = cls == "toys";
  c.toy.toys = option<uint64_t>(vm, "toys");
  c.toy.grid = option<std::size_t>(vm, "toy-grid");
  c.toy.seed = option<uint64_t>(vm, "seed");
  c.impacts = option<bool>(vm, "impacts");
  c.print_top = option<std::size_t>(vm, "print-top");
  c.overwrite = option<bool>(vm, "overwrite");
  return c;
}

}  // namespace bsmhunt::pipeline
