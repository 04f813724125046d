#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/nn/Backend.hpp"
#include "bsmhunt/nn/Bdt.hpp"
#include "bsmhunt/nn/Network.hpp"
#include "bsmhunt/nn/Trainer.hpp"
#include "bsmhunt/pipeline/Command.hpp"

namespace bsmhunt::pipeline {

inline constexpr const char* kModelFormat = "bsmhunt.model";
inline constexpr int64_t kModelFormatVersion = 1;
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
  WeightPolicy weights;
  std::vector<std::string> signal_samples;   // glob patterns; empty = every signal
  std::vector<std::string> exclude_samples;  // glob patterns
  std::string select;                        // training region, e.g. "met > 80 && mll > 100" (Selection.hpp)
  std::string train_on = "auto";             // autoencoder: background | data | all
  int blas_threads = 0;                      // 0: cores of the node / ranks on it
  double progress_seconds = 10.0;
};

// Collective. Returns 0, or kInterruptedExitCode after SIGTERM / SIGUSR1.
int run_train(const TrainConfig& config, const dist::Communicator& comm);

struct PredictConfig {
  std::string model, features, output;
  nn::DeviceKind device = nn::DeviceKind::cpu;
  bool overwrite = false;
  uint64_t chunk_rows = 1 << 18;
  int blas_threads = 0;
};
int run_predict(const PredictConfig& config, const dist::Communicator& comm);

// Hyperparameter scan (`bsmhunt train --scan grid|random`): the world is split into
// `groups` sub-communicators, each training its share of the points data-parallel;
// point i writes OUTPUT_scanNNN.h5 (a point whose model exists is read, not retrained,
// unless --overwrite), and rank 0 writes OUTPUT.scan.csv sorted by the validation
// metric (AUC for classifiers, else the best validation loss) and prints it.
struct ScanConfig {
  std::string mode;    // grid | random
  std::string params;  // "KEY=V1|V2;KEY=..."
  uint64_t points = 8; // random
  int groups = 0;      // 0: min(points, ranks)
  uint64_t seed = 1;
};
int run_train_scan(const po::variables_map& vm, const ScanConfig& scan,
                   const std::function<TrainConfig(const po::variables_map&)>& build, const dist::Communicator& comm);


}  // namespace bsmhunt::pipeline
