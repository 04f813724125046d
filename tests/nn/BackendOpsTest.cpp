// Every element-wise / reduction op of the backend interface: the CPU backend
// against scalar formulas computed here by hand, and every op of the CUDA backend
// against the CPU backend where a GPU is visible (the test says why it skips).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <functional>
#include <random>
#include <vector>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/nn/Backend.hpp"
#include "CudaOrSkip.hpp"
#include "bsmhunt/nn/DeviceMath.hpp"

using namespace bsmhunt::nn;

namespace {

std::vector<float> random_values(std::size_t n, unsigned seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(gen);
  return v;
}

// Host inputs in, host outputs out, on any backend: the op sees device pointers.
struct DeviceRun {
  Backend& be;
  std::vector<float*> buffers;
  std::vector<std::size_t> sizes;
  explicit DeviceRun(Backend& b) : be(b) {}
  ~DeviceRun() {
    for (auto* p : buffers) be.release(p);
  }
  float* in(const std::vector<float>& host) {
    float* d = be.allocate(std::max<std::size_t>(host.size(), 1));
    if (!host.empty()) be.upload(host.data(), d, host.size());
    buffers.push_back(d), sizes.push_back(host.size());
    return d;
  }
  std::vector<float> out(const float* d, std::size_t n) {
    std::vector<float> h(n);
    be.download(d, h.data(), n);
    return h;
  }
};

// All ops exercised in one scenario; returns every output concatenated, so two
// backends can be compared value by value.
std::vector<float> all_ops(Backend& be) {
  DeviceRun run(be);
  const std::size_t rows = 67, cols = 13, n = rows * cols;
  const auto xh = random_values(n, 1), yh = random_values(n, 2), bh = random_values(cols, 3);
  std::vector<float> result;
  auto append = [&](const std::vector<float>& v) { result.insert(result.end(), v.begin(), v.end()); };
  float* x = run.in(xh);
  float* y = run.in(yh);
  float* b = run.in(bh);
  float* z = run.in(std::vector<float>(n, 0.f));
  be.fill(z, n, 0.25f);
  append(run.out(z, n));
  be.axpy(-1.5f, x, z, n);
  append(run.out(z, n));
  be.multiply(x, y, z, n);
  append(run.out(z, n));
  for (auto r : {Reduction::sum, Reduction::sum_abs, Reduction::sum_squares}) result.push_back(float(be.reduce(x, n, r)));
  for (auto act : {Activation::linear, Activation::relu, Activation::leaky_relu, Activation::tanh, Activation::sigmoid}) {
    be.bias_activation(x, b, z, rows, cols, act, 0.01f);
    append(run.out(z, n));
    be.activation_backward(z, y, z, n, act, 0.01f);
    append(run.out(z, n));
  }
  float* sums = run.in(std::vector<float>(2 * cols, 0.f));
  be.column_sums(x, nullptr, rows, cols, sums, false);
  be.column_sums(x, y, rows, cols, sums + cols, false);
  be.column_sums(x, nullptr, rows, cols, sums + cols, true);
  append(run.out(sums, 2 * cols));
  std::vector<uint32_t> index{5, 0, 66, 5, 17};
  auto* idx = static_cast<uint32_t*>(be.allocate_bytes(index.size() * 4));
  be.to_device(index.data(), idx, index.size() * 4);
  be.gather_rows(x, cols, idx, index.size(), z);
  append(run.out(z, index.size() * cols));
  std::vector<uint32_t> keys(rows);
  for (std::size_t r = 0; r < rows; ++r) keys[r] = uint32_t(3 * r + 1);
  auto* dkeys = static_cast<uint32_t*>(be.allocate_bytes(rows * 4));
  be.to_device(keys.data(), dkeys, rows * 4);
  float* mask = run.in(std::vector<float>(n, 0.f));
  be.dropout(x, z, mask, rows, cols, 0.3f, 12345, dkeys);
  append(run.out(z, n)), append(run.out(mask, n));
  // Losses on logits with labels, soft targets and classes.
  std::vector<float> labels(rows), classes(rows), w = random_values(rows, 7, 0.1f, 2.f);
  for (std::size_t r = 0; r < rows; ++r) labels[r] = float(r % 2), classes[r] = float(r % cols);
  float* lab = run.in(labels);
  float* cls = run.in(classes);
  float* wd = run.in(w);
  float* grad = run.in(std::vector<float>(n, 0.f));
  float* row_loss = run.in(std::vector<float>(rows, 0.f));
  for (LossParams p : {LossParams{LossKind::bce_logits, 0.f}, LossParams{LossKind::bce_logits, 0.1f},
                       LossParams{LossKind::focal, 0.f, 2.f, 0.25f}, LossParams{LossKind::softmax_ce, 0.1f},
                       LossParams{LossKind::mse}}) {
    const std::size_t c = (p.kind == LossKind::softmax_ce || p.kind == LossKind::mse) ? cols : 1;
    const float* t = p.kind == LossKind::softmax_ce ? cls : (p.kind == LossKind::mse ? y : lab);
    const float* xin = c == 1 ? run.in(random_values(rows, 8, -4.f, 4.f)) : x;
    be.loss(p, xin, t, wd, rows, c, 0.5f, grad, row_loss);
    append(run.out(grad, rows * c)), append(run.out(row_loss, rows));
  }
  // Batch normalisation.
  float* mean = run.in(std::vector<float>(cols));
  float* inv_std = run.in(std::vector<float>(cols));
  float* running = run.in(std::vector<float>(2 * cols, 1.f));
  float* xhat = run.in(std::vector<float>(n));
  float* gamma = run.in(random_values(cols, 9, 0.5f, 1.5f));
  float* shift = run.in(random_values(cols, 10));
  be.shifted_column_sums(x, shift, rows, cols, sums, sums + cols);
  append(run.out(sums, 2 * cols));
  be.batchnorm_statistics(sums, sums + cols, shift, double(rows), cols, 1e-5f, 0.1f, mean, inv_std, running,
                          running + cols);
  be.batchnorm_normalize(x, mean, inv_std, gamma, b, rows, cols, xhat, z);
  append(run.out(mean, cols)), append(run.out(inv_std, cols)), append(run.out(running, 2 * cols));
  append(run.out(xhat, n)), append(run.out(z, n));
  be.column_sums(y, xhat, rows, cols, sums, false);
  be.column_sums(y, nullptr, rows, cols, sums + cols, false);
  be.batchnorm_backward(y, xhat, inv_std, gamma, sums + cols, sums, double(rows), rows, cols, z);
  append(run.out(z, n));
  // Regularisation and optimisers.
  float* w1 = run.in(xh);
  float* g1 = run.in(yh);
  be.add_regularization_gradient(w1, g1, n, 0.01f, 0.02f);
  append(run.out(g1, n));
  float* m1 = run.in(std::vector<float>(n, 0.f));
  float* v1 = run.in(std::vector<float>(n, 0.f));
  for (uint64_t step = 1; step <= 3; ++step) be.adam_update(w1, g1, m1, v1, n, 1e-2f, 0.9f, 0.999f, 1e-7f, 0.01f, step == 2, step);
  append(run.out(w1, n)), append(run.out(m1, n)), append(run.out(v1, n));
  float* w2 = run.in(xh);
  be.sgd_update(w2, g1, m1, n, 0.1f, 0.9f, 0.001f, true);
  be.sgd_update(w2, g1, m1, n, 0.1f, 0.9f, 0.0f, false);
  append(run.out(w2, n));
  be.copy(w2, z, n);
  append(run.out(z, n));
  be.release(idx), be.release(dkeys);
  return result;
}

}  // namespace

TEST(CpuBackendOps, ElementwiseAndReductionsByHand) {
  auto be = make_backend(DeviceKind::cpu);
  DeviceRun run(*be);
  float* x = run.in({1.f, -2.f, 3.f, -4.f});
  float* y = run.in({0.5f, 0.5f, 2.f, 1.f});
  EXPECT_DOUBLE_EQ(be->reduce(x, 4, Reduction::sum), -2.0);
  EXPECT_DOUBLE_EQ(be->reduce(x, 4, Reduction::sum_abs), 10.0);
  EXPECT_DOUBLE_EQ(be->reduce(x, 4, Reduction::sum_squares), 30.0);
  be->axpy(2.f, x, y, 4);
  EXPECT_EQ(run.out(y, 4), (std::vector<float>{2.5f, -3.5f, 8.f, -7.f}));
  // column sums of the 2x2 matrices [[1,-2],[3,-4]] and [[1,-2],[3,-4]] * [[2.5,-3.5],[8,-7]]
  float* s = run.in({0.f, 0.f});
  be->column_sums(x, nullptr, 2, 2, s, false);
  EXPECT_EQ(run.out(s, 2), (std::vector<float>{4.f, -6.f}));
  be->column_sums(x, y, 2, 2, s, false);
  EXPECT_EQ(run.out(s, 2), (std::vector<float>{2.5f + 24.f, 7.f + 28.f}));
}

// The ops the CUDA comparison covers but no hand-made value did.
TEST(CpuBackendOps, FillCopyMultiplyGatherRegularisationByHand) {
  auto be = make_backend(DeviceKind::cpu);
  DeviceRun run(*be);
  float* y = run.in(std::vector<float>(5, 0.f));
  be->fill(y, 4, 2.5f);  // only the first 4
  EXPECT_EQ(run.out(y, 5), (std::vector<float>{2.5f, 2.5f, 2.5f, 2.5f, 0.f}));
  float* x = run.in({1.f, -2.f, 3.f, -4.f, 5.f});
  be->copy(x, y, 3);
  EXPECT_EQ(run.out(y, 5), (std::vector<float>{1.f, -2.f, 3.f, 2.5f, 0.f}));
  float* z = run.in(std::vector<float>(5, 9.f));
  be->multiply(x, y, z, 5);  // {1, -2, 3, -4, 5} * {1, -2, 3, 2.5, 0}
  EXPECT_EQ(run.out(z, 5), (std::vector<float>{1.f, 4.f, 9.f, -10.f, 0.f}));
  // rows 2, 0, 2 of a 3x2 matrix
  float* m = run.in({1.f, 2.f, 3.f, 4.f, 5.f, 6.f});
  const std::vector<uint32_t> ih = {2, 0, 2};
  auto* index = static_cast<uint32_t*>(be->allocate_bytes(ih.size() * 4));
  be->to_device(ih.data(), index, ih.size() * 4);
  float* rows = run.in(std::vector<float>(6, 0.f));
  be->gather_rows(m, 2, index, 3, rows);
  EXPECT_EQ(run.out(rows, 6), (std::vector<float>{5.f, 6.f, 1.f, 2.f, 5.f, 6.f}));
  be->release(index);
  // g += l1 sign(w) + 2 l2 w with l1 = 0.1, l2 = 0.25; sign(0) = 0
  float* w = run.in({2.f, -1.f, 0.f, 0.5f});
  float* g = run.in({1.f, 1.f, 1.f, 0.f});
  be->add_regularization_gradient(w, g, 4, 0.1f, 0.25f);
  const auto got = run.out(g, 4);
  EXPECT_FLOAT_EQ(got[0], 1.f + 0.1f + 1.0f);
  EXPECT_FLOAT_EQ(got[1], 1.f - 0.1f - 0.5f);
  EXPECT_FLOAT_EQ(got[2], 1.f);
  EXPECT_FLOAT_EQ(got[3], 0.1f + 0.25f);
}

TEST(CpuBackendOps, BatchnormStatisticsByHand) {
  auto be = make_backend(DeviceKind::cpu);
  DeviceRun run(*be);
  // Column values 1000, 1002, 1004, 1006: mean 1003, variance 5 (biased), 20/3 unbiased;
  // the shift 1000 keeps the sums small, any shift gives the same answer.
  float* x = run.in({1000.f, 1002.f, 1004.f, 1006.f});
  for (float s0 : {1000.f, 0.f, 1003.f}) {
    float* shift = run.in({s0});
    float* sums = run.in({0.f, 0.f});
    float* out = run.in({0.f, 0.f});
    float* running = run.in({0.f, 1.f});
    be->shifted_column_sums(x, shift, 4, 1, sums, sums + 1);
    be->batchnorm_statistics(sums, sums + 1, shift, 4.0, 1, 0.f, 0.5f, out, out + 1, running, running + 1);
    const auto o = run.out(out, 2), r = run.out(running, 2);
    EXPECT_FLOAT_EQ(o[0], 1003.f) << s0;
    EXPECT_NEAR(o[1], 1 / std::sqrt(5.0), 1e-6) << s0;
    EXPECT_FLOAT_EQ(r[0], 501.5f) << s0;
    EXPECT_NEAR(r[1], 0.5 + 0.5 * 20.0 / 3.0, 1e-5) << s0;
  }
}

TEST(CpuBackendOps, LossesByHand) {
  auto be = make_backend(DeviceKind::cpu);
  DeviceRun run(*be);
  // BCE from logits: z = 0, t = 1 -> ln 2, dl/dz = -1/2; z = 3, t = 0 -> 3 + ln(1 + e^-3) = 3.04858735
  float* z = run.in({0.f, 3.f, -40.f});
  float* t = run.in({1.f, 0.f, 1.f});
  float* w = run.in({1.f, 2.f, 1.f});
  float* g = run.in({0.f, 0.f, 0.f});
  float* l = run.in({0.f, 0.f, 0.f});
  be->loss({LossKind::bce_logits}, z, t, w, 3, 1, 1.f, g, l);
  auto lh = run.out(l, 3), gh = run.out(g, 3);
  EXPECT_NEAR(lh[0], std::log(2.0), 1e-6);
  EXPECT_NEAR(lh[1], 2 * 3.04858735, 1e-5);
  EXPECT_NEAR(lh[2], 40.0, 1e-5);  // no overflow far in the tail
  EXPECT_NEAR(gh[0], -0.5, 1e-7);
  EXPECT_NEAR(gh[1], 2 * (1 / (1 + std::exp(-3.0))), 1e-6);
  // Label smoothing 0.2: t = 1 -> 0.9; at z = 0 the loss stays ln 2 and dl/dz = 0.5 - 0.9.
  be->loss({LossKind::bce_logits, 0.2f}, z, t, nullptr, 1, 1, 1.f, g, l);
  EXPECT_NEAR(run.out(g, 1)[0], -0.4, 1e-7);
  // Focal, gamma 2, alpha 0.25, z = 0, y = 1: p_t = 1/2 -> 0.25 * 0.25 * ln 2.
  be->loss({LossKind::focal, 0.f, 2.f, 0.25f}, z, t, nullptr, 1, 1, 1.f, g, l);
  EXPECT_NEAR(run.out(l, 1)[0], 0.0625 * std::log(2.0), 1e-7);
  // Softmax CE with K = 3 equal logits: ln 3 for any class, gradient 1/3 - onehot.
  float* z3 = run.in({1.f, 1.f, 1.f});
  float* cls = run.in({2.f});
  float* g3 = run.in({0.f, 0.f, 0.f});
  be->loss({LossKind::softmax_ce}, z3, cls, nullptr, 1, 3, 1.f, g3, l);
  EXPECT_NEAR(run.out(l, 1)[0], std::log(3.0), 1e-6);
  auto g3h = run.out(g3, 3);
  EXPECT_NEAR(g3h[2], 1.0 / 3 - 1, 1e-6);
  EXPECT_NEAR(g3h[0], 1.0 / 3, 1e-6);
  // MSE: mean of (1-0)^2 and (3-1)^2 = 2.5
  float* pred = run.in({1.f, 3.f});
  float* tgt = run.in({0.f, 1.f});
  be->loss({LossKind::mse}, pred, tgt, nullptr, 1, 2, 1.f, g3, l);
  EXPECT_FLOAT_EQ(run.out(l, 1)[0], 2.5f);
  EXPECT_EQ(run.out(g3, 2), (std::vector<float>{1.f, 2.f}));
}

TEST(CpuBackendOps, OptimisersByHand) {
  auto be = make_backend(DeviceKind::cpu);
  DeviceRun run(*be);
  // Adam's first step moves every weight by lr * g / (|g| + eps).
  float* w = run.in({1.f, -1.f});
  float* g = run.in({0.5f, -2.f});
  float* m = run.in({0.f, 0.f});
  float* v = run.in({0.f, 0.f});
  be->adam_update(w, g, m, v, 2, 0.1f, 0.9f, 0.999f, 1e-7f, 0.f, false, 1);
  auto wh = run.out(w, 2);
  EXPECT_NEAR(wh[0], 0.9f, 1e-6);
  EXPECT_NEAR(wh[1], -0.9f, 1e-6);
  // AdamW: decoupled decay w (1 - lr wd) before the step.
  float* w2 = run.in({1.f});
  float* m2 = run.in({0.f});
  float* v2 = run.in({0.f});
  be->adam_update(w2, g, m2, v2, 1, 0.1f, 0.9f, 0.999f, 1e-7f, 0.5f, true, 1);
  EXPECT_NEAR(run.out(w2, 1)[0], 1.f * (1 - 0.05f) - 0.1f, 1e-6);
  // SGD momentum 0.9: v = g, w -= lr v; then v = 0.9 g + g.
  float* w3 = run.in({0.f});
  float* vel = run.in({0.f});
  be->sgd_update(w3, g, vel, 1, 0.1f, 0.9f, 0.f, false);
  be->sgd_update(w3, g, vel, 1, 0.1f, 0.9f, 0.f, false);
  EXPECT_NEAR(run.out(w3, 1)[0], -0.1f * 0.5f - 0.1f * 0.95f, 1e-7);
}

TEST(CpuBackendOps, DropoutKeepsTheExpectedFractionAndDependsOnTheRowKeyOnly) {
  auto be = make_backend(DeviceKind::cpu);
  const std::size_t rows = 2000, cols = 50;
  DeviceRun run(*be);
  float* x = run.in(std::vector<float>(rows * cols, 1.f));
  float* y = run.in(std::vector<float>(rows * cols));
  float* mask = run.in(std::vector<float>(rows * cols));
  std::vector<uint32_t> keys(rows);
  for (std::size_t r = 0; r < rows; ++r) keys[r] = uint32_t(r);
  be->dropout(x, y, mask, rows, cols, 0.25f, 99, keys.data());
  const auto yh = run.out(y, rows * cols);
  double kept = 0, total = 0;
  for (float v : yh) kept += v != 0.f, total += v;
  EXPECT_NEAR(kept / double(rows * cols), 0.75, 0.01);
  EXPECT_NEAR(total / double(rows * cols), 1.0, 0.02);  // inverted dropout keeps the mean
  // Row 7 alone, with key 7, gets the same mask as inside the full batch.
  uint32_t key7 = 7;
  be->dropout(x, y, mask, 1, cols, 0.25f, 99, &key7);
  const auto alone = run.out(y, cols);
  for (std::size_t c = 0; c < cols; ++c) EXPECT_EQ(alone[c], yh[7 * cols + c]);
}

TEST(CudaBackendOps, EveryOpMatchesTheCpuReference) {
  BSMHUNT_CUDA_BACKEND_OR_SKIP(gpu);
  auto cpu = make_backend(DeviceKind::cpu);
  const auto want = all_ops(*cpu);
  const auto got = all_ops(*gpu);
  ASSERT_EQ(got.size(), want.size());
  std::size_t worst = 0;
  double worst_error = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double err = std::fabs(double(got[i]) - want[i]) / (1.0 + std::fabs(double(want[i])));
    ASSERT_TRUE(std::isfinite(err)) << "value " << i << ": gpu " << got[i] << " cpu " << want[i];
    if (err > worst_error) worst_error = err, worst = i;
  }
  EXPECT_LT(worst_error, 2e-5) << "value " << worst << ": gpu " << got[worst] << " cpu " << want[worst];
}

TEST(CpuBackendOps, AllOpsGiveFiniteReproducibleValues) {
  // The reference the GPU is compared with must itself be sane: every value finite
  // (a NaN would make any comparison pass or fail for the wrong reason) and the same
  // bits from a second backend instance (BLAS threads must not change sums).
  auto cpu = make_backend(DeviceKind::cpu), other = make_backend(DeviceKind::cpu);
  const auto v = all_ops(*cpu);
  ASSERT_GT(v.size(), 100u);
  for (std::size_t i = 0; i < v.size(); ++i) ASSERT_TRUE(std::isfinite(v[i])) << "value " << i;
  EXPECT_EQ(v, all_ops(*other));
}

// 1e-30 * 1e-10 = 1e-40: a subnormal float in the default mode, 0 when flushed.
namespace {
float subnormal_product() {
  volatile float a = 1e-30f, b = 1e-10f;  // volatile: computed at run time, in the thread's mode
  return a * b;
}
}  // namespace

TEST(CpuBackend, FlushesSubnormalsWhileItLivesAndRestoresTheThreadsMode) {
#if !(defined(__x86_64__) || defined(__i386__))
  GTEST_SKIP() << "flush-to-zero is set through x86's MXCSR";
#endif
  const float before = subnormal_product();
  ASSERT_GT(before, 0.0f) << "the test thread should start with subnormals on";
  {
    auto outer = make_backend(DeviceKind::cpu);
    EXPECT_EQ(subnormal_product(), 0.0f);
    {
      auto inner = make_backend(DeviceKind::cpu);
      EXPECT_EQ(subnormal_product(), 0.0f);
    }
    EXPECT_EQ(subnormal_product(), 0.0f) << "the outer backend still lives";
    // The backend's own products read a subnormal input as zero (DAZ): 1e-40 x 1e30.
    std::vector<float> a{1e-40f}, b{1e30f}, c{-1.0f};
    outer->gemm(false, false, 1, 1, 1, 1.0f, a.data(), b.data(), 0.0f, c.data());
    EXPECT_EQ(c[0], 0.0f);
  }
  EXPECT_EQ(subnormal_product(), before) << "the thread's mode came back with the last backend";
}

// Debian 12's OpenBLAS falls back to SSE3 kernels ("Prescott") on Xeons newer than it
// knows; the backend must run the kernels the CPU's instruction set supports instead.
TEST(CpuBackend, BlasRunsKernelsForThisCpusInstructionSet) {
  auto backend = make_backend(DeviceKind::cpu);
  const std::string kernels = cpu_blas_kernels();
  if (kernels.empty()) GTEST_SKIP() << "the BLAS found at run time is not OpenBLAS";
  if (std::getenv("OPENBLAS_CORETYPE")) GTEST_SKIP() << "OPENBLAS_CORETYPE chose the kernels";
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    EXPECT_NE(kernels, "Prescott") << "OpenBLAS's SSE3 fallback on a CPU with AVX2 and FMA";
  }
#endif
  EXPECT_NE(backend->info().libraries.find(kernels), std::string::npos) << backend->info().libraries;
  // The chosen kernels compute: a 70 x 70 x 70 product against a double loop.
  const std::size_t n = 70;
  std::vector<float> a(n * n), b(n * n), c(n * n, 0.0f);
  for (std::size_t i = 0; i < n * n; ++i) a[i] = float(i % 13) - 6.0f, b[i] = float(i % 7) * 0.25f;
  backend->gemm(false, false, n, n, n, 1.0f, a.data(), b.data(), 0.0f, c.data());
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double expected = 0;
      for (std::size_t k = 0; k < n; ++k) expected += double(a[i * n + k]) * double(b[k * n + j]);
      ASSERT_EQ(double(c[i * n + j]), expected) << i << "," << j;  // small integers and quarters: exact
    }
}
