#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/physics/FourVector.hpp"
#include "bsmhunt/physics/Kinematics.hpp"

namespace {

using namespace bsmhunt::physics;
constexpr double pi = std::numbers::pi;

TEST(Kinematics, InvariantMassByHand) {
  // Z -> ll at rest: two massless 45.6 GeV leptons back to back give 91.2.
  EXPECT_NEAR(invariant_mass(45.6, 0.3, 1.0, 0.0, 45.6, 0.3, 1.0 - pi, 0.0), 91.2, 1e-9);
  // Same in float.
  EXPECT_NEAR(invariant_mass(45.6f, 0.0f, 0.0f, 0.0f, 45.6f, 0.0f, 3.14159265f, 0.0f), 91.2f, 1e-4f);
  // Massless at eta1 = 0.5, eta2 = -0.5, same phi: m^2 = 2 pT1 pT2 (cosh 1 - 1) = 5000 x 0.5430806
  EXPECT_NEAR(invariant_mass(50.0, 0.5, 1.0, 0.0, 50.0, -0.5, 1.0, 0.0), std::sqrt(5000 * (std::cosh(1.0) - 1)), 1e-9);
  // Massive, by hand: (pT, eta, phi, m) = (30, 0, 0, 10) and (40, 0, pi/2, 20).
  // E1 = sqrt(900 + 100) = 31.6227766, E2 = sqrt(1600 + 400) = 44.7213595, p1.p2 = 0 (perpendicular, pz = 0)
  // m^2 = 100 + 400 + 2 E1 E2 = 500 + 2 sqrt(2e6) = 500 + 2828.4271247 = 3328.4271247 -> m = 57.6925223
  EXPECT_NEAR(invariant_mass(30.0, 0.0, 0.0, 10.0, 40.0, 0.0, pi / 2, 20.0), 57.6925223, 1e-6);
}

TEST(Kinematics, InvariantMassAgreesWithFourVectors) {
  for (uint64_t i = 0; i < 200; ++i) {
    bsmhunt::CounterRng rng(1, 2, i);
    const double pt1 = rng.uniform(1, 500), eta1 = rng.uniform(-4, 4), phi1 = rng.uniform(-pi, pi), m1 = rng.uniform(0, 100);
    const double pt2 = rng.uniform(1, 500), eta2 = rng.uniform(-4, 4), phi2 = rng.uniform(-pi, pi), m2 = rng.uniform(0, 100);
    const auto sum = FourVector::from_pt_eta_phi_m(pt1, eta1, phi1, m1) + FourVector::from_pt_eta_phi_m(pt2, eta2, phi2, m2);
    EXPECT_NEAR(invariant_mass(pt1, eta1, phi1, m1, pt2, eta2, phi2, m2), sum.m(), 1e-9 * sum.e);
    const float mf = invariant_mass<float>(pt1, eta1, phi1, m1, pt2, eta2, phi2, m2);
    EXPECT_NEAR(mf, sum.m(), 1e-5 * sum.e);
  }
}

TEST(Kinematics, InvariantMassOfNearlyCollinearPairIsStable) {
  // Two 1 TeV massless objects 1e-4 rad apart: m = 2 pT sin(dphi/2) = 0.1 GeV. The
  // E1 E2 - p1.p2 form loses it entirely in float (and most digits in double).
  EXPECT_NEAR(invariant_mass(1000.0f, 0.0f, 0.0f, 0.0f, 1000.0f, 0.0f, 1e-4f, 0.0f), 0.1f, 1e-6f);
  EXPECT_NEAR(invariant_mass(1000.0, 1.0, 0.0, 0.0, 1000.0, 1.0, 1e-7, 0.0), 1e-4, 1e-15);
}

TEST(Kinematics, PairPt) {
  EXPECT_NEAR(pair_pt(40.0, 0.3, 40.0, 0.3 + pi), 0.0, 1e-12);  // back to back, equal
  EXPECT_NEAR(pair_pt(30.0, 0.0, 40.0, pi / 2), 50.0, 1e-12);   // 3-4-5
  EXPECT_NEAR(pair_pt(30.0, 1.0, 40.0, 1.0), 70.0, 1e-12);      // parallel
}

TEST(Kinematics, TransverseMassByHand) {
  // W -> l nu at rest in the transverse plane: 40 GeV lepton, 40 GeV neutrino back to back: mT = 80.
  EXPECT_NEAR(transverse_mass(40.0, 0.5, 40.0, 0.5 - pi), 80.0, 1e-12);
  // 90 degrees: mT^2 = 2 x 40 x 30 x (1 - 0) = 2400.
  EXPECT_NEAR(transverse_mass(40.0, 0.0, 30.0, pi / 2), std::sqrt(2400.0), 1e-12);
  // Across the +-pi boundary: dphi(3.0, -3.0) = 2 pi - 6 = 0.2831853, not 6.
  // mT = 2 sqrt(40 x 40) |sin(0.2831853 / 2)| = 80 x 0.1411200 = 11.2896
  EXPECT_NEAR(transverse_mass(40.0, 3.0, 40.0, -3.0), 80 * std::sin((2 * pi - 6) / 2), 1e-12);
  EXPECT_NEAR(transverse_mass(40.0f, 3.0f, 40.0f, -3.0f), 11.2896f, 1e-3f);
  // Collinear: zero.
  EXPECT_NEAR(transverse_mass(40.0, 1.0, 40.0, 1.0), 0.0, 1e-12);
}

TEST(Kinematics, SystemTransverseMassByHand) {
  // Visible system m = 10, pT = 30 along x; MET = 40 along -x.
  // ET = sqrt(100 + 900) = 31.6227766; mT^2 = 100 + 2 (31.6227766 x 40 - 30 x 40 x cos(pi))
  //      = 100 + 2 (1264.911064 + 1200) = 5029.822128 -> mT = 70.9212389
  EXPECT_NEAR(system_transverse_mass(10.0, 30.0, 0.0, 40.0, pi), 70.9212389, 1e-6);
  // Massless system: the plain formula.
  EXPECT_NEAR(system_transverse_mass(0.0, 40.0, 0.2, 30.0, 1.7), transverse_mass(40.0, 0.2, 30.0, 1.7), 1e-12);
}

TEST(Kinematics, CartesianTransverseMassByHand) {
  // m1 = 10, p1 = (30, 0); m2 = 20, p2 = (0, 40): ET1 = 31.6227766, ET2 = 44.7213595, p1.p2 = 0
  // mT^2 = 100 + 400 + 2 ET1 ET2 = 3328.4271247 -> 57.6925223 (the invariant mass at eta = 0).
  EXPECT_NEAR(transverse_mass_cartesian(10.0, 30.0, 0.0, 20.0, 0.0, 40.0), 57.6925223, 1e-6);
  // Massless second object: the system formula.
  EXPECT_NEAR(transverse_mass_cartesian(10.0, 30.0, 0.0, 0.0, -40.0, 0.0), 70.9212389, 1e-6);
  // Random cross-check against the definition m1^2 + m2^2 + 2 (ET1 ET2 - p1.p2).
  for (uint64_t i = 0; i < 100; ++i) {
    bsmhunt::CounterRng rng(3, 4, i);
    const double m1 = rng.uniform(0, 50), px1 = rng.uniform(-100, 100), py1 = rng.uniform(-100, 100);
    const double m2 = rng.uniform(0, 50), px2 = rng.uniform(-100, 100), py2 = rng.uniform(-100, 100);
    const double et1 = std::sqrt(m1 * m1 + px1 * px1 + py1 * py1), et2 = std::sqrt(m2 * m2 + px2 * px2 + py2 * py2);
    const double direct = m1 * m1 + m2 * m2 + 2 * (et1 * et2 - px1 * px2 - py1 * py2);
    EXPECT_NEAR(transverse_mass_squared_cartesian(m1, px1, py1, m2, px2, py2), direct, 1e-9 * et1 * et2);
  }
}

TEST(Kinematics, DeltaPhiWrapsAcrossPi) {
  EXPECT_NEAR(abs_delta_phi(3.0, -3.0), 2 * pi - 6.0, 1e-12);
  EXPECT_NEAR(abs_delta_phi(-3.0, 3.0), 2 * pi - 6.0, 1e-12);
  EXPECT_NEAR(abs_delta_phi(0.5, -0.5), 1.0, 1e-12);
  EXPECT_NEAR(abs_delta_phi(0.0, pi), pi, 1e-12);
  EXPECT_NEAR(abs_delta_phi(0.0, 7 * pi + 0.1), pi - 0.1, 1e-9);
  EXPECT_NEAR(abs_delta_phi(3.0f, -3.0f), 0.2831853f, 1e-5f);
  // FourVector.hpp's signed versions, reused here.
  EXPECT_NEAR(delta_phi(3.0, -3.0), 6.0 - 2 * pi, 1e-12);
  EXPECT_NEAR(delta_r(0.0, 3.0, 0.0, -3.0), 2 * pi - 6.0, 1e-12);
}

TEST(Kinematics, Rapidity) {
  EXPECT_NEAR(rapidity(30.0, 1.3, 0.0), 1.3, 1e-12);  // massless: y = eta
  const auto v = FourVector::from_pt_eta_phi_m(30, 2.0, 0.1, 40);
  EXPECT_NEAR(rapidity(30.0, 2.0, 40.0), v.rapidity(), 1e-12);
  EXPECT_LT(std::fabs(rapidity(30.0, 2.0, 40.0)), 2.0);  // |y| < |eta| for massive objects
  EXPECT_EQ(rapidity(0.0, 5.0, 0.0), 0.0);                // nothing: no NaN
}

TEST(Kinematics, Ht) {
  const std::vector<float> pts{120.0f, 45.5f, 25.0f, 18.0f};
  EXPECT_FLOAT_EQ(ht(pts), 208.5f);
  EXPECT_FLOAT_EQ(ht(pts, 20.0f), 190.5f);
  const std::vector<double> none;
  EXPECT_EQ(ht(none), 0.0);
}

}  // namespace
