// Signal + background fits of a peak: the signal shapes' integrals over bins, the
// background families on the scaled range, the binned Poisson fit (Ceres), the
// local significance, the sliding scan and its global significance from toys.
#include "bsmhunt/stats/PeakFit.hpp"

#include <ceres/ceres.h>
#include <fmt/format.h>

#include <Eigen/Dense>
#include <algorithm>
#include <boost/math/quadrature/gauss.hpp>
#include <cmath>
#include <limits>
#include <numbers>

#include "Deviance.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"

namespace bsmhunt::stats {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
double Phi(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }
// One-sided Z of a p-value (DijetFit's z_from_pvalue), 0 for p >= 0.5.
double z_of_p(double p) { return p < 0.5 ? z_from_pvalue(p) : 0.0; }

// Double-sided Crystal Ball in z = (x - m) / sigma: Gaussian core on [-aL, aR],
// power-law tails A (B - |z|)^-n beyond; cumulative integral from -infinity to z.
double crystal_ball_cdf(double z, double aL, double nL, double aR, double nR) {
  const double core = std::sqrt(std::numbers::pi / 2);
  const auto tail_total = [](double a, double n) { return std::exp(-a * a / 2) * (n / a) / (n - 1); };
  const auto core_part = [&](double z1, double z2) { return core * (std::erf(z2 / std::numbers::sqrt2) - std::erf(z1 / std::numbers::sqrt2)); };
  const double left = tail_total(aL, nL);
  if (z <= -aL) {
    // (B - z)^(1-n) A / (n - 1) with A = (n/a)^n e^{-a^2/2}, B = n/a - a: written as the
    // total tail times ((n/a) / (B - z))^(n-1) to avoid overflowing powers.
    const double B = nL / aL - aL;
    return left * std::pow((nL / aL) / (B - z), nL - 1);
  }
  if (z <= aR) return left + core_part(-aL, z);
  const double B = nR / aR - aR;
  const double right_total = tail_total(aR, nR);
  return left + core_part(-aL, aR) + right_total * (1 - std::pow((nR / aR) / (B + z), nR - 1));
}
double crystal_ball_total(double aL, double nL, double aR, double nR) {
  return crystal_ball_cdf(std::numeric_limits<double>::infinity(), aL, nL, aR, nR);
}

double breit_wigner_cdf(double x, double mass, double gamma) {
  return 0.5 + std::atan((x - mass) / (gamma / 2)) / std::numbers::pi;
}

// Bernstein basis B_kN(t) and its integral from 0 to t: (1/(N+1)) sum_{j>k} B_j,N+1(t).
double bernstein(int k, int n, double t) {
  double binomial = 1;
  for (int i = 1; i <= k; ++i) binomial = binomial * (n - k + i) / i;
  return binomial * std::pow(t, k) * std::pow(1 - t, n - k);
}
double bernstein_integral(int k, int n, double t) {
  double sum = 0;
  for (int j = k + 1; j <= n + 1; ++j) sum += bernstein(j, n + 1, t);
  return sum / (n + 1);
}

// Unnormalised background density integral over [t1, t2] of the scaled range.
double background_integral(const PeakModel& m, const double* shape, double t1, double t2) {
  const BackgroundFamily& b = m.background;
  switch (b.kind) {
    case BackgroundFamily::exponential: {
      const double c = shape[0];
      if (std::fabs(c) < 1e-9) return t2 - t1;
      return -std::exp(-c * t1) * std::expm1(-c * (t2 - t1)) / c;
    }
    case BackgroundFamily::exponential2: {
      const auto f = [&](double t) { return std::exp(-shape[0] * t - shape[1] * t * t); };
      return boost::math::quadrature::gauss<double, 10>::integrate(f, t1, t2);
    }
    case BackgroundFamily::bernstein: {
      double sum = bernstein_integral(0, b.degree, t2) - bernstein_integral(0, b.degree, t1);
      for (int k = 1; k <= b.degree; ++k)
        sum += std::exp(shape[k - 1]) * (bernstein_integral(k, b.degree, t2) - bernstein_integral(k, b.degree, t1));
      return sum;
    }
    case BackgroundFamily::dijet_function: {
      std::vector<double> p{1.0};
      p.insert(p.end(), shape, shape + b.parameters());
      const double x1 = (m.lo + t1 * (m.hi - m.lo)) / m.sqrt_s_GeV, x2 = (m.lo + t2 * (m.hi - m.lo)) / m.sqrt_s_GeV;
      return dijet_integral(b.dijet, p, x1, x2);
    }
  }
  return 0;
}

// -ln L up to a constant (half the deviance) over the range.
double half_deviance(const std::vector<double>& nu, const Spectrum& s, const FitRange& r) {
  double sum = 0;
  for (std::size_t i = r.first; i < r.end; ++i) {
    const double n = s.counts[i], v = nu[i - r.first];
    if (!(v > 0)) return std::numeric_limits<double>::infinity();
    sum += v - n + (n > 0 ? n * std::log(n / v) : 0.0);
  }
  return sum;
}

struct Residuals {
  const PeakModel* model;
  const Spectrum* spectrum;
  const FitRange* range;
  std::vector<double> edges;
  bool operator()(double const* const* parameters, double* residuals) const {
    const std::vector<double> p(parameters[0], parameters[0] + model->parameters());
    const std::vector<double> nu = peak_expected(*model, edges, p);
    for (std::size_t i = 0; i < nu.size(); ++i) {
      if (!std::isfinite(nu[i]) || nu[i] <= 0) return false;
      double dr;
      detail::deviance_residual(spectrum->counts[range->first + i], nu[i], residuals[i], dr);
      if (!std::isfinite(residuals[i])) return false;
    }
    return true;
  }
};

std::vector<double> range_edges(const Spectrum& s, const FitRange& r) {
  return {s.edges.begin() + std::ptrdiff_t(r.first), s.edges.begin() + std::ptrdiff_t(r.end) + 1};
}

double range_total(const Spectrum& s, const FitRange& r) {
  double total = 0;
  for (std::size_t i = r.first; i < r.end; ++i) total += s.counts[i];
  return total;
}

struct Bounds {
  std::vector<double> lo, hi;
};
Bounds bounds_of(const PeakModel& m, const Spectrum& s, const FitRange& r) {
  const std::size_t P = m.parameters();
  const double width_range = m.hi - m.lo, total = std::max(1.0, range_total(s, r));
  double min_bin = width_range;
  for (std::size_t i = r.first; i < r.end; ++i) min_bin = std::min(min_bin, s.edges[i + 1] - s.edges[i]);
  Bounds b{std::vector<double>(P, -1e300), std::vector<double>(P, 1e300)};
  b.lo[1] = m.lo, b.hi[1] = m.hi;
  b.lo[2] = 0.05 * min_bin, b.hi[2] = width_range / 2;
  b.lo[3] = 1e-9 * total, b.hi[3] = 100 * total + 100;
  b.lo[0] = -b.hi[3], b.hi[0] = b.hi[3];
  for (std::size_t k = 4; k < P; ++k) b.lo[k] = -60, b.hi[k] = 60;
  if (m.background.kind == BackgroundFamily::dijet_function)
    for (std::size_t k = 4; k < P; ++k) b.lo[k] = -200, b.hi[k] = 200;
  return b;
}

PeakFitResult minimise(const PeakModel& m, const Spectrum& s, const FitRange& r, std::vector<double> start,
                       const std::vector<bool>& fixed, int max_iterations) {
  const std::size_t P = m.parameters();
  const Bounds bounds = bounds_of(m, s, r);
  PeakFitResult out;
  out.parameters = std::move(start);
  for (std::size_t k = 0; k < P; ++k)
    if (!fixed[k]) out.parameters[k] = std::clamp(out.parameters[k], bounds.lo[k], bounds.hi[k]);
  auto* functor = new Residuals{&m, &s, &r, range_edges(s, r)};
  auto* cost = new ceres::DynamicNumericDiffCostFunction<Residuals, ceres::CENTRAL>(functor);
  cost->AddParameterBlock(int(P));
  cost->SetNumResiduals(int(r.end - r.first));
  ceres::Problem problem;
  problem.AddResidualBlock(cost, nullptr, out.parameters.data());
  std::vector<int> constant;
  for (std::size_t k = 0; k < P; ++k)
    if (fixed[k]) constant.push_back(int(k));
  if (!constant.empty()) problem.SetManifold(out.parameters.data(), new ceres::SubsetManifold(int(P), constant));
  for (std::size_t k = 0; k < P; ++k) {
    if (fixed[k]) continue;
    problem.SetParameterLowerBound(out.parameters.data(), int(k), bounds.lo[k]);
    problem.SetParameterUpperBound(out.parameters.data(), int(k), bounds.hi[k]);
  }
  const ceres::Solver::Options options = detail::least_squares_options(max_iterations, 1e-12, 1e-10);
  ceres::Solver::Summary summary;
  // A second solve from the first's end point: LM's tolerance can stop it early
  // when the yields and the shape differ in scale by many orders.
  for (int pass = 0; pass < 2; ++pass) ceres::Solve(options, &problem, &summary);
  out.converged = summary.termination_type == ceres::CONVERGENCE;
  out.message = fmt::format("{} after {} iterations", ceres::TerminationTypeToString(summary.termination_type),
                            summary.iterations.size());
  const std::vector<double> nu = peak_expected(m, range_edges(s, r), out.parameters);
  out.nll = half_deviance(nu, s, r);
  if (!std::isfinite(out.nll)) out.converged = false;
  out.chi2 = 0;
  for (std::size_t i = r.first; i < r.end; ++i) {
    const double v = nu[i - r.first];
    out.chi2 += (s.counts[i] - v) * (s.counts[i] - v) / std::max(v, 1e-300);
  }
  int free = 0;
  for (std::size_t k = 0; k < P; ++k) free += fixed[k] ? 0 : 1;
  out.ndf = int(r.end - r.first) - free;

  // Covariance: inverse of the Hessian of -ln L (central second differences).
  out.errors.assign(P, 0.0);
  out.covariance.assign(P * P, 0.0);
  if (!out.converged) return out;
  std::vector<std::size_t> idx;
  for (std::size_t k = 0; k < P; ++k)
    if (!fixed[k]) idx.push_back(k);
  const std::size_t F = idx.size();
  const double total = std::max(1.0, range_total(s, r));
  std::vector<double> h(P);
  for (std::size_t k = 0; k < P; ++k) {
    const double typical = k == 0 || k == 3 ? std::sqrt(total) : (k == 1 || k == 2) ? out.parameters[2] : 1.0;
    h[k] = 1e-3 * std::max(std::fabs(out.parameters[k]) * 1e-2, typical);
  }
  const auto f = [&](std::vector<double> p) { return half_deviance(peak_expected(m, range_edges(s, r), p), s, r); };
  Eigen::MatrixXd H = Eigen::MatrixXd::Zero(Eigen::Index(F), Eigen::Index(F));
  const double f0 = out.nll;
  for (std::size_t a = 0; a < F; ++a)
    for (std::size_t b = a; b < F; ++b) {
      const std::size_t i = idx[a], j = idx[b];
      double v;
      if (i == j) {
        auto up = out.parameters, dn = out.parameters;
        up[i] += h[i], dn[i] -= h[i];
        v = (f(up) - 2 * f0 + f(dn)) / (h[i] * h[i]);
      } else {
        auto pp = out.parameters, pm = out.parameters, mp = out.parameters, mm = out.parameters;
        pp[i] += h[i], pp[j] += h[j], pm[i] += h[i], pm[j] -= h[j];
        mp[i] -= h[i], mp[j] += h[j], mm[i] -= h[i], mm[j] -= h[j];
        v = (f(pp) - f(pm) - f(mp) + f(mm)) / (4 * h[i] * h[j]);
      }
      H(Eigen::Index(a), Eigen::Index(b)) = H(Eigen::Index(b), Eigen::Index(a)) = v;
    }
  const Eigen::LDLT<Eigen::MatrixXd> ldlt(H);
  if (!H.allFinite() || ldlt.info() != Eigen::Success || !ldlt.isPositive()) {
    out.message += "; the Hessian is not positive definite (no uncertainties)";
    std::fill(out.errors.begin(), out.errors.end(), kNaN);
    return out;
  }
  const Eigen::MatrixXd C = ldlt.solve(Eigen::MatrixXd::Identity(Eigen::Index(F), Eigen::Index(F)));
  for (std::size_t a = 0; a < F; ++a) {
    for (std::size_t b = 0; b < F; ++b) out.covariance[idx[a] * P + idx[b]] = C(Eigen::Index(a), Eigen::Index(b));
    out.errors[idx[a]] = std::sqrt(std::max(0.0, C(Eigen::Index(a), Eigen::Index(a))));
  }
  return out;
}

// Starting shapes of the background family (several for the dijet functions).
std::vector<std::vector<double>> background_starts(const PeakModel& m, const Spectrum& s, const FitRange& r) {
  const BackgroundFamily& b = m.background;
  const std::size_t n = b.parameters();
  if (b.kind == BackgroundFamily::dijet_function) {
    std::vector<std::vector<double>> starts = {{10, 5}, {5, 8}, {20, 3}, {1, 4}};
    for (auto& st : starts) st.resize(n, 0.0);
    return starts;
  }
  std::vector<double> start(n, 0.0);
  if (b.kind != BackgroundFamily::bernstein) {
    // Slope from the densities of the first and last quarter of the range.
    const std::size_t q = std::max<std::size_t>(1, (r.end - r.first) / 4);
    double first = 0, last = 0;
    for (std::size_t i = r.first; i < r.first + q; ++i) first += s.counts[i];
    for (std::size_t i = r.end - q; i < r.end; ++i) last += s.counts[i];
    const double c = std::log((first + 1) / (last + 1)) / 0.75;
    start[0] = std::clamp(c, -50.0, 50.0);
  }
  return {start};
}

}  // namespace

std::size_t BackgroundFamily::parameters() const {
  switch (kind) {
    case exponential: return 1;
    case exponential2: return 2;
    case bernstein: return std::size_t(degree);
    case dijet_function: return std::size_t(parameter_count(dijet)) - 1;
  }
  return 0;
}

std::string BackgroundFamily::name() const {
  switch (kind) {
    case exponential: return "exp";
    case exponential2: return "exp2";
    case bernstein: return fmt::format("bernstein:{}", degree);
    case dijet_function: return std::string(to_string(dijet));
  }
  return "?";
}

BackgroundFamily parse_background_family(std::string_view text) {
  BackgroundFamily b;
  const std::string t = trim(text);
  if (t == "exp") return b;
  if (t == "exp2") return b.kind = BackgroundFamily::exponential2, b;
  if (t.starts_with("bernstein:")) {
    const std::string n = t.substr(10);
    char* end = nullptr;
    const long degree = std::strtol(n.c_str(), &end, 10);
    if (n.empty() || *end != '\0' || degree < 1 || degree > 10)
      throw InputError(fmt::format("--background '{}': the Bernstein degree is 1 to 10 (e.g. bernstein:3)", t));
    b.kind = BackgroundFamily::bernstein, b.degree = int(degree);
    return b;
  }
  if (t == "f3" || t == "f4" || t == "fexp" || t == "f5") {
    b.kind = BackgroundFamily::dijet_function, b.dijet = parse_dijet_function(t);
    return b;
  }
  const std::vector<std::string> names{"exp", "exp2", "bernstein:N", "f3", "f4", "fexp", "f5"};
  throw InputError(fmt::format("--background '{}': expected one of {}{}", t, join(names, ", "), did_you_mean(t, names)));
}

PeakShape parse_peak_shape(std::string_view text) {
  const std::string t = trim(text);
  if (t == "gauss") return PeakShape::gauss;
  if (t == "crystalball") return PeakShape::crystal_ball;
  if (t == "bw") return PeakShape::breit_wigner;
  if (t == "voigt") return PeakShape::voigt;
  const std::vector<std::string> names{"gauss", "crystalball", "bw", "voigt"};
  throw InputError(fmt::format("--peak '{}': expected one of {}{}", t, join(names, ", "), did_you_mean(t, names)));
}

std::string_view to_string(PeakShape s) {
  switch (s) {
    case PeakShape::gauss: return "gauss";
    case PeakShape::crystal_ball: return "crystalball";
    case PeakShape::breit_wigner: return "bw";
    case PeakShape::voigt: return "voigt";
  }
  return "?";
}

double peak_integral(const PeakModel& m, double mass, double width, double a, double b) {
  switch (m.shape) {
    case PeakShape::gauss: return Phi((b - mass) / width) - Phi((a - mass) / width);
    case PeakShape::crystal_ball: {
      const double total = crystal_ball_total(m.cb_alpha_lo, m.cb_n_lo, m.cb_alpha_hi, m.cb_n_hi);
      return (crystal_ball_cdf((b - mass) / width, m.cb_alpha_lo, m.cb_n_lo, m.cb_alpha_hi, m.cb_n_hi) -
              crystal_ball_cdf((a - mass) / width, m.cb_alpha_lo, m.cb_n_lo, m.cb_alpha_hi, m.cb_n_hi)) /
             total;
    }
    case PeakShape::breit_wigner: return breit_wigner_cdf(b, mass, width) - breit_wigner_cdf(a, mass, width);
    case PeakShape::voigt: {
      // The Breit-Wigner's bin integral averaged over the Gaussian resolution:
      // 30-point Gauss-Legendre on +-6 sigma in two halves (the integrand is smooth).
      const double sigma = m.resolution;
      const auto f = [&](double u) {
        const double g = std::exp(-0.5 * u * u / (sigma * sigma)) / (sigma * std::sqrt(2 * std::numbers::pi));
        return g * (breit_wigner_cdf(b - u, mass, width) - breit_wigner_cdf(a - u, mass, width));
      };
      using Rule = boost::math::quadrature::gauss<double, 30>;
      return (Rule::integrate(f, -6 * sigma, 0.0) + Rule::integrate(f, 0.0, 6 * sigma)) / (1 - 2 * Phi(-6.0));
    }
  }
  return 0;
}

std::vector<double> peak_expected(const PeakModel& m, const std::vector<double>& edges, const std::vector<double>& p) {
  const std::size_t bins = edges.size() - 1;
  std::vector<double> s(bins), b(bins);
  double s_total = 0, b_total = 0;
  const double span = m.hi - m.lo;
  for (std::size_t i = 0; i < bins; ++i) {
    s[i] = p[0] != 0 ? peak_integral(m, p[1], p[2], edges[i], edges[i + 1]) : 0.0;
    b[i] = background_integral(m, p.data() + 4, (edges[i] - m.lo) / span, (edges[i + 1] - m.lo) / span);
    s_total += s[i], b_total += b[i];
  }
  std::vector<double> nu(bins);
  for (std::size_t i = 0; i < bins; ++i)
    nu[i] = (p[0] != 0 && s_total > 0 ? p[0] * s[i] / s_total : 0.0) + p[3] * b[i] / b_total;
  return nu;
}

FitRange fit_range(const Spectrum& spectrum, double lo, double hi, std::size_t parameters) {
  const auto& e = spectrum.edges;
  if (!(lo < hi)) throw InputError(fmt::format("--fit-range {},{}: expected LO < HI", lo, hi));
  if (hi <= e.front() || lo >= e.back())
    throw InputError(fmt::format("--fit-range {},{} lies outside the spectrum [{}, {}] GeV", lo, hi, e.front(), e.back()));
  FitRange r;
  r.first = std::size_t(std::lower_bound(e.begin(), e.end(), lo - 1e-9 * std::fabs(lo)) - e.begin());
  r.end = std::size_t(std::upper_bound(e.begin(), e.end(), hi + 1e-9 * std::fabs(hi)) - e.begin()) - 1;
  if (r.end <= r.first || r.end - r.first < parameters + 1)
    throw InputError(fmt::format("--fit-range {},{}: {} bins of the spectrum, too few for {} parameters (need {})", lo,
                                 hi, r.end > r.first ? r.end - r.first : 0, parameters, parameters + 1));
  return r;
}

PeakFitResult fit_background(const PeakModel& model, const Spectrum& spectrum, const FitRange& range) {
  const std::size_t P = model.parameters();
  std::vector<bool> fixed(P, false);
  fixed[0] = fixed[1] = fixed[2] = true;
  PeakFitResult best;
  best.nll = std::numeric_limits<double>::infinity();
  for (const auto& shape : background_starts(model, spectrum, range)) {
    std::vector<double> start(P, 0.0);
    start[1] = 0.5 * (model.lo + model.hi), start[2] = (model.hi - model.lo) / 10;
    start[3] = std::max(1.0, range_total(spectrum, range));
    std::copy(shape.begin(), shape.end(), start.begin() + 4);
    PeakFitResult r = minimise(model, spectrum, range, start, fixed, 200);
    if (r.converged && r.nll < best.nll) best = std::move(r);
    else if (!best.converged && !r.converged && best.parameters.empty()) best = std::move(r);
  }
  return best;
}

PeakFitResult fit_peak(const PeakModel& model, const Spectrum& spectrum, const FitRange& range,
                       const PeakFitOptions& options) {
  const std::size_t P = model.parameters();
  const PeakFitResult background = fit_background(model, spectrum, range);
  std::vector<double> start = background.parameters;
  if (start.empty()) start.assign(P, 0.0);
  start[1] = options.mass > 0 ? options.mass : 0.5 * (model.lo + model.hi);
  start[2] = options.width > 0 ? options.width : (model.hi - model.lo) / 20;
  // Signal start: the excess over the background fit within +-2 widths.
  const std::vector<double> nu_b = peak_expected(model, range_edges(spectrum, range), background.parameters.empty() ? start : background.parameters);
  double excess = 0;
  for (std::size_t i = range.first; i < range.end; ++i) {
    const double centre = 0.5 * (spectrum.edges[i] + spectrum.edges[i + 1]);
    if (std::fabs(centre - start[1]) < 2 * start[2]) excess += spectrum.counts[i] - nu_b[i - range.first];
  }
  start[0] = std::max(excess, std::sqrt(std::max(1.0, range_total(spectrum, range))));
  std::vector<bool> fixed(P, false);
  fixed[1] = options.fix_mass, fixed[2] = options.fix_width;
  PeakFitResult r = minimise(model, spectrum, range, start, fixed, options.max_iterations);
  if (!background.converged) r.message += "; the background-only fit did not converge";
  return r;
}

LocalSignificance local_significance(const PeakFitResult& sb, const PeakFitResult& b) {
  LocalSignificance z;
  if (!sb.converged || !b.converged) return z;
  z.q0 = std::max(0.0, 2 * (b.nll - sb.nll));
  z.z = (sb.parameters[0] >= 0 ? 1.0 : -1.0) * std::sqrt(z.q0);
  z.p = Phi(-z.z);
  return z;
}

PeakScan scan_peak(const PeakModel& model, const Spectrum& spectrum, const FitRange& range, double width,
                   double step) {
  if (!(width > 0) || !(step > 0)) throw InputError("the peak scan needs a width and a step > 0");
  PeakScan scan;
  const PeakFitResult background = fit_background(model, spectrum, range);
  for (double m = model.lo + width; m <= model.hi - width + 1e-9 * step; m += step) {
    PeakFitOptions o;
    o.mass = m, o.width = width, o.fix_mass = o.fix_width = true;
    const PeakFitResult r = fit_peak(model, spectrum, range, o);
    scan.mass.push_back(m);
    scan.z.push_back(local_significance(r, background).z);
    scan.yield.push_back(r.converged ? r.parameters[0] : kNaN);
    if (scan.z.back() > scan.z[scan.best]) scan.best = scan.z.size() - 1;
  }
  return scan;
}

PeakGlobal peak_global_significance(const dist::Communicator& comm, const PeakModel& model, const Spectrum& spectrum,
                                    const FitRange& range, const PeakFitResult& background, double width, double step,
                                    double observed_max_z, uint64_t toys, uint64_t seed) {
  PeakGlobal g;
  g.toys = toys, g.observed_max_z = observed_max_z;
  const std::vector<double> expected = peak_expected(model, range_edges(spectrum, range), background.parameters);
  uint64_t above = 0, failed = 0, upcrossings = 0;
  for (uint64_t t = uint64_t(comm.rank()); t < toys; t += uint64_t(comm.size())) {
    CounterRng rng(seed, 0x9eacull, t);
    Spectrum toy = spectrum;
    for (std::size_t i = range.first; i < range.end; ++i) toy.counts[i] = double(rng.poisson(expected[i - range.first]));
    const PeakScan scan = scan_peak(model, toy, range, width, step);
    bool ok = !scan.z.empty();
    for (std::size_t i = 0; i < scan.z.size(); ++i) {
      ok = ok && std::isfinite(scan.yield[i]);
      if (i > 0 && scan.z[i - 1] < 1 && scan.z[i] >= 1) ++upcrossings;
    }
    if (!ok) ++failed;
    else if (scan.max_z() >= observed_max_z) ++above;
  }
  std::vector<uint64_t> counts{above, failed, upcrossings};
  comm.sum_in_place(counts);
  g.at_or_above = counts[0], g.failed = counts[1];
  const uint64_t used = toys - g.failed;
  g.p_global = used > 0 ? (double(g.at_or_above) + 0.5 * (g.at_or_above == 0)) / double(used) : 1.0;
  g.z_global = z_of_p(g.p_global);
  g.upcrossings = toys > 0 ? double(counts[2]) / double(toys) : 0.0;
  // Gross-Vitells: p_global ~ P(chi2_1 > c) / 2 + <N(c0)> exp(-(c - c0) / 2), c = Z^2, c0 = 1.
  const double c = observed_max_z * observed_max_z;
  g.p_gross_vitells = std::min(1.0, Phi(-observed_max_z) + g.upcrossings * std::exp(-(c - 1) / 2));
  g.z_gross_vitells = z_of_p(g.p_gross_vitells);
  return g;
}

}  // namespace bsmhunt::stats
