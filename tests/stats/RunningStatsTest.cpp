// Running feature statistics merged across items and ranks, and the straight-line
// sideband prediction of the CWoLa hunt.
#include <gtest/gtest.h>

#include <cmath>

#include "bsmhunt/stats/LinearSideband.hpp"
#include "bsmhunt/stats/RunningStats.hpp"

using namespace bsmhunt;

TEST(RunningStats, MergedPiecesEqualTwoPassStatistics) {
  std::vector<double> v;
  for (int i = 0; i < 1000; ++i) v.push_back(1e6 + std::sin(0.37 * i) * 3);  // large offset, small spread
  stats::RunningStats a(1), b(1), all(1);
  for (std::size_t i = 0; i < v.size(); ++i) (i < 313 ? a : b).add(0, v[i]), all.add(0, v[i]);
  a.merge(b);
  double mean = 0, m2 = 0;
  for (double x : v) mean += x / double(v.size());
  for (double x : v) m2 += (x - mean) * (x - mean);
  const auto m = a.finish();
  EXPECT_NEAR(m.mean[0], mean, 1e-9);
  EXPECT_NEAR(m.stddev[0], std::sqrt(m2 / double(v.size())), 1e-9);
  EXPECT_EQ(m.count, 1000u);
  EXPECT_EQ(m.min[0], *std::min_element(v.begin(), v.end()));
  const auto packed = stats::RunningStats::unpack(a.pack(), 1);
  EXPECT_EQ(packed.mean, a.mean);
}

TEST(RunningStats, RowBlocksGiveTheTwoPassStatisticsOfTheRowsTaken) {
  // Three features with a large offset and a small spread, 2000 rows in two blocks;
  // every third row is left out.
  const std::size_t F = 3, rows = 2000;
  std::vector<float> x(rows * F);
  std::vector<char> take(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    take[r] = r % 3 != 0;
    x[r * F] = float(1e4 + 3 * std::sin(0.37 * double(r)));
    x[r * F + 1] = float(r % 17) - 8.0f;
    x[r * F + 2] = take[r] ? 2.5f : 1e9f;  // constant over the rows taken
  }
  stats::RunningStats s(F), one_by_one(F);
  s.add_rows(x.data(), 700, take.data());
  s.add_rows(x.data() + 700 * F, rows - 700, take.data() + 700);
  s.add_rows(x.data(), 0, take.data());  // an empty block changes nothing
  for (std::size_t r = 0; r < rows; ++r)
    if (take[r])
      for (std::size_t f = 0; f < F; ++f) one_by_one.add(f, double(x[r * F + f]));
  const auto m = s.finish();
  for (std::size_t f = 0; f < F; ++f) {
    double n = 0, mean = 0, m2 = 0, lo = 1e30, hi = -1e30;
    for (std::size_t r = 0; r < rows; ++r)
      if (take[r]) n += 1, mean += double(x[r * F + f]), lo = std::min(lo, double(x[r * F + f])), hi = std::max(hi, double(x[r * F + f]));
    mean /= n;
    for (std::size_t r = 0; r < rows; ++r)
      if (take[r]) m2 += (double(x[r * F + f]) - mean) * (double(x[r * F + f]) - mean);
    EXPECT_NEAR(m.mean[f], mean, 1e-9 * std::max(1.0, std::fabs(mean))) << f;
    EXPECT_NEAR(m.stddev[f], std::sqrt(m2 / n), 1e-9) << f;
    EXPECT_EQ(m.min[f], lo) << f;
    EXPECT_EQ(m.max[f], hi) << f;
    EXPECT_EQ(s.count[f], n) << f;
    EXPECT_NEAR(m.mean[f], one_by_one.finish().mean[f], 1e-9 * std::max(1.0, std::fabs(mean))) << f;
  }
  EXPECT_EQ(m.stddev[2], 0.0);
  EXPECT_EQ(m.count, 1333u);
}

TEST(RunningStats, OrderedMergeIsTheSameOnEveryRankCount) {
  const auto comm = dist::Communicator::world();
  // Values of "item" i in round-robin order: rank r holds items r, r + P, ...
  stats::OrderedStatsMerger merger(comm, 1);
  const int items = 12;
  for (int k = 0; k * comm.size() < items; ++k) {
    stats::RunningStats mine(1);
    const int item = k * comm.size() + comm.rank();
    if (item < items)
      for (int j = 0; j < 10; ++j) mine.add(0, 1e3 + item * 0.1 + j * 0.01);
    merger.merge_round(mine);
  }
  stats::RunningStats serial(1);
  for (int item = 0; item < items; ++item) {
    stats::RunningStats one(1);
    for (int j = 0; j < 10; ++j) one.add(0, 1e3 + item * 0.1 + j * 0.01);
    serial.merge(one);
  }
  EXPECT_EQ(merger.total().mean[0], serial.mean[0]);  // bitwise
  EXPECT_EQ(merger.total().m2[0], serial.m2[0]);
}

TEST(LinearSideband, ExactForALinearDensity) {
  // Density 100 - 2 m on bins of width 1 and 2: counts are the integrals.
  const std::vector<double> edges = {10, 11, 12, 14, 15, 16, 17};
  std::vector<double> counts;
  for (std::size_t b = 0; b + 1 < edges.size(); ++b) {
    const double lo = edges[b], hi = edges[b + 1];
    counts.push_back(100 * (hi - lo) - (hi * hi - lo * lo));
  }
  // SR = bins [2, 4) (12..15), sidebands 0-1 and 4-5.
  const auto p = stats::linear_sideband_prediction(counts, edges, 2, 4, 0, 6);
  EXPECT_NEAR(p.expected, counts[2] + counts[3], 1e-9);
  EXPECT_TRUE(std::isfinite(p.error));
  for (std::size_t b = 0; b < counts.size(); ++b) EXPECT_NEAR(p.per_bin[b], counts[b], 1e-9);
  const auto none = stats::linear_sideband_prediction(counts, edges, 1, 5, 1, 6);  // one sideband bin
  EXPECT_FALSE(std::isfinite(none.expected));
  EXPECT_NE(none.message.find("straight line"), std::string::npos);
}
