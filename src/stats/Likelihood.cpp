// The HistFactory likelihood: parameters from the modifiers and the measurement,
// expected yields with their derivatives, -ln L, and maximum-likelihood fits with
// Ceres on deviance residuals (the same least-squares form as the dijet fits).
#include "bsmhunt/stats/Likelihood.hpp"

#include <ceres/ceres.h>
#include <fmt/format.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <map>

#include "Deviance.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"

namespace bsmhunt::stats {

namespace {

// pyhf's defaults per modifier type (bounds, init); constraints are set below.
ParameterSpec default_spec(const std::string& name, ModifierType type) {
  ParameterSpec p;
  p.name = name;
  p.type = type;
  switch (type) {
    case ModifierType::normfactor: p.init = 1, p.lo = 0, p.hi = 10; break;
    case ModifierType::normsys:
    case ModifierType::histosys:
      p.init = 0, p.lo = -5, p.hi = 5, p.constrained = true, p.aux = 0, p.sigma = 1;
      break;
    case ModifierType::staterror: p.init = 1, p.lo = 1e-10, p.hi = 10, p.constrained = true, p.aux = 1; break;
    case ModifierType::lumi: p.init = 1, p.lo = 0, p.hi = 10, p.constrained = true, p.aux = 1; break;
  }
  return p;
}

// normsys, pyhf's and ROOT's default interpolation ("code 4"): hi^alpha above 1,
// lo^-alpha below -1, and between them the polynomial 1 + sum_i a_i alpha^i of
// degree 6 that matches value, slope and curvature at +-1 (smooth at 0, unlike
// code 1). The coefficients are A^-1 b for alpha_0 = 1, as in pyhf's code4.
void code4_coefficients(double hi, double lo, double* a) {
  static constexpr double inverse[6][6] = {{15.0 / 16, -15.0 / 16, -7.0 / 16, -7.0 / 16, 1.0 / 16, -1.0 / 16},
                                           {3.0 / 2, 3.0 / 2, -9.0 / 16, 9.0 / 16, 1.0 / 16, 1.0 / 16},
                                           {-5.0 / 8, 5.0 / 8, 5.0 / 8, 5.0 / 8, -1.0 / 8, 1.0 / 8},
                                           {-3.0 / 2, -3.0 / 2, 7.0 / 8, -7.0 / 8, -1.0 / 8, -1.0 / 8},
                                           {3.0 / 16, -3.0 / 16, -3.0 / 16, -3.0 / 16, 1.0 / 16, -1.0 / 16},
                                           {1.0 / 2, 1.0 / 2, -5.0 / 16, 5.0 / 16, 1.0 / 16, 1.0 / 16}};
  const double lh = std::log(hi), ll = std::log(lo);
  const double b[6] = {hi - 1, lo - 1, lh * hi, -ll * lo, lh * lh * hi, ll * ll * lo};
  for (int r = 0; r < 6; ++r) {
    a[r] = 0;
    for (int c = 0; c < 6; ++c) a[r] += inverse[r][c] * b[c];
  }
}

double normsys_factor(double hi, double lo, const double* a, double alpha, double* derivative) {
  if (alpha >= 1 || alpha <= -1) {
    const double base = alpha >= 1 ? hi : lo;
    const double f = std::pow(base, std::fabs(alpha));
    *derivative = (alpha >= 1 ? 1.0 : -1.0) * std::log(base) * f;
    return f;
  }
  double f = 1, d = 0, power = 1;  // power = alpha^(i-1)
  for (int i = 0; i < 6; ++i) {
    d += double(i + 1) * a[i] * power;
    power *= alpha;
    f += a[i] * power;
  }
  *derivative = d;
  return f;
}

// histosys, pyhf's and ROOT's default ("code 4p"): linear in alpha beyond +-1, and
// between them alpha S + alpha^2 (alpha^2 (3 alpha^2 - 10) + 15) A with
// S = (up + down) / 2, A = (up - down) / 16, which meets the lines with their slopes.
double histosys_delta(double up, double down, double alpha, double* derivative) {
  if (alpha > 1) return *derivative = up, alpha * up;
  if (alpha < -1) return *derivative = down, alpha * down;
  const double S = 0.5 * (up + down), A = 0.0625 * (up - down), a2 = alpha * alpha;
  *derivative = S + A * alpha * (30 + a2 * (-40 + 18 * a2));
  return alpha * S + a2 * (a2 * (3 * a2 - 10) + 15) * A;
}

class LikelihoodCost final : public ceres::CostFunction {
 public:
  LikelihoodCost(const Likelihood& model, const Observations& data) : model_(model), data_(data) {
    set_num_residuals(int(model.bins() + data.aux.size()));
    mutable_parameter_block_sizes()->push_back(int(model.parameters()));
  }
  bool Evaluate(double const* const* parameters, double* residuals, double** jacobians) const override {
    const std::size_t P = model_.parameters(), B = model_.bins();
    const std::vector<double> theta(parameters[0], parameters[0] + P);
    std::vector<double> jac;
    const std::vector<double> nu = model_.expected(theta, jacobians ? &jac : nullptr);
    double* J = jacobians ? jacobians[0] : nullptr;
    for (std::size_t b = 0; b < B; ++b) {
      const double n = data_.main[b];
      if (!std::isfinite(nu[b]) || nu[b] < 0) return false;  // Ceres rejects the step
      if (nu[b] == 0) {
        // A bin nothing can fill: no information (with n > 0 the point is impossible).
        if (n > 0) return false;
        residuals[b] = 0;
        if (J) std::fill(J + b * P, J + (b + 1) * P, 0.0);
        continue;
      }
      double dr;
      detail::deviance_residual(n, nu[b], residuals[b], dr);
      if (!std::isfinite(residuals[b])) return false;
      if (J)
        for (std::size_t k = 0; k < P; ++k) J[b * P + k] = dr * jac[b * P + k];
    }
    std::size_t a = 0;
    for (std::size_t k = 0; k < P; ++k) {
      const ParameterSpec& p = model_.parameter(k);
      if (!p.constrained) continue;
      residuals[B + a] = (theta[k] - data_.aux[a]) / p.sigma;
      if (J) {
        std::fill(J + (B + a) * P, J + (B + a + 1) * P, 0.0);
        J[(B + a) * P + k] = 1 / p.sigma;
      }
      ++a;
    }
    return true;
  }

 private:
  const Likelihood& model_;
  const Observations& data_;
};

// Hessian of -ln L over `which`: central differences of the analytic gradient (the
// Gauss-Newton J^T J of the least-squares fit drops the curvature of nu).
Eigen::MatrixXd hessian(const Likelihood& model, const std::vector<double>& theta, const std::vector<std::size_t>& which,
                        const Observations& data) {
  const std::size_t F = which.size();
  Eigen::MatrixXd H = Eigen::MatrixXd::Zero(Eigen::Index(F), Eigen::Index(F));
  for (std::size_t j = 0; j < F; ++j) {
    const std::size_t k = which[j];
    const double h = 1e-5 * std::max(1.0, std::fabs(theta[k]));
    std::vector<double> up = theta, down = theta;
    up[k] += h, down[k] -= h;
    const auto gu = model.nll_gradient(up, data), gd = model.nll_gradient(down, data);
    for (std::size_t i = 0; i < F; ++i) H(Eigen::Index(i), Eigen::Index(j)) = (gu[which[i]] - gd[which[i]]) / (2 * h);
  }
  const Eigen::MatrixXd symmetric = 0.5 * (H + H.transpose());
  return symmetric;
}

// Newton steps with the exact Hessian from the least-squares fit's end point. Levenberg-
// Marquardt on deviance residuals crawls when parameters of very different curvature
// meet a bound (a POI at 0 next to normalisations of millions of events) and stops on
// its function tolerance (or its iteration limit) short of the minimum; a few Newton
// steps, with the parameters held at a bound they push against, reach it. True when
// they end at a stationary point (the predicted decrease below 1e-10).
bool polish(const Likelihood& model, FitResult& r, const std::vector<std::size_t>& free, const Observations& data) {
  for (int iteration = 0; iteration < 50; ++iteration) {
    const std::vector<double> g = model.nll_gradient(r.values, data);
    std::vector<std::size_t> active;
    for (const std::size_t k : free) {
      const ParameterSpec& p = model.parameter(k);
      const bool at_lo = r.values[k] <= p.lo && g[k] > 0, at_hi = r.values[k] >= p.hi && g[k] < 0;
      if (!at_lo && !at_hi) active.push_back(k);
    }
    if (active.empty()) return true;
    Eigen::MatrixXd H = hessian(model, r.values, active, data);
    const Eigen::Index F = Eigen::Index(active.size());
    Eigen::VectorXd grad(F);
    for (Eigen::Index i = 0; i < F; ++i) grad(i) = g[active[std::size_t(i)]];
    // A Hessian that is not positive definite gets a Levenberg shift.
    double shift = 0;
    Eigen::LDLT<Eigen::MatrixXd> ldlt(H);
    for (int tries = 0; tries < 20 && (ldlt.info() != Eigen::Success || !ldlt.isPositive()); ++tries) {
      shift = shift == 0 ? 1e-8 * std::max(1.0, H.diagonal().cwiseAbs().maxCoeff()) : 10 * shift;
      ldlt.compute(H + shift * Eigen::MatrixXd::Identity(F, F));
    }
    if (ldlt.info() != Eigen::Success || !ldlt.isPositive()) return false;
    const Eigen::VectorXd step = -ldlt.solve(grad);
    const double decrement = -grad.dot(step);  // predicted 2 x decrease
    if (!(decrement > 1e-12)) return decrement <= 1e-12;
    double t = 1;
    for (int halvings = 0; halvings < 30; ++halvings, t *= 0.5) {
      std::vector<double> trial = r.values;
      for (Eigen::Index i = 0; i < F; ++i) {
        const std::size_t k = active[std::size_t(i)];
        trial[k] = std::clamp(trial[k] + t * step(i), model.parameter(k).lo, model.parameter(k).hi);
      }
      const double value = model.nll(trial, data);
      if (std::isfinite(value) && value < r.nll) {
        r.values = std::move(trial);
        r.nll = value;
        break;
      }
    }
    if (decrement < 1e-10) return true;
  }
  return false;
}

}  // namespace

Likelihood::Likelihood(const Workspace& w, const std::string& measurement_name) {
  validate(w, "workspace");
  const Measurement& ms = w.measurement(measurement_name);
  std::map<std::string, std::size_t> index_of;
  // staterror: per channel and name, sum of nominal and of squared uncertainties.
  struct StatSums {
    std::vector<double> nominal, err2;
  };
  std::map<std::pair<std::size_t, std::string>, StatSums> stat;
  for (std::size_t c = 0; c < w.channels.size(); ++c) {
    const WorkspaceChannel& ch = w.channels[c];
    const std::size_t nb = ch.bins();
    for (const WorkspaceSample& sm : ch.samples) {
      SampleModel model;
      model.first_bin = bins_;
      model.nominal = sm.data;
      for (const Modifier& m : sm.modifiers) {
        Term t;
        t.type = m.type;
        t.hi = m.hi, t.lo = m.lo;
        if (m.type == ModifierType::normsys) code4_coefficients(m.hi, m.lo, t.poly);
        const bool per_bin = m.type == ModifierType::staterror;
        const auto found = index_of.find(m.name);
        if (found == index_of.end()) {
          index_of[m.name] = params_.size();
          if (per_bin)
            for (std::size_t i = 0; i < nb; ++i)
              params_.push_back(default_spec(fmt::format("{}[{}]", m.name, i), m.type));
          else
            params_.push_back(default_spec(m.name, m.type));
        }
        t.parameter = index_of[m.name];
        if (m.type == ModifierType::histosys) {
          t.up_delta.resize(nb), t.down_delta.resize(nb);
          for (std::size_t i = 0; i < nb; ++i)
            t.up_delta[i] = m.hi_data[i] - sm.data[i], t.down_delta[i] = sm.data[i] - m.lo_data[i];
        }
        if (per_bin) {
          StatSums& s = stat[{c, m.name}];
          s.nominal.resize(nb), s.err2.resize(nb);
          for (std::size_t i = 0; i < nb; ++i) s.nominal[i] += sm.data[i], s.err2[i] += m.errors[i] * m.errors[i];
        }
        model.terms.push_back(std::move(t));
      }
      samples_.push_back(std::move(model));
    }
    bins_ += nb;
  }
  // Relative staterror per bin; a bin without nominal yield or uncertainty has no
  // constraint to speak of and keeps gamma = 1 (as pyhf masks it).
  for (const auto& [key, s] : stat) {
    const std::size_t first = index_of.at(key.second);
    for (std::size_t i = 0; i < s.nominal.size(); ++i) {
      ParameterSpec& p = params_[first + i];
      const double rel = s.nominal[i] > 0 ? std::sqrt(s.err2[i]) / s.nominal[i] : 0.0;
      if (rel > 0) p.sigma = rel;
      else p.fixed = true, p.constrained = false;
    }
  }
  for (const ParameterConfig& pc : ms.parameters) {
    const auto it = index_of.find(pc.name);
    if (it == index_of.end()) continue;  // validate() checked the name exists
    ParameterSpec& p = params_[it->second];
    if (pc.bounds) p.lo = pc.bounds->first, p.hi = pc.bounds->second;
    if (pc.auxdata) p.aux = *pc.auxdata, p.init = *pc.auxdata;
    if (pc.sigma) p.sigma = *pc.sigma;
    if (pc.init) p.init = *pc.init;
    p.fixed = p.fixed || pc.fixed;
  }
  poi_ = index(ms.poi);
  for (std::size_t k = 0; k < params_.size(); ++k)
    if (params_[k].constrained) constrained_.push_back(k);
  for (const auto& obs : w.observations) observed_.main.insert(observed_.main.end(), obs.begin(), obs.end());
  for (const std::size_t k : constrained_) observed_.aux.push_back(params_[k].aux);
}

std::size_t Likelihood::index(const std::string& name) const {
  std::vector<std::string> names;
  for (std::size_t k = 0; k < params_.size(); ++k) {
    if (params_[k].name == name) return k;
    names.push_back(params_[k].name);
  }
  throw InputError(fmt::format("no parameter '{}' in the model{}", name, did_you_mean(name, names)));
}

void Likelihood::set_bounds(std::size_t k, double lo, double hi) {
  if (!(lo < hi)) throw InputError(fmt::format("bounds [{}, {}] of '{}': expected low < high", lo, hi, params_.at(k).name));
  params_.at(k).lo = lo, params_.at(k).hi = hi;
}

std::vector<double> Likelihood::initial() const {
  std::vector<double> theta;
  for (const auto& p : params_) theta.push_back(std::clamp(p.init, p.lo, p.hi));
  return theta;
}

std::vector<double> Likelihood::expected(const std::vector<double>& theta, std::vector<double>* jacobian) const {
  const std::size_t P = params_.size();
  std::vector<double> nu(bins_, 0.0);
  if (jacobian) jacobian->assign(bins_ * P, 0.0);
  std::vector<double> f, df;
  std::vector<std::size_t> which;
  for (const SampleModel& s : samples_) {
    for (std::size_t i = 0; i < s.nominal.size(); ++i) {
      const std::size_t b = s.first_bin + i;
      double base = s.nominal[i], mult = 1;
      f.clear(), df.clear(), which.clear();
      for (const Term& t : s.terms) {
        const std::size_t k = t.parameter + (t.type == ModifierType::staterror ? i : 0);
        double d = 1;
        if (t.type == ModifierType::histosys) {
          base += histosys_delta(t.up_delta[i], t.down_delta[i], theta[k], &d);
          continue;
        }
        f.push_back(t.type == ModifierType::normsys ? normsys_factor(t.hi, t.lo, t.poly, theta[k], &d) : theta[k]);
        df.push_back(d), which.push_back(k);
        mult *= f.back();
      }
      nu[b] += base * mult;
      if (!jacobian) continue;
      double* row = jacobian->data() + b * P;
      for (const Term& t : s.terms)
        if (t.type == ModifierType::histosys) {
          double d;
          histosys_delta(t.up_delta[i], t.down_delta[i], theta[t.parameter], &d);
          row[t.parameter] += d * mult;
        }
      // d/d theta_k of the product: the other factors times df_k (no division: a factor may be 0).
      for (std::size_t j = 0; j < f.size(); ++j) {
        double others = base;
        for (std::size_t l = 0; l < f.size(); ++l)
          if (l != j) others *= f[l];
        row[which[j]] += others * df[j];
      }
    }
  }
  return nu;
}

Observations Likelihood::expected_data(const std::vector<double>& theta) const {
  Observations o;
  o.main = expected(theta);
  for (const std::size_t k : constrained_) o.aux.push_back(theta[k]);
  return o;
}

double Likelihood::nll(const std::vector<double>& theta, const Observations& data) const {
  const std::vector<double> nu = expected(theta);
  double sum = 0;
  for (std::size_t b = 0; b < bins_; ++b) {
    const double n = data.main[b];
    if (nu[b] <= 0) {
      if (n > 0 || nu[b] < 0) return std::numeric_limits<double>::infinity();
      continue;
    }
    sum += nu[b] - n + (n > 0 ? n * std::log(n / nu[b]) : 0.0);
  }
  for (std::size_t a = 0; a < constrained_.size(); ++a) {
    const ParameterSpec& p = params_[constrained_[a]];
    const double z = (theta[constrained_[a]] - data.aux[a]) / p.sigma;
    sum += 0.5 * z * z;
  }
  return sum;
}

std::vector<double> Likelihood::nll_gradient(const std::vector<double>& theta, const Observations& data) const {
  const std::size_t P = params_.size();
  std::vector<double> jac;
  const std::vector<double> nu = expected(theta, &jac);
  std::vector<double> g(P, 0.0);
  for (std::size_t b = 0; b < bins_; ++b) {
    if (nu[b] <= 0) continue;
    const double w = 1 - data.main[b] / nu[b];
    for (std::size_t k = 0; k < P; ++k) g[k] += w * jac[b * P + k];
  }
  for (std::size_t a = 0; a < constrained_.size(); ++a) {
    const std::size_t k = constrained_[a];
    g[k] += (theta[k] - data.aux[a]) / (params_[k].sigma * params_[k].sigma);
  }
  return g;
}

FitResult Likelihood::fit(const Observations& data, const std::vector<Fixed>& fix, bool covariance) const {
  if (data.main.size() != bins_ || data.aux.size() != constrained_.size())
    throw InternalError(fmt::format("fit: data of {} + {} values for a model of {} bins and {} constraints",
                                    data.main.size(), data.aux.size(), bins_, constrained_.size()));
  const std::size_t P = params_.size();
  FitResult r;
  r.values = initial();
  std::vector<bool> constant(P, false);
  for (std::size_t k = 0; k < P; ++k) constant[k] = params_[k].fixed;
  for (const Fixed& f : fix) r.values[f.parameter] = f.value, constant[f.parameter] = true;
  std::vector<int> constant_indices;
  for (std::size_t k = 0; k < P; ++k)
    if (constant[k]) constant_indices.push_back(int(k));

  bool hit_iteration_limit = false;
  if (constant_indices.size() < P) {
    ceres::Problem::Options problem_options;
    problem_options.cost_function_ownership = ceres::TAKE_OWNERSHIP;
    problem_options.manifold_ownership = ceres::TAKE_OWNERSHIP;
    ceres::Problem problem(problem_options);
    problem.AddResidualBlock(new LikelihoodCost(*this, data), nullptr, r.values.data());
    if (!constant_indices.empty())
      problem.SetManifold(r.values.data(), new ceres::SubsetManifold(int(P), constant_indices));
    for (std::size_t k = 0; k < P; ++k) {
      if (constant[k]) continue;
      problem.SetParameterLowerBound(r.values.data(), int(k), params_[k].lo);
      problem.SetParameterUpperBound(r.values.data(), int(k), params_[k].hi);
    }
    const ceres::Solver::Options options = detail::least_squares_options(500, 1e-13, 1e-12);
    ceres::Solver::Summary summary;
    ceres::Solve(options, &problem, &summary);
    r.converged = summary.termination_type == ceres::CONVERGENCE && std::isfinite(summary.final_cost);
    // At its iteration limit LM may still be crawling towards the minimum: the Newton
    // steps below decide (converged only if they end at a stationary point).
    hit_iteration_limit = summary.termination_type == ceres::NO_CONVERGENCE && std::isfinite(summary.final_cost);
    r.message = fmt::format("{} after {} iterations", ceres::TerminationTypeToString(summary.termination_type),
                            summary.iterations.size());
    if (!r.converged) r.message += ": " + summary.message;
  } else {
    r.converged = true;
    r.message = "every parameter fixed";
  }
  r.nll = nll(r.values, data);
  if (!std::isfinite(r.nll)) r.converged = false, hit_iteration_limit = false, r.message += " (-ln L not finite at the end point)";
  r.errors.assign(P, 0.0);
  if (!r.converged && !hit_iteration_limit) return r;
  std::vector<std::size_t> free;
  for (std::size_t k = 0; k < P; ++k)
    if (!constant[k]) free.push_back(k);
  if (free.empty()) return r;
  const bool stationary = polish(*this, r, free, data);
  if (hit_iteration_limit) {
    if (!stationary) return r;
    r.converged = true;
    r.message = "Newton steps reached the minimum after Levenberg-Marquardt's iteration limit";
  }
  if (!covariance) return r;

  const Eigen::MatrixXd H = hessian(*this, r.values, free, data);
  const std::size_t F = free.size();
  const Eigen::LDLT<Eigen::MatrixXd> ldlt(H);
  r.covariance.assign(P * P, 0.0);
  if (ldlt.info() != Eigen::Success || !ldlt.isPositive()) {
    r.message += "; the Hessian is not positive definite (no uncertainties)";
    std::fill(r.errors.begin(), r.errors.end(), std::numeric_limits<double>::quiet_NaN());
    return r;
  }
  const Eigen::MatrixXd C = ldlt.solve(Eigen::MatrixXd::Identity(Eigen::Index(F), Eigen::Index(F)));
  for (std::size_t i = 0; i < F; ++i) {
    for (std::size_t j = 0; j < F; ++j) r.covariance[free[i] * P + free[j]] = C(Eigen::Index(i), Eigen::Index(j));
    r.errors[free[i]] = std::sqrt(std::max(0.0, C(Eigen::Index(i), Eigen::Index(i))));
  }
  return r;
}

}  // namespace bsmhunt::stats
