#include "bsmhunt/nn/Trainer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"

namespace bsmhunt::nn {

// ---------------------------------------------------------------- Shuffle

Shuffle::Shuffle(uint64_t n, uint64_t seed, uint64_t epoch) : n_(n) {
  // Smallest even bit count 2h with 2^(2h) >= n: a balanced Feistel network on 2h
  // bits is a bijection; positions that land >= n are walked again (at most a few
  // times on average since 2^(2h) < 4n).
  uint64_t bits = 2;
  while (bits < 64 && (uint64_t(1) << bits) < n) bits += 2;
  half_bits_ = bits / 2;
  half_mask_ = (uint64_t(1) << half_bits_) - 1;
  for (uint64_t r = 0; r < 4; ++r) keys_[r] = mix64(seed ^ mix64(epoch * 4 + r + 0x5151));
}

uint64_t Shuffle::operator()(uint64_t position) const {
  uint64_t x = position;
  do {
    uint64_t left = x >> half_bits_, right = x & half_mask_;
    for (uint64_t r = 0; r < 4; ++r) {
      const uint64_t f = mix64(right ^ keys_[r]) & half_mask_;
      const uint64_t next_right = left ^ f;
      left = right;
      right = next_right;
    }
    x = (left << half_bits_) | right;
  } while (x >= n_);
  return x;
}

// ---------------------------------------------------------------- names

std::string_view to_string(OptimizerKind k) {
  switch (k) {
    case OptimizerKind::sgd: return "sgd";
    case OptimizerKind::adam: return "adam";
    case OptimizerKind::adamw: return "adamw";
  }
  return "?";
}
std::string_view to_string(ScheduleKind k) {
  switch (k) {
    case ScheduleKind::constant: return "constant";
    case ScheduleKind::step: return "step";
    case ScheduleKind::cosine: return "cosine";
  }
  return "?";
}
std::string_view to_string(LossKind k) {
  switch (k) {
    case LossKind::bce_logits: return "bce";
    case LossKind::focal: return "focal";
    case LossKind::softmax_ce: return "softmax_ce";
    case LossKind::mse: return "mse";
  }
  return "?";
}

namespace {
template <typename E>
E parse_enum(std::string_view name, std::initializer_list<E> all, const char* what) {
  std::vector<std::string> names;
  for (E e : all) {
    if (to_string(e) == name) return e;
    names.emplace_back(to_string(e));
  }
  throw InputError(fmt::format("--{} '{}': expected one of {}{}", what, name, join(names, ", "), did_you_mean(name, names)));
}
}  // namespace

OptimizerKind parse_optimizer(std::string_view name) {
  return parse_enum(name, {OptimizerKind::sgd, OptimizerKind::adam, OptimizerKind::adamw}, "optimizer");
}
ScheduleKind parse_schedule(std::string_view name) {
  return parse_enum(name, {ScheduleKind::constant, ScheduleKind::step, ScheduleKind::cosine}, "schedule");
}
LossKind parse_loss(std::string_view name) {
  return parse_enum(name, {LossKind::bce_logits, LossKind::focal, LossKind::softmax_ce, LossKind::mse}, "loss");
}

// ---------------------------------------------------------------- Trainer

struct Trainer::Impl {
  Impl(Backend& be, std::size_t features, std::size_t target_cols)
      : train_x(be, 0, features), train_t(be, 0, target_cols), train_w(be, 0, 1),
        val_x(be, 0, features), val_t(be, 0, target_cols), val_w(be, 0, 1),
        batch_x(be, 0, features), batch_t(be, 0, target_cols), batch_w(be, 0, 1),
        d_out(be, 0, 1), row_loss(be, 0, 1), moment1(be, 0, 1), moment2(be, 0, 1),
        index(be), row_keys(be) {}
  Tensor train_x, train_t, train_w, val_x, val_t, val_w;
  Tensor batch_x, batch_t, batch_w, d_out, row_loss, moment1, moment2;
  IndexBuffer index, row_keys;
  std::vector<uint32_t> host_index, host_keys;
  std::vector<float> host_rows;  // rows made on demand (Shard::make_rows)
  std::vector<std::pair<std::size_t, std::size_t>> buckets;  // [first layer, end layer) in backward order
  bool stop_seen = false;
};

namespace {
void upload_shard(const Shard& s, Tensor& x, Tensor& t, Tensor& w, bool autoencoder) {
  Backend& be = x.backend();
  if (s.make_rows) x.reshape(0, s.features);  // rows are made batch by batch
  if (be.uses_host_memory()) {
    // The host backend reads the shard where it is: the training set costs its
    // size once, not twice (the shard outlives the Trainer, which holds it by reference).
    if (!s.make_rows) x = Tensor::borrow(be, s.x.data(), s.rows(), s.features);
    if (!autoencoder) t = Tensor::borrow(be, s.target.data(), s.rows(), 1);
    w = Tensor::borrow(be, s.weight.data(), s.rows(), 1);
    return;
  }
  if (!s.make_rows) {
    x.reshape(s.rows(), s.features);
    if (!s.x.empty()) x.backend().upload(s.x.data(), x.data(), s.x.size());
  }
  if (!autoencoder) {
    t.reshape(s.rows(), 1);
    if (!s.target.empty()) t.backend().upload(s.target.data(), t.data(), s.target.size());
  }
  w.reshape(s.rows(), 1);
  if (!s.weight.empty()) w.backend().upload(s.weight.data(), w.data(), s.weight.size());
}
}  // namespace

Trainer::Trainer(Backend& backend, Network& network, Collective& collective, TrainerConfig config, const Shard& train,
                 const Shard& validation)
    : be_(backend), net_(network), comm_(collective), cfg_(std::move(config)), train_(train),
      validation_(validation) {
  const bool autoencoder = network.spec().model == "autoencoder";
  if (train.features != network.inputs())
    throw InputError(fmt::format("training data has {} features, the network {} inputs", train.features,
                                 network.inputs()));
  if (train.global_rows == 0) throw InputError("the training split is empty on every rank");
  if (cfg_.batch_size == 0) throw InputError("batch_size must be positive");
  if (train.global_rows > uint64_t(UINT32_MAX)) throw InputError("more than 2^32 training rows per job");
  steps_per_epoch_ = (train.global_rows + cfg_.batch_size - 1) / cfg_.batch_size;
  impl_ = new Impl(backend, train.features, 1);
  upload_shard(train, impl_->train_x, impl_->train_t, impl_->train_w, autoencoder);
  upload_shard(validation, impl_->val_x, impl_->val_t, impl_->val_w, autoencoder);
  const std::size_t n = network.parameter_count();
  impl_->moment1.reshape(1, n), impl_->moment1.zero();
  impl_->moment2.reshape(1, n), impl_->moment2.zero();
  // Buckets of whole layers, from the output down, of at least bucket_floats values.
  const auto& off = network.layer_offsets();
  std::size_t end = network.layers().size();
  for (std::size_t i = end; i-- > 0;) {
    if (off[end] - off[i] >= cfg_.bucket_floats || i == 0) {
      impl_->buckets.emplace_back(i, end);
      end = i;
    }
  }
}

Trainer::~Trainer() { delete impl_; }

double Trainer::learning_rate_at(uint64_t step) const {
  const double base = cfg_.learning_rate;
  if (step < cfg_.warmup_steps) return base * double(step + 1) / double(cfg_.warmup_steps);
  switch (cfg_.schedule) {
    case ScheduleKind::constant: return base;
    case ScheduleKind::step: {
      const uint64_t epoch = step / std::max<uint64_t>(steps_per_epoch_, 1);
      return base * std::pow(cfg_.step_gamma, double(epoch / std::max<uint64_t>(cfg_.step_epochs, 1)));
    }
    case ScheduleKind::cosine: {
      const double total = double(cfg_.epochs * steps_per_epoch_ - cfg_.warmup_steps);
      const double t = total > 0 ? double(step - cfg_.warmup_steps) / total : 1.0;
      return cfg_.min_learning_rate +
             (base - cfg_.min_learning_rate) * 0.5 * (1.0 + std::cos(std::numbers::pi * std::min(t, 1.0)));
    }
  }
  return base;
}

double Trainer::regularisation_penalty() {
  if (cfg_.l1 == 0.0 && cfg_.l2 == 0.0 && cfg_.conv_l2 == 0.0) return 0.0;
  double penalty = 0;
  const auto& off = net_.layer_offsets();
  for (std::size_t i = 0; i < net_.layers().size(); ++i)
    for (const auto& p : net_.layers()[i]->parameters()) {
      // Dense weights take --l1/--l2, convolution kernels --conv-l2 (Keras' kernel_regularizer).
      const bool kernel = p.name == "kernel";
      if (p.name != "weight" && !kernel) continue;
      const double l1 = kernel ? 0.0 : cfg_.l1, l2 = kernel ? cfg_.conv_l2 : cfg_.l2;
      if (l1 == 0.0 && l2 == 0.0) continue;
      const float* w = net_.parameters().data() + off[i] + p.offset;
      const std::size_t n = p.shape[0] * p.shape[1];
      if (l1 != 0.0) penalty += l1 * be_.reduce(w, n, Reduction::sum_abs);
      if (l2 != 0.0) penalty += l2 * be_.reduce(w, n, Reduction::sum_squares);
      be_.add_regularization_gradient(w, net_.gradients().data() + off[i] + p.offset, n, float(l1), float(l2));
    }
  return penalty;
}

void Trainer::train_step(uint64_t step) {
  Impl& m = *impl_;
  const bool autoencoder = net_.spec().model == "autoencoder";
  const uint64_t epoch = step / steps_per_epoch_, j = step % steps_per_epoch_;
  const uint64_t start = j * cfg_.batch_size;
  const uint64_t count = std::min<uint64_t>(cfg_.batch_size, train_.global_rows - start);
  // This rank's rows of global batch `step`, in the order of their batch positions.
  const Shuffle shuffle(train_.global_rows, cfg_.seed, epoch);
  m.host_index.clear(), m.host_keys.clear();
  const uint64_t lo = train_.global_offset, hi = lo + train_.rows();
  for (uint64_t p = start; p < start + count; ++p) {
    const uint64_t g = shuffle(p);
    if (g >= lo && g < hi) m.host_index.push_back(uint32_t(g - lo)), m.host_keys.push_back(uint32_t(p - start));
  }
  const std::size_t rows = m.host_index.size(), f = train_.features;
  m.index.assign(m.host_index);
  m.row_keys.assign(m.host_keys);
  m.batch_x.reshape(rows, f);
  if (train_.make_rows) {
    m.host_rows.resize(rows * f);
    train_.make_rows(m.host_index.data(), rows, m.host_rows.data());
    be_.upload(m.host_rows.data(), m.batch_x.data(), rows * f);
  } else {
    be_.gather_rows(m.train_x.data(), f, m.index.data(), rows, m.batch_x.data());
  }
  m.batch_w.reshape(rows, 1);
  be_.gather_rows(m.train_w.data(), 1, m.index.data(), rows, m.batch_w.data());
  const float* target = m.batch_x.data();
  if (!autoencoder) {
    m.batch_t.reshape(rows, 1);
    be_.gather_rows(m.train_t.data(), 1, m.index.data(), rows, m.batch_t.data());
    target = m.batch_t.data();
  }

  StepContext ctx{be_, comm_, true, mix64(cfg_.seed ^ mix64(step + 0xD809)), m.row_keys.data(), double(count)};
  const float* out = net_.forward(ctx, m.batch_x.data(), rows);
  const std::size_t out_cols = net_.outputs();
  m.d_out.reshape(rows, out_cols);
  m.row_loss.reshape(rows, 1);
  // Mean over the global batch of w * l (Keras' sample-weight convention).
  be_.loss(cfg_.loss, out, target, m.batch_w.data(), rows, out_cols, float(1.0 / double(count)), m.d_out.data(),
           m.row_loss.data());
  const double local_loss = be_.reduce(m.row_loss.data(), rows, Reduction::sum);
  net_.backward(ctx, m.d_out.data(), [&](std::size_t layer) {
    for (const auto& [first, end] : m.buckets)
      if (first == layer) {
        const auto& off = net_.layer_offsets();
        comm_.start_sum(net_.gradients().data() + off[first], off[end] - off[first]);
      }
  });
  comm_.wait_all();
  const bool stop_here = m.stop_seen;
  double extras[3] = {local_loss, net_.activity_penalty_sum(), stop_here ? 1.0 : 0.0};
  comm_.sum(extras, 3);
  const double penalty = regularisation_penalty();
  const double loss = (extras[0] + extras[1]) / double(count) + penalty;
  if (!std::isfinite(loss))
    throw Error(fmt::format("training loss is {} at step {} (epoch {}, batch {} of {}): stopping before the update; "
                            "the last checkpoint written is the last good state (lower the learning rate, check "
                            "the inputs for extreme values)",
                            loss, step + 1, epoch + 1, j + 1, steps_per_epoch_));
  m.stop_seen = extras[2] > 0;
  last_step_loss_ = loss;
  epoch_loss_sum_ += loss * double(count);
  epoch_rows_ += double(count);

  const float lr = float(learning_rate_at(step));
  const std::size_t n = net_.parameter_count();
  float* w = net_.parameters().data();
  const float* g = net_.gradients().data();
  switch (cfg_.optimizer) {
    case OptimizerKind::sgd:
      be_.sgd_update(w, g, m.moment1.data(), n, lr, float(cfg_.momentum), float(cfg_.weight_decay), cfg_.nesterov);
      break;
    case OptimizerKind::adam:
    case OptimizerKind::adamw:
      be_.adam_update(w, g, m.moment1.data(), m.moment2.data(), n, lr, float(cfg_.beta1), float(cfg_.beta2),
                      float(cfg_.adam_eps), float(cfg_.weight_decay), cfg_.optimizer == OptimizerKind::adamw,
                      step + 1);
      break;
  }
}

double Trainer::evaluate(const Shard& shard) {
  const bool autoencoder = net_.spec().model == "autoencoder";
  const bool is_validation = &shard == &validation_;
  Tensor scratch_x(be_, 0, shard.features), scratch_t(be_, 0, 1), scratch_w(be_, 0, 1);
  if (!is_validation) upload_shard(shard, scratch_x, scratch_t, scratch_w, autoencoder);
  Tensor& x = is_validation ? impl_->val_x : scratch_x;
  Tensor& t = is_validation ? impl_->val_t : scratch_t;
  Tensor& w = is_validation ? impl_->val_w : scratch_w;
  Tensor row_loss(be_, 0, 1);
  double sums[2] = {0, 0};
  for (const float v : shard.weight) sums[1] += v;
  const std::size_t chunk = net_.rows_per_pass(1 << 16);
  StepContext ctx{be_, comm_, false, 0, nullptr, 0};
  Tensor made(be_, 0, shard.features);
  std::vector<float> host_rows;
  std::vector<uint32_t> local;
  for (std::size_t r0 = 0; r0 < shard.rows(); r0 += chunk) {
    const std::size_t rows = std::min(chunk, shard.rows() - r0);
    const float* xr = nullptr;
    if (shard.make_rows) {
      local.resize(rows), host_rows.resize(rows * shard.features);
      for (std::size_t i = 0; i < rows; ++i) local[i] = uint32_t(r0 + i);
      shard.make_rows(local.data(), rows, host_rows.data());
      made.reshape(rows, shard.features);
      be_.upload(host_rows.data(), made.data(), host_rows.size());
      xr = made.data();
    } else {
      xr = x.data() + r0 * shard.features;
    }
    const float* out = net_.forward(ctx, xr, rows);
    row_loss.reshape(rows, 1);
    be_.loss(cfg_.loss, out, autoencoder ? xr : t.data() + r0, w.data() + r0, rows, net_.outputs(), 0.f, nullptr,
             row_loss.data());
    sums[0] += be_.reduce(row_loss.data(), rows, Reduction::sum);
  }
  comm_.sum(sums, 2);
  return sums[1] != 0 ? sums[0] / sums[1] : std::nan("");
}

TrainingOutcome Trainer::run(const TrainerHooks& hooks) {
  const uint64_t total_steps = cfg_.epochs * steps_per_epoch_;
  auto epoch_start = std::chrono::steady_clock::now();
  auto last = epoch_start;
  while (step_ < total_steps) {
    if (hooks.stop_requested && hooks.stop_requested()) impl_->stop_seen = true;
    const uint64_t step = step_;
    train_step(step);
    ++step_;
    if (hooks.step_report) {
      const auto now = std::chrono::steady_clock::now();
      const double dt = std::chrono::duration<double>(now - last).count();
      last = now;
      const uint64_t batch = std::min<uint64_t>(cfg_.batch_size, train_.global_rows - (step % steps_per_epoch_) * cfg_.batch_size);
      hooks.step_report({step_, total_steps, step / steps_per_epoch_ + 1, cfg_.epochs, last_step_loss_,
                         dt > 0 ? double(batch) / dt : 0.0});
    }
    const bool epoch_end = step_ % steps_per_epoch_ == 0;
    bool stop_early = false;
    if (epoch_end) {
      EpochRecord record;
      record.epoch = step_ / steps_per_epoch_;
      record.train_loss = epoch_rows_ > 0 ? epoch_loss_sum_ / epoch_rows_ : 0.0;
      record.learning_rate = learning_rate_at(step);
      record.validation_loss = validation_.global_rows > 0 ? evaluate(validation_) : std::nan("");
      const auto now = std::chrono::steady_clock::now();
      record.seconds = std::chrono::duration<double>(now - epoch_start).count();
      epoch_start = now;
      epoch_loss_sum_ = epoch_rows_ = 0;
      bool improved = false;
      if (std::isfinite(record.validation_loss)) {
        if (!have_best_ || record.validation_loss < best_validation_ - cfg_.min_delta) {
          improved = true;
          have_best_ = true;
          best_validation_ = record.validation_loss;
          bad_epochs_ = 0;
          best_params_ = net_.parameters().to_host();
          best_state_ = net_.state().to_host();
        } else {
          ++bad_epochs_;
        }
        stop_early = cfg_.patience > 0 && bad_epochs_ >= cfg_.patience;
      }
      history_.push_back(record);
      if (hooks.epoch_end) hooks.epoch_end(record, improved);
    }
    if (impl_->stop_seen) {
      if (hooks.checkpoint) hooks.checkpoint(step_);
      return TrainingOutcome::interrupted;
    }
    if (hooks.checkpoint && (epoch_end || (cfg_.checkpoint_every && step_ % cfg_.checkpoint_every == 0)))
      hooks.checkpoint(step_);
    if (stop_early) break;
  }
  if (cfg_.restore_best && have_best_) {
    be_.upload(best_params_.data(), net_.parameters().data(), best_params_.size());
    be_.upload(best_state_.data(), net_.state().data(), best_state_.size());
  }
  return step_ < total_steps ? TrainingOutcome::early_stopped : TrainingOutcome::finished;
}

// ---------------------------------------------------------------- archives

Archive Trainer::snapshot() const {
  Archive a;
  store_network(net_, a);
  const std::size_t n = net_.parameter_count();
  a.floats["training/optimizer_moment1"] = {{n}, impl_->moment1.to_host()};
  a.floats["training/optimizer_moment2"] = {{n}, impl_->moment2.to_host()};
  if (have_best_) {
    a.floats["training/best_parameters"] = {{best_params_.size()}, best_params_};
    a.floats["training/best_state"] = {{best_state_.size()}, best_state_};
  }
  a.doubles["training/step"] = {double(step_)};
  a.doubles["training/steps_per_epoch"] = {double(steps_per_epoch_)};
  a.doubles["training/best_validation_loss"] = {have_best_ ? best_validation_ : std::nan("")};
  a.doubles["training/bad_epochs"] = {double(bad_epochs_)};
  a.doubles["training/epoch_partial_loss"] = {epoch_loss_sum_, epoch_rows_};
  a.doubles["training/seed"] = {double(cfg_.seed)};
  a.doubles["training/batch_size"] = {double(cfg_.batch_size)};
  a.doubles["training/global_rows"] = {double(train_.global_rows)};
  std::vector<double> epoch, train, val, lr, secs;
  for (const auto& r : history_)
    epoch.push_back(double(r.epoch)), train.push_back(r.train_loss), val.push_back(r.validation_loss),
        lr.push_back(r.learning_rate), secs.push_back(r.seconds);
  a.doubles["history/epoch"] = epoch;
  a.doubles["history/train_loss"] = train;
  a.doubles["history/validation_loss"] = val;
  a.doubles["history/learning_rate"] = lr;
  a.doubles["history/seconds"] = secs;
  a.strings["training/optimizer"] = std::string(to_string(cfg_.optimizer));
  a.strings["training/loss"] = std::string(to_string(cfg_.loss.kind));
  return a;
}

void Trainer::restore(const Archive& a, const std::string& what) {
  auto expect_same = [&](const char* key, double here, const char* option) {
    const double there = a.number(key, what);
    if (there != here)
      throw InputError(fmt::format("{}: the checkpoint was made with {} = {}, this run has {}; resume with the same "
                                   "options and input",
                                   what, option, there, here));
  };
  expect_same("training/seed", double(cfg_.seed), "seed");
  expect_same("training/batch_size", double(cfg_.batch_size), "batch-size");
  expect_same("training/global_rows", double(train_.global_rows), "training rows");
  if (a.string("training/optimizer", what) != to_string(cfg_.optimizer))
    throw InputError(fmt::format("{}: the checkpoint used optimizer {}, this run {}", what,
                                 a.string("training/optimizer", what), to_string(cfg_.optimizer)));
  load_network(net_, a, what);
  const std::size_t n = net_.parameter_count();
  const auto& m1 = a.array("training/optimizer_moment1", what);
  const auto& m2 = a.array("training/optimizer_moment2", what);
  if (m1.values.size() != n || m2.values.size() != n)
    throw InputError(fmt::format("{}: optimizer state of {} values, the network has {} parameters", what,
                                 m1.values.size(), n));
  be_.upload(m1.values.data(), impl_->moment1.data(), n);
  be_.upload(m2.values.data(), impl_->moment2.data(), n);
  step_ = uint64_t(a.number("training/step", what));
  bad_epochs_ = uint64_t(a.number("training/bad_epochs", what));
  best_validation_ = a.number("training/best_validation_loss", what);
  have_best_ = a.floats.count("training/best_parameters") > 0;
  if (have_best_) {
    best_params_ = a.array("training/best_parameters", what).values;
    best_state_ = a.array("training/best_state", what).values;
  }
  const auto& partial = a.number_list("training/epoch_partial_loss", what);
  if (partial.size() != 2) throw InputError(fmt::format("{}: malformed training/epoch_partial_loss", what));
  epoch_loss_sum_ = partial[0], epoch_rows_ = partial[1];
  const auto& ep = a.number_list("history/epoch", what);
  const auto& tl = a.number_list("history/train_loss", what);
  const auto& vl = a.number_list("history/validation_loss", what);
  const auto& lr = a.number_list("history/learning_rate", what);
  const auto& sc = a.number_list("history/seconds", what);
  history_.clear();
  for (std::size_t i = 0; i < ep.size() && i < tl.size() && i < vl.size() && i < lr.size() && i < sc.size(); ++i)
    history_.push_back({uint64_t(ep[i]), tl[i], vl[i], lr[i], sc[i]});
}

void store_network(const Network& network, Archive& a) {
  const NetworkSpec& s = network.spec();
  a.strings["model/kind"] = s.model;
  a.strings["model/activation"] = std::string(to_string(s.activation));
  a.doubles["model/inputs"] = {double(s.inputs)};
  a.doubles["model/hidden"] = std::vector<double>(s.hidden.begin(), s.hidden.end());
  a.doubles["model/outputs"] = {double(s.outputs)};
  a.doubles["model/latent"] = {double(s.latent)};
  a.doubles["model/leaky_slope"] = {double(s.leaky_slope)};
  a.doubles["model/dropout"] = {double(s.dropout)};
  a.doubles["model/batchnorm"] = {s.batchnorm ? 1.0 : 0.0};
  a.doubles["model/activity_l2"] = {double(s.activity_l2)};
  if (s.model == "cnn") {
    a.doubles["model/image_shape"] = {double(s.image_height), double(s.image_width), double(s.image_channels)};
    a.strings["model/cnn"] = s.cnn;
  }
  std::vector<std::string> architecture;
  const auto params = network.parameters().to_host();
  const auto state = network.state().to_host();
  std::size_t poff = 0, soff = 0;
  for (std::size_t i = 0; i < network.layers().size(); ++i) {
    const Layer& layer = *network.layers()[i];
    architecture.push_back(layer.describe());
    const std::string group = fmt::format("model/layers/{:02d}_{}/", i, layer.kind());
    auto put = [&](const ParameterShape& p, const std::vector<float>& flat, std::size_t base) {
      std::size_t k = 1;
      std::vector<uint64_t> shape;
      for (auto d : p.shape) k *= d, shape.push_back(d);
      a.floats[group + p.name] = {shape, std::vector<float>(flat.begin() + long(base + p.offset),
                                                            flat.begin() + long(base + p.offset + k))};
    };
    for (const auto& p : layer.parameters()) put(p, params, poff);
    for (const auto& p : layer.state()) put(p, state, soff);
    poff += layer.parameter_count(), soff += layer.state_count();
  }
  a.string_lists["model/architecture"] = architecture;
}

NetworkSpec network_spec_from(const Archive& a, const std::string& what) {
  NetworkSpec s;
  s.model = a.string("model/kind", what);
  s.activation = parse_activation(a.string("model/activation", what));
  s.inputs = std::size_t(a.number("model/inputs", what));
  s.hidden.clear();
  for (double h : a.number_list("model/hidden", what)) s.hidden.push_back(std::size_t(h));
  s.outputs = std::size_t(a.number("model/outputs", what));
  s.latent = std::size_t(a.number("model/latent", what));
  s.leaky_slope = float(a.number("model/leaky_slope", what));
  s.dropout = float(a.number("model/dropout", what));
  s.batchnorm = a.number("model/batchnorm", what) != 0;
  s.activity_l2 = float(a.number("model/activity_l2", what));
  if (s.model == "cnn") {
    const auto& shape = a.number_list("model/image_shape", what);
    if (shape.size() != 3) throw InputError(fmt::format("{}: model/image_shape needs 3 values", what));
    s.image_height = std::size_t(shape[0]), s.image_width = std::size_t(shape[1]), s.image_channels = std::size_t(shape[2]);
    s.cnn = a.string("model/cnn", what);
  }
  return s;
}

void load_network(Network& network, const Archive& a, const std::string& what) {
  std::vector<float> params(network.parameter_count()), state(network.state().size(), 0.0f);
  std::size_t poff = 0, soff = 0;
  for (std::size_t i = 0; i < network.layers().size(); ++i) {
    const Layer& layer = *network.layers()[i];
    const std::string group = fmt::format("model/layers/{:02d}_{}/", i, layer.kind());
    auto get = [&](const ParameterShape& p, std::vector<float>& flat, std::size_t base) {
      const auto& arr = a.array(group + p.name, what);
      std::size_t k = 1;
      for (auto d : p.shape) k *= d;
      if (arr.values.size() != k)
        throw InputError(fmt::format("{}: {}{} has {} values, the network expects {}", what, group, p.name,
                                     arr.values.size(), k));
      std::copy(arr.values.begin(), arr.values.end(), flat.begin() + long(base + p.offset));
    };
    for (const auto& p : layer.parameters()) get(p, params, poff);
    for (const auto& p : layer.state()) get(p, state, soff);
    poff += layer.parameter_count(), soff += layer.state_count();
  }
  if (!params.empty()) network.parameters().backend().upload(params.data(), network.parameters().data(), params.size());
  if (!state.empty()) network.state().backend().upload(state.data(), network.state().data(), state.size());
}

}  // namespace bsmhunt::nn
