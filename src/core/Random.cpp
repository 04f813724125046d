#include "bsmhunt/core/Random.hpp"

namespace bsmhunt {

uint64_t CounterRng::poisson(double mean) noexcept {
  if (!(mean > 0.0)) return 0;
  if (mean < 30.0) {
    // Inversion by sequential search; exact and cheap for small means.
    const double u = uniform();
    double p = std::exp(-mean), cdf = p;
    uint64_t k = 0;
    while (u > cdf && p > 0.0) {
      ++k;
      p *= mean / double(k);
      cdf += p;
    }
    return k;
  }
  // Transformed rejection with squeeze (Hoermann 1993, "PTRS"): exact for any mean.
  const double slam = std::sqrt(mean), loglam = std::log(mean);
  const double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2.0);
  for (;;) {
    const double u = uniform() - 0.5, v = uniform();
    const double us = 0.5 - std::fabs(u);
    const double k = std::floor((2.0 * a / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= vr) return uint64_t(k);
    if (k < 0.0 || (us < 0.013 && v > us)) continue;
    if (std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b) <=
        -mean + k * loglam - std::lgamma(k + 1.0))
      return uint64_t(k);
  }
}

}  // namespace bsmhunt
