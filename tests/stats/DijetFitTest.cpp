// Sideband fits with the dijet functions. Runs under mpirun with 1, 2 and 3 ranks:
// every rank runs every test, and the only collective (the toys) is reached
// unconditionally before any check.
#include <gtest/gtest.h>

#include <chrono>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/stats/DijetFit.hpp"

using namespace bsmhunt;
using namespace bsmhunt::stats;

namespace {

constexpr double kSqrtS = 13000;

// Equal-width bins [lo, hi) in GeV.
std::vector<double> uniform_edges(double lo, double hi, std::size_t bins) {
  std::vector<double> e(bins + 1);
  for (std::size_t i = 0; i <= bins; ++i) e[i] = lo + (hi - lo) * double(i) / double(bins);
  return e;
}

// Expected counts of `f` with parameters p (Asimov spectrum).
Spectrum asimov(DijetFunction f, const std::vector<double>& p, const std::vector<double>& edges) {
  Spectrum s;
  s.edges = edges;
  for (std::size_t i = 0; i + 1 < edges.size(); ++i)
    s.counts.push_back(dijet_integral(f, p, edges[i] / kSqrtS, edges[i + 1] / kSqrtS));
  return s;
}

Spectrum poisson(const Spectrum& expected, uint64_t seed, uint64_t index) {
  CounterRng rng(seed, 11, index);
  Spectrum s = expected;
  for (auto& n : s.counts) n = double(rng.poisson(n));
  return s;
}

// A typical dijet spectrum: 1-6 TeV in 50 bins of 100 GeV, ~1e5 events in the first
// bin falling to ~0.2 in the last.
const std::vector<double> kF4Truth{350.0, 10.0, 5.0, 0.2};
std::vector<double> dijet_edges() { return uniform_edges(1000, 6000, 50); }

double relative(double a, double b) { return std::fabs(a - b) / std::fabs(b); }

// Measurements worth seeing in the test log, printed once (by rank 0).
template <typename... Args>
void info(const char* format, Args... args) {
  if (!dist::Communicator::world().is_root()) return;
  std::printf("[ info     ] ");
  std::printf(format, args...);
  std::printf("\n");
}

}  // namespace

TEST(DijetFunctions, HandComputedValues) {
  // f3 = 2 (1 - 0.5)^3 0.5^-4 = 2 * 0.125 * 16 = 4
  EXPECT_NEAR(dijet_value(DijetFunction::f3, std::vector<double>{2, 3, 4}, 0.5), 4.0, 1e-14);
  // f4 at x = 1/e: (1 - 1/e)^2 x^(-1 - 0.5 * (-1)) = (1 - 1/e)^2 e^0.5
  EXPECT_NEAR(dijet_value(DijetFunction::f4, std::vector<double>{1, 2, 1, 0.5}, std::exp(-1.0)), 0.6587901114232911,
              1e-14);
  // fexp = 3 * 0.2^2 exp(-0.2 + 0.5 * 0.04) = 0.12 exp(-0.18)
  EXPECT_NEAR(dijet_value(DijetFunction::fexp, std::vector<double>{3, 2, 1, 0.5}, 0.2), 0.10023242536935263, 1e-15);
  // f5 at x = 1/e with p = (1, 0, 1, 0, 1): x^(-1 - ln^2 x) = x^-2 = e^2
  EXPECT_NEAR(dijet_value(DijetFunction::f5, std::vector<double>{1, 0, 1, 0, 1}, std::exp(-1.0)), std::exp(2.0),
              1e-13);
  // f4 with p4 = 0 is f3; f5 with p5 = 0 is f4.
  EXPECT_DOUBLE_EQ(dijet_value(DijetFunction::f4, std::vector<double>{5, 7, 3, 0}, 0.3),
                   dijet_value(DijetFunction::f3, std::vector<double>{5, 7, 3}, 0.3));
  EXPECT_DOUBLE_EQ(dijet_value(DijetFunction::f5, std::vector<double>{5, 7, 3, 0.4, 0}, 0.3),
                   dijet_value(DijetFunction::f4, std::vector<double>{5, 7, 3, 0.4}, 0.3));
}

TEST(DijetFunctions, BinIntegralsAreIntegralsNotCentreValues) {
  // p2 = 0: f3 = x^-4, integral over [0.1, 0.2] = (0.1^-3 - 0.2^-3) / 3 = 875 / 3
  const std::vector<double> power{1, 0, 4};
  EXPECT_NEAR(dijet_integral(DijetFunction::f3, power, 0.1, 0.2), 291.6666666666667, 1e-10);
  // A wide bin: [0.05, 0.5] = (0.05^-3 - 0.5^-3) / 3 = 7992 / 3
  EXPECT_NEAR(relative(dijet_integral(DijetFunction::f3, power, 0.05, 0.5), 7992.0 / 3), 0, 1e-12);
  // The bin-centre value times the width is 22% off for the first bin: integration matters.
  EXPECT_GT(relative(0.1 * dijet_value(DijetFunction::f3, power, 0.15), 875.0 / 3), 0.2);
  // Every function against a fine Simpson rule in x.
  const std::vector<std::pair<DijetFunction, std::vector<double>>> cases{
      {DijetFunction::f3, {3, 8, 5}},
      {DijetFunction::f4, kF4Truth},
      {DijetFunction::fexp, {2, -4, 3, -1}},
      {DijetFunction::f5, {1, 9, 4, 0.3, 0.05}}};
  for (const auto& [f, p] : cases) {
    const double a = 0.08, b = 0.2;
    const int steps = 20000;
    double simpson = 0;
    for (int i = 0; i <= steps; ++i) {
      const double w = (i == 0 || i == steps) ? 1 : (i % 2 ? 4 : 2);
      simpson += w * dijet_value(f, p, a + (b - a) * i / steps);
    }
    simpson *= (b - a) / steps / 3;
    EXPECT_LT(relative(dijet_integral(f, p, a, b), simpson), 1e-11) << to_string(f);
  }
}

TEST(DijetFunctions, NamesAndCounts) {
  EXPECT_EQ(parse_dijet_functions("f3, f4,fexp"),
            (std::vector<DijetFunction>{DijetFunction::f3, DijetFunction::f4, DijetFunction::fexp}));
  EXPECT_EQ(parse_dijet_function("f5"), DijetFunction::f5);
  EXPECT_EQ(parameter_count(DijetFunction::f3), 3);
  EXPECT_EQ(parameter_count(DijetFunction::fexp), 4);
  EXPECT_EQ(parameter_count(DijetFunction::f5), 5);
  try {
    parse_dijet_function("f6");
    ADD_FAILURE() << "f6 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_dijet_functions("f3,f3"), InputError);
  EXPECT_THROW(parse_dijet_functions(" , "), InputError);
}

TEST(DijetFit, AsimovF4RecoversParameters) {
  const Spectrum s = asimov(DijetFunction::f4, kF4Truth, dijet_edges());
  ASSERT_GT(s.counts.front(), 5e4);
  ASSERT_LT(s.counts.back(), 1.0);
  FitOptions options;
  const auto t0 = std::chrono::steady_clock::now();
  const FunctionFit fit = fit_function(s, DijetFunction::f4, 0, s.bins(), 0, 0, options);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(fit.converged) << fit.message;
  ASSERT_EQ(fit.parameters.size(), 4u);
  for (std::size_t j = 0; j < 4; ++j)
    EXPECT_LT(relative(fit.parameters[j], kF4Truth[j]), 1e-3) << "p" << j + 1 << " = " << fit.parameters[j];
  EXPECT_NEAR(fit.log_p1, std::log(kF4Truth[0]), 1e-3);
  EXPECT_LT(fit.chi2, 1e-6);
  EXPECT_LT(fit.deviance, 1e-6);
  EXPECT_EQ(fit.ndf, 46);
  EXPECT_GT(fit.pvalue, 0.999);
  for (std::size_t b = 0; b < s.bins(); ++b) EXPECT_LT(relative(fit.expected[b], s.counts[b]), 1e-6) << "bin " << b;
  // Errors: positive, symmetric covariance, the first bin's expectation known to ~sqrt(n)-ish.
  for (std::size_t j = 0; j < 4; ++j) {
    EXPECT_GT(fit.errors[j], 0);
    for (std::size_t l = 0; l < 4; ++l)
      EXPECT_NEAR(fit.covariance[j * 4 + l], fit.covariance[l * 4 + j], 1e-9 * fit.errors[j] * fit.errors[l]);
  }
  EXPECT_GT(fit.expected_error[0], 0);
  EXPECT_LT(fit.expected_error[0], std::sqrt(s.counts[0]));
  info("Asimov f4 fit of %zu bins: %.2f ms (%d iterations)", s.bins(), ms, fit.iterations);
}

TEST(DijetFit, EveryFunctionRecoversItsOwnAsimovParameters) {
  // Checks the map between the internal parametrisation and p1..pk of each function.
  const std::vector<std::pair<DijetFunction, std::vector<double>>> cases{
      {DijetFunction::f3, {350.0, 10.0, 5.0}},
      {DijetFunction::fexp, {0.5, -5.0, 6.0, 3.0}},
      {DijetFunction::f5, {350.0, 10.0, 5.0, 0.2, 0.05}}};
  for (const auto& [f, truth] : cases) {
    const Spectrum s = asimov(f, truth, dijet_edges());
    const FunctionFit fit = fit_function(s, f, 0, s.bins(), 20, 23, FitOptions{});
    ASSERT_TRUE(fit.converged) << to_string(f) << ": " << fit.message;
    for (std::size_t j = 0; j < truth.size(); ++j)
      EXPECT_LT(relative(fit.parameters[j], truth[j]), 1e-3) << to_string(f) << " p" << j + 1;
    EXPECT_LT(fit.chi2, 1e-6) << to_string(f);
    EXPECT_EQ(fit.ndf, int(s.bins() - 3 - truth.size())) << to_string(f);
    // The extrapolation under the excluded bins is exact too.
    for (std::size_t b = 20; b < 23; ++b) EXPECT_LT(relative(fit.expected[b], s.counts[b]), 1e-6) << to_string(f);
  }
}

TEST(DijetFit, ExpectedErrorMatchesNumericPropagation) {
  // The analytic error of a sum of bins against finite differences of the design
  // parameters propagated with the reported covariance.
  const Spectrum s = poisson(asimov(DijetFunction::f4, kF4Truth, dijet_edges()), 5, 0);
  const FunctionFit fit = fit_function(s, DijetFunction::f4, 0, s.bins(), 20, 23, FitOptions{});
  ASSERT_TRUE(fit.converged) << fit.message;
  const auto sum_of = [&](const std::vector<double>& p) {
    double sum = 0;
    for (std::size_t b = 20; b < 23; ++b)
      sum += dijet_integral(DijetFunction::f4, p, s.edges[b] / kSqrtS, s.edges[b + 1] / kSqrtS);
    return sum;
  };
  double central = sum_of(fit.parameters);
  double expected_sum = 0;
  for (std::size_t b = 20; b < 23; ++b) expected_sum += fit.expected[b];
  EXPECT_LT(relative(central, expected_sum), 1e-9);
  std::vector<double> grad(4);
  for (std::size_t j = 0; j < 4; ++j) {
    auto up = fit.parameters, down = fit.parameters;
    const double h = 1e-5 * std::max(std::fabs(fit.parameters[j]), 1e-2);
    up[j] += h, down[j] -= h;
    grad[j] = (sum_of(up) - sum_of(down)) / (2 * h);
  }
  double var = 0;
  for (std::size_t j = 0; j < 4; ++j)
    for (std::size_t l = 0; l < 4; ++l) var += grad[j] * fit.covariance[j * 4 + l] * grad[l];
  EXPECT_LT(relative(fit.expected_sum_error(20, 23), std::sqrt(var)), 1e-4);
}

TEST(DijetFit, PoissonToysGiveSensiblePulls) {
  const Spectrum truth = asimov(DijetFunction::f4, kF4Truth, dijet_edges());
  constexpr int toys = 50;
  std::vector<std::vector<double>> pulls(4);
  std::vector<double> pvalues;
  double chi2_over_ndf = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < toys; ++i) {
    const Spectrum s = poisson(truth, 2024, uint64_t(i));
    const FunctionFit fit = fit_function(s, DijetFunction::f4, 0, s.bins(), 0, 0, FitOptions{});
    ASSERT_TRUE(fit.converged) << "toy " << i << ": " << fit.message;
    for (std::size_t j = 0; j < 4; ++j) pulls[j].push_back((fit.parameters[j] - kF4Truth[j]) / fit.errors[j]);
    pvalues.push_back(fit.pvalue);
    chi2_over_ndf += fit.chi2 / fit.ndf / toys;
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / toys;
  for (std::size_t j = 0; j < 4; ++j) {
    const double mean = std::accumulate(pulls[j].begin(), pulls[j].end(), 0.0) / toys;
    double var = 0;
    for (double p : pulls[j]) var += (p - mean) * (p - mean) / (toys - 1);
    // 50 toys: the mean of unit pulls has an error 0.14, the width about 0.1.
    EXPECT_LT(std::fabs(mean), 0.5) << "p" << j + 1;
    EXPECT_GT(std::sqrt(var), 0.65) << "p" << j + 1;
    EXPECT_LT(std::sqrt(var), 1.4) << "p" << j + 1;
    info("pull of p%zu: mean %+.3f, width %.3f", j + 1, mean, std::sqrt(var));
  }
  const double mean_p = std::accumulate(pvalues.begin(), pvalues.end(), 0.0) / toys;
  const auto small = std::count_if(pvalues.begin(), pvalues.end(), [](double p) { return p < 0.05; });
  EXPECT_GT(mean_p, 0.3);
  EXPECT_LT(mean_p, 0.7);
  EXPECT_LE(small, 8);  // 2.5 expected
  EXPECT_NEAR(chi2_over_ndf, 1.0, 0.25);
  info("50 Poisson toys: mean chi2 p-value %.3f, %ld below 0.05, chi2/ndf %.3f, %.2f ms per fit",
              mean_p, long(small), chi2_over_ndf, ms);
}

TEST(DijetFit, FallsBackFromF3ToF4) {
  // A large spectrum with a strong ln x term in the exponent: f3 cannot follow it
  // (with smaller samples or p4 it can: f3's (1 - x)^p2 mimics much of x^(-p4 ln x)).
  const std::vector<double> truth{30 * 350.0, 10.0, 5.0, 0.5};
  const Spectrum s = poisson(asimov(DijetFunction::f4, truth, dijet_edges()), 77, 0);
  const SidebandFit fit = fit_sidebands(s, 22, 25, FitOptions{});
  ASSERT_GE(fit.attempts.size(), 2u);
  EXPECT_EQ(fit.attempts[0].function, DijetFunction::f3);
  EXPECT_TRUE(fit.attempts[0].converged) << fit.attempts[0].message;
  EXPECT_LT(fit.attempts[0].pvalue, 0.05);
  EXPECT_TRUE(fit.accepted);
  EXPECT_EQ(fit.chosen, 1u);
  EXPECT_EQ(fit.result().function, DijetFunction::f4);
  EXPECT_EQ(fit.result().first_bin, 0u);
  EXPECT_EQ(fit.result().end_bin, s.bins());
  EXPECT_GT(fit.result().pvalue, 0.05);
  EXPECT_EQ(fit.result().fit_bins, s.bins() - 3);
}

TEST(DijetFit, ReducesTheRangeWhenNoFunctionPasses) {
  // A trigger turn-on distorts the two lowest bins: no function passes on the full
  // range; dropping the outermost bins twice removes the distortion.
  Spectrum s = poisson(asimov(DijetFunction::f4, kF4Truth, dijet_edges()), 9, 0);
  s.counts[0] *= 0.6;
  s.counts[1] *= 0.85;
  FitOptions options;
  const SidebandFit fit = fit_sidebands(s, 20, 23, options);
  ASSERT_TRUE(fit.accepted);
  EXPECT_GE(fit.attempts.size(), 4u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(fit.attempts[i].first_bin, 0u);
    EXPECT_FALSE(fit.attempts[i].passes(0.05)) << to_string(fit.attempts[i].function);
  }
  EXPECT_GE(fit.result().first_bin, 1u);
  EXPECT_LE(fit.result().first_bin, 3u);
  EXPECT_EQ(fit.result().end_bin, s.bins() - fit.result().first_bin);
  // Without reduction the best failing fit is reported, flagged as not accepted.
  options.reduce_range = false;
  const SidebandFit unreduced = fit_sidebands(s, 20, 23, options);
  EXPECT_FALSE(unreduced.accepted);
  EXPECT_EQ(unreduced.attempts.size(), 3u);
  EXPECT_TRUE(unreduced.result().converged);
}

TEST(DijetFit, InjectedBumpGivesExpectedSignificance) {
  // ~1e4 background events in a 3-bin signal region, s = 5 sqrt(b) injected.
  const std::vector<double> truth{30 * 350.0, 10.0, 5.0, 0.2};
  Spectrum s = asimov(DijetFunction::f4, truth, dijet_edges());
  const std::size_t first = 8, end = 11;
  double b = 0;
  for (std::size_t i = first; i < end; ++i) b += s.counts[i];
  ASSERT_GT(b, 5e3);
  const double signal = 5 * std::sqrt(b);
  s.counts[first] += 0.25 * signal, s.counts[first + 1] += 0.5 * signal, s.counts[first + 2] += 0.25 * signal;
  // The function the spectrum was made with: f3 would pass the sideband chi2 here but
  // predict 0.5% (3 sqrt(b)) too much in the signal region, a spurious deficit.
  FitOptions options;
  options.functions = {DijetFunction::f4};
  const SignalRegionResult r = fit_signal_region(s, {s.edges[first], s.edges[end]}, options);
  EXPECT_EQ(r.first_bin, first);
  EXPECT_EQ(r.end_bin, end);
  EXPECT_TRUE(r.fit.accepted);
  EXPECT_LT(relative(r.expected, b), 1e-4);  // Asimov sidebands: the background is exact
  EXPECT_NEAR(r.observed, b + signal, 1e-6 * b);
  const double naive = signal / std::sqrt(b);
  EXPECT_LT(relative(r.z_stat, naive), 0.2) << r.z_stat;
  EXPECT_LT(relative(r.z, naive), 0.2) << r.z;
  EXPECT_LE(r.z, r.z_stat);
  EXPECT_GT(r.expected_error, 0);
  info("b = %.0f, s = %.0f: s/sqrt(b) = %.3f, Z (Poisson) = %.3f, Z (with fit error %.1f) = %.3f", b,
              signal, naive, r.z_stat, r.expected_error, r.z);
}

TEST(Significance, ExcessPvalues) {
  // P(n >= 5 | b = 1) = 1 - e^-1 (1 + 1 + 1/2 + 1/6 + 1/24)
  EXPECT_NEAR(excess_pvalue(5, 1, 0), 0.003659846827343771, 1e-15);
  EXPECT_EQ(excess_pvalue(0, 3, 0.5), 1.0);
  // A small uncertainty changes little; a larger one makes the excess less significant.
  EXPECT_NEAR(excess_pvalue(5, 1, 1e-4), excess_pvalue(5, 1, 0), 1e-7);
  EXPECT_GT(excess_pvalue(5, 1, 0.3), excess_pvalue(5, 1, 0));
  // Gaussian limit: b = 1e6 +- 1000, N = b + 5000 -> Z ~ 5000 / sqrt(1e6 + 1e6) = 3.54
  EXPECT_NEAR(z_from_pvalue(excess_pvalue(1e6 + 5000, 1e6, 1000)), 5000 / std::sqrt(2e6), 0.02);
  EXPECT_NEAR(z_from_pvalue(excess_pvalue(1e6 + 5000, 1e6, 0)), 5.0, 0.02);
  EXPECT_NEAR(z_from_pvalue(2.866515718791939e-07), 5.0, 1e-9);
  EXPECT_EQ(z_from_pvalue(0.7), 0.0);
  EXPECT_GT(z_from_pvalue(0.0), 37);
  EXPECT_THROW(excess_pvalue(3, 0, 0), InputError);
  EXPECT_THROW(excess_pvalue(3, 1, -1), InputError);
}

TEST(DijetFit, GlobalPvalueFromToysIsRankInvariant) {
  const auto world = dist::Communicator::world();
  const auto self = world.split(world.rank(), 0);
  // A short spectrum (f3 shape) with a mild excess, scanned with 3-bin windows.
  Spectrum s = asimov(DijetFunction::f3, {80.0, 8.0, 5.0}, uniform_edges(1500, 4500, 20));
  Spectrum observed = poisson(s, 31, 0);
  observed.counts[10] += 3 * std::sqrt(s.counts[10]);
  const FitOptions options;
  const auto regions = sliding_signal_regions(observed, 3, 2);
  double observed_max = 0;
  for (const auto& region : regions)
    observed_max = std::max(observed_max, fit_signal_region(observed, region, options).z);
  const SidebandFit background = fit_sidebands(observed, 0, 0, options);
  const ToyOptions toys{30, 99};
  // Collectives first, on every rank; checks afterwards.
  const GlobalSignificance spread =
      global_significance(world, background.result().expected, observed.edges, regions, observed_max, options, toys);
  const GlobalSignificance alone =
      global_significance(self, background.result().expected, observed.edges, regions, observed_max, options, toys);
  const double pmax = world.max(spread.pvalue), pmin = world.min(spread.pvalue);

  EXPECT_EQ(spread.toys, 30u);
  EXPECT_EQ(spread.failed, alone.failed);
  EXPECT_EQ(spread.at_or_above, alone.at_or_above);
  EXPECT_EQ(std::memcmp(&spread.pvalue, &alone.pvalue, sizeof(double)), 0);
  EXPECT_EQ(std::memcmp(&spread.z, &alone.z, sizeof(double)), 0);
  EXPECT_EQ(pmax, pmin);
  EXPECT_EQ(spread.failed, 0u);
  EXPECT_GT(observed_max, 1.0);
  EXPECT_GT(spread.pvalue, 0.0);
  EXPECT_LT(spread.pvalue, 1.0);
  if (world.is_root())
    info("%zu regions, max local Z %.3f, global p %.3f +- %.3f from 30 toys (%.1f toys/s per rank, %d ranks)",
                regions.size(), observed_max, spread.pvalue, spread.pvalue_error,
                double(dist::partition(30, world.size(), 0).size()) / std::max(spread.seconds, 1e-9), world.size());
}

TEST(DijetFit, BadInput) {
  const Spectrum good = asimov(DijetFunction::f3, {80.0, 8.0, 5.0}, uniform_edges(1500, 4500, 20));
  const auto throws_with = [](auto&& f, const std::string& part) {
    try {
      f();
      ADD_FAILURE() << "no InputError, expected one containing '" << part << "'";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  const FitOptions options;
  Spectrum s = good;
  s.edges[5] = s.edges[4];
  throws_with([&] { validate_spectrum(s, kSqrtS); }, "increase strictly");
  s = good;
  s.counts[3] = -1;
  throws_with([&] { validate_spectrum(s, kSqrtS); }, "non-negative");
  s.counts[3] = std::numeric_limits<double>::quiet_NaN();
  throws_with([&] { validate_spectrum(s, kSqrtS); }, "finite");
  s = good;
  s.edges.back() = 13000;
  throws_with([&] { validate_spectrum(s, kSqrtS); }, "outside (0, sqrt(s)");
  s = good;
  s.counts.pop_back();
  throws_with([&] { validate_spectrum(s, kSqrtS); }, "edges");
  // Too few sideband bins for the function, and for any function.
  throws_with([&] { fit_function(good, DijetFunction::f4, 0, 6, 1, 3, options); }, "too few sideband bins");
  throws_with([&] { fit_sidebands(good, 1, 18, options); }, "too few sideband bins");
  // All-zero sidebands.
  s = good;
  for (std::size_t i = 0; i < s.bins(); ++i)
    if (i < 8 || i >= 11) s.counts[i] = 0;
  throws_with([&] { fit_sidebands(s, 8, 11, options); }, "no events");
  // Signal regions off the edges or outside the spectrum.
  throws_with([&] { signal_region_bins(good, {1560, 1800}); }, "not a bin edge");
  throws_with([&] { signal_region_bins(good, {1000, 1800}); }, "outside the spectrum");
  throws_with([&] { signal_region_bins(good, {1800, 1800}); }, "LO < HI");
  EXPECT_EQ(signal_region_bins(good, {1650, 1950}), (std::pair<std::size_t, std::size_t>{1, 3}));
  // A fit that cannot converge is reported, never used.
  FitOptions starved;
  starved.max_iterations = 1;
  starved.starts = 1;
  const FunctionFit f = fit_function(poisson(good, 1, 1), DijetFunction::f3, 0, 20, 8, 11, starved);
  EXPECT_FALSE(f.converged);
  EXPECT_NE(f.message.find("did not converge"), std::string::npos) << f.message;
  throws_with([&] { fit_sidebands(poisson(good, 1, 1), 8, 11, starved); }, "no sideband fit converged");
  throws_with([&] { dijet_value(DijetFunction::f3, std::vector<double>{1, 2}, 0.5); }, "takes 3 parameters");
  throws_with([&] { dijet_value(DijetFunction::f3, std::vector<double>{1, 2, 3}, 1.0); }, "outside (0, 1)");
  throws_with([&] { sliding_signal_regions(good, 19, 1); }, "cannot hold");
}
