#include "bsmhunt/stats/Roc.hpp"

#include <fmt/format.h>

#include <limits>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::stats {

Roc roc(const Histogram& signal, const Histogram& background) {
  if (signal.edges() != background.edges())
    throw InputError(fmt::format("roc: signal and background histograms have different edges ({} and {} bins)",
                                 signal.nbins(), background.nbins()));
  const double total_s = signal.total(), total_b = background.total();
  if (!(total_s > 0.0) || !(total_b > 0.0))
    throw InputError(
        fmt::format("roc: total weights must be > 0 (signal {}, background {})", total_s, total_b));
  const auto above_s = signal.cumulative_above(), above_b = background.cumulative_above();
  const auto& edges = signal.edges();
  constexpr double inf = std::numeric_limits<double>::infinity();

  Roc out;
  out.points.reserve(edges.size() + 2);
  out.points.push_back({-inf, 1.0, 1.0});
  for (std::size_t i = 0; i < edges.size(); ++i)
    out.points.push_back({edges[i], above_b[i] / total_b, above_s[i] / total_s});
  out.points.push_back({inf, 0.0, 0.0});
  out.auc = auc(out.points);
  return out;
}

double auc(const std::vector<RocPoint>& points) {
  double area = 0.0;
  for (std::size_t i = 0; i + 1 < points.size(); ++i) {
    const auto& a = points[i];
    const auto& b = points[i + 1];
    area += (a.background_efficiency - b.background_efficiency) * (a.signal_efficiency + b.signal_efficiency) * 0.5;
  }
  return area;
}

}  // namespace bsmhunt::stats
