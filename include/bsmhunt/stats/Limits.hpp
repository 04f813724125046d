#pragma once
// Hypothesis tests on a Likelihood with the asymptotic formulae of Cowan, Cranmer,
// Gross, Vitells, Eur. Phys. J. C 71 (2011) 1554 (docs/limits.md):
//  - upper limits: the test statistic q~_mu (the POI fitted within its bounds, whose
//    lower bound is 0), CLs = CLs+b / CLb; the expected bands from the background-only
//    Asimov data set (nuisance parameters fitted to the data at mu = 0), as pyhf's
//    AsymptoticCalculator does, so the numbers agree with pyhf's;
//  - discovery: q0 on the data (p0, Z) and on the Asimov data set of mu = 1 (expected Z).
#include <array>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/stats/Likelihood.hpp"

namespace bsmhunt::stats {

struct LimitOptions {
  double cl = 0.95;        // confidence level: CLs = 1 - cl at the limit
  double tolerance = 1e-4; // relative, on mu at the limit
  // The search extends the POI's upper bound (x 4 at a time) while CLs there is still
  // above 1 - cl, up to this value.
  double mu_max = 1e6;
};

struct CLsPoint {
  double mu = 0;
  double cls = 0, clsb = 0, clb = 0;  // observed
  std::array<double, 5> cls_expected{};  // at -2, -1, 0, +1, +2 sigma of the background-only expectation
  double qmu = 0, qmu_asimov = 0;
};

struct UpperLimit {
  bool ok = false;
  bool above_mu_max = false;  // not a failure: CLs stays above 1 - cl up to LimitOptions::mu_max
  std::string message;        // why it failed, or how far the POI bound was extended
  double observed = 0;
  std::array<double, 5> expected{};  // -2, -1, median, +1, +2 sigma bands (increasing)
  double poi_upper_bound = 0;        // the POI upper bound the fits used
  int evaluations = 0;               // CLs evaluations (each two conditional fits)
};

struct Discovery {
  double q0 = 0, p0 = 0.5, z = 0;              // observed
  double q0_expected = 0, p0_expected = 0.5, z_expected = 0;  // Asimov, mu = 1
};

// Keeps the fits every mu shares: the free fit to the data, the background-only
// Asimov data set and its free fit.
class AsymptoticCalculator {
 public:
  AsymptoticCalculator(const Likelihood& model, Observations data);
  // InputError when the fits mu shares fail (the message says which).
  CLsPoint test(double mu) const;
  UpperLimit upper_limit(const LimitOptions& options);
  Discovery discovery() const;
  const FitResult& free_fit() const { return free_; }  // with the covariance
  const Observations& asimov() const { return asimov_; }
  // The model with the POI range the limit search widened (impacts must be refitted in it).
  const Likelihood& model() const { return model_; }

 private:
  double q_tilde(double mu, const Observations& data, const FitResult& free) const;
  Likelihood model_;  // a copy: the limit search widens its POI bound
  std::size_t poi_ = 0;
  Observations data_, asimov_;
  FitResult free_, asimov_free_;
  void widen_poi_bound(double hi);
};

// CLs from pseudo-experiments, for small counts where the asymptotic formulae fail
// (as pyhf's ToyCalculator and RooStats' FrequentistCalculator): at each mu, toys
// of the s+b hypothesis (nuisance parameters at their fit to the data at mu) and of
// the background-only one (at their fit at mu = 0), main counts Poisson, auxiliary
// data Gaussian around the generating values; q~_mu of each toy (two fits);
// CLs+b = P(q >= q_obs | s+b), CLb = P(q >= q_obs | b). The expected bands take q at
// the Phi(-k) quantile of the background-only toys. Toy i on rank i mod P, seeded
// by (seed, mu point, hypothesis, i): the same numbers on any rank count.
struct ToyLimitOptions {
  uint64_t toys = 1000;  // per hypothesis and mu point
  uint64_t seed = 1;
  std::size_t grid = 12;  // mu points; the limit is interpolated in ln CLs between them
};

class ToyCalculator {
 public:
  ToyCalculator(const dist::Communicator& comm, const Likelihood& model, Observations data, ToyLimitOptions options);
  // Collective.
  CLsPoint test(double mu, uint64_t point = 0) const;
  // Collective. The grid spans [lo, hi] (from the asymptotic limits: 0.5 x the lowest
  // band to 1.6 x the highest) and is extended upwards while a curve stays above 1 - cl.
  UpperLimit upper_limit(const LimitOptions& options, double lo, double hi);

 private:
  double q_tilde(double mu, const Observations& data) const;
  const dist::Communicator& comm_;
  Likelihood model_;
  std::size_t poi_ = 0;
  Observations data_;
  ToyLimitOptions options_;
};

// Impact of one constrained nuisance parameter on the fitted POI: the POI refitted
// with the parameter fixed at its post-fit value +- its post-fit uncertainty
// (and +-1 of its pre-fit width).
struct Impact {
  std::string parameter;
  double value = 0, error = 0;   // post-fit (pull: (value - aux) / sigma)
  double pull = 0;
  double postfit_up = 0, postfit_down = 0, prefit_up = 0, prefit_down = 0;  // Delta mu
};
// Sorted by the larger of |postfit_up|, |postfit_down|, largest first.
std::vector<Impact> rank_impacts(const Likelihood& model, const Observations& data, const FitResult& free_fit);

}  // namespace bsmhunt::stats
