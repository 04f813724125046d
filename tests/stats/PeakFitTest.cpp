// Peak fits: the shapes' bin integrals against brute-force integration of their
// densities, fits of exact (Asimov) spectra that return the injected values, the
// coverage of the mass uncertainty with toys at four mass scales (J/psi to a 3 TeV
// resonance), flat background-only p-values, the sliding scan and its global
// significance, and the bad-input errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/stats/PeakFit.hpp"

namespace bsmhunt::stats {
namespace {

// Midpoint rule with n points: independent of the analytic integrals under test.
template <typename F>
double brute_integral(F f, double a, double b, int n = 200000) {
  double sum = 0, h = (b - a) / n;
  for (int i = 0; i < n; ++i) sum += f(a + (i + 0.5) * h);
  return sum * h;
}

double gauss_pdf(double x, double m, double s) {
  return std::exp(-0.5 * (x - m) * (x - m) / (s * s)) / (s * std::sqrt(2 * std::numbers::pi));
}
double bw_pdf(double x, double m, double gamma) {
  return (gamma / 2) / std::numbers::pi / ((x - m) * (x - m) + gamma * gamma / 4);
}
// Double-sided Crystal Ball, unnormalised, written from its definition.
double cb_pdf(double x, double m, double s, double aL, double nL, double aR, double nR) {
  const double z = (x - m) / s;
  if (z < -aL) return std::pow(nL / aL, nL) * std::exp(-aL * aL / 2) * std::pow(nL / aL - aL - z, -nL);
  if (z > aR) return std::pow(nR / aR, nR) * std::exp(-aR * aR / 2) * std::pow(nR / aR - aR + z, -nR);
  return std::exp(-z * z / 2);
}

PeakModel model_of(PeakShape shape, const std::string& background, double lo, double hi) {
  PeakModel m;
  m.shape = shape;
  m.background = parse_background_family(background);
  m.lo = lo, m.hi = hi;
  return m;
}

TEST(PeakFit, ShapeIntegralsMatchBruteForce) {
  PeakModel m = model_of(PeakShape::gauss, "exp", 0, 200);
  EXPECT_NEAR(peak_integral(m, 91, 2.5, 88, 90), brute_integral([](double x) { return gauss_pdf(x, 91, 2.5); }, 88, 90), 1e-9);
  m.shape = PeakShape::breit_wigner;
  EXPECT_NEAR(peak_integral(m, 91, 2.5, 88, 90), brute_integral([](double x) { return bw_pdf(x, 91, 2.5); }, 88, 90), 1e-9);
  m.shape = PeakShape::crystal_ball;
  m.cb_alpha_lo = 1.2, m.cb_n_lo = 3, m.cb_alpha_hi = 2.0, m.cb_n_hi = 6;
  const auto cb = [&](double x) { return cb_pdf(x, 9.46, 0.1, 1.2, 3, 2.0, 6); };
  // The n = 3 tail falls as z^-3: +-600 GeV (6000 sigma) leaves ~1e-7 of it out.
  const double total = brute_integral(cb, 9.46 - 600, 9.46 + 600, 12000000);
  for (const auto& [a, b] : {std::pair{9.0, 9.3}, {9.3, 9.45}, {9.45, 9.6}, {9.6, 9.9}, {8.0, 11.0}})
    EXPECT_NEAR(peak_integral(m, 9.46, 0.1, a, b), brute_integral(cb, a, b) / total, 2e-6) << a << "," << b;
  // Voigt: the Breit-Wigner convolved with a Gaussian, integrated over the bin by brute force.
  m.shape = PeakShape::voigt;
  m.resolution = 1.5;
  const auto voigt = [&](double x) {
    return brute_integral([&](double u) { return gauss_pdf(u, 0, 1.5) * bw_pdf(x - u, 91.19, 2.5); }, -12, 12, 4000);
  };
  for (const auto& [a, b] : {std::pair{85.0, 88.0}, {89.0, 90.0}, {90.5, 91.5}, {93.0, 99.0}})
    EXPECT_NEAR(peak_integral(m, 91.19, 2.5, a, b), brute_integral(voigt, a, b, 600), 2e-5) << a << "," << b;
}

TEST(PeakFit, BackgroundFamiliesAreNormalisedOverTheRange) {
  // With every Bernstein coefficient 1 the density is flat: fractions = bin widths / range.
  PeakModel m = model_of(PeakShape::gauss, "bernstein:3", 10, 20);
  const std::vector<double> edges{10, 11, 13, 16, 20};
  const auto nu = peak_expected(m, edges, {0, 15, 1, 100, 0, 0, 0});
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(nu[i], 100 * (edges[i + 1] - edges[i]) / 10, 1e-10);
  // Exponential in t = (m - lo) / (hi - lo): fractions of e^{-2 t}, by hand.
  m = model_of(PeakShape::gauss, "exp", 10, 20);
  const auto e = peak_expected(m, edges, {0, 15, 1, 100, 2});
  const auto F = [](double t) { return (1 - std::exp(-2 * t)) / (1 - std::exp(-2.0)); };
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(e[i], 100 * (F((edges[i + 1] - 10) / 10) - F((edges[i] - 10) / 10)), 1e-10);
  // A signal adds exactly its yield over the range.
  const auto s = peak_expected(m, edges, {30, 15, 1, 100, 2});
  double sum = 0;
  for (double v : s) sum += v;
  EXPECT_NEAR(sum, 130, 1e-9);
}

// A spectrum of `bins` bins on [lo, hi] with the model's expected counts for p.
Spectrum asimov(const PeakModel& m, std::size_t bins, const std::vector<double>& p) {
  Spectrum s;
  for (std::size_t i = 0; i <= bins; ++i) s.edges.push_back(m.lo + (m.hi - m.lo) * double(i) / double(bins));
  s.counts = peak_expected(m, s.edges, p);
  return s;
}

TEST(PeakFit, AsimovFitsReturnTheInjectedValuesAtEveryScale) {
  struct Case {
    PeakShape shape;
    const char* background;
    double lo, hi, resolution;
    std::vector<double> truth;
  };
  const std::vector<Case> cases = {
      {PeakShape::gauss, "exp", 2.7, 3.5, 0, {800, 3.097, 0.035, 20000, 1.5}},
      {PeakShape::crystal_ball, "bernstein:2", 8.6, 10.6, 0, {600, 9.46, 0.1, 15000, 0.3, -0.2}},
      {PeakShape::voigt, "exp", 70, 115, 1.5, {5000, 91.19, 2.4952, 8000, 2.0}},
      {PeakShape::gauss, "f3", 2000, 4500, 0, {300, 3000, 100, 20000, 10, 5}},
  };
  for (const auto& c : cases) {
    PeakModel m = model_of(c.shape, c.background, c.lo, c.hi);
    m.resolution = c.resolution;
    const Spectrum s = asimov(m, 50, c.truth);
    const FitRange r = fit_range(s, c.lo, c.hi, m.parameters());
    PeakFitOptions o;
    o.mass = c.truth[1] + 0.5 * c.truth[2], o.width = 1.3 * c.truth[2];
    const PeakFitResult f = fit_peak(m, s, r, o);
    ASSERT_TRUE(f.converged) << to_string(c.shape) << ": " << f.message;
    EXPECT_NEAR(f.mass(), c.truth[1], 1e-4 * c.truth[2]) << to_string(c.shape);
    EXPECT_NEAR(f.parameters[2], c.truth[2], 1e-3 * c.truth[2]) << to_string(c.shape);
    EXPECT_NEAR(f.parameters[0], c.truth[0], 1e-3 * c.truth[0]) << to_string(c.shape);
    EXPECT_GT(f.mass_error(), 0) << to_string(c.shape);
    EXPECT_NEAR(f.chi2, 0, 1e-6) << to_string(c.shape);
    // The Asimov local significance grows with the signal: well above 5 here.
    EXPECT_GT(local_significance(f, fit_background(m, s, r)).z, 5) << to_string(c.shape);
  }
}

// Coverage: Poisson toys of signal + background; the fitted mass lies within its
// 1-sigma error of the truth in 68% +- 5% of them. Toys are spread over the ranks.
TEST(PeakFit, MassErrorsCoverAtFourScales) {
  const auto world = dist::Communicator::world();
  struct Case {
    const char* name;
    PeakShape shape;
    const char* background;
    double lo, hi, resolution;
    std::size_t bins;
    std::vector<double> truth;
  };
  const std::vector<Case> cases = {
      {"J/psi-like, 3 GeV", PeakShape::gauss, "exp", 2.7, 3.5, 0, 40, {400, 3.097, 0.035, 6000, 1.5}},
      {"Upsilon-like, 9.5 GeV", PeakShape::crystal_ball, "bernstein:2", 8.6, 10.6, 0, 40, {300, 9.46, 0.1, 5000, 0.3, -0.2}},
      {"Z-like, 91 GeV", PeakShape::voigt, "exp", 75, 110, 1.5, 35, {1500, 91.19, 2.4952, 3000, 2.0}},
      {"dijet resonance, 3 TeV", PeakShape::gauss, "f3", 2000, 4500, 0, 25, {200, 3000, 100, 8000, 10, 5}},
  };
  const uint64_t toys = 300;
  for (std::size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& c = cases[ci];
    PeakModel m = model_of(c.shape, c.background, c.lo, c.hi);
    m.resolution = c.resolution;
    const Spectrum expected = asimov(m, c.bins, c.truth);
    std::vector<uint64_t> counts{0, 0};  // covered, converged
    for (uint64_t t = uint64_t(world.rank()); t < toys; t += uint64_t(world.size())) {
      CounterRng rng(7, ci, t);
      Spectrum s = expected;
      for (auto& n : s.counts) n = double(rng.poisson(n));
      PeakFitOptions o;
      o.mass = c.truth[1], o.width = c.truth[2];
      const PeakFitResult f = fit_peak(m, s, fit_range(s, c.lo, c.hi, m.parameters()), o);
      if (!f.converged || !std::isfinite(f.mass_error())) continue;
      ++counts[1];
      counts[0] += std::fabs(f.mass() - c.truth[1]) < f.mass_error() ? 1 : 0;
    }
    world.sum_in_place(counts);
    EXPECT_GE(counts[1], toys * 98 / 100) << c.name << ": fits that failed";
    const double coverage = double(counts[0]) / double(counts[1]);
    EXPECT_NEAR(coverage, 0.6827, 0.05) << c.name << ": " << counts[0] << " of " << counts[1];
  }
}

// Background-only toys: the local p-value at a fixed mass is uniform (Kolmogorov-
// Smirnov distance below its 5% critical value 1.36 / sqrt(n)).
TEST(PeakFit, BackgroundOnlyPValuesAreFlat) {
  const auto world = dist::Communicator::world();
  PeakModel m = model_of(PeakShape::gauss, "exp", 75, 110);
  const Spectrum expected = asimov(m, 35, {0, 91.19, 2.5, 4000, 2.0});
  const uint64_t toys = 400;
  std::vector<double> p(toys, 0.0);
  for (uint64_t t = uint64_t(world.rank()); t < toys; t += uint64_t(world.size())) {
    CounterRng rng(11, 1, t);
    Spectrum s = expected;
    for (auto& n : s.counts) n = double(rng.poisson(n));
    const FitRange r = fit_range(s, 75, 110, m.parameters());
    PeakFitOptions o;
    o.mass = 91.19, o.width = 2.5, o.fix_mass = o.fix_width = true;
    p[t] = local_significance(fit_peak(m, s, r, o), fit_background(m, s, r)).p;
  }
  world.sum_in_place(p);
  std::sort(p.begin(), p.end());
  double d = 0;
  for (std::size_t i = 0; i < toys; ++i)
    d = std::max({d, std::fabs(p[i] - double(i) / toys), std::fabs(p[i] - double(i + 1) / toys)});
  EXPECT_LT(d, 1.36 / std::sqrt(double(toys))) << "KS distance";
}

TEST(PeakFit, ScanFindsTheInjectedPeakAndToysGiveItsGlobalSignificance) {
  const auto world = dist::Communicator::world();
  PeakModel m = model_of(PeakShape::gauss, "exp", 75, 110);
  Spectrum s = asimov(m, 35, {250, 95, 1.5, 4000, 2.0});
  CounterRng rng(3, 0, 0);
  for (auto& n : s.counts) n = double(rng.poisson(n));
  const FitRange r = fit_range(s, 75, 110, m.parameters());
  const PeakScan scan = scan_peak(m, s, r, 1.5, 1.0);
  ASSERT_FALSE(scan.z.empty());
  EXPECT_NEAR(scan.mass[scan.best], 95, 1.01);
  EXPECT_GT(scan.max_z(), 3);
  const PeakGlobal g = peak_global_significance(world, m, s, r, fit_background(m, s, r), 1.5, 1.0, scan.max_z(), 40, 5);
  EXPECT_EQ(g.toys, 40u);
  EXPECT_EQ(g.failed, 0u);
  // The global Z is smaller than the local one (the look-elsewhere effect) and the
  // Gross-Vitells estimate lands close to the toys when they see no toy above.
  EXPECT_LT(g.z_global, scan.max_z());
  EXPECT_LT(g.z_gross_vitells, scan.max_z());
  EXPECT_GT(g.upcrossings, 0.5);
}

TEST(PeakFit, BadInputIsNamed) {
  PeakModel m = model_of(PeakShape::gauss, "exp", 75, 110);
  const Spectrum s = asimov(m, 35, {0, 91, 2, 1000, 1});
  const auto message = [](auto f) {
    try {
      f();
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] { fit_range(s, 200, 300, 5); }).find("outside the spectrum"), std::string::npos);
  EXPECT_NE(message([&] { fit_range(s, 75, 79, 5); }).find("too few for 5 parameters"), std::string::npos);
  EXPECT_NE(message([] { parse_peak_shape("gaus"); }).find("did you mean"), std::string::npos);
  EXPECT_NE(message([] { parse_background_family("bernstein:0"); }).find("1 to 10"), std::string::npos);
  EXPECT_NE(message([] { parse_background_family("expo"); }).find("expected one of"), std::string::npos);
}

}  // namespace
}  // namespace bsmhunt::stats
