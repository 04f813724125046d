#pragma once
#include <span>

namespace bsmhunt::stats {

// Expected discovery significances for s signal and b background events (sums of
// weights). Shared rules:
//  - b <= 0 (or b + b_reg <= 0 for ams) or a non-finite argument throws
//    bsmhunt::InputError: no background means no meaningful significance.
//  - asimov_z, asimov_z_with_uncertainty and ams are one-sided discovery measures:
//    they return 0 for s <= 0.

// Asimov Z = sqrt(2 ((s + b) ln(1 + s/b) - s)) (Cowan et al., arXiv:1007.1727).
// Stable for s << b (tends to s/sqrt(b)): uses log1p and a series for s/b < 1e-2.
double asimov_z(double s, double b);

// Asimov Z with an absolute background uncertainty sigma_b (Cowan, "Discovery
// sensitivity for a counting experiment with background uncertainty"):
//   Z = sqrt(2 ((s+b) ln((s+b)(b+sb^2) / (b^2+(s+b) sb^2))
//               - b^2/sb^2 ln(1 + sb^2 s / (b (b+sb^2)))))
// sigma_b == 0 returns asimov_z(s, b) exactly; sigma_b < 0 throws InputError.
// For sigma_b^2 << b the result approaches asimov_z continuously (relative
// rounding error about 1e-16 / (s/b)).
double asimov_z_with_uncertainty(double s, double b, double sigma_b);

// s / sqrt(b), as is (negative for s < 0).
double s_over_sqrt_b(double s, double b);

// Approximate median significance of the HiggsML challenge:
//   AMS = sqrt(2 ((s + b + b_reg) ln(1 + s/(b + b_reg)) - s)) = asimov_z(s, b + b_reg).
double ams(double s, double b, double b_reg = 10.0);

// Combination of independent bins: sqrt(sum_i asimov_z(s_i, b_i)^2) over the bins
// with b_i > 0; bins with b_i <= 0 are skipped (their Z would be infinite or
// undefined). Sizes must match (InputError otherwise).
double binned_asimov_z(std::span<const double> s, std::span<const double> b);

}  // namespace bsmhunt::stats
