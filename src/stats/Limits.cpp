// Asymptotic CLs limits, discovery significance and nuisance-parameter impacts.
#include "bsmhunt/stats/Limits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/tools/roots.hpp>
#include <cmath>
#include <map>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::stats {

namespace {

double Phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// CLs+b, CLb and CLs for the asymptotic distributions of q~_mu (CCGV eq. 65-66 in
// the form pyhf uses): the observed statistic t = sqrt(q) - sqrt(qA) below
// sqrt(qA), (q - qA) / (2 sqrt(qA)) above; CLs+b = Phi(-(t + sqrt(qA))), CLb = Phi(-t).
struct Cls {
  double clsb, clb, cls;
};
Cls cls_of(double t, double sqrt_qA) {
  Cls c;
  c.clsb = Phi(-(t + sqrt_qA));
  c.clb = Phi(-t);
  c.cls = c.clb > 0 ? c.clsb / c.clb : 1.0;
  return c;
}

FitResult checked(FitResult f, const std::string& what) {
  if (!f.converged) throw InputError(fmt::format("the {} did not converge: {}", what, f.message));
  return f;
}

}  // namespace

AsymptoticCalculator::AsymptoticCalculator(const Likelihood& model, Observations data)
    : model_(model), poi_(model.poi()), data_(std::move(data)) {
  const ParameterSpec& p = model_.parameter(poi_);
  if (p.lo != 0)
    throw InputError(fmt::format("the parameter of interest '{}' has the lower bound {}: the test statistic q~_mu "
                                 "needs 0 (bounds [[0, high]])",
                                 p.name, p.lo));
  if (p.fixed) throw InputError(fmt::format("the parameter of interest '{}' is fixed", p.name));
  free_ = checked(model_.fit(data_, {}, true), "fit to the data");
  const FitResult background = checked(model_.fit(data_, {{poi_, 0.0}}), "background-only fit to the data");
  asimov_ = model_.expected_data(background.values);
  asimov_free_ = checked(model_.fit(asimov_), "fit to the background-only Asimov data");
}

void AsymptoticCalculator::widen_poi_bound(double hi) {
  const ParameterSpec& p = model_.parameter(poi_);
  const bool at_bound = free_.values[poi_] >= p.hi * (1 - 1e-6);
  model_.set_bounds(poi_, p.lo, hi);
  if (at_bound) free_ = checked(model_.fit(data_, {}, true), "fit to the data");
}

double AsymptoticCalculator::q_tilde(double mu, const Observations& data, const FitResult& free) const {
  if (free.values[poi_] > mu) return 0.0;  // one-sided: an excess above mu is no evidence against mu
  const FitResult fixed = checked(model_.fit(data, {{poi_, mu}}), fmt::format("fit at mu = {:.6g}", mu));
  return std::max(0.0, 2 * (fixed.nll - free.nll));
}

CLsPoint AsymptoticCalculator::test(double mu) const {
  CLsPoint r;
  r.mu = mu;
  r.qmu = q_tilde(mu, data_, free_);
  r.qmu_asimov = q_tilde(mu, asimov_, asimov_free_);
  const double sq = std::sqrt(r.qmu), sqA = std::sqrt(r.qmu_asimov);
  if (sqA <= 0) {  // mu indistinguishable from 0: nothing is excluded
    r.cls = r.clsb = r.clb = 1;
    r.cls_expected.fill(1.0);
    return r;
  }
  const double t = sq <= sqA ? sq - sqA : (r.qmu - r.qmu_asimov) / (2 * sqA);
  const Cls obs = cls_of(t, sqA);
  r.cls = obs.cls, r.clsb = obs.clsb, r.clb = obs.clb;
  // Band k sigma: the background-only statistic at t = -k (k = -2 gives the lowest CLs).
  for (int k = -2; k <= 2; ++k) r.cls_expected[std::size_t(k + 2)] = cls_of(-double(k), sqA).cls;
  return r;
}

UpperLimit AsymptoticCalculator::upper_limit(const LimitOptions& options) {
  UpperLimit u;
  const double alpha = 1 - options.cl;
  if (!(alpha > 0 && alpha < 1)) throw InputError(fmt::format("confidence level {}: expected in (0, 1)", options.cl));
  std::map<double, CLsPoint> cache;
  const auto at = [&](double mu) -> const CLsPoint& {
    auto it = cache.find(mu);
    if (it == cache.end()) it = cache.emplace(mu, test(mu)).first, ++u.evaluations;
    return it->second;
  };
  // Bracket every curve: CLs(0) = 1 > alpha; widen the POI range until all are below alpha.
  const double initial_hi = model_.parameter(poi_).hi;
  double hi = initial_hi;
  const auto all_below = [&](const CLsPoint& p) {
    return p.cls < alpha && std::all_of(p.cls_expected.begin(), p.cls_expected.end(), [&](double c) { return c < alpha; });
  };
  while (!all_below(at(hi))) {
    if (hi >= options.mu_max) {
      u.poi_upper_bound = hi;
      u.above_mu_max = true;
      u.message = fmt::format("CLs at mu = {:.4g} (the largest allowed, --mu-max) is still {:.3g} (observed), {:.3g} "
                              "(+2 sigma): no limit below it",
                              hi, at(hi).cls, at(hi).cls_expected[4]);
      return u;
    }
    hi = std::min(options.mu_max, 4 * hi);
    widen_poi_bound(hi);
    cache.clear();  // the free fit may have moved
  }
  if (hi != initial_hi) u.message = fmt::format("POI upper bound widened from {:.4g} to {:.4g}", initial_hi, hi);
  u.poi_upper_bound = hi;
  const auto tolerance = [&](double a, double b) { return std::fabs(b - a) <= options.tolerance * std::max(std::fabs(a), std::fabs(b)); };
  const auto solve = [&](auto&& cls_at) {
    double lo = 0, top = hi;
    // Tighten the bracket on a coarse grid first (CLs falls fast; toms748 then needs few steps).
    for (int i = 1; i < 16; ++i) {
      const double m = hi * i / 16;
      if (cls_at(m) > alpha) lo = m;
      else {
        top = m;
        break;
      }
    }
    std::uintmax_t iterations = 100;
    const auto [a, b] = boost::math::tools::toms748_solve([&](double m) { return cls_at(m) - alpha; }, lo, top,
                                                          cls_at(lo) - alpha, cls_at(top) - alpha, tolerance, iterations);
    return 0.5 * (a + b);
  };
  u.observed = solve([&](double m) { return m == 0 ? 1.0 : at(m).cls; });
  for (std::size_t k = 0; k < 5; ++k) u.expected[k] = solve([&](double m) { return m == 0 ? 1.0 : at(m).cls_expected[k]; });
  u.ok = std::isfinite(u.observed) && std::all_of(u.expected.begin(), u.expected.end(), [](double x) { return std::isfinite(x); });
  if (!u.ok) u.message = "the limit search gave a non-finite value";
  // --mu-max also caps a model whose own POI range already reaches above it.
  if (u.ok && std::max(u.observed, u.expected[4]) > options.mu_max) {
    u.ok = false, u.above_mu_max = true;
    u.message = fmt::format("the limit ({:.4g} observed, {:.4g} at +2 sigma) is above mu = {:.4g} (--mu-max)",
                            u.observed, u.expected[4], options.mu_max);
  }
  return u;
}

Discovery AsymptoticCalculator::discovery() const {
  Discovery d;
  const auto q0_of = [&](const Observations& data, const FitResult& free) {
    if (free.values[poi_] <= 0) return 0.0;
    const FitResult null = checked(model_.fit(data, {{poi_, 0.0}}), "background-only fit");
    return std::max(0.0, 2 * (null.nll - free.nll));
  };
  d.q0 = q0_of(data_, free_);
  d.z = std::sqrt(d.q0), d.p0 = Phi(-d.z);
  const FitResult signal = checked(model_.fit(data_, {{poi_, 1.0}}), "fit to the data at mu = 1");
  const Observations asimov1 = model_.expected_data(signal.values);
  d.q0_expected = q0_of(asimov1, checked(model_.fit(asimov1), "fit to the Asimov data of mu = 1"));
  d.z_expected = std::sqrt(d.q0_expected), d.p0_expected = Phi(-d.z_expected);
  return d;
}

std::vector<Impact> rank_impacts(const Likelihood& model, const Observations& data, const FitResult& free_fit) {
  std::vector<Impact> out;
  const std::size_t poi = model.poi();
  const double mu_hat = free_fit.values[poi];
  for (std::size_t k = 0; k < model.parameters(); ++k) {
    const ParameterSpec& p = model.parameter(k);
    if (!p.constrained || p.fixed) continue;
    Impact im;
    im.parameter = p.name;
    im.value = free_fit.values[k], im.error = free_fit.errors[k];
    im.pull = (im.value - p.aux) / p.sigma;
    const auto shift = [&](double v) {
      v = std::clamp(v, p.lo, p.hi);
      const FitResult f = model.fit(data, {{k, v}});
      return f.converged ? f.values[poi] - mu_hat : std::numeric_limits<double>::quiet_NaN();
    };
    im.postfit_up = shift(im.value + im.error), im.postfit_down = shift(im.value - im.error);
    im.prefit_up = shift(im.value + p.sigma), im.prefit_down = shift(im.value - p.sigma);
    out.push_back(im);
  }
  const auto size = [](const Impact& i) {
    const double a = std::fabs(i.postfit_up), b = std::fabs(i.postfit_down);
    return std::isfinite(a) && std::isfinite(b) ? std::max(a, b) : std::numeric_limits<double>::infinity();
  };
  std::stable_sort(out.begin(), out.end(), [&](const Impact& a, const Impact& b) { return size(a) > size(b); });
  return out;
}

}  // namespace bsmhunt::stats
