#include "bsmhunt/stats/Significance.hpp"

#include <fmt/format.h>

#include <cmath>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::stats {

namespace {

void check_finite(const char* what, double v) {
  if (!std::isfinite(v)) throw InputError(fmt::format("significance: {} = {} is not finite", what, v));
}

void check_background(double b) {
  check_finite("background", b);
  if (b <= 0.0)
    throw InputError(fmt::format("significance: background = {} must be > 0 (no background, no significance)", b));
}

// (1 + x) ln(1 + x) - x for x > 0, without cancellation for small x:
// sum_{n>=2} (-1)^n x^n / (n (n - 1)).
double asimov_kernel(double x) {
  if (x < 1e-2) {
    double term = x * x, sum = 0.0;
    for (int n = 2; n <= 10; ++n) {
      sum += ((n % 2 == 0) ? term : -term) / double(n * (n - 1));
      term *= x;
    }
    return sum;
  }
  return (1.0 + x) * std::log1p(x) - x;
}

}  // namespace

double asimov_z(double s, double b) {
  check_finite("signal", s);
  check_background(b);
  if (s <= 0.0) return 0.0;
  return std::sqrt(2.0 * b * asimov_kernel(s / b));
}

double asimov_z_with_uncertainty(double s, double b, double sigma_b) {
  check_finite("signal", s);
  check_background(b);
  check_finite("background uncertainty", sigma_b);
  if (sigma_b < 0.0)
    throw InputError(fmt::format("significance: background uncertainty = {} must be >= 0", sigma_b));
  if (sigma_b == 0.0) return asimov_z(s, b);
  if (s <= 0.0) return 0.0;
  // With x = s/b and t = sigma_b^2/b:
  // Z^2 / (2 b) = (1+x) [ln(1+x) + ln(1+t) - ln(1+(1+x)t)] - ln(1 + t x/(1+t)) / t
  const double x = s / b, t = sigma_b * sigma_b / b;
  const double first = (1.0 + x) * (std::log1p(x) + std::log1p(t) - std::log1p(t + x * t));
  const double second = std::log1p(t * x / (1.0 + t)) / t;
  const double half_z2 = b * (first - second);
  return half_z2 > 0.0 ? std::sqrt(2.0 * half_z2) : 0.0;  // rounding can give -0
}

double s_over_sqrt_b(double s, double b) {
  check_finite("signal", s);
  check_background(b);
  return s / std::sqrt(b);
}

double ams(double s, double b, double b_reg) {
  check_finite("signal", s);
  check_finite("background", b);
  check_finite("b_reg", b_reg);
  return asimov_z(s, b + b_reg);
}

double binned_asimov_z(std::span<const double> s, std::span<const double> b) {
  if (s.size() != b.size())
    throw InputError(fmt::format("binned_asimov_z: {} signal bins but {} background bins", s.size(), b.size()));
  double sum = 0.0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    check_finite("signal", s[i]);
    check_finite("background", b[i]);
    if (b[i] <= 0.0) continue;
    const double z = asimov_z(s[i], b[i]);
    sum += z * z;
  }
  return std::sqrt(sum);
}

}  // namespace bsmhunt::stats
