// The HistFactory likelihood, its fits and the asymptotic CLs limits: derivatives
// against finite differences, closed forms of one-bin counting experiments, values
// computed by pyhf 0.7.6 on the same workspace, and the workspace reader's errors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/stats/Likelihood.hpp"
#include "bsmhunt/stats/Limits.hpp"
#include "bsmhunt/stats/Workspace.hpp"

namespace bsmhunt::stats {
namespace {

double Phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

Workspace parse(const std::string& text) { return workspace_from_json(json::Value::parse(text), "test.json"); }

// One bin: signal s (mu), background b, observed n; no nuisance parameter.
Workspace counting(double s, double b, double n) {
  return parse(R"({"channels": [{"name": "sr", "samples": [
      {"name": "signal", "data": [)" + std::to_string(s) + R"(], "modifiers": [{"name": "mu", "type": "normfactor", "data": null}]},
      {"name": "background", "data": [)" + std::to_string(b) + R"(], "modifiers": []}]}],
    "observations": [{"name": "sr", "data": [)" + std::to_string(n) + R"(]}],
    "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}], "version": "1.0.0"})");
}

// Two channels and every modifier type bsmhunt supports.
const char* kShapeModel = R"({
  "channels": [
    {"name": "sr", "samples": [
      {"name": "signal", "data": [1.0, 3.0, 6.0], "modifiers": [
        {"name": "mu", "type": "normfactor", "data": null},
        {"name": "lumi", "type": "lumi", "data": null},
        {"name": "sig_theory", "type": "normsys", "data": {"hi": 1.15, "lo": 0.8}}]},
      {"name": "ttbar", "data": [40.0, 20.0, 8.0], "modifiers": [
        {"name": "k_ttbar", "type": "normfactor", "data": null},
        {"name": "jes", "type": "histosys", "data": {"hi_data": [44.0, 21.0, 8.5], "lo_data": [37.0, 19.5, 7.0]}},
        {"name": "jes", "type": "normsys", "data": {"hi": 1.03, "lo": 0.96}},
        {"name": "staterror_sr", "type": "staterror", "data": [2.0, 1.5, 1.0]},
        {"name": "lumi", "type": "lumi", "data": null}]},
      {"name": "diboson", "data": [10.0, 6.0, 3.0], "modifiers": [
        {"name": "xs_diboson", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
        {"name": "staterror_sr", "type": "staterror", "data": [1.0, 0.8, 0.6]},
        {"name": "lumi", "type": "lumi", "data": null}]}]},
    {"name": "cr", "samples": [
      {"name": "ttbar", "data": [200.0, 120.0], "modifiers": [
        {"name": "k_ttbar", "type": "normfactor", "data": null},
        {"name": "jes", "type": "histosys", "data": {"hi_data": [210.0, 118.0], "lo_data": [190.0, 123.0]}},
        {"name": "staterror_cr", "type": "staterror", "data": [5.0, 4.0]},
        {"name": "lumi", "type": "lumi", "data": null}]}]}],
  "observations": [{"name": "sr", "data": [52.0, 31.0, 19.0]}, {"name": "cr", "data": [205.0, 117.0]}],
  "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": [
    {"name": "lumi", "auxdata": [1.0], "sigmas": [0.017], "bounds": [[0.5, 1.5]], "inits": [1.0]}]}}],
  "version": "1.0.0"})";

TEST(Likelihood, JacobianAndGradientAgreeWithFiniteDifferences) {
  const Likelihood L(parse(kShapeModel));
  std::vector<double> theta = L.initial();
  // A point off the nominal, on both sides of the interpolation kinks.
  for (std::size_t k = 0; k < theta.size(); ++k) theta[k] += (k % 2 ? 0.13 : -0.21) * (k % 3 + 1) * 0.5;
  theta[L.poi()] = 1.3;
  const Observations data = L.observed();
  std::vector<double> jac;
  const auto nu = L.expected(theta, &jac);
  const auto grad = L.nll_gradient(theta, data);
  const std::size_t P = L.parameters();
  for (std::size_t k = 0; k < P; ++k) {
    const double h = 1e-6;
    auto up = theta, down = theta;
    up[k] += h, down[k] -= h;
    const auto nu_up = L.expected(up), nu_down = L.expected(down);
    for (std::size_t b = 0; b < L.bins(); ++b)
      EXPECT_NEAR(jac[b * P + k], (nu_up[b] - nu_down[b]) / (2 * h), 1e-6 * (1 + std::fabs(jac[b * P + k])))
          << L.parameter(k).name << " bin " << b;
    const double fd = (L.nll(up, data) - L.nll(down, data)) / (2 * h);
    EXPECT_NEAR(grad[k], fd, 1e-5 * (1 + std::fabs(fd))) << L.parameter(k).name;
  }
}

TEST(Likelihood, ModifiersFollowPyhfInterpolation) {
  // Expected yields computed by pyhf 0.7.6 (its default code 4 for normsys, code 4p
  // for histosys) on the same workspace, one parameter moved at a time.
  const Likelihood L(parse(kShapeModel));
  const std::size_t jes = L.index("jes"), xs = L.index("xs_diboson");
  const auto at = [&](std::size_t k, double value, std::size_t bin) {
    std::vector<double> theta = L.initial();
    theta[k] = value;
    return L.expected(theta)[bin];
  };
  // Bins: sr[0..2], then cr[0..1] (pyhf orders the channels by name: cr first).
  EXPECT_NEAR(at(jes, 0, 0), 51.0, 1e-12);
  EXPECT_NEAR(at(jes, -0.5, 0), 48.6940501328, 1e-9);
  EXPECT_NEAR(at(jes, 0.5, 0), 53.5970409051, 1e-9);
  EXPECT_NEAR(at(jes, 1.0, 0), 56.32, 1e-9);  // on the boundary: 44 x 1.03 + 10 + 1
  EXPECT_NEAR(at(jes, -0.5, 3), 195.0, 1e-9);
  EXPECT_NEAR(at(jes, -0.5, 4), 121.448242188, 1e-8);
  EXPECT_NEAR(at(jes, 0.5, 4), 118.948242188, 1e-8);
  EXPECT_NEAR(at(xs, 0.3, 0), 51.2969311578, 1e-9);
  EXPECT_NEAR(at(xs, -2.0, 0), 49.1, 1e-9);  // exponential extrapolation: 40 + 10 x 0.9^2 + 1
  // staterror: sigma_b = sqrt(2^2 + 1^2) / (40 + 10) for the first bin of sr.
  EXPECT_NEAR(L.parameter(L.index("staterror_sr[0]")).sigma, std::sqrt(5.0) / 50, 1e-15);
  EXPECT_NEAR(L.parameter(L.index("lumi")).sigma, 0.017, 0);
  EXPECT_EQ(L.parameters(), 1u + 1 + 1 + 1 + 1 + 3 + 1 + 2);  // mu lumi sig_theory k_ttbar jes sr[3] xs cr[2]
}

TEST(Likelihood, OneBinFitHasTheClosedForm) {
  const double s = 5, b = 10, n = 12;
  const Likelihood L(counting(s, b, n));
  const FitResult f = L.fit(L.observed(), {}, true);
  ASSERT_TRUE(f.converged) << f.message;
  EXPECT_NEAR(f.values[L.poi()], (n - b) / s, 1e-7);
  EXPECT_NEAR(f.errors[L.poi()], std::sqrt(n) / s, 1e-5);  // 1 / sqrt(d2 nll / dmu2) = sqrt(n) / s
}

TEST(Limits, OneBinCLsAndDiscoveryHaveTheClosedForms) {
  const double s = 5, b = 10, n = 12;
  const Likelihood L(counting(s, b, n));
  AsymptoticCalculator calc(L, L.observed());
  // q~_mu for mu above mu_hat: 2 (nu - n - n ln(nu / n)); Asimov (n = b) likewise.
  const auto q = [&](double mu, double obs) {
    const double nu = mu * s + b;
    return 2 * (nu - obs - obs * std::log(nu / obs));
  };
  for (const double mu : {1.0, 2.0, 3.5}) {
    const CLsPoint p = calc.test(mu);
    const double qmu = mu * s + b > n ? q(mu, n) - q((n - b) / s, n) : 0.0;
    const double qA = q(mu, b);
    EXPECT_NEAR(p.qmu, qmu, 1e-6);
    EXPECT_NEAR(p.qmu_asimov, qA, 1e-6);
    const double expected_cls = (1 - Phi(std::sqrt(qmu))) / Phi(std::sqrt(qA) - std::sqrt(qmu));
    EXPECT_NEAR(p.cls, expected_cls, 1e-6);
    EXPECT_NEAR(p.cls_expected[2], (1 - Phi(std::sqrt(qA))) / 0.5, 1e-6);  // median: t = 0
  }
  // Discovery: Z = sqrt(2 (n ln(n / b) - (n - b))).
  const Discovery d = calc.discovery();
  EXPECT_NEAR(d.z, std::sqrt(2 * (n * std::log(n / b) - (n - b))), 1e-6);
  EXPECT_NEAR(d.z_expected, std::sqrt(2 * ((s + b) * std::log(1 + s / b) - s)), 1e-6);  // Cowan's Asimov Z
  // The limit is where CLs = 0.05.
  const UpperLimit u = calc.upper_limit({});
  ASSERT_TRUE(u.ok) << u.message;
  EXPECT_NEAR(calc.test(u.observed).cls, 0.05, 1e-4);
  EXPECT_NEAR(calc.test(u.expected[2]).cls_expected[2], 0.05, 1e-4);
  for (std::size_t k = 1; k < 5; ++k) EXPECT_LT(u.expected[k - 1], u.expected[k]);
}

TEST(Limits, AgreeWithPyhfOnAOneBinModelWithNuisanceParameters) {
  // pyhf 0.7.6 (numpy, scipy): upper_limit(scan=None, test_stat="qtilde") on this workspace
  // gave 1.96722 observed and [0.80568, 1.11358, 1.61575, 2.39113, 3.44936] expected;
  // the exact inverse Hessian of its logpdf gives sigma(mu_hat) = 0.7499 at mu_hat = 0.4.
  const Workspace w = parse(R"({"channels": [{"name": "sr", "samples": [
      {"name": "signal", "data": [5.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": null},
                                                      {"name": "lumi", "type": "lumi", "data": null}]},
      {"name": "bkg", "data": [10.0], "modifiers": [{"name": "bnorm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                                                    {"name": "staterror_sr", "type": "staterror", "data": [1.0]},
                                                    {"name": "lumi", "type": "lumi", "data": null}]}]}],
    "observations": [{"name": "sr", "data": [12.0]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": [
      {"name": "lumi", "auxdata": [1.0], "inits": [1.0], "sigmas": [0.02], "bounds": [[0.5, 1.5]]}]}}],
    "version": "1.0.0"})");
  const Likelihood L(w);
  AsymptoticCalculator calc(L, L.observed());
  const UpperLimit u = calc.upper_limit({});
  ASSERT_TRUE(u.ok) << u.message;
  EXPECT_NEAR(u.observed, 1.96722, 0.01 * 1.96722);
  const double pyhf[5] = {0.80568, 1.11358, 1.61575, 2.39113, 3.44936};
  for (std::size_t k = 0; k < 5; ++k) EXPECT_NEAR(u.expected[k], pyhf[k], 0.01 * pyhf[k]) << k;
  EXPECT_NEAR(calc.free_fit().values[L.poi()], 0.4, 1e-5);
  EXPECT_NEAR(calc.free_fit().errors[L.poi()], 0.7499, 0.01 * 0.7499);
}

TEST(Limits, WidensThePoiRangeOrReportsWhyItCannot) {
  const Likelihood L(counting(0.05, 100, 100));  // the limit on mu is ~ 400
  {
    AsymptoticCalculator calc(L, L.observed());
    const UpperLimit u = calc.upper_limit({});
    ASSERT_TRUE(u.ok) << u.message;
    EXPECT_GT(u.expected[2], 10);
    EXPECT_GE(u.poi_upper_bound, u.expected[4]);
    EXPECT_NE(u.message.find("widened"), std::string::npos) << u.message;
    // Closed form of the median for a single bin without nuisance parameters: qA = 1.645^2 at CLs = 0.05.
    const double nu = u.expected[2] * 0.05 + 100;
    EXPECT_NEAR(std::sqrt(2 * (nu - 100 - 100 * std::log(nu / 100))), 1.959964, 2e-3);
  }
  AsymptoticCalculator calc(L, L.observed());
  LimitOptions o;
  o.mu_max = 50;
  const UpperLimit u = calc.upper_limit(o);
  EXPECT_FALSE(u.ok);
  EXPECT_NE(u.message.find("--mu-max"), std::string::npos) << u.message;
  // --mu-max below the model's own POI bound (10) caps the search too.
  const Likelihood small(counting(5, 10, 12));
  AsymptoticCalculator c2(small, small.observed());
  o.mu_max = 1;
  const UpperLimit capped = c2.upper_limit(o);
  EXPECT_FALSE(capped.ok);
  EXPECT_TRUE(capped.above_mu_max);
  EXPECT_NE(capped.message.find("--mu-max"), std::string::npos) << capped.message;
}

TEST(Limits, ToysGiveTheExactLimitOfAnEmptyBin) {
  // n = 0 observed: CLs(mu) = P(n = 0 | mu s + b) / P(n = 0 | b) = exp(-mu s) for any b,
  // so the 95% CL limit on mu s is -ln 0.05 = 2.996 (the classic result the
  // asymptotic formulae miss at such counts). Toys spread over the ranks.
  const auto world = dist::Communicator::world();
  const Likelihood L(counting(1.0, 0.5, 0.0));
  ToyLimitOptions o;
  o.toys = 2000, o.grid = 8;
  ToyCalculator toys(world, L, L.observed(), o);
  const UpperLimit u = toys.upper_limit({}, 1.0, 6.0);
  ASSERT_TRUE(u.ok) << u.message;
  EXPECT_NEAR(u.observed, -std::log(0.05), 0.25);
  // CLs at one point against exp(-mu): with 2000 toys CLs+b ~ 0.09 has a 7% error.
  const CLsPoint p = toys.test(2.0, 99);
  EXPECT_NEAR(p.cls, std::exp(-2.0), 0.2 * std::exp(-2.0));
}

TEST(Limits, ToysAgreeWithTheAsymptoticFormulaeAtLargeCounts) {
  const auto world = dist::Communicator::world();
  const Likelihood L(counting(20, 400, 410));
  AsymptoticCalculator calc(L, L.observed());
  const UpperLimit a = calc.upper_limit({});
  ASSERT_TRUE(a.ok);
  ToyLimitOptions o;
  o.toys = 1500, o.grid = 8;
  ToyCalculator toys(world, L, L.observed(), o);
  const UpperLimit t = toys.upper_limit({}, 0.5 * a.expected[0], 1.6 * a.expected[4]);
  ASSERT_TRUE(t.ok) << t.message;
  EXPECT_NEAR(t.observed, a.observed, 0.08 * a.observed);
  EXPECT_NEAR(t.expected[2], a.expected[2], 0.08 * a.expected[2]);
}

TEST(Limits, ImpactsRankTheNuisanceParameters) {
  const Likelihood L(parse(kShapeModel));
  const FitResult f = L.fit(L.observed(), {}, true);
  ASSERT_TRUE(f.converged) << f.message;
  const auto impacts = rank_impacts(L, L.observed(), f);
  ASSERT_FALSE(impacts.empty());
  for (std::size_t i = 1; i < impacts.size(); ++i)
    EXPECT_GE(std::max(std::fabs(impacts[i - 1].postfit_up), std::fabs(impacts[i - 1].postfit_down)),
              std::max(std::fabs(impacts[i].postfit_up), std::fabs(impacts[i].postfit_down)));
  // The signal's own normalisation moves mu by about its 15 % / 20 % in opposite directions.
  for (const auto& im : impacts)
    if (im.parameter == "sig_theory") {
      EXPECT_LT(im.prefit_up, 0);
      EXPECT_GT(im.prefit_down, 0);
    }
}

TEST(Workspace, RoundTripsThroughJson) {
  const Workspace w = parse(kShapeModel);
  const Workspace back = workspace_from_json(to_json(w), "round trip");
  EXPECT_EQ(json::dump(to_json(back)), json::dump(to_json(w)));
  const Likelihood a(w), b(back);
  EXPECT_EQ(a.expected(a.initial()), b.expected(b.initial()));
}

void expect_error(const std::string& text, const std::string& needle) {
  try {
    parse(text);
    ADD_FAILURE() << "no error for: " << needle;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("test.json"), std::string::npos) << e.what();
  }
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(Workspace, BadInputNamesThePathInTheJson) {
  const std::string m = kShapeModel;
  expect_error(replaced(m, R"("observations")", R"("observed")"), "missing \"observations\"");
  expect_error(replaced(m, R"("type": "normsys", "data": {"hi": 1.15)", R"("type": "normsyst", "data": {"hi": 1.15)"),
               "channels[0].samples[0].modifiers[2].type: unknown modifier type \"normsyst\"");
  expect_error(replaced(m, R"({"name": "xs_diboson", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}})",
                        R"({"name": "xs_diboson", "type": "shapesys", "data": [1, 1, 1]})"),
               "not supported");
  expect_error(replaced(m, R"("hi_data": [44.0, 21.0, 8.5])", R"("hi_data": [44.0, 21.0])"),
               "channels[0].samples[1].modifiers[1].data.hi_data: 2 values for the 3 bins");
  expect_error(replaced(m, R"({"name": "xs_diboson", "type": "normsys")", R"({"name": "k_ttbar", "type": "normsys")"),
               "modifier 'k_ttbar' is normsys here and normfactor elsewhere");
  expect_error(replaced(m, R"("poi": "mu")", R"("poi": "jes")"), "measurements[0].config.poi");
  expect_error(replaced(m, R"("poi": "mu")", R"("poi": "nu")"), "no modifier 'nu'");
  expect_error(replaced(m, R"("data": [40.0, 20.0, 8.0])", R"("data": [40.0, -20.0, 8.0])"),
               "channels[0].samples[1].data[1]");
  expect_error(R"({"channels": [{"name": "sr", "samples": []}], "observations": [{"name": "sr", "data": []}],
                  "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]})",
               "channels[0].samples: channel 'sr' has no sample");
  expect_error(replaced(m, R"("sigmas": [0.017], )", ""), "lumi modifier 'lumi' needs an entry");
}

}  // namespace
}  // namespace bsmhunt::stats
