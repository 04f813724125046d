// bsmhunt significance: score histograms per (channel, sample) filled by every rank
// for its rows, reduced exactly, then the per-signal scans, ROC, classification
// tables and the cut-and-count yields on rank 0.
#include "bsmhunt/pipeline/Significance.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <memory>

#include "Json.hpp"
#include "bsmhunt/core/Archive.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/ExactSum.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/pipeline/Selection.hpp"
#include "bsmhunt/stats/HistogramSet.hpp"
#include "bsmhunt/stats/Roc.hpp"
#include "bsmhunt/stats/Significance.hpp"

namespace bsmhunt::pipeline {

inline constexpr const char* kSignificanceFormat = "bsmhunt.significance";
inline constexpr int64_t kSignificanceFormatVersion = 1;

namespace {

using physics::Role;
using stats::Histogram;

template <typename T>
T get(const po::variables_map& vm, const char* name) {
  return vm[name].as<T>();
}

std::string default_h5_path(const std::string& output) {
  const std::filesystem::path p(output);
  if (p.extension() == ".json") return std::filesystem::path(p).replace_extension(".h5").string();
  return output + ".h5";
}

// Which splits count: the test split by default (events the classifier never saw).
std::vector<bool> split_mask(const std::string& split) {
  if (split == "all") return {true, true, true};
  if (split == "train") return {true, false, false};
  if (split == "validation") return {false, true, false};
  if (split == "test") return {false, false, true};
  throw InputError(fmt::format("--split '{}': expected test, validation, train or all", split));
}

std::pair<double, double> parse_range(const std::string& text) {
  const auto parts = split(text, ',');
  double lo = 0, hi = 0;
  try {
    if (parts.size() != 2) throw std::invalid_argument("");
    lo = std::stod(parts[0]), hi = std::stod(parts[1]);
  } catch (const std::exception&) {
    throw InputError(fmt::format("--range '{}': expected auto or LO,HI", text));
  }
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi))
    throw InputError(fmt::format("--range '{}': expected finite LO < HI", text));
  return {lo, hi};
}

Histogram scaled(const Histogram& h, double factor) {
  std::vector<ExactSum> w(h.sum_w().size()), w2(h.sum_w2().size());
  for (std::size_t i = 0; i < w.size(); ++i) {
    w[i].add(h.sum_w()[i].value() * factor);
    w2[i].add(h.sum_w2()[i].value() * factor * factor);
  }
  return Histogram::from_sums(h.edges(), std::move(w), std::move(w2));
}

std::string parameters_json(const physics::SampleInfo& s) {
  std::string out = "{";
  for (std::size_t i = 0; i < s.parameters.size(); ++i) {
    const auto& p = s.parameters[i];
    out += (i ? ", " : "") + json::quote(p.name) + ": ";
    if (const auto* d = std::get_if<double>(&p.value)) out += json::number_or_null(*d);
    else if (const auto* n = std::get_if<int64_t>(&p.value)) out += fmt::format("{}", *n);
    else out += json::quote(std::get<std::string>(p.value));
  }
  return out + "}";
}

// Per (channel, sample) sums of the cut-and-count, raw counts as exact integers.
struct Yields {
  std::vector<ExactSum> before, after, after_w2, before_n, after_n;
  explicit Yields(std::size_t n) : before(n), after(n), after_w2(n), before_n(n), after_n(n) {}
  void reduce(const dist::Communicator& comm) {
    std::vector<ExactSum> all;
    for (auto* v : {&before, &after, &after_w2, &before_n, &after_n}) all.insert(all.end(), v->begin(), v->end());
    all = comm.sum(all);
    std::size_t k = 0;
    for (auto* v : {&before, &after, &after_w2, &before_n, &after_n})
      for (auto& x : *v) x = all[k++];
  }
};

struct SignalResult {
  std::size_t sample = 0;
  double total = 0, raw = 0, auc = std::numeric_limits<double>::quiet_NaN(), binned_z = 0;
  stats::CutScan scan;
  stats::Roc roc;
  bool has_roc = false;
  double cc_before = 0, cc_after = 0, cc_z = std::numeric_limits<double>::quiet_NaN();
};

struct ChannelResult {
  const Channel* channel = nullptr;
  double background = 0, background_error = 0, data = 0;
  bool has_data = false;
  std::vector<double> sample_total, sample_raw;
  std::vector<SignalResult> signals;
  std::vector<stats::Classification> table;
  stats::Classification confusion;
  bool has_classification = false;
  double cc_bkg_before = 0, cc_bkg_after = 0, cc_bkg_after_error = 0;
  std::vector<double> cc_sample_before, cc_sample_after;
};

}  // namespace

int run_significance(const SignificanceConfig& c, const dist::Communicator& comm) {
  if (c.scores.empty()) throw InputError("bsmhunt significance: --scores SCORES.h5 is required");
  if (c.output.empty()) throw InputError("bsmhunt significance: --output RESULT.json is required");
  stats::validate(c.scan);
  if (c.bins == 0) throw InputError("--bins must be >= 1");
  if (c.combination_bins == 0) throw InputError("--combination-bins must be >= 1");
  const auto in_split = split_mask(c.split);
  const std::string output_h5 = c.output_h5.empty() ? default_h5_path(c.output) : c.output_h5;
  io::check_output_path(comm, c.output, c.overwrite, "--output");
  io::check_output_path(comm, output_h5, c.overwrite, "--output-h5");

  io::FeatureFileReader scores(comm, c.scores, io::RowFileKind::scores);
  const auto& score_names = scores.header().feature_names;
  std::size_t column = 0;
  if (!c.score_column.empty()) {
    const auto it = std::find(score_names.begin(), score_names.end(), c.score_column);
    if (it == score_names.end())
      throw InputError(fmt::format("{}: no score column '{}' (columns: {}){}", c.scores, c.score_column,
                                   join(score_names, ", "), did_you_mean(c.score_column, score_names)));
    column = std::size_t(it - score_names.begin());
  }
  const std::string column_name = score_names.at(column);
  const std::size_t K = score_names.size();

  const bool need_features = !trim(c.channels).empty() || !trim(c.cuts).empty();
  if (need_features && c.features.empty())
    throw InputError("--channels and --cuts select on features: give --features FILE (the file the scores were "
                     "predicted from)");
  std::unique_ptr<io::FeatureFileReader> features;
  std::vector<std::string> feature_names;
  const auto& samples = scores.header().samples;
  if (!c.features.empty()) {
    features = std::make_unique<io::FeatureFileReader>(comm, c.features);
    feature_names = features->header().feature_names;
    const auto& fs = features->header().samples;
    if (fs.size() != samples.size())
      throw InputError(fmt::format("{} does not belong to {}: {} samples in the score file, {} in the feature file",
                                   c.scores, c.features, samples.size(), fs.size()));
    for (std::size_t i = 0; i < fs.size(); ++i)
      if (fs[i].name != samples[i].name)
        throw InputError(fmt::format("{} does not belong to {}: sample {} is '{}' in the score file, '{}' in the "
                                     "feature file",
                                     c.scores, c.features, i, samples[i].name, fs[i].name));
    if (features->rows() != scores.rows())
      throw InputError(fmt::format("{} does not belong to {}: {} rows in the score file, {} in the feature file",
                                   c.scores, c.features, scores.rows(), features->rows()));
  }
  const auto channels = parse_channels(c.channels, feature_names, "--channels");
  const Selection cuts = parse_selection(c.cuts, feature_names, "--cuts");
  const bool probability = column_name == "score" || column_name.rfind("p_class", 0) == 0;
  // A good classifier pushes the signal against p = 1, where uniform bins in p cannot
  // place a cut (float p resolves 6e-8 there): probabilities are binned in their
  // logit, and every cut is reported back as a probability.
  if (c.transform != "auto" && c.transform != "logit" && c.transform != "none")
    throw InputError(fmt::format("--transform '{}': expected auto, logit or none", c.transform));
  const bool logit = c.transform == "logit" || (c.transform == "auto" && probability);
  const auto transform = [logit](double v) {
    if (!logit) return v;
    if (v <= 0) return -std::numeric_limits<double>::infinity();
    if (v >= 1) return std::numeric_limits<double>::infinity();
    return std::log(v / (1 - v));
  };
  const auto to_score = [logit](double x) { return logit ? 1 / (1 + std::exp(-x)) : x; };

  // Signals to scan.
  const std::size_t S = samples.size(), C = channels.size();
  std::vector<std::size_t> signals, backgrounds, data;
  for (std::size_t i = 0; i < S; ++i) {
    if (samples[i].role == Role::background) backgrounds.push_back(i);
    else if (samples[i].role == Role::data) data.push_back(i);
    else {
      bool wanted = c.signals.empty();
      for (const auto& p : c.signals) wanted = wanted || p == "all" || glob_match(p, samples[i].name);
      if (wanted) signals.push_back(i);
    }
  }
  for (const auto& p : c.signals) {
    if (p == "all") continue;
    bool any = false;
    for (const auto i : signals) any = any || glob_match(p, samples[i].name);
    if (!any) {
      std::vector<std::string> names;
      for (const auto& s : samples)
        if (s.role == Role::signal) names.push_back(s.name);
      throw InputError(fmt::format("--signal '{}' matches no signal sample of {}{}", p, c.scores, did_you_mean(p, names)));
    }
  }
  if (backgrounds.empty()) throw InputError(fmt::format("{}: no background sample to compare with", c.scores));

  // Score range: probabilities live in [0, 1]; anything else (an anomaly score) is
  // binned between its extremes over the counted rows, found in a first pass.
  // Ranks own whole blocks of rows: the fast histogram fill is then the same on any rank count.
  const dist::Range mine = stats::HistogramSet::rows_of_rank(scores.rows(), c.block_rows, comm);
  const uint64_t largest = uint64_t(comm.max(double(mine.size())));
  const uint64_t rounds = std::max<uint64_t>(1, (largest + c.chunk_rows - 1) / c.chunk_rows);
  io::FeatureBlock sblock, fblock;
  double lo = logit ? -20 : 0, hi = logit ? 20 : 1;
  if (c.range != "auto") {
    std::tie(lo, hi) = parse_range(c.range);
  } else if (!logit && !probability) {
    double mn = std::numeric_limits<double>::infinity(), mx = -mn;
    for (uint64_t k = 0; k < rounds; ++k) {
      const uint64_t b = std::min(mine.end, mine.begin + k * c.chunk_rows), e = std::min(mine.end, b + c.chunk_rows);
      dist::collectively(comm, [&] { scores.read(b, e, sblock); });
      for (std::size_t r = 0; r < sblock.size(); ++r) {
        if (!in_split[std::size_t(sblock.split[r])]) continue;
        const double v = sblock.features[r * K + column];
        if (std::isfinite(v)) mn = std::min(mn, v), mx = std::max(mx, v);
      }
    }
    mn = comm.min(mn), mx = comm.max(mx);
    if (!(mn < mx)) mn = std::isfinite(mn) ? mn - 0.5 : 0.0, mx = std::isfinite(mx) ? mx + 0.5 : 1.0;
    lo = mn, hi = std::nextafter(mx, std::numeric_limits<double>::infinity());  // the maximum is in range
  }

  stats::HistogramSet hist(C * S, c.bins, lo, hi, c.block_rows);
  Yields yields(C * S);
  std::vector<ExactSum> sample_all(S), sample_counted(S);  // raw entries per sample: all splits, counted splits
  std::vector<float> x;
  std::vector<double> w;
  std::vector<uint32_t> group;
  std::vector<uint64_t> row_number;
  Progress progress("significance", scores.rows(), "scores", comm.is_root());
  for (uint64_t k = 0; k < rounds; ++k) {
    const uint64_t b = std::min(mine.end, mine.begin + k * c.chunk_rows), e = std::min(mine.end, b + c.chunk_rows);
    dist::collectively(comm, [&] {
      scores.read(b, e, sblock);
      if (features) {
        features->read(b, e, fblock);
        for (std::size_t r = 0; r < sblock.size(); ++r)
          if (fblock.event_number[r] != sblock.event_number[r] || fblock.sample_index[r] != sblock.sample_index[r])
            throw InputError(fmt::format("{} does not belong to {}: row {} is event {} of sample {} in the score file, "
                                         "event {} of sample {} in the feature file",
                                         c.scores, c.features, b + r, sblock.event_number[r], sblock.sample_index[r],
                                         fblock.event_number[r], fblock.sample_index[r]));
      }
      const std::size_t F = features ? fblock.n_features : 0;
      for (std::size_t ch = 0; ch < C; ++ch) {
        x.clear(), w.clear(), group.clear(), row_number.clear();
        for (std::size_t r = 0; r < sblock.size(); ++r) {
          const auto s = std::size_t(sblock.sample_index[r]);
          if (s >= S)
            throw InputError(fmt::format("{}: row {} has sample_index {} of {} samples", c.scores, b + r, s, S));
          if (ch == 0) sample_all[s].add(ExactSum::from_raw(1));
          if (!in_split[std::size_t(sblock.split[r])]) continue;
          if (ch == 0) sample_counted[s].add(ExactSum::from_raw(1));
          const float* row = features ? fblock.features.data() + r * F : nullptr;
          if (row && !channels[ch].selection.passes(row)) continue;
          const float v = sblock.features[r * K + column];
          if (std::isnan(v))
            throw InputError(fmt::format("{}: score '{}' of row {} (event {} of sample {}) is NaN", c.scores,
                                         column_name, b + r, sblock.event_number[r], samples[s].name));
          const std::size_t g = ch * S + s;
          x.push_back(float(transform(v))), w.push_back(sblock.weight[r]), group.push_back(uint32_t(g));
          row_number.push_back(b + r);
          yields.before[g].add(sblock.weight[r]);
          yields.before_n[g].add(ExactSum::from_raw(1));
          if (!row || cuts.passes(row)) {
            yields.after[g].add(sblock.weight[r]);
            yields.after_w2[g].add(sblock.weight[r] * sblock.weight[r]);
            yields.after_n[g].add(ExactSum::from_raw(1));
          }
        }
        hist.fill(x, w, group, row_number);
      }
    });
    progress.update(comm.sum(uint64_t(e - mine.begin)));
  }
  progress.finish();
  const double fill_seconds = progress.elapsed_seconds();
  hist.reduce(comm);
  yields.reduce(comm);
  sample_all = comm.sum(sample_all);
  sample_counted = comm.sum(sample_counted);

  // Events of the counted splits stand for all events of their sample: scale by
  // (all entries / counted entries) per sample, exactly as the split fractions are
  // realised (the split is a hash of the event, independent of the channel).
  std::vector<double> factor(S, 0.0);
  for (std::size_t s = 0; s < S; ++s) {
    const auto counted = double(sample_counted[s].raw()), all = double(sample_all[s].raw());
    factor[s] = counted > 0 ? all / counted : 0.0;
  }

  std::vector<ChannelResult> results(C);
  for (std::size_t ch = 0; ch < C; ++ch) {
    ChannelResult& R = results[ch];
    R.channel = &channels[ch];
    R.sample_total.resize(S), R.sample_raw.resize(S), R.cc_sample_before.resize(S), R.cc_sample_after.resize(S);
    Histogram background(c.bins, lo, hi), data_hist(c.bins, lo, hi), signal_sum(c.bins, lo, hi);
    ExactSum bkg_after_w2;
    for (std::size_t s = 0; s < S; ++s) {
      const std::size_t g = ch * S + s;
      const Histogram h = scaled(hist.histogram(g), factor[s]);
      R.sample_total[s] = h.total();
      R.sample_raw[s] = double(hist.entries(g));
      R.cc_sample_before[s] = yields.before[g].value() * factor[s];
      R.cc_sample_after[s] = yields.after[g].value() * factor[s];
      if (samples[s].role == Role::background) {
        background.merge(h);
        bkg_after_w2.add(yields.after_w2[g].value() * factor[s] * factor[s]);
        R.cc_bkg_before += R.cc_sample_before[s];
        R.cc_bkg_after += R.cc_sample_after[s];
      } else if (samples[s].role == Role::data) {
        data_hist.merge(h);
        R.has_data = true;
      }
    }
    R.cc_bkg_after_error = std::sqrt(std::max(0.0, bkg_after_w2.value()));
    R.background = background.total();
    R.background_error = std::sqrt(std::max(0.0, [&] {
      double v = background.underflow_variance() + background.overflow_variance();
      for (const double x2 : background.variances()) v += x2;
      return v;
    }()));
    R.data = data_hist.total();
    for (const std::size_t s : signals) {
      SignalResult sr;
      sr.sample = s;
      const Histogram h = scaled(hist.histogram(ch * S + s), factor[s]);
      sr.total = h.total();
      sr.raw = R.sample_raw[s];
      if (sr.raw == 0) continue;  // a signal of another channel (e.g. an ee model in mumu)
      signal_sum.merge(h);
      sr.scan = stats::scan_cuts(h, background, c.scan);
      for (auto& cut : sr.scan.cut) cut = to_score(cut);
      sr.binned_z = stats::binned_significance(h, background, c.combination_bins, c.scan);
      if (sr.total > 0 && R.background > 0) {
        sr.roc = stats::roc(h, background);
        sr.auc = sr.roc.auc;
        sr.has_roc = true;
      }
      sr.cc_before = R.cc_sample_before[s];
      sr.cc_after = R.cc_sample_after[s];
      const double bb = R.cc_bkg_after, bv = R.cc_bkg_after_error * R.cc_bkg_after_error;
      if (bb > 0 && bb >= c.scan.min_background && (bv <= 0 || bb * bb / bv >= c.scan.min_mc_events))
        sr.cc_z = stats::significance(sr.cc_after, bb, c.scan);
      R.signals.push_back(std::move(sr));
    }
    if (signal_sum.total() > 0 && R.background > 0) {
      R.has_classification = true;
      // Thresholds evenly spaced in the score (in [0, 1] for probabilities).
      const double slo = logit ? 0 : lo, shi = logit ? 1 : hi;
      for (int t = 0; t <= 20; ++t) {
        auto q = stats::classify_at(signal_sum, background, transform(slo + (shi - slo) * t / 20.0));
        q.threshold = to_score(q.threshold);
        R.table.push_back(q);
      }
      R.confusion = stats::classify_at(signal_sum, background, transform(c.threshold));
      R.confusion.threshold = to_score(R.confusion.threshold);
    }
  }

  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    double lumi = std::numeric_limits<double>::quiet_NaN();
    if (features)
      for (const auto& a : features->header().attributes)
        if (a.name == "luminosity_ifb")
          if (const auto* d = std::get_if<double>(&a.value)) lumi = *d;

    // ---- JSON
    std::string j = "{\n";
    j += fmt::format("  \"format\": {}, \"version\": {},\n", json::quote(kSignificanceFormat), kSignificanceFormatVersion);
    j += fmt::format("  \"scores_file\": {}, \"features_file\": {}, \"score_column\": {},\n", json::quote(c.scores),
                     json::quote(c.features), json::quote(column_name));
    j += fmt::format("  \"split\": {}, \"metric\": {}, \"bkg_uncertainty\": {}, \"min_background\": {}, "
                     "\"min_mc_events\": {}, \"lumi_ifb\": {},\n",
                     json::quote(c.split), json::quote(stats::to_string(c.scan.metric)), c.scan.bkg_uncertainty,
                     c.scan.min_background, c.scan.min_mc_events, json::number_or_null(lumi));
    j += fmt::format("  \"bins\": {{\"n\": {}, \"lo\": {}, \"hi\": {}, \"variable\": {}}},\n", c.bins, lo, hi,
                     json::quote(logit ? "logit" : "score"));
    j += fmt::format("  \"cuts\": {},\n", json::quote(cuts.text()));
    j += "  \"channels\": [\n";
    for (std::size_t ch = 0; ch < C; ++ch) {
      const ChannelResult& R = results[ch];
      j += fmt::format("    {{\"name\": {}, \"selection\": {},\n", json::quote(R.channel->name),
                       json::quote(R.channel->selection.text()));
      j += fmt::format("     \"background\": {{\"total\": {}, \"total_error\": {}, \"samples\": [",
                       json::number_or_null(R.background), json::number_or_null(R.background_error));
      for (std::size_t i = 0; i < backgrounds.size(); ++i) {
        const std::size_t s = backgrounds[i];
        j += fmt::format("{}{{\"name\": {}, \"process\": {}, \"total\": {}, \"raw\": {}}}", i ? ", " : "",
                         json::quote(samples[s].name), json::quote(samples[s].process),
                         json::number_or_null(R.sample_total[s]), R.sample_raw[s]);
      }
      j += "]},\n";
      if (R.has_data) j += fmt::format("     \"data\": {{\"total\": {}}},\n", json::number_or_null(R.data));
      j += "     \"signals\": [\n";
      for (std::size_t i = 0; i < R.signals.size(); ++i) {
        const SignalResult& sr = R.signals[i];
        const auto& info = samples[sr.sample];
        j += fmt::format("       {{\"name\": {}, \"parameters\": {}, \"total\": {}, \"raw\": {}, \"auc\": {}, ",
                         json::quote(info.name), parameters_json(info), json::number_or_null(sr.total), sr.raw,
                         json::number_or_null(sr.auc));
        if (sr.scan.has_best()) {
          const std::size_t bi = sr.scan.best;
          const double s = sr.scan.s[bi], bk = sr.scan.b[bi];
          j += fmt::format("\"best\": {{\"cut\": {}, \"s\": {}, \"b\": {}, \"s_error\": {}, \"b_error\": {}, \"z\": {}, "
                           "\"s_over_sqrt_b\": {}, \"ams\": {}}}, ",
                           json::number_or_null(sr.scan.cut[bi]), json::number_or_null(s), json::number_or_null(bk),
                           json::number_or_null(sr.scan.s_error[bi]), json::number_or_null(sr.scan.b_error[bi]),
                           json::number_or_null(sr.scan.z[bi]), json::number_or_null(stats::s_over_sqrt_b(s, bk)),
                           json::number_or_null(stats::ams(s, bk)));
        } else {
          j += "\"best\": null, ";
        }
        j += fmt::format("\"binned_z\": {}, \"cut_and_count\": {{\"before\": {}, \"after\": {}, \"z\": {}}}}}{}\n",
                         json::number_or_null(sr.binned_z), json::number_or_null(sr.cc_before),
                         json::number_or_null(sr.cc_after), json::number_or_null(sr.cc_z),
                         i + 1 < R.signals.size() ? "," : "");
      }
      j += "     ],\n";
      if (R.has_classification) {
        j += "     \"thresholds\": [";
        for (std::size_t t = 0; t < R.table.size(); ++t) {
          const auto& p = R.table[t];
          j += fmt::format("{}{{\"threshold\": {}, \"precision\": {}, \"recall\": {}, \"f1\": {}, \"accuracy\": {}}}",
                           t ? ",\n                     " : "", json::number_or_null(p.threshold),
                           json::number_or_null(p.precision), json::number_or_null(p.recall),
                           json::number_or_null(p.f1), json::number_or_null(p.accuracy));
        }
        j += "],\n";
        const auto& q = R.confusion;
        j += fmt::format("     \"confusion\": {{\"threshold\": {}, \"true_positive\": {}, \"false_positive\": {}, "
                         "\"true_negative\": {}, \"false_negative\": {}}},\n",
                         json::number_or_null(q.threshold), json::number_or_null(q.true_positive),
                         json::number_or_null(q.false_positive), json::number_or_null(q.true_negative),
                         json::number_or_null(q.false_negative));
      }
      j += fmt::format("     \"cut_and_count\": {{\"cuts\": {}, \"background\": {{\"before\": {}, \"after\": {}, "
                       "\"after_error\": {}, \"samples\": [",
                       json::quote(cuts.text()), json::number_or_null(R.cc_bkg_before),
                       json::number_or_null(R.cc_bkg_after), json::number_or_null(R.cc_bkg_after_error));
      for (std::size_t i = 0; i < backgrounds.size(); ++i) {
        const std::size_t s = backgrounds[i];
        j += fmt::format("{}{{\"name\": {}, \"process\": {}, \"before\": {}, \"after\": {}}}", i ? ", " : "",
                         json::quote(samples[s].name), json::quote(samples[s].process),
                         json::number_or_null(R.cc_sample_before[s]), json::number_or_null(R.cc_sample_after[s]));
      }
      j += "]}";
      if (R.has_data) {
        double before = 0, after = 0;
        for (const auto s : data) before += R.cc_sample_before[s], after += R.cc_sample_after[s];
        j += fmt::format(", \"data\": {{\"before\": {}, \"after\": {}}}", json::number_or_null(before),
                         json::number_or_null(after));
      }
      j += "}\n";
      j += fmt::format("    }}{}\n", ch + 1 < C ? "," : "");
    }
    j += "  ],\n";
    j += fmt::format("  \"fill_seconds\": {}, \"ranks\": {}\n}}\n", json::number_or_null(fill_seconds), comm.size());

    // ---- HDF5: histograms, scan curves and ROC for plots
    Archive a;
    std::vector<double> score_edges;
    for (const double e : hist.edges()) score_edges.push_back(to_score(e));
    a.doubles["edges"] = score_edges;  // in score units (not uniform when binned in the logit)
    a.doubles["binned_edges"] = hist.edges();
    a.strings["binning"] = logit ? "logit of the score" : "score";
    a.strings["score_column"] = column_name;
    a.strings["split"] = c.split;
    for (std::size_t ch = 0; ch < C; ++ch) {
      const std::string base = "channels/" + channels[ch].name + "/";
      a.strings[base + "selection"] = channels[ch].selection.text();
      for (std::size_t s = 0; s < S; ++s) {
        const Histogram h = scaled(hist.histogram(ch * S + s), factor[s]);
        a.doubles[base + "histograms/" + samples[s].name + "/sum_w"] = h.values();
        a.doubles[base + "histograms/" + samples[s].name + "/sum_w2"] = h.variances();
        // Scores outside [lo, hi) (a probability of exactly 1 is one): [underflow, overflow].
        a.doubles[base + "histograms/" + samples[s].name + "/flow_w"] = {h.underflow(), h.overflow()};
      }
      for (const auto& sr : results[ch].signals) {
        const std::string sb = base + "scan/" + samples[sr.sample].name + "/";
        a.doubles[sb + "cut"] = sr.scan.cut, a.doubles[sb + "s"] = sr.scan.s, a.doubles[sb + "b"] = sr.scan.b;
        a.doubles[sb + "z"] = sr.scan.z;
        if (!sr.has_roc) continue;
        const std::string rb = base + "roc/" + samples[sr.sample].name + "/";
        std::vector<double> t, es, eb;
        for (const auto& p : sr.roc.points) {
          t.push_back(p.threshold), es.push_back(p.signal_efficiency), eb.push_back(p.background_efficiency);
        }
        a.doubles[rb + "threshold"] = t, a.doubles[rb + "signal_efficiency"] = es;
        a.doubles[rb + "background_efficiency"] = eb;
      }
    }
    io::write_archive(output_h5, a, kSignificanceFormat, kSignificanceFormatVersion);
    json::write_text_atomically(c.output, j);

    // ---- stdout
    std::string out;
    for (std::size_t ch = 0; ch < C; ++ch) {
      const ChannelResult& R = results[ch];
      out += fmt::format("\nchannel {} ({}): background {:.4g} +- {:.2g}{}  [{} split, scaled to all events]\n",
                         R.channel->name, R.channel->selection.text().empty() ? "all events" : R.channel->selection.text(),
                         R.background, R.background_error,
                         R.has_data ? fmt::format(", data {:.0f}", R.data) : std::string(), c.split);
      if (!cuts.conditions.empty())
        out += fmt::format("  cut-and-count ({}): background {:.4g} -> {:.4g} +- {:.2g}\n", cuts.text(),
                           R.cc_bkg_before, R.cc_bkg_after, R.cc_bkg_after_error);
      std::vector<const SignalResult*> order;
      for (const auto& sr : R.signals) order.push_back(&sr);
      // A cut close to 1 printed as 1 - 1e-05 (4 significant digits would say "1").
      const auto cut_text = [](double cut) {
        return cut > 0.999 && cut < 1 ? fmt::format("1-{:.2g}", 1 - cut) : fmt::format("{:.4g}", cut);
      };
      const auto z_of = [](const SignalResult* sr) {
        return sr->scan.has_best() ? sr->scan.z[sr->scan.best] : -1.0;
      };
      std::stable_sort(order.begin(), order.end(), [&](auto* a1, auto* a2) { return z_of(a1) > z_of(a2); });
      out += fmt::format("  {:<34} {:>10} {:>8} {:>10} {:>10} {:>7} {:>7} {:>7} {:>10} {:>7}\n", "signal", "S", "AUC",
                         "best cut", "s", "b", "Z", "Z_bin", "s (c&c)", "Z c&c");
      for (std::size_t i = 0; i < std::min(order.size(), c.print_top); ++i) {
        const SignalResult& sr = *order[i];
        const bool best = sr.scan.has_best();
        out += fmt::format("  {:<34} {:>10.4g} {:>8.4f} {:>10} {:>10} {:>7} {:>7} {:>7.3f} {:>10.4g} {:>7}\n",
                           samples[sr.sample].name, sr.total, sr.auc,
                           best ? cut_text(sr.scan.cut[sr.scan.best]) : "-",
                           best ? fmt::format("{:.4g}", sr.scan.s[sr.scan.best]) : "-",
                           best ? fmt::format("{:.4g}", sr.scan.b[sr.scan.best]) : "-",
                           best ? fmt::format("{:.3f}", sr.scan.z[sr.scan.best]) : "-", sr.binned_z, sr.cc_after,
                           std::isfinite(sr.cc_z) ? fmt::format("{:.3f}", sr.cc_z) : "-");
      }
      if (order.size() > c.print_top)
        out += fmt::format("  ... {} more signals in {}\n", order.size() - c.print_top, c.output);
      if (R.has_classification)
        out += fmt::format("  at score >= {:.3g}: precision {:.4f}, recall {:.4f}, F1 {:.4f}, accuracy {:.4f}\n",
                           R.confusion.threshold, R.confusion.precision, R.confusion.recall, R.confusion.f1,
                           R.confusion.accuracy);
    }
    std::cout << out << std::flush;
  });
  log::info("wrote {} and {} ({} channels, {} signals, metric {})", c.output, output_h5, C, signals.size(),
            stats::to_string(c.scan.metric));
  return 0;
}

void add_significance_options(po::options_description& d) {
  const SignificanceConfig c;
  const stats::ScanOptions s;
  d.add_options()
      ("scores", po::value<std::string>()->default_value(""), "score file from bsmhunt predict")
      ("features", po::value<std::string>()->default_value(""),
       "the feature file the scores were predicted from (needed by --channels and --cuts)")
      ("output,o", po::value<std::string>()->default_value(""), "result (JSON); histograms and curves go to --output-h5")
      ("output-h5", po::value<std::string>()->default_value(""), "HDF5 result (default: OUTPUT with .h5 for .json)")
      ("score-column", po::value<std::string>()->default_value(""), "score to cut on (default: the first column)")
      ("signal", po::value<std::string>()->default_value("all"),
       "signal samples to scan: all, or comma-separated glob patterns (e.g. zp_DH_HDS_*)")
      ("metric", po::value<std::string>()->default_value("asimov"), "asimov | s_over_sqrt_b | ams (b_reg = 10)")
      ("bkg-uncertainty", double_value(s.bkg_uncertainty),
       "relative background uncertainty R (sigma_b = R b) in the Asimov Z")
      ("min-background", double_value(s.min_background),
       "a cut counts only with at least this much background (weighted events)")
      ("min-mc-events", double_value(s.min_mc_events),
       "... from at least this many effective MC events (b^2 / sum w^2)")
      ("split", po::value<std::string>()->default_value(c.split),
       "events counted: test | validation | train | all (scaled per sample to all events)")
      ("bins", po::value<std::size_t>()->default_value(c.bins), "score bins (cut positions)")
      ("transform", po::value<std::string>()->default_value(c.transform),
       "bin the score in: logit (ln p/(1-p): cuts close to p = 1), none, or auto (logit for probabilities)")
      ("range", po::value<std::string>()->default_value(c.range),
       "range LO,HI of the binned variable, or auto ([-20, 20] for the logit, min..max of the score otherwise)")
      ("channels", po::value<std::string>()->default_value(c.channels),
       "channels 'NAME: SELECTION; ...', e.g. 'ee: channel_flag == 0; mumu: channel_flag == 1' (default: one, all)")
      ("cuts", po::value<std::string>()->default_value(c.cuts),
       "cut-and-count selection, e.g. 'met_significance > 10 && mt_llmet > 160 && n_bjets == 0'")
      ("threshold", double_value(c.threshold), "score threshold of the confusion matrix")
      ("combination-bins", po::value<std::size_t>()->default_value(c.combination_bins),
       "at most this many score bins in the binned combination")
      ("print-top", po::value<std::size_t>()->default_value(c.print_top), "signals per channel in the printed table")
      ("chunk-rows", po::value<uint64_t>()->default_value(c.chunk_rows), "rows per rank per read")
      ("block-rows", po::value<uint64_t>()->default_value(c.block_rows),
       "histogram weights are summed in double over blocks of this many rows, then exactly; ranks own whole blocks "
       "(the result is the same on any rank count for one value)")
      ("overwrite", po::value<bool>()->default_value(false)->implicit_value(true), "replace existing outputs");
}

int run_significance_command(const po::variables_map& vm, const dist::Communicator& comm) {
  SignificanceConfig c;
  c.scores = get<std::string>(vm, "scores");
  c.features = get<std::string>(vm, "features");
  c.output = get<std::string>(vm, "output");
  c.output_h5 = get<std::string>(vm, "output-h5");
  c.score_column = get<std::string>(vm, "score-column");
  for (const auto& p : split(get<std::string>(vm, "signal"), ','))
    if (!trim(p).empty() && trim(p) != "all") c.signals.push_back(trim(p));
  c.scan.metric = stats::parse_metric(get<std::string>(vm, "metric"));
  c.scan.bkg_uncertainty = get<double>(vm, "bkg-uncertainty");
  c.scan.min_background = get<double>(vm, "min-background");
  c.scan.min_mc_events = get<double>(vm, "min-mc-events");
  c.split = get<std::string>(vm, "split");
  c.bins = get<std::size_t>(vm, "bins");
  c.range = get<std::string>(vm, "range");
  c.transform = get<std::string>(vm, "transform");
  c.channels = get<std::string>(vm, "channels");
  c.cuts = get<std::string>(vm, "cuts");
  c.threshold = get<double>(vm, "threshold");
  c.combination_bins = get<std::size_t>(vm, "combination-bins");
  c.print_top = get<std::size_t>(vm, "print-top");
  c.chunk_rows = std::max<uint64_t>(1, get<uint64_t>(vm, "chunk-rows"));
  c.block_rows = get<uint64_t>(vm, "block-rows");
  if (c.block_rows == 0) throw InputError("--block-rows must be >= 1");
  c.overwrite = get<bool>(vm, "overwrite");
  return run_significance(c, comm);
}

}  // namespace bsmhunt::pipeline
