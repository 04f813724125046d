// Sideband fits with the dijet functions: quadrature of the bin integrals, the
// binned Poisson fit (Ceres, Levenberg-Marquardt on deviance residuals), the
// DESIGN.md procedure, signal-region predictions and pseudo-experiments.
#include "bsmhunt/stats/DijetFit.hpp"

#include <ceres/ceres.h>
#include <fmt/format.h>

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/quadrature/gauss.hpp>
#include <boost/math/quadrature/gauss_kronrod.hpp>
#include <boost/math/special_functions/gamma.hpp>
#include <chrono>
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "Deviance.hpp"

namespace bsmhunt::stats {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

constexpr std::array<DijetFunction, 4> kAllFunctions{DijetFunction::f3, DijetFunction::f4, DijetFunction::fexp,
                                                      DijetFunction::f5};
constexpr int kMaxParameters = 5;

// ---------------------------------------------------------------------------
// Quadrature: 10-point Gauss-Legendre on [-1, 1] from Boost.Math's tables.
struct GaussRule {
  std::array<double, 10> node{}, weight{};
};
const GaussRule& gauss_rule() {
  static const GaussRule rule = [] {
    using G = boost::math::quadrature::gauss<double, 10>;
    GaussRule r;
    const auto& a = G::abscissa();  // the 5 non-negative nodes
    const auto& w = G::weights();
    for (std::size_t i = 0; i < a.size(); ++i) {
      r.node[i] = -a[i], r.weight[i] = w[i];
      r.node[9 - i] = a[i], r.weight[9 - i] = w[i];
    }
    return r;
  }();
  return rule;
}
constexpr std::size_t kNodes = 10;

// Calls visit(x, weight) for the nodes of the integral over [x_lo, x_hi] in t = ln x
// (dx = x dt).
template <typename Visit>
void for_each_node(double x_lo, double x_hi, Visit&& visit) {
  const auto& rule = gauss_rule();
  const double t_lo = std::log(x_lo), t_hi = std::log(x_hi);
  const double half = 0.5 * (t_hi - t_lo), mid = 0.5 * (t_hi + t_lo);
  for (std::size_t q = 0; q < kNodes; ++q) {
    const double x = std::exp(mid + half * rule.node[q]);
    visit(x, rule.weight[q] * half * x);
  }
}

void check_parameters(DijetFunction f, std::span<const double> p) {
  if (p.size() != std::size_t(parameter_count(f)))
    throw InputError(fmt::format("{} takes {} parameters, got {}", to_string(f), parameter_count(f), p.size()));
}

double log_shape(DijetFunction f, std::span<const double> p, double x) {
  const double L = std::log(x);
  switch (f) {
    case DijetFunction::f3:
      return p[1] * std::log1p(-x) - p[2] * L;
    case DijetFunction::f4:
      return p[1] * std::log1p(-x) - (p[2] + p[3] * L) * L;
    case DijetFunction::f5:
      return p[1] * std::log1p(-x) - (p[2] + (p[3] + p[4] * L) * L) * L;
    case DijetFunction::fexp:
      return p[1] * L - p[2] * x + p[3] * x * x;
  }
  throw InternalError("log_shape: unknown function");
}

// ---------------------------------------------------------------------------
// The internal parametrisation. ln f = sum_j theta_j c_j(x) with c_0 = 1 and the
// remaining terms centred at x0 (the geometric mean of the spectrum's range) and
// scaled to |c_j| <= 1 there, which decorrelates the normalisation from the
// slopes (the role of ATLAS' exponent shifts) and keeps the problem well
// conditioned. With y = ln(x / x0):
//   f3, f4, f5: c = (1, ln((1 - x)/(1 - x0)), y, y^2, y^3) / scale  (first k terms)
//   fexp:       c = (1, y, u, u^2) / scale, u = x / x0 - 1
// The map to the DESIGN parameters (ln p1, p2, ..., pk) is linear: P = A theta.
class Basis {
 public:
  Basis(DijetFunction f, double x_first, double x_last) : function_(f), k_(parameter_count(f)) {
    x0_ = std::sqrt(x_first * x_last);
    scale_.fill(1.0);
    std::array<double, kMaxParameters> a{}, b{};
    raw(x_first, a.data());
    raw(x_last, b.data());
    for (int j = 1; j < k_; ++j) {
      const double s = std::max(std::fabs(a[std::size_t(j)]), std::fabs(b[std::size_t(j)]));
      if (s > 0 && std::isfinite(s)) scale_[std::size_t(j)] = s;
    }
  }
  int k() const { return k_; }
  DijetFunction function() const { return function_; }

  void values(double x, double* c) const {
    raw(x, c);
    for (int j = 1; j < k_; ++j) c[j] /= scale_[std::size_t(j)];
  }

  // A (k x k): (ln p1, p2, ..., pk) = A theta.
  Eigen::MatrixXd design_map() const {
    Eigen::MatrixXd A = Eigen::MatrixXd::Zero(k_, k_);
    const double L0 = std::log(x0_);
    for (int j = 0; j < k_; ++j) {
      // ln f of unit theta_j written as const + a ln(1-x) + sum_m b_m L^m (log family)
      // or const + c L + e1 x + e2 x^2 (fexp).
      std::array<double, 4> poly{};  // coefficients of L^0..L^3, or of 1, L, x, x^2 for fexp
      double log_one_minus = 0;
      const double s = scale_[std::size_t(j)];
      if (j == 0) {
        poly[0] = 1;
      } else if (function_ == DijetFunction::fexp) {
        if (j == 1) {  // y = L - L0
          poly[1] += 1 / s, poly[0] -= L0 / s;
        } else if (j == 2) {  // u = x/x0 - 1
          poly[2] += 1 / (x0_ * s), poly[0] -= 1 / s;
        } else {  // u^2 = x^2/x0^2 - 2x/x0 + 1
          poly[3] += 1 / (x0_ * x0_ * s), poly[2] -= 2 / (x0_ * s), poly[0] += 1 / s;
        }
      } else if (j == 1) {
        log_one_minus = 1 / s;
        poly[0] -= std::log1p(-x0_) / s;
      } else {
        const int m = j - 1;  // y^m = sum_a C(m, a) L^a (-L0)^(m - a)
        for (int power = 0; power <= m; ++power)
          poly[std::size_t(power)] += binomial(m, power) * std::pow(-L0, m - power) / s;
      }
      A(0, j) = poly[0];
      if (function_ == DijetFunction::fexp) {
        A(1, j) = poly[1];   // p2: coefficient of ln x
        A(2, j) = -poly[2];  // p3: minus the coefficient of x
        A(3, j) = poly[3];   // p4: coefficient of x^2
      } else {
        A(1, j) = log_one_minus;  // p2
        for (int power = 1; power < k_ - 1; ++power) A(power + 1, j) = -poly[std::size_t(power)];  // p3, p4, p5
      }
    }
    return A;
  }

 private:
  static double binomial(int n, int r) {
    double c = 1;
    for (int i = 1; i <= r; ++i) c = c * (n - r + i) / i;
    return c;
  }
  // Unscaled terms.
  void raw(double x, double* c) const {
    const double y = std::log(x / x0_);
    c[0] = 1;
    if (function_ == DijetFunction::fexp) {
      const double u = x / x0_ - 1;
      c[1] = y, c[2] = u, c[3] = u * u;
      return;
    }
    c[1] = std::log1p(-x) - std::log1p(-x0_);
    double power = y;
    for (int j = 2; j < k_; ++j, power *= y) c[j] = power;
  }

  DijetFunction function_;
  int k_;
  double x0_ = 1;
  std::array<double, kMaxParameters> scale_{};
};

// Quadrature nodes of every bin with the basis values there: mu_i(theta) =
// sum_q W_iq exp(theta . c(x_iq)), and its derivatives follow without further
// function evaluations (d mu / d theta_j = sum_q W exp(.) c_j).
class BinModel {
 public:
  BinModel(const Basis& basis, const std::vector<double>& x_edges)
      : k_(std::size_t(basis.k())), bins_(x_edges.size() - 1) {
    weight_.resize(bins_ * kNodes);
    terms_.resize(bins_ * kNodes * k_);
    for (std::size_t i = 0; i < bins_; ++i) {
      std::size_t q = 0;
      for_each_node(x_edges[i], x_edges[i + 1], [&](double x, double w) {
        weight_[i * kNodes + q] = w;
        basis.values(x, &terms_[(i * kNodes + q) * k_]);
        ++q;
      });
    }
  }
  std::size_t k() const { return k_; }
  std::size_t bins() const { return bins_; }

  // Expectation of `bin`; adds d mu/d theta to grad (k) and d2 mu/d theta2 to hess
  // (k x k) when they are not null (they must be zeroed by the caller).
  double expectation(std::size_t bin, const double* theta, double* grad = nullptr, double* hess = nullptr) const {
    double mu = 0;
    for (std::size_t q = 0; q < kNodes; ++q) {
      const double* c = &terms_[(bin * kNodes + q) * k_];
      double exponent = 0;
      for (std::size_t j = 0; j < k_; ++j) exponent += theta[j] * c[j];
      const double e = weight_[bin * kNodes + q] * std::exp(exponent);
      mu += e;
      if (grad)
        for (std::size_t j = 0; j < k_; ++j) grad[j] += e * c[j];
      if (hess)
        for (std::size_t j = 0; j < k_; ++j)
          for (std::size_t l = 0; l < k_; ++l) hess[j * k_ + l] += e * c[j] * c[l];
    }
    return mu;
  }

 private:
  std::size_t k_, bins_;
  std::vector<double> weight_, terms_;
};

using detail::deviance_residual;

class DevianceCost final : public ceres::CostFunction {
 public:
  DevianceCost(const BinModel& model, const std::vector<std::size_t>& bins, const std::vector<double>& counts)
      : model_(model), bins_(bins), counts_(counts) {
    set_num_residuals(int(bins.size()));
    mutable_parameter_block_sizes()->push_back(int(model.k()));
  }
  bool Evaluate(double const* const* parameters, double* residuals, double** jacobians) const override {
    const std::size_t k = model_.k();
    const double* theta = parameters[0];
    double* jac = jacobians ? jacobians[0] : nullptr;
    std::array<double, kMaxParameters> grad{};
    for (std::size_t r = 0; r < bins_.size(); ++r) {
      grad.fill(0.0);
      const std::size_t bin = bins_[r];
      const double mu = model_.expectation(bin, theta, jac ? grad.data() : nullptr);
      if (!std::isfinite(mu) || mu <= 0) return false;  // Ceres rejects the step
      double dr_dmu;
      deviance_residual(counts_[bin], mu, residuals[r], dr_dmu);
      if (!std::isfinite(residuals[r])) return false;
      if (jac)
        for (std::size_t j = 0; j < k; ++j) jac[r * k + j] = dr_dmu * grad[j];
    }
    return true;
  }

 private:
  const BinModel& model_;
  const std::vector<std::size_t>& bins_;
  const std::vector<double>& counts_;
};

struct Solution {
  std::vector<double> theta;
  double half_deviance = std::numeric_limits<double>::infinity();
  bool converged = false;
  int iterations = 0;
  std::string message;
};

Solution minimise(const BinModel& model, const std::vector<std::size_t>& bins, const std::vector<double>& counts,
                  std::vector<double> start, int max_iterations) {
  Solution s;
  s.theta = std::move(start);
  ceres::Problem::Options problem_options;
  problem_options.cost_function_ownership = ceres::TAKE_OWNERSHIP;
  ceres::Problem problem(problem_options);
  problem.AddResidualBlock(new DevianceCost(model, bins, counts), nullptr, s.theta.data());
  const ceres::Solver::Options options = detail::least_squares_options(max_iterations, 1e-13, 1e-12);
  // A failed evaluation is reported in the fit's message; glog's own ERROR line on
  // stderr (one per failed start, from every rank) would only be noise in Slurm logs.
  static const bool glog_quiet = [] {
    FLAGS_minloglevel = google::GLOG_FATAL;
    return true;
  }();
  (void)glog_quiet;
  ceres::Solver::Summary summary;
  ceres::Solve(options, &problem, &summary);
  s.iterations = int(summary.iterations.size());
  s.half_deviance = summary.final_cost;
  s.converged = summary.termination_type == ceres::CONVERGENCE && std::isfinite(summary.final_cost);
  s.message = fmt::format("{} after {} iterations: {}", ceres::TerminationTypeToString(summary.termination_type),
                          s.iterations, summary.message);
  return s;
}

std::vector<double> x_edges_of(const Spectrum& s, double sqrt_s) {
  std::vector<double> x(s.edges.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = s.edges[i] / sqrt_s;
  return x;
}

// Weighted linear fit of ln(n / dx) at the bins' geometric centres on the basis:
// the Poisson fit with ln mu linear in theta, to first order. Falls back to a flat
// spectrum of the right total where fewer bins than parameters have events.
std::vector<double> linear_start(const Basis& basis, const std::vector<double>& x_edges,
                                 const std::vector<std::size_t>& bins, const std::vector<double>& counts) {
  const int k = basis.k();
  std::vector<std::size_t> filled;
  double total = 0, width = 0;
  for (std::size_t b : bins) {
    total += counts[b];
    width += x_edges[b + 1] - x_edges[b];
    if (counts[b] > 0) filled.push_back(b);
  }
  std::vector<double> theta(std::size_t(k), 0.0);
  theta[0] = std::log(std::max(total, 0.5) / width);
  if (filled.size() < std::size_t(k)) return theta;
  Eigen::MatrixXd M(Eigen::Index(filled.size()), k);
  Eigen::VectorXd y(Eigen::Index(filled.size()));
  std::array<double, kMaxParameters> c{};
  for (std::size_t r = 0; r < filled.size(); ++r) {
    const std::size_t b = filled[r];
    const double sw = std::sqrt(counts[b]);
    basis.values(std::sqrt(x_edges[b] * x_edges[b + 1]), c.data());
    for (int j = 0; j < k; ++j) M(Eigen::Index(r), j) = sw * c[std::size_t(j)];
    y(Eigen::Index(r)) = sw * std::log(counts[b] / (x_edges[b + 1] - x_edges[b]));
  }
  const Eigen::VectorXd solution = M.colPivHouseholderQr().solve(y);
  if (!solution.allFinite()) return theta;
  for (int j = 0; j < k; ++j) theta[std::size_t(j)] = solution(j);
  return theta;
}

// Sets theta_0 so that the fitted bins' expectations sum to the observed total.
void normalise(std::vector<double>& theta, const BinModel& model, const std::vector<std::size_t>& bins,
               const std::vector<double>& counts) {
  double mu = 0, n = 0;
  for (std::size_t b : bins) mu += model.expectation(b, theta.data()), n += counts[b];
  if (mu > 0 && std::isfinite(mu)) theta[0] += std::log(std::max(n, 0.5) / mu);
}

std::string range_text(const Spectrum& s, std::size_t first, std::size_t end) {
  return fmt::format("{}-{} GeV", s.edges[first], s.edges[end]);
}

// Why `function` cannot be fitted to these bins, or "".
std::string fit_problem(const Spectrum& s, DijetFunction function, std::size_t fit_bins, double events,
                        std::size_t first, std::size_t end) {
  const int k = parameter_count(function);
  if (fit_bins < std::size_t(k) + 1)
    return fmt::format("too few sideband bins for {} in {}: {} bins outside the signal region, {} needs at least "
                       "{} (parameters + 1)",
                       to_string(function), range_text(s, first, end), fit_bins, to_string(function), k + 1);
  if (!(events > 0))
    return fmt::format("the sidebands of {} hold no events: nothing to fit", range_text(s, first, end));
  return "";
}

FunctionFit fit_one(const Spectrum& spectrum, const std::vector<double>& x_edges, DijetFunction function,
                    std::size_t first, std::size_t end, std::size_t signal_first, std::size_t signal_end,
                    const FitOptions& options, const std::vector<double>* nested) {
  const auto t0 = Clock::now();
  FunctionFit fit;
  fit.function = function;
  fit.first_bin = first, fit.end_bin = end;
  std::vector<std::size_t> bins;
  double events = 0;
  for (std::size_t b = first; b < end; ++b)
    if (b < signal_first || b >= signal_end) bins.push_back(b), events += spectrum.counts[b];
  fit.fit_bins = bins.size();
  const int k = parameter_count(function);
  fit.message = fit_problem(spectrum, function, bins.size(), events, first, end);
  if (!fit.message.empty()) return fit;

  const Basis basis(function, x_edges.front(), x_edges.back());
  const BinModel model(basis, x_edges);
  const auto& counts = spectrum.counts;

  // Starting points: the linear fit, the nested fit, then the linear fit's slopes shrunk
  // or stretched (each renormalised to the observed total).
  std::vector<std::vector<double>> starts;
  const std::vector<double> linear = linear_start(basis, x_edges, bins, counts);
  starts.push_back(linear);
  if (nested && !nested->empty() && nested->size() < std::size_t(k)) {
    std::vector<double> padded = *nested;
    padded.resize(std::size_t(k), 0.0);
    starts.push_back(padded);
  }
  for (double factor : {0.5, 0.0, 1.5}) {
    std::vector<double> s = linear;
    for (int j = 1; j < k; ++j) s[std::size_t(j)] *= factor;
    normalise(s, model, bins, counts);
    starts.push_back(s);
  }
  starts.resize(std::min(starts.size(), std::size_t(std::max(1, options.starts))));

  std::optional<Solution> best;
  std::string failures;
  for (std::size_t i = 0; i < starts.size(); ++i) {
    Solution s = minimise(model, bins, counts, starts[i], options.max_iterations);
    if (!s.converged) {
      failures += fmt::format("{}start {}: {}", failures.empty() ? "" : "; ", i + 1, s.message);
      continue;
    }
    if (!best || s.half_deviance < best->half_deviance) best = std::move(s);
  }
  fit.seconds = seconds_since(t0);
  if (!best) {
    fit.message = fmt::format("{} did not converge in {}: {}", to_string(function), range_text(spectrum, first, end),
                              failures);
    return fit;
  }
  fit.iterations = best->iterations;
  fit.message = best->message;
  const std::vector<double>& theta = best->theta;

  // Exact Hessian of the negative log-likelihood (= D/2) and its gradient at the minimum.
  const std::size_t K = std::size_t(k);
  Eigen::MatrixXd H = Eigen::MatrixXd::Zero(k, k);
  Eigen::VectorXd g = Eigen::VectorXd::Zero(k);
  double deviance = 0, chi2 = 0;
  for (std::size_t b : bins) {
    std::array<double, kMaxParameters> grad{};
    std::array<double, kMaxParameters * kMaxParameters> hess{};
    const double mu = model.expectation(b, theta.data(), grad.data(), hess.data());
    const double n = counts[b];
    const double ratio = n / mu;
    for (std::size_t j = 0; j < K; ++j) {
      g(Eigen::Index(j)) += (1 - ratio) * grad[j];
      for (std::size_t l = 0; l < K; ++l)
        H(Eigen::Index(j), Eigen::Index(l)) += (1 - ratio) * hess[j * K + l] + ratio / mu * grad[j] * grad[l];
    }
    deviance += 2 * (mu - n + (n > 0 ? n * std::log(ratio) : 0.0));
    chi2 += (n - mu) * (n - mu) / mu;
  }
  const Eigen::LLT<Eigen::MatrixXd> llt(H);
  if (llt.info() != Eigen::Success || !H.allFinite()) {
    fit.message = fmt::format("{} in {}: the Hessian of the likelihood is not positive definite at the minimum "
                              "(a parameter is not constrained by the sidebands); {}",
                              to_string(function), range_text(spectrum, first, end), fit.message);
    return fit;
  }
  const Eigen::MatrixXd cov_theta = llt.solve(Eigen::MatrixXd::Identity(k, k));
  fit.edm = 0.5 * g.dot(llt.solve(g));
  if (!(fit.edm < 1e-4)) {
    fit.message = fmt::format("{} in {}: the solver stopped {} away from the minimum (EDM > 1e-4); {}",
                              to_string(function), range_text(spectrum, first, end), fit.edm, fit.message);
    return fit;
  }

  const Eigen::MatrixXd A = basis.design_map();
  const Eigen::VectorXd P = A * Eigen::Map<const Eigen::VectorXd>(theta.data(), k);
  Eigen::MatrixXd cov_P = A * cov_theta * A.transpose();
  fit.log_p1 = P(0);
  const double p1 = std::exp(P(0));
  if (!std::isfinite(p1) || p1 <= 0) {
    fit.message = fmt::format("{} in {}: p1 = exp({}) is outside the range of a double", to_string(function),
                              range_text(spectrum, first, end), P(0));
    return fit;
  }
  Eigen::VectorXd J = Eigen::VectorXd::Ones(k);  // d p / d P: p1 = exp(ln p1)
  J(0) = p1;
  cov_P = J.asDiagonal() * cov_P * J.asDiagonal();
  fit.parameters.resize(K), fit.errors.resize(K), fit.covariance.resize(K * K);
  for (std::size_t j = 0; j < K; ++j) {
    fit.parameters[j] = j == 0 ? p1 : P(Eigen::Index(j));
    fit.errors[j] = std::sqrt(cov_P(Eigen::Index(j), Eigen::Index(j)));
    for (std::size_t l = 0; l < K; ++l) fit.covariance[j * K + l] = cov_P(Eigen::Index(j), Eigen::Index(l));
  }
  fit.theta_covariance.assign(cov_theta.data(), cov_theta.data() + K * K);  // symmetric: order does not matter
  fit.theta = theta;

  // Every bin's expectation and its fit uncertainty (extrapolated outside the range).
  const std::size_t n_bins = spectrum.bins();
  fit.expected.resize(n_bins), fit.expected_error.resize(n_bins), fit.expected_gradient.assign(n_bins * K, 0.0);
  for (std::size_t b = 0; b < n_bins; ++b) {
    double* grad = &fit.expected_gradient[b * K];
    fit.expected[b] = model.expectation(b, theta.data(), grad);
    const Eigen::Map<const Eigen::VectorXd> gb(grad, k);
    fit.expected_error[b] = std::sqrt(std::max(0.0, gb.dot(cov_theta * gb)));
  }
  fit.deviance = deviance;
  fit.chi2 = chi2;
  fit.ndf = int(bins.size()) - k;
  fit.pvalue = boost::math::cdf(boost::math::complement(boost::math::chi_squared(fit.ndf), chi2));
  bool finite = std::isfinite(deviance) && std::isfinite(chi2) && std::isfinite(fit.pvalue);
  for (double v : fit.covariance) finite = finite && std::isfinite(v);
  for (std::size_t b = 0; b < n_bins; ++b)
    finite = finite && std::isfinite(fit.expected[b]) && std::isfinite(fit.expected_error[b]);
  if (!finite) {
    fit.message = fmt::format("{} in {}: the fitted function gives a non-finite expectation, error or chi2",
                              to_string(function), range_text(spectrum, first, end));
    return fit;
  }
  fit.converged = true;
  fit.seconds = seconds_since(t0);
  return fit;
}

}  // namespace

// ---------------------------------------------------------------------------
std::string_view to_string(DijetFunction f) {
  switch (f) {
    case DijetFunction::f3:
      return "f3";
    case DijetFunction::f4:
      return "f4";
    case DijetFunction::fexp:
      return "fexp";
    case DijetFunction::f5:
      return "f5";
  }
  return "?";
}

std::vector<std::string> dijet_function_names() {
  std::vector<std::string> names;
  for (auto f : kAllFunctions) names.emplace_back(to_string(f));
  return names;
}

DijetFunction parse_dijet_function(std::string_view name) {
  const std::string t = trim(name);
  for (auto f : kAllFunctions)
    if (t == to_string(f)) return f;
  throw InputError(fmt::format("unknown dijet function '{}': expected one of {}{}", t,
                               join(dijet_function_names(), ", "), did_you_mean(t, dijet_function_names())));
}

std::vector<DijetFunction> parse_dijet_functions(std::string_view names) {
  std::vector<DijetFunction> out;
  for (const auto& part : split(names, ',')) {
    if (trim(part).empty()) continue;
    const DijetFunction f = parse_dijet_function(part);
    if (std::find(out.begin(), out.end(), f) != out.end())
      throw InputError(fmt::format("dijet function '{}' is listed twice in '{}'", to_string(f), names));
    out.push_back(f);
  }
  if (out.empty()) throw InputError(fmt::format("no dijet function in '{}': give e.g. f3,f4,fexp", names));
  return out;
}

int parameter_count(DijetFunction f) {
  switch (f) {
    case DijetFunction::f3:
      return 3;
    case DijetFunction::f4:
    case DijetFunction::fexp:
      return 4;
    case DijetFunction::f5:
      return 5;
  }
  return 0;
}

double dijet_value(DijetFunction f, std::span<const double> p, double x) {
  check_parameters(f, p);
  if (!(x > 0 && x < 1)) throw InputError(fmt::format("{}: x = {} is outside (0, 1)", to_string(f), x));
  return p[0] * std::exp(log_shape(f, p, x));
}

double dijet_integral(DijetFunction f, std::span<const double> p, double x_lo, double x_hi) {
  check_parameters(f, p);
  if (!(x_lo > 0 && x_lo < x_hi && x_hi < 1))
    throw InputError(fmt::format("{}: the integral needs 0 < x_lo < x_hi < 1, got [{}, {}]", to_string(f), x_lo, x_hi));
  double sum = 0;
  for_each_node(x_lo, x_hi, [&](double x, double w) { sum += w * std::exp(log_shape(f, p, x)); });
  return p[0] * sum;
}

void validate_spectrum(const Spectrum& s, double sqrt_s) {
  if (!(sqrt_s > 0) || !std::isfinite(sqrt_s))
    throw InputError(fmt::format("sqrt(s) = {} GeV must be positive", sqrt_s));
  if (s.counts.empty()) throw InputError("the spectrum has no bins");
  if (s.edges.size() != s.counts.size() + 1)
    throw InputError(fmt::format("the spectrum has {} counts but {} edges (expected bins + 1 = {})", s.counts.size(),
                                 s.edges.size(), s.counts.size() + 1));
  for (std::size_t i = 0; i < s.edges.size(); ++i) {
    const double e = s.edges[i];
    if (!std::isfinite(e)) throw InputError(fmt::format("bin edge {} is not finite ({})", i, e));
    if (!(e > 0 && e < sqrt_s))
      throw InputError(fmt::format("bin edge {} = {} GeV is outside (0, sqrt(s) = {} GeV): the dijet functions need "
                                   "0 < m/sqrt(s) < 1",
                                   i, e, sqrt_s));
    if (i > 0 && !(e > s.edges[i - 1]))
      throw InputError(fmt::format("bin edges must increase strictly: edge {} = {} GeV follows {} GeV", i, e,
                                   s.edges[i - 1]));
  }
  for (std::size_t i = 0; i < s.counts.size(); ++i) {
    const double n = s.counts[i];
    if (!std::isfinite(n) || n < 0)
      throw InputError(fmt::format("bin {} ({}-{} GeV) has count {}: counts must be finite and non-negative", i,
                                   s.edges[i], s.edges[i + 1], n));
  }
}

double FunctionFit::expected_sum_error(std::size_t first, std::size_t end) const {
  const std::size_t K = parameters.size();
  if (!converged || K == 0) throw InternalError("expected_sum_error of a fit that did not converge");
  if (first > end || end > expected.size())
    throw InternalError(fmt::format("expected_sum_error: bins [{}, {}) outside {} bins", first, end, expected.size()));
  std::array<double, kMaxParameters> g{};
  for (std::size_t b = first; b < end; ++b)
    for (std::size_t j = 0; j < K; ++j) g[j] += expected_gradient[b * K + j];
  double var = 0;
  for (std::size_t j = 0; j < K; ++j)
    for (std::size_t l = 0; l < K; ++l) var += g[j] * theta_covariance[j * K + l] * g[l];
  return std::sqrt(std::max(0.0, var));
}

FunctionFit fit_function(const Spectrum& spectrum, DijetFunction function, std::size_t first_bin,
                         std::size_t end_bin, std::size_t signal_first, std::size_t signal_end,
                         const FitOptions& options) {
  validate_spectrum(spectrum, options.sqrt_s_GeV);
  if (first_bin >= end_bin || end_bin > spectrum.bins())
    throw InputError(fmt::format("fit range of bins [{}, {}) is not inside the spectrum's {} bins", first_bin, end_bin,
                                 spectrum.bins()));
  std::size_t fit_bins = 0;
  double events = 0;
  for (std::size_t b = first_bin; b < end_bin; ++b)
    if (b < signal_first || b >= signal_end) ++fit_bins, events += spectrum.counts[b];
  const std::string problem = fit_problem(spectrum, function, fit_bins, events, first_bin, end_bin);
  if (!problem.empty()) throw InputError(problem);
  return fit_one(spectrum, x_edges_of(spectrum, options.sqrt_s_GeV), function, first_bin, end_bin, signal_first,
                 signal_end, options, nullptr);
}

SidebandFit fit_sidebands(const Spectrum& spectrum, std::size_t signal_first, std::size_t signal_end,
                          const FitOptions& options) {
  validate_spectrum(spectrum, options.sqrt_s_GeV);
  if (options.functions.empty()) throw InputError("no dijet function to fit");
  const std::size_t n = spectrum.bins();
  if (signal_first > signal_end || signal_end > n)
    throw InputError(fmt::format("signal region bins [{}, {}) are not inside the spectrum's {} bins", signal_first,
                                 signal_end, n));
  // An empty signal region (a background-only fit) sits in the middle for the range reduction.
  std::size_t sr_first = signal_first, sr_end = signal_end;
  if (sr_first == sr_end) sr_first = sr_end = n / 2;

  std::size_t smallest_k = 100;
  for (auto f : options.functions) smallest_k = std::min(smallest_k, std::size_t(parameter_count(f)));
  const auto sideband_of = [&](std::size_t lo, std::size_t hi, double& events) {
    std::size_t bins = 0;
    events = 0;
    for (std::size_t b = lo; b < hi; ++b)
      if (b < signal_first || b >= signal_end) ++bins, events += spectrum.counts[b];
    return bins;
  };
  double events = 0;
  const std::size_t sideband_bins = sideband_of(0, n, events);
  if (sideband_bins < smallest_k + 1)
    throw InputError(fmt::format("too few sideband bins: {} of the {} bins lie outside the signal region, but the "
                                 "smallest function tried needs at least {} (parameters + 1)",
                                 sideband_bins, n, smallest_k + 1));
  if (!(events > 0)) throw InputError("the sidebands hold no events (every count outside the signal region is 0)");

  const std::vector<double> x_edges = x_edges_of(spectrum, options.sqrt_s_GeV);
  SidebandFit result;
  std::size_t lo = 0, hi = n;
  const std::size_t keep = std::max<std::size_t>(options.min_sideband_bins, 1);
  for (int reduction = 0;; ++reduction) {
    double range_events = 0;
    const std::size_t bins = sideband_of(lo, hi, range_events);
    if (bins < smallest_k + 1 || !(range_events > 0)) break;
    std::vector<double> nested;  // theta of the last converged f3/f4 in this range
    for (auto f : options.functions) {
      const bool nests = f != DijetFunction::fexp && !nested.empty() && nested.size() < std::size_t(parameter_count(f));
      FunctionFit fit = fit_one(spectrum, x_edges, f, lo, hi, signal_first, signal_end, options,
                                nests ? &nested : nullptr);
      if (fit.converged && f != DijetFunction::fexp) nested = fit.theta;
      const bool pass = fit.passes(options.pvalue_threshold);
      result.attempts.push_back(std::move(fit));
      if (pass) {
        result.chosen = result.attempts.size() - 1;
        result.accepted = true;
        return result;
      }
    }
    if (!options.reduce_range || (options.max_reductions >= 0 && reduction >= options.max_reductions)) break;
    // Drop the outermost bin on each side that still has more than `keep` sideband bins.
    const std::size_t lo_before = lo, hi_before = hi;
    if (sr_first - lo > keep) ++lo;
    if (hi - sr_end > keep) --hi;
    if (lo == lo_before && hi == hi_before) break;
  }
  // Nothing passed: the converged attempt with the largest p-value (the first on ties).
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < result.attempts.size(); ++i)
    if (result.attempts[i].converged && (!best || result.attempts[i].pvalue > result.attempts[*best].pvalue)) best = i;
  if (!best) {
    std::string why;
    for (const auto& a : result.attempts) why += "\n  " + a.message;
    throw InputError(fmt::format("no sideband fit converged ({} attempts):{}", result.attempts.size(), why));
  }
  result.chosen = *best;
  result.accepted = false;
  return result;
}

std::pair<std::size_t, std::size_t> signal_region_bins(const Spectrum& s, SignalRegion region) {
  const auto& e = s.edges;
  if (e.size() < 2) throw InputError("the spectrum has no bins");
  const std::string name = fmt::format("signal region {}-{} GeV", region.lo_GeV, region.hi_GeV);
  if (!std::isfinite(region.lo_GeV) || !std::isfinite(region.hi_GeV) || !(region.lo_GeV < region.hi_GeV))
    throw InputError(fmt::format("{}: expected finite limits LO < HI", name));
  if (region.lo_GeV < e.front() * (1 - 1e-12) || region.hi_GeV > e.back() * (1 + 1e-12))
    throw InputError(fmt::format("{} lies outside the spectrum {}-{} GeV", name, e.front(), e.back()));
  const auto edge_index = [&](double v) {
    const auto it = std::lower_bound(e.begin(), e.end(), v);
    const std::size_t i = std::size_t(it - e.begin());
    // An edge typed as printed (6 significant digits of a log-spaced edge) still
    // names it: within a thousandth of the adjacent bin width.
    const auto near = [&](std::size_t j) {
      double width = std::numeric_limits<double>::infinity();
      if (j > 0) width = std::min(width, e[j] - e[j - 1]);
      if (j + 1 < e.size()) width = std::min(width, e[j + 1] - e[j]);
      return std::fabs(e[j] - v) <= std::max(1e-9 * std::max(1.0, std::fabs(v)), 1e-3 * width);
    };
    if (i < e.size() && near(i)) return i;
    if (i > 0 && near(i - 1)) return i - 1;
    throw InputError(fmt::format("{}: {} GeV is not a bin edge (nearest edges {} and {} GeV)", name, v,
                                 e[i > 0 ? i - 1 : 0], e[std::min(i, e.size() - 1)]));
  };
  return {edge_index(region.lo_GeV), edge_index(region.hi_GeV)};
}

std::vector<SignalRegion> sliding_signal_regions(const Spectrum& s, std::size_t width, std::size_t min_sideband) {
  if (width == 0) throw InputError("signal-region scan: the window width must be at least one bin");
  std::vector<SignalRegion> out;
  const std::size_t n = s.bins();
  for (std::size_t first = min_sideband; first + width + min_sideband <= n; ++first)
    out.push_back({s.edges[first], s.edges[first + width]});
  if (out.empty())
    throw InputError(fmt::format("signal-region scan: {} bins cannot hold a window of {} bins with {} sideband bins "
                                 "on each side",
                                 n, width, min_sideband));
  return out;
}

SignalRegionResult fit_signal_region(const Spectrum& spectrum, SignalRegion region, const FitOptions& options) {
  SignalRegionResult r;
  r.region = region;
  std::tie(r.first_bin, r.end_bin) = signal_region_bins(spectrum, region);
  r.fit = fit_sidebands(spectrum, r.first_bin, r.end_bin, options);
  const FunctionFit& f = r.fit.result();
  for (std::size_t b = r.first_bin; b < r.end_bin; ++b) r.observed += spectrum.counts[b], r.expected += f.expected[b];
  r.expected_error = f.expected_sum_error(r.first_bin, r.end_bin);
  r.pvalue_stat = excess_pvalue(r.observed, r.expected, 0.0);
  r.z_stat = z_from_pvalue(r.pvalue_stat);
  r.pvalue = excess_pvalue(r.observed, r.expected, r.expected_error);
  r.z = z_from_pvalue(r.pvalue);
  return r;
}

double excess_pvalue(double observed, double expected, double expected_error) {
  if (!std::isfinite(observed) || !std::isfinite(expected) || !std::isfinite(expected_error) || expected_error < 0)
    throw InputError(fmt::format("excess p-value: observed {}, expected {} +- {} must be finite (error >= 0)", observed,
                                 expected, expected_error));
  if (!(expected > 0))
    throw InputError(fmt::format("excess p-value: the expected background {} must be positive", expected));
  if (observed <= 0) return 1.0;
  // P(n >= N | b) = P(N, b), the regularised lower incomplete gamma function.
  const auto tail = [observed](double b) { return b > 0 ? boost::math::gamma_p(observed, b) : 0.0; };
  if (expected_error <= 1e-9 * expected) return tail(expected);
  // p = int P(N, B + sigma z) phi(z) dz / Phi(B / sigma) over z > -B / sigma. The log of the
  // integrand, g(z) = ln P(N, B + sigma z) - z^2 / 2, is concave (the gamma CDF is
  // log-concave for N >= 1, and phi has curvature -1), so its single peak z* (between 0
  // and the excess in units of sigma) is found by bisection on g'(z), and the integral is
  // taken over z* +- 15 (the integrand falls by more than e^-100 there), split at the peak.
  const double sigma = expected_error;
  const auto log_tail_slope = [&](double b) {
    const double p = boost::math::gamma_p(observed, b);
    if (p > 1e-290) return boost::math::gamma_p_derivative(observed, b) / p;
    return observed / b - 1;  // ln P ~ N ln b - b far in the tail
  };
  const double z_lo = -expected / sigma;
  const auto slope = [&](double z) { return sigma * log_tail_slope(expected + sigma * z) - z; };
  double z_peak = 0;
  if (slope(0) > 0) {
    double a = 0, c = 1;
    for (int i = 0; i < 80 && slope(c) > 0; ++i) a = c, c *= 2;
    for (int i = 0; i < 100 && c - a > 1e-9 * std::max(1.0, c); ++i) {
      const double mid = 0.5 * (a + c);
      (slope(mid) > 0 ? a : c) = mid;
    }
    z_peak = 0.5 * (a + c);
  }
  const auto integrand = [&](double z) { return tail(expected + sigma * z) * std::exp(-0.5 * z * z); };
  using Kronrod = boost::math::quadrature::gauss_kronrod<double, 31>;
  const double from = std::max(z_lo, z_peak - 15.0), peak = std::max(z_lo, z_peak), to = z_peak + 15.0;
  double integral = Kronrod::integrate(integrand, peak, to, 15, 1e-10);
  if (from < peak) integral += Kronrod::integrate(integrand, from, peak, 15, 1e-10);
  const boost::math::normal unit;
  const double norm = std::sqrt(2 * std::numbers::pi) * boost::math::cdf(unit, expected / sigma);
  return std::clamp(integral / norm, 0.0, 1.0);
}

double z_from_pvalue(double p) {
  if (std::isnan(p)) throw InternalError("z_from_pvalue: p-value is NaN");
  if (p >= 0.5) return 0.0;
  const boost::math::normal unit;
  return boost::math::quantile(boost::math::complement(unit, std::max(p, std::numeric_limits<double>::min())));
}

GlobalSignificance global_significance(const dist::Communicator& comm, const std::vector<double>& background,
                                       const std::vector<double>& edges, std::span<const SignalRegion> regions,
                                       double observed_max_z, const FitOptions& options, const ToyOptions& toys) {
  GlobalSignificance g;
  g.toys = toys.toys;
  g.observed_max_z = observed_max_z;
  const auto t0 = Clock::now();
  uint64_t failed = 0, at_or_above = 0;
  dist::collectively(comm, [&] {
    if (background.size() + 1 != edges.size())
      throw InputError(fmt::format("toys: {} background bins for {} edges", background.size(), edges.size()));
    for (double b : background)
      if (!std::isfinite(b) || b < 0) throw InputError(fmt::format("toys: background expectation {} is invalid", b));
    if (regions.empty()) throw InputError("toys: no signal region to scan");
    const uint64_t stream = stable_hash("bsmhunt.fit.toys");
    const dist::Range mine = dist::partition(toys.toys, comm.size(), comm.rank());
    Spectrum pseudo;
    pseudo.edges = edges;
    pseudo.counts.resize(background.size());
    for (uint64_t i = mine.begin; i < mine.end; ++i) {
      CounterRng rng(toys.seed, stream, i);
      for (std::size_t b = 0; b < background.size(); ++b) pseudo.counts[b] = double(rng.poisson(background[b]));
      double max_z = 0;
      try {
        for (const auto& region : regions) max_z = std::max(max_z, fit_signal_region(pseudo, region, options).z);
      } catch (const InputError&) {  // a toy whose fits fail is counted, not hidden
        ++failed;
        continue;
      }
      if (max_z >= observed_max_z) ++at_or_above;
    }
  });
  g.seconds = seconds_since(t0);
  g.failed = comm.sum(failed);
  g.at_or_above = comm.sum(at_or_above);
  const uint64_t valid = g.toys - g.failed;
  if (valid == 0) {
    g.pvalue = 1, g.z = 0;
    return g;
  }
  g.pvalue = double(g.at_or_above) / double(valid);
  g.pvalue_error = std::sqrt(g.pvalue * (1 - g.pvalue) / double(valid));
  if (g.at_or_above == 0) {
    g.z = z_from_pvalue(1.0 / double(valid));
    g.z_is_lower_bound = true;
  } else {
    g.z = z_from_pvalue(g.pvalue);
  }
  return g;
}

}  // namespace bsmhunt::stats
