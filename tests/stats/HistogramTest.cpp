#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/stats/Histogram.hpp"
#include "bsmhunt/stats/Roc.hpp"

using namespace bsmhunt;
using namespace bsmhunt::stats;

TEST(Histogram, FillKnownValuesAndFlows) {
  Histogram h(4, 0.0, 2.0);  // edges 0, 0.5, 1, 1.5, 2
  ASSERT_EQ(h.edges(), (std::vector<double>{0.0, 0.5, 1.0, 1.5, 2.0}));
  h.fill(0.1);          // bin 0
  h.fill(0.5, 2.0);     // bin 1 (lower edge inclusive)
  h.fill(0.7, -0.5);    // bin 1
  h.fill(1.99, 3.0);    // bin 3
  h.fill(-1.0, 4.0);    // underflow
  h.fill(2.0, 5.0);     // overflow (upper edge exclusive)
  h.fill(std::numeric_limits<double>::infinity(), 1.0);  // overflow
  EXPECT_EQ(h.values(), (std::vector<double>{1.0, 1.5, 0.0, 3.0}));
  EXPECT_EQ(h.variances(), (std::vector<double>{1.0, 4.25, 0.0, 9.0}));
  EXPECT_EQ(h.underflow(), 4.0);
  EXPECT_EQ(h.overflow(), 6.0);
  EXPECT_EQ(h.underflow_variance(), 16.0);
  EXPECT_EQ(h.overflow_variance(), 26.0);
  EXPECT_EQ(h.total(), 15.5);
  // score >= edge i: bins i.. plus overflow.
  EXPECT_EQ(h.cumulative_above(), (std::vector<double>{11.5, 10.5, 9.0, 9.0, 6.0}));
  EXPECT_EQ(h.cumulative_variance_above(), (std::vector<double>{40.25, 39.25, 35.0, 35.0, 26.0}));
}

TEST(Histogram, GivenEdgesMergeAndErrors) {
  Histogram a(std::vector<double>{-1.0, 0.0, 10.0});
  Histogram b(std::vector<double>{-1.0, 0.0, 10.0});
  a.fill(-0.5, 1.0);
  b.fill(5.0, 2.0);
  b.fill(-0.5, 0.25);
  a.merge(b);
  EXPECT_EQ(a.values(), (std::vector<double>{1.25, 2.0}));
  EXPECT_EQ(a.variances(), (std::vector<double>{1.0625, 4.0}));
  EXPECT_THROW(a.merge(Histogram(2, -1.0, 10.0)), InputError);
  EXPECT_THROW(Histogram(std::vector<double>{1.0}), InputError);
  EXPECT_THROW(Histogram(std::vector<double>{0.0, 1.0, 1.0}), InputError);
  EXPECT_THROW(Histogram(0, 0.0, 1.0), InputError);
  EXPECT_THROW(Histogram(3, 1.0, 1.0), InputError);
  EXPECT_THROW(a.fill(std::numeric_limits<double>::quiet_NaN()), InputError);
  EXPECT_THROW(a.fill(0.5, std::numeric_limits<double>::infinity()), InputError);
}

namespace {
// Value i of a fixed pseudo-random sequence, the same on every rank.
void fill_item(Histogram& h, uint64_t i) {
  CounterRng rng(20261123, 7, i);
  const double x = rng.uniform(-0.2, 1.2);  // some under/overflow
  const double w = rng.normal() * 0.37 + 0.1;  // negative weights too
  h.fill(x, w);
}
}  // namespace

TEST(Histogram, ReduceIsBitwiseEqualToSerialFill) {
  const auto comm = dist::Communicator::world();
  constexpr uint64_t n = 100000;
  Histogram serial(20, 0.0, 1.0), local(20, 0.0, 1.0);
  for (uint64_t i = 0; i < n; ++i) fill_item(serial, i);
  const auto mine = dist::partition(n, comm.size(), comm.rank());
  for (uint64_t i = mine.begin; i < mine.end; ++i) fill_item(local, i);
  local.reduce(comm);  // collective: reached unconditionally on every rank

  ASSERT_EQ(local.sum_w().size(), serial.sum_w().size());
  for (std::size_t i = 0; i < serial.sum_w().size(); ++i) {
    EXPECT_TRUE(local.sum_w()[i].raw() == serial.sum_w()[i].raw()) << "bin " << i;
    EXPECT_TRUE(local.sum_w2()[i].raw() == serial.sum_w2()[i].raw()) << "bin " << i;
  }
  EXPECT_EQ(local.values(), serial.values());
  EXPECT_EQ(local.variances(), serial.variances());
  EXPECT_EQ(local.underflow(), serial.underflow());
  EXPECT_EQ(local.overflow(), serial.overflow());
  EXPECT_EQ(local.cumulative_above(), serial.cumulative_above());
  EXPECT_GT(serial.underflow_variance(), 0.0);
  EXPECT_GT(serial.overflow_variance(), 0.0);
}

TEST(Roc, PerfectlySeparated) {
  Histogram s(2, 0.0, 1.0), b(2, 0.0, 1.0);
  s.fill(0.9, 3.0);
  b.fill(0.1, 5.0);
  const auto r = roc(s, b);
  ASSERT_EQ(r.points.size(), 5u);  // -inf, 3 edges, +inf
  EXPECT_EQ(r.points[2].background_efficiency, 0.0);
  EXPECT_EQ(r.points[2].signal_efficiency, 1.0);
  EXPECT_EQ(r.auc, 1.0);
}

TEST(Roc, IdenticalDistributions) {
  Histogram s(50, 0.0, 1.0);
  for (uint64_t i = 0; i < 1000; ++i) fill_item(s, i);
  const Histogram b = s;
  const auto r = roc(s, b);
  EXPECT_NEAR(r.auc, 0.5, 1e-12);
  for (const auto& p : r.points) EXPECT_EQ(p.signal_efficiency, p.background_efficiency);
}

TEST(Roc, HandComputedThreeBins) {
  // Signal per bin [1, 2, 3], background [3, 2, 1], totals 6. Points (eb, es) by threshold:
  // -inf (1,1), 0 (1,1), 1 (1/2, 5/6), 2 (1/6, 1/2), 3 (0,0), +inf (0,0).
  // AUC = 1/2 (1 + 5/6)/2 + 1/3 (5/6 + 1/2)/2 + 1/6 (1/2)/2 = 11/24 + 2/9 + 1/24 = 13/18
  // (= P(s > b) + P(s = b)/2 = 21/36 + 5/36).
  Histogram s(3, 0.0, 3.0), b(3, 0.0, 3.0);
  for (int i = 0; i < 3; ++i) {
    s.fill(i + 0.5, double(i + 1));
    b.fill(i + 0.5, double(3 - i));
  }
  const auto r = roc(s, b);
  ASSERT_EQ(r.points.size(), 6u);
  EXPECT_DOUBLE_EQ(r.points[2].background_efficiency, 0.5);
  EXPECT_DOUBLE_EQ(r.points[2].signal_efficiency, 5.0 / 6.0);
  EXPECT_DOUBLE_EQ(r.points[3].background_efficiency, 1.0 / 6.0);
  EXPECT_DOUBLE_EQ(r.points[3].signal_efficiency, 0.5);
  EXPECT_NEAR(r.auc, 13.0 / 18.0, 1e-15);
}

TEST(Roc, NegativeWeightsAndErrors) {
  // A negative-weight bin makes the efficiencies non-monotone; the AUC is taken as is.
  Histogram s(2, 0.0, 2.0), b(2, 0.0, 2.0);
  s.fill(0.5, 2.0);
  s.fill(1.5, -1.0);  // signal total 1; eff at threshold 1 = -1
  b.fill(0.5, 1.0);
  b.fill(1.5, 1.0);
  const auto r = roc(s, b);
  EXPECT_EQ(r.points[2].signal_efficiency, -1.0);
  // (1,1) -> (1,1) -> (1/2,-1) -> (0,0): 0 + 1/2 * 0/2 + 1/2 * (-1)/2 = -1/4
  EXPECT_DOUBLE_EQ(r.auc, -0.25);
  EXPECT_THROW(roc(s, Histogram(3, 0.0, 2.0)), InputError);
  EXPECT_THROW(roc(Histogram(2, 0.0, 2.0), b), InputError);  // empty signal
}
