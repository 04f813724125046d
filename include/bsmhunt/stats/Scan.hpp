#pragma once
#include <cstddef>
#include <string_view>
#include <vector>

#include "bsmhunt/stats/Histogram.hpp"

namespace bsmhunt::stats {

enum class Metric { asimov, s_over_sqrt_b, ams };
Metric parse_metric(std::string_view text);  // asimov | s_over_sqrt_b | ams; InputError otherwise
const char* to_string(Metric m);

struct ScanOptions {
  Metric metric = Metric::asimov;
  // Relative background uncertainty R: sigma_b = R b (asimov: Cowan's formula with
  // sigma_b; s_over_sqrt_b: s / sqrt(b + sigma_b^2); ams: not defined, InputError).
  double bkg_uncertainty = 0.0;
  // A cut counts only if the background left is >= min_background (weighted) and
  // comes from >= min_mc_events effective MC events (b^2 / sum w^2): the best cut of
  // a scan must not sit on a downward fluctuation of a few MC events. The rule for
  // b <= 0 is the same: such a cut has no significance (never a division by zero).
  double min_background = 1.0;
  double min_mc_events = 10.0;
};
void validate(const ScanOptions& options);  // InputError for negative values, ams with R > 0

// The metric for one (s, b) with the options' uncertainty; InputError for b <= 0.
double significance(double s, double b, const ScanOptions& options);

// Cut "score >= edges[i]" for every edge of the histograms (same edges required).
struct CutScan {
  std::vector<double> cut, s, b, s_error, b_error;  // error = sqrt(sum w^2)
  std::vector<double> z;                            // NaN where the cut does not count
  std::size_t best = npos;                          // index of the largest z; npos if no cut counts
  static constexpr std::size_t npos = std::size_t(-1);
  bool has_best() const { return best != npos; }
};
CutScan scan_cuts(const Histogram& signal, const Histogram& background, const ScanOptions& options);

// Combination over score bins: neighbouring bins are merged from the top down until
// each merged bin holds >= nbins / max_bins fine bins and satisfies the background
// rules of the options; then sqrt(sum Z_i^2). Returns 0 when no bin counts.
double binned_significance(const Histogram& signal, const Histogram& background, std::size_t max_bins,
                           const ScanOptions& options);

// Classification at "score >= threshold" (the edge nearest to `threshold` is used and
// returned), signal = positive class, from weighted sums (flows included).
struct Classification {
  double threshold = 0;
  double true_positive = 0, false_positive = 0, true_negative = 0, false_negative = 0;
  double precision = 0, recall = 0, f1 = 0, accuracy = 0;  // 0 where the denominator is <= 0
};
Classification classify_at(const Histogram& signal, const Histogram& background, double threshold);

}  // namespace bsmhunt::stats
