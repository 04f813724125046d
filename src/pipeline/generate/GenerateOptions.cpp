// Options of `bsmhunt generate` and their mapping onto GenerateConfig.
#include "bsmhunt/pipeline/Generate.hpp"

#include <cmath>

#include "bsmhunt/pipeline/FeatureCommon.hpp"

namespace bsmhunt::pipeline {

void add_generate_options(po::options_description& d) {
  const physics::GeneratorOptions g;
  const GenerateConfig c;
  d.add_options()
      ("channel", po::value<std::string>()->default_value(c.channel),
       fmt::format("generator channel: {}", join(physics::channel_names(), ", ")).c_str())
      ("events", po::value<int64_t>()->default_value(int64_t(g.background_events)),
       "background events to store (after preselection), shared among the background processes")
      ("signal-events", po::value<int64_t>()->default_value(int64_t(g.signal_events)),
       "events to store per signal sample")
      ("seed", po::value<uint64_t>()->default_value(g.seed), "random seed; events are keyed by (seed, sample, event)")
      ("output,o", po::value<std::string>()->default_value(""), "output event file (HDF5)")
      ("lumi-ifb", double_value(g.lumi_ifb), "integrated luminosity in fb^-1")
      ("preselection", po::value<bool>()->default_value(true),
       "apply the channel's event preselection (dilepton_met: two leptons, MET > 50 GeV)")
      ("samples", po::value<std::string>()->default_value(""),
       "comma-separated sample names to generate (default: all of the channel)")
      ("pseudo-data", po::value<bool>()->default_value(c.pseudo_data),
       "add a 'data' sample: Poisson-fluctuated sum of the backgrounds at the luminosity")
      ("data-lumi-ifb", po::value<std::string>()->default_value("auto"),
       "luminosity of the pseudo-data: auto (as many expected background events as background MC events, at most "
       "--lumi-ifb: small runs get small data), full (--lumi-ifb), or a number in fb^-1; the MC stays normalised "
       "to --lumi-ifb and the data sample records its own luminosity_ifb")
      ("inject-signal", po::value<std::string>()->default_value(""), "signal sample injected into the pseudo-data")
      ("signal-strength", double_value(0.0), "mu: injected events ~ Poisson(mu x expected signal yield)")
      ("inject-events", po::value<int64_t>()->default_value(-1),
       "exact number of injected signal events (instead of --signal-strength)")
      ("parameter", po::value<std::vector<std::string>>()->composing(),
       "channel parameter KEY=VALUE, repeatable (dijet: m_A_GeV, m_B_GeV, m_C_GeV; trilepton pseudo-data "
       "distortions: data_met_scale, data_jet_pt_scale, data_fake_rate_scale; dilepton_met: dy_met_slices=0 "
       "draws Drell-Yan with unit weights instead of weighted slices, ~20x slower)")
      ("block-events", po::value<int64_t>()->default_value(int64_t(c.block_events)),
       "events per work item (ranks take items in turn; the file does not depend on the rank count). Small items "
       "balance the ranks: an item of one sample may cost 100 times one of another")
      ("overwrite", switch_value(), "replace an existing output file")
      ("summary", po::value<bool>()->default_value(c.summary), "print the inspect summary of the file at the end");
  add_write_options(d);
}

namespace {

uint64_t count_option(const po::variables_map& vm, const char* name) {
  const int64_t n = option<int64_t>(vm, name);
  if (n < 0) throw InputError(fmt::format("--{} {} must not be negative", name, n));
  return uint64_t(n);
}

}  // namespace

GenerateConfig generate_config_from(const po::variables_map& vm) {
  GenerateConfig c;
  c.channel = option<std::string>(vm, "channel");
  c.options.background_events = count_option(vm, "events");
  c.options.signal_events = count_option(vm, "signal-events");
  c.options.seed = option<uint64_t>(vm, "seed");
  c.options.lumi_ifb = option<double>(vm, "lumi-ifb");
  c.options.preselection = option<bool>(vm, "preselection");
  if (vm.count("parameter"))
    for (const auto& kv : option<std::vector<std::string>>(vm, "parameter")) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos) throw InputError(fmt::format("--parameter '{}': expected KEY=VALUE", kv));
      try {
        c.options.parameters[trim(kv.substr(0, eq))] = std::stod(kv.substr(eq + 1));
      } catch (const std::exception&) {
        throw InputError(fmt::format("--parameter '{}': value is not a number", kv));
      }
    }
  c.output = required(vm, "output", "bsmhunt generate: --output FILE is required");
  c.write = write_options_from(vm);
  c.pseudo_data = option<bool>(vm, "pseudo-data");
  const std::string data_lumi = option<std::string>(vm, "data-lumi-ifb");
  if (data_lumi == "auto") {
    c.data_lumi_ifb = 0;
  } else if (data_lumi == "full") {
    c.data_lumi_ifb = -1;
  } else {
    std::size_t used = 0;
    try {
      c.data_lumi_ifb = std::stod(data_lumi, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != data_lumi.size() || !(c.data_lumi_ifb > 0) || !std::isfinite(c.data_lumi_ifb))
      throw InputError(fmt::format("--data-lumi-ifb {}: expected auto, full or a positive number of fb^-1", data_lumi));
  }
  c.inject_signal = option<std::string>(vm, "inject-signal");
  c.signal_strength = option<double>(vm, "signal-strength");
  c.inject_events = option<int64_t>(vm, "inject-events");
  c.block_events = positive_option(vm, "block-events");
  c.samples = list_option(vm, "samples");
  c.summary = option<bool>(vm, "summary");
  return c;
}

}  // namespace bsmhunt::pipeline
