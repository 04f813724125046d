#pragma once
// Sideband fits of smoothly falling spectra with the dijet functions, the
// signal-region prediction, local and global significance (docs/fit.md).
//
// The dijet functions of x = m / sqrt(s), with p = {p1, ..., pk} (DESIGN.md section 5):
//   f3   = p1 (1 - x)^p2 x^-p3
//   f4   = p1 (1 - x)^p2 x^(-p3 - p4 ln x)
//   fexp = p1 x^p2 exp(-p3 x + p4 x^2)
//   f5   = p1 (1 - x)^p2 x^(-p3 - p4 ln x - p5 ln^2 x)
// Each is read as a density in x: the expected count of a bin is the integral of f
// over the bin (in x), never the value at the bin centre.
//
// Statistics conventions (every function below follows them):
//  - Binned Poisson likelihood; the fit minimises the deviance
//    D = 2 sum_i (mu_i - n_i + n_i ln(n_i / mu_i)) over the fitted bins.
//  - chi2 is Pearson's, sum_i (n_i - mu_i)^2 / mu_i over the fitted bins (every mu_i > 0),
//    with ndf = fitted bins - parameters; its p-value is the chi2 survival function.
//  - Local p-value of an excess: P(n >= N_obs) for n ~ Poisson(b), b ~ Gauss(B, sigma_B)
//    truncated at b > 0 (the fit uncertainty); Z = Phi^-1(1 - p), one-sided, 0 for p >= 0.5.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bsmhunt/core/Units.hpp"
#include "bsmhunt/dist/Communicator.hpp"

namespace bsmhunt::stats {

enum class DijetFunction { f3, f4, fexp, f5 };
std::string_view to_string(DijetFunction f);
// "f3", "f4", "fexp", "f5"; InputError with a did-you-mean otherwise.
DijetFunction parse_dijet_function(std::string_view name);
// Comma-separated names in the order to try them, e.g. "f3,f4,fexp"; no repeats.
std::vector<DijetFunction> parse_dijet_functions(std::string_view names);
std::vector<std::string> dijet_function_names();
int parameter_count(DijetFunction f);  // 3, 4, 4, 5

// f(x; p) as written above; p holds parameter_count(f) values. x in (0, 1).
double dijet_value(DijetFunction f, std::span<const double> p, double x);
// Integral of f over [x_lo, x_hi] (0 < x_lo < x_hi < 1): 10-point Gauss-Legendre
// in ln x (the integrand f x is nearly exponential in ln x for a power law, so
// the rule is exact to ~1e-12 for bins of any width met in practice).
double dijet_integral(DijetFunction f, std::span<const double> p, double x_lo, double x_hi);

// A binned spectrum: bin i spans [edges[i], edges[i + 1]) in GeV.
struct Spectrum {
  std::vector<double> edges;   // bins + 1 values, strictly increasing, in (0, sqrt(s))
  std::vector<double> counts;  // finite, >= 0 (real values allowed, e.g. Asimov spectra)
  std::size_t bins() const { return counts.size(); }
};
// InputError naming the first problem (sizes, non-increasing edges, an edge outside
// (0, sqrt(s)), a negative or non-finite count).
void validate_spectrum(const Spectrum& spectrum, double sqrt_s_GeV);

struct FitOptions {
  std::vector<DijetFunction> functions{DijetFunction::f3, DijetFunction::f4, DijetFunction::fexp};
  double pvalue_threshold = 0.05;  // a fit is accepted when its chi2 p-value exceeds this
  double sqrt_s_GeV = units::sqrt_s / units::GeV;
  bool reduce_range = true;        // when no function passes, drop the outermost bins and retry
  std::size_t min_sideband_bins = 1;  // a side of the signal region is never reduced below this
  int max_reductions = -1;         // range reductions at most (-1: until no function fits any more)
  int starts = 3;                  // starting points per fit (the best converged one is kept)
  int max_iterations = 200;        // Levenberg-Marquardt iterations per start
};

// One binned Poisson fit of one function.
struct FunctionFit {
  DijetFunction function = DijetFunction::f3;
  std::size_t first_bin = 0, end_bin = 0;  // fit range [first_bin, end_bin) of the spectrum
  std::size_t fit_bins = 0;                // bins of the range outside the signal region
  bool converged = false;
  std::string message;                     // why it did not converge, or the solver's summary
  int iterations = 0;                      // of the best start
  std::vector<double> parameters;          // p1..pk (DESIGN parametrisation)
  std::vector<double> errors;              // sqrt of the covariance diagonal
  std::vector<double> covariance;          // k x k, row-major, of p1..pk
  double log_p1 = 0;                       // ln p1 (p1 itself may be far from 1)
  double deviance = 0, chi2 = 0, pvalue = 0;
  int ndf = 0;
  double edm = 0;                          // estimated distance to the minimum, g^T H^-1 g / 2
  std::vector<double> expected;            // every bin of the spectrum (extrapolated outside the range)
  std::vector<double> expected_error;      // fit uncertainty of each bin's expectation
  // Internal (decorrelated) parametrisation theta (see DijetFit.cpp), used to propagate
  // errors: d expected_i / d theta_j (bins x k, row-major) and the covariance of theta (k x k).
  std::vector<double> theta, expected_gradient, theta_covariance;
  double seconds = 0;

  bool passes(double threshold) const { return converged && pvalue > threshold; }
  // Fit uncertainty of the summed expectation of bins [first, end), with the
  // correlations between bins.
  double expected_sum_error(std::size_t first, std::size_t end) const;
};

// Fits `function` to the bins of [first_bin, end_bin) that are outside [signal_first,
// signal_end) (an empty signal range fits every bin of the range). Tries
// options.starts starting points: a weighted linear fit of ln(n / dx) on the
// function's log-linear terms (ln f is linear in ln p1, p2, ..., pk for all four
// functions), then that fit's slopes scaled by 0.5, 0 and 1.5; fit_sidebands also
// starts f4 and f5 from the converged smaller function. Never throws for a failed
// fit: converged = false with the reason in `message`. InputError if the range
// holds fewer than parameters + 1 fit bins or no events.
FunctionFit fit_function(const Spectrum& spectrum, DijetFunction function, std::size_t first_bin,
                         std::size_t end_bin, std::size_t signal_first, std::size_t signal_end,
                         const FitOptions& options);

// The procedure of DESIGN.md: functions in order until one's sideband chi2 p-value
// exceeds the threshold; if none passes, the fit range loses its outermost bin on
// each side (keeping min_sideband_bins per side) and the functions are tried again.
struct SidebandFit {
  std::vector<FunctionFit> attempts;  // in the order tried
  std::size_t chosen = 0;             // the accepted attempt, or the best p-value if none passed
  bool accepted = false;              // the chosen attempt passed the threshold
  const FunctionFit& result() const { return attempts[chosen]; }
};
// InputError if no attempt converged (the message lists each attempt's diagnostics)
// or the sidebands cannot hold any of the functions.
SidebandFit fit_sidebands(const Spectrum& spectrum, std::size_t signal_first, std::size_t signal_end,
                          const FitOptions& options);

struct SignalRegion {
  double lo_GeV = 0, hi_GeV = 0;
};
// The bins [first, end) of a signal region whose limits are bin edges; InputError
// otherwise (naming the nearest edges) or if it lies outside the spectrum.
std::pair<std::size_t, std::size_t> signal_region_bins(const Spectrum& spectrum, SignalRegion region);
// Every window of `width_bins` adjacent bins that leaves at least `min_sideband_bins`
// bins on each side, from low to high mass.
std::vector<SignalRegion> sliding_signal_regions(const Spectrum& spectrum, std::size_t width_bins,
                                                 std::size_t min_sideband_bins);

struct SignalRegionResult {
  SignalRegion region;
  std::size_t first_bin = 0, end_bin = 0;
  SidebandFit fit;
  double observed = 0, expected = 0, expected_error = 0;
  double pvalue = 1, z = 0;            // with the fit uncertainty
  double pvalue_stat = 1, z_stat = 0;  // Poisson only
};
SignalRegionResult fit_signal_region(const Spectrum& spectrum, SignalRegion region, const FitOptions& options);

// P(n >= observed) for n ~ Poisson(b), b ~ Gauss(expected, expected_error) truncated
// at b > 0; expected_error = 0 gives the plain Poisson tail. observed may be real
// (continued through the regularised incomplete gamma function). observed <= 0 gives 1.
double excess_pvalue(double observed, double expected, double expected_error);
// One-sided Z = Phi^-1(1 - p) via Boost.Math; 0 for p >= 0.5; p below the smallest
// normal double saturates at Z(DBL_MIN) ~ 37.5.
double z_from_pvalue(double p);

struct ToyOptions {
  uint64_t toys = 0;
  uint64_t seed = 1;
};
struct GlobalSignificance {
  uint64_t toys = 0;          // requested
  uint64_t failed = 0;        // toys whose fits did not converge in some region (left out of the fraction)
  uint64_t at_or_above = 0;   // toys with max local Z >= the observed max
  double observed_max_z = 0;
  double pvalue = 1, pvalue_error = 0;  // fraction of the valid toys, binomial error
  double z = 0;
  bool z_is_lower_bound = false;  // no toy reached the observed max: z from p = 1 / valid toys
  double seconds = 0;             // wall time of this rank's toys
};
// Collective. Toy i draws every bin from Poisson(background[bin]) with
// CounterRng(seed, stable_hash("bsmhunt.fit.toys"), i), repeats fit_signal_region for
// every region and records the maximum local Z (with the fit uncertainty). Toys are
// split over the ranks in contiguous ranges and the counts summed, so the result is
// the same for any rank count.
GlobalSignificance global_significance(const dist::Communicator& comm, const std::vector<double>& background,
                                       const std::vector<double>& edges, std::span<const SignalRegion> regions,
                                       double observed_max_z, const FitOptions& options, const ToyOptions& toys);

}  // namespace bsmhunt::stats
