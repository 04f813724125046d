#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/stats/Significance.hpp"

using namespace bsmhunt;
using namespace bsmhunt::stats;

TEST(AsimovZ, HandValues) {
  // s=10, b=100: Z = sqrt(2 (110 ln 1.1 - 10)), ln 1.1 = 0.0953101798043248600
  //   = sqrt(2 (10.4841197784757346 - 10)) = sqrt(0.968239556951469) = 0.983991644756940611
  EXPECT_NEAR(asimov_z(10, 100), 0.983991644756940611, 1e-14);
  // s=2, b=1: Z = sqrt(2 (3 ln 3 - 2)) = sqrt(2 (3.29583686600432907 - 2)) = 1.60986761319328930
  EXPECT_NEAR(asimov_z(2, 1), 1.60986761319328930, 1e-14);
  // Large s/b: s=100, b=1: sqrt(2 (101 ln 101 - 100)), computed directly.
  EXPECT_NEAR(asimov_z(100, 1), std::sqrt(2 * (101 * std::log(101.0) - 100)), 1e-12);
}

TEST(AsimovZ, SmallSignalLimit) {
  // s << b: Z -> s/sqrt(b) (1 - s/(6b) + ...); s=1e-3, b=1e4: s/sqrt(b) = 1e-5.
  const double z = asimov_z(1e-3, 1e4);
  EXPECT_NEAR(z / 1e-5, 1.0, 1e-6);
  // Continuity across the series switch at s/b = 1e-2.
  const double below = asimov_z(0.99999999e-2, 1.0), above = asimov_z(1.00000001e-2, 1.0);
  EXPECT_NEAR(below / above, 1.0, 1e-7);
  // Very small s/b still positive and close to s/sqrt(b).
  EXPECT_NEAR(asimov_z(1e-12, 1.0) / 1e-12, 1.0, 1e-9);
}

TEST(AsimovZ, Rules) {
  EXPECT_EQ(asimov_z(0, 10), 0.0);
  EXPECT_EQ(asimov_z(-3, 10), 0.0);
  EXPECT_THROW(asimov_z(1, 0), InputError);
  EXPECT_THROW(asimov_z(1, -1), InputError);
  EXPECT_THROW(asimov_z(std::numeric_limits<double>::quiet_NaN(), 1), InputError);
  EXPECT_THROW(asimov_z(1, std::numeric_limits<double>::infinity()), InputError);
}

TEST(AsimovZWithUncertainty, ReducesToAsimovZ) {
  EXPECT_EQ(asimov_z_with_uncertainty(10, 100, 0.0), asimov_z(10, 100));
  EXPECT_EQ(asimov_z_with_uncertainty(1e-3, 1e4, 0.0), asimov_z(1e-3, 1e4));
  // sigma_b -> 0: corrections are O(sigma_b^2 / b).
  for (double sigma : {1e-2, 1e-3, 1e-4})
    EXPECT_NEAR(asimov_z_with_uncertainty(10, 100, sigma) / asimov_z(10, 100), 1.0, 1e-6) << sigma;
  // An uncertainty can only lower the significance.
  EXPECT_LT(asimov_z_with_uncertainty(10, 100, 5), asimov_z(10, 100));
  EXPECT_LT(asimov_z_with_uncertainty(10, 100, 10), asimov_z_with_uncertainty(10, 100, 5));
}

TEST(AsimovZWithUncertainty, HandValue) {
  // s=10, b=100, sigma_b=10:
  //   (s+b)(b+sb^2)/(b^2+(s+b)sb^2) = 110*200/(10000+11000) = 22/21, ln = 0.0465200156348928570
  //   b^2/sb^2 ln(1 + sb^2 s/(b(b+sb^2))) = 100 ln(1 + 1000/20000) = 100 ln 1.05,
  //   ln 1.05 = 0.0487901641694320031
  //   Z = sqrt(2 (110 * 0.0465200156348928570 - 100 * 0.0487901641694320031))
  //     = sqrt(2 (5.11720171983821427 - 4.87901641694320031)) = sqrt(0.47637060579002792)
  //     = 0.690196063296530200
  EXPECT_NEAR(asimov_z_with_uncertainty(10, 100, 10), 0.690196063296530200, 1e-13);
  EXPECT_EQ(asimov_z_with_uncertainty(0, 100, 10), 0.0);
  EXPECT_THROW(asimov_z_with_uncertainty(10, 100, -1), InputError);
  EXPECT_THROW(asimov_z_with_uncertainty(10, 0, 1), InputError);
}

TEST(SimpleMeasures, SOverSqrtBAndAms) {
  EXPECT_DOUBLE_EQ(s_over_sqrt_b(10, 100), 1.0);
  EXPECT_DOUBLE_EQ(s_over_sqrt_b(-3, 9), -1.0);
  EXPECT_THROW(s_over_sqrt_b(1, 0), InputError);
  // AMS, s=10, b=100, b_reg=10: sqrt(2 (120 ln(1 + 10/110) - 10)),
  //   ln(12/11) = 0.0870113769896297662, 120 * = 10.4413652387555719
  //   = sqrt(0.882730477511144) = 0.939537374196015621
  EXPECT_NEAR(ams(10, 100), 0.939537374196015621, 1e-14);
  EXPECT_EQ(ams(10, 100, 0.0), asimov_z(10, 100));
  EXPECT_NO_THROW(ams(1, 0));  // b + b_reg = 10 > 0
  EXPECT_THROW(ams(1, 0, 0.0), InputError);
}

TEST(BinnedAsimovZ, QuadratureSumSkippingEmptyBackground) {
  const std::vector<double> s{10, 2, 5, 0};
  const std::vector<double> b{100, 1, 0, 50};  // bin 2 (b = 0) is skipped
  const double z0 = asimov_z(10, 100), z1 = asimov_z(2, 1);
  EXPECT_NEAR(binned_asimov_z(s, b), std::sqrt(z0 * z0 + z1 * z1), 1e-14);
  EXPECT_EQ(binned_asimov_z(std::vector<double>{}, std::vector<double>{}), 0.0);
  EXPECT_THROW(binned_asimov_z(s, std::vector<double>{1, 2}), InputError);
}
