// The training loop on one replica: shuffling, reproducibility, resume from a
// snapshot, early stopping, schedules, and the refusal of a diverging run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/nn/Trainer.hpp"

using namespace bsmhunt::nn;

namespace {

// Two Gaussian blobs in `f` features; label 1 shifted by +1 in every feature.
Shard blobs(std::size_t rows, std::size_t f, unsigned seed, bool flip_labels = false) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  Shard s;
  s.features = f;
  for (std::size_t r = 0; r < rows; ++r) {
    const float label = float(r % 2);
    for (std::size_t c = 0; c < f; ++c) s.x.push_back(normal(gen) + label);
    s.target.push_back(flip_labels ? 1.f - label : label);
    s.weight.push_back(1.f);
  }
  s.global_rows = rows;
  return s;
}

NetworkSpec small_mlp(std::size_t f) {
  NetworkSpec s;
  s.inputs = f, s.hidden = {16, 16}, s.activation = Activation::relu, s.dropout = 0.1f;
  return s;
}

TrainerConfig quick_config() {
  TrainerConfig c;
  c.epochs = 3, c.batch_size = 64, c.learning_rate = 3e-3, c.seed = 5, c.patience = 0;
  return c;
}

}  // namespace

TEST(Shuffle, IsAPermutationThatDependsOnSeedAndEpoch) {
  for (uint64_t n : {1ull, 2ull, 7ull, 1000ull, 1025ull}) {
    Shuffle s(n, 1, 0);
    std::set<uint64_t> seen;
    for (uint64_t p = 0; p < n; ++p) seen.insert(s(p));
    EXPECT_EQ(seen.size(), n);
    EXPECT_EQ(*seen.rbegin(), n - 1);
  }
  Shuffle a(1000, 1, 0), b(1000, 1, 1), c(1000, 2, 0);
  int same_epoch = 0, same_seed = 0;
  for (uint64_t p = 0; p < 1000; ++p) same_epoch += a(p) == b(p), same_seed += a(p) == c(p);
  EXPECT_LT(same_epoch, 20);
  EXPECT_LT(same_seed, 20);
}

TEST(Trainer, LearnsBlobsAndIsBitwiseReproducible) {
  auto be = make_backend(DeviceKind::cpu);
  const Shard train = blobs(1000, 4, 1), val = blobs(300, 4, 2);
  std::vector<float> first;
  for (int run = 0; run < 2; ++run) {
    Network net(*be, small_mlp(4));
    net.initialize(9);
    LocalCollective local;
    Trainer trainer(*be, net, local, quick_config(), train, val);
    EXPECT_EQ(trainer.run({}), TrainingOutcome::finished);
    ASSERT_EQ(trainer.history().size(), 3u);
    EXPECT_LT(trainer.history().back().validation_loss, 0.45);  // ln 2 = 0.69 at chance
    EXPECT_LT(trainer.history().back().train_loss, trainer.history().front().train_loss + 0.05);
    const auto params = net.parameters().to_host();
    if (run == 0) first = params;
    else EXPECT_EQ(params, first) << "two identical runs differ";
  }
}

TEST(Trainer, ResumingFromASnapshotContinuesBitForBit) {
  auto be = make_backend(DeviceKind::cpu);
  const Shard train = blobs(500, 3, 3), val = blobs(100, 3, 4);
  TrainerConfig cfg = quick_config();
  cfg.optimizer = OptimizerKind::adamw, cfg.weight_decay = 1e-3, cfg.schedule = ScheduleKind::cosine;
  cfg.patience = 5;
  LocalCollective local;
  Network straight(*be, small_mlp(3));
  straight.initialize(1);
  Trainer t1(*be, straight, local, cfg, train, val);
  t1.run({});

  // Interrupted after step 11 (mid-epoch: 8 steps per epoch), resumed in a new trainer.
  Network first_half(*be, small_mlp(3));
  first_half.initialize(1);
  bsmhunt::Archive saved;
  {
    Trainer t2(*be, first_half, local, cfg, train, val);
    TrainerHooks hooks;
    uint64_t steps = 0;
    hooks.stop_requested = [&] { return ++steps == 11; };
    hooks.checkpoint = [&](uint64_t) { saved = t2.snapshot(); };
    EXPECT_EQ(t2.run(hooks), TrainingOutcome::interrupted);
    EXPECT_EQ(t2.step(), 11u);
  }
  Network resumed(*be, small_mlp(3));
  Trainer t3(*be, resumed, local, cfg, train, val);
  t3.restore(saved, "snapshot");
  EXPECT_EQ(t3.step(), 11u);
  t3.run({});
  EXPECT_EQ(resumed.parameters().to_host(), straight.parameters().to_host());
  ASSERT_EQ(t3.history().size(), t1.history().size());
  for (std::size_t e = 0; e < t1.history().size(); ++e) {
    EXPECT_EQ(t3.history()[e].train_loss, t1.history()[e].train_loss) << e;
    EXPECT_EQ(t3.history()[e].validation_loss, t1.history()[e].validation_loss) << e;
  }
}

TEST(Trainer, RestoreRefusesAForeignCheckpoint) {
  auto be = make_backend(DeviceKind::cpu);
  const Shard train = blobs(200, 3, 3), val = blobs(50, 3, 4);
  LocalCollective local;
  Network net(*be, small_mlp(3));
  Trainer t(*be, net, local, quick_config(), train, val);
  bsmhunt::Archive a = t.snapshot();
  TrainerConfig other = quick_config();
  other.batch_size = 32;
  Trainer t2(*be, net, local, other, train, val);
  try {
    t2.restore(a, "ckpt.h5");
    FAIL() << "restore accepted a different batch size";
  } catch (const bsmhunt::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("batch-size"), std::string::npos) << e.what();
  }
  a.floats.erase("model/layers/00_dense/weight");
  Trainer t3(*be, net, local, quick_config(), train, val);
  EXPECT_THROW(t3.restore(a, "ckpt.h5"), bsmhunt::InputError);
}

TEST(Trainer, EarlyStoppingRestoresTheBestEpoch) {
  auto be = make_backend(DeviceKind::cpu);
  // Validation labels are the opposite of training labels: validation loss rises
  // as soon as the network learns, so training stops after `patience` epochs.
  const Shard train = blobs(600, 3, 5), val = blobs(200, 3, 6, true);
  TrainerConfig cfg = quick_config();
  cfg.epochs = 30, cfg.patience = 2;
  LocalCollective local;
  Network net(*be, small_mlp(3));
  net.initialize(2);
  Trainer trainer(*be, net, local, cfg, train, val);
  std::vector<float> best;
  TrainerHooks hooks;
  hooks.epoch_end = [&](const EpochRecord&, bool improved) {
    if (improved) best = net.parameters().to_host();
  };
  EXPECT_EQ(trainer.run(hooks), TrainingOutcome::early_stopped);
  EXPECT_EQ(trainer.history().size(), 3u);
  EXPECT_EQ(net.parameters().to_host(), best);
}

TEST(Trainer, LearningRateSchedules) {
  auto be = make_backend(DeviceKind::cpu);
  const Shard train = blobs(100, 2, 1), val = blobs(10, 2, 2);  // 100 rows / 10 = 10 steps per epoch
  LocalCollective local;
  Network net(*be, small_mlp(2));
  TrainerConfig c = quick_config();
  c.batch_size = 10, c.epochs = 4, c.learning_rate = 0.1;
  c.schedule = ScheduleKind::step, c.step_gamma = 0.5, c.step_epochs = 2;
  Trainer step(*be, net, local, c, train, val);
  EXPECT_DOUBLE_EQ(step.learning_rate_at(0), 0.1);
  EXPECT_DOUBLE_EQ(step.learning_rate_at(19), 0.1);
  EXPECT_DOUBLE_EQ(step.learning_rate_at(20), 0.05);
  c.schedule = ScheduleKind::cosine, c.min_learning_rate = 0.0, c.warmup_steps = 10;
  Trainer cosine(*be, net, local, c, train, val);
  EXPECT_DOUBLE_EQ(cosine.learning_rate_at(0), 0.01);   // warm-up 1/10
  EXPECT_DOUBLE_EQ(cosine.learning_rate_at(10), 0.1);   // start of the cosine
  EXPECT_NEAR(cosine.learning_rate_at(25), 0.05, 1e-12);  // half way through 30 steps
}

TEST(Trainer, NonFiniteLossStopsWithTheStepNamed) {
  auto be = make_backend(DeviceKind::cpu);
  const Shard train = blobs(200, 3, 1), val = blobs(50, 3, 2);
  LocalCollective local;
  Network net(*be, small_mlp(3));
  net.initialize(4);
  TrainerConfig c = quick_config();
  c.optimizer = OptimizerKind::sgd, c.learning_rate = 1e30, c.momentum = 0;
  Trainer trainer(*be, net, local, c, train, val);
  try {
    trainer.run({});
    FAIL() << "diverging run finished";
  } catch (const bsmhunt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("at step"), std::string::npos) << e.what();
  }
}

TEST(Tensor, BorrowedHostMemoryIsReadInPlaceAndNeverFreed) {
  auto backend = make_backend(DeviceKind::cpu);
  ASSERT_TRUE(backend->uses_host_memory());
  std::vector<float> host{1, 2, 3, 4, 5, 6};
  {
    Tensor view = Tensor::borrow(*backend, host.data(), 2, 3);
    EXPECT_EQ(view.data(), host.data());  // no copy
    EXPECT_EQ(view.to_host(), host);
    view.reshape(3, 2);                   // within the view: still the same memory
    EXPECT_EQ(view.data(), host.data());
    view.reshape(4, 4);                   // larger: its own buffer, the host data untouched
    EXPECT_NE(view.data(), host.data());
    view.zero();
  }  // destroying the view must not free host's buffer (ASan would catch a double free)
  EXPECT_EQ(host, (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(Trainer, OnTheCpuReadsTheShardInPlaceWithTheSameResultAsACopy) {
  // The host backend borrows the shard instead of copying it: training on the shard
  // and on a separate copy gives the same bits, the shard is left as it was, and a
  // shard with other values gives other weights (the values really are read).
  auto be = make_backend(DeviceKind::cpu);
  const Shard train = blobs(1000, 4, 1), val = blobs(300, 4, 2);
  Shard copy = train, other = train;
  for (auto& x : other.x) x = -x;
  auto fit = [&](const Shard& s) {
    Network net(*be, small_mlp(4));
    net.initialize(9);
    LocalCollective local;
    Trainer trainer(*be, net, local, quick_config(), s, val);
    EXPECT_EQ(trainer.run({}), TrainingOutcome::finished);
    return net.parameters().to_host();
  };
  const auto on_train = fit(train);
  EXPECT_EQ(on_train, fit(copy));
  EXPECT_EQ(train.x, copy.x);
  EXPECT_NE(on_train, fit(other));
}
