#pragma once
// Private to stats: the signed Poisson deviance residual, shared by the fits that
// hand a binned Poisson likelihood to Ceres as a least-squares problem.
#include <cmath>

namespace bsmhunt::stats::detail {

// Signed deviance residual r (r^2 = 2 (mu - n + n ln(n/mu)), r > 0 for mu > n) and
// dr/dmu. With e = mu/n - 1: r = e sqrt(n h(e)), dr/dmu = 1 / ((1 + e) sqrt(n h)),
// h = 2 (e - ln(1 + e)) / e^2, by its series near e = 0 where the closed form cancels.
// Sum r^2 / 2 is the Poisson negative log-likelihood up to a constant, so its
// minimum is the maximum-likelihood point.
inline void deviance_residual(double n, double mu, double& r, double& dr_dmu) {
  if (n <= 0) {
    r = std::sqrt(2 * mu);
    dr_dmu = 1 / r;
    return;
  }
  const double e = mu / n - 1;
  double h;
  if (std::fabs(e) < 1e-3)
    h = 1 + e * (-2.0 / 3 + e * (0.5 + e * (-0.4 + e / 3)));
  else
    h = 2 * (e - std::log1p(e)) / (e * e);
  const double root = std::sqrt(n * h);
  r = e * root;
  dr_dmu = 1 / ((1 + e) * root);
}

}  // namespace bsmhunt::stats::detail
