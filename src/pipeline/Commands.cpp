// The subcommands of bsmhunt: option definitions and how each maps onto a stage.
#include <fmt/format.h>

#include <iostream>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/pipeline/Command.hpp"
#include "bsmhunt/pipeline/Bumphunt.hpp"
#include "bsmhunt/pipeline/Extract.hpp"
#include "bsmhunt/pipeline/Fit.hpp"
#include "bsmhunt/pipeline/Generate.hpp"
#include "bsmhunt/pipeline/Import.hpp"
#include "bsmhunt/pipeline/Inspect.hpp"
#include "bsmhunt/pipeline/Run.hpp"
#include "bsmhunt/pipeline/Significance.hpp"
#include "bsmhunt/pipeline/Train.hpp"

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
      ("lumi-ifb", double_value(g.lumi_ifb), "integrated luminosity in fb^-1")
      ("preselection", po::value<bool>()->default_value(true),
       "apply the channel's event preselection (dilepton_met: two leptons, MET > 50 GeV)")
      ("samples", po::value<std::string>()->default_value(""),
       "comma-separated sample names to generate (default: all of the channel)")
      ("pseudo-data", po::value<bool>()->default_value(c.pseudo_data),
       "add a 'data' sample: Poisson-fluctuated sum of the backgrounds at the luminosity")
      ("inject-signal", po::value<std::string>()->default_value(""), "signal sample injected into the pseudo-data")
      ("signal-strength", double_value(0.0),
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
      ("sentinel", double_value(c.sentinel), "value replacing missing ones (--padding sentinel)")
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
      ("lepton-pt-min", double_value(c.lepton_pt_min),
       "dilepton_met: leptons count with pT > this (GeV)")
      ("lepton-eta-max", double_value(c.lepton_eta_max),
       "dilepton_met: leptons count with |eta| < this")
      ("require", po::value<std::string>()->default_value("sfos"),
       "dilepton_met: sfos (same flavour, opposite sign) or any (ee, mumu and emu)")
      ("met-min", double_value(c.met_min), "dilepton_met: MET > this (GeV)")
      ("max-bjets", po::value<int64_t>()->default_value(c.max_bjets),
       "dilepton_met: b-jet veto, at most this many b-tagged jets (-1: off)")
      ("mjj-min", double_value(c.mjj_min), "dijet: m_JJ >= this (GeV)")
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

std::vector<std::size_t> parse_widths(const std::string& text, const char* option) {
  std::vector<std::size_t> widths;
  for (const auto& part : split(text, ',')) {
    const std::string t = trim(part);
    if (t.empty()) continue;
    try {
      std::size_t used = 0;
      const long v = std::stol(t, &used);
      if (used != t.size() || v <= 0) throw std::invalid_argument(t);
      widths.push_back(std::size_t(v));
    } catch (const std::exception&) {
      throw InputError(fmt::format("--{} '{}': expected comma-separated positive layer widths, e.g. 64,64", option,
                                   text));
    }
  }
  return widths;
}

template <typename E>
E choose(const std::string& value, const char* option, std::initializer_list<std::pair<const char*, E>> options) {
  std::vector<std::string> names;
  for (const auto& [name, e] : options) {
    if (value == name) return e;
    names.emplace_back(name);
  }
  throw InputError(fmt::format("--{} '{}': expected one of {}{}", option, value, join(names, ", "),
                               did_you_mean(value, names)));
}

void train_options(po::options_description& d) {
  const TrainConfig c;
  const nn::TrainerConfig& t = c.trainer;
  const nn::BdtConfig& b = c.bdt;
  d.add_options()
      ("features", po::value<std::string>()->default_value(""), "input feature file (bsmhunt extract / import)")
      ("output,o", po::value<std::string>()->default_value(""), "model file to write (HDF5)")
      ("model", po::value<std::string>()->default_value(c.model), "mlp | autoencoder | bdt")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu | cuda (one GPU per rank of a node)")
      ("overwrite", po::value<bool>()->default_value(false)->implicit_value(true), "replace an existing model file")
      ("hidden", po::value<std::string>()->default_value("64,64"),
       "hidden layer widths (autoencoder: encoder widths, the decoder mirrors them)")
      ("activation", po::value<std::string>()->default_value("relu"), "relu | leaky_relu | tanh | sigmoid | linear")
      ("dropout", double_value(0.0), "dropout rate after each hidden layer")
      ("batchnorm", po::value<bool>()->default_value(false), "batch normalisation (synchronised over ranks) in hidden layers")
      ("latent", po::value<std::size_t>()->default_value(c.network.latent), "autoencoder bottleneck width")
      ("loss", po::value<std::string>()->default_value(c.loss),
       "auto (bce; softmax_ce for >2 classes; mse for the autoencoder) | bce | focal | softmax_ce | mse")
      ("label-smoothing", double_value(0.0), "label smoothing epsilon (bce, softmax_ce)")
      ("focal-gamma", double_value(2.0), "focal loss gamma")
      ("focal-alpha", double_value(-1.0), "focal loss weight of the signal class (<0: none)")
      ("optimizer", po::value<std::string>()->default_value("adam"), "sgd | adam | adamw")
      ("learning-rate", double_value(t.learning_rate), "peak learning rate")
      ("weight-decay", double_value(t.weight_decay), "weight decay (decoupled for adamw)")
      ("momentum", double_value(t.momentum), "sgd momentum")
      ("nesterov", po::value<bool>()->default_value(false), "sgd with Nesterov momentum")
      ("l1", double_value(0.0), "L1 penalty on dense weights")
      ("l2", double_value(0.0), "L2 penalty on dense weights")
      ("activity-l2", double_value(0.0),
       "L2 penalty on the activations of the last hidden layer (autoencoder: the latent layer)")
      ("schedule", po::value<std::string>()->default_value("constant"), "learning-rate schedule: constant | step | cosine")
      ("warmup-steps", po::value<uint64_t>()->default_value(0), "linear warm-up steps")
      ("step-gamma", double_value(t.step_gamma), "step schedule: factor every --step-epochs")
      ("step-epochs", po::value<uint64_t>()->default_value(t.step_epochs), "step schedule period in epochs")
      ("min-learning-rate", double_value(0.0), "cosine schedule floor")
      ("epochs", po::value<uint64_t>()->default_value(t.epochs), "maximum epochs")
      ("batch-size", po::value<uint64_t>()->default_value(t.batch_size), "global batch size (over all ranks)")
      ("patience", po::value<uint64_t>()->default_value(t.patience),
       "early stopping: epochs without validation-loss improvement (0: off)")
      ("min-delta", double_value(0.0), "early stopping: least improvement that counts")
      ("restore-best", po::value<bool>()->default_value(true), "end with the weights of the best validation loss")
      ("seed", po::value<uint64_t>()->default_value(t.seed), "seed of initialisation, shuffling and dropout")
      ("normalization", po::value<std::string>()->default_value(c.normalization),
       "zscore | minmax | none (statistics of the feature file's training split)")
      ("sample-weights", po::value<std::string>()->default_value("mc"),
       "per-event training weight: mc (analysis weight) | abs (its absolute value) | none (1)")
      ("class-balance", po::value<std::string>()->default_value("sum"),
       "class weights: sum (equal sums of weights per class) | count (by event counts) | none")
      ("balance-scale", po::value<std::string>()->default_value("background"),
       "binary balance: scale the background down or the signal up (equivalent with --normalize-weights)")
      ("normalize-weights", po::value<bool>()->default_value(true), "scale training weights to mean 1")
      ("signal-samples", po::value<std::string>()->default_value(""),
       "signal samples to train on, comma-separated glob patterns (default: all), e.g. zp_DH_HDS_m130_*")
      ("exclude-samples", po::value<std::string>()->default_value(""), "samples to leave out, glob patterns")
      ("select", po::value<std::string>()->default_value(""),
       "train and validate only on events passing these cuts on features, e.g. 'mll > 100 && met > 80' "
       "(predict still scores every event)")
      ("train-on", po::value<std::string>()->default_value(c.train_on),
       "autoencoder training events: auto (= background) | background | data | all")
      ("checkpoint", po::value<std::string>()->default_value(""), "checkpoint file (default OUTPUT.checkpoint.h5)")
      ("checkpoint-every", po::value<uint64_t>()->default_value(0), "also checkpoint every N steps (0: epoch ends only)")
      ("resume", po::value<bool>()->default_value(false)->implicit_value(true),
       "continue from the checkpoint of an interrupted run (same options)")
      ("bucket-mb", double_value(4.0), "gradient all-reduce bucket size in MB")
      ("blas-threads", po::value<int>()->default_value(0), "BLAS threads per rank (0: the node's cores / its ranks)")
      ("progress-seconds", double_value(c.progress_seconds), "seconds between progress lines")
      ("bdt-trees", po::value<int>()->default_value(b.n_trees), "BDT: boosting rounds")
      ("bdt-depth", po::value<int>()->default_value(b.max_depth), "BDT: maximum tree depth")
      ("bdt-learning-rate", double_value(b.learning_rate), "BDT: shrinkage (eta)")
      ("bdt-subsample", double_value(b.subsample), "BDT: row subsampling")
      ("bdt-colsample", double_value(b.colsample_bytree), "BDT: feature subsampling per tree")
      ("bdt-min-child-weight", double_value(b.min_child_weight), "BDT: min hessian weight per leaf")
      ("bdt-max-bin", po::value<int>()->default_value(b.max_bin), "BDT: histogram bins per feature")
      ("bdt-scale-pos-weight", double_value(b.scale_pos_weight),
       "BDT: signal weight factor (0: sum|w| background / sum|w| signal without class balance, else 1)")
      ("bdt-early-stopping", po::value<int>()->default_value(b.early_stopping_rounds),
       "BDT: rounds without validation improvement before stopping (0: off)")
      ("bdt-threads", po::value<int>()->default_value(b.threads), "BDT: XGBoost threads (0: all)")
      ("scan", po::value<std::string>()->default_value(""),
       "hyperparameter scan: grid (every combination) | random (--scan-points draws); one model per point")
      ("scan-params", po::value<std::string>()->default_value(""),
       "the scanned options: 'KEY=V1|V2|...;KEY=...', e.g. 'learning-rate=0.001|0.003;hidden=32,32|64,64'")
      ("scan-points", po::value<uint64_t>()->default_value(8), "random scan: points to draw")
      ("scan-groups", po::value<int>()->default_value(0),
       "sub-communicators training points side by side (0: one per rank, at most one per point)");
}

TrainConfig train_config_from(const po::variables_map& vm) {
  TrainConfig c;
  c.features = get<std::string>(vm, "features");
  c.output = get<std::string>(vm, "output");
  c.model = get<std::string>(vm, "model");
  c.device = nn::parse_device(get<std::string>(vm, "device"));
  c.overwrite = get<bool>(vm, "overwrite");
  c.network.hidden = parse_widths(get<std::string>(vm, "hidden"), "hidden");
  c.network.activation = nn::parse_activation(get<std::string>(vm, "activation"));
  c.network.dropout = float(get<double>(vm, "dropout"));
  c.network.batchnorm = get<bool>(vm, "batchnorm");
  c.network.latent = get<std::size_t>(vm, "latent");
  c.network.activity_l2 = float(get<double>(vm, "activity-l2"));
  c.loss = get<std::string>(vm, "loss");
  if (c.loss != "auto") nn::parse_loss(c.loss);
  auto& t = c.trainer;
  t.loss.label_smoothing = float(get<double>(vm, "label-smoothing"));
  t.loss.focal_gamma = float(get<double>(vm, "focal-gamma"));
  t.loss.focal_alpha = float(get<double>(vm, "focal-alpha"));
  if (t.loss.label_smoothing < 0 || t.loss.label_smoothing >= 1)
    throw InputError(fmt::format("--label-smoothing {}: expected [0, 1)", t.loss.label_smoothing));
  t.optimizer = nn::parse_optimizer(get<std::string>(vm, "optimizer"));
  t.learning_rate = get<double>(vm, "learning-rate");
  if (!(t.learning_rate > 0)) throw InputError(fmt::format("--learning-rate {}: must be positive", t.learning_rate));
  t.weight_decay = get<double>(vm, "weight-decay");
  t.momentum = get<double>(vm, "momentum");
  t.nesterov = get<bool>(vm, "nesterov");
  t.l1 = get<double>(vm, "l1"), t.l2 = get<double>(vm, "l2");
  t.schedule = nn::parse_schedule(get<std::string>(vm, "schedule"));
  t.warmup_steps = get<uint64_t>(vm, "warmup-steps");
  t.step_gamma = get<double>(vm, "step-gamma");
  t.step_epochs = get<uint64_t>(vm, "step-epochs");
  t.min_learning_rate = get<double>(vm, "min-learning-rate");
  t.epochs = get<uint64_t>(vm, "epochs");
  t.batch_size = get<uint64_t>(vm, "batch-size");
  if (t.epochs == 0 || t.batch_size == 0) throw InputError("--epochs and --batch-size must be positive");
  t.patience = get<uint64_t>(vm, "patience");
  t.min_delta = get<double>(vm, "min-delta");
  t.restore_best = get<bool>(vm, "restore-best");
  t.seed = get<uint64_t>(vm, "seed");
  t.checkpoint_every = get<uint64_t>(vm, "checkpoint-every");
  t.bucket_floats = std::size_t(std::max(1.0, get<double>(vm, "bucket-mb") * 1e6 / 4));
  c.normalization = get<std::string>(vm, "normalization");
  c.weights.sample = choose<SampleWeights>(get<std::string>(vm, "sample-weights"), "sample-weights",
                                           {{"mc", SampleWeights::mc}, {"abs", SampleWeights::abs}, {"none", SampleWeights::none}});
  c.weights.balance = choose<ClassBalance>(get<std::string>(vm, "class-balance"), "class-balance",
                                           {{"sum", ClassBalance::sum}, {"count", ClassBalance::count}, {"none", ClassBalance::none}});
  c.weights.scale_signal_up = choose<bool>(get<std::string>(vm, "balance-scale"), "balance-scale",
                                           {{"background", false}, {"signal", true}});
  c.weights.normalize = get<bool>(vm, "normalize-weights");
  c.signal_samples = split_list(get<std::string>(vm, "signal-samples"));
  c.exclude_samples = split_list(get<std::string>(vm, "exclude-samples"));
  c.select = get<std::string>(vm, "select");
  c.train_on = get<std::string>(vm, "train-on");
  c.checkpoint = get<std::string>(vm, "checkpoint");
  c.resume = get<bool>(vm, "resume");
  c.blas_threads = get<int>(vm, "blas-threads");
  c.progress_seconds = get<double>(vm, "progress-seconds");
  auto& b = c.bdt;
  b.n_trees = get<int>(vm, "bdt-trees"), b.max_depth = get<int>(vm, "bdt-depth");
  b.learning_rate = get<double>(vm, "bdt-learning-rate"), b.subsample = get<double>(vm, "bdt-subsample");
  b.colsample_bytree = get<double>(vm, "bdt-colsample"), b.min_child_weight = get<double>(vm, "bdt-min-child-weight");
  b.max_bin = get<int>(vm, "bdt-max-bin"), b.scale_pos_weight = get<double>(vm, "bdt-scale-pos-weight");
  b.early_stopping_rounds = get<int>(vm, "bdt-early-stopping"), b.threads = get<int>(vm, "bdt-threads");
  b.seed = t.seed;
  return c;
}

int run_train_command(const po::variables_map& vm, const dist::Communicator& comm) {
  const std::string scan = get<std::string>(vm, "scan");
  if (scan.empty()) return run_train(train_config_from(vm), comm);
  ScanConfig sc;
  sc.mode = scan;
  sc.params = get<std::string>(vm, "scan-params");
  sc.points = get<uint64_t>(vm, "scan-points");
  sc.groups = get<int>(vm, "scan-groups");
  sc.seed = get<uint64_t>(vm, "seed");
  return run_train_scan(vm, sc, train_config_from, comm);
}

void predict_options(po::options_description& d) {
  const PredictConfig c;
  d.add_options()
      ("model", po::value<std::string>()->default_value(""), "model file from bsmhunt train")
      ("features", po::value<std::string>()->default_value(""), "feature file to score (every event of every split)")
      ("output,o", po::value<std::string>()->default_value(""), "score file to write (HDF5)")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu | cuda")
      ("overwrite", po::value<bool>()->default_value(false)->implicit_value(true), "replace an existing score file")
      ("chunk-rows", po::value<uint64_t>()->default_value(c.chunk_rows), "events per rank per batch")
      ("blas-threads", po::value<int>()->default_value(0), "BLAS threads per rank (0: the node's cores / its ranks)");
}

int run_predict_command(const po::variables_map& vm, const dist::Communicator& comm) {
  PredictConfig c;
  c.model = get<std::string>(vm, "model");
  c.features = get<std::string>(vm, "features");
  c.output = get<std::string>(vm, "output");
  c.device = nn::parse_device(get<std::string>(vm, "device"));
  c.overwrite = get<bool>(vm, "overwrite");
  c.chunk_rows = std::max<uint64_t>(1, get<uint64_t>(vm, "chunk-rows"));
  c.blas_threads = get<int>(vm, "blas-threads");
  return run_predict(c, comm);
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
      {"train", "train an mlp, autoencoder or BDT on a feature file, data-parallel over the ranks",
       "[mpirun -n N] bsmhunt train --features FEATURES.h5 --model mlp|autoencoder|bdt --output MODEL.h5 [options]",
       train_options, "", run_train_command},
      {"predict", "score every event of a feature file with a trained model",
       "[mpirun -n N] bsmhunt predict --model MODEL.h5 --features FEATURES.h5 --output SCORES.h5",
       predict_options, "", run_predict_command},
      {"fit", "fit the sidebands of a binned spectrum with the dijet functions; local and global significance",
       "[mpirun -n N] bsmhunt fit --input SPECTRUM.csv --signal-region LO,HI --output FIT.json [--toys N] [options]",
       add_fit_options, "input", run_fit_command},
      {"significance", "score histograms per sample and channel; cut scans, ROC, cut-and-count yields and Z",
       "[mpirun -n N] bsmhunt significance --scores SCORES.h5 [--features F] --output RESULT.json [options]",
       add_significance_options, "", run_significance_command},
      {"bumphunt", "CWoLa bump hunt: SR-vs-sideband classifiers with k-fold cross-training, sideband fits per efficiency",
       "[mpirun -n N] bsmhunt bumphunt --features F --mass-bins EDGES --output RESULT.json [options]",
       add_bumphunt_options, "", run_bumphunt_command},
      {"report", "plots and an HTML page from a job's outputs (tools/plot/report.py, matplotlib)",
       "bsmhunt report --output-dir DIR [--features F] [--scores LABEL=S.h5 ...] [--significance R.json ...]",
       add_report_options, "", run_report_command},
      {"run", "run a job file's stages in order; complete stages are skipped, interrupted ones continue",
       "[mpirun -n N] bsmhunt run JOB.ini [--from STAGE] [--until STAGE] [--force]", add_run_options, "job",
       run_run_command},
  };
  return list;
}

}  // namespace bsmhunt::pipeline
