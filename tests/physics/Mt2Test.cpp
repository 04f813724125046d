#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <string>
#include <vector>

#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/physics/FourVector.hpp"
#include "bsmhunt/physics/Kinematics.hpp"
#include "bsmhunt/physics/Mt2.hpp"

namespace {

using namespace bsmhunt::physics;
using bsmhunt::CounterRng;
constexpr double pi = std::numbers::pi;

struct Event {
  double m_a, px_a, py_a, m_b, px_b, py_b, met_x, met_y, chi_a, chi_b;
};

double evaluate(const Event& e, const Mt2Options& options = {}) {
  return mt2(e.m_a, e.px_a, e.py_a, e.m_b, e.px_b, e.py_b, e.met_x, e.met_y, e.chi_a, e.chi_b, options);
}
Event swapped(const Event& e) { return {e.m_b, e.px_b, e.py_b, e.m_a, e.px_a, e.py_a, e.met_x, e.met_y, e.chi_b, e.chi_a}; }
double momentum_scale(const Event& e) {
  return std::max({std::hypot(e.px_a, e.py_a), std::hypot(e.px_b, e.py_b), std::hypot(e.met_x, e.met_y), e.m_a, e.m_b,
                   e.chi_a, e.chi_b});
}

// --- Brute-force reference ---------------------------------------------------
// max(mT_a^2(q), mT_b^2(MET - q)) is convex in q (each mT^2 is a constant plus
// ET sqrt(chi^2 + q^2) minus a linear term), so its minimum over the plane can be
// found by nested golden-section searches: the inner minimum over y is a convex
// function of x. A wide window (1e5 x the event scale) covers optima far out
// (small visible mass, large chi), and 100 steps shrink it below 1e-15 x scale.
template <class F>
double golden_min(const F& f, double lo, double hi, int steps) {
  const double r = (std::sqrt(5.0) - 1) / 2;
  double x1 = hi - r * (hi - lo), x2 = lo + r * (hi - lo), f1 = f(x1), f2 = f(x2);
  for (int i = 0; i < steps; ++i) {
    if (f1 < f2) {
      hi = x2, x2 = x1, f2 = f1, x1 = hi - r * (hi - lo), f1 = f(x1);
    } else {
      lo = x1, x1 = x2, f1 = f2, x2 = lo + r * (hi - lo), f2 = f(x2);
    }
  }
  return std::min(f1, f2);
}
double brute_force_mt2_squared(const Event& e) {
  const auto objective = [&](double qx, double qy) {
    return std::max(transverse_mass_squared_cartesian(e.m_a, e.px_a, e.py_a, e.chi_a, qx, qy),
                    transverse_mass_squared_cartesian(e.m_b, e.px_b, e.py_b, e.chi_b, e.met_x - qx, e.met_y - qy));
  };
  const double window = 1e5 * momentum_scale(e);
  const double cx = 0.5 * e.met_x, cy = 0.5 * e.met_y;
  const auto inner = [&](double qx) {
    return golden_min([&](double qy) { return objective(qx, qy); }, cy - window, cy + window, 100);
  };
  return std::max(golden_min(inner, cx - window, cx + window, 100), 0.0);
}

// Agreement on mT2^2 (the brute force is most precise there; near zero its square
// root is not): |mT2^2 - ref| <= 2 x relative x ref + 1e-10 x scale^2.
void expect_matches_brute_force(const Event& e, double value, double relative, const std::string& what) {
  const double ref = brute_force_mt2_squared(e), scale = momentum_scale(e);
  EXPECT_NEAR(value * value, ref, 2 * relative * ref + 1e-10 * scale * scale)
      << what << ": mT2 = " << value << " vs brute force " << std::sqrt(ref) << " (m_a " << e.m_a << ", p_a ("
      << e.px_a << ", " << e.py_a << "), m_b " << e.m_b << ", p_b (" << e.px_b << ", " << e.py_b << "), MET ("
      << e.met_x << ", " << e.met_y << "), chi " << e.chi_a << ", " << e.chi_b << ")";
}

// Typical dilepton kinematics: leptons 20-300 GeV, MET 50-500 GeV, any directions.
Event random_event(CounterRng& rng, double m_a, double m_b, double chi_a, double chi_b) {
  const double pt_a = rng.uniform(20, 300), pt_b = rng.uniform(20, 300), met = rng.uniform(50, 500);
  const double phi_a = rng.uniform(-pi, pi), phi_b = rng.uniform(-pi, pi), phi_met = rng.uniform(-pi, pi);
  return {m_a, pt_a * std::cos(phi_a), pt_a * std::sin(phi_a), m_b, pt_b * std::cos(phi_b), pt_b * std::sin(phi_b),
          met * std::cos(phi_met), met * std::sin(phi_met), chi_a, chi_b};
}

struct Scenario {
  const char* name;
  double chi_a, chi_b;
  bool massive_visible;
};

TEST(Mt2, AgreesWithBruteForceMinimisation) {
  const Scenario scenarios[] = {
      {"massless, chi = 0", 0, 0, false},         {"massless, chi = 50", 50, 50, false},
      {"massless, chi = 100", 100, 100, false},   {"massive visible, chi = 0", 0, 0, true},
      {"massive visible, chi = 50", 50, 50, true}, {"massive visible, chi = 100", 100, 100, true},
      {"asymmetric chi 0 / 100", 0, 100, true},
  };
  for (const Scenario& scenario : scenarios) {
    for (uint64_t i = 0; i < 200; ++i) {
      CounterRng rng(42, bsmhunt::stable_hash(scenario.name), i);
      const double m_a = scenario.massive_visible ? rng.uniform(0, 100) : 0.0;
      const double m_b = scenario.massive_visible ? rng.uniform(0, 100) : 0.0;
      const Event e = random_event(rng, m_a, m_b, scenario.chi_a, scenario.chi_b);
      expect_matches_brute_force(e, evaluate(e), 1e-3, scenario.name);
      if (i % 4 == 0) {  // the accurate mode and the bisection reference on a subset
        expect_matches_brute_force(e, evaluate(e, Mt2Options::accurate()), 1e-6, std::string(scenario.name) + " accurate");
        expect_matches_brute_force(e, evaluate(e, {kMt2AccuratePrecision, Mt2Method::bisection}), 1e-6,
                                   std::string(scenario.name) + " bisection");
      }
    }
  }
}

TEST(Mt2, DegenerateInputsGiveFiniteCorrectValues) {
  // Zero MET, massless everything: both invisibles at rest, mT = 0 on both sides.
  EXPECT_EQ(mt2(0, 40, 10, 0, -30, 20, 0, 0), 0.0);
  // Zero MET, massive visible, chi = 0: q = 0 gives mT = m on each side.
  EXPECT_NEAR(mt2(5, 40, 10, 12, -30, 20, 0, 0), 12.0, 12e-3);
  // Zero MET with massive invisibles: a genuine balanced minimum, still finite and >= the bound.
  {
    const Event e{0, 40, 10, 0, -30, 20, 0, 0, 50, 50};
    const double v = evaluate(e);
    EXPECT_TRUE(std::isfinite(v));
    EXPECT_GE(v, 50.0);
    expect_matches_brute_force(e, v, 1e-3, "zero MET, chi = 50");
  }
  // A visible system with neither mass nor momentum: its mT is chi_a whatever its share.
  EXPECT_DOUBLE_EQ(mt2(0, 0, 0, 10, 30, 0, 50, 50, 60, 5), 60.0);
  EXPECT_DOUBLE_EQ(mt2(0, 0, 0, 10, 30, 0, 50, 50, 10, 5), 15.0);
  EXPECT_EQ(mt2(0, 0, 0, 0, 0, 0, 0, 0), 0.0);
  // A massive visible system at zero pT.
  {
    const Event e{20, 0, 0, 5, 50, -20, 80, 30, 10, 10};
    expect_matches_brute_force(e, evaluate(e), 1e-3, "zero-pT visible");
  }
  // Non-finite input: NaN, not a hang.
  EXPECT_TRUE(std::isnan(mt2(0, NAN, 0, 0, 10, 0, 10, 0)));
  EXPECT_TRUE(std::isnan(mt2(0, 10, 0, 0, 10, 0, INFINITY, 0)));
}

TEST(Mt2, CollinearLeptonsAreFinite) {
  for (uint64_t i = 0; i < 50; ++i) {
    CounterRng rng(7, 7, i);
    const double chi = i % 2 ? 0.0 : 50.0;
    const double pt_a = rng.uniform(20, 300), pt_b = rng.uniform(20, 300), phi = rng.uniform(-pi, pi);
    const double met = rng.uniform(50, 500), phi_met = rng.uniform(-pi, pi);
    const double mx = met * std::cos(phi_met), my = met * std::sin(phi_met);
    // Parallel massless leptons: the parabolas share their axis, which mT2 lifts with a
    // regularising mass of 3e-5 pT; finite and accurate to ~1e-6.
    const Event parallel{0, pt_a * std::cos(phi), pt_a * std::sin(phi), 0, pt_b * std::cos(phi), pt_b * std::sin(phi),
                         mx, my, chi, chi};
    const double v_parallel = evaluate(parallel, Mt2Options::accurate());
    ASSERT_TRUE(std::isfinite(v_parallel));
    expect_matches_brute_force(parallel, v_parallel, 1e-5, "parallel");
    // Nearly parallel (1e-9 rad): the same value.
    const Event nearly{0, pt_a * std::cos(phi), pt_a * std::sin(phi), 0, pt_b * std::cos(phi + 1e-9),
                       pt_b * std::sin(phi + 1e-9), mx, my, chi, chi};
    EXPECT_NEAR(evaluate(nearly, Mt2Options::accurate()), v_parallel, 1e-5 * v_parallel);
    // Back to back, massless: the infimum max(chi_a, chi_b), approached far along p_a.
    const Event back_to_back{0, pt_a * std::cos(phi), pt_a * std::sin(phi), 0, -pt_b * std::cos(phi),
                             -pt_b * std::sin(phi), mx, my, chi, chi};
    EXPECT_DOUBLE_EQ(evaluate(back_to_back), chi);
    // Back to back with muon masses: finite, at or above the bound.
    const Event muons{0.1057, pt_a * std::cos(phi), pt_a * std::sin(phi), 0.1057, -pt_b * std::cos(phi),
                      -pt_b * std::sin(phi), mx, my, chi, chi};
    const double v_muons = evaluate(muons);
    EXPECT_TRUE(std::isfinite(v_muons));
    EXPECT_GE(v_muons, chi + 0.1057);
  }
}

TEST(Mt2, MasslessAnalyticCases) {
  for (uint64_t i = 0; i < 100; ++i) {
    CounterRng rng(9, 9, i);
    const double pt_a = rng.uniform(20, 300), pt_b = rng.uniform(20, 300);
    const double phi_a = rng.uniform(-pi, pi), phi_b = rng.uniform(-pi, pi);
    const double ax = pt_a * std::cos(phi_a), ay = pt_a * std::sin(phi_a);
    const double bx = pt_b * std::cos(phi_b), by = pt_b * std::sin(phi_b);
    // Balanced, no upstream momentum (MET = -(p_a + p_b)), massless visible
    // (Cho, Choi, Kim, Park 2008): mT2^2 = chi^2 + A_T + sqrt(A_T^2 + 2 chi^2 A_T),
    // A_T = |p_a||p_b| + p_a.p_b; for chi = 0 this is 2 A_T.
    const double chi = i % 2 ? 0.0 : rng.uniform(0, 150);
    const double a_t = pt_a * pt_b + ax * bx + ay * by;
    const double analytic = std::sqrt(chi * chi + a_t + std::sqrt(a_t * a_t + 2 * chi * chi * a_t));
    EXPECT_NEAR(mt2(0, ax, ay, 0, bx, by, -(ax + bx), -(ay + by), chi, chi), analytic, 1e-3 * analytic);
    EXPECT_NEAR(mt2(0, ax, ay, 0, bx, by, -(ax + bx), -(ay + by), chi, chi, Mt2Options::accurate()), analytic,
                1e-6 * analytic);
    // Unbalanced, chi = 0: MET inside the cone of the two leptons (s p_a + t p_b with
    // s, t >= 0) is shared so that each neutrino is parallel to its lepton: mT2 = 0.
    const double s = rng.uniform(0, 3), t = rng.uniform(0, 3);
    const auto unbalanced = mt2_detailed(0, ax, ay, 0, bx, by, s * ax + t * bx, s * ay + t * by);
    EXPECT_EQ(unbalanced.value, 0.0);
    EXPECT_FALSE(unbalanced.balanced);
  }
  // Unbalanced, massive: m_a = 80 dominates; with q_a = 0 side b has
  // mT_b(q = (1, 1))^2 = 25 + 2 (sqrt(925 x 2) - 30) = 51.0 < 80^2, so mT2 = m_a exactly.
  const auto heavy = mt2_detailed(80, 50, 0, 5, 0, 30, 1, 1);
  EXPECT_DOUBLE_EQ(heavy.value, 80.0);
  EXPECT_FALSE(heavy.balanced);
}

TEST(Mt2, PropertiesOnRandomEvents) {
  for (uint64_t i = 0; i < 500; ++i) {
    CounterRng rng(11, 11, i);
    const double m_a = rng.bernoulli(0.5) ? 0.0 : rng.uniform(0, 100);
    const double m_b = rng.bernoulli(0.5) ? 0.0 : rng.uniform(0, 100);
    const double chi_a = rng.bernoulli(0.3) ? 0.0 : rng.uniform(0, 200);
    const double chi_b = rng.bernoulli(0.3) ? 0.0 : rng.uniform(0, 200);
    const Event e = random_event(rng, m_a, m_b, chi_a, chi_b);
    const double v = evaluate(e, Mt2Options::accurate());
    ASSERT_TRUE(std::isfinite(v));
    // Lower bound: each mT is at least m + chi.
    EXPECT_GE(v, std::max(m_a + chi_a, m_b + chi_b) * (1 - 1e-12));
    // Symmetric under exchanging the two sides.
    EXPECT_NEAR(evaluate(swapped(e), Mt2Options::accurate()), v, 2e-6 * v + 1e-9);
    // Invariant under a common rotation of all momenta.
    const double c = std::cos(0.7), s = std::sin(0.7);
    const Event rotated{e.m_a, c * e.px_a - s * e.py_a, s * e.px_a + c * e.py_a, e.m_b, c * e.px_b - s * e.py_b,
                        s * e.px_b + c * e.py_b, c * e.met_x - s * e.met_y, s * e.met_x + c * e.met_y, e.chi_a, e.chi_b};
    EXPECT_NEAR(evaluate(rotated, Mt2Options::accurate()), v, 2e-6 * v + 1e-9);
    // Any explicit splitting is an upper bound (here: the even split).
    const double even = std::max(transverse_mass_cartesian(m_a, e.px_a, e.py_a, chi_a, e.met_x / 2, e.met_y / 2),
                                 transverse_mass_cartesian(m_b, e.px_b, e.py_b, chi_b, e.met_x / 2, e.met_y / 2));
    EXPECT_LE(v, even * (1 + 1e-6));
    // Heavier invisible hypotheses never lower mT2.
    Event heavier = e;
    heavier.chi_a += 10, heavier.chi_b += 10;
    EXPECT_GE(evaluate(heavier, Mt2Options::accurate()), v * (1 - 2e-6));
    // Scaling every momentum and mass scales mT2.
    const Event doubled{2 * e.m_a, 2 * e.px_a, 2 * e.py_a, 2 * e.m_b, 2 * e.px_b, 2 * e.py_b, 2 * e.met_x, 2 * e.met_y,
                        2 * e.chi_a, 2 * e.chi_b};
    EXPECT_NEAR(evaluate(doubled, Mt2Options::accurate()), 2 * v, 4e-6 * v + 1e-9);
  }
}

// WW -> l nu l nu at generator level: each W from a Breit-Wigner, with random pT,
// rapidity and azimuth, decays isotropically in its rest frame; the true neutrinos
// make the MET. mT2(chi = 0) <= max(m_W1, m_W2) event by event (the true splitting
// is one candidate), so the distribution ends at m_W up to the width.
TEST(Mt2, WwDileptonEndpointAtWMass) {
  constexpr double m_w = 80.4, width_w = 2.1;
  constexpr int n_events = 20000;
  std::vector<double> values;
  values.reserve(n_events);
  int above_true_masses = 0;
  for (uint64_t i = 0; i < n_events; ++i) {
    CounterRng rng(2024, 3, i);
    FourVector leptons[2], neutrinos[2];
    double heavier_w = 0;
    for (int w = 0; w < 2; ++w) {
      // Relativistic Breit-Wigner in m^2 by inversion, truncated to m_W +- 30 GeV.
      const double lo = (m_w - 30) * (m_w - 30), hi = (m_w + 30) * (m_w + 30);
      const double t_lo = std::atan((lo - m_w * m_w) / (m_w * width_w));
      const double t_hi = std::atan((hi - m_w * m_w) / (m_w * width_w));
      const double m = std::sqrt(m_w * m_w + m_w * width_w * std::tan(rng.uniform(t_lo, t_hi)));
      heavier_w = std::max(heavier_w, m);
      const double pt = rng.exponential(40.0), phi = rng.uniform(-pi, pi), y = rng.uniform(-2, 2);
      const double mt = std::sqrt(m * m + pt * pt);
      const FourVector boson{pt * std::cos(phi), pt * std::sin(phi), mt * std::sinh(y), mt * std::cosh(y)};
      const double theta = std::acos(rng.uniform(-1, 1)), azimuth = rng.uniform(-pi, pi);
      leptons[w] = boson.boost_from_rest_frame_of_this(FourVector::from_p_theta_phi_m(m / 2, theta, azimuth, 0));
      neutrinos[w] =
          boson.boost_from_rest_frame_of_this(FourVector::from_p_theta_phi_m(m / 2, pi - theta, azimuth + pi, 0));
    }
    const double value = mt2(leptons[0], leptons[1], neutrinos[0].px + neutrinos[1].px,
                             neutrinos[0].py + neutrinos[1].py);
    ASSERT_TRUE(std::isfinite(value));
    above_true_masses += value > heavier_w * (1 + kMt2DefaultPrecision);
    values.push_back(value);
  }
  EXPECT_EQ(above_true_masses, 0);
  std::sort(values.begin(), values.end());
  const double fraction_below =
      double(std::lower_bound(values.begin(), values.end(), m_w + 2 * width_w) - values.begin()) / n_events;
  EXPECT_GE(fraction_below, 0.99);
  const double p995 = values[size_t(0.995 * n_events)];
  EXPECT_NEAR(p995, m_w, 5.0);
  std::printf("[ mT2 WW ] fraction below m_W + 2 Gamma: %.4f, 99.5th percentile %.2f GeV, max %.2f GeV\n",
              fraction_below, p995, values.back());
}

}  // namespace
