#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "bsmhunt/physics/FourVector.hpp"

using bsmhunt::physics::FourVector;
using bsmhunt::physics::wrap_phi;

constexpr double pi = std::numbers::pi;

TEST(FourVector, ConversionsByHand) {
  // pT = 30, eta = 0: pz = 0; phi = pi/2: px = 0, py = 30; m = 4 -> E = sqrt(900 + 16) = 30.2655
  const auto v = FourVector::from_pt_eta_phi_m(30, 0, pi / 2, 4);
  EXPECT_NEAR(v.px, 0, 1e-12);
  EXPECT_NEAR(v.py, 30, 1e-12);
  EXPECT_NEAR(v.pz, 0, 1e-12);
  EXPECT_NEAR(v.e, std::sqrt(916.0), 1e-12);
  // eta = 1: pz = pT sinh(1) = 30 x 1.1752012 = 35.256036
  const auto w = FourVector::from_pt_eta_phi_m(30, 1.0, -0.5, 0);
  EXPECT_NEAR(w.pz, 35.256036, 1e-5);
  EXPECT_NEAR(w.eta(), 1.0, 1e-12);
  EXPECT_NEAR(w.phi(), -0.5, 1e-12);
  EXPECT_NEAR(w.pt(), 30, 1e-12);
  EXPECT_NEAR(w.m(), 0, 1e-5);
}

TEST(FourVector, InvariantMassByHand) {
  // Two massless 45.6 GeV leptons back to back: m = 91.2.
  const auto a = FourVector::from_pt_eta_phi_m(45.6, 0, 0, 0);
  const auto b = FourVector::from_pt_eta_phi_m(45.6, 0, pi, 0);
  EXPECT_NEAR((a + b).m(), 91.2, 1e-9);
  // At 90 degrees: m^2 = 2 pT1 pT2 (1 - cos 90deg) = 2 x 40 x 30 -> m = sqrt(2400) = 48.98979
  const auto c = FourVector::from_pt_eta_phi_m(40, 0, 0, 0);
  const auto d = FourVector::from_pt_eta_phi_m(30, 0, pi / 2, 0);
  EXPECT_NEAR((c + d).m(), std::sqrt(2400.0), 1e-9);
  // Different eta: m^2 = 2 pT1 pT2 (cosh(deta) - cos(dphi)) = 2 x 50 x 50 x (cosh 1 - cos 0)
  const auto e = FourVector::from_pt_eta_phi_m(50, 0.5, 1.0, 0);
  const auto f = FourVector::from_pt_eta_phi_m(50, -0.5, 1.0, 0);
  EXPECT_NEAR((e + f).m(), std::sqrt(5000 * (std::cosh(1.0) - 1.0)), 1e-9);
}

TEST(FourVector, BoostsByHand) {
  // A Z at rest decaying along x, boosted along z with beta = 0.6 (gamma = 1.25):
  // E' = gamma E = 1.25 x 45.6, pz' = gamma beta E = 0.75 x 45.6, px unchanged.
  const auto l = FourVector{45.6, 0, 0, 45.6};
  const auto b = l.boosted(0, 0, 0.6);
  EXPECT_NEAR(b.e, 1.25 * 45.6, 1e-9);
  EXPECT_NEAR(b.pz, 0.75 * 45.6, 1e-9);
  EXPECT_NEAR(b.px, 45.6, 1e-9);
  EXPECT_NEAR(b.m(), 0, 1e-6);
  // A boost by beta and back by -beta (one axis, so no Wigner rotation) is the
  // identity; the mass is invariant.
  const auto m = FourVector::from_pt_eta_phi_m(20, 1.3, 2.0, 5.0);
  const auto there = m.boosted(0.3, -0.2, 0.5);
  const auto back = there.boosted(-0.3, 0.2, -0.5);
  EXPECT_NEAR(there.m(), 5.0, 1e-9);
  EXPECT_NEAR(back.px, m.px, 1e-12 * m.e);
  EXPECT_NEAR(back.py, m.py, 1e-12 * m.e);
  EXPECT_NEAR(back.pz, m.pz, 1e-12 * m.e);
  EXPECT_NEAR(back.e, m.e, 1e-12 * m.e);
  // Boosts along different axes do not commute: x, z, then -x, -z is not the identity
  // (the Thomas-Wigner effect), but it is a Lorentz transformation: the mass stays.
  const auto xz = m.boosted(0.6, 0, 0).boosted(0, 0, 0.6).boosted(-0.6, 0, 0).boosted(0, 0, -0.6);
  EXPECT_GT(std::fabs(xz.px - m.px) + std::fabs(xz.pz - m.pz), 1e-3);
  EXPECT_NEAR(xz.m(), 5.0, 1e-9);
  const auto z1 = m.boosted(0, 0, 0.5).boosted(0, 0, -0.5);
  EXPECT_NEAR(z1.px, m.px, 1e-9);
  EXPECT_NEAR(z1.pz, m.pz, 1e-9);
  EXPECT_NEAR(z1.e, m.e, 1e-9);
  // Two-body decay in the rest frame boosted into the lab keeps the parent's mass.
  const auto parent = FourVector::from_pt_eta_phi_m(100, 0.7, -1.0, 91.1876);
  const double p = 91.1876 / 2;
  const auto d1 = parent.boost_from_rest_frame_of_this(FourVector::from_p_theta_phi_m(p, 0.4, 1.1, 0));
  const auto d2 = parent.boost_from_rest_frame_of_this(FourVector::from_p_theta_phi_m(p, pi - 0.4, 1.1 + pi, 0));
  EXPECT_NEAR((d1 + d2).m(), 91.1876, 1e-9);
  EXPECT_NEAR((d1 + d2).pt(), 100, 1e-9);
}

TEST(FourVector, PhiWrapping) {
  EXPECT_NEAR(wrap_phi(3 * pi / 2), -pi / 2, 1e-12);
  EXPECT_NEAR(wrap_phi(-3 * pi / 2), pi / 2, 1e-12);
  EXPECT_NEAR(bsmhunt::physics::delta_phi(3.0, -3.0), 6.0 - 2 * pi, 1e-12);
  EXPECT_NEAR(bsmhunt::physics::delta_r(0, 3.0, 0, -3.0), 2 * pi - 6.0, 1e-12);
  EXPECT_NEAR(wrap_phi(pi), -pi, 1e-12);
}

TEST(FourVector, TransverseQuantities) {
  // mT^2 = E^2 - pz^2 = m^2 + pT^2
  const auto v = FourVector::from_pt_eta_phi_m(30, 2.0, 0.1, 40);
  EXPECT_NEAR(v.mt2(), 40 * 40 + 30 * 30, 1e-6);
  EXPECT_NEAR(v.rapidity(), 0.5 * std::log((v.e + v.pz) / (v.e - v.pz)), 1e-12);
}
