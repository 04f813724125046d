#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bsmhunt/core/Archive.hpp"
#include "bsmhunt/nn/Backend.hpp"
#include "bsmhunt/nn/Collective.hpp"
#include "bsmhunt/nn/Network.hpp"

namespace bsmhunt::nn {

// A pseudo-random permutation of [0, n) evaluated point by point (a Feistel network
// with cycle walking): every rank finds the events of global batch t without
// materialising a permutation of tens of millions of indices.
class Shuffle {
 public:
  Shuffle(uint64_t n, uint64_t seed, uint64_t epoch);
  uint64_t operator()(uint64_t position) const;

 private:
  uint64_t n_, half_bits_, half_mask_;
  uint64_t keys_[4];
};

// This rank's rows of one split, already normalised, on the host. Rows are in the
// global order of the split; this rank holds [global_offset, global_offset + rows).
struct Shard {
  std::size_t features = 0;     // columns
  std::vector<float> x;         // rows x features
  std::vector<float> target;    // rows (class label) for classifiers; empty for autoencoders (target = x)
  std::vector<float> weight;    // rows; training weights (policy applied)
  uint64_t global_offset = 0;
  uint64_t global_rows = 0;     // over all ranks
  // Rows made on demand instead of held in x (images built from particles batch by
  // batch): writes this shard's rows local[0..n) to out (n x features, host memory).
  std::function<void(const uint32_t* local, std::size_t n, float* out)> make_rows;
  std::size_t rows() const { return weight.size(); }
};

enum class OptimizerKind { sgd, adam, adamw };
enum class ScheduleKind { constant, step, cosine };

struct TrainerConfig {
  LossParams loss;
  OptimizerKind optimizer = OptimizerKind::adam;
  double learning_rate = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-7;  // Keras' epsilon
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 0.0;        // Adam: added to the gradient; AdamW: decoupled; SGD: added to the gradient
  double l1 = 0.0, l2 = 0.0;        // penalties on dense-layer weights
  double conv_l2 = 0.0;             // L2 penalty on convolution kernels
  ScheduleKind schedule = ScheduleKind::constant;
  uint64_t warmup_steps = 0;        // linear ramp from 0
  double step_gamma = 0.5;          // step schedule: lr *= gamma every step_epochs
  uint64_t step_epochs = 10;
  double min_learning_rate = 0.0;   // cosine floor
  uint64_t epochs = 20;
  uint64_t batch_size = 4096;       // global, over all ranks
  uint64_t patience = 5;            // epochs without improvement of the validation loss; 0 = no early stopping
  double min_delta = 0.0;
  bool restore_best = true;         // end with the weights of the best validation loss
  uint64_t seed = 1;
  std::size_t bucket_floats = 1 << 20;  // gradient all-reduce bucket size
  uint64_t checkpoint_every = 0;    // steps; 0 = at epoch ends only
};

struct EpochRecord {
  uint64_t epoch = 0;
  double train_loss = 0, validation_loss = 0, learning_rate = 0, seconds = 0;
};

struct StepReport {  // for progress lines on rank 0
  uint64_t step, total_steps, epoch, epochs;
  double loss, samples_per_second;
};

enum class TrainingOutcome { finished, early_stopped, interrupted };

struct TrainerHooks {
  std::function<bool()> stop_requested;                        // a signal arrived on this rank
  std::function<void(uint64_t step)> checkpoint;               // all ranks; write the snapshot()
  std::function<void(const StepReport&)> step_report;          // every step, all ranks
  std::function<void(const EpochRecord&, bool improved)> epoch_end;
};

// Data-parallel mini-batch training of a Network. Global batch t is a fixed function
// of (seed, t) and the global row order, never of the rank count; gradients are
// summed over replicas in buckets while backward runs. Two runs with the same ranks
// and seed give identical bits; 1 and N ranks agree to float rounding.
class Trainer {
 public:
  Trainer(Backend& backend, Network& network, Collective& collective, TrainerConfig config, const Shard& train,
          const Shard& validation);
  ~Trainer();

  TrainingOutcome run(const TrainerHooks& hooks);
  uint64_t step() const { return step_; }
  uint64_t steps_per_epoch() const { return steps_per_epoch_; }
  const std::vector<EpochRecord>& history() const { return history_; }
  double learning_rate_at(uint64_t step) const;
  // Weighted mean loss over a shard (all ranks), inference mode.
  double evaluate(const Shard& shard);

  // Complete training state (weights, optimiser moments, step, early-stopping state,
  // history): resuming from it continues bit for bit. Collective-free.
  Archive snapshot() const;
  void restore(const Archive& archive, const std::string& what);

 private:
  struct Impl;
  void train_step(uint64_t step);
  void apply_update();
  double regularisation_penalty();
  Backend& be_;
  Network& net_;
  Collective& comm_;
  TrainerConfig cfg_;
  const Shard& train_;
  const Shard& validation_;
  uint64_t steps_per_epoch_ = 0, step_ = 0;
  std::vector<EpochRecord> history_;
  double best_validation_ = 0;
  bool have_best_ = false;
  uint64_t bad_epochs_ = 0;
  double epoch_loss_sum_ = 0, epoch_rows_ = 0;
  std::vector<float> best_params_, best_state_;
  double last_step_loss_ = 0;
  Impl* impl_;
};

// Network spec, weights and running statistics of a network <-> archive entries
// under "model/" (one dataset per layer parameter: model/layers/00_dense/weight).
void store_network(const Network& network, Archive& archive);
NetworkSpec network_spec_from(const Archive& archive, const std::string& what);
void load_network(Network& network, const Archive& archive, const std::string& what);

std::string_view to_string(OptimizerKind k);
std::string_view to_string(ScheduleKind k);
OptimizerKind parse_optimizer(std::string_view name);
ScheduleKind parse_schedule(std::string_view name);
LossKind parse_loss(std::string_view name);
std::string_view to_string(LossKind k);

}  // namespace bsmhunt::nn
