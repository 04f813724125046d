#pragma once
// Signal + background fits of a peak on a binned spectrum of any mass scale
// (docs/fit.md, "Peak fits"): the expected count of bin i is
//   nu_i = N_s S_i(mass, width, ...) + N_b B_i(shape)
// with S and B the fractions of the signal and background densities in the bin,
// each normalised over the fit range, so N_s and N_b are events in the range and
// no parameter carries the size of the spectrum (a spectrum of 1e9 events at 3 GeV
// is as well conditioned as 100 events at 3 TeV). Backgrounds are functions of
// t = (m - lo) / (hi - lo) on the fit range [lo, hi] (the dijet functions of
// x = m / sqrt(s), normalised numerically). Binned Poisson likelihood; Ceres
// Levenberg-Marquardt on deviance residuals; errors from the inverse Hessian.
// N_s may be negative (down to where some nu_i would reach 0): the local
// significance is signed, Z = sign(N_s) sqrt(q0), so that background-only
// spectra give a flat p-value.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/stats/DijetFit.hpp"

namespace bsmhunt::stats {

enum class PeakShape { gauss, crystal_ball, breit_wigner, voigt };
PeakShape parse_peak_shape(std::string_view name);  // gauss | crystalball | bw | voigt
std::string_view to_string(PeakShape s);

// exp: exp(-c1 t); exp2: exp(-c1 t - c2 t^2); bernstein:N: sum_k b_k B_kN(t), b_0 = 1,
// b_k = exp(theta_k) > 0; f3/f4/fexp: the dijet functions of x = m / sqrt(s).
struct BackgroundFamily {
  enum Kind { exponential, exponential2, bernstein, dijet_function } kind = exponential;
  int degree = 0;                          // bernstein
  DijetFunction dijet = DijetFunction::f3;  // dijet_function
  std::size_t parameters() const;          // shape parameters (N_b not counted)
  std::string name() const;
};
BackgroundFamily parse_background_family(std::string_view name);  // exp, exp2, bernstein:N, f3, f4, fexp

struct PeakModel {
  PeakShape shape = PeakShape::gauss;
  BackgroundFamily background;
  double lo = 0, hi = 0;          // fit range (bin edges of the spectrum)
  double sqrt_s_GeV = 13000;      // dijet backgrounds
  // Crystal Ball tails (fixed): alpha_L, n_L, alpha_R, n_R.
  double cb_alpha_lo = 1.5, cb_n_lo = 5, cb_alpha_hi = 1.5, cb_n_hi = 5;
  // voigt: the Gaussian resolution sigma, fixed (> 0); the Breit-Wigner width floats.
  double resolution = 0;
  // Parameter layout: [N_s, mass, width, N_b, background shape...]; width is sigma for
  // gauss and crystalball, Gamma (FWHM) for bw and voigt.
  std::size_t parameters() const { return 4 + background.parameters(); }
};

// Fraction of the signal density in [a, b] (not yet normalised over the range).
double peak_integral(const PeakModel& model, double mass, double width, double a, double b);
// Expected counts per bin of `edges` (the fit range's bins) for parameters p.
std::vector<double> peak_expected(const PeakModel& model, const std::vector<double>& edges, const std::vector<double>& p);

struct PeakFitResult {
  bool converged = false;
  std::string message;
  std::vector<double> parameters, errors;  // layout of PeakModel
  std::vector<double> covariance;          // row-major, free parameters fixed ones 0
  double nll = 0;                          // half deviance
  double chi2 = 0;                         // Pearson, over the range
  int ndf = 0;
  double mass() const { return parameters[1]; }
  double mass_error() const { return errors[1]; }
};

struct PeakFitOptions {
  double mass = 0, width = 0;  // starting values (mass 0: the best point of a scan)
  bool fix_mass = false, fix_width = false;
  int max_iterations = 200;
};

// The fit range of a spectrum: bins [first, end) inside [lo, hi] (InputError when the
// range lies outside the spectrum or holds fewer bins than parameters + 1).
struct FitRange {
  std::size_t first = 0, end = 0;
};
FitRange fit_range(const Spectrum& spectrum, double lo, double hi, std::size_t parameters);

// Signal + background fit (never throws on a failed fit: converged = false).
PeakFitResult fit_peak(const PeakModel& model, const Spectrum& spectrum, const FitRange& range,
                       const PeakFitOptions& options);
// Background only (N_s = 0).
PeakFitResult fit_background(const PeakModel& model, const Spectrum& spectrum, const FitRange& range);

// q0 = 2 (nll_b - nll_sb), Z = sign(N_s) sqrt(q0), p = 1 - Phi(Z).
struct LocalSignificance {
  double q0 = 0, z = 0, p = 0.5;
};
LocalSignificance local_significance(const PeakFitResult& signal_plus_background, const PeakFitResult& background);

// The peak scanned across the range: mass fixed at each point (width fixed), N_s and
// the background fitted; the local Z at each point.
struct PeakScan {
  std::vector<double> mass, z, yield;
  std::size_t best = 0;  // largest Z
  double max_z() const { return z.empty() ? 0 : z[best]; }
};
PeakScan scan_peak(const PeakModel& model, const Spectrum& spectrum, const FitRange& range, double width,
                   double step);

// Global significance of the scan's largest Z: background-only toys from the
// background fit, each scanned the same way, spread over the ranks (toy i on rank
// i mod P, seeded by (seed, i)); and the Gross-Vitells estimate from the toys' mean
// number of upcrossings of Z = 1 (Eur. Phys. J. C 70 (2010) 525).
struct PeakGlobal {
  uint64_t toys = 0, at_or_above = 0, failed = 0;
  double observed_max_z = 0, p_global = 1, z_global = 0;
  double upcrossings = 0;  // mean upcrossings of Z = 1 per toy
  double p_gross_vitells = 1, z_gross_vitells = 0;
};
PeakGlobal peak_global_significance(const dist::Communicator& comm, const PeakModel& model, const Spectrum& spectrum,
                                    const FitRange& range, const PeakFitResult& background, double width, double step,
                                    double observed_max_z, uint64_t toys, uint64_t seed);

}  // namespace bsmhunt::stats
