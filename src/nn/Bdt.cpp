#include "bsmhunt/nn/Bdt.hpp"

#include <fmt/format.h>
#include <xgboost/c_api.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Json.hpp"
#include "bsmhunt/nn/Onnx.hpp"

namespace bsmhunt::nn {

namespace {

// XGBoost's messages end with a native stack trace that means nothing to a user.
std::string last_xgboost_error() {
  std::string message = XGBGetLastError();
  if (auto trace = message.find("Stack trace:"); trace != std::string::npos) message.resize(trace);
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) message.pop_back();
  return message;
}

void check(int status, std::string_view call) {
  if (status != 0) throw Error(fmt::format("XGBoost {} failed: {}", call, last_xgboost_error()));
}

struct BoosterDeleter {
  void operator()(void* booster) const { XGBoosterFree(booster); }
};
struct DMatrixDeleter {
  void operator()(void* matrix) const { XGDMatrixFree(matrix); }
};
using OwnedBooster = std::unique_ptr<void, BoosterDeleter>;
using OwnedDMatrix = std::unique_ptr<void, DMatrixDeleter>;

OwnedBooster create_booster(const DMatrixHandle* cached, bst_ulong n_cached) {
  BoosterHandle handle = nullptr;
  check(XGBoosterCreate(cached, n_cached, &handle), "XGBoosterCreate");
  return OwnedBooster(handle);
}

void set_param(BoosterHandle booster, const char* name, const std::string& value) {
  check(XGBoosterSetParam(booster, name, value.c_str()), fmt::format("XGBoosterSetParam({}={})", name, value));
}

// A labelled, weighted sample: its shape and values checked once, then handed to XGBoost.
struct Sample {
  std::span<const float> x, labels, weights;
  std::size_t rows = 0;
};

Sample check_sample(std::string_view name, std::span<const float> x, std::size_t cols, std::span<const float> labels,
                    std::span<const float> weights) {
  if (x.size() % cols != 0)
    throw InputError(fmt::format("BDT {} set: {} feature values are not a whole number of rows of {} columns", name,
                                 x.size(), cols));
  const std::size_t rows = x.size() / cols;
  if (labels.size() != rows)
    throw InputError(fmt::format("BDT {} set: {} labels for {} rows", name, labels.size(), rows));
  if (!weights.empty() && weights.size() != rows)
    throw InputError(fmt::format("BDT {} set: {} weights for {} rows", name, weights.size(), rows));
  for (std::size_t row = 0; row < rows; ++row) {
    if (labels[row] != 0.0f && labels[row] != 1.0f)
      throw InputError(fmt::format("BDT {} set: label of row {} is {}; expected 0 or 1", name, row, labels[row]));
    if (!weights.empty() && !(weights[row] >= 0.0f && std::isfinite(weights[row])))
      throw InputError(fmt::format("BDT {} set: weight of row {} is {}; weights must be finite and >= 0 (apply a "
                                   "training weight policy, e.g. absolute value, to negative MC weights)",
                                   name, row, weights[row]));
    for (std::size_t col = 0; col < cols; ++col)
      if (std::isinf(x[row * cols + col]))  // NaN is XGBoost's "missing"; infinity is a bug upstream
        throw InputError(fmt::format("BDT {} set: feature {} of row {} is infinite", name, col, row));
  }
  return Sample{x, labels, weights, rows};
}

OwnedDMatrix make_dmatrix(const Sample& sample, std::size_t cols, int threads) {
  DMatrixHandle handle = nullptr;
  check(XGDMatrixCreateFromMat_omp(sample.x.data(), sample.rows, cols, std::numeric_limits<float>::quiet_NaN(),
                                   &handle, threads),
        "XGDMatrixCreateFromMat");
  OwnedDMatrix matrix(handle);
  check(XGDMatrixSetFloatInfo(handle, "label", sample.labels.data(), sample.rows), "XGDMatrixSetFloatInfo(label)");
  if (!sample.weights.empty())
    check(XGDMatrixSetFloatInfo(handle, "weight", sample.weights.data(), sample.rows), "XGDMatrixSetFloatInfo(weight)");
  return matrix;
}

void check_config(const BdtConfig& c) {
  auto require = [](bool ok, std::string_view what) {
    if (!ok) throw InputError(fmt::format("BDT configuration: {}", what));
  };
  require(c.n_trees >= 1, fmt::format("n_trees = {}; expected >= 1", c.n_trees));
  require(c.max_depth >= 1, fmt::format("max_depth = {}; expected >= 1", c.max_depth));
  require(c.learning_rate > 0, fmt::format("learning_rate = {}; expected > 0", c.learning_rate));
  require(c.subsample > 0 && c.subsample <= 1, fmt::format("subsample = {}; expected in (0, 1]", c.subsample));
  require(c.colsample_bytree > 0 && c.colsample_bytree <= 1,
          fmt::format("colsample_bytree = {}; expected in (0, 1]", c.colsample_bytree));
  require(c.min_child_weight >= 0, fmt::format("min_child_weight = {}; expected >= 0", c.min_child_weight));
  require(c.max_bin >= 2, fmt::format("max_bin = {}; expected >= 2", c.max_bin));
  require(c.lambda_l2 >= 0, fmt::format("lambda_l2 = {}; expected >= 0", c.lambda_l2));
  require(c.scale_pos_weight >= 0, fmt::format("scale_pos_weight = {}; expected >= 0 (0 = automatic)",
                                               c.scale_pos_weight));
  require(c.early_stopping_rounds >= 0, fmt::format("early_stopping_rounds = {}; expected >= 0",
                                                    c.early_stopping_rounds));
  require(c.threads >= 0, fmt::format("threads = {}; expected >= 0 (0 = XGBoost default)", c.threads));
}

// Background over signal sum of weights, so that both classes weigh the same in the loss.
double automatic_scale_pos_weight(const Sample& train) {
  double signal = 0, background = 0;
  for (std::size_t row = 0; row < train.rows; ++row) {
    const double w = train.weights.empty() ? 1.0 : train.weights[row];
    (train.labels[row] == 1.0f ? signal : background) += w;
  }
  if (signal <= 0 || background <= 0)
    throw InputError(fmt::format("BDT training set: sum of weights is {} for signal and {} for background; both "
                                 "classes need events with positive weight",
                                 signal, background));
  return background / signal;
}

// One metric out of XGBoosterEvalOneIter's "[3]\ttrain-logloss:0.41\tvalidation-logloss:0.45".
double parse_metric(std::string_view evaluation, std::string_view key) {
  const auto at = evaluation.find(key);
  double value = std::numeric_limits<double>::quiet_NaN();
  if (at == std::string_view::npos ||
      std::from_chars(&evaluation[at + key.size()], evaluation.data() + evaluation.size(), value).ec != std::errc{})
    throw InternalError(fmt::format("cannot find {} in XGBoost's evaluation \"{}\"", key, evaluation));
  return value;
}

std::string attribute(BoosterHandle booster, const char* name) {
  const char* value = nullptr;
  int found = 0;
  check(XGBoosterGetAttr(booster, name, &value, &found), "XGBoosterGetAttr");
  return found ? std::string(value) : std::string();
}

int boosted_rounds(BoosterHandle booster) {
  int rounds = 0;
  check(XGBoosterBoostedRounds(booster, &rounds), "XGBoosterBoostedRounds");
  return rounds;
}

// The learner's objective name from its JSON configuration, e.g. "binary:logistic".
std::string objective_name(BoosterHandle booster) {
  bst_ulong length = 0;
  const char* config = nullptr;
  check(XGBoosterSaveJsonConfig(booster, &length, &config), "XGBoosterSaveJsonConfig");
  const std::string_view json(config, length);
  constexpr std::string_view key = R"("objective":{"name":")";
  const auto at = json.find(key);
  if (at == std::string_view::npos) return "unknown";
  const auto begin = at + key.size();
  return std::string(json.substr(begin, json.find('"', begin) - begin));
}

}  // namespace

struct BdtModel::State {
  OwnedBooster booster;
  std::size_t n_features = 0;
  int best_iteration = 0;
  // XGBoost hands out results in buffers owned by the booster: one call at a time.
  std::mutex mutex;
};

BdtModel::BdtModel(std::unique_ptr<State> state) : state_(std::move(state)) {}
BdtModel::BdtModel(BdtModel&&) noexcept = default;
BdtModel& BdtModel::operator=(BdtModel&&) noexcept = default;
BdtModel::~BdtModel() = default;

BdtModel BdtModel::train(const BdtConfig& config, std::span<const float> x, std::size_t cols,
                         std::span<const float> labels, std::span<const float> weights, std::span<const float> val_x,
                         std::span<const float> val_labels, std::span<const float> val_weights,
                         BdtTrainingResult* result, std::function<void(int, double, double)> on_iteration) {
  check_config(config);
  if (cols == 0) throw InputError("BDT training set has no feature columns");
  const Sample train = check_sample("training", x, cols, labels, weights);
  if (train.rows == 0) throw InputError("BDT training set is empty");
  const Sample validation = check_sample("validation", val_x, cols, val_labels, val_weights);
  const bool has_validation = validation.rows > 0;
  const bool early_stopping = has_validation && config.early_stopping_rounds > 0;
  const double scale_pos_weight =
      config.scale_pos_weight > 0 ? config.scale_pos_weight : automatic_scale_pos_weight(train);

  const OwnedDMatrix train_matrix = make_dmatrix(train, cols, config.threads);
  const OwnedDMatrix validation_matrix = has_validation ? make_dmatrix(validation, cols, config.threads) : nullptr;
  DMatrixHandle matrices[] = {train_matrix.get(), validation_matrix.get()};
  const char* matrix_names[] = {"train", "validation"};
  const bst_ulong n_matrices = has_validation ? 2 : 1;

  // Both matrices in the booster's cache: evaluating them each round costs one tree, not all.
  auto state = std::make_unique<State>();
  state->booster = create_booster(matrices, n_matrices);
  BoosterHandle booster = state->booster.get();
  set_param(booster, "objective", "binary:logistic");
  set_param(booster, "eval_metric", "logloss");
  set_param(booster, "tree_method", "hist");
  set_param(booster, "max_depth", std::to_string(config.max_depth));
  set_param(booster, "eta", fmt::format("{}", config.learning_rate));
  set_param(booster, "subsample", fmt::format("{}", config.subsample));
  set_param(booster, "colsample_bytree", fmt::format("{}", config.colsample_bytree));
  set_param(booster, "min_child_weight", fmt::format("{}", config.min_child_weight));
  set_param(booster, "max_bin", std::to_string(config.max_bin));
  set_param(booster, "lambda", fmt::format("{}", config.lambda_l2));
  set_param(booster, "scale_pos_weight", fmt::format("{}", scale_pos_weight));
  // XGBoost's seed is a signed 64-bit integer; keep every bit of ours.
  set_param(booster, "seed", std::to_string(static_cast<int64_t>(config.seed)));
  if (config.threads > 0) set_param(booster, "nthread", std::to_string(config.threads));

  BdtTrainingResult history;
  int best_iteration = 0;
  double best_loss = std::numeric_limits<double>::quiet_NaN();
  for (int iteration = 0; iteration < config.n_trees; ++iteration) {
    check(XGBoosterUpdateOneIter(booster, iteration, train_matrix.get()), "XGBoosterUpdateOneIter");
    const char* evaluation = nullptr;
    check(XGBoosterEvalOneIter(booster, iteration, matrices, matrix_names, n_matrices, &evaluation),
          "XGBoosterEvalOneIter");
    const double train_loss = parse_metric(evaluation, "train-logloss:");
    const double val_loss =
        has_validation ? parse_metric(evaluation, "validation-logloss:") : std::numeric_limits<double>::quiet_NaN();
    history.train_logloss.push_back(train_loss);
    if (has_validation) history.validation_logloss.push_back(val_loss);
    if (on_iteration) on_iteration(iteration, train_loss, val_loss);

    if (!early_stopping) {
      best_iteration = iteration;
    } else if (iteration == 0 || val_loss < best_loss) {  // strict, as XGBoost's own early stopping
      best_iteration = iteration;
      best_loss = val_loss;
    } else if (iteration - best_iteration >= config.early_stopping_rounds) {
      break;
    }
  }
  // Attribute names as XGBoost's Python early stopping writes them, so that the model
  // file means the same in Python (the scikit-learn wrapper predicts with best_iteration).
  check(XGBoosterSetAttr(booster, "best_iteration", std::to_string(best_iteration).c_str()), "XGBoosterSetAttr");
  if (has_validation) {
    const std::string best_score = fmt::format("{}", history.validation_logloss[best_iteration]);
    check(XGBoosterSetAttr(booster, "best_score", best_score.c_str()), "XGBoosterSetAttr");
  }

  bst_ulong n_features = 0;
  check(XGBoosterGetNumFeature(booster, &n_features), "XGBoosterGetNumFeature");
  state->n_features = n_features;
  state->best_iteration = best_iteration;
  history.best_iteration = best_iteration;
  if (result) *result = std::move(history);
  return BdtModel(std::move(state));
}

std::vector<uint8_t> BdtModel::serialize() const {
  std::lock_guard lock(state_->mutex);
  bst_ulong length = 0;
  const char* bytes = nullptr;
  check(XGBoosterSaveModelToBuffer(state_->booster.get(), R"({"format":"ubj"})", &length, &bytes),
        "XGBoosterSaveModelToBuffer");
  return std::vector<uint8_t>(bytes, bytes + length);
}

BdtModel BdtModel::deserialize(std::span<const uint8_t> bytes) {
  // Both of XGBoost's current formats (JSON, UBJSON) open with '{'. Anything else would
  // be parsed as the deprecated binary format, which on garbage fails with messages
  // like "std::bad_alloc" after trying to allocate a length read from random bytes.
  if (bytes.empty()) throw InputError("BDT model buffer is empty");
  if (bytes[0] != '{')
    throw InputError(fmt::format("not a BDT model: an XGBoost JSON/UBJSON model starts with '{{', this buffer with "
                                 "byte 0x{:02x} (XGBoost's deprecated binary format is not read)",
                                 bytes[0]));
  auto state = std::make_unique<State>();
  state->booster = create_booster(nullptr, 0);
  BoosterHandle booster = state->booster.get();
  if (XGBoosterLoadModelFromBuffer(booster, bytes.data(), bytes.size()) != 0)
    throw InputError(fmt::format("not a valid XGBoost model: {}", last_xgboost_error()));
  if (const std::string objective = objective_name(booster); objective != "binary:logistic")
    throw InputError(fmt::format("XGBoost model has objective {}; a BDT classifier needs binary:logistic", objective));

  bst_ulong n_features = 0;
  check(XGBoosterGetNumFeature(booster, &n_features), "XGBoosterGetNumFeature");
  state->n_features = n_features;
  const int rounds = boosted_rounds(booster);
  if (rounds == 0) throw InputError("XGBoost model has no trees");
  state->best_iteration = rounds - 1;
  if (const std::string best = attribute(booster, "best_iteration"); !best.empty()) {
    int parsed = -1;
    const auto [end, error] = std::from_chars(best.data(), best.data() + best.size(), parsed);
    if (error != std::errc{} || end != best.data() + best.size() || parsed < 0 || parsed >= rounds)
      throw InputError(fmt::format("XGBoost model has best_iteration \"{}\" but {} trees", best, rounds));
    state->best_iteration = parsed;
  }
  return BdtModel(std::move(state));
}

void BdtModel::predict(std::span<const float> x, std::size_t cols, std::span<float> scores) const {
  if (cols != state_->n_features)
    throw InputError(fmt::format("BDT prediction with {} feature columns; the model was trained on {}", cols,
                                 state_->n_features));
  if (x.size() != scores.size() * cols)
    throw InputError(fmt::format("BDT prediction: {} feature values for {} scores of {} columns", x.size(),
                                 scores.size(), cols));
  if (scores.empty()) return;

  // In-place prediction reads the caller's array through numpy's __array_interface__.
  const std::string array = fmt::format(R"({{"data":[{},true],"shape":[{},{}],"typestr":"<f4","version":3}})",
                                        reinterpret_cast<std::uintptr_t>(x.data()), scores.size(), cols);
  // XGBoost 1.7 also reads "cache_id", which its documentation omits, and fails without it.
  const std::string options = fmt::format(
      R"({{"type":0,"training":false,"iteration_begin":0,"iteration_end":{},"strict_shape":false,"missing":NaN,)"
      R"("cache_id":0}})",
      state_->best_iteration + 1);
  std::lock_guard lock(state_->mutex);
  const bst_ulong* shape = nullptr;
  bst_ulong dimensions = 0;
  const float* predictions = nullptr;
  check(XGBoosterPredictFromDense(state_->booster.get(), array.c_str(), options.c_str(), nullptr, &shape, &dimensions,
                                  &predictions),
        "XGBoosterPredictFromDense");
  bst_ulong n_predictions = 1;
  for (bst_ulong d = 0; d < dimensions; ++d) n_predictions *= shape[d];
  if (n_predictions != scores.size())
    throw InternalError(fmt::format("XGBoost returned {} predictions for {} rows", n_predictions, scores.size()));
  std::copy(predictions, predictions + n_predictions, scores.begin());
}

std::size_t BdtModel::n_features() const { return state_->n_features; }

int BdtModel::best_iteration() const { return state_->best_iteration; }

std::vector<double> BdtModel::feature_importance_gain() const {
  std::lock_guard lock(state_->mutex);
  BoosterHandle booster = state_->booster.get();
  // Only the trees predict uses: a slice of the model when early stopping cut it.
  OwnedBooster slice;
  if (state_->best_iteration + 1 < boosted_rounds(booster)) {
    BoosterHandle sliced = nullptr;
    check(XGBoosterSlice(booster, 0, state_->best_iteration + 1, 1, &sliced), "XGBoosterSlice");
    slice.reset(sliced);
    booster = sliced;
  }

  // Scores come keyed by feature name: the model's names if it has some (a model
  // trained in Python), "f<index>" otherwise.
  std::map<std::string, std::size_t, std::less<>> index_of_name;
  bst_ulong n_names = 0;
  const char** names = nullptr;
  check(XGBoosterGetStrFeatureInfo(booster, "feature_name", &n_names, &names), "XGBoosterGetStrFeatureInfo");
  for (bst_ulong i = 0; i < n_names; ++i) index_of_name.emplace(names[i], i);
  for (std::size_t i = 0; i < state_->n_features && n_names == 0; ++i) index_of_name.emplace(fmt::format("f{}", i), i);

  bst_ulong n_scored = 0, dimensions = 0;
  const char** scored_names = nullptr;
  const bst_ulong* shape = nullptr;
  const float* scores = nullptr;
  check(XGBoosterFeatureScore(booster, R"({"importance_type":"gain"})", &n_scored, &scored_names, &dimensions, &shape,
                              &scores),
        "XGBoosterFeatureScore");
  std::vector<double> gain(state_->n_features, 0.0);
  for (bst_ulong i = 0; i < n_scored; ++i) {
    const auto found = index_of_name.find(std::string_view(scored_names[i]));
    if (found == index_of_name.end() || found->second >= gain.size())
      throw InternalError(fmt::format("XGBoost scored an unknown feature \"{}\"", scored_names[i]));
    gain[found->second] = scores[i];
  }
  return gain;
}

std::string BdtModel::to_onnx(onnx::Graph& graph, const std::string& x) const {
  nlohmann::json model;
  {
    std::lock_guard lock(state_->mutex);
    bst_ulong length = 0;
    const char* bytes = nullptr;
    check(XGBoosterSaveModelToBuffer(state_->booster.get(), R"({"format":"json"})", &length, &bytes),
          "XGBoosterSaveModelToBuffer");
    model = nlohmann::json::parse(bytes, bytes + length);
  }
  const auto& learner = model.at("learner");
  // One tree per boosting round (gbtree, no parallel forests): tree t is round t.
  const auto& booster = learner.at("gradient_booster");
  const std::string booster_name = booster.at("name").get<std::string>();
  const auto& param = booster.at("model").at("gbtree_model_param");
  const nlohmann::json trees_per_round = param.contains("num_parallel_tree") ? param["num_parallel_tree"] : "1";
  const std::string parallel =
      trees_per_round.is_string() ? trees_per_round.get<std::string>() : trees_per_round.dump();
  if (booster_name != "gbtree" || parallel != "1")
    throw InputError(fmt::format("ONNX export of a BDT needs XGBoost's gbtree with one tree per round; this model "
                                 "has booster {} with num_parallel_tree = {}",
                                 booster_name, parallel));
  // binary:logistic keeps base_score as a probability; the trees add to its logit.
  const double base_score = std::stod(learner.at("learner_model_param").at("base_score").get<std::string>());
  const float base_margin = float(std::log(base_score / (1.0 - base_score)));
  const auto& trees = learner.at("gradient_booster").at("model").at("trees");
  if (int(trees.size()) <= state_->best_iteration)
    throw InternalError(fmt::format("XGBoost JSON model has {} trees, best iteration {}", trees.size(),
                                    state_->best_iteration));

  std::vector<int64_t> tree_ids, node_ids, feature_ids, true_ids, false_ids, missing_true;
  std::vector<float> thresholds;
  std::vector<std::string> modes;
  std::vector<int64_t> target_tree_ids, target_node_ids, target_ids;
  std::vector<float> target_weights;
  for (int t = 0; t <= state_->best_iteration; ++t) {
    const auto& tree = trees[std::size_t(t)];
    const auto left = tree.at("left_children").get<std::vector<int64_t>>();
    const auto right = tree.at("right_children").get<std::vector<int64_t>>();
    const auto feature = tree.at("split_indices").get<std::vector<int64_t>>();
    const auto condition = tree.at("split_conditions").get<std::vector<float>>();
    const auto default_left = tree.at("default_left").get<std::vector<int64_t>>();
    for (std::size_t n = 0; n < left.size(); ++n) {
      const bool leaf = left[n] == -1;
      tree_ids.push_back(t), node_ids.push_back(int64_t(n));
      feature_ids.push_back(leaf ? 0 : feature[n]);
      thresholds.push_back(leaf ? 0.0f : condition[n]);
      modes.push_back(leaf ? "LEAF" : "BRANCH_LT");  // XGBoost: x < condition goes left
      true_ids.push_back(leaf ? 0 : left[n]), false_ids.push_back(leaf ? 0 : right[n]);
      missing_true.push_back(leaf ? 0 : default_left[n]);
      if (leaf) {  // a leaf's value sits in split_conditions
        target_tree_ids.push_back(t), target_node_ids.push_back(int64_t(n)), target_ids.push_back(0);
        target_weights.push_back(condition[n]);
      }
    }
  }
  using onnx::Attribute;
  const std::string margin = graph.node(
      "TreeEnsembleRegressor", {x},
      {Attribute::of_int("n_targets", 1), Attribute::of_string("aggregate_function", "SUM"),
       Attribute::of_string("post_transform", "NONE"), Attribute::of_floats("base_values", {base_margin}),
       Attribute::of_ints("nodes_treeids", tree_ids), Attribute::of_ints("nodes_nodeids", node_ids),
       Attribute::of_ints("nodes_featureids", feature_ids), Attribute::of_floats("nodes_values", thresholds),
       Attribute::of_strings("nodes_modes", modes), Attribute::of_ints("nodes_truenodeids", true_ids),
       Attribute::of_ints("nodes_falsenodeids", false_ids),
       Attribute::of_ints("nodes_missing_value_tracks_true", missing_true),
       Attribute::of_ints("target_treeids", target_tree_ids), Attribute::of_ints("target_nodeids", target_node_ids),
       Attribute::of_ints("target_ids", target_ids), Attribute::of_floats("target_weights", target_weights)},
      "", "ai.onnx.ml");
  return graph.node("Sigmoid", {margin});
}

}  // namespace bsmhunt::nn
