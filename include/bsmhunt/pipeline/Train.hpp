#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/nn/Backend.hpp"
#include "bsmhunt/nn/Bdt.hpp"
#include "bsmhunt/nn/Network.hpp"
#include "bsmhunt/nn/Trainer.hpp"

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

// fnmatch-style '*' and '?' patterns for sample names.
bool glob_match(std::string_view pattern, std::string_view name);

}  // namespace bsmhunt::pipeline
