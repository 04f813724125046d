#include "bsmhunt/stats/Scan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/stats/Significance.hpp"

namespace bsmhunt::stats {

Metric parse_metric(std::string_view text) {
  if (text == "asimov") return Metric::asimov;
  if (text == "s_over_sqrt_b") return Metric::s_over_sqrt_b;
  if (text == "ams") return Metric::ams;
  throw InputError(fmt::format("--metric '{}': expected asimov, s_over_sqrt_b or ams", text));
}

const char* to_string(Metric m) {
  switch (m) {
    case Metric::asimov: return "asimov";
    case Metric::s_over_sqrt_b: return "s_over_sqrt_b";
    case Metric::ams: return "ams";
  }
  return "?";
}

void validate(const ScanOptions& o) {
  if (!(o.bkg_uncertainty >= 0) || !std::isfinite(o.bkg_uncertainty))
    throw InputError(fmt::format("--bkg-uncertainty {}: expected a relative uncertainty >= 0", o.bkg_uncertainty));
  if (o.metric == Metric::ams && o.bkg_uncertainty > 0)
    throw InputError("--bkg-uncertainty is defined for --metric asimov and s_over_sqrt_b, not for ams");
  if (!(o.min_background >= 0)) throw InputError(fmt::format("--min-background {}: must be >= 0", o.min_background));
  if (!(o.min_mc_events >= 0)) throw InputError(fmt::format("--min-mc-events {}: must be >= 0", o.min_mc_events));
}

double significance(double s, double b, const ScanOptions& o) {
  if (!(b > 0)) throw InputError(fmt::format("significance: background {} <= 0 has no significance", b));
  const double sigma_b = o.bkg_uncertainty * b;
  switch (o.metric) {
    case Metric::asimov: return asimov_z_with_uncertainty(s, b, sigma_b);
    case Metric::s_over_sqrt_b: return s / std::sqrt(b + sigma_b * sigma_b);
    case Metric::ams: return ams(s, b);
  }
  return 0;
}

namespace {

bool counts(double b, double b_variance, const ScanOptions& o) {
  if (!(b > 0) || b < o.min_background) return false;
  // Effective MC events b^2 / sum w^2 (infinite for exact-zero variance: data-driven).
  return b_variance <= 0 || b * b / b_variance >= o.min_mc_events;
}

void require_same_edges(const Histogram& s, const Histogram& b, const char* what) {
  if (s.edges() != b.edges())
    throw InputError(fmt::format("{}: signal and background histograms have different edges ({} and {} bins)", what,
                                 s.nbins(), b.nbins()));
}

}  // namespace

CutScan scan_cuts(const Histogram& signal, const Histogram& background, const ScanOptions& o) {
  validate(o);
  require_same_edges(signal, background, "scan_cuts");
  const auto s = signal.cumulative_above(), s2 = signal.cumulative_variance_above();
  const auto b = background.cumulative_above(), b2 = background.cumulative_variance_above();
  CutScan out;
  out.cut = signal.edges();
  out.s = s, out.b = b;
  const std::size_t n = s.size();
  out.s_error.resize(n), out.b_error.resize(n), out.z.resize(n);
  double best_z = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < n; ++i) {
    out.s_error[i] = std::sqrt(std::max(0.0, s2[i]));
    out.b_error[i] = std::sqrt(std::max(0.0, b2[i]));
    out.z[i] = counts(b[i], b2[i], o) ? significance(s[i], b[i], o) : std::numeric_limits<double>::quiet_NaN();
    if (out.z[i] > best_z) best_z = out.z[i], out.best = i;  // NaN compares false: skipped
  }
  return out;
}

double binned_significance(const Histogram& signal, const Histogram& background, std::size_t max_bins,
                           const ScanOptions& o) {
  validate(o);
  require_same_edges(signal, background, "binned_significance");
  if (max_bins == 0) throw InputError("binned significance: the number of bins must be >= 1");
  // Slots of sum_w(): [underflow, bins..., overflow]. Walk down from the overflow and
  // close a group when it is wide enough and its background counts.
  const auto &sw = signal.sum_w(), &bw = background.sum_w(), &bw2 = background.sum_w2();
  const std::size_t min_fine = std::max<std::size_t>(1, signal.nbins() / max_bins);
  std::vector<std::size_t> starts;  // group g covers [starts[g], previous start)
  ExactSum b, b2;
  std::size_t fine = 0;
  for (std::size_t k = sw.size(); k-- > 0;) {
    b.add(bw[k]), b2.add(bw2[k]);
    if (k != 0 && k + 1 != sw.size()) ++fine;  // flows do not widen a group
    if (fine >= min_fine && counts(b.value(), b2.value(), o)) {
      starts.push_back(k);
      b = b2 = ExactSum();
      fine = 0;
    }
  }
  if (starts.empty()) return 0.0;
  starts.back() = 0;  // a remainder at the bottom that does not count joins the last group
  double sum = 0;
  std::size_t end = sw.size();
  for (const std::size_t start : starts) {
    ExactSum gs, gb;
    for (std::size_t k = start; k < end; ++k) gs.add(sw[k]), gb.add(bw[k]);
    const double z = significance(gs.value(), gb.value(), o);
    sum += z * z;
    end = start;
  }
  return std::sqrt(sum);
}

Classification classify_at(const Histogram& signal, const Histogram& background, double threshold) {
  require_same_edges(signal, background, "classify_at");
  const auto& edges = signal.edges();
  std::size_t i = std::size_t(std::lower_bound(edges.begin(), edges.end(), threshold) - edges.begin());
  if (i == edges.size()) i = edges.size() - 1;
  if (i > 0 && std::abs(edges[i - 1] - threshold) < std::abs(edges[i] - threshold)) --i;
  const double S = signal.total(), B = background.total();
  Classification c;
  c.threshold = edges[i];
  c.true_positive = signal.cumulative_above()[i];
  c.false_positive = background.cumulative_above()[i];
  c.false_negative = S - c.true_positive;
  c.true_negative = B - c.false_positive;
  const auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  c.precision = ratio(c.true_positive, c.true_positive + c.false_positive);
  c.recall = ratio(c.true_positive, S);
  c.f1 = ratio(2 * c.precision * c.recall, c.precision + c.recall);
  c.accuracy = ratio(c.true_positive + c.true_negative, S + B);
  return c;
}

}  // namespace bsmhunt::stats
