#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/stats/HistogramSet.hpp"
#include "bsmhunt/stats/Scan.hpp"

using namespace bsmhunt;
using namespace bsmhunt::stats;

namespace {

// Written out here instead of calling the library: the reference of the tests.
double asimov_by_hand(double s, double b) { return std::sqrt(2 * ((s + b) * std::log(1 + s / b) - s)); }

Histogram from_bins(std::vector<double> w) {  // one event per bin with the given weight, [0, n)
  Histogram h(w.size(), 0.0, double(w.size()));
  for (std::size_t i = 0; i < w.size(); ++i) h.fill(double(i) + 0.5, w[i]);
  return h;
}

}  // namespace

TEST(HistogramSet, SameBinsAsHistogramIncludingEdgesAndFlows) {
  // 10 bins on [-0.3, 0.7): bin width 0.1 is not exact in binary, so the arithmetic
  // guess lands on the wrong side of an edge for some values; the set must agree
  // with Histogram::fill (binary search) for every one of them.
  HistogramSet set(2, 10, -0.3, 0.7);
  Histogram ref0(10, -0.3, 0.7), ref1(10, -0.3, 0.7);
  std::vector<float> x;
  std::vector<double> w;
  std::vector<uint32_t> g;
  for (const double e : ref0.edges()) {
    for (const float v : {float(e), std::nextafter(float(e), -1e9f), std::nextafter(float(e), 1e9f)}) {
      x.push_back(v), w.push_back(0.25 + double(x.size())), g.push_back(uint32_t(x.size() % 2));
    }
  }
  for (const float v : {-5.f, 5.f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()})
    x.push_back(v), w.push_back(-1.5), g.push_back(0);
  for (std::size_t i = 0; i < x.size(); ++i) (g[i] ? ref1 : ref0).fill(double(x[i]), w[i]);
  set.fill(x, w, g);
  for (std::size_t k = 0; k < ref0.sum_w().size(); ++k) {
    EXPECT_EQ(set.histogram(0).sum_w()[k].raw(), ref0.sum_w()[k].raw()) << "slot " << k;
    EXPECT_EQ(set.histogram(0).sum_w2()[k].raw(), ref0.sum_w2()[k].raw()) << "slot " << k;
    EXPECT_EQ(set.histogram(1).sum_w()[k].raw(), ref1.sum_w()[k].raw()) << "slot " << k;
  }
  const std::size_t both[] = {0, 1};
  Histogram sum = ref0;
  sum.merge(ref1);
  EXPECT_EQ(set.sum_of(both).total(), sum.total());
  EXPECT_EQ(set.entries(0) + set.entries(1), x.size());
}

TEST(HistogramSet, BadValuesNameThePosition) {
  HistogramSet set(1, 4, 0, 1);
  std::vector<float> x{0.5f, std::nanf("")};
  std::vector<double> w{1, 1};
  std::vector<uint32_t> g{0, 0};
  try {
    set.fill(x, w, g);
    FAIL() << "NaN accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("value 1 is NaN"), std::string::npos) << e.what();
  }
  x[1] = 0.5f, w[1] = std::numeric_limits<double>::infinity();
  EXPECT_THROW(set.fill(x, w, g), InputError);
}

TEST(HistogramSet, BlockFillIsBitwiseTheSumOfEachSlotsBlockInRowOrder) {
  // The block-wise fill's definition, written out independently: a value's slot by
  // binary search over the edges, one double sum per (group, slot, block) in row
  // order, each rounded to the fixed-point grid and added up. Groups interleave and
  // cross blocks of 64 rows; values sit on, just below and just above every edge (the
  // arithmetic guess is checked there), in the flows and at +-inf; weights are negative
  // and zero too. Ranges whose edges are not exact in binary, where the arithmetic
  // guess is off by one slightly away from the edge, not only exactly on it: on
  // [-0.3, 0.7) with 100 bins, (0.25 + 0.3) * 100 is 55 + 7e-15 but 0.25 lies below
  // the computed edge 55; on [0, 1e4) with 3 bins, x = 1e4 = hi gives t = 3 - 4e-16.
  struct Range {
    double lo, hi;
    std::size_t nbins;
  };
  for (const Range range : {Range{-0.3, 0.7, 10}, Range{-0.3, 0.7, 100}, Range{0, 1e4, 3}}) {
    const std::size_t groups = 3;
    const uint64_t block_rows = 64;
    const Histogram shape(range.nbins, range.lo, range.hi);
    const std::vector<double>& edges = shape.edges();
    std::vector<float> x;
    for (const double e : edges)
      for (const float v : {float(e), std::nextafter(float(e), -1e30f), std::nextafter(float(e), 1e30f)})
        x.push_back(v);
    const float inf = std::numeric_limits<float>::infinity();
    for (const float v : {-inf, inf, float(range.lo - 1e3), float(range.hi + 1e3)}) x.push_back(v);
    CounterRng rng(5, 2, 3);
    while (x.size() < 2000) x.push_back(float(range.lo + (range.hi - range.lo) * (rng.uniform() * 1.4 - 0.2)));
    const std::size_t n = x.size();
    std::vector<double> w(n);
    std::vector<uint32_t> g(n);
    std::vector<uint64_t> row(n);
    for (std::size_t i = 0; i < n; ++i) {
      w[i] = i % 11 == 0 ? 0.0 : (rng.uniform() - 0.3) * 1e-2;
      g[i] = uint32_t((i / 37 + i % 3 / 2) % groups);  // runs of 37, broken up now and then
      row[i] = 1000 + i + i / 100;                     // non-decreasing with gaps
    }
    const std::size_t stride = range.nbins + 2;
    std::vector<Int128> ref_w(groups * stride, 0), ref_w2(groups * stride, 0);
    std::vector<double> block_w(groups * stride, 0), block_w2(groups * stride, 0);
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0 && row[i] / block_rows != row[i - 1] / block_rows) {
        for (std::size_t k = 0; k < ref_w.size(); ++k) {
          ref_w[k] += ExactSum::to_fixed(block_w[k]), ref_w2[k] += ExactSum::to_fixed(block_w2[k]);
          block_w[k] = block_w2[k] = 0;
        }
      }
      const std::size_t slot = std::size_t(std::upper_bound(edges.begin(), edges.end(), double(x[i])) - edges.begin());
      block_w[g[i] * stride + slot] += w[i];
      block_w2[g[i] * stride + slot] += w[i] * w[i];
    }
    for (std::size_t k = 0; k < ref_w.size(); ++k)
      ref_w[k] += ExactSum::to_fixed(block_w[k]), ref_w2[k] += ExactSum::to_fixed(block_w2[k]);

    HistogramSet set(groups, range.nbins, range.lo, range.hi, block_rows);
    for (std::size_t b = 0; b < n;) {  // calls of 1 to 300 rows
      const std::size_t e = std::min(n, b + 1 + b % 300);
      set.fill(std::span(x).subspan(b, e - b), std::span(w).subspan(b, e - b), std::span(g).subspan(b, e - b),
               std::span(row).subspan(b, e - b));
      b = e;
    }
    uint64_t entries = 0;
    for (std::size_t k = 0; k < groups; ++k) {
      const Histogram h = set.histogram(k);
      for (std::size_t s = 0; s < stride; ++s) {
        ASSERT_EQ(h.sum_w()[s].raw(), ref_w[k * stride + s]) << "range " << range.lo << ", group " << k << ", slot " << s;
        ASSERT_EQ(h.sum_w2()[s].raw(), ref_w2[k * stride + s]) << "range " << range.lo << ", group " << k << ", slot " << s;
      }
      entries += set.entries(k);
    }
    EXPECT_EQ(entries, n);
  }
}

TEST(HistogramSet, BlockFillNamesABadValue) {
  std::vector<float> x(3000, 0.5f);
  std::vector<double> w(3000, 1.0);
  std::vector<uint32_t> g(3000, 0);
  std::vector<uint64_t> row(3000);
  for (std::size_t i = 0; i < row.size(); ++i) row[i] = i;
  const auto message_of = [&] {
    HistogramSet set(2, 4, 0, 1);
    try {
      set.fill(x, w, g, row);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  x[2500] = std::nanf("");
  EXPECT_NE(message_of().find("value 2500 is NaN"), std::string::npos) << message_of();
  x[2500] = 0.5f, w[1700] = -std::numeric_limits<double>::infinity();
  EXPECT_NE(message_of().find("weight 1700 = -inf is not finite"), std::string::npos) << message_of();
  w[1700] = 1.0, g[2999] = 2;
  EXPECT_NE(message_of().find("group 2 of 2"), std::string::npos) << message_of();
}

TEST(HistogramSet, ReductionIsBitwiseTheSerialFill) {
  auto comm = dist::Communicator::world();
  const std::size_t n = 20000, groups = 3;
  std::vector<float> x(n);
  std::vector<double> w(n);
  std::vector<uint32_t> g(n);
  CounterRng rng(7, 1, 2);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = float(rng.uniform() * 1.2 - 0.1);
    w[i] = (rng.uniform() - 0.2) * 3e-3;  // negative weights too
    g[i] = uint32_t(i % groups);
  }
  HistogramSet serial(groups, 100, 0, 1), parallel(groups, 100, 0, 1);
  serial.fill(x, w, g);
  const auto r = dist::partition(n, comm.size(), comm.rank());
  parallel.fill(std::span(x).subspan(r.begin, r.size()), std::span(w).subspan(r.begin, r.size()),
                std::span(g).subspan(r.begin, r.size()));
  parallel.reduce(comm);
  for (std::size_t k = 0; k < groups; ++k) {
    const Histogram a = serial.histogram(k), b = parallel.histogram(k);
    for (std::size_t s = 0; s < a.sum_w().size(); ++s) {
      ASSERT_EQ(a.sum_w()[s].raw(), b.sum_w()[s].raw());
      ASSERT_EQ(a.sum_w2()[s].raw(), b.sum_w2()[s].raw());
    }
    EXPECT_EQ(serial.entries(k), parallel.entries(k));
  }
}

TEST(HistogramSet, FastFillIsRankInvariantIndependentOfCallsAndCloseToExact) {
  // Five blocks and a bit, three groups in runs (as samples are in files) with
  // negative weights: the block-wise fill must give the same bits on any rank count
  // (ranks own whole blocks) and however the calls cut the rows, and agree with the
  // per-value exact fill to double rounding.
  auto comm = dist::Communicator::world();
  const std::size_t n = 5 * HistogramSet::kBlockRows + 1234, groups = 3;
  std::vector<float> x(n);
  std::vector<double> w(n);
  std::vector<uint32_t> g(n);
  std::vector<uint64_t> row(n);
  CounterRng rng(11, 1, 2);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = float(rng.uniform() * 1.2 - 0.1);
    w[i] = (rng.uniform() - 0.2) * 3e-3 * (1 + double(i % 7));
    g[i] = uint32_t(i * groups / n);
    row[i] = i;
  }
  HistogramSet one_call(groups, 100, 0, 1), cut_calls(groups, 100, 0, 1), exact(groups, 100, 0, 1),
      parallel(groups, 100, 0, 1);
  one_call.fill(x, w, g, row);
  exact.fill(x, w, g);
  for (std::size_t b = 0, k = 0; b < n; ++k) {  // calls of 1, 7, 49, ... rows, not block aligned
    const std::size_t e = std::min<std::size_t>(n, b + (std::size_t(1) << (3 * (k % 6))) + k);
    cut_calls.fill(std::span(x).subspan(b, e - b), std::span(w).subspan(b, e - b), std::span(g).subspan(b, e - b),
                   std::span(row).subspan(b, e - b));
    b = e;
  }
  const auto r = HistogramSet::rows_of_rank(n, HistogramSet::kBlockRows, comm);
  EXPECT_EQ(r.begin % HistogramSet::kBlockRows, 0u);
  parallel.fill(std::span(x).subspan(r.begin, r.size()), std::span(w).subspan(r.begin, r.size()),
                std::span(g).subspan(r.begin, r.size()), std::span(row).subspan(r.begin, r.size()));
  parallel.reduce(comm);
  for (std::size_t k = 0; k < groups; ++k) {
    const Histogram a = one_call.histogram(k), b = cut_calls.histogram(k), c = parallel.histogram(k),
                    e = exact.histogram(k);
    for (std::size_t s = 0; s < a.sum_w().size(); ++s) {
      ASSERT_EQ(a.sum_w()[s].raw(), b.sum_w()[s].raw()) << "calls cut differently, slot " << s;
      ASSERT_EQ(a.sum_w()[s].raw(), c.sum_w()[s].raw()) << comm.size() << " ranks, slot " << s;
      ASSERT_EQ(a.sum_w2()[s].raw(), c.sum_w2()[s].raw()) << comm.size() << " ranks, slot " << s;
      EXPECT_NEAR(a.sum_w()[s].value(), e.sum_w()[s].value(), 1e-14 * 3e-3 * 7 * double(n));
      EXPECT_NEAR(a.sum_w2()[s].value(), e.sum_w2()[s].value(), 1e-14 * 1e-4 * double(n));
    }
    EXPECT_EQ(one_call.entries(k), exact.entries(k));
    EXPECT_EQ(parallel.entries(k), exact.entries(k));
  }
}

TEST(Scan, CutScanByHand) {
  // Bins [0,1) [1,2) [2,3) [3,4); cut i keeps bins i..3.
  const Histogram s = from_bins({0, 1, 2, 5}), b = from_bins({100, 50, 10, 1});
  ScanOptions o;
  o.min_background = 0, o.min_mc_events = 0;
  const CutScan scan = scan_cuts(s, b, o);
  ASSERT_EQ(scan.cut.size(), 5u);
  EXPECT_EQ(scan.s, (std::vector<double>{8, 8, 7, 5, 0}));
  EXPECT_EQ(scan.b, (std::vector<double>{161, 61, 11, 1, 0}));
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(scan.z[i], asimov_by_hand(scan.s[i], scan.b[i]), 1e-12);
  EXPECT_TRUE(std::isnan(scan.z[4])) << "b = 0: no significance, never a division by zero";
  // Z = 3.87 (cut 3) > 2.92 (cut 2) > 1.02 > 0.63: the best is the last bin alone.
  EXPECT_EQ(scan.best, 3u);
  EXPECT_DOUBLE_EQ(scan.cut[3], 3.0);
  EXPECT_DOUBLE_EQ(scan.b_error[2], std::sqrt(100.0 + 1.0));

  // The background rules move the best cut: b >= 5 events excludes the last bin ...
  o.min_background = 5;
  EXPECT_EQ(scan_cuts(s, b, o).best, 2u);
  // ... and so do too few effective MC events (b^2 / sum w^2 = 11^2 / 101 = 1.2 < 2).
  o.min_background = 0, o.min_mc_events = 2;
  const CutScan mc = scan_cuts(s, b, o);
  // 61^2 / (2500 + 101) = 1.43 < 2 as well; only cut 0 counts (161^2 / 12601 = 2.06).
  EXPECT_EQ(mc.best, 0u);
  EXPECT_TRUE(std::isnan(mc.z[1]) && std::isnan(mc.z[2]) && std::isnan(mc.z[3]));
}

TEST(Scan, MetricsAndUncertainty) {
  ScanOptions o;
  EXPECT_NEAR(significance(5, 1, o), asimov_by_hand(5, 1), 1e-12);
  o.metric = Metric::s_over_sqrt_b;
  EXPECT_DOUBLE_EQ(significance(5, 4, o), 2.5);
  o.bkg_uncertainty = 0.5;  // sigma_b = 2: 5 / sqrt(4 + 4)
  EXPECT_DOUBLE_EQ(significance(5, 4, o), 5 / std::sqrt(8.0));
  o.metric = Metric::ams;
  EXPECT_THROW(validate(o), InputError);
  o.bkg_uncertainty = 0;
  EXPECT_NEAR(significance(5, 4, o), asimov_by_hand(5, 14), 1e-12);  // b_reg = 10
  EXPECT_THROW(significance(5, 0, o), InputError);
  EXPECT_THROW(parse_metric("sqrt"), InputError);
  EXPECT_EQ(parse_metric("ams"), Metric::ams);
}

TEST(Scan, BinnedCombinationByHand) {
  const Histogram s = from_bins({1, 1, 2, 5}), b = from_bins({100, 50, 10, 1});
  ScanOptions o;
  o.min_background = 0, o.min_mc_events = 0;
  // Four bins that all count: the quadrature sum of the four.
  double want = 0;
  for (const auto& [si, bi] : {std::pair{1.0, 100.0}, {1.0, 50.0}, {2.0, 10.0}, {5.0, 1.0}})
    want += std::pow(asimov_by_hand(si, bi), 2);
  EXPECT_NEAR(binned_significance(s, b, 4, o), std::sqrt(want), 1e-12);
  // At most 2 bins: groups {3,2} and {1,0}.
  want = std::pow(asimov_by_hand(7, 11), 2) + std::pow(asimov_by_hand(2, 150), 2);
  EXPECT_NEAR(binned_significance(s, b, 2, o), std::sqrt(want), 1e-12);
  // min_background 20: the top group must grow to {3,2,1} (b = 61); the rest {0}.
  o.min_background = 20;
  want = std::pow(asimov_by_hand(8, 61), 2) + std::pow(asimov_by_hand(1, 100), 2);
  EXPECT_NEAR(binned_significance(s, b, 4, o), std::sqrt(want), 1e-12);
  // min_background 120: one group for everything (the remainder joins it).
  o.min_background = 120;
  EXPECT_NEAR(binned_significance(s, b, 4, o), asimov_by_hand(9, 161), 1e-12);
  o.min_background = 1000;
  EXPECT_EQ(binned_significance(s, b, 4, o), 0.0);
}

TEST(Scan, ClassificationByHand) {
  const Histogram s = from_bins({0, 1, 2, 5}), b = from_bins({100, 50, 10, 1});
  const Classification c = classify_at(s, b, 2.2);  // nearest edge 2
  EXPECT_EQ(c.threshold, 2.0);
  EXPECT_EQ(c.true_positive, 7);
  EXPECT_EQ(c.false_positive, 11);
  EXPECT_EQ(c.false_negative, 1);
  EXPECT_EQ(c.true_negative, 150);
  EXPECT_DOUBLE_EQ(c.precision, 7.0 / 18);
  EXPECT_DOUBLE_EQ(c.recall, 7.0 / 8);
  EXPECT_DOUBLE_EQ(c.f1, 2 * (7.0 / 18) * (7.0 / 8) / (7.0 / 18 + 7.0 / 8));
  EXPECT_DOUBLE_EQ(c.accuracy, 157.0 / 169);
}
