#pragma once
// The binned likelihood of a Workspace (docs/limits.md):
//   L(theta) = prod_bins Poisson(n_b | nu_b(theta)) x prod_constrained Gauss(a_k | theta_k, sigma_k)
// with nu_b = sum_samples (nominal + histosys deltas) x normsys factors x normfactors
// x staterror gamma_b x lumi. Poisson terms are continuous in n (Asimov data), as in
// pyhf. Maximum-likelihood fits with Ceres (Levenberg-Marquardt on deviance
// residuals, parameter bounds respected); the covariance is the inverse of the
// Hessian of -ln L at the minimum.
#include <optional>
#include <string>
#include <vector>

#include "bsmhunt/stats/Workspace.hpp"

namespace bsmhunt::stats {

// Main (per bin, channels concatenated) and auxiliary (per constrained parameter) data.
struct Observations {
  std::vector<double> main, aux;
};

struct ParameterSpec {
  std::string name;       // staterror parameters are "name[bin]"
  ModifierType type = ModifierType::normfactor;
  double init = 1, lo = 0, hi = 10;
  bool fixed = false;
  bool constrained = false;  // Gaussian constraint: aux ~ Gauss(theta, sigma)
  double aux = 0, sigma = 1;
};

struct FitResult {
  std::vector<double> values, errors;  // errors: sqrt of the covariance diagonal (0 for fixed parameters)
  std::vector<double> covariance;      // P x P row-major, when asked for
  double nll = 0;                      // -ln L up to a constant that depends on the data only
  bool converged = false;
  std::string message;
};

class Likelihood {
 public:
  // The model of `workspace` under its measurement `measurement` (the first when empty).
  explicit Likelihood(const Workspace& workspace, const std::string& measurement = {});

  std::size_t parameters() const { return params_.size(); }
  const ParameterSpec& parameter(std::size_t i) const { return params_[i]; }
  const std::vector<ParameterSpec>& parameter_specs() const { return params_; }
  std::size_t index(const std::string& name) const;  // InputError if unknown
  std::size_t poi() const { return poi_; }
  std::size_t bins() const { return bins_; }
  std::vector<double> initial() const;
  // Changes a parameter's bounds (the limit search widens the POI's).
  void set_bounds(std::size_t k, double lo, double hi);

  // nu_b(theta) for every bin; with `jacobian`, d nu_b / d theta_k (bins x P, row-major).
  std::vector<double> expected(const std::vector<double>& theta, std::vector<double>* jacobian = nullptr) const;
  // The expected data: nu(theta) and, for each constrained parameter, its value.
  Observations expected_data(const std::vector<double>& theta) const;
  Observations observed() const { return observed_; }
  // -ln L up to a data-only constant (Poisson deviance / 2 + Gaussian chi2 / 2).
  double nll(const std::vector<double>& theta, const Observations& data) const;
  std::vector<double> nll_gradient(const std::vector<double>& theta, const Observations& data) const;

  // Maximum-likelihood fit; `fix` holds (parameter, value) pairs fixed for this fit
  // in addition to the measurement's fixed parameters. Never throws on a failed
  // fit: converged = false and the solver's message.
  struct Fixed {
    std::size_t parameter;
    double value;
  };
  FitResult fit(const Observations& data, const std::vector<Fixed>& fix = {}, bool covariance = false) const;

 private:
  // One modifier acting on one sample. staterror: `parameter` is the set's first
  // parameter (bin i of the channel uses parameter + i).
  struct Term {
    ModifierType type = ModifierType::normfactor;
    std::size_t parameter = 0;
    double hi = 1, lo = 1;                 // normsys
    double poly[6] = {0, 0, 0, 0, 0, 0};   // normsys: code-4 polynomial a_1..a_6 for |alpha| < 1
    std::vector<double> up_delta, down_delta;  // histosys: hi - nominal, nominal - lo
  };
  struct SampleModel {
    std::size_t first_bin = 0;
    std::vector<double> nominal;
    std::vector<Term> terms;
  };
  std::vector<ParameterSpec> params_;
  std::vector<SampleModel> samples_;
  std::vector<std::size_t> constrained_;  // parameter indices with a constraint, in aux order
  std::size_t poi_ = 0, bins_ = 0;
  Observations observed_;
};

}  // namespace bsmhunt::stats
