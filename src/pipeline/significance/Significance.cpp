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

#include "../Parametrisation.hpp"
#include "SignificanceResult.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/ExactSum.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/dist/WorkItems.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/pipeline/FeatureCommon.hpp"
#include "bsmhunt/stats/Significance.hpp"

namespace bsmhunt::pipeline {

namespace {

using physics::Role;
using stats::Histogram;

// The score file, the score column, and the feature file the channels and cuts read.
struct Inputs {
  std::unique_ptr<io::FeatureFileReader> scores, features;
  std::size_t column = 0, K = 0;
  std::string column_name;
  std::vector<std::string> feature_names;
  // Parametrised score files: each signal is judged by the score at its own point.
  // slot_columns[u] is the score column of slot u; signal_slot[s] the slot of signal
  // sample s (backgrounds and data are filled in every slot). One slot otherwise.
  std::vector<std::size_t> slot_columns;
  std::vector<int> signal_slot;
};

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

// Values passed to one call of the histogram fill (bounds the buffers at ~100 MB).
constexpr std::size_t kFillPiece = std::size_t(1) << 22;

// What the histogram pass collected, reduced over the ranks.
struct Filled {
  stats::HistogramSet hist;
  Yields yields;                 // per (channel, sample): ch * S + s
  std::vector<double> factor;    // per sample: all entries / counted entries
  std::vector<int64_t> group;    // histogram group of (channel, sample, slot), -1 for none
  std::size_t slots = 1;
  double seconds = 0;
  int64_t group_of(std::size_t S, std::size_t ch, std::size_t s, std::size_t u) const {
    return group[(ch * S + s) * slots + u];
  }
  // --cut-folds K >= 2: per (channel, fold) the background of every slot and each
  // scanned signal (by its ordinal), weights already scaled from the counted splits to
  // all events; the cut is chosen on K-1 folds and evaluated on the K-th.
  std::size_t folds = 0, scanned = 0;
  std::unique_ptr<stats::HistogramSet> fold_hist;
  std::size_t fold_background(std::size_t ch, std::size_t k, std::size_t u) const {
    return (ch * folds + k) * (slots + scanned) + u;
  }
  std::size_t fold_signal(std::size_t ch, std::size_t k, std::size_t ordinal) const {
    return (ch * folds + k) * (slots + scanned) + slots + ordinal;
  }
};

// Per sample: all entries / entries of the counted splits (a pass over the sample and
// split columns only), the factor that scales counted events to all events.
std::vector<double> counted_factors(const dist::Communicator& comm, const SignificanceConfig& c, const Inputs& in,
                                    const dist::Range& mine, const std::vector<bool>& in_split) {
  const std::size_t S = in.scores->header().samples.size();
  std::vector<uint64_t> all(S, 0), counted(S, 0);
  std::vector<int32_t> sample;
  std::vector<int8_t> split;
  for (uint64_t k = 0; k < dist::read_rounds(comm, mine, c.chunk_rows); ++k) {
    const dist::Range chunk = dist::read_chunk(mine, k, c.chunk_rows);
    dist::collectively(comm, [&] {
      in.scores->read_membership(chunk.begin, chunk.end, sample, split);
      for (std::size_t i = 0; i < sample.size(); ++i) {
        const auto s = std::size_t(sample[i]);
        if (s >= S) continue;  // the histogram pass names the row
        ++all[s];
        counted[s] += in_split[std::size_t(split[i])] ? 1 : 0;
      }
    });
  }
  comm.sum_in_place(all), comm.sum_in_place(counted);
  std::vector<double> factor(S, 0.0);
  for (std::size_t s = 0; s < S; ++s) factor[s] = counted[s] > 0 ? double(all[s]) / double(counted[s]) : 0.0;
  return factor;
}

// Histogram groups: a signal in its own slot, backgrounds and data in every slot.
// With one slot this is ch * S + s.
std::vector<int64_t> histogram_groups(const Inputs& in, const std::vector<physics::SampleInfo>& samples,
                                      std::size_t channels, std::size_t& count) {
  const std::size_t S = samples.size(), U = in.slot_columns.size();
  std::vector<int64_t> group(channels * S * U, -1);
  count = 0;
  for (std::size_t ch = 0; ch < channels; ++ch)
    for (std::size_t s = 0; s < S; ++s)
      for (std::size_t u = 0; u < U; ++u)
        if (samples[s].role != Role::signal || in.signal_slot[s] == int(u))
          group[(ch * S + s) * U + u] = int64_t(count++);
  return group;
}

Histogram scaled(const Histogram& h, double factor) {
  std::vector<ExactSum> w(h.sum_w().size()), w2(h.sum_w2().size());
  for (std::size_t i = 0; i < w.size(); ++i) {
    w[i].add(h.sum_w()[i].value() * factor);
    w2[i].add(h.sum_w2()[i].value() * factor * factor);
  }
  return Histogram::from_sums(h.edges(), std::move(w), std::move(w2));
}

Inputs open_inputs(const dist::Communicator& comm, const SignificanceConfig& c) {
  Inputs in;
  in.scores = std::make_unique<io::FeatureFileReader>(comm, c.scores, io::RowFileKind::scores);
  const auto& score_names = in.scores->header().feature_names;
  if (!c.score_column.empty()) {
    const auto it = std::find(score_names.begin(), score_names.end(), c.score_column);
    if (it == score_names.end())
      throw InputError(fmt::format("{}: no score column '{}' (columns: {}){}", c.scores, c.score_column,
                                   join(score_names, ", "), did_you_mean(c.score_column, score_names)));
    in.column = std::size_t(it - score_names.begin());
  }
  in.column_name = score_names.at(in.column);
  in.K = score_names.size();
  in.slot_columns = {in.column};
  in.signal_slot.assign(in.scores->header().samples.size(), 0);
  std::string parametrised_in;
  for (const auto& a : in.scores->header().attributes)
    if (a.name == "parametrised_in")
      if (const auto* t = std::get_if<std::string>(&a.value)) parametrised_in = *t;
  if (!parametrised_in.empty() && c.score_column.empty()) {
    // Each signal sample's own point: the column whose label its attributes give.
    const auto names = split_list(parametrised_in);
    in.slot_columns.clear();
    in.column_name = kOwnPointColumn;
    const auto& samples = in.scores->header().samples;
    for (std::size_t s = 0; s < samples.size(); ++s) {
      in.signal_slot[s] = -1;
      if (samples[s].role != Role::signal) continue;
      bool wanted = c.signals.empty();  // only the scanned signals get a slot (as --signal selects)
      for (const auto& p : c.signals) wanted = wanted || p == "all" || glob_match(p, samples[s].name);
      if (!wanted) continue;
      const auto label = point_label_of(samples[s], names);
      const auto it = label ? std::find(score_names.begin(), score_names.end(), point_column_name(*label))
                            : score_names.end();
      if (it == score_names.end()) continue;  // scored at no point of its own: not scanned (listed below)
      const auto column = std::size_t(it - score_names.begin());
      const auto slot = std::find(in.slot_columns.begin(), in.slot_columns.end(), column);
      in.signal_slot[s] = int(slot - in.slot_columns.begin());
      if (slot == in.slot_columns.end()) in.slot_columns.push_back(column);
    }
    if (in.slot_columns.empty())
      throw InputError(fmt::format("{}: parametrised in {}, but no signal sample's point has a score column (columns: "
                                   "{}); predict --at the signal points, or choose one with --score-column",
                                   c.scores, parametrised_in, join(score_names, ", ")));
    in.column = in.slot_columns[0];
  }
  const bool need_features = !trim(c.channels).empty() || !trim(c.cuts).empty();
  if (need_features && c.features.empty())
    throw InputError("--channels and --cuts select on features: give --features FILE (the file the scores were "
                     "predicted from)");
  if (c.features.empty()) return in;
  in.features = std::make_unique<io::FeatureFileReader>(comm, c.features);
  in.feature_names = in.features->header().feature_names;
  const auto& samples = in.scores->header().samples;
  const auto& fs = in.features->header().samples;
  if (fs.size() != samples.size())
    throw InputError(fmt::format("{} does not belong to {}: {} samples in the score file, {} in the feature file",
                                 c.scores, c.features, samples.size(), fs.size()));
  for (std::size_t i = 0; i < fs.size(); ++i)
    if (fs[i].name != samples[i].name)
      throw InputError(fmt::format("{} does not belong to {}: sample {} is '{}' in the score file, '{}' in the "
                                   "feature file",
                                   c.scores, c.features, i, samples[i].name, fs[i].name));
  if (in.features->rows() != in.scores->rows())
    throw InputError(fmt::format("{} does not belong to {}: {} rows in the score file, {} in the feature file",
                                 c.scores, c.features, in.scores->rows(), in.features->rows()));
  return in;
}

// Background, data and the signal samples the --signal patterns select.
void classify_samples(const SignificanceConfig& c, const std::vector<physics::SampleInfo>& samples,
                      std::vector<std::size_t>& signals, SignificanceResult& r) {
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].role == Role::background) r.backgrounds.push_back(i);
    else if (samples[i].role == Role::data) r.data.push_back(i);
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
  if (r.backgrounds.empty()) throw InputError(fmt::format("{}: no background sample to compare with", c.scores));
}

// Probabilities live in [0, 1] (binned in their logit by default); anything else
// (an anomaly score) is binned between its extremes over the counted rows, found
// in a first pass.
ScoreBinning choose_binning(const dist::Communicator& comm, const SignificanceConfig& c, const Inputs& in,
                            const dist::Range& mine, const std::vector<bool>& in_split) {
  const bool probability = in.column_name == "score" || in.column_name.rfind("p_class", 0) == 0 ||
                           in.column_name.rfind("score[", 0) == 0;
  ScoreBinning b;
  b.logit = c.transform == "logit" || (c.transform == "auto" && probability);
  b.lo = b.logit ? -20 : 0, b.hi = b.logit ? 20 : 1;
  if (c.range != "auto") {
    std::tie(b.lo, b.hi) = parse_range(c.range);
    return b;
  }
  if (b.logit || probability) return b;
  double mn = std::numeric_limits<double>::infinity(), mx = -mn;
  io::FeatureBlock block;
  for (uint64_t k = 0; k < dist::read_rounds(comm, mine, c.chunk_rows); ++k) {
    const dist::Range chunk = dist::read_chunk(mine, k, c.chunk_rows);
    dist::collectively(comm, [&] { in.scores->read(chunk.begin, chunk.end, block); });
    for (std::size_t r = 0; r < block.size(); ++r) {
      if (!in_split[std::size_t(block.split[r])]) continue;
      for (const std::size_t column : in.slot_columns) {
        const double v = block.features[r * in.K + column];
        if (std::isfinite(v)) mn = std::min(mn, v), mx = std::max(mx, v);
      }
    }
  }
  mn = comm.min(mn), mx = comm.max(mx);
  if (!(mn < mx)) mn = std::isfinite(mn) ? mn - 0.5 : 0.0, mx = std::isfinite(mx) ? mx + 0.5 : 1.0;
  b.lo = mn, b.hi = std::nextafter(mx, std::numeric_limits<double>::infinity());  // the maximum is in range
  return b;
}

// The histogram pass: per (channel, sample) score histograms and cut-and-count
// yields of the counted splits, and the raw entries per sample of all and of the
// counted splits (their ratio scales the counted events up to all events).
Filled fill_histograms(const dist::Communicator& comm, const SignificanceConfig& c, const Inputs& in,
                       const SignificanceResult& r, const dist::Range& mine, const std::vector<bool>& in_split,
                       const std::vector<int>& ordinal) {
  const auto& samples = r.samples;
  const std::size_t S = samples.size(), C = r.channels.size(), U = in.slot_columns.size();
  std::size_t groups = 0;
  auto group_map = histogram_groups(in, samples, C, groups);
  Filled f{stats::HistogramSet(groups, c.bins, r.binning.lo, r.binning.hi, c.block_rows), Yields(C * S), {},
           std::move(group_map), U, 0, 0, 0, nullptr};
  // Events of the counted splits stand for all events of their sample, exactly as
  // the split fractions are realised (the split is a hash of the event); known before
  // the fill, which the fold histograms need.
  f.factor = counted_factors(comm, c, in, mine, in_split);
  // The folds of the unbiased significance (--cut-folds).
  std::vector<uint64_t> stream(S);
  for (std::size_t s = 0; s < S; ++s) stream[s] = stable_hash(samples[s].name.c_str());
  if (c.cut_folds >= 2) {
    f.folds = c.cut_folds;
    f.scanned = std::size_t(std::count_if(ordinal.begin(), ordinal.end(), [](int o) { return o >= 0; }));
    f.fold_hist = std::make_unique<stats::HistogramSet>(C * f.folds * (U + f.scanned), c.bins, r.binning.lo,
                                                        r.binning.hi, c.block_rows);
  }
  std::vector<float> fx;
  std::vector<double> fw;
  std::vector<uint32_t> fgroup;
  std::vector<uint64_t> frow;
  io::FeatureBlock sblock, fblock;
  std::vector<float> x;
  std::vector<double> w;
  std::vector<uint32_t> group;
  std::vector<uint64_t> row_number;
  Progress progress("significance", in.scores->rows(), "scores", comm.is_root());
  for (uint64_t k = 0; k < dist::read_rounds(comm, mine, c.chunk_rows); ++k) {
    const dist::Range chunk = dist::read_chunk(mine, k, c.chunk_rows);
    const uint64_t b = chunk.begin;
    dist::collectively(comm, [&] {
      in.scores->read(chunk.begin, chunk.end, sblock);
      if (in.features) {
        in.features->read(chunk.begin, chunk.end, fblock);
        for (std::size_t i = 0; i < sblock.size(); ++i)
          if (fblock.event_number[i] != sblock.event_number[i] || fblock.sample_index[i] != sblock.sample_index[i])
            throw InputError(fmt::format("{} does not belong to {}: row {} is event {} of sample {} in the score file, "
                                         "event {} of sample {} in the feature file",
                                         c.scores, c.features, b + i, sblock.event_number[i], sblock.sample_index[i],
                                         fblock.event_number[i], fblock.sample_index[i]));
      }
      const std::size_t F = in.features ? fblock.n_features : 0;
      for (std::size_t ch = 0; ch < C; ++ch) {
        x.clear(), w.clear(), group.clear(), row_number.clear();
        for (std::size_t i = 0; i < sblock.size(); ++i) {
          const auto s = std::size_t(sblock.sample_index[i]);
          if (s >= S) throw InputError(fmt::format("{}: row {} has sample_index {} of {} samples", c.scores, b + i, s, S));
          if (!in_split[std::size_t(sblock.split[i])]) continue;
          const float* row = in.features ? fblock.features.data() + i * F : nullptr;
          if (row && !r.channels[ch].selection.passes(row)) continue;
          const bool background = samples[s].role == Role::background;
          const std::size_t fold = f.folds ? fold_of(sblock.event_number[i], stream[s], 0, uint32_t(f.folds)) : 0;
          for (std::size_t u = 0; u < U; ++u) {
            const int64_t hg = f.group_of(S, ch, s, u);
            if (hg < 0) continue;
            const float v = sblock.features[i * in.K + in.slot_columns[u]];
            if (std::isnan(v))
              throw InputError(fmt::format("{}: score '{}' of row {} (event {} of sample {}) is NaN", c.scores,
                                           in.scores->header().feature_names[in.slot_columns[u]], b + i,
                                           sblock.event_number[i], samples[s].name));
            x.push_back(float(r.binning.binned(v))), w.push_back(sblock.weight[i]), group.push_back(uint32_t(hg));
            row_number.push_back(b + i);
            if (f.folds && (background || (ordinal[s] >= 0 && int(u) == in.signal_slot[s]))) {
              fx.push_back(x.back()), fw.push_back(sblock.weight[i] * f.factor[s]), frow.push_back(b + i);
              fgroup.push_back(uint32_t(background ? f.fold_background(ch, fold, u)
                                                   : f.fold_signal(ch, fold, std::size_t(ordinal[s]))));
            }
          }
          // Many slots (a parametrised model's points) multiply the values per row:
          // fill in pieces (the block fill does not depend on how calls cut the rows).
          if (x.size() >= kFillPiece) {
            f.hist.fill(x, w, group, row_number);
            x.clear(), w.clear(), group.clear(), row_number.clear();
          }
          if (fx.size() >= kFillPiece) {
            f.fold_hist->fill(fx, fw, fgroup, frow);
            fx.clear(), fw.clear(), fgroup.clear(), frow.clear();
          }
          const std::size_t g = ch * S + s;
          f.yields.before[g].add(sblock.weight[i]);
          f.yields.before_n[g].add(ExactSum::from_raw(1));
          if (!row || r.cuts.passes(row)) {
            f.yields.after[g].add(sblock.weight[i]);
            f.yields.after_w2[g].add(sblock.weight[i] * sblock.weight[i]);
            f.yields.after_n[g].add(ExactSum::from_raw(1));
          }
        }
        f.hist.fill(x, w, group, row_number);
        if (f.folds) {
          f.fold_hist->fill(fx, fw, fgroup, frow);
          fx.clear(), fw.clear(), fgroup.clear(), frow.clear();
        }
      }
    });
    progress.update(comm.sum(uint64_t(chunk.end - mine.begin)));
  }
  progress.finish();
  f.seconds = progress.elapsed_seconds();
  f.hist.reduce(comm);
  if (f.fold_hist) f.fold_hist->reduce(comm);
  f.yields.reduce(comm);
  return f;
}

// The unbiased significance of one signal: for each fold k the best cut of the other
// K-1 folds (their sums scaled by K/(K-1)), evaluated on fold k (scaled by K). The
// result is the Z of the folds' mean s and b, not the mean of the folds' own Z: Z is
// steep at small b, and a fold whose background above the cut cancels to ~0 (one
// positive and one negative MC weight) had Z 3.2 where the others had 0.1-0.2.
void evaluate_folds(const SignificanceConfig& c, const Filled& f, std::size_t ch, std::size_t slot,
                    std::size_t ordinal, const ScoreBinning& binning, SignalResult& sr) {
  const std::size_t K = f.folds;
  const auto& set = *f.fold_hist;
  std::vector<double> z;
  double s_sum = 0, b_sum = 0;
  std::size_t with_cut = 0;
  for (std::size_t k = 0; k < K; ++k) {
    Histogram other_s(c.bins, binning.lo, binning.hi), other_b(c.bins, binning.lo, binning.hi);
    for (std::size_t j = 0; j < K; ++j)
      if (j != k)
        other_s.merge(set.histogram(f.fold_signal(ch, j, ordinal))),
            other_b.merge(set.histogram(f.fold_background(ch, j, slot)));
    const double up = double(K) / double(K - 1);
    const stats::CutScan scan = stats::scan_cuts(scaled(other_s, up), scaled(other_b, up), c.scan);
    double cut = std::numeric_limits<double>::quiet_NaN(), s_k = cut, b_k = cut, z_k = cut;
    if (scan.has_best()) {
      const auto s_above = scaled(set.histogram(f.fold_signal(ch, k, ordinal)), double(K)).cumulative_above();
      const auto b_above = scaled(set.histogram(f.fold_background(ch, k, slot)), double(K)).cumulative_above();
      cut = binning.score(scan.cut[scan.best]), s_k = s_above[scan.best], b_k = b_above[scan.best];
      if (b_k > 0) z_k = stats::significance(s_k, b_k, c.scan);
      s_sum += s_k, b_sum += b_k, ++with_cut;
    }
    sr.fold_cut.push_back(cut), sr.fold_s.push_back(s_k), sr.fold_b.push_back(b_k), sr.fold_z.push_back(z_k);
    if (std::isfinite(z_k)) z.push_back(z_k);
  }
  const double s_mean = with_cut ? s_sum / double(with_cut) : 0, b_mean = with_cut ? b_sum / double(with_cut) : 0;
  if (b_mean <= 0) return;
  sr.z_folds = stats::significance(s_mean, b_mean, c.scan);
  // The spread of the folds' own Z says how far a single fold's cut can be trusted.
  double mean = 0, var = 0;
  for (const double v : z) mean += v / double(z.size());
  for (const double v : z) var += (v - mean) * (v - mean) / double(z.size() > 1 ? z.size() - 1 : 1);
  sr.z_folds_std = z.empty() ? std::numeric_limits<double>::quiet_NaN() : std::sqrt(var);
}

SignalResult evaluate_signal(const SignificanceConfig& c, const Filled& f, const ChannelResult& R,
                             const Histogram& h, const Histogram& background, std::size_t s, std::size_t g,
                             const ScoreBinning& binning, std::size_t ch, std::size_t slot, int ordinal) {
  SignalResult sr;
  sr.sample = s;
  sr.total = h.total();
  sr.raw = R.sample_raw[s];
  sr.scan = stats::scan_cuts(h, background, c.scan);
  for (auto& cut : sr.scan.cut) cut = binning.score(cut);
  sr.binned_z = stats::binned_significance(h, background, c.combination_bins, c.scan);
  if (sr.total > 0 && R.background > 0) {
    sr.roc = stats::roc(h, background);
    sr.auc = sr.roc.auc;
    sr.has_roc = true;
  }
  if (f.folds >= 2 && ordinal >= 0) evaluate_folds(c, f, ch, slot, std::size_t(ordinal), binning, sr);
  sr.cc_before = f.yields.before[g].value() * f.factor[s];
  sr.cc_after = f.yields.after[g].value() * f.factor[s];
  const double bb = R.cc_bkg_after, bv = R.cc_bkg_after_error * R.cc_bkg_after_error;
  if (bb > 0 && bb >= c.scan.min_background && (bv <= 0 || bb * bb / bv >= c.scan.min_mc_events))
    sr.cc_z = stats::significance(sr.cc_after, bb, c.scan);
  return sr;
}

// One channel: the background and data totals, each signal's scan, ROC and
// cut-and-count, and the classification table of all signals together.
ChannelResult evaluate_channel(const SignificanceConfig& c, const SignificanceResult& r, const Filled& f,
                               std::size_t ch, const std::vector<std::size_t>& signals, const std::vector<int>& ordinal) {
  const std::size_t S = r.samples.size();
  const ScoreBinning& bn = r.binning;
  ChannelResult R;
  R.channel = &r.channels[ch];
  R.sample_total.resize(S), R.sample_raw.resize(S), R.cc_sample_before.resize(S), R.cc_sample_after.resize(S);
  Histogram background(c.bins, bn.lo, bn.hi), data_hist(c.bins, bn.lo, bn.hi), signal_sum(c.bins, bn.lo, bn.hi);
  // Per slot (score column) the background histogram; slot 0's is `background`.
  std::vector<Histogram> slot_background(f.slots, Histogram(c.bins, bn.lo, bn.hi));
  ExactSum bkg_after_w2;
  for (std::size_t s = 0; s < S; ++s) {
    const std::size_t g = ch * S + s;
    const std::size_t u = r.samples[s].role == Role::signal ? std::size_t(std::max(0, r.slot_of_signal(s))) : 0;
    if (f.group_of(S, ch, s, u) < 0) continue;  // a signal scored at no point of its own
    const Histogram h = r.histogram(ch, s, u);
    R.sample_total[s] = h.total();
    R.sample_raw[s] = double(f.hist.entries(std::size_t(f.group_of(S, ch, s, u))));
    if (r.samples[s].role == Role::background)
      for (std::size_t v = 1; v < f.slots; ++v) slot_background[v].merge(r.histogram(ch, s, v));
    R.cc_sample_before[s] = f.yields.before[g].value() * f.factor[s];
    R.cc_sample_after[s] = f.yields.after[g].value() * f.factor[s];
    if (r.samples[s].role == Role::background) {
      background.merge(h);
      bkg_after_w2.add(f.yields.after_w2[g].value() * f.factor[s] * f.factor[s]);
      R.cc_bkg_before += R.cc_sample_before[s];
      R.cc_bkg_after += R.cc_sample_after[s];
    } else if (r.samples[s].role == Role::data) {
      data_hist.merge(h);
      R.has_data = true;
    }
  }
  slot_background[0] = background;
  R.cc_bkg_after_error = std::sqrt(std::max(0.0, bkg_after_w2.value()));
  R.background = background.total();
  double variance = background.underflow_variance() + background.overflow_variance();
  for (const double x2 : background.variances()) variance += x2;
  R.background_error = std::sqrt(std::max(0.0, variance));
  R.data = data_hist.total();
  for (const std::size_t s : signals) {
    if (R.sample_raw[s] == 0) continue;  // a signal of another channel (e.g. an ee model in mumu)
    const auto u = std::size_t(r.slot_of_signal(s));
    const Histogram h = r.histogram(ch, s, u);
    signal_sum.merge(h);
    R.signals.push_back(evaluate_signal(c, f, R, h, slot_background[u], s, ch * S + s, bn, ch, u, ordinal[s]));
  }
  // The classification table needs one score for all signals: not for own-point scores.
  if (f.slots == 1 && signal_sum.total() > 0 && R.background > 0) {
    R.has_classification = true;
    // Thresholds evenly spaced in the score (in [0, 1] for probabilities).
    const double slo = bn.logit ? 0 : bn.lo, shi = bn.logit ? 1 : bn.hi;
    for (int t = 0; t <= 20; ++t) {
      auto q = stats::classify_at(signal_sum, background, bn.binned(slo + (shi - slo) * t / 20.0));
      q.threshold = bn.score(q.threshold);
      R.table.push_back(q);
    }
    R.confusion = stats::classify_at(signal_sum, background, bn.binned(c.threshold));
    R.confusion.threshold = bn.score(R.confusion.threshold);
  }
  return R;
}

double luminosity_of(const Inputs& in) {
  return in.features ? luminosity_ifb_of(in.features->header()) : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

double ScoreBinning::binned(double v) const {
  if (!logit) return v;
  if (v <= 0) return -std::numeric_limits<double>::infinity();
  if (v >= 1) return std::numeric_limits<double>::infinity();
  return std::log(v / (1 - v));
}

double ScoreBinning::score(double x) const { return logit ? 1 / (1 + std::exp(-x)) : x; }

int run_significance(const dist::Communicator& comm, const SignificanceConfig& c) {
  io::check_output_path(comm, c.output, c.overwrite, "--output");
  io::check_output_path(comm, c.output_h5, c.overwrite, "--output-h5");
  const Inputs in = open_inputs(comm, c);
  SignificanceResult r;
  r.config = &c;
  r.column_name = in.column_name;
  r.samples = in.scores->header().samples;
  r.channels = physics::parse_channels(c.channels, in.feature_names, "--channels");
  r.cuts = physics::parse_selection(c.cuts, in.feature_names, "--cuts");
  r.lumi_ifb = luminosity_of(in);
  r.ranks = comm.size();
  std::vector<std::size_t> signals;
  classify_samples(c, r.samples, signals, r);
  r.data_lumi_ifb = physics::data_luminosity_ifb(r.samples, r.lumi_ifb);
  r.signal_slot = in.signal_slot;
  for (std::size_t u = 0; u < in.slot_columns.size(); ++u)
    r.slot_columns.push_back(in.scores->header().feature_names[in.slot_columns[u]]);
  // Own-point scores: a selected signal without a column of its own cannot be scanned.
  std::vector<std::string> unscored;
  std::erase_if(signals, [&](std::size_t s) {
    if (in.signal_slot[s] >= 0) return false;
    unscored.push_back(r.samples[s].name);
    return true;
  });
  if (!unscored.empty()) {
    log::warn("{}: {} signal samples have no score column at their own point and are not scanned: {}", c.scores,
              unscored.size(), join(unscored, ", "));
    if (signals.empty()) throw InputError(fmt::format("{}: no signal sample left to scan", c.scores));
  }

  // Ranks own whole blocks of rows: the fast histogram fill is then the same on any rank count.
  const std::vector<bool> in_split = split_mask(c.split);
  const dist::Range mine = stats::HistogramSet::rows_of_rank(in.scores->rows(), c.block_rows, comm);
  r.binning = choose_binning(comm, c, in, mine, in_split);
  std::vector<int> ordinal(r.samples.size(), -1);  // scanned signals, in order
  for (std::size_t i = 0; i < signals.size(); ++i) ordinal[signals[i]] = int(i);
  const Filled f = fill_histograms(comm, c, in, r, mine, in_split, ordinal);
  r.fill_seconds = f.seconds;
  r.bin_edges = f.hist.edges();
  r.histogram = [&f, S = r.samples.size()](std::size_t ch, std::size_t s, std::size_t u) {
    return scaled(f.hist.histogram(std::size_t(f.group_of(S, ch, s, u))), f.factor[s]);
  };
  for (std::size_t ch = 0; ch < r.channels.size(); ++ch)
    r.results.push_back(evaluate_channel(c, r, f, ch, signals, ordinal));

  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    write_significance_h5(c.output_h5, r);
    write_significance_json(c.output, r);
    std::cout << significance_table(r) << std::flush;
  });
  log::info("wrote {} and {} ({} channels, {} signals, metric {})", c.output, c.output_h5, r.channels.size(),
            signals.size(), stats::to_string(c.scan.metric));
  return 0;
}

}  // namespace bsmhunt::pipeline
