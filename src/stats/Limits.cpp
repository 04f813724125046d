// Asymptotic CLs limits, discovery significance and nuisance-parameter impacts.
#include "bsmhunt/stats/Limits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/tools/roots.hpp>
#include <cmath>
#include <map>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Random.hpp"

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

ToyCalculator::ToyCalculator(const dist::Communicator& comm, const Likelihood& model, Observations data,
                             ToyLimitOptions options)
    : comm_(comm), model_(model), poi_(model.poi()), data_(std::move(data)), options_(options) {
  if (model_.parameter(poi_).lo != 0)
    throw InputError(fmt::format("the parameter of interest '{}' has the lower bound {}: q~_mu needs 0",
                                 model_.parameter(poi_).name, model_.parameter(poi_).lo));
  if (options_.toys < 10) throw InputError(fmt::format("--toys {}: at least 10 toys per hypothesis", options_.toys));
  if (options_.grid < 3) throw InputError(fmt::format("--toy-grid {}: at least 3 mu points", options_.grid));
}

double ToyCalculator::q_tilde(double mu, const Observations& data) const {
  const FitResult free = model_.fit(data);
  if (!free.converged) return std::numeric_limits<double>::quiet_NaN();
  if (free.values[poi_] > mu) return 0.0;
  const FitResult fixed = model_.fit(data, {{poi_, mu}});
  if (!fixed.converged) return std::numeric_limits<double>::quiet_NaN();
  return std::max(0.0, 2 * (fixed.nll - free.nll));
}

CLsPoint ToyCalculator::test(double mu, uint64_t point) const {
  CLsPoint r;
  r.mu = mu;
  r.qmu = q_tilde(mu, data_);
  if (!std::isfinite(r.qmu)) throw InputError(fmt::format("the fits of the data at mu = {:.6g} did not converge", mu));
  const FitResult at_mu = checked(model_.fit(data_, {{poi_, mu}}), fmt::format("fit to the data at mu = {:.6g}", mu));
  const FitResult at_0 = checked(model_.fit(data_, {{poi_, 0.0}}), "background-only fit to the data");
  const uint64_t N = options_.toys;
  std::vector<double> q_sb(N, 0.0), q_b(N, 0.0);
  for (int hypothesis = 0; hypothesis < 2; ++hypothesis) {
    const std::vector<double>& theta = hypothesis == 0 ? at_mu.values : at_0.values;
    const std::vector<double> nu = model_.expected(theta);
    std::vector<double>& q = hypothesis == 0 ? q_sb : q_b;
    for (uint64_t t = uint64_t(comm_.rank()); t < N; t += uint64_t(comm_.size())) {
      CounterRng rng(options_.seed, point * 2 + uint64_t(hypothesis), t);
      Observations toy;
      for (const double v : nu) toy.main.push_back(double(rng.poisson(v)));
      for (std::size_t k = 0; k < model_.parameters(); ++k) {
        const ParameterSpec& p = model_.parameter(k);
        if (p.constrained) toy.aux.push_back(theta[k] + p.sigma * rng.normal());
      }
      q[t] = q_tilde(mu, toy);
    }
  }
  // Each slot is filled by one rank and 0 elsewhere: the sums are exact.
  comm_.sum_in_place(q_sb);
  comm_.sum_in_place(q_b);
  const auto finite = [](std::vector<double> v) {
    v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
    std::sort(v.begin(), v.end());
    return v;
  };
  const std::vector<double> sb = finite(q_sb), b = finite(q_b);
  if (sb.size() < N / 2 || b.size() < N / 2)
    throw InputError(fmt::format("at mu = {:.6g} the fits of more than half the toys did not converge", mu));
  const auto at_or_above = [](const std::vector<double>& sorted, double q) {
    return double(sorted.end() - std::lower_bound(sorted.begin(), sorted.end(), q - 1e-9 * std::max(1.0, q))) /
           double(sorted.size());
  };
  const auto cls_at = [&](double q) {
    const double clsb = at_or_above(sb, q), clb = at_or_above(b, q);
    return Cls{clsb, clb, clb > 0 ? clsb / clb : 1.0};
  };
  const Cls obs = cls_at(r.qmu);
  r.cls = obs.cls, r.clsb = obs.clsb, r.clb = obs.clb;
  for (int k = -2; k <= 2; ++k) {
    // The background-only toys' q at the Phi(-k) quantile (k = -2: a large q, the lowest CLs).
    const double level = Phi(-double(k));
    const std::size_t i = std::min(b.size() - 1, std::size_t(level * double(b.size() - 1) + 0.5));
    r.cls_expected[std::size_t(k + 2)] = cls_at(b[i]).cls;
  }
  return r;
}

UpperLimit ToyCalculator::upper_limit(const LimitOptions& options, double lo, double hi) {
  UpperLimit u;
  const double alpha = 1 - options.cl;
  if (!(lo > 0) || !(hi > lo)) throw InputError(fmt::format("toy limit grid [{}, {}]: expected 0 < low < high", lo, hi));
  if (hi > model_.parameter(poi_).hi) model_.set_bounds(poi_, 0.0, std::min(options.mu_max, 4 * hi));
  std::vector<CLsPoint> points;
  uint64_t point = 0;
  const auto add_points = [&](double a, double b) {
    for (std::size_t i = 0; i < options_.grid; ++i) {
      const double mu = a + (b - a) * double(i) / double(options_.grid - 1);
      if (!points.empty() && mu <= points.back().mu) continue;
      points.push_back(test(mu, point++));
      ++u.evaluations;
    }
  };
  add_points(lo, hi);
  const auto below = [&](const CLsPoint& p) {
    return p.cls < alpha && std::all_of(p.cls_expected.begin(), p.cls_expected.end(), [&](double c) { return c < alpha; });
  };
  for (int extension = 0; extension < 3 && !below(points.back()); ++extension) {
    const double top = points.back().mu;
    if (2 * top > options.mu_max) break;
    model_.set_bounds(poi_, 0.0, std::min(options.mu_max, 8 * top));
    add_points(top, 2 * top);
  }
  u.poi_upper_bound = model_.parameter(poi_).hi;
  // First crossing of each curve below alpha, interpolated linearly in ln CLs.
  const auto crossing = [&](auto&& cls_of) {
    for (std::size_t i = 0; i < points.size(); ++i) {
      const double c = cls_of(points[i]);
      if (c >= alpha) continue;
      if (i == 0) return points[0].mu;  // below at the grid's start: the limit is at most there
      const double c0 = std::max(cls_of(points[i - 1]), 1e-300), c1 = std::max(c, 1e-300);
      const double f = (std::log(c0) - std::log(alpha)) / (std::log(c0) - std::log(c1));
      return points[i - 1].mu + f * (points[i].mu - points[i - 1].mu);
    }
    return std::numeric_limits<double>::quiet_NaN();
  };
  u.observed = crossing([](const CLsPoint& p) { return p.cls; });
  for (std::size_t k = 0; k < 5; ++k) u.expected[k] = crossing([&](const CLsPoint& p) { return p.cls_expected[k]; });
  u.ok = std::isfinite(u.observed) && std::all_of(u.expected.begin(), u.expected.end(), [](double x) { return std::isfinite(x); });
  if (!u.ok) {
    u.above_mu_max = true;
    u.message = fmt::format("CLs stays above {:.3g} up to mu = {:.4g} (the toy grid's end)", alpha, points.back().mu);
  } else {
    u.message = fmt::format("{} toys per hypothesis at {} mu points in [{:.4g}, {:.4g}]", options_.toys, points.size(),
                            points.front().mu, points.back().mu);
  }
  return u;
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
