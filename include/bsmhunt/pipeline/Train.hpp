#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/nn/Backend.hpp"
#include "bsmhunt/nn/Bdt.hpp"
#include "bsmhunt/nn/Network.hpp"
#include "bsmhunt/nn/Trainer.hpp"
#include "bsmhunt/pipeline/Command.hpp"

namespace bsmhunt::pipeline {

inline constexpr int kInterruptedExitCode = 75;  // EX_TEMPFAIL: checkpoint written, run again with --resume

// Training weights (docs/training.md): per-event part x class part, then scaled so
// that the mean training weight is 1 (the learning rate then means the same thing
// under every policy).
enum class SampleWeights { none, mc, abs };
enum class ClassBalance { none, count, sum };
struct WeightPolicy {
  SampleWeights sample = SampleWeights::mc;
  ClassBalance balance = ClassBalance::sum;
  bool scale_signal_up = false;  // binary balance: signal x B/S instead of background x S/B
  bool normalize = true;
};

struct TrainConfig {
  std::string features, output, model = "mlp", checkpoint;
  nn::DeviceKind device = nn::DeviceKind::cpu;
  bool overwrite = false, resume = false;
  nn::NetworkSpec network;
  nn::TrainerConfig trainer;
  nn::BdtConfig bdt;
  std::string loss = "auto";
  std::string normalization = "zscore";  // zscore | minmax | none
  // auto: log of heavy-tailed positive features, an indicator input per feature with
  // missing values (== missing_value), statistics from the training rows (docs/training.md);
  // none: the feature file's /normalization statistics of the raw features.
  std::string preprocess = "auto";
  double missing_value = -999.0;
  // mlp, autoencoder: --batch-size, --epochs, --patience not given, so chosen from the
  // size of the training split (adapt_to_training_size, docs/training.md).
  bool adaptive_batch = false, adaptive_epochs = false, adaptive_patience = false;
  // mlp: --hidden, --batchnorm and --dropout not given: below kSmallTrainingSet training
  // events the network is wider and regularised (128,128, batch norm, dropout 0.2).
  bool adaptive_network = false;
  WeightPolicy weights;
  std::vector<std::string> signal_samples;   // glob patterns; empty = every signal
  std::vector<std::string> exclude_samples;  // glob patterns
  std::vector<std::string> exclude_features; // feature columns the model does not see (names)
  std::vector<std::string> parametrise;      // sample attributes that become inputs (parametrised classifier)
  // k-fold (docs/training.md): `folds` models, model k trained without the events of
  // fold k. held_out_fold >= 0 trains that one model (set by the fold loop).
  int folds = 1;
  int held_out_fold = -1;
  // --ensemble N: N networks trained with seeds seed, seed + 1, ...; predict averages
  // their scores. ensemble_member >= 0 trains that one (set by the ensemble loop).
  int ensemble = 1;
  int ensemble_member = -1;
  // Folds and ensemble members train side by side on this many sub-communicators
  // (0: as many as there are ranks, at most one per model; 1: one after another).
  int model_groups = 1;
  std::string select;                        // training region, e.g. "met > 80 && mll > 100" (Selection.hpp)
  std::string train_on = "auto";             // autoencoder: background | data | all
  int blas_threads = 0;                      // 0: cores of the node / ranks on it
  double progress_seconds = 10.0;
  // cnn: eta-phi images built from the particles of `events` (default: the feature
  // file's source event file), compressed by `compression` (docs/monojet.md).
  std::string events;
  std::string compression = "empty-cell";
};

// The batch size, epochs and patience for `rows` training events where the config
// leaves them to the size (a global batch of about rows / 40, a power of two in
// [64, 4096]; at least 8 000 steps in 20 to 200 epochs; patience a tenth of the
// epochs, 5 to 20).
void adapt_to_training_size(const TrainConfig& config, uint64_t rows, nn::TrainerConfig& trainer);
inline constexpr uint64_t kSmallTrainingSet = 100000;
void adapt_to_training_size(const TrainConfig& config, uint64_t rows, nn::NetworkSpec& network);

// Hyperparameter scan (`bsmhunt train --scan grid|random`): one TrainConfig per point,
// every point's options converted and checked before anything trains.
struct ScanPoint {
  std::vector<std::string> values;  // the scanned options' values, in the order of ScanPlan::keys
  TrainConfig config;               // output: OUTPUT_scanNNN.h5
};
struct ScanPlan {
  std::string mode;               // grid | random
  std::vector<std::string> keys;  // the scanned options
  std::vector<ScanPoint> points;
  std::string output;             // OUTPUT.scan.csv goes beside it
  bool overwrite = false;         // retrain points whose model exists
  int groups = 0;                 // sub-communicators (0: min(points, ranks))
};

// What `bsmhunt train` was asked: one model, or a scan.
struct TrainJob {
  TrainConfig train;
  std::optional<ScanPlan> scan;
};

void add_train_options(po::options_description& options);
TrainConfig train_config_from(const po::variables_map& vm);
TrainJob train_job_from(const po::variables_map& vm);

// Collective: the model, or the scan's points. Returns 0, or kInterruptedExitCode
// after SIGTERM / SIGUSR1 (checkpoint written), or 1 when scan points failed.
int run_train(const dist::Communicator& comm, const TrainJob& job);

// Collective: trains one model. Returns 0, or kInterruptedExitCode after SIGTERM / SIGUSR1.
int train_model(const dist::Communicator& comm, const TrainConfig& config);

// The world is split into `groups` sub-communicators, each training its share of the
// points data-parallel; a point whose model exists is read, not retrained, unless
// overwrite; rank 0 writes OUTPUT.scan.csv sorted by the validation metric (AUC for
// classifiers, else the best validation loss) and prints it.
int run_train_scan(const dist::Communicator& comm, const ScanPlan& scan);

}  // namespace bsmhunt::pipeline
