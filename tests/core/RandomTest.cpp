#include <gtest/gtest.h>

#include <cmath>

#include "bsmhunt/core/Random.hpp"

using bsmhunt::CounterRng;
using bsmhunt::Philox4x32;

// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
TEST(Philox, KnownAnswerZero) {
  const auto out = Philox4x32::generate({0, 0, 0, 0}, {0, 0});
  EXPECT_EQ(out[0], 0x6627e8d5u);
  EXPECT_EQ(out[1], 0xe169c58du);
  EXPECT_EQ(out[2], 0xbc57ac4cu);
  EXPECT_EQ(out[3], 0x9b00dbd8u);
}
TEST(Philox, KnownAnswerOnes) {
  const auto out = Philox4x32::generate({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu});
  EXPECT_EQ(out[0], 0x408f276du);
  EXPECT_EQ(out[1], 0x41c83b0eu);
  EXPECT_EQ(out[2], 0xa20bc7c6u);
  EXPECT_EQ(out[3], 0x6d5451fdu);
}

TEST(CounterRng, SameKeySameStream) {
  CounterRng a(7, 3, 11), b(7, 3, 11), c(7, 3, 12), d(7, 4, 11);
  bool differs_c = false, differs_d = false;
  for (int i = 0; i < 100; ++i) {
    const uint32_t x = a.next_u32();
    EXPECT_EQ(x, b.next_u32());
    differs_c |= x != c.next_u32();
    differs_d |= x != d.next_u32();
  }
  EXPECT_TRUE(differs_c);
  EXPECT_TRUE(differs_d);
}

TEST(CounterRng, UniformMomentsAndRange) {
  CounterRng r(1, 2, 3);
  const int n = 200000;
  double sum = 0, sum2 = 0;
  for (int i = 0; i < n; ++i) {
    const double u = r.uniform();
    ASSERT_GT(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u, sum2 += u * u;
  }
  // mean 1/2, variance 1/12; 5 sigma tolerances
  EXPECT_NEAR(sum / n, 0.5, 5 * std::sqrt(1.0 / 12 / n));
  EXPECT_NEAR(sum2 / n - std::pow(sum / n, 2), 1.0 / 12, 0.002);
}

TEST(CounterRng, NormalMoments) {
  CounterRng r(5, 6, 7);
  const int n = 200000;
  double sum = 0, sum2 = 0, sum4 = 0;
  for (int i = 0; i < n; ++i) {
    const double x = r.normal();
    sum += x, sum2 += x * x, sum4 += x * x * x * x;
  }
  EXPECT_NEAR(sum / n, 0.0, 5 / std::sqrt(n));
  EXPECT_NEAR(sum2 / n, 1.0, 0.015);
  EXPECT_NEAR(sum4 / n, 3.0, 0.1);  // kurtosis of a Gaussian
}

TEST(CounterRng, PoissonMeanAndVariance) {
  for (double mean : {0.3, 4.0, 29.0, 31.0, 250.0, 5000.0}) {
    CounterRng r(9, uint64_t(mean * 10), 0);
    const int n = 40000;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < n; ++i) {
      const double k = double(r.poisson(mean));
      sum += k, sum2 += k * k;
    }
    const double m = sum / n, v = sum2 / n - m * m;
    EXPECT_NEAR(m, mean, 5 * std::sqrt(mean / n)) << "mean " << mean;
    EXPECT_NEAR(v / mean, 1.0, 0.05) << "mean " << mean;
  }
  CounterRng r(1, 1, 1);
  EXPECT_EQ(r.poisson(0.0), 0u);
}

TEST(StableHash, KnownValues) {
  // FNV-1a 64 of "" and "a" (reference values of the FNV specification).
  EXPECT_EQ(bsmhunt::stable_hash(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(bsmhunt::stable_hash("a"), 0xaf63dc4c8601ec8cull);
}
