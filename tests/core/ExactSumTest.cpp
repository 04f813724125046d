#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "bsmhunt/core/ExactSum.hpp"

TEST(ExactSum, OrderIndependentBitwise) {
  std::mt19937_64 gen(42);
  std::normal_distribution<double> dist(0.0, 3.0);
  std::vector<double> v(100000);
  for (auto& x : v) x = dist(gen) * (gen() % 7 == 0 ? -1e3 : 1.0);
  bsmhunt::ExactSum forward, backward, chunked;
  for (double x : v) forward.add(x);
  for (auto it = v.rbegin(); it != v.rend(); ++it) backward.add(*it);
  // Three "ranks" summing slices, then merged.
  bsmhunt::ExactSum parts[3];
  for (std::size_t i = 0; i < v.size(); ++i) parts[i * 3 / v.size()].add(v[i]);
  for (auto& p : parts) chunked.add(p);
  EXPECT_EQ(forward.raw(), backward.raw());
  EXPECT_EQ(forward.raw(), chunked.raw());
  // And close to the long-double sum.
  long double ref = 0;
  for (double x : v) ref += x;
  EXPECT_NEAR(forward.value(), double(ref), 1e-4);
}

TEST(ExactSum, HandValues) {
  bsmhunt::ExactSum s;
  s.add(1.5);
  s.add(-0.25);
  s.add(1e6);
  EXPECT_DOUBLE_EQ(s.value(), 1000001.25);
}
