// bsmhunt anomaly: two passes over a score file (sums of weights per sample and split
// with the score range; per-sample score histograms), summed exactly over the ranks,
// then thresholds at fixed Standard Model efficiencies, per-signal efficiencies and
// the search in the data on rank 0.
#include "bsmhunt/pipeline/FeatureCommon.hpp"
#include "bsmhunt/pipeline/Anomaly.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <memory>

#include <boost/math/distributions/normal.hpp>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/ExactSum.hpp"
#include "bsmhunt/core/Json.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/dist/WorkItems.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/stats/Histogram.hpp"
#include "bsmhunt/stats/Roc.hpp"
#include "bsmhunt/stats/Significance.hpp"

namespace bsmhunt::pipeline {

namespace {

enum class Kind { unused, background, signal, data };

struct Plan {
  std::size_t column = 0;
  std::vector<Kind> kind;  // per sample
};

int8_t split_code(const std::string& s) {
  return s == "train" ? 0 : s == "validation" ? 1 : s == "test" ? 2 : -1;
}

Plan make_plan(const io::FeatureFileReader& reader, const AnomalyConfig& c) {
  Plan p;
  const auto& h = reader.header();
  require_score_column_choice(h, c.score_column, c.scores);
  if (!c.score_column.empty()) {
    const auto it = std::find(h.feature_names.begin(), h.feature_names.end(), c.score_column);
    if (it == h.feature_names.end())
      throw InputError(fmt::format("{}: no score column '{}' (columns: {}){}", c.scores, c.score_column,
                                   join(h.feature_names, ", "), did_you_mean(c.score_column, h.feature_names)));
    p.column = std::size_t(it - h.feature_names.begin());
  }
  std::vector<std::string> names;
  for (const auto& s : h.samples) names.push_back(s.name);
  for (const auto& pat : c.exclude_samples)
    if (std::none_of(names.begin(), names.end(), [&](const std::string& n) { return glob_match(pat, n); }))
      throw InputError(fmt::format("--exclude-samples: '{}' matches no sample of {}{}", pat, c.scores,
                                   did_you_mean(pat, names)));
  bool any_background = false;
  for (const auto& s : h.samples) {
    bool excluded = false;
    for (const auto& pat : c.exclude_samples) excluded = excluded || glob_match(pat, s.name);
    Kind k = Kind::unused;
    if (!excluded)
      k = s.role == physics::Role::background ? Kind::background : s.role == physics::Role::signal ? Kind::signal : Kind::data;
    any_background = any_background || k == Kind::background;
    p.kind.push_back(k);
  }
  if (!any_background)
    throw InputError(fmt::format("{}: no background sample: the Standard Model efficiencies need one", c.scores));
  return p;
}

// Calls fn(score, weight, sample, split) for every row of this rank's share.
template <typename Fn>
void for_each_row(const dist::Communicator& comm, const io::FeatureFileReader& reader, const AnomalyConfig& c,
                  const Plan& plan, Fn&& fn) {
  const dist::Range mine = dist::partition(reader.rows(), comm.size(), comm.rank());
  const uint64_t chunk = 1 << 18;
  const std::size_t F = reader.header().feature_names.size();
  io::FeatureBlock block;
  for (uint64_t k = 0; k < dist::read_rounds(comm, mine, chunk); ++k) {
    const dist::Range part = dist::read_chunk(mine, k, chunk);
    dist::collectively(comm, [&] {
      reader.read(part.begin, part.end, block);
      for (std::size_t r = 0; r < block.size(); ++r) {
        const auto s = std::size_t(block.sample_index[r]);
        if (s >= plan.kind.size())
          throw InputError(fmt::format("{}: row {} has sample_index {}", c.scores, part.begin + r, s));
        if (plan.kind[s] == Kind::unused) continue;
        const double score = block.features[r * F + plan.column];
        if (std::isnan(score)) throw InputError(fmt::format("{}: the score of row {} is NaN", c.scores, part.begin + r));
        fn(score, block.weight[r], s, block.split[r]);
      }
    });
  }
}

// Sums per sample: weights of every row and of the rows counted (the split of its
// kind), and the score range of the counted rows.
struct Totals {
  std::vector<ExactSum> all, counted;
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  double lowest_positive = std::numeric_limits<double>::infinity();
};

bool counted(const Plan& plan, const AnomalyConfig& c, std::size_t sample, int8_t split) {
  const int8_t want = split_code(plan.kind[sample] == Kind::data ? c.data_split : c.mc_split);
  return want < 0 || split == want;
}

Totals sum_totals(const dist::Communicator& comm, const io::FeatureFileReader& reader, const AnomalyConfig& c,
                  const Plan& plan) {
  Totals t;
  t.all.resize(plan.kind.size()), t.counted.resize(plan.kind.size());
  for_each_row(comm, reader, c, plan, [&](double score, double w, std::size_t s, int8_t split) {
    const double weight = plan.kind[s] == Kind::data ? 1.0 : w;
    t.all[s].add(weight);
    if (!counted(plan, c, s, split)) return;
    t.counted[s].add(weight);
    if (!std::isfinite(score)) return;
    t.lo = std::min(t.lo, score), t.hi = std::max(t.hi, score);
    if (score > 0) t.lowest_positive = std::min(t.lowest_positive, score);
  });
  t.all = comm.sum(t.all), t.counted = comm.sum(t.counted);
  t.lo = comm.min(t.lo), t.hi = comm.max(t.hi), t.lowest_positive = comm.min(t.lowest_positive);
  return t;
}

// Bin edges of the score: uniform in logit for probabilities (classifier scores in
// [0, 1], whose signal-like tail crowds towards 1), log-spaced for positive scores
// spanning more than a decade (reconstruction errors), uniform otherwise. The last
// edge lies above the largest score.
std::vector<double> score_edges(const Totals& t, uint64_t bins) {
  double lo = t.lo, hi = t.hi;
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (!(hi > lo)) hi = lo + std::max(1.0, std::fabs(lo)) * 1e-6;
  std::vector<double> edges(bins + 1);
  const auto spaced = [&](double a, double b, auto to_score) {
    for (uint64_t i = 0; i <= bins; ++i) edges[i] = to_score(a + (b - a) * double(i) / double(bins));
  };
  if (lo >= 0 && hi <= 1) {
    constexpr double kClip = 1e-7;  // float32 probabilities resolve no finer near 0 and 1
    const auto logit = [](double p) { return std::log(p / (1 - p)); };
    spaced(logit(std::max(lo, kClip)), logit(std::min(hi, 1 - kClip)),
           [](double x) { return 1 / (1 + std::exp(-x)); });
    edges.front() = lo;
    edges.back() = std::max(edges.back(), std::nextafter(hi, INFINITY));
  } else if (lo > 0 && hi / lo > 10) {
    spaced(std::log(lo), std::log(hi) + 1e-9, [](double x) { return std::exp(x); });
    edges.front() = lo;
  } else {
    spaced(lo, hi + (hi - lo) * 1e-9, [](double x) { return x; });
  }
  for (uint64_t i = 1; i <= bins; ++i) edges[i] = std::max(edges[i], std::nextafter(edges[i - 1], INFINITY));
  return edges;
}

struct Threshold {
  double target = 0, threshold = 0, sm_efficiency = 0;
  std::size_t edge = 0;  // index into the cumulative sums
  double background = 0, background_sigma = 0, data = 0, expected_data = 0, excess = 0, z = 0, p_value = 0.5;
};

struct SignalResult {
  std::string name;
  double total = 0, auc = 0;
  std::vector<double> efficiency, z_reference, z_nominal;  // per threshold
};

double one_sided_p(double z) { return boost::math::cdf(boost::math::complement(boost::math::normal(), z)); }

struct Analysis {
  std::vector<double> edges;
  std::vector<stats::Histogram> per_sample;  // counted rows, MC scaled to full yield
  stats::Histogram background{std::vector<double>{0.0, 1.0}};
  std::vector<Threshold> thresholds;
  std::vector<SignalResult> signals;
  double background_total = 0, data_total = 0, data_fraction = 1;
};

Analysis analyse(const dist::Communicator& comm, const io::FeatureFileReader& reader, const AnomalyConfig& c,
                 const Plan& plan) {
  const Totals t = sum_totals(comm, reader, c, plan);
  const auto& samples = reader.header().samples;
  std::vector<double> scale(plan.kind.size(), 1.0);
  double data_all = 0, data_counted = 0;
  for (std::size_t s = 0; s < plan.kind.size(); ++s) {
    if (plan.kind[s] == Kind::unused) continue;
    const double all = t.all[s].value(), in = t.counted[s].value();
    if (plan.kind[s] == Kind::data) {
      data_all += all, data_counted += in;
      continue;
    }
    if (all != 0 && in == 0)
      throw InputError(fmt::format("{}: sample '{}' has no rows in the {} split (--mc-split)", c.scores, samples[s].name,
                                   c.mc_split));
    scale[s] = in != 0 ? all / in : 1.0;  // to the sample's full yield
  }
  Analysis a;
  a.edges = score_edges(t, c.bins);
  a.background = stats::Histogram(a.edges);
  for (std::size_t s = 0; s < plan.kind.size(); ++s) a.per_sample.emplace_back(a.edges);
  for_each_row(comm, reader, c, plan, [&](double score, double w, std::size_t s, int8_t split) {
    if (!counted(plan, c, s, split)) return;
    a.per_sample[s].fill(score, plan.kind[s] == Kind::data ? 1.0 : w * scale[s]);
  });
  for (auto& h : a.per_sample) h.reduce(comm);
  for (std::size_t s = 0; s < plan.kind.size(); ++s)
    if (plan.kind[s] == Kind::background) a.background.merge(a.per_sample[s]);
  a.background_total = a.background.total();
  if (!(a.background_total > 0))
    throw InputError(fmt::format("{}: the weighted background is {} in the counted rows", c.scores, a.background_total));
  // The data's share of the background yield: their counted split, and their own
  // luminosity when the pseudo-data are smaller than the MC's.
  a.data_fraction = (data_all > 0 ? data_counted / data_all : 1.0) * data_to_mc_luminosity(reader.header());

  // Thresholds: the lowest edge where the background efficiency falls to the target.
  const auto above = a.background.cumulative_above(), above_var = a.background.cumulative_variance_above();
  std::vector<double> data_above(above.size(), 0.0);
  for (std::size_t s = 0; s < plan.kind.size(); ++s)
    if (plan.kind[s] == Kind::data) {
      const auto d = a.per_sample[s].cumulative_above();
      for (std::size_t k = 0; k < d.size(); ++k) data_above[k] += d[k];
      a.data_total += a.per_sample[s].total();
    }
  for (const double target : c.sm_efficiencies) {
    Threshold th;
    th.target = target;
    th.edge = above.size() - 1;
    for (std::size_t k = 0; k < above.size(); ++k)
      if (above[k] / a.background_total <= target) {
        th.edge = k;
        break;
      }
    // Ties (e.g. classifier scores saturating at 1 in float32) can make the first edge
    // at or below the target fall far below it: take the edge before when it is closer
    // in ratio (the efficiency reached is what is reported).
    if (th.edge > 0) {
      const double below = above[th.edge] / a.background_total, before = above[th.edge - 1] / a.background_total;
      if (!(below > 0) || before / target < target / below) --th.edge;
    }
    th.threshold = th.edge < a.edges.size() ? a.edges[th.edge] : a.edges.back();
    th.sm_efficiency = above[th.edge] / a.background_total;
    th.background = above[th.edge];
    const double syst = c.background_uncertainty * th.background;
    th.background_sigma = std::sqrt(std::max(above_var[th.edge], 0.0) + syst * syst);
    th.data = data_above[th.edge];
    th.expected_data = th.background * a.data_fraction;
    th.excess = th.data - th.expected_data;
    const double sigma = th.background_sigma * a.data_fraction;
    th.z = th.expected_data > 0 && th.excess > 0 ? stats::asimov_z_with_uncertainty(th.excess, th.expected_data, sigma)
                                                 : 0.0;
    th.p_value = one_sided_p(th.z);
    a.thresholds.push_back(th);
  }
  // Per signal: efficiency at each threshold and the significance after the cut, for
  // an injection at --reference-significance and at the sample's cross section.
  const double injected_reference = c.reference_significance * std::sqrt(a.background_total);
  for (std::size_t s = 0; s < plan.kind.size(); ++s) {
    if (plan.kind[s] != Kind::signal) continue;
    SignalResult r;
    r.name = samples[s].name;
    r.total = a.per_sample[s].total();
    if (!(r.total > 0)) {
      log::warn("anomaly: signal sample '{}' has no weight in the counted rows; skipped", r.name);
      continue;
    }
    r.auc = stats::roc(a.per_sample[s], a.background).auc;
    const auto sig_above = a.per_sample[s].cumulative_above();
    for (const auto& th : a.thresholds) {
      const double eff = sig_above[th.edge] / r.total;
      r.efficiency.push_back(eff);
      const auto z = [&](double s_events) {
        return th.background > 0 ? stats::asimov_z_with_uncertainty(s_events, th.background, th.background_sigma)
                                 : std::nan("");
      };
      r.z_reference.push_back(z(eff * injected_reference));
      r.z_nominal.push_back(z(sig_above[th.edge]));
    }
    a.signals.push_back(std::move(r));
  }
  return a;
}

// Per-sample score distributions in about 60 bins, for the stacked plot.
json::Value distributions(const Analysis& a, const Plan& plan, const std::vector<physics::SampleInfo>& samples) {
  const std::size_t n = a.edges.size() - 1, group = std::max<std::size_t>(1, n / 60);
  std::vector<double> edges;
  for (std::size_t i = 0; i < n; i += group) edges.push_back(a.edges[i]);
  edges.push_back(a.edges.back());
  json::Value out = json::Value::object();
  for (std::size_t s = 0; s < plan.kind.size(); ++s) {
    if (plan.kind[s] == Kind::unused) continue;
    const auto v = a.per_sample[s].values();
    std::vector<double> merged(edges.size() - 1, 0.0);
    for (std::size_t i = 0; i < n; ++i) merged[std::min(i / group, merged.size() - 1)] += v[i];
    merged.front() += a.per_sample[s].underflow(), merged.back() += a.per_sample[s].overflow();
    out[samples[s].name] = {{"role", std::string(physics::to_string(samples[s].role))},
                            {"values", json::numbers_or_null(merged)}};
  }
  return {{"edges", json::numbers_or_null(edges)}, {"samples", out}};
}

// ROC curves at about 200 edges: background and per-signal efficiencies.
json::Value roc_curves(const Analysis& a, const Plan& plan) {
  const auto bkg = a.background.cumulative_above();
  const std::size_t step = std::max<std::size_t>(1, bkg.size() / 200);
  std::vector<double> eb;
  for (std::size_t k = 0; k < bkg.size(); k += step) eb.push_back(bkg[k] / a.background_total);
  json::Value curves = json::Value::object();
  std::size_t i = 0;
  for (std::size_t s = 0; s < plan.kind.size(); ++s) {
    if (plan.kind[s] != Kind::signal) continue;
    if (i >= a.signals.size()) break;
    const auto sig = a.per_sample[s].cumulative_above();
    if (!(a.per_sample[s].total() > 0)) continue;
    std::vector<double> es;
    for (std::size_t k = 0; k < sig.size(); k += step) es.push_back(sig[k] / a.per_sample[s].total());
    curves[a.signals[i++].name] = json::numbers_or_null(es);
  }
  return {{"background_efficiency", json::numbers_or_null(eb)}, {"signal_efficiency", curves}};
}

void write_result(const AnomalyConfig& c, const io::FeatureFileReader& reader, const Plan& plan, const Analysis& a) {
  json::Value thresholds = json::Value::array();
  for (const auto& th : a.thresholds)
    thresholds.push_back({{"sm_efficiency_target", th.target},
                          {"threshold", json::number_or_null(th.threshold)},
                          {"sm_efficiency", json::number_or_null(th.sm_efficiency)},
                          {"expected_background", json::number_or_null(th.expected_data)},
                          {"background_uncertainty", json::number_or_null(th.background_sigma * a.data_fraction)},
                          {"data", json::number_or_null(th.data)},
                          {"excess", json::number_or_null(th.excess)},
                          {"z_local", json::number_or_null(th.z)},
                          {"p_value", json::number_or_null(th.p_value)},
                          {"search", th.target == c.search_efficiency}});
  json::Value signals = json::Value::array();
  for (const auto& r : a.signals)
    signals.push_back({{"name", r.name},
                       {"yield", json::number_or_null(r.total)},
                       {"auc", json::number_or_null(r.auc)},
                       {"efficiency", json::numbers_or_null(r.efficiency)},
                       {"z_reference", json::numbers_or_null(r.z_reference)},
                       {"z_nominal", json::numbers_or_null(r.z_nominal)}});
  const auto& h = reader.header();
  json::write(c.output, {{"format", "bsmhunt.anomaly"},
                         {"version", 1},
                         {"scores_file", c.scores},
                         {"score", h.feature_names[plan.column]},
                         {"mc_split", c.mc_split},
                         {"data_split", c.data_split},
                         {"data_fraction", json::number_or_null(a.data_fraction)},
                         {"background_total", json::number_or_null(a.background_total)},
                         {"data_total", json::number_or_null(a.data_total)},
                         {"background_uncertainty", c.background_uncertainty},
                         {"reference_significance", c.reference_significance},
                         {"search_efficiency", c.search_efficiency},
                         {"sm_efficiencies", c.sm_efficiencies},
                         {"thresholds", thresholds},
                         {"signals", signals},
                         {"distributions", distributions(a, plan, h.samples)},
                         {"roc", roc_curves(a, plan)}});
}

void print_tables(const AnomalyConfig& c, const Analysis& a, const std::string& score) {
  std::string out = fmt::format("anomaly score '{}': thresholds at fixed SM efficiency (MC {} split scaled to full "
                                "yields; data {} rows)\n  {:>8} {:>12} {:>10} {:>12} {:>8} {:>9} {:>8}\n",
                                score, c.mc_split, c.data_split, "SM eff", "threshold", "B exp", "+- dB", "data",
                                "excess", "Z local");
  for (const auto& th : a.thresholds)
    out += fmt::format("  {:>8.4f} {:>12.5g} {:>10.2f} {:>12.2f} {:>8.0f} {:>9.1f} {:>8.2f}{}\n", th.sm_efficiency,
                       th.threshold, th.expected_data, th.background_sigma * a.data_fraction, th.data, th.excess, th.z,
                       th.target == c.search_efficiency ? "  <- search" : "");
  std::size_t width = 6;
  for (const auto& r : a.signals) width = std::max(width, r.name.size());
  out += fmt::format("signal efficiency at SM efficiency (Z: expected after the cut for inclusive S/sqrt(B) = {:g})\n"
                     "  {:<{}} {:>6}",
                     c.reference_significance, "signal", width, "AUC");
  for (const auto& th : a.thresholds) out += fmt::format(" {:>9} {:>6}", fmt::format("eff@{:g}", th.target), "Z");
  out += "\n";
  for (const auto& r : a.signals) {
    out += fmt::format("  {:<{}} {:>6.3f}", r.name, width, r.auc);
    for (std::size_t k = 0; k < a.thresholds.size(); ++k)
      out += fmt::format(" {:>9.4f} {:>6.2f}", r.efficiency[k], r.z_reference[k]);
    out += "\n";
  }
  std::cout << out << std::flush;
}

}  // namespace

int run_anomaly(const dist::Communicator& comm, const AnomalyConfig& c) {
  io::check_output_path(comm, c.output, c.overwrite);
  io::FeatureFileReader reader(comm, c.scores, io::RowFileKind::scores);
  const Plan plan = make_plan(reader, c);
  const Analysis a = analyse(comm, reader, c, plan);
  if (comm.is_root()) {
    write_result(c, reader, plan, a);
    print_tables(c, a, reader.header().feature_names[plan.column]);
  }
  comm.barrier();
  log::info("wrote {}", c.output);
  return 0;
}

}  // namespace bsmhunt::pipeline
