// bsmhunt efficiencies: counts of events above thresholds on a score per sample (and
// after a selection), summed exactly over the ranks, then the classification tables
// and the sensitivity gain on rank 0.
#include "bsmhunt/pipeline/FeatureCommon.hpp"
#include "bsmhunt/pipeline/Efficiencies.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/ExactSum.hpp"
#include "bsmhunt/core/Json.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/dist/WorkItems.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/physics/features/Selection.hpp"

namespace bsmhunt::pipeline {

namespace {

constexpr std::size_t kTableThresholds = 21;  // 0, 0.05, ..., 1 (the study's Table 2)

// Per sample: events and weights in the counted splits, all of them and above each
// threshold, without and with the selection; raw entries of all splits.
struct Tally {
  std::size_t thresholds = 0;
  std::vector<uint64_t> n, n_above;       // [sample][selected], [sample][selected][threshold]
  std::vector<ExactSum> w, w_above;
  std::vector<uint64_t> all_entries;      // [sample], every split
  Tally(std::size_t samples, std::size_t k)
      : thresholds(k), n(samples * 2), n_above(samples * 2 * k), w(samples * 2), w_above(samples * 2 * k),
        all_entries(samples) {}
  void reduce(const dist::Communicator& comm) {
    comm.sum_in_place(n), comm.sum_in_place(n_above), comm.sum_in_place(all_entries);
    w = comm.sum(w), w_above = comm.sum(w_above);
  }
};

struct Inputs {
  std::unique_ptr<io::FeatureFileReader> scores, features;
  std::size_t column = 0;
};

std::vector<double> thresholds_of(const EfficienciesConfig& c) {
  std::vector<double> t;
  for (std::size_t k = 0; k < kTableThresholds; ++k) t.push_back(double(k) / double(kTableThresholds - 1));
  if (c.threshold != "auto") t.push_back(parse_numbers(c.threshold, "--threshold").front());
  return t;
}

Inputs open_inputs(const dist::Communicator& comm, const EfficienciesConfig& c) {
  Inputs in;
  in.scores = std::make_unique<io::FeatureFileReader>(comm, c.scores, io::RowFileKind::scores);
  const auto& names = in.scores->header().feature_names;
  require_score_column_choice(in.scores->header(), c.score_column, c.scores);
  if (!c.score_column.empty()) {
    const auto it = std::find(names.begin(), names.end(), c.score_column);
    if (it == names.end())
      throw InputError(fmt::format("{}: no score column '{}' (columns: {}){}", c.scores, c.score_column,
                                   join(names, ", "), did_you_mean(c.score_column, names)));
    in.column = std::size_t(it - names.begin());
  }
  if (c.features.empty()) {
    if (!trim(c.selection).empty()) throw InputError("--selection cuts on features: give --features FILE");
    return in;
  }
  in.features = std::make_unique<io::FeatureFileReader>(comm, c.features);
  if (in.features->rows() != in.scores->rows() ||
      in.features->header().samples.size() != in.scores->header().samples.size())
    throw InputError(fmt::format("{} does not belong to {}: {} rows in the score file, {} in the feature file",
                                 c.scores, c.features, in.scores->rows(), in.features->rows()));
  return in;
}

// Group of every sample (-1: none), checking that every pattern matches some sample.
std::vector<int> group_of_samples(const EfficienciesConfig& c, const std::vector<physics::SampleInfo>& samples) {
  std::vector<int> group(samples.size(), -1);
  std::vector<std::string> names;
  for (const auto& s : samples) names.push_back(s.name);
  for (std::size_t g = 0; g < c.groups.size(); ++g)
    for (const auto& p : c.groups[g].patterns) {
      bool any = false;
      for (std::size_t s = 0; s < samples.size(); ++s)
        if (glob_match(p, samples[s].name)) {
          any = true;
          if (group[s] < 0) group[s] = int(g);
        }
      if (!any)
        throw InputError(fmt::format("--groups {}: '{}' matches no sample of {}{}", c.groups[g].name, p, c.scores,
                                     did_you_mean(p, names)));
    }
  return group;
}

std::string slice_of(const physics::SampleInfo& s, const std::string& parameter) {
  if (parameter.empty()) return "all";
  const auto* v = s.parameter(parameter);
  if (!v) return "none";
  if (const auto* d = std::get_if<double>(v)) return fmt::format("{:g}", *d);
  if (const auto* i = std::get_if<int64_t>(v)) return fmt::format("{}", *i);
  return std::get<std::string>(*v);
}

Tally count(const dist::Communicator& comm, const EfficienciesConfig& c, const Inputs& in,
            const std::vector<double>& thresholds) {
  const auto& samples = in.scores->header().samples;
  const std::size_t S = samples.size(), K = thresholds.size(), F = in.scores->header().feature_names.size();
  const physics::Selection selection = physics::parse_selection(
      c.selection, in.features ? in.features->header().feature_names : std::vector<std::string>{}, "--selection");
  const std::vector<bool> counted = {c.split == "all" || c.split == "train", c.split == "all" || c.split == "validation",
                                     c.split == "all" || c.split == "test"};
  Tally t(S, K);
  const dist::Range mine = dist::partition(in.scores->rows(), comm.size(), comm.rank());
  const uint64_t chunk = 1 << 18;
  io::FeatureBlock sblock, fblock;
  for (uint64_t k = 0; k < dist::read_rounds(comm, mine, chunk); ++k) {
    const dist::Range part = dist::read_chunk(mine, k, chunk);
    dist::collectively(comm, [&] {
      in.scores->read(part.begin, part.end, sblock);
      if (in.features) in.features->read(part.begin, part.end, fblock);
      for (std::size_t r = 0; r < sblock.size(); ++r) {
        const auto s = std::size_t(sblock.sample_index[r]);
        if (s >= S) throw InputError(fmt::format("{}: row {} has sample_index {}", c.scores, part.begin + r, s));
        if (in.features && fblock.event_number[r] != sblock.event_number[r])
          throw InputError(fmt::format("{} does not belong to {}: row {} is event {} in one, {} in the other",
                                       c.scores, c.features, part.begin + r, sblock.event_number[r],
                                       fblock.event_number[r]));
        ++t.all_entries[s];
        if (!counted[std::size_t(sblock.split[r])]) continue;
        const double score = sblock.features[r * F + in.column], w = sblock.weight[r];
        if (std::isnan(score))
          throw InputError(fmt::format("{}: the score of row {} is NaN", c.scores, part.begin + r));
        const bool selected = !in.features || selection.passes(fblock.features.data() + r * fblock.n_features);
        for (std::size_t sel = 0; sel < (selected ? 2u : 1u); ++sel) {
          const std::size_t i = s * 2 + sel;
          ++t.n[i], t.w[i].add(w);
          for (std::size_t q = 0; q < K; ++q)
            if (score >= thresholds[q]) ++t.n_above[i * K + q], t.w_above[i * K + q].add(w);
        }
      }
    });
  }
  t.reduce(comm);
  return t;
}

// Sums over the samples of a group (and optionally a slice), selected or not.
struct GroupSums {
  double n = 0, w = 0;
  std::vector<double> n_above, w_above;
};

class Tables {
 public:
  Tables(const EfficienciesConfig& c, const std::vector<physics::SampleInfo>& samples, const std::vector<int>& group,
         const Tally& t, const std::vector<double>& thresholds)
      : c_(c), samples_(samples), group_(group), t_(t), thresholds_(thresholds) {
    for (const auto& s : samples) {
      const std::string sl = slice_of(s, c.slice_parameter);
      if (std::find(slices_.begin(), slices_.end(), sl) == slices_.end()) slices_.push_back(sl);
    }
    signal_ = index_of_group(c.signal_group, "--signal-group");
    reference_background_ = index_of_group(c.reference_background, "--reference-background");
  }

  json::Value run(std::string& text);

 private:
  int index_of_group(const std::string& name, const char* option) const {
    std::vector<std::string> names;
    for (std::size_t g = 0; g < c_.groups.size(); ++g) {
      if (c_.groups[g].name == name) return int(g);
      names.push_back(c_.groups[g].name);
    }
    throw InputError(fmt::format("{} '{}' is not one of the groups ({}){}", option, name, join(names, ", "),
                                 did_you_mean(name, names)));
  }
  // Samples of group g in slice `slice` ("" = every slice), selected or not, scaled
  // (weights) from the counted splits to all events when `scale`.
  GroupSums sums(int g, const std::string& slice, bool selected, bool scale) const {
    GroupSums out;
    const std::size_t K = thresholds_.size();
    out.n_above.assign(K, 0), out.w_above.assign(K, 0);
    for (std::size_t s = 0; s < samples_.size(); ++s) {
      if (group_[s] != g || (!slice.empty() && slice_of(samples_[s], c_.slice_parameter) != slice)) continue;
      const std::size_t i = s * 2 + (selected ? 1 : 0);
      const double f = scale && t_.n[s * 2] > 0 ? double(t_.all_entries[s]) / double(t_.n[s * 2]) : 1.0;
      out.n += double(t_.n[i]), out.w += f * t_.w[i].value();
      for (std::size_t q = 0; q < K; ++q)
        out.n_above[q] += double(t_.n_above[i * K + q]), out.w_above[q] += f * t_.w_above[i * K + q].value();
    }
    return out;
  }
  // Fraction of the group's events classified correctly at threshold index q.
  double correct(int g, const GroupSums& s, std::size_t q, bool weighted) const {
    const double total = weighted ? s.w : s.n, above = weighted ? s.w_above[q] : s.n_above[q];
    if (!(total != 0)) return std::nan("");
    return g == signal_ ? above / total : 1 - above / total;
  }

  const EfficienciesConfig& c_;
  const std::vector<physics::SampleInfo>& samples_;
  const std::vector<int>& group_;
  const Tally& t_;
  const std::vector<double>& thresholds_;
  std::vector<std::string> slices_;
  int signal_ = 0, reference_background_ = 0;
};

json::Value Tables::run(std::string& text) {
  using json::number_or_null;
  // Table 2: precision and recall of the signal against the reference background in
  // the reference slice, event counts, at every threshold of the table.
  const GroupSums sig = sums(signal_, c_.reference_slice, false, false);
  const GroupSums bkg = sums(reference_background_, c_.reference_slice, false, false);
  json::Value table = json::Value::array();
  std::size_t best = 0;
  double best_product = -1;
  text += fmt::format("\nthreshold table: {} against {}{} ({} split, events)\n{:>9} {:>9} {:>9} {:>9} {:>9}\n",
                      c_.signal_group, c_.reference_background,
                      c_.reference_slice.empty() ? std::string() : ", slice " + c_.reference_slice, c_.split,
                      "threshold", "precision", "recall", "(P+R)/2", "P x R");
  for (std::size_t q = 0; q < kTableThresholds; ++q) {
    const double tp = sig.n_above[q], fp = bkg.n_above[q], fn = sig.n - tp;
    const double precision = tp + fp > 0 ? tp / (tp + fp) : std::nan(""), recall = tp + fn > 0 ? tp / (tp + fn) : std::nan("");
    const double product = precision * recall;
    if (std::isfinite(product) && product > best_product) best_product = product, best = q;
    table.push_back({{"threshold", thresholds_[q]},
                     {"precision", number_or_null(precision)},
                     {"recall", number_or_null(recall)},
                     {"mean", number_or_null(0.5 * (precision + recall))},
                     {"product", number_or_null(product)},
                     {"true_positive", tp},
                     {"false_positive", fp}});
    text += fmt::format("{:>9.2f} {:>9.4f} {:>9.4f} {:>9.4f} {:>9.4f}\n", thresholds_[q], precision, recall,
                        0.5 * (precision + recall), product);
  }
  const std::size_t chosen = c_.threshold == "auto" ? best : thresholds_.size() - 1;
  const double threshold = thresholds_[chosen];
  text += fmt::format("threshold {:.2f} ({})\n", threshold, c_.threshold == "auto" ? "largest P x R" : "given");

  // Table 3: per slice, the fraction of each group classified correctly (events).
  json::Value per_slice = json::Value::object();
  text += fmt::format("\nfraction classified correctly at {:.2f} ({} split, events)\n{:<16}", threshold, c_.split, "slice");
  for (const auto& g : c_.groups) text += fmt::format(" {:>12}", g.name);
  text += "\n";
  for (const auto& slice : slices_) {
    json::Value row = json::Value::object();
    text += fmt::format("{:<16}", slice);
    for (std::size_t g = 0; g < c_.groups.size(); ++g) {
      const GroupSums s = sums(int(g), slice, false, false);
      const double f = correct(int(g), s, chosen, false);
      row[c_.groups[g].name] = {{"events", s.n}, {"correct", number_or_null(f)}};
      text += s.n > 0 ? fmt::format(" {:>12.4f}", f) : fmt::format(" {:>12}", "-");
    }
    text += "\n";
    per_slice[slice] = row;
  }

  // Table 4: after the selection, slices combined by their weights (cross sections).
  json::Value selected = json::Value::object();
  text += fmt::format("\nafter the selection '{}', slices combined by weight\n{:<16} {:>12} {:>14} {:>10}\n",
                      c_.selection, "group", "events", "yield", "correct");
  std::vector<GroupSums> group_selected;
  for (std::size_t g = 0; g < c_.groups.size(); ++g) {
    group_selected.push_back(sums(int(g), "", true, true));
    const GroupSums& s = group_selected.back();
    const double f = correct(int(g), s, chosen, true);
    selected[c_.groups[g].name] = {{"events", s.n},
                                   {"yield", number_or_null(s.w)},
                                   {"correct", number_or_null(f)},
                                   {"passing", number_or_null(s.w > 0 ? s.w_above[chosen] / s.w : std::nan(""))}};
    text += fmt::format("{:<16} {:>12.0f} {:>14.5g} {:>10.4f}\n", c_.groups[g].name, s.n, s.w, f);
  }

  // The gain in S / sqrt(B) with the given yields: the classifier's pass fraction
  // applies to the scaled groups, every other yield stays.
  json::Value gain_given = nullptr;
  if (!c_.yields.empty()) {
    double s = 0, b = 0, s_after = 0, b_after = 0;
    json::Value used = json::Value::object();
    for (const auto& [name, yield] : c_.yields) {
      double eff = 1;
      if (std::find(c_.scaled.begin(), c_.scaled.end(), name) != c_.scaled.end()) {
        const GroupSums& gs = group_selected[std::size_t(index_of_group(name, "--scaled"))];
        eff = gs.w > 0 ? gs.w_above[chosen] / gs.w : std::nan("");
      }
      used[name] = {{"yield", yield}, {"efficiency", number_or_null(eff)}};
      if (name == c_.signal_group) s = yield, s_after = yield * eff;
      else b += yield, b_after += yield * eff;
    }
    const double gain = (s_after / std::sqrt(b_after)) / (s / std::sqrt(b));
    gain_given = {{"groups", used}, {"s", s}, {"b", b}, {"s_after", number_or_null(s_after)},
                  {"b_after", number_or_null(b_after)}, {"gain", number_or_null(gain)}};
    text += fmt::format("\nS/sqrt(B) with the given yields: {:.6g}/sqrt({:.6g}) -> {:.6g}/sqrt({:.6g}): gain {:.4f}\n",
                        s, b, s_after, b_after, gain);
  }
  // The gain with this file's own weighted yields after the selection, every group
  // (all but the signal are background) scaled by its own pass fraction.
  double s = 0, b = 0, s_after = 0, b_after = 0;
  for (std::size_t g = 0; g < c_.groups.size(); ++g) {
    const GroupSums& gs = group_selected[g];
    (int(g) == signal_ ? s : b) += gs.w;
    (int(g) == signal_ ? s_after : b_after) += gs.w_above[chosen];
  }
  const double gain_own = (s_after / std::sqrt(b_after)) / (s / std::sqrt(b));
  text += fmt::format("S/sqrt(B) with this file's yields: {:.6g}/sqrt({:.6g}) -> {:.6g}/sqrt({:.6g}): gain {:.4f}\n",
                      s, b, s_after, b_after, gain_own);
  return {{"format", "bsmhunt.efficiencies"},
          {"version", 1},
          {"scores_file", c_.scores},
          {"features_file", c_.features},
          {"split", c_.split},
          {"signal_group", c_.signal_group},
          {"reference_background", c_.reference_background},
          {"reference_slice", c_.reference_slice},
          {"selection", c_.selection},
          {"threshold_table", table},
          {"threshold", threshold},
          {"threshold_choice", c_.threshold == "auto" ? "largest precision x recall" : "given"},
          {"per_slice", per_slice},
          {"selected", selected},
          {"gain_given_yields", gain_given},
          {"gain_own_yields", {{"s", s}, {"b", b}, {"s_after", s_after}, {"b_after", b_after},
                               {"gain", number_or_null(gain_own)}}}};
}

}  // namespace

int run_efficiencies(const dist::Communicator& comm, const EfficienciesConfig& c) {
  io::check_output_path(comm, c.output, c.overwrite, "--output");
  const Inputs in = open_inputs(comm, c);
  const auto& samples = in.scores->header().samples;
  const std::vector<int> group = group_of_samples(c, samples);
  const std::vector<double> thresholds = thresholds_of(c);
  const Tally t = count(comm, c, in, thresholds);
  dist::collectively(comm, [&] {
    Tables tables(c, samples, group, t, thresholds);  // checks the group names on every rank
    std::string text;
    const json::Value doc = tables.run(text);
    if (!comm.is_root()) return;
    json::write(c.output, doc);
    std::cout << text << std::flush;
  });
  log::info("wrote {}", c.output);
  return 0;
}

}  // namespace bsmhunt::pipeline
