// nn::Network::predict_at_points: the parametrised classifier's inference at many
// points of its signal parameters, with the first layer's product over the other
// inputs shared by the points. Against the definition (each point written into the
// rows, then predict), and independent of the other points and of the chunking.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "CudaOrSkip.hpp"
#include "bsmhunt/nn/Network.hpp"

using namespace bsmhunt;
using namespace bsmhunt::nn;

namespace {

constexpr std::size_t kInputs = 9, kFirst = 5, kWidth = 2;  // features 0-4, parameters 5-6, indicators 7-8

NetworkSpec parametrised_mlp(bool batchnorm) {
  NetworkSpec s;
  s.inputs = kInputs;
  s.hidden = {16, 8};
  s.batchnorm = batchnorm;
  return s;
}

std::vector<float> random_rows(std::size_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> x(rows * kInputs);
  for (auto& v : x) v = normal(rng);
  return x;
}

std::vector<float> points_of(std::size_t points) {
  std::vector<float> p(points * kWidth);
  for (std::size_t i = 0; i < points; ++i) p[i * kWidth] = -1.5f + 0.37f * float(i), p[i * kWidth + 1] = float(i % 2);
  return p;
}

// The definition: the point's values written into every row, then an ordinary pass.
std::vector<float> by_definition(Network& net, std::vector<float> x, std::size_t rows, const std::vector<float>& points,
                                 std::size_t p) {
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t k = 0; k < kWidth; ++k) x[r * kInputs + kFirst + k] = points[p * kWidth + k];
  return net.predict(x.data(), rows);
}

void expect_matches_definition(Backend& backend, bool batchnorm) {
  Network net(backend, parametrised_mlp(batchnorm));
  net.initialize(11);
  const std::size_t rows = 1000, P = 7;
  const auto x = random_rows(rows, 3);
  const auto points = points_of(P);
  const auto shared = net.predict_at_points(x.data(), rows, kFirst, kWidth, points.data(), P);
  ASSERT_EQ(shared.size(), rows * P);
  double worst = 0;
  for (std::size_t p = 0; p < P; ++p) {
    const auto want = by_definition(net, x, rows, points, p);
    for (std::size_t r = 0; r < rows; ++r) {
      worst = std::max(worst, std::abs(double(shared[r * P + p]) - double(want[r])));
      // The same sums in another order: float rounding, not a different function.
      ASSERT_NEAR(shared[r * P + p], want[r], 1e-5 * (1.0 + std::abs(want[r]))) << "row " << r << " point " << p;
    }
  }
  EXPECT_GT(worst, 0.0) << "suspicious: no rounding difference at all (is the shared path used?)";
}

}  // namespace

TEST(PredictAtPoints, MatchesEachPointWrittenIntoTheRows) {
  auto cpu = make_backend(DeviceKind::cpu);
  expect_matches_definition(*cpu, false);
}

TEST(PredictAtPoints, MatchesWithBatchnormAfterTheFirstLayer) {
  auto cpu = make_backend(DeviceKind::cpu);
  expect_matches_definition(*cpu, true);
}

TEST(PredictAtPoints, APointsScoresDependOnNeitherTheOtherPointsNorTheChunks) {
  auto cpu = make_backend(DeviceKind::cpu);
  Network net(*cpu, parametrised_mlp(false));
  net.initialize(4);
  const std::size_t rows = 777, P = 5;
  auto x = random_rows(rows, 8);
  const auto points = points_of(P);
  const auto all = net.predict_at_points(x.data(), rows, kFirst, kWidth, points.data(), P);
  // The rows' own values of the parameter inputs are ignored.
  for (std::size_t r = 0; r < rows; ++r) x[r * kInputs + kFirst] = 1e6f;
  for (std::size_t p = 0; p < P; ++p)
    for (std::size_t chunk : {std::size_t(0), std::size_t(64), std::size_t(100)}) {
      const auto one = net.predict_at_points(x.data(), rows, kFirst, kWidth, points.data() + p * kWidth, 1, chunk);
      for (std::size_t r = 0; r < rows; ++r)
        ASSERT_EQ(one[r], all[r * P + p]) << "point " << p << " chunk " << chunk << " row " << r;
    }
  EXPECT_TRUE(net.predict_at_points(x.data(), 0, kFirst, kWidth, points.data(), P).empty());
}

TEST(PredictAtPointsCuda, MatchesTheCpuBackend) {
  BSMHUNT_CUDA_BACKEND_OR_SKIP(gpu);
  auto cpu = make_backend(DeviceKind::cpu);
  Network on_cpu(*cpu, parametrised_mlp(false)), on_gpu(*gpu, parametrised_mlp(false));
  on_cpu.initialize(6);
  on_gpu.initialize(6);
  const std::size_t rows = 3000, P = 4;
  const auto x = random_rows(rows, 2);
  const auto points = points_of(P);
  const auto a = on_cpu.predict_at_points(x.data(), rows, kFirst, kWidth, points.data(), P);
  const auto b = on_gpu.predict_at_points(x.data(), rows, kFirst, kWidth, points.data(), P);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-4 * (1.0 + std::abs(a[i]))) << i;
  expect_matches_definition(*gpu, false);
}
