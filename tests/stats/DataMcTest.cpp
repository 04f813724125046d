// Data/MC agreement statistics against values computed by hand (chi2 terms, the
// chi2 survival function of 1 and 2 degrees of freedom, exp(-x/2) and erfc) and the
// Kolmogorov series summed independently in Python. No collectives: every rank runs
// every test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/stats/DataMc.hpp"

using namespace bsmhunt;
using namespace bsmhunt::stats;

namespace {

// (10-12)^2/(12+4) + (20-18)^2/(18+9)
constexpr double kChi2 = 0.25 + 4.0 / 27.0;

}  // namespace

TEST(DataMc, Chi2WithMcStatisticalUncertaintyByHand) {
  const std::vector<double> data{10, 20}, mc{12, 18}, var{4, 9};
  const auto a = compare_data_mc(data, mc, var, false);
  EXPECT_DOUBLE_EQ(a.scale, 1.0);
  EXPECT_NEAR(a.chi2, kChi2, 1e-12);
  EXPECT_EQ(a.ndf, 2);
  EXPECT_NEAR(a.p_value, std::exp(-kChi2 / 2), 1e-10);  // chi2 survival, 2 dof
  // A shape comparison loses one degree of freedom: survival with 1 dof is erfc(sqrt(x/2)).
  const auto s = compare_data_mc(data, mc, var, true);
  EXPECT_EQ(s.ndf, 1);
  EXPECT_NEAR(s.p_value, std::erfc(std::sqrt(kChi2 / 2)), 1e-10);
}

TEST(DataMc, ShapeScalingScalesTheMcVarianceBySquare) {
  // Twice the MC: scaled by 1/2, its variance by 1/4, the same chi2 as above.
  const std::vector<double> data{10, 20}, mc{24, 36}, var{16, 36};
  const auto a = compare_data_mc(data, mc, var, true);
  EXPECT_DOUBLE_EQ(a.scale, 0.5);
  EXPECT_NEAR(a.chi2, kChi2, 1e-12);
  EXPECT_DOUBLE_EQ(a.data_total, 30);
  EXPECT_DOUBLE_EQ(a.mc_total, 60);
  // As weighted (luminosity normalisation): (10-24)^2/(24+16) + (20-36)^2/(36+36).
  const auto l = compare_data_mc(data, mc, var, false);
  EXPECT_NEAR(l.chi2, 196.0 / 40 + 256.0 / 72, 1e-12);
  EXPECT_EQ(l.ndf, 2);
}

TEST(DataMc, IdenticalHistogramsAgreePerfectly) {
  const std::vector<double> h{5, 7, 0, 3}, var{5, 7, 0, 3};
  const auto a = compare_data_mc(h, h, var, true);
  EXPECT_DOUBLE_EQ(a.chi2, 0);
  EXPECT_EQ(a.ndf, 2);  // the empty bin does not count, and one for the shape
  EXPECT_DOUBLE_EQ(a.p_value, 1);
  EXPECT_DOUBLE_EQ(a.ks_distance, 0);
  EXPECT_DOUBLE_EQ(a.ks_p_value, 1);
}

TEST(DataMc, BinWithoutPredictionUsesTheDataAsVariance) {
  const std::vector<double> data{3, 4}, mc{0, 4}, var{0, 1};
  const auto a = compare_data_mc(data, mc, var, false);
  EXPECT_NEAR(a.chi2, 9.0 / 3.0, 1e-12);  // (3-0)^2/3, and 0 from the second bin
  EXPECT_EQ(a.ndf, 2);
}

TEST(DataMc, KolmogorovSurvivalKnownValues) {
  EXPECT_NEAR(kolmogorov_survival(1.0), 0.26999967167735456, 1e-12);
  EXPECT_NEAR(kolmogorov_survival(0.5), 0.9639452436648751, 1e-12);
  EXPECT_NEAR(kolmogorov_survival(1.36), 0.049485876755377876, 1e-12);  // the 5% critical value
  EXPECT_DOUBLE_EQ(kolmogorov_survival(0.0), 1.0);
  EXPECT_LT(kolmogorov_survival(5.0), 1e-20);
}

TEST(DataMc, KolmogorovSmirnovDistanceAndEffectiveCounts) {
  // F_data = 0.5, 0.5, 1; F_mc = 0, 0.5, 1: D = 0.5. Effective MC events (2)^2/2 = 2,
  // n = 2 x 2 / 4 = 1, lambda = (1 + 0.12 + 0.11) x 0.5 = 0.615 (Stephens).
  double d = 0, p = 0;
  const std::vector<double> data{1, 0, 1}, mc{0, 1, 1}, var{0, 1, 1};
  kolmogorov_smirnov(data, mc, var, d, p);
  EXPECT_DOUBLE_EQ(d, 0.5);
  EXPECT_NEAR(p, 0.8438198245415608, 1e-12);
  // Weighted MC: the shape counts, not the normalisation.
  const std::vector<double> mc10{0, 10, 10}, var10{0, 100, 100};
  kolmogorov_smirnov(data, mc10, var10, d, p);
  EXPECT_DOUBLE_EQ(d, 0.5);
  EXPECT_NEAR(p, 0.8438198245415608, 1e-12);
}

TEST(DataMc, EqualContentEdgesOnContinuousAndDiscreteData) {
  std::vector<double> fine(11);
  for (int i = 0; i <= 10; ++i) fine[std::size_t(i)] = i;
  const std::vector<double> flat(10, 1.0);
  EXPECT_EQ(equal_content_edges(fine, flat, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  // A discrete feature (two values): at most one edge between them; every edge a fine edge.
  const std::vector<double> two{0, 0, 10, 0, 0, 10, 0, 0, 0, 0};
  const auto e = equal_content_edges(fine, two, 5);
  ASSERT_GE(e.size(), 3u);
  ASSERT_LE(e.size(), 4u);
  EXPECT_EQ(e.front(), 0);
  EXPECT_EQ(e.back(), 10);
  EXPECT_TRUE(std::is_sorted(e.begin(), e.end()));
  EXPECT_EQ(std::adjacent_find(e.begin(), e.end()), e.end());
  for (double x : e) EXPECT_EQ(x, std::round(x)) << x;
  // Each value lands alone in a bin: an edge lies in [3, 5].
  EXPECT_TRUE(std::any_of(e.begin(), e.end(), [](double x) { return x >= 3 && x <= 5; }));
}

TEST(DataMc, MismatchedSizesAreRejected) {
  const std::vector<double> a{1, 2}, b{1};
  EXPECT_THROW(compare_data_mc(a, b, a, true), Error);
}
