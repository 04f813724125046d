#pragma once
// The background of a signal region from a straight line through the sideband
// densities (weighted least squares with Poisson variances), integrated over the
// signal region: exact for a linear background, the flat one of the CWoLa
// illustrative example included.
#include <cstddef>
#include <string>
#include <vector>

namespace bsmhunt::stats {

struct LinearPrediction {
  double expected = 0, error = 0;  // the SR integral and its fit uncertainty (NaN when no line)
  std::vector<double> per_bin;     // expected count of every bin
  std::string message;             // why there is no line, or ""
};

// Bins [window_lo, window_hi) of counts/edges outside the signal region
// [sr_first, sr_end) are the sidebands.
LinearPrediction linear_sideband_prediction(const std::vector<double>& counts, const std::vector<double>& edges,
                                            std::size_t sr_first, std::size_t sr_end, std::size_t window_lo,
                                            std::size_t window_hi);

}  // namespace bsmhunt::stats
