#include "bsmhunt/stats/LinearSideband.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace bsmhunt::stats {

LinearPrediction linear_sideband_prediction(const std::vector<double>& counts, const std::vector<double>& edges,
                                            std::size_t sr_first, std::size_t sr_end, std::size_t window_lo,
                                            std::size_t window_hi) {
  double s0 = 0, s1 = 0, s2 = 0, t0 = 0, t1 = 0;
  const double m0 = 0.5 * (edges[sr_first] + edges[sr_end]);
  std::size_t used = 0;
  for (std::size_t b = window_lo; b < window_hi; ++b) {
    if (b >= sr_first && b < sr_end) continue;
    const double w = edges[b + 1] - edges[b], d = counts[b] / w, var = std::max(counts[b], 1.0) / (w * w);
    const double u = 0.5 * (edges[b] + edges[b + 1]) - m0;
    s0 += 1 / var, s1 += u / var, s2 += u * u / var, t0 += d / var, t1 += u * d / var;
    ++used;
  }
  LinearPrediction p;
  const double det = s0 * s2 - s1 * s1;
  if (used < 2 || !(det > 0)) {
    p.message = "the sidebands cannot fix a straight line";
    p.expected = p.error = std::numeric_limits<double>::quiet_NaN();
    return p;
  }
  const double a = (s2 * t0 - s1 * t1) / det, b = (s0 * t1 - s1 * t0) / det;
  const double vaa = s2 / det, vbb = s0 / det, vab = -s1 / det;
  double A = 0, Bc = 0;  // SR integral = a A + b Bc
  p.per_bin.resize(counts.size());
  for (std::size_t k = 0; k < counts.size(); ++k) {
    const double w = edges[k + 1] - edges[k], u = 0.5 * (edges[k] + edges[k + 1]) - m0;
    p.per_bin[k] = (a + b * u) * w;
    if (k >= sr_first && k < sr_end) A += w, Bc += u * w;
  }
  p.expected = a * A + b * Bc;
  p.error = std::sqrt(std::max(0.0, A * A * vaa + Bc * Bc * vbb + 2 * A * Bc * vab));
  return p;
}

}  // namespace bsmhunt::stats
