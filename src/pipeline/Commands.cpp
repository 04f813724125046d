// The subcommands of bsmhunt: option definitions and how each maps onto a stage.
#include <fmt/format.h>

#include <iostream>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/pipeline/Command.hpp"
#include "bsmhunt/pipeline/Extract.hpp"
#include "bsmhunt/pipeline/Generate.hpp"
#include "bsmhunt/pipeline/Import.hpp"
#include "bsmhunt/pipeline/Inspect.hpp"

namespace bsmhunt::pipeline {

namespace {

template <typename T>
T get(const po::variables_map& vm, const char* name) {
  return vm[name].as<T>();
}

// Options every command writing a feature file shares.
void add_feature_file_options(po::options_description& d, const SplitFractions& split, uint64_t seed) {
  d.add_options()
      ("split", po::value<std::string>()->default_value(fmt::format("{},{}", split.train, split.validation)),
       "train,validation fractions (test: the rest), from a hash of (seed, sample, event number)")
      ("seed", po::value<uint64_t>()->default_value(seed), "seed of the split hash")
      ("overwrite", po::value<bool>()->default_value(false)->implicit_value(true), "replace an existing output file");
}

void generate_options(po::options_description& d) {
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
      ("lumi-ifb", po::value<double>()->default_value(g.lumi_ifb), "integrated luminosity in fb^-1")
      ("preselection", po::value<bool>()->default_value(true),
       "apply the channel's event preselection (dilepton_met: two leptons, MET > 50 GeV)")
      ("samples", po::value<std::string>()->default_value(""),
       "comma-separated sample names to generate (default: all of the channel)")
      ("pseudo-data", po::value<bool>()->default_value(c.pseudo_data),
       "add a 'data' sample: Poisson-fluctuated sum of the backgrounds at the luminosity")
      ("inject-signal", po::value<std::string>()->default_value(""), "signal sample injected into the pseudo-data")
      ("signal-strength", po::value<double>()->default_value(0.0),
       "mu: injected events ~ Poisson(mu x expected signal yield)")
      ("inject-events", po::value<int64_t>()->default_value(-1),
       "exact number of injected signal events (instead of --signal-strength)")
      ("parameter", po::value<std::vector<std::string>>()->composing(),
       "channel parameter KEY=VALUE, repeatable (dijet: m_A_GeV, m_B_GeV, m_C_GeV)")
      ("block-events", po::value<int64_t>()->default_value(int64_t(c.block_events)),
       "events per work item (ranks take items in turn; the file does not depend on the rank count)")
      ("overwrite", po::value<bool>()->default_value(false)->implicit_value(true), "replace an existing output file")
      ("summary", po::value<bool>()->default_value(true), "print the inspect summary of the file at the end");
}

int run_generate_command(const po::variables_map& vm, const dist::Communicator& comm) {
  GenerateConfig c;
  c.channel = get<std::string>(vm, "channel");
  const int64_t events = get<int64_t>(vm, "events"), signal_events = get<int64_t>(vm, "signal-events");
  if (events < 0) throw InputError(fmt::format("--events {} must not be negative", events));
  if (signal_events < 0) throw InputError(fmt::format("--signal-events {} must not be negative", signal_events));
  c.options.background_events = uint64_t(events);
  c.options.signal_events = uint64_t(signal_events);
  c.options.seed = get<uint64_t>(vm, "seed");
  c.options.lumi_ifb = get<double>(vm, "lumi-ifb");
  c.options.preselection = get<bool>(vm, "preselection");
  if (vm.count("parameter"))
    for (const auto& kv : get<std::vector<std::string>>(vm, "parameter")) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos) throw InputError(fmt::format("--parameter '{}': expected KEY=VALUE", kv));
      try {
        c.options.parameters[trim(kv.substr(0, eq))] = std::stod(kv.substr(eq + 1));
      } catch (const std::exception&) {
        throw InputError(fmt::format("--parameter '{}': value is not a number", kv));
      }
    }
  c.output = get<std::string>(vm, "output");
  if (c.output.empty()) throw InputError("bsmhunt generate: --output FILE is required");
  c.overwrite = get<bool>(vm, "overwrite");
  c.pseudo_data = get<bool>(vm, "pseudo-data");
  c.inject_signal = get<std::string>(vm, "inject-signal");
  c.signal_strength = get<double>(vm, "signal-strength");
  c.inject_events = get<int64_t>(vm, "inject-events");
  const int64_t block = get<int64_t>(vm, "block-events");
  if (block <= 0) throw InputError(fmt::format("--block-events {} must be positive", block));
  c.block_events = uint64_t(block);
  const std::string samples = get<std::string>(vm, "samples");
  if (!samples.empty()) c.samples = split(samples, ',');
  run_generate(comm, c);
  if (get<bool>(vm, "summary")) {
    const FileSummary s = inspect_event_file(comm, c.output);
    if (comm.is_root()) std::cout << format_summary(s) << std::flush;
  }
  return 0;
}

void inspect_options(po::options_description& d) {
  d.add_options()("input", po::value<std::string>()->default_value(""), "event file to inspect (positional)");
}

int run_inspect_command(const po::variables_map& vm, const dist::Communicator& comm) {
  const std::string input = get<std::string>(vm, "input");
  if (input.empty()) throw InputError("bsmhunt inspect: give an event file, e.g. 'bsmhunt inspect events.h5'");
  const FileSummary s = inspect_event_file(comm, input);
  if (comm.is_root()) std::cout << format_summary(s) << std::flush;
  return 0;
}

void import_options(po::options_description& d) {
  const ImportConfig c;
  d.add_options()
      ("input", po::value<std::string>()->default_value(""),
       "table to import (positional): pandas DataFrame.to_hdf file, h5py file (one 1-D dataset per column) or CSV")
      ("format", po::value<std::string>()->default_value("auto"),
       "pandas (to_hdf, format='fixed'), h5py, csv (header line, comma-separated), or auto: csv unless the file "
       "is HDF5, then pandas if it holds a pandas object, else h5py")
      ("output,o", po::value<std::string>()->default_value(""), "output feature file (HDF5)")
      ("key", po::value<std::string>()->default_value(c.key),
       "HDF5 group: the pandas key (default: the only pandas object) or the h5py group (default: the root)")
      ("label-column", po::value<std::string>()->default_value(c.label_column),
       "column of labels (numbers, bools or strings; see --signal-labels); auto: the column called 'label' in any "
       "case; none: labels from --signal-samples")
      ("weight-column", po::value<std::string>()->default_value(c.weight_column),
       "column of event weights (copied as float64); auto: the column called 'weight' in any case, else weights "
       "are 1; none: weights are 1")
      ("mass-column", po::value<std::string>()->default_value(c.mass_column),
       "column copied to 'mass' (the resonant variable, e.g. m_jj); default: none, mass = 0")
      ("event-column", po::value<std::string>()->default_value(c.event_column),
       "column of event numbers (non-negative integers; they key the train/validation/test split); default: the "
       "0-based row index")
      ("sample-column", po::value<std::string>()->default_value(c.sample_column),
       "column naming each row's sample (one output sample per distinct value); default: two samples, "
       "'background' and 'signal', by label")
      ("signal-labels", po::value<std::string>()->default_value(join(c.signal_labels, ",")),
       "label values meaning signal (strings compared exactly, numbers by value)")
      ("background-labels", po::value<std::string>()->default_value(join(c.background_labels, ",")),
       "label values meaning background; any other label value is an error")
      ("signal-samples", po::value<std::string>()->default_value(""),
       "comma-separated values of --sample-column that are signal (the labels then come from the samples)")
      ("features", po::value<std::string>()->default_value(""),
       "comma-separated feature columns in this order (default: every numeric column but the label, weight, mass, "
       "event and sample columns)")
      ("drop-columns", po::value<std::string>()->default_value(""), "comma-separated columns that are not features")
      ("missing-value", po::value<std::string>()->default_value("-999"),
       "a feature equal to this value is missing (HiggsML uses -999.0); none: no value is missing")
      ("padding", po::value<std::string>()->default_value(std::string(to_string(c.padding))),
       "missing feature values: sentinel (replaced by --sentinel), mean (mean of the present training values over "
       "all ranks), drop-feature (features ever missing are left out), drop-event (rows are dropped, counted in the "
       "cutflow)")
      ("sentinel", po::value<double>()->default_value(c.sentinel), "value replacing missing ones (--padding sentinel)")
      ("on-nonfinite", po::value<std::string>()->default_value("error"),
       "NaN or infinite feature, weight or mass: error (naming the column and row) or drop (the row, counted in the "
       "cutflow as failing 'finite')")
      ("block-rows", po::value<int64_t>()->default_value(int64_t(c.block_rows)),
       "rows per work item (ranks take items in turn; the file does not depend on the rank count)");
  add_feature_file_options(d, c.split, c.seed);
}

int run_import_command(const po::variables_map& vm, const dist::Communicator& comm) {
  ImportConfig c;
  c.input = get<std::string>(vm, "input");
  if (c.input.empty()) throw InputError("bsmhunt import: give the table to import, e.g. 'bsmhunt import --input "
                                        "table.h5 --output features.h5'");
  c.output = get<std::string>(vm, "output");
  if (c.output.empty()) throw InputError("bsmhunt import: --output FILE is required");
  c.format = io::parse_table_format(get<std::string>(vm, "format"));
  c.key = get<std::string>(vm, "key");
  c.label_column = get<std::string>(vm, "label-column");
  c.weight_column = get<std::string>(vm, "weight-column");
  c.mass_column = get<std::string>(vm, "mass-column");
  c.event_column = get<std::string>(vm, "event-column");
  c.sample_column = get<std::string>(vm, "sample-column");
  auto list = [&](const char* name) {
    std::vector<std::string> out;
    const std::string text = get<std::string>(vm, name);
    if (trim(text).empty()) return out;
    for (auto& s : split(text, ','))
      if (!s.empty()) out.push_back(s);
    return out;
  };
  c.signal_labels = list("signal-labels");
  c.background_labels = list("background-labels");
  c.signal_samples = list("signal-samples");
  c.features = list("features");
  c.drop_columns = list("drop-columns");
  const std::string missing = trim(get<std::string>(vm, "missing-value"));
  if (missing == "none" || missing.empty()) {
    c.missing_value.reset();
  } else {
    try {
      std::size_t used = 0;
      c.missing_value = std::stod(missing, &used);
      if (used != missing.size()) throw std::invalid_argument("trailing characters");
    } catch (const std::exception&) {
      throw InputError(fmt::format("--missing-value '{}': expected a number or 'none'", missing));
    }
  }
  c.padding = parse_padding_policy(get<std::string>(vm, "padding"));
  c.sentinel = get<double>(vm, "sentinel");
  const std::string nonfinite = get<std::string>(vm, "on-nonfinite");
  if (nonfinite != "error" && nonfinite != "drop")
    throw InputError(fmt::format("--on-nonfinite '{}': expected error or drop{}", nonfinite,
                                 did_you_mean(nonfinite, {"error", "drop"})));
  c.drop_nonfinite = nonfinite == "drop";
  c.split = parse_split_fractions(get<std::string>(vm, "split"));
  c.seed = get<uint64_t>(vm, "seed");
  const int64_t block = get<int64_t>(vm, "block-rows");
  if (block <= 0) throw InputError(fmt::format("--block-rows {} must be positive", block));
  c.block_rows = uint64_t(block);
  c.overwrite = get<bool>(vm, "overwrite");
  run_import(comm, c);
  return 0;
}

void extract_options(po::options_description& d) {
  const ExtractConfig c;
  d.add_options()
      ("input", po::value<std::string>()->default_value(""), "event file (from bsmhunt generate) (positional)")
      ("output,o", po::value<std::string>()->default_value(""),
       "output feature file (HDF5); the cutflow also goes to <output>.cutflow.json")
      ("features", po::value<std::string>()->default_value(""),
       fmt::format("feature set: {} (default: the event file's channel attribute)",
                   join(feature_set_names(), ", ")).c_str())
      ("select", po::value<std::string>()->default_value(""),
       "comma-separated features of the set to write, in this order (default: all)")
      ("lepton-pt-min", po::value<double>()->default_value(c.lepton_pt_min),
       "dilepton_met: leptons count with pT > this (GeV)")
      ("lepton-eta-max", po::value<double>()->default_value(c.lepton_eta_max),
       "dilepton_met: leptons count with |eta| < this")
      ("require", po::value<std::string>()->default_value("sfos"),
       "dilepton_met: sfos (same flavour, opposite sign) or any (ee, mumu and emu)")
      ("met-min", po::value<double>()->default_value(c.met_min), "dilepton_met: MET > this (GeV)")
      ("max-bjets", po::value<int64_t>()->default_value(c.max_bjets),
       "dilepton_met: b-jet veto, at most this many b-tagged jets (-1: off)")
      ("mjj-min", po::value<double>()->default_value(c.mjj_min), "dijet: m_JJ >= this (GeV)")
      ("padding", po::value<std::string>()->default_value(std::string(to_string(c.padding))),
       "dilepton_met, missing leading jets: sentinel (pT 0, eta and phi = --sentinel), mean (training-split mean of "
       "the present values over all ranks), drop-feature (no jet1/jet2 features), drop-event (events with fewer than "
       "two jets removed, cutflow step 'padding')")
      ("sentinel", po::value<double>()->default_value(c.sentinel), "eta/phi of a missing jet (--padding sentinel)")
      ("on-nonfinite", po::value<std::string>()->default_value("error"),
       "NaN or infinite input value: error (naming sample and event number) or drop (counted in the cutflow as "
       "failing 'finite')")
      ("block-events", po::value<int64_t>()->default_value(int64_t(c.block_events)),
       "events per work item (ranks take items in turn; the file does not depend on the rank count)");
  add_feature_file_options(d, c.split, c.seed);
}

int run_extract_command(const po::variables_map& vm, const dist::Communicator& comm) {
  ExtractConfig c;
  c.input = get<std::string>(vm, "input");
  if (c.input.empty())
    throw InputError("bsmhunt extract: give the event file, e.g. 'bsmhunt extract --input events.h5 --output "
                     "features.h5'");
  c.output = get<std::string>(vm, "output");
  if (c.output.empty()) throw InputError("bsmhunt extract: --output FILE is required");
  c.feature_set = trim(get<std::string>(vm, "features"));
  const std::string select = get<std::string>(vm, "select");
  if (!trim(select).empty())
    for (auto& s : split(select, ','))
      if (!trim(s).empty()) c.select.push_back(trim(s));
  c.lepton_pt_min = get<double>(vm, "lepton-pt-min");
  c.lepton_eta_max = get<double>(vm, "lepton-eta-max");
  const std::string require = get<std::string>(vm, "require");
  if (require != "sfos" && require != "any")
    throw InputError(fmt::format("--require '{}': expected sfos or any{}", require,
                                 did_you_mean(require, {"sfos", "any"})));
  c.require_sfos = require == "sfos";
  c.met_min = get<double>(vm, "met-min");
  c.max_bjets = get<int64_t>(vm, "max-bjets");
  c.mjj_min = get<double>(vm, "mjj-min");
  c.padding = parse_padding_policy(get<std::string>(vm, "padding"));
  c.sentinel = get<double>(vm, "sentinel");
  const std::string nonfinite = get<std::string>(vm, "on-nonfinite");
  if (nonfinite != "error" && nonfinite != "drop")
    throw InputError(fmt::format("--on-nonfinite '{}': expected error or drop{}", nonfinite,
                                 did_you_mean(nonfinite, {"error", "drop"})));
  c.drop_nonfinite = nonfinite == "drop";
  c.split = parse_split_fractions(get<std::string>(vm, "split"));
  c.seed = get<uint64_t>(vm, "seed");
  const int64_t block = get<int64_t>(vm, "block-events");
  if (block <= 0) throw InputError(fmt::format("--block-events {} must be positive", block));
  c.block_events = uint64_t(block);
  c.overwrite = get<bool>(vm, "overwrite");
  run_extract(comm, c);
  return 0;
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"generate", "generate weighted Monte Carlo samples and pseudo-data with the built-in generator",
       "[mpirun -n N] bsmhunt generate --channel NAME --events N --output FILE [options]", generate_options, "",
       run_generate_command},
      {"inspect", "validate an event file and print its samples, weights and expected yields",
       "[mpirun -n N] bsmhunt inspect FILE", inspect_options, "input", run_inspect_command},
      {"import", "import a flat table (pandas to_hdf, h5py columns, CSV) into a feature file",
       "[mpirun -n N] bsmhunt import --input TABLE --output FEATURES.h5 [--format pandas|h5py|csv] [options]",
       import_options, "input", run_import_command},
      {"extract", "compute a feature set (dilepton_met, dijet) with its selection from an event file",
       "[mpirun -n N] bsmhunt extract --input EVENTS.h5 --output FEATURES.h5 [--features SET] [options]",
       extract_options, "input", run_extract_command},
  };
  return list;
}

}  // namespace bsmhunt::pipeline
