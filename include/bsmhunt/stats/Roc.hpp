#pragma once
#include <vector>

#include "bsmhunt/stats/Histogram.hpp"

namespace bsmhunt::stats {

// One working point: events with score >= threshold are selected.
struct RocPoint {
  double threshold = 0.0;
  double background_efficiency = 0.0;
  double signal_efficiency = 0.0;
};

struct Roc {
  // Ordered by increasing threshold: -inf (everything selected, (1, 1)), then
  // every bin edge, then +inf (nothing selected, (0, 0)).
  std::vector<RocPoint> points;
  double auc = 0.0;  // area under signal vs background efficiency, trapezoid rule
};

// Weighted ROC from histograms of the classifier score for signal and background
// (same edges, InputError otherwise). Efficiencies are relative to the totals,
// underflow and overflow included; a total <= 0 throws InputError. With negative
// weights the efficiencies need not be monotone in the threshold (nor within
// [0, 1]); the points are reported and the AUC is integrated as they are.
Roc roc(const Histogram& signal, const Histogram& background);

// Trapezoid rule over consecutive points: sum (eb_i - eb_{i+1}) (es_i + es_{i+1}) / 2.
double auc(const std::vector<RocPoint>& points);

}  // namespace bsmhunt::stats
