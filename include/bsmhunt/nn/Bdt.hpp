#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

namespace bsmhunt::nn {

namespace onnx {
class Graph;
}

// Boosted decision trees: the baseline classifier of analyses A and C, a thin layer
// over the XGBoost C API (hist trees, binary:logistic, logloss). Matrices are
// row-major float32 [rows, cols]; NaN means "missing" (XGBoost's convention).
struct BdtConfig {
  int n_trees = 400;
  int max_depth = 6;
  double learning_rate = 0.1;
  double subsample = 1.0;
  double colsample_bytree = 1.0;
  double min_child_weight = 1.0;
  int max_bin = 256;
  double lambda_l2 = 1.0;
  double scale_pos_weight = 0.0;   // 0 = automatic: sum of |w| of background / sum of |w| of signal (as analysis A did)
  int early_stopping_rounds = 20;  // on the validation set's weighted logloss; 0 = off
  int threads = 0;                 // 0 = XGBoost default (all cores OpenMP sees)
  uint64_t seed = 1;
};

struct BdtTrainingResult {
  int best_iteration = -1;  // 0-based; the model predicts with trees [0, best_iteration]
  std::vector<double> train_logloss, validation_logloss;  // weighted, one entry per boosted tree
};

class BdtModel {
 public:
  // Trains on x [rows, cols] with labels 0/1 and weights >= 0 (empty = all 1); the
  // caller applies a weight policy first, a negative weight is an InputError naming
  // the row. The validation set may be empty: then every tree is kept and used.
  // Otherwise, with early stopping on, the model predicts with the trees up to the
  // lowest validation loss (all trees are kept in the model, as XGBoost does, with
  // the attribute "best_iteration"). Single process; XGBoost uses its own threads.
  // on_iteration(iteration, train_loss, val_loss) is called after every tree
  // (val_loss NaN without a validation set).
  static BdtModel train(const BdtConfig& config, std::span<const float> x, std::size_t cols,
                        std::span<const float> labels, std::span<const float> weights, std::span<const float> val_x,
                        std::span<const float> val_labels, std::span<const float> val_weights,
                        BdtTrainingResult* result = nullptr,
                        std::function<void(int iteration, double train_loss, double val_loss)> on_iteration = {});

  // XGBoost's own model format (UBJSON), readable by xgboost.Booster.load_model in
  // Python; the bytes are a function of inputs, config and seed only.
  std::vector<uint8_t> serialize() const;
  // Refuses anything that is not a binary:logistic XGBoost JSON/UBJSON model with an
  // InputError carrying XGBoost's message.
  static BdtModel deserialize(std::span<const uint8_t> bytes);

  // scores[r] = P(signal | x[r]) in [0, 1] from the trees up to the best iteration.
  // Calls on one model are serialized (XGBoost keeps per-booster prediction state).
  void predict(std::span<const float> x, std::size_t cols, std::span<float> scores) const;

  // Appends predict's computation to an ONNX graph (nn/Onnx.hpp): the trees up to the
  // best iteration as an ai.onnx.ml TreeEnsembleRegressor (XGBoost's thresholds, leaf
  // values and missing-value directions, read from its JSON model) giving the margin,
  // then the sigmoid. `x` names the input [N, n_features()]; returns the scores [N, 1].
  std::string to_onnx(onnx::Graph& graph, const std::string& x) const;

  std::size_t n_features() const;
  int best_iteration() const;  // 0-based index of the last tree used by predict
  // XGBoost's "gain" importance (mean gain of the splits on a feature) over the trees
  // predict uses, one entry per feature index, 0 for features never split on.
  std::vector<double> feature_importance_gain() const;

  BdtModel(BdtModel&&) noexcept;
  BdtModel& operator=(BdtModel&&) noexcept;
  BdtModel(const BdtModel&) = delete;
  BdtModel& operator=(const BdtModel&) = delete;
  ~BdtModel();

 private:
  struct State;
  explicit BdtModel(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace bsmhunt::nn
