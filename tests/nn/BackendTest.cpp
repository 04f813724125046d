// Every backend op against a scalar reference; the CUDA backend against the CPU
// backend where a GPU is visible (on this machine and in CI there is none: the
// CUDA code is compiled and linked, and the comparison runs on the lent GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/nn/Backend.hpp"
#include "CudaOrSkip.hpp"

using namespace bsmhunt::nn;

namespace {
std::vector<float> random_vector(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(gen);
  return v;
}
// C = op(A) op(B) by the definition, in double.
std::vector<float> naive_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k,
                              const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> c(m * n);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double s = 0;
      for (std::size_t p = 0; p < k; ++p) s += double(ta ? a[p * m + i] : a[i * k + p]) * double(tb ? b[j * k + p] : b[p * n + j]);
      c[i * n + j] = float(s);
    }
  return c;
}

// Runs gemm on `be` with device buffers.
std::vector<float> device_gemm(Backend& be, bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k,
                               const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& c0,
                               float alpha, float beta) {
  float *da = be.allocate(a.size()), *db = be.allocate(b.size()), *dc = be.allocate(c0.size());
  be.upload(a.data(), da, a.size());
  be.upload(b.data(), db, b.size());
  be.upload(c0.data(), dc, c0.size());
  be.gemm(ta, tb, m, n, k, alpha, da, db, beta, dc);
  std::vector<float> c(c0.size());
  be.download(dc, c.data(), c.size());
  be.release(da), be.release(db), be.release(dc);
  return c;
}

std::vector<float> device_bias_activation(Backend& be, const std::vector<float>& x, const std::vector<float>& bias,
                                          std::size_t rows, std::size_t cols, Activation act) {
  float *dx = be.allocate(x.size()), *db = be.allocate(bias.size()), *dy = be.allocate(x.size());
  be.upload(x.data(), dx, x.size());
  be.upload(bias.data(), db, bias.size());
  be.bias_activation(dx, db, dy, rows, cols, act, 0.01f);
  std::vector<float> y(x.size());
  be.download(dy, y.data(), y.size());
  be.release(dx), be.release(db), be.release(dy);
  return y;
}
}  // namespace

TEST(CpuBackend, GemmMatchesDefinitionForAllTransposes) {
  auto cpu = make_backend(DeviceKind::cpu);
  const std::size_t m = 37, n = 19, k = 53;
  const auto a = random_vector(m * k, 1), b = random_vector(k * n, 2), c0 = random_vector(m * n, 3);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const auto ref = naive_gemm(ta, tb, m, n, k, a, b);
      const auto c = device_gemm(*cpu, ta, tb, m, n, k, a, b, c0, 0.5f, 2.0f);
      for (std::size_t i = 0; i < c.size(); ++i)
        ASSERT_NEAR(c[i], 0.5f * ref[i] + 2.0f * c0[i], 1e-4f) << "ta=" << ta << " tb=" << tb << " i=" << i;
    }
}

TEST(CpuBackend, BiasActivationMatchesReference) {
  auto cpu = make_backend(DeviceKind::cpu);
  const std::size_t rows = 13, cols = 7;
  const auto x = random_vector(rows * cols, 4), bias = random_vector(cols, 5);
  for (auto act : {Activation::linear, Activation::relu, Activation::leaky_relu, Activation::tanh, Activation::sigmoid}) {
    const auto y = device_bias_activation(*cpu, x, bias, rows, cols, act);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t j = 0; j < cols; ++j)
        ASSERT_FLOAT_EQ(y[r * cols + j], activate(x[r * cols + j] + bias[j], act, 0.01f));
  }
  // Hand values: relu(-0.5 + 0.2) = 0, sigmoid(0) = 1/2, tanh(1) = 0.7615942
  EXPECT_EQ(activate(-0.3f, Activation::relu, 0.01f), 0.0f);
  EXPECT_FLOAT_EQ(activate(0.0f, Activation::sigmoid, 0.01f), 0.5f);
  EXPECT_NEAR(activate(1.0f, Activation::tanh, 0.01f), 0.7615942f, 1e-6f);
  EXPECT_FLOAT_EQ(activate(-2.0f, Activation::leaky_relu, 0.01f), -0.02f);
}

TEST(CudaBackend, MatchesCpuWhereAGpuIsVisible) {
  {
    // Without a GPU, the error says why, for a user who asked for --device cuda.
    std::string reason;
    if (!::bsmhunt::nn::test::cuda_backend_or_reason(reason)) {
      EXPECT_NE(reason.find("--device cuda"), std::string::npos) << reason;
    }
  }
  BSMHUNT_CUDA_BACKEND_OR_SKIP(gpu);
  auto cpu = make_backend(DeviceKind::cpu);
  const std::size_t m = 257, n = 129, k = 65;
  const auto a = random_vector(m * k, 6), b = random_vector(k * n, 7), c0 = random_vector(m * n, 8);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const auto want = device_gemm(*cpu, ta, tb, m, n, k, a, b, c0, 1.0f, 0.5f);
      const auto got = device_gemm(*gpu, ta, tb, m, n, k, a, b, c0, 1.0f, 0.5f);
      for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-3f) << i;
    }
  const auto x = random_vector(m * n, 9), bias = random_vector(n, 10);
  for (auto act : {Activation::linear, Activation::relu, Activation::leaky_relu, Activation::tanh, Activation::sigmoid}) {
    const auto want = device_bias_activation(*cpu, x, bias, m, n, act);
    const auto got = device_bias_activation(*gpu, x, bias, m, n, act);
    for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6f) << i;
  }
}

TEST(Backend, ParseDevice) {
  EXPECT_EQ(parse_device("cpu"), DeviceKind::cpu);
  EXPECT_EQ(parse_device("cuda"), DeviceKind::cuda);
  EXPECT_THROW(parse_device("tpu"), bsmhunt::InputError);
}
