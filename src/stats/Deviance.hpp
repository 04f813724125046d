#pragma once
// Private to stats: what the fits that hand a binned Poisson likelihood to Ceres as a
// least-squares problem share: the signed deviance residual and the solver options.
#include <ceres/ceres.h>

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

// Levenberg-Marquardt with a dense QR solve, silent: the small problems of the binned
// fits (tens of bins, a few to tens of parameters). Tolerances tight enough that the
// likelihood ratios built from the minima are exact to ~1e-8.
inline ceres::Solver::Options least_squares_options(int max_iterations, double function_tolerance,
                                                    double parameter_tolerance) {
  ceres::Solver::Options options;
  options.minimizer_type = ceres::TRUST_REGION;
  options.trust_region_strategy_type = ceres::LEVENBERG_MARQUARDT;
  options.linear_solver_type = ceres::DENSE_QR;
  options.max_num_iterations = max_iterations;
  options.function_tolerance = function_tolerance;
  options.gradient_tolerance = 1e-12;
  options.parameter_tolerance = parameter_tolerance;
  options.num_threads = 1;
  options.logging_type = ceres::SILENT;
  options.minimizer_progress_to_stdout = false;
  return options;
}

}  // namespace bsmhunt::stats::detail
