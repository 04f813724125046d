// Every backend op against a scalar reference; the CUDA backend against the CPU
// backend where a GPU is visible (on this machine and in CI there is none: the
// CUDA code is compiled and linked, and the comparison runs on the lent GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <limits>
#include <utility>
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

// A network's output layer: one output column (n = 1), and its input gradient (k = 1).
// The backend computes these without BLAS; each transpose, alpha and beta (beta = 0
// must not read C: NaN there), and k not a multiple of the vector width.
TEST(CpuBackend, SkinnyGemmsMatchDefinitionForAllTransposes) {
  auto cpu = make_backend(DeviceKind::cpu);
  const std::size_t shapes[][3] = {{37, 1, 53}, {64, 1, 4096}, {4096, 1, 64}, {37, 19, 1}, {1, 1, 7}, {5, 1, 1}};
  for (const auto& shape : shapes) {
    const std::size_t m = shape[0], n = shape[1], k = shape[2];
    const auto a = random_vector(m * k, 4), b = random_vector(k * n, 5);
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (float beta : {0.0f, 2.0f}) {
          auto c0 = random_vector(m * n, 6);
          if (beta == 0.f) std::fill(c0.begin(), c0.end(), std::numeric_limits<float>::quiet_NaN());
          const auto ref = naive_gemm(ta, tb, m, n, k, a, b);
          const auto c = device_gemm(*cpu, ta, tb, m, n, k, a, b, c0, 0.5f, beta);
          for (std::size_t i = 0; i < c.size(); ++i)
            ASSERT_NEAR(c[i], 0.5f * ref[i] + (beta == 0.f ? 0.f : beta * c0[i]), 2e-6f * float(k) + 1e-5f)
                << m << "x" << n << "x" << k << " ta=" << ta << " tb=" << tb << " beta=" << beta << " i=" << i;
        }
  }
}

// predict scores rows in passes whose size depends on the rank's share; a row's score
// must not: the one-output product of a row is the same alone or among others.
TEST(CpuBackend, OneOutputProductOfARowDoesNotDependOnTheOtherRows) {
  auto cpu = make_backend(DeviceKind::cpu);
  const std::size_t m = 301, k = 93;
  const auto a = random_vector(m * k, 7), b = random_vector(k, 8);
  const auto all = device_gemm(*cpu, false, false, m, 1, k, a, b, std::vector<float>(m), 1.0f, 0.0f);
  for (std::size_t i : {std::size_t(0), std::size_t(150), m - 1}) {
    const std::vector<float> row(a.begin() + long(i * k), a.begin() + long((i + 1) * k));
    const auto one = device_gemm(*cpu, false, false, 1, 1, k, row, b, std::vector<float>(1), 1.0f, 0.0f);
    EXPECT_EQ(one[0], all[i]) << "row " << i;
  }
}

// The dense-layer products are one FMA chain per element, so a row's result does not
// depend on how many rows share the call or where it sits (predict's passes, and so
// the rank count). OpenBLAS 0.3.21 on an AMD Zen 2 changed rows with the row count.
TEST(CpuBackend, ProductsAreTheScalarFmaChainWhateverTheRowsAround) {
  if (!cpu_has_own_gemm_kernels()) GTEST_SKIP() << "this CPU has no AVX2/FMA: products go to the BLAS";
  auto cpu = make_backend(DeviceKind::cpu);
  const std::size_t m = 301;
  const float alpha = 0.5f;  // a power of two: alpha s is exact, the chain is what is compared
  // n: whole 16-column tiles, an unmasked and a masked 8-column tail, both tails; k: up to
  // inner dimensions summed in parts through C (> 256 for A^T, > 512 otherwise).
  for (std::size_t n : {3, 16, 17, 24, 31, 64, 100})
    for (std::size_t k : {2, 7, 17, 64, 250, 700, 1500})
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          const auto a = random_vector(m * k, 11), b = random_vector(k * n, 12);
          const std::vector<float> nan_c(m * n, std::numeric_limits<float>::quiet_NaN());  // beta = 0: not read
          const auto whole = device_gemm(*cpu, ta, tb, m, n, k, a, b, nan_c, alpha, 0.0f);
          for (std::size_t i = 0; i < m; ++i)
            for (std::size_t j = 0; j < n; ++j) {
              float s = 0;
              for (std::size_t p = 0; p < k; ++p)
                s = std::fma(ta ? a[p * m + i] : a[i * k + p], tb ? b[j * k + p] : b[p * n + j], s);
              ASSERT_EQ(whole[i * n + j], alpha * s)
                  << n << "x" << k << " ta=" << ta << " tb=" << tb << " at " << i << "," << j;
            }
          if (ta) continue;  // a slice of rows of A^T is not a block of a
          for (const auto& [first, rows] : {std::pair<std::size_t, std::size_t>{0, 1}, {5, 7}, {150, 64}, {237, 64}}) {
            const std::vector<float> slice(a.begin() + long(first * k), a.begin() + long((first + rows) * k));
            const auto part = device_gemm(*cpu, ta, tb, rows, n, k, slice, b, std::vector<float>(rows * n), alpha, 0.0f);
            ASSERT_TRUE(std::equal(part.begin(), part.end(), whole.begin() + long(first * n)))
                << n << "x" << k << " tb=" << tb << " rows " << first << "+" << rows;
          }
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
