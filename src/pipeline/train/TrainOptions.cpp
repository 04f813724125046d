// Options of `bsmhunt train` and their mapping onto TrainConfig (one model) or
// ScanPlan (--scan: one TrainConfig per point).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <typeinfo>

#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/physics/EtaPhiImage.hpp"
#include "bsmhunt/pipeline/Train.hpp"

namespace bsmhunt::pipeline {

namespace {

std::vector<std::size_t> parse_widths(const std::string& text, const char* option_name) {
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
      throw InputError(fmt::format("--{} '{}': expected comma-separated positive layer widths, e.g. 64,64",
                                   option_name, text));
    }
  }
  return widths;
}

}  // namespace

void add_train_options(po::options_description& d) {
  const TrainConfig c;
  const nn::TrainerConfig& t = c.trainer;
  const nn::BdtConfig& b = c.bdt;
  d.add_options()
      ("features", po::value<std::string>()->default_value(""), "input feature file (bsmhunt extract / import)")
      ("output,o", po::value<std::string>()->default_value(""), "model file to write (HDF5)")
      ("model", po::value<std::string>()->default_value(c.model),
       "mlp | autoencoder | bdt | cnn (eta-phi images of the particles; unless given: --hidden 128, --dropout 0.1, "
       "--learning-rate 1e-4, --batch-size 128, the mono-jet study's settings)")
      ("cnn", po::value<std::string>()->default_value(c.network.cnn), "cnn architecture: strides | max-pool")
      ("compression", po::value<std::string>()->default_value(c.compression),
       "cnn images: none | empty-rowcol | empty-cell | stochastic (docs/monojet.md)")
      ("events", po::value<std::string>()->default_value(""),
       "cnn: the event file with the particles (default: the feature file's source_file)")
      ("conv-l2", double_value(0.01), "cnn: L2 penalty on the convolution kernels (the study: 0.01)")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu | cuda (one GPU per rank of a node)")
      ("overwrite", switch_value(), "replace an existing model file")
      ("hidden", po::value<std::string>()->default_value("64,64"),
       "hidden layer widths (autoencoder: encoder widths, the decoder mirrors them; mlp with --hidden, --dropout "
       "and --batchnorm not given and fewer than 100 000 training events: 128,128 with batch norm and dropout 0.2)")
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
      ("epochs", po::value<uint64_t>()->default_value(t.epochs),
       "maximum epochs (mlp, autoencoder, unless given: enough for 8 000 steps, 20 to 200)")
      ("batch-size", po::value<uint64_t>()->default_value(t.batch_size),
       "global batch size over all ranks (mlp, autoencoder, unless given: about training events / 40, a power of "
       "two from 64 to 4096)")
      ("patience", po::value<uint64_t>()->default_value(t.patience),
       "early stopping: epochs without validation-loss improvement, 0: off (mlp, autoencoder, unless given: a "
       "tenth of the epochs, 5 to 20)")
      ("min-delta", double_value(0.0), "early stopping: least improvement that counts")
      ("restore-best", po::value<bool>()->default_value(true), "end with the weights of the best validation loss")
      ("seed", po::value<uint64_t>()->default_value(t.seed), "seed of initialisation, shuffling and dropout")
      ("normalization", po::value<std::string>()->default_value(c.normalization),
       "zscore | minmax | none (of the training rows with --preprocess auto; else the feature file's statistics)")
      ("preprocess", po::value<std::string>()->default_value(c.preprocess),
       "auto (each feature whose present values are >= 0 with a skewness above 1 becomes log(1 + x / mean); each "
       "feature with missing values gets an indicator input and 0 where missing) | none (the raw features)")
      ("missing-value", double_value(c.missing_value),
       "a feature equal to this is missing (--preprocess auto; import --padding keep leaves HiggsML's -999 as it is)")
      ("sample-weights", po::value<std::string>()->default_value("auto"),
       "per-event training weight: mc (analysis weight) | abs (its absolute value) | none (1) | auto (abs for "
       "the autoencoder, whose per-event loss negative weights would make unbounded below, and for the BDT, as "
       "XGBoost takes no negative weights and analysis A trained on absolute ones; mc otherwise)")
      ("class-balance", po::value<std::string>()->default_value("sum"),
       "class weights: sum (equal sums of weights per class) | count (by event counts) | none")
      ("balance-scale", po::value<std::string>()->default_value("background"),
       "binary balance: scale the background down or the signal up (equivalent with --normalize-weights)")
      ("normalize-weights", po::value<bool>()->default_value(true), "scale training weights to mean 1")
      ("signal-samples", po::value<std::string>()->default_value(""),
       "signal samples to train on, comma-separated glob patterns (default: all), e.g. zp_DH_HDS_m130_*")
      ("exclude-samples", po::value<std::string>()->default_value(""), "samples to leave out, glob patterns")
      ("folds", po::value<int>()->default_value(1),
       "k-fold: train K models, model k without the events of fold k (a hash of the event), so that predict "
       "scores every event with a model that never saw it (out-of-fold); 1: one model on the train split")
      ("ensemble", po::value<int>()->default_value(1),
       "mlp, autoencoder: train N networks with seeds seed, seed + 1, ... on the same events; predict writes the "
       "mean of their scores (with --folds: an ensemble in every fold)")
      ("model-groups", po::value<int>()->default_value(1),
       "--folds, --ensemble: sub-communicators that train the models side by side, each data-parallel on its ranks "
       "(1, the default: one model after another on every rank; 0: one group per rank, at most one per model; see docs/training.md for why 1 is the default)")
      ("parametrise", po::value<std::string>()->default_value(""),
       "sample attributes that become network inputs, e.g. m_zprime_GeV or m_zprime_GeV,theory,dark_sector: one "
       "classifier for every signal point (mlp, bdt; text attributes one-hot); background events get points drawn "
       "from the signal points, predict scores at each point (--at)")
      ("exclude-features", po::value<std::string>()->default_value(""),
       "feature columns the model does not take, comma-separated names or glob patterns (e.g. those whose data and "
       "MC disagree: bsmhunt datamc; rmm_0_* for the MET row of an RMM); --select may still cut on them")
      ("select", po::value<std::string>()->default_value(""),
       "train and validate only on events passing these cuts on features, e.g. 'mll > 100 && met > 80' "
       "(predict still scores every event)")
      ("train-on", po::value<std::string>()->default_value(c.train_on),
       "autoencoder training events: auto (= background) | background | data | all")
      ("checkpoint", po::value<std::string>()->default_value(""), "checkpoint file (default OUTPUT.checkpoint.h5)")
      ("checkpoint-every", po::value<uint64_t>()->default_value(0), "also checkpoint every N steps (0: epoch ends only)")
      ("resume", switch_value(),
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

void adapt_to_training_size(const TrainConfig& c, uint64_t rows, nn::TrainerConfig& t) {
  if (c.adaptive_batch) {
    uint64_t batch = 64;
    while (batch < 4096 && batch * 2 * 40 <= rows) batch *= 2;
    t.batch_size = batch;
  }
  const uint64_t steps_per_epoch = std::max<uint64_t>(1, (rows + t.batch_size - 1) / t.batch_size);
  if (c.adaptive_epochs) t.epochs = std::clamp<uint64_t>((8000 + steps_per_epoch - 1) / steps_per_epoch, 20, 200);
  if (c.adaptive_patience) t.patience = std::clamp<uint64_t>(t.epochs / 10, 5, 20);
}

void adapt_to_training_size(const TrainConfig& c, uint64_t rows, nn::NetworkSpec& network) {
  if (!c.adaptive_network || rows >= kSmallTrainingSet) return;
  network.hidden = {128, 128}, network.batchnorm = true, network.dropout = 0.2f;
}

TrainConfig train_config_from(const po::variables_map& vm) {
  TrainConfig c;
  c.model = option<std::string>(vm, "model");
  if (c.model != "mlp" && c.model != "autoencoder" && c.model != "bdt" && c.model != "cnn")
    throw InputError(fmt::format("--model '{}': expected mlp, autoencoder, bdt or cnn{}", c.model,
                                 did_you_mean(c.model, {"mlp", "autoencoder", "bdt", "cnn"})));
  c.features = required(vm, "features", "bsmhunt train: --features FILE is required");
  c.output = option<std::string>(vm, "output");
  c.device = nn::parse_device(option<std::string>(vm, "device"));
  c.overwrite = option<bool>(vm, "overwrite");
  c.network.hidden = parse_widths(option<std::string>(vm, "hidden"), "hidden");
  c.network.activation = nn::parse_activation(option<std::string>(vm, "activation"));
  c.network.dropout = float(option<double>(vm, "dropout"));
  c.network.batchnorm = option<bool>(vm, "batchnorm");
  c.network.latent = option<std::size_t>(vm, "latent");
  c.network.activity_l2 = float(option<double>(vm, "activity-l2"));
  c.loss = option<std::string>(vm, "loss");
  if (c.loss != "auto") nn::parse_loss(c.loss);
  auto& t = c.trainer;
  t.loss.label_smoothing = float(option<double>(vm, "label-smoothing"));
  t.loss.focal_gamma = float(option<double>(vm, "focal-gamma"));
  t.loss.focal_alpha = float(option<double>(vm, "focal-alpha"));
  if (t.loss.label_smoothing < 0 || t.loss.label_smoothing >= 1)
    throw InputError(fmt::format("--label-smoothing {}: expected [0, 1)", t.loss.label_smoothing));
  t.optimizer = nn::parse_optimizer(option<std::string>(vm, "optimizer"));
  t.learning_rate = option<double>(vm, "learning-rate");
  if (!(t.learning_rate > 0)) throw InputError(fmt::format("--learning-rate {}: must be positive", t.learning_rate));
  t.weight_decay = option<double>(vm, "weight-decay");
  t.momentum = option<double>(vm, "momentum");
  t.nesterov = option<bool>(vm, "nesterov");
  t.l1 = option<double>(vm, "l1"), t.l2 = option<double>(vm, "l2");
  t.schedule = nn::parse_schedule(option<std::string>(vm, "schedule"));
  t.warmup_steps = option<uint64_t>(vm, "warmup-steps");
  t.step_gamma = option<double>(vm, "step-gamma");
  t.step_epochs = option<uint64_t>(vm, "step-epochs");
  t.min_learning_rate = option<double>(vm, "min-learning-rate");
  t.epochs = option<uint64_t>(vm, "epochs");
  t.batch_size = option<uint64_t>(vm, "batch-size");
  if (t.epochs == 0 || t.batch_size == 0) throw InputError("--epochs and --batch-size must be positive");
  t.patience = option<uint64_t>(vm, "patience");
  t.min_delta = option<double>(vm, "min-delta");
  t.restore_best = option<bool>(vm, "restore-best");
  t.seed = option<uint64_t>(vm, "seed");
  t.checkpoint_every = option<uint64_t>(vm, "checkpoint-every");
  t.bucket_floats = std::size_t(std::max(1.0, option<double>(vm, "bucket-mb") * 1e6 / 4));
  c.normalization = choose<std::string>(option<std::string>(vm, "normalization"), "normalization",
                                        {{"zscore", "zscore"}, {"minmax", "minmax"}, {"none", "none"}});
  c.preprocess = choose<std::string>(option<std::string>(vm, "preprocess"), "preprocess", {{"auto", "auto"}, {"none", "none"}});
  c.missing_value = option<double>(vm, "missing-value");
  if (!std::isfinite(c.missing_value))
    throw InputError(fmt::format("--missing-value {}: expected a finite number", c.missing_value));
  std::string sample_weights = option<std::string>(vm, "sample-weights");
  if (sample_weights == "auto") sample_weights = c.model == "autoencoder" || c.model == "bdt" ? "abs" : "mc";
  c.weights.sample = choose<SampleWeights>(sample_weights, "sample-weights",
                                           {{"mc", SampleWeights::mc}, {"abs", SampleWeights::abs}, {"none", SampleWeights::none}});
  c.weights.balance = choose<ClassBalance>(option<std::string>(vm, "class-balance"), "class-balance",
                                           {{"sum", ClassBalance::sum}, {"count", ClassBalance::count}, {"none", ClassBalance::none}});
  c.weights.scale_signal_up = choose<bool>(option<std::string>(vm, "balance-scale"), "balance-scale",
                                           {{"background", false}, {"signal", true}});
  c.weights.normalize = option<bool>(vm, "normalize-weights");
  c.signal_samples = split_list(option<std::string>(vm, "signal-samples"));
  c.exclude_samples = split_list(option<std::string>(vm, "exclude-samples"));
  c.exclude_features = split_list(option<std::string>(vm, "exclude-features"));
  c.parametrise = split_list(option<std::string>(vm, "parametrise"));
  c.folds = option<int>(vm, "folds");
  if (c.folds < 1 || c.folds > 100) throw InputError(fmt::format("--folds {}: expected 1 to 100", c.folds));
  c.model_groups = option<int>(vm, "model-groups");
  if (c.model_groups < 0) throw InputError(fmt::format("--model-groups {}: expected >= 0", c.model_groups));
  c.ensemble = option<int>(vm, "ensemble");
  if (c.ensemble < 1 || c.ensemble > 100)
    throw InputError(fmt::format("--ensemble {}: expected 1 to 100 networks", c.ensemble));
  c.select = option<std::string>(vm, "select");
  c.train_on = option<std::string>(vm, "train-on");
  c.checkpoint = option<std::string>(vm, "checkpoint");
  c.resume = option<bool>(vm, "resume");
  c.blas_threads = option<int>(vm, "blas-threads");
  c.progress_seconds = option<double>(vm, "progress-seconds");
  auto& b = c.bdt;
  b.n_trees = option<int>(vm, "bdt-trees"), b.max_depth = option<int>(vm, "bdt-depth");
  b.learning_rate = option<double>(vm, "bdt-learning-rate"), b.subsample = option<double>(vm, "bdt-subsample");
  b.colsample_bytree = option<double>(vm, "bdt-colsample"), b.min_child_weight = option<double>(vm, "bdt-min-child-weight");
  b.max_bin = option<int>(vm, "bdt-max-bin"), b.scale_pos_weight = option<double>(vm, "bdt-scale-pos-weight");
  b.early_stopping_rounds = option<int>(vm, "bdt-early-stopping"), b.threads = option<int>(vm, "bdt-threads");
  b.seed = t.seed;
  c.events = option<std::string>(vm, "events");
  c.compression = std::string(physics::to_string(physics::parse_compression(option<std::string>(vm, "compression"))));
  c.network.cnn = choose<std::string>(option<std::string>(vm, "cnn"), "cnn", {{"strides", "strides"}, {"max-pool", "max-pool"}});
  t.conv_l2 = option<double>(vm, "conv-l2");
  if (c.ensemble > 1 && c.model != "mlp" && c.model != "autoencoder")
    throw InputError(fmt::format("--ensemble: the {} model is not trained as an ensemble (mlp and autoencoder are)",
                                 c.model));
  if (c.folds > 1 && c.model == "cnn")
    throw InputError("--folds: the cnn is not trained in folds (mlp, bdt and autoencoder are)");
  if (!c.parametrise.empty() && c.model != "mlp" && c.model != "bdt")
    throw InputError(fmt::format("--parametrise: the {} model cannot be parametrised (mlp and bdt classifiers can)", c.model));
  const auto defaulted = [&](const char* name) { return vm.count(name) && vm[name].defaulted(); };
  if (c.model == "mlp" || c.model == "autoencoder") {
    c.adaptive_batch = defaulted("batch-size"), c.adaptive_epochs = defaulted("epochs");
    c.adaptive_patience = defaulted("patience");
  }
  c.adaptive_network = c.model == "mlp" && defaulted("hidden") && defaulted("batchnorm") && defaulted("dropout");
  // Trees need no transform of their inputs, and the CNN takes images.
  if ((c.model == "bdt" || c.model == "cnn") && defaulted("preprocess")) c.preprocess = "none";
  if (c.model == "cnn") {
    // The mono-jet study's settings where the command line and job file are silent.
    if (defaulted("hidden")) c.network.hidden = {128};
    if (defaulted("dropout")) c.network.dropout = 0.1f;
    if (defaulted("learning-rate")) t.learning_rate = 1e-4;
    if (defaulted("batch-size")) t.batch_size = 128;
  }
  return c;
}


namespace {

struct Axis {
  std::string key;
  std::vector<std::string> values;
};

std::vector<Axis> parse_axes(const std::string& text, const po::variables_map& vm) {
  std::vector<Axis> axes;
  std::vector<std::string> names;
  for (const auto& [k, v] : vm) names.push_back(k);
  for (const auto& part : split(text, ';')) {
    if (trim(part).empty()) continue;
    const auto eq = part.find('=');
    if (eq == std::string::npos)
      throw InputError(fmt::format("--scan-params '{}': '{}' is not KEY=V1|V2|...", text, trim(part)));
    Axis a{trim(part.substr(0, eq)), {}};
    for (const auto& v : split(part.substr(eq + 1), '|'))
      if (!trim(v).empty()) a.values.push_back(trim(v));
    if (!vm.count(a.key) || a.key == "scan" || a.key.rfind("scan-", 0) == 0 || a.key == "output" ||
        a.key == "features" || a.key == "config")
      throw InputError(fmt::format("--scan-params: '{}' is not a train option that can be scanned{}", a.key,
                                   did_you_mean(a.key, names)));
    if (a.values.empty()) throw InputError(fmt::format("--scan-params: no value for '{}'", a.key));
    axes.push_back(std::move(a));
  }
  if (axes.empty()) throw InputError("--scan needs --scan-params 'KEY=V1|V2;...'");
  return axes;
}

// Replaces the value of option `key` by `text`, converted to the option's type.
void override_option(po::variables_map& vm, const std::string& key, const std::string& text) {
  // A scanned value counts as given (not defaulted: model-specific defaults leave it alone).
  vm.at(key) = po::variable_value(vm.at(key).value(), false);
  boost::any& v = vm.at(key).value();
  const auto bad = [&] { return InputError(fmt::format("--scan-params: {}={} is not a valid value", key, text)); };
  try {
    std::size_t used = 0;
    if (v.type() == typeid(std::string)) v = text, used = text.size();
    else if (v.type() == typeid(double)) v = std::stod(text, &used);
    else if (v.type() == typeid(uint64_t)) v = uint64_t(std::stoull(text, &used));
    else if (v.type() == typeid(int)) v = std::stoi(text, &used);
    else if (v.type() == typeid(bool)) {
      if (text != "true" && text != "false" && text != "1" && text != "0") throw bad();
      v = text == "true" || text == "1";
      used = text.size();
    } else throw InternalError(fmt::format("--scan-params: option '{}' has a type the scan cannot set", key));
    if (used != text.size()) throw bad();
  } catch (const std::invalid_argument&) {
    throw bad();
  } catch (const std::out_of_range&) {
    throw bad();
  }
}

std::string point_path(const std::string& output, std::size_t i) {
  std::filesystem::path p(output);
  const std::string ext = p.extension().string();
  return (p.parent_path() / fmt::format("{}_scan{:03d}{}", p.stem().string(), i, ext.empty() ? ".h5" : ext)).string();
}

// The points of a scan: every combination (grid), or draws from the value lists
// (random). Every point's options are converted and checked here, on every rank,
// so a bad value fails the whole scan at once instead of one group in the middle
// of its collectives.
ScanPlan scan_plan_from(const po::variables_map& vm, const TrainConfig& base) {
  ScanPlan plan;
  plan.mode = option<std::string>(vm, "scan");
  if (plan.mode != "grid" && plan.mode != "random")
    throw InputError(fmt::format("--scan '{}': expected grid or random", plan.mode));
  const std::string params = option<std::string>(vm, "scan-params");
  const auto axes = parse_axes(params, vm);
  if (base.output.empty()) throw InputError("bsmhunt train: --output MODEL.h5 is required (points: MODEL_scanNNN.h5)");
  if (base.resume) throw InputError("--resume does not apply to a scan: a rerun reuses the points already written");
  plan.output = base.output;
  plan.overwrite = base.overwrite;
  plan.groups = option<int>(vm, "scan-groups");
  for (const auto& a : axes) plan.keys.push_back(a.key);
  std::vector<std::vector<std::size_t>> points;
  if (plan.mode == "grid") {
    std::size_t total = 1;
    for (const auto& a : axes) total *= a.values.size();
    for (std::size_t i = 0; i < total; ++i) {
      std::vector<std::size_t> p;
      std::size_t r = i;
      for (auto a = axes.rbegin(); a != axes.rend(); ++a) p.insert(p.begin(), r % a->values.size()), r /= a->values.size();
      points.push_back(p);
    }
  } else {
    const uint64_t n = option<uint64_t>(vm, "scan-points");
    if (n == 0) throw InputError("--scan-points must be >= 1");
    for (uint64_t i = 0; i < n; ++i) {
      CounterRng rng(option<uint64_t>(vm, "seed"), stable_hash("bsmhunt.train.scan"), i);
      std::vector<std::size_t> p;
      for (const auto& a : axes) p.push_back(std::min(a.values.size() - 1, std::size_t(rng.uniform() * double(a.values.size()))));
      points.push_back(p);
    }
  }
  for (std::size_t i = 0; i < points.size(); ++i) {
    po::variables_map point_vm = vm;
    ScanPoint point;
    for (std::size_t k = 0; k < axes.size(); ++k) {
      point.values.push_back(axes[k].values[points[i][k]]);
      override_option(point_vm, axes[k].key, point.values.back());
    }
    point.config = train_config_from(point_vm);
    point.config.output = point_path(base.output, i);
    plan.points.push_back(std::move(point));
  }
  return plan;
}

}  // namespace

TrainJob train_job_from(const po::variables_map& vm) {
  TrainJob job;
  job.train = train_config_from(vm);
  if (!option<std::string>(vm, "scan").empty() && job.train.ensemble > 1)
    throw InputError("--scan with --ensemble: a scan ranks its points by one model's validation metrics; scan "
                     "without an ensemble, then train the chosen settings with --ensemble");
  if (!option<std::string>(vm, "scan").empty() && job.train.folds > 1)
    throw InputError("--scan with --folds: a scan ranks its points by one model's validation metrics; scan "
                     "without folds, then train the chosen settings with --folds");
  if (!option<std::string>(vm, "scan").empty()) job.scan = scan_plan_from(vm, job.train);
  else if (job.train.output.empty()) throw InputError("bsmhunt train: --output MODEL.h5 is required");
  return job;
}

}  // namespace bsmhunt::pipeline
