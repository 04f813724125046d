// The BDT baseline (XGBoost) on toys whose answer is known: separable Gaussians,
// weights that shift the odds, noisy labels that make the validation loss rise.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <string_view>
#include <thread>
#include <vector>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/nn/Bdt.hpp"

using namespace bsmhunt::nn;

namespace {

constexpr std::size_t kCols = 3;

struct Toy {
  std::vector<float> x, labels, weights;
  std::size_t rows() const { return labels.size(); }
};

// Signal ~ N(+separation/2, 1), background ~ N(-separation/2, 1) in each of 3 features;
// unit weights; classes alternate row by row.
Toy gaussians(std::size_t rows, double separation, unsigned seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Toy toy;
  for (std::size_t row = 0; row < rows; ++row) {
    const float label = row % 2 == 0 ? 1.0f : 0.0f;
    for (std::size_t col = 0; col < kCols; ++col)
      toy.x.push_back(normal(generator) + float(label == 1.0f ? separation / 2 : -separation / 2));
    toy.labels.push_back(label);
    toy.weights.push_back(1.0f);
  }
  return toy;
}

// Labels that depend only weakly on the features: deep trees soon fit the noise.
Toy noisy_labels(std::size_t rows, unsigned seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  Toy toy;
  for (std::size_t row = 0; row < rows; ++row) {
    for (std::size_t col = 0; col < kCols; ++col) toy.x.push_back(normal(generator));
    const double p_signal = 1.0 / (1.0 + std::exp(-0.5 * toy.x[row * kCols]));
    toy.labels.push_back(uniform(generator) < p_signal ? 1.0f : 0.0f);
    toy.weights.push_back(1.0f);
  }
  return toy;
}

// Weighted AUC by its definition: P(score of signal > score of background), ties 1/2.
double weighted_auc(const std::vector<float>& scores, const Toy& toy) {
  double concordant = 0, signal_weight = 0, background_weight = 0;
  for (std::size_t s = 0; s < toy.rows(); ++s) {
    if (toy.labels[s] != 1.0f) continue;
    signal_weight += toy.weights[s];
    for (std::size_t b = 0; b < toy.rows(); ++b) {
      if (toy.labels[b] != 0.0f) continue;
      const double pair = double(toy.weights[s]) * toy.weights[b];
      concordant += scores[s] > scores[b] ? pair : scores[s] == scores[b] ? pair / 2 : 0.0;
    }
  }
  for (std::size_t b = 0; b < toy.rows(); ++b)
    if (toy.labels[b] == 0.0f) background_weight += toy.weights[b];
  return concordant / (signal_weight * background_weight);
}

BdtConfig small_config() {
  BdtConfig config;
  config.n_trees = 60;
  config.max_depth = 3;
  config.learning_rate = 0.2;
  // One thread: with more OpenMP threads than free cores (a loaded test machine),
  // libgomp's spinning waits make training 10-100 times slower.
  config.threads = 1;
  return config;
}

BdtModel train(const BdtConfig& config, const Toy& train_set, const Toy& validation = {},
               BdtTrainingResult* result = nullptr) {
  return BdtModel::train(config, train_set.x, kCols, train_set.labels, train_set.weights, validation.x,
                         validation.labels, validation.weights, result);
}

std::vector<float> predict(const BdtModel& model, const Toy& toy) {
  std::vector<float> scores(toy.rows());
  model.predict(toy.x, kCols, scores);
  return scores;
}

double logit(double p) { return std::log(p / (1 - p)); }

template <typename Call>
std::string input_error_message(Call&& call) {
  try {
    call();
  } catch (const bsmhunt::InputError& error) {
    return error.what();
  }
  ADD_FAILURE() << "no InputError";
  return {};
}

}  // namespace

TEST(Bdt, SeparatesTwoGaussians) {
  const Toy train_set = gaussians(4000, 2.0, 1), validation = gaussians(2000, 2.0, 2);
  Toy test = gaussians(2000, 2.0, 3);
  BdtConfig config;  // the defaults, as an analysis would start
  config.threads = 1;
  BdtTrainingResult result;
  const auto start = std::chrono::steady_clock::now();
  const BdtModel model = train(config, train_set, validation, &result);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[          ] training: %zu rows, %zu trees boosted (best %d) in %.3f s\n", train_set.rows(),
              result.train_logloss.size(), result.best_iteration, seconds);

  EXPECT_EQ(model.n_features(), kCols);
  const std::vector<float> scores = predict(model, test);
  for (float score : scores) ASSERT_TRUE(score >= 0.0f && score <= 1.0f) << score;
  // The best possible AUC of this toy: means 2 sqrt(3) apart, unit width: Phi(2 sqrt(3) / sqrt(2)) = 0.993.
  EXPECT_GT(weighted_auc(scores, test), 0.95);
  // Weights enter the AUC: reweighted test rows give another value, still high.
  const double unweighted = weighted_auc(scores, test);
  for (std::size_t row = 0; row < test.rows(); ++row) test.weights[row] = 0.5f + float(row % 7);
  const double weighted = weighted_auc(scores, test);
  EXPECT_GT(weighted, 0.95);
  EXPECT_NE(weighted, unweighted);
}

TEST(Bdt, DoublingTheSignalWeightRaisesTheScores) {
  const Toy base = gaussians(3000, 1.0, 4), test = gaussians(1000, 1.0, 5);
  BdtConfig config = small_config();
  config.scale_pos_weight = 1.0;  // explicit: the automatic balance would undo the doubling
  Toy heavier_signal = base;
  for (std::size_t row = 0; row < base.rows(); ++row)
    if (base.labels[row] == 1.0f) heavier_signal.weights[row] = 2.0f;

  const std::vector<float> before = predict(train(config, base), test);
  const std::vector<float> after = predict(train(config, heavier_signal), test);
  // Twice the signal prior multiplies the odds by 2: logit shifts by about ln 2 = 0.69.
  double mean_shift = 0;
  std::size_t raised = 0;
  for (std::size_t row = 0; row < test.rows(); ++row) {
    mean_shift += (logit(after[row]) - logit(before[row])) / double(test.rows());
    raised += after[row] > before[row];
  }
  EXPECT_GT(mean_shift, 0.4);
  EXPECT_LT(mean_shift, 1.0);
  EXPECT_GT(raised, test.rows() * 9 / 10);
}

TEST(Bdt, AutomaticClassBalanceUndoesAGlobalSignalWeight) {
  Toy base = gaussians(3000, 1.0, 6);
  // Features on a grid of 1/8 (fewer values than max_bin): each value gets its own bin.
  // Otherwise the bin edges, weighted quantiles of the features, move with the weights.
  for (float& value : base.x) value = std::round(value * 8) / 8;
  Toy heavier_signal = base;
  for (std::size_t row = 0; row < base.rows(); ++row)
    if (base.labels[row] == 1.0f) heavier_signal.weights[row] = 2.0f;
  const BdtConfig config = small_config();  // scale_pos_weight = 0: automatic
  // w_signal * sum_b / sum_s is the same product either way, bit for bit.
  const Toy test = gaussians(1000, 1.0, 7);
  EXPECT_EQ(predict(train(config, base), test), predict(train(config, heavier_signal), test));
}

TEST(Bdt, SerializationRoundTripPredictsIdentically) {
  const Toy train_set = gaussians(2000, 1.5, 8), validation = gaussians(1000, 1.5, 9), test = gaussians(500, 1.5, 10);
  const BdtModel model = train(small_config(), train_set, validation);
  const std::vector<uint8_t> bytes = model.serialize();
  ASSERT_FALSE(bytes.empty());

  BdtModel restored = BdtModel::deserialize(bytes);
  EXPECT_EQ(restored.n_features(), model.n_features());
  EXPECT_EQ(restored.best_iteration(), model.best_iteration());
  EXPECT_EQ(predict(restored, test), predict(model, test));
  EXPECT_EQ(restored.serialize(), bytes);
  EXPECT_EQ(restored.feature_importance_gain(), model.feature_importance_gain());

  const BdtModel moved = std::move(restored);
  EXPECT_EQ(predict(moved, test), predict(model, test));
}

TEST(Bdt, ConcurrentPredictionsAgreeWithSequentialOnes) {
  const Toy train_set = gaussians(1000, 1.0, 25), test = gaussians(2000, 1.0, 26);
  const BdtModel model = train(small_config(), train_set);
  const std::vector<float> sequential = predict(model, test);
  std::vector<std::vector<float>> concurrent(4);
  std::vector<std::thread> threads;
  for (auto& scores : concurrent) threads.emplace_back([&] { scores = predict(model, test); });
  for (auto& thread : threads) thread.join();
  for (const auto& scores : concurrent) EXPECT_EQ(scores, sequential);
}

TEST(Bdt, TrainingIsDeterministic) {
  const Toy train_set = gaussians(2000, 1.0, 11), validation = gaussians(1000, 1.0, 12);
  BdtConfig config = small_config();
  config.subsample = 0.7;  // randomness that the seed must pin down
  config.colsample_bytree = 0.67;
  config.seed = 42;
  const std::vector<uint8_t> first = train(config, train_set, validation).serialize();
  const std::vector<uint8_t> second = train(config, train_set, validation).serialize();
  EXPECT_EQ(first, second);
  config.threads = 2;  // XGBoost's CPU hist sums in an order independent of the thread count
  EXPECT_EQ(train(config, train_set, validation).serialize(), first);
  config.seed = 43;
  EXPECT_NE(train(config, train_set, validation).serialize(), first) << "the seed has no effect";
}

TEST(Bdt, EarlyStoppingPredictsWithTheBestIteration) {
  const Toy train_set = noisy_labels(2000, 13), validation = noisy_labels(2000, 14), test = noisy_labels(300, 15);
  BdtConfig config;
  config.n_trees = 200;
  config.max_depth = 6;
  config.learning_rate = 0.1;  // the validation loss is lowest after 7 trees
  config.min_child_weight = 0.1;
  config.early_stopping_rounds = 5;
  config.threads = 1;
  BdtTrainingResult result;
  const BdtModel model = train(config, train_set, validation, &result);

  ASSERT_LT(result.best_iteration, 150) << "validation loss never rose: the toy does not test early stopping";
  EXPECT_EQ(model.best_iteration(), result.best_iteration);
  EXPECT_EQ(result.train_logloss.size(), std::size_t(result.best_iteration + config.early_stopping_rounds + 1));
  ASSERT_EQ(result.validation_logloss.size(), result.train_logloss.size());
  EXPECT_EQ(*std::min_element(result.validation_logloss.begin(), result.validation_logloss.end()),
            result.validation_logloss[result.best_iteration]);
  EXPECT_LT(result.train_logloss.back(), result.train_logloss[result.best_iteration]) << "training loss keeps falling";

  // The trees after the best iteration are kept in the model but not used: the scores
  // are those of a model that stopped there.
  BdtConfig stopped_there = config;
  stopped_there.n_trees = result.best_iteration + 1;
  stopped_there.early_stopping_rounds = 0;
  const BdtModel reference = train(stopped_there, train_set, validation);
  EXPECT_EQ(reference.best_iteration(), result.best_iteration);
  EXPECT_EQ(predict(model, test), predict(reference, test));
  EXPECT_EQ(model.feature_importance_gain(), reference.feature_importance_gain());
  EXPECT_EQ(predict(BdtModel::deserialize(model.serialize()), test), predict(reference, test));
}

TEST(Bdt, WithoutValidationEveryTreeIsUsed) {
  const Toy train_set = gaussians(1000, 1.0, 16);
  BdtConfig config = small_config();
  config.n_trees = 25;
  BdtTrainingResult result;
  const BdtModel model = train(config, train_set, {}, &result);
  EXPECT_EQ(result.best_iteration, 24);
  EXPECT_EQ(result.train_logloss.size(), 25u);
  EXPECT_TRUE(result.validation_logloss.empty());
  EXPECT_EQ(model.best_iteration(), 24);
}

TEST(Bdt, ReportsEveryIteration) {
  const Toy train_set = gaussians(1000, 1.0, 17), validation = gaussians(500, 1.0, 18);
  BdtConfig config = small_config();
  config.n_trees = 10;
  std::vector<int> iterations;
  std::vector<double> train_losses, val_losses;
  BdtTrainingResult result;
  BdtModel::train(config, train_set.x, kCols, train_set.labels, train_set.weights, validation.x, validation.labels,
                  validation.weights, &result, [&](int iteration, double train_loss, double val_loss) {
                    iterations.push_back(iteration);
                    train_losses.push_back(train_loss);
                    val_losses.push_back(val_loss);
                  });
  EXPECT_EQ(iterations, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(train_losses, result.train_logloss);
  EXPECT_EQ(val_losses, result.validation_logloss);
  EXPECT_LT(train_losses.back(), train_losses.front());
  EXPECT_LT(train_losses.front(), std::log(2.0));  // below the loss of a constant 0.5
}

TEST(Bdt, FeatureImportanceIsZeroForUnusedFeatures) {
  // Column 0 carries the label, column 1 is noise, column 2 is constant (never split on);
  // a tenth of column 1 is missing (NaN).
  Toy toy = gaussians(2000, 2.0, 19);
  std::mt19937 generator(20);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (std::size_t row = 0; row < toy.rows(); ++row) {
    toy.x[row * kCols + 1] = row % 10 == 0 ? NAN : normal(generator);
    toy.x[row * kCols + 2] = 3.0f;
  }
  const BdtModel model = train(small_config(), toy);
  const std::vector<double> gain = model.feature_importance_gain();
  ASSERT_EQ(gain.size(), kCols);
  EXPECT_GT(gain[0], 0.0);
  EXPECT_GT(gain[0], gain[1]);
  EXPECT_EQ(gain[2], 0.0);
}

TEST(Bdt, RefusesGarbageModels) {
  const std::string_view text = "hello, I am not a model";
  const std::vector<uint8_t> hello(text.begin(), text.end());
  EXPECT_NE(input_error_message([&] { BdtModel::deserialize(hello); }).find("not a BDT model"), std::string::npos);
  EXPECT_NE(input_error_message([] { BdtModel::deserialize({}); }).find("empty"), std::string::npos);

  std::mt19937 generator(21);
  std::vector<uint8_t> random_bytes(4096);
  for (auto& byte : random_bytes) byte = uint8_t(generator());
  random_bytes[0] = '{';  // past the first check, into XGBoost's parser
  const std::string message = input_error_message([&] { BdtModel::deserialize(random_bytes); });
  EXPECT_NE(message.find("not a valid XGBoost model: "), std::string::npos) << message;
  EXPECT_EQ(message.find("Stack trace"), std::string::npos) << message;

  // A valid XGBoost model of another objective (same length, so the UBJSON stays valid).
  std::vector<uint8_t> bytes = train(small_config(), gaussians(200, 1.0, 22)).serialize();
  const std::string_view logistic = "binary:logistic", raw = "binary:logitraw";
  const auto at = std::search(bytes.begin(), bytes.end(), logistic.begin(), logistic.end());
  ASSERT_NE(at, bytes.end());
  std::copy(raw.begin(), raw.end(), at);
  EXPECT_NE(input_error_message([&] { BdtModel::deserialize(bytes); }).find("objective binary:logitraw"),
            std::string::npos);
}

TEST(Bdt, RefusesBadTrainingInput) {
  const Toy good = gaussians(100, 1.0, 23);
  Toy negative = good;
  negative.weights[17] = -0.5f;
  EXPECT_NE(input_error_message([&] { train(small_config(), negative); }).find("row 17"), std::string::npos);
  EXPECT_NE(input_error_message([&] { train(small_config(), good, negative); }).find("validation set: weight of row"),
            std::string::npos);

  Toy bad_label = good;
  bad_label.labels[5] = 2.0f;
  EXPECT_NE(input_error_message([&] { train(small_config(), bad_label); }).find("label of row 5"), std::string::npos);

  Toy infinite = good;
  infinite.x[4 * kCols + 1] = INFINITY;
  EXPECT_NE(input_error_message([&] { train(small_config(), infinite); }).find("feature 1 of row 4"),
            std::string::npos);

  Toy background_only = good;
  std::fill(background_only.labels.begin(), background_only.labels.end(), 0.0f);
  EXPECT_NE(input_error_message([&] { train(small_config(), background_only); }).find("both classes"),
            std::string::npos);

  Toy short_labels = good;
  short_labels.labels.pop_back();
  EXPECT_NE(input_error_message([&] { train(small_config(), short_labels); }).find("labels for 100 rows"),
            std::string::npos);

  BdtConfig bad_config = small_config();
  bad_config.subsample = 0;
  EXPECT_NE(input_error_message([&] { train(bad_config, good); }).find("subsample"), std::string::npos);
}

TEST(Bdt, RefusesWrongShapesInPredict) {
  const BdtModel model = train(small_config(), gaussians(200, 1.0, 24));
  const std::vector<float> x(4 * 2, 0.0f);
  std::vector<float> scores(4);
  EXPECT_NE(input_error_message([&] { model.predict(x, 2, scores); }).find("trained on 3"), std::string::npos);
  EXPECT_THROW(model.predict(x, 3, scores), bsmhunt::InputError);  // 8 values are not 4 rows of 3
  std::vector<float> no_scores;
  model.predict({}, 3, no_scores);  // zero rows: nothing to do, no error
}
