// Training throughput of the nn engine on the CPU (issue 4, "Benchmarks").
//
//   train_bench [--rows N] [--batch B] [--epochs E] [--threads T] [--seed S]
//       Trains the MLP 25 -> 64 -> 64 -> 1 (relu), Adam, weighted BCE from logits, with
//       nn::Trainer and nn::LocalCollective on synthetic data (two Gaussian blobs,
//       random positive weights): one warm-up epoch, then E timed epochs. Prints
//       samples/s, the GEMM GFLOP/s achieved and the peak RSS.
//   train_bench --phases [--rows N] [--batch B] [--threads T] [--steps K]
//       The same training step spelled out with nn::Backend calls, each phase timed
//       (index/shuffle, gather, forward GEMMs, epilogues, loss, backward GEMMs,
//       optimiser): where the time of a step goes.
//   train_bench --sgemm-peak [--threads T] [--size N]
//       Backend::gemm (cblas_sgemm) on an N x N x N problem (N = 2048): the
//       machine's peak reference in GFLOP/s.
//
// The last line of every mode is "RESULT key=value ..." for tools/bench/bench.

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/nn/Backend.hpp"
#include "bsmhunt/nn/Collective.hpp"
#include "bsmhunt/nn/Network.hpp"
#include "bsmhunt/nn/Tensor.hpp"
#include "bsmhunt/nn/Trainer.hpp"

namespace nn = bsmhunt::nn;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  uint64_t rows = uint64_t(1) << 20;
  uint64_t batch = 4096;
  uint64_t epochs = 3;
  uint64_t steps = 0;  // --phases: 0 = one epoch
  int threads = 1;
  uint64_t seed = 1;
  std::size_t size = 2048;
  bool sgemm_peak = false, phases = false;
};

constexpr std::size_t kInputs = 25;
const std::vector<std::size_t> kHidden{64, 64};

[[noreturn]] void usage(const std::string& why) {
  fmt::print(stderr,
             "train_bench: {}\nusage: train_bench [--rows N] [--batch B] [--epochs E] [--threads T] [--seed S]\n"
             "       train_bench --phases [--rows N] [--batch B] [--threads T] [--steps K]\n"
             "       train_bench --sgemm-peak [--threads T] [--size N]\n",
             why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> uint64_t {
      if (i + 1 >= argc) usage(fmt::format("{} needs a value", a));
      char* end = nullptr;
      const unsigned long long v = std::strtoull(argv[++i], &end, 10);
      if (!end || *end) usage(fmt::format("{} {}: not a non-negative integer", a, argv[i]));
      return v;
    };
    if (a == "--rows") o.rows = value();
    else if (a == "--batch") o.batch = value();
    else if (a == "--epochs") o.epochs = value();
    else if (a == "--steps") o.steps = value();
    else if (a == "--threads") o.threads = int(value());
    else if (a == "--seed") o.seed = value();
    else if (a == "--size") o.size = value();
    else if (a == "--sgemm-peak") o.sgemm_peak = true;
    else if (a == "--phases") o.phases = true;
    else if (a == "--help" || a == "-h") usage("help");
    else usage(fmt::format("unknown option {}", a));
  }
  if (o.rows == 0 || o.batch == 0 || o.epochs == 0 || o.threads <= 0 || o.size == 0) usage("zero is not allowed here");
  return o;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// GEMM flops of one training row: forward 2 sum(in out); backward dW = x^T dy for
// every dense layer and dx = dy W^T for all but the first (its input needs none).
struct Flops {
  double forward = 0, backward_dw = 0, backward_dx = 0;
  double total() const { return forward + backward_dw + backward_dx; }
};
Flops flops_per_row(const nn::Network& net) {
  Flops f;
  for (std::size_t i = 0; i < net.layers().size(); ++i) {
    const auto& l = *net.layers()[i];
    if (l.kind() != "dense") continue;
    const double mac = double(l.input_width()) * double(l.output_width());
    f.forward += 2 * mac;
    f.backward_dw += 2 * mac;
    if (i > 0) f.backward_dx += 2 * mac;
  }
  return f;
}

// Two Gaussian blobs in 25 dimensions (signal mean +0.25, background -0.25, unit
// width: separable but not trivially), label 0/1 alternating at random, weights
// uniform in (0.1, 2): the weighted loss has work to do.
nn::Shard make_data(uint64_t rows, uint64_t seed) {
  nn::Shard s;
  s.features = kInputs;
  s.x.resize(rows * kInputs);
  s.target.resize(rows);
  s.weight.resize(rows);
  for (uint64_t r = 0; r < rows; ++r) {
    bsmhunt::CounterRng rng(seed, bsmhunt::stable_hash("train_bench"), r);
    const bool signal = rng.uniform() < 0.5;
    const double mean = signal ? 0.25 : -0.25;
    for (std::size_t c = 0; c < kInputs; ++c) s.x[r * kInputs + c] = float(rng.normal(mean, 1.0));
    s.target[r] = signal ? 1.0f : 0.0f;
    s.weight[r] = float(rng.uniform(0.1, 2.0));
  }
  s.global_offset = 0;
  s.global_rows = rows;
  return s;
}

nn::NetworkSpec mlp_spec() {
  nn::NetworkSpec spec;
  spec.model = "mlp";
  spec.inputs = kInputs;
  spec.hidden = kHidden;
  spec.outputs = 1;
  spec.activation = nn::Activation::relu;
  return spec;
}

nn::TrainerConfig trainer_config(const Options& o, uint64_t epochs) {
  nn::TrainerConfig cfg;
  cfg.loss.kind = nn::LossKind::bce_logits;
  cfg.optimizer = nn::OptimizerKind::adam;
  cfg.learning_rate = 1e-3;
  cfg.epochs = epochs;
  cfg.batch_size = o.batch;
  cfg.patience = 0;
  cfg.restore_best = false;
  cfg.seed = o.seed;
  return cfg;
}

// ------------------------------------------------------------------ modes

int sgemm_peak(const Options& o) {
  nn::set_cpu_threads(o.threads);
  auto be = nn::make_backend(nn::DeviceKind::cpu);
  const std::size_t n = o.size;
  nn::Tensor a(*be, n, n), b(*be, n, n), c(*be, n, n);
  std::vector<float> h(n * n);
  bsmhunt::CounterRng rng(o.seed, bsmhunt::stable_hash("sgemm"), 0);
  for (auto& v : h) v = float(rng.uniform(-1, 1));
  a.from_host(h), b.from_host(h);
  c.zero();
  be->gemm(false, false, n, n, n, 1.0f, a.data(), b.data(), 0.0f, c.data());  // warm-up (threads, pages)
  std::vector<double> t;
  const auto start = Clock::now();
  while (t.size() < 5 || (seconds_since(start) < 3.0 && t.size() < 50)) {
    const auto t0 = Clock::now();
    be->gemm(false, false, n, n, n, 1.0f, a.data(), b.data(), 0.0f, c.data());
    t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  const double flop = 2.0 * double(n) * double(n) * double(n);
  const double best = flop / t.front() / 1e9, median = flop / t[t.size() / 2] / 1e9;
  fmt::print("sgemm {0}x{0}x{0} (nn::Backend::gemm -> cblas_sgemm), {1} thread(s), {2} runs: best {3:.1f} GFLOP/s, "
             "median {4:.1f} GFLOP/s\n",
             n, o.threads, t.size(), best, median);
  fmt::print("RESULT mode=sgemm threads={} size={} gflops_best={:.2f} gflops_median={:.2f}\n", o.threads, n, best,
             median);
  return 0;
}

int train(const Options& o) {
  nn::set_cpu_threads(o.threads);
  auto be = nn::make_backend(nn::DeviceKind::cpu);
  const double rss_start = peak_rss_mb();
  const nn::Shard data = make_data(o.rows, o.seed);
  const double rss_data = peak_rss_mb();
  nn::Shard validation;  // none: no evaluation pass inside the timed epochs
  validation.features = kInputs;
  nn::Network net(*be, mlp_spec());
  net.initialize(o.seed);
  nn::LocalCollective local;
  const uint64_t epochs = o.epochs + 1;  // + warm-up
  nn::Trainer trainer(*be, net, local, trainer_config(o, epochs), data, validation);
  const double rss_trainer = peak_rss_mb();

  std::vector<Clock::time_point> epoch_ends;
  std::vector<double> losses;
  nn::TrainerHooks hooks;
  hooks.epoch_end = [&](const nn::EpochRecord& r, bool) {
    epoch_ends.push_back(Clock::now());
    losses.push_back(r.train_loss);
  };
  const auto t0 = Clock::now();
  trainer.run(hooks);
  const double total = seconds_since(t0);
  if (epoch_ends.size() != epochs) {
    fmt::print(stderr, "train_bench: expected {} epochs, saw {}\n", epochs, epoch_ends.size());
    return 1;
  }
  const double timed = std::chrono::duration<double>(epoch_ends.back() - epoch_ends.front()).count();
  const double samples = double(o.rows) * double(o.epochs);
  const double rate = samples / timed;
  const Flops f = flops_per_row(net);
  const double gflops = rate * f.total() / 1e9;
  const double data_mb = double(data.x.size() + data.target.size() + data.weight.size()) * 4.0 / 1048576.0;

  std::string arch;
  for (const auto& l : net.layers()) arch += (arch.empty() ? "" : "; ") + l->describe();
  fmt::print("train_bench: mlp [{}], {} parameters; Adam (lr 1e-3), weighted BCE from logits\n", arch,
             net.parameter_count());
  fmt::print("  data: {} rows x {} features (two Gaussian blobs, weights in (0.1, 2)), {:.1f} MB of x + target + "
             "weight; batch {}, {} steps/epoch; {} BLAS thread(s)\n",
             o.rows, kInputs, data_mb, o.batch, trainer.steps_per_epoch(), o.threads);
  fmt::print("  epochs: 1 warm-up ({:.2f} s) + {} timed ({:.2f} s); train loss per epoch:", 
             std::chrono::duration<double>(epoch_ends.front() - t0).count(), o.epochs, timed);
  for (double l : losses) fmt::print(" {:.4f}", l);
  fmt::print("\n  {:.4g} samples/s; GEMM flops/row {:.0f} (forward {:.0f}, dW {:.0f}, dx {:.0f}) -> {:.1f} GFLOP/s\n",
             rate, f.total(), f.forward, f.backward_dw, f.backward_dx, gflops);
  fmt::print("  peak RSS {:.0f} MB (at start {:.0f}, after building the data {:.0f}, after the Trainer copied it "
             "{:.0f})\n",
             peak_rss_mb(), rss_start, rss_data, rss_trainer);
  fmt::print("RESULT mode=train threads={} rows={} batch={} epochs={} params={} samples_per_s={:.1f} "
             "flops_per_row={:.0f} gflops={:.3f} peak_rss_mb={:.0f} data_mb={:.1f} final_loss={:.5f} total_s={:.2f}\n",
             o.threads, o.rows, o.batch, o.epochs, net.parameter_count(), rate, f.total(), gflops, peak_rss_mb(),
             data_mb, losses.back(), total);
  return 0;
}

// The relu backward as CpuBackend writes it (dy read only where y > 0), and the same
// with the load made unconditional, which lets the compiler vectorise it without a
// branch: a what-if for the engine, measured beside the engine's call.
void relu_backward_unconditional(const float* y, const float* dy, float* dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float d = dy[i];
    dx[i] = y[i] > 0.f ? d : 0.f;
  }
}

// One training step spelled out with Backend calls in the order nn::Trainer and
// nn::Network issue them, each phase timed separately. Not the engine's code path:
// a breakdown to compare with the Trainer's measured step time.
int phases(const Options& o) {
  nn::set_cpu_threads(o.threads);
  auto be_ptr = nn::make_backend(nn::DeviceKind::cpu);
  nn::Backend& be = *be_ptr;
  const nn::Shard data = make_data(o.rows, o.seed);
  const std::size_t f = kInputs, B = o.batch;
  std::vector<std::size_t> widths{f};
  for (auto h : kHidden) widths.push_back(h);
  widths.push_back(1);
  const std::size_t L = widths.size() - 1;
  std::vector<std::size_t> off{0};
  for (std::size_t i = 0; i < L; ++i) off.push_back(off.back() + widths[i] * widths[i + 1] + widths[i + 1]);
  const std::size_t np = off.back();

  nn::Tensor train_x(be, o.rows, f), train_t(be, o.rows, 1), train_w(be, o.rows, 1);
  be.upload(data.x.data(), train_x.data(), data.x.size());
  be.upload(data.target.data(), train_t.data(), data.target.size());
  be.upload(data.weight.data(), train_w.data(), data.weight.size());
  nn::Tensor params(be, 1, np), grads(be, 1, np), m1(be, 1, np), m2(be, 1, np);
  {
    std::vector<float> p(np);
    bsmhunt::CounterRng rng(o.seed, 7, 0);
    for (std::size_t i = 0; i < L; ++i) {
      const double lim = std::sqrt(6.0 / double(widths[i]));
      for (std::size_t k = 0; k < widths[i] * widths[i + 1]; ++k) p[off[i] + k] = float(rng.uniform(-lim, lim));
    }
    params.from_host(p);
  }
  m1.zero(), m2.zero();
  nn::Tensor bx(be, B, f), bt(be, B, 1), bw(be, B, 1), d_out(be, B, 1), row_loss(be, B, 1);
  std::vector<nn::Tensor> act;
  for (std::size_t i = 0; i < L; ++i) act.emplace_back(be, B, widths[i + 1]);
  nn::Tensor ga(be, B, 64), gb(be, B, 64);
  nn::IndexBuffer index(be), keys(be);
  std::vector<uint32_t> host_index, host_keys;

  enum Phase { shuffle, gather, fwd_gemm, fwd_epilogue, loss, bwd_act, bwd_dw, bwd_db, bwd_dx, adam, kPhases };
  const char* names[kPhases] = {"shuffle + batch index (host)", "gather rows (x, target, weight)",
                                "forward GEMMs",                "forward bias + activation",
                                "loss + reduce",                "backward activation",
                                "backward GEMMs dW = x^T dy",   "backward bias sums",
                                "backward GEMMs dx = dy W^T",   "Adam update"};
  double t[kPhases] = {};
  std::vector<double> gemm_t(3 * L, 0.0);  // per layer: forward, dW, dx
  const uint64_t steps_per_epoch = (o.rows + B - 1) / B;
  const uint64_t steps = o.steps ? o.steps : steps_per_epoch;
  const uint64_t warmup = std::min<uint64_t>(steps_per_epoch, 20);
  auto tick = [](Clock::time_point& last) {
    const auto now = Clock::now();
    const double d = std::chrono::duration<double>(now - last).count();
    last = now;
    return d;
  };
  const auto run_start = Clock::now();
  for (uint64_t s = 0; s < warmup + steps; ++s) {
    const bool timed = s >= warmup;
    const uint64_t step = s;
    const uint64_t epoch = step / steps_per_epoch, j = step % steps_per_epoch;
    const uint64_t start = j * B, count = std::min<uint64_t>(B, o.rows - start);
    auto last = Clock::now();
    double dt[kPhases] = {};
    const nn::Shuffle sh(o.rows, o.seed, epoch);
    host_index.clear(), host_keys.clear();
    for (uint64_t p = start; p < start + count; ++p)
      host_index.push_back(uint32_t(sh(p))), host_keys.push_back(uint32_t(p - start));
    index.assign(host_index), keys.assign(host_keys);
    dt[shuffle] += tick(last);
    const std::size_t rows = count;
    be.gather_rows(train_x.data(), f, index.data(), rows, bx.data());
    be.gather_rows(train_w.data(), 1, index.data(), rows, bw.data());
    be.gather_rows(train_t.data(), 1, index.data(), rows, bt.data());
    dt[gather] += tick(last);
    const float* in = bx.data();
    for (std::size_t i = 0; i < L; ++i) {
      const float* w = params.data() + off[i];
      const std::size_t ni = widths[i], no = widths[i + 1];
      be.gemm(false, false, rows, no, ni, 1.0f, in, w, 0.0f, act[i].data());
      const double g = tick(last);
      dt[fwd_gemm] += g;
      if (timed) gemm_t[3 * i] += g;
      be.bias_activation(act[i].data(), w + ni * no, act[i].data(), rows, no,
                         i + 1 < L ? nn::Activation::relu : nn::Activation::linear);
      dt[fwd_epilogue] += tick(last);
      in = act[i].data();
    }
    nn::LossParams lp;
    be.loss(lp, act[L - 1].data(), bt.data(), bw.data(), rows, 1, float(1.0 / double(count)), d_out.data(),
            row_loss.data());
    volatile double sink = be.reduce(row_loss.data(), rows, nn::Reduction::sum);
    (void)sink;
    dt[loss] += tick(last);
    float* dy = d_out.data();
    for (std::size_t i = L; i-- > 0;) {
      const float* x = i == 0 ? bx.data() : act[i - 1].data();
      const std::size_t ni = widths[i], no = widths[i + 1];
      float* g = grads.data() + off[i];
      if (i + 1 < L) be.activation_backward(act[i].data(), dy, dy, rows * no, nn::Activation::relu);
      dt[bwd_act] += tick(last);
      be.gemm(true, false, ni, no, rows, 1.0f, x, dy, 0.0f, g);
      double gg = tick(last);
      dt[bwd_dw] += gg;
      if (timed) gemm_t[3 * i + 1] += gg;
      be.column_sums(dy, nullptr, rows, no, g + ni * no, false);
      dt[bwd_db] += tick(last);
      float* dx = nullptr;
      if (i > 0) {
        dx = (dy == ga.data()) ? gb.data() : ga.data();
        be.gemm(false, true, rows, ni, no, 1.0f, dy, params.data() + off[i], 0.0f, dx);
        gg = tick(last);
        dt[bwd_dx] += gg;
        if (timed) gemm_t[3 * i + 2] += gg;
      }
      dy = dx;
    }
    be.adam_update(params.data(), grads.data(), m1.data(), m2.data(), np, 1e-3f, 0.9f, 0.999f, 1e-7f, 0.0f, false,
                   step + 1);
    dt[adam] += tick(last);
    if (timed)
      for (int p = 0; p < kPhases; ++p) t[p] += dt[p];
  }
  (void)run_start;
  // What-if: the relu backward of layer 1 (rows x 64) through the engine and through
  // relu_backward_unconditional, same inputs, in place as Network does it.
  double relu_engine = 0, relu_alt = 0;
  {
    const std::size_t n = B * widths[1];
    std::vector<float> dy0(n);
    be.download(act[0].data(), dy0.data(), n);
    for (std::size_t i = 0; i < n; ++i) dy0[i] = dy0[i] * 1e-3f - 1e-4f;
    nn::Tensor d(be, B, widths[1]);
    const int reps = 50;
    for (int r = 0; r < reps + 2; ++r) {
      be.upload(dy0.data(), d.data(), n);
      auto t0 = Clock::now();
      be.activation_backward(act[0].data(), d.data(), d.data(), n, nn::Activation::relu);
      if (r >= 2) relu_engine += seconds_since(t0);
      std::vector<float> check = d.to_host();
      be.upload(dy0.data(), d.data(), n);
      t0 = Clock::now();
      relu_backward_unconditional(act[0].data(), d.data(), d.data(), n);
      if (r >= 2) relu_alt += seconds_since(t0);
      if (d.to_host() != check) throw std::runtime_error("relu what-if differs from the engine");
    }
    relu_engine /= reps, relu_alt /= reps;
  }
  double sum = 0;
  for (double v : t) sum += v;
  const double per_step_us = sum / double(steps) * 1e6;
  fmt::print("train_bench --phases: mlp 25-64-64-1, batch {}, {} rows, {} timed steps after {} warm-up, {} BLAS "
             "thread(s)\n",
             B, o.rows, steps, warmup, o.threads);
  fmt::print("| phase | us/step | share |\n|---|---|---|\n");
  for (int p = 0; p < kPhases; ++p)
    fmt::print("| {} | {:.1f} | {:.1f}% |\n", names[p], t[p] / double(steps) * 1e6, 100.0 * t[p] / sum);
  fmt::print("| total | {:.1f} | 100% ({:.4g} samples/s) |\n", per_step_us, double(B) / (per_step_us * 1e-6));
  fmt::print("\nGEMMs per layer (m x n x k as cblas sees them, row-major):\n\n| GEMM | shape | us/step | GFLOP/s |\n"
             "|---|---|---|---|\n");
  std::string result;
  for (std::size_t i = 0; i < L; ++i) {
    const std::size_t ni = widths[i], no = widths[i + 1];
    const double flop = 2.0 * double(B) * double(ni) * double(no);
    const double us[3] = {gemm_t[3 * i] / double(steps) * 1e6, gemm_t[3 * i + 1] / double(steps) * 1e6,
                          gemm_t[3 * i + 2] / double(steps) * 1e6};
    fmt::print("| layer {} forward x W | NN {}x{}x{} | {:.1f} | {:.1f} |\n", i, B, no, ni, us[0], flop / us[0] / 1e3);
    fmt::print("| layer {} dW = x^T dy | TN {}x{}x{} | {:.1f} | {:.1f} |\n", i, ni, no, B, us[1], flop / us[1] / 1e3);
    if (i > 0)
      fmt::print("| layer {} dx = dy W^T | NT {}x{}x{} | {:.1f} | {:.1f} |\n", i, B, ni, no, us[2],
                 flop / us[2] / 1e3);
  }
  fmt::print("\nrelu backward of one {}x{} activation (in place): engine CpuBackend::activation_backward {:.1f} us, "
             "same loop with the dy load unconditional (vectorisable, branch-free) {:.1f} us\n",
             B, widths[1], relu_engine * 1e6, relu_alt * 1e6);
  fmt::print("RESULT mode=phases threads={} batch={} us_per_step={:.1f}", o.threads, B, per_step_us);
  const char* keys_out[kPhases] = {"shuffle", "gather", "fwd_gemm", "fwd_epilogue", "loss",
                                   "bwd_act", "bwd_dw",  "bwd_db",   "bwd_dx",       "adam"};
  for (int p = 0; p < kPhases; ++p) fmt::print(" {}_us={:.1f}", keys_out[p], t[p] / double(steps) * 1e6);
  fmt::print("\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    if (o.sgemm_peak) return sgemm_peak(o);
    if (o.phases) return phases(o);
    return train(o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "train_bench: {}\n", e.what());
    return 1;
  }
}
