#include "../Build.hpp"
#include "bsmhunt/pipeline/Import.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/dist/WorkItems.hpp"
#include "bsmhunt/stats/RunningStats.hpp"
#include "../PythonTool.hpp"

namespace bsmhunt::pipeline {
namespace fs = std::filesystem;

namespace {

using io::ColumnKind;
using io::TableColumn;
using io::TableColumnInfo;
using io::TableReader;


// ---------------------------------------------------------------- columns

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// "auto": the column named `default_name` (exactly, else in any case), or "" if
// none; "none" or "": no column; otherwise the named column, which must exist.
std::string resolve_column(const TableReader& t, const std::string& value, const char* option,
                           const char* default_name) {
  if (value.empty() || value == "none") return "";
  if (value == "auto") {
    if (t.find(default_name)) return default_name;
    for (const auto& c : t.columns())
      if (iequals(c.name, default_name)) return c.name;
    return "";
  }
  t.column(value, option);
  return value;
}

void require_kind(const TableReader& t, const std::string& name, const char* option, bool allow_text,
                  bool allow_bool = true) {
  if (name.empty()) return;
  const TableColumnInfo& c = t.column(name, option);
  if (c.kind == ColumnKind::unsupported)
    throw InputError(
        fmt::format("{}: {} column '{}' ({}) cannot be read: {}", t.path().string(), option, name, c.dtype, c.problem));
  if (c.kind == ColumnKind::text && !allow_text)
    throw InputError(
        fmt::format("{}: {} column '{}' holds text ({}), expected numbers", t.path().string(), option, name, c.dtype));
  if (c.kind == ColumnKind::boolean && !allow_bool)
    throw InputError(fmt::format("{}: {} column '{}' holds bools, expected numbers", t.path().string(), option, name));
}

// Label values: strings compared exactly, numbers by value.
struct LabelMap {
  std::vector<std::string> signal_text, background_text;
  std::vector<double> signal_number, background_number;

  LabelMap(const std::vector<std::string>& signal, const std::vector<std::string>& background) {
    for (const auto& s : signal) add(s, signal_text, signal_number);
    for (const auto& b : background) add(b, background_text, background_number);
    for (const auto& s : signal_text)
      if (std::find(background_text.begin(), background_text.end(), s) != background_text.end())
        throw InputError(fmt::format("'{}' is in both --signal-labels and --background-labels", s));
  }
  static void add(const std::string& s, std::vector<std::string>& text, std::vector<double>& numbers) {
    text.push_back(s);
    try {
      std::size_t used = 0;
      const double v = std::stod(s, &used);
      if (used == s.size()) numbers.push_back(v);
    } catch (const std::exception&) {
    }
  }
  // 1 signal, 0 background, -1 neither.
  int of_text(const std::string& v) const {
    if (std::find(signal_text.begin(), signal_text.end(), v) != signal_text.end()) return 1;
    if (std::find(background_text.begin(), background_text.end(), v) != background_text.end()) return 0;
    return -1;
  }
  int of_number(double v) const {
    if (std::find(signal_number.begin(), signal_number.end(), v) != signal_number.end()) return 1;
    if (std::find(background_number.begin(), background_number.end(), v) != background_number.end()) return 0;
    return -1;
  }
  std::string describe() const {
    return fmt::format("signal labels: {}; background labels: {}", join(signal_text, ", "),
                       join(background_text, ", "));
  }
};

bool valid_sample_name(const std::string& s) {
  return !s.empty() && s != "." && s.find('/') == std::string::npos && s.find('\n') == std::string::npos;
}

// ---------------------------------------------------------------- the import

// Per-sample tallies of the validation pass; counts are exact in double below 2^53.
enum Tally { n_all, n_finite, n_kept, w_all, w_finite, w_kept, n_signal_label, n_background_label, kTallies };
using Tallies = std::array<double, kTallies>;

class Importer {
 public:
  Importer(const dist::Communicator& comm, const ImportConfig& cfg)
      : comm_(comm),
        cfg_(cfg),
        table_(comm, cfg.input, cfg.format, cfg.key),
        labels_(cfg.signal_labels, cfg.background_labels) {
    resolve_columns();
    items_ = dist::plan_work({table_.rows()}, cfg_.block_rows);
  }

  ImportResult run();

 private:
  // The columns read for one item and where each role sits in them.
  struct Item {
    std::vector<TableColumn> cols;
    uint64_t first = 0, count = 0;
  };
  // What one row is.
  struct Row {
    std::string sample;  // sample name
    int label = 0;       // from the label column (-1: labels come from the sample's role)
    double weight = 1;
    uint64_t event = 0;
    bool finite = true, any_missing = false;
  };

  void resolve_columns();
  Item read_item(const dist::WorkItem& w) const;
  // Throws InputError naming the column and row for invalid values (and for
  // non-finite ones unless --on-nonfinite drop).
  void evaluate(const Item& it, uint64_t i, Row& row) const;
  std::string cell_place(const std::string& column, uint64_t row) const {
    return fmt::format("{}: column '{}', {}", table_.path().string(), column, table_.where(row));
  }
  struct ItemTally;
  // Runs `each(item)` on this rank's item of every round, then `round_end()` on every rank.
  template <typename Each, typename RoundEnd>
  void for_each_round(const char* what, Each&& each, RoundEnd&& round_end);
  void tally_item(const Item& it, ItemTally& local, stats::RunningStats& present);
  void merge_round_tallies(const ItemTally& local);
  void validation_pass();
  void assign_roles();
  void choose_features(ImportResult& result);
  io::FeatureFileHeader header() const;
  io::Cutflow cutflow(ImportResult& result) const;
  void write_pass(io::FeatureFileWriter& writer);

  const dist::Communicator& comm_;
  const ImportConfig& cfg_;
  TableReader table_;
  LabelMap labels_;
  std::vector<dist::WorkItem> items_;

  std::string label_col_, weight_col_, mass_col_, event_col_, sample_col_;
  bool labels_from_samples_ = false;
  std::vector<std::string> candidates_;  // feature columns before drop-feature
  std::vector<std::string> read_names_;  // what read_item reads: candidates_, then the special columns
  int label_at_ = -1, weight_at_ = -1, mass_at_ = -1, event_at_ = -1, sample_at_ = -1;

  // Results of the validation pass.
  std::vector<std::string> samples_;  // in order of first appearance (or background, signal)
  std::map<std::string, std::size_t> sample_index_;
  std::vector<Tallies> tallies_;
  std::vector<uint64_t> missing_count_;  // per candidate feature
  stats::RunningStats present_train_;           // per candidate: present training values (for mean imputation)
  std::vector<physics::Role> roles_;
  std::vector<std::size_t> kept_;  // indices into candidates_ of the features written
  std::vector<float> fill_;        // per kept feature: the value replacing a missing one
  io::FeatureStatistics stats_;
};

void Importer::resolve_columns() {
  const auto& t = table_;
  const std::string file = t.path().string();
  if (t.rows() == 0) throw InputError(fmt::format("{}: the table has no rows", file));
  if (!cfg_.signal_samples.empty() && cfg_.label_column != "auto" && cfg_.label_column != "none" &&
      !cfg_.label_column.empty())
    throw InputError("--signal-samples and --label-column both define the labels: give one of them");
  if (!cfg_.signal_samples.empty() && cfg_.sample_column.empty())
    throw InputError("--signal-samples needs --sample-column (the column naming each row's sample)");
  label_col_ = resolve_column(t, cfg_.label_column, "--label-column", "label");
  weight_col_ = resolve_column(t, cfg_.weight_column, "--weight-column", "weight");
  mass_col_ = resolve_column(t, cfg_.mass_column, "--mass-column", "mass");
  event_col_ = resolve_column(t, cfg_.event_column, "--event-column", "event_number");
  sample_col_ = resolve_column(t, cfg_.sample_column, "--sample-column", "sample");
  labels_from_samples_ = !cfg_.signal_samples.empty();
  if (label_col_.empty() && !labels_from_samples_) {
    std::vector<std::string> names;
    for (const auto& c : t.columns()) names.push_back(c.name);
    throw InputError(
        fmt::format("{}: no label column{}: name it with --label-column, or give --sample-column and "
                    "--signal-samples; the columns are: {}",
                    file, cfg_.label_column == "auto" ? " (none is called 'label')" : "", join(names, ", ")));
  }
  if (!labels_from_samples_) require_kind(t, label_col_, "--label-column", true);
  require_kind(t, weight_col_, "--weight-column", false);
  require_kind(t, mass_col_, "--mass-column", false);
  require_kind(t, event_col_, "--event-column", false, false);
  require_kind(t, sample_col_, "--sample-column", true);
  // One role per column (the mass may also be a feature).
  const std::vector<std::pair<const char*, std::string>> special = {{"--label-column", label_col_},
                                                                    {"--weight-column", weight_col_},
                                                                    {"--mass-column", mass_col_},
                                                                    {"--event-column", event_col_},
                                                                    {"--sample-column", sample_col_}};
  for (std::size_t a = 0; a < special.size(); ++a)
    for (std::size_t b = a + 1; b < special.size(); ++b)
      if (!special[a].second.empty() && special[a].second == special[b].second)
        throw InputError(fmt::format("column '{}' is given as both {} and {}", special[a].second, special[a].first,
                                     special[b].first));
  auto special_role = [&](const std::string& name, bool mass_too) -> const char* {
    for (const auto& [option, col] : special)
      if (!col.empty() && col == name && (mass_too || col != mass_col_)) return option;
    return nullptr;
  };

  std::set<std::string> dropped;
  for (const auto& d : cfg_.drop_columns) {
    t.column(d, "--drop-columns");
    dropped.insert(d);
  }
  if (!cfg_.features.empty()) {
    std::set<std::string> seen;
    for (const auto& f : cfg_.features) {
      t.column(f, "--features");
      if (!seen.insert(f).second) throw InputError(fmt::format("--features: '{}' is listed twice", f));
      if (const char* role = special_role(f, false))
        throw InputError(fmt::format("--features: '{}' is the {}; it cannot be a feature too", f, role));
      require_kind(t, f, "--features", false);
      if (!dropped.count(f)) candidates_.push_back(f);
    }
  } else {
    std::vector<std::string> skipped;
    for (const auto& c : t.columns()) {
      if (special_role(c.name, true) || dropped.count(c.name)) continue;
      if (!c.numeric()) {
        skipped.push_back(fmt::format("{} ({})", c.name, c.dtype));
        continue;
      }
      candidates_.push_back(c.name);
    }
    if (!skipped.empty()) log::info("import: not numeric, so not features: {}", join(skipped, ", "));
  }
  if (candidates_.empty())
    throw InputError(
        fmt::format("{}: no feature columns left (numeric columns other than the label, weight, mass, "
                    "event and sample columns, minus --drop-columns)",
                    file));
  read_names_ = candidates_;
  auto add = [&](const std::string& name, int& at) {
    if (name.empty()) return;
    at = int(read_names_.size());
    read_names_.push_back(name);
  };
  if (!labels_from_samples_) add(label_col_, label_at_);
  add(weight_col_, weight_at_);
  add(mass_col_, mass_at_);
  add(event_col_, event_at_);
  add(sample_col_, sample_at_);
  log::info("import: {} ({} format{}), {} rows; label {}, weight {}, {} features", file, io::to_string(t.format()),
            t.key().empty() || t.key() == "/" ? "" : ", key " + t.key(), t.rows(),
            labels_from_samples_ ? "from --signal-samples" : "'" + label_col_ + "'",
            weight_col_.empty() ? "1" : "'" + weight_col_ + "'", candidates_.size());
}

Importer::Item Importer::read_item(const dist::WorkItem& w) const {
  Item it;
  it.first = w.first;
  it.count = w.count;
  it.cols = table_.read(read_names_, w.first, w.first + w.count);
  return it;
}

void Importer::evaluate(const Item& it, uint64_t i, Row& row) const {
  const uint64_t global = it.first + i;
  // Label.
  row.label = -1;
  if (label_at_ >= 0) {
    const TableColumn& c = it.cols[std::size_t(label_at_)];
    row.label = c.kind == ColumnKind::text ? labels_.of_text(c.text[i]) : labels_.of_number(c.as_double(i));
    if (row.label < 0)
      throw InputError(
          fmt::format("{}: label '{}' is neither signal nor background ({}; see --signal-labels, "
                      "--background-labels)",
                      cell_place(label_col_, global), c.as_text(i), labels_.describe()));
  }
  // Event number.
  row.event = global;
  if (event_at_ >= 0) {
    const TableColumn& c = it.cols[std::size_t(event_at_)];
    if (c.kind == ColumnKind::integer) {
      if (c.integer[i] < 0)
        throw InputError(fmt::format("{}: event number {} is negative", cell_place(event_col_, global), c.integer[i]));
      row.event = uint64_t(c.integer[i]);
    } else {
      const double v = c.real[i];
      if (!(v >= 0 && v < 18446744073709551616.0 && std::floor(v) == v))
        throw InputError(fmt::format("{}: event number {} is not a non-negative integer",
                                     cell_place(event_col_, global), c.as_text(i)));
      row.event = uint64_t(v);
    }
  }
  // Sample.
  if (sample_at_ >= 0) {
    row.sample = it.cols[std::size_t(sample_at_)].as_text(i);
    if (!valid_sample_name(row.sample))
      throw InputError(fmt::format("{}: '{}' cannot name a sample (empty, '.', or holding '/')",
                                   cell_place(sample_col_, global), row.sample));
  } else {
    row.sample = row.label == 1 ? "signal" : "background";
  }
  // Finite values: features, weight, mass.
  row.finite = true;
  auto check_finite = [&](int at, const std::string& name) {
    const TableColumn& c = it.cols[std::size_t(at)];
    if (c.kind != ColumnKind::floating || std::isfinite(c.real[i])) return;
    if (!cfg_.drop_nonfinite)
      throw InputError(fmt::format("{}: value {} is not finite (pass --on-nonfinite drop to drop such rows)",
                                   cell_place(name, global), c.real[i]));
    row.finite = false;
  };
  for (std::size_t f = 0; f < candidates_.size() && row.finite; ++f) check_finite(int(f), candidates_[f]);
  if (weight_at_ >= 0 && row.finite) check_finite(weight_at_, weight_col_);
  if (mass_at_ >= 0 && row.finite) check_finite(mass_at_, mass_col_);
  row.weight = 1.0;
  if (weight_at_ >= 0) {
    row.weight = it.cols[std::size_t(weight_at_)].as_double(i);
    if (!std::isfinite(row.weight)) row.weight = 0.0;  // only on dropped rows
  }
  // Missing features.
  row.any_missing = false;
  if (cfg_.missing_value && row.finite)
    for (std::size_t f = 0; f < candidates_.size(); ++f)
      if (it.cols[f].as_double(i) == *cfg_.missing_value) {
        row.any_missing = true;
        break;
      }
}

template <typename Each, typename RoundEnd>
void Importer::for_each_round(const char* what, Each&& each, RoundEnd&& round_end) {
  Progress progress(what, table_.rows(), "rows", comm_.is_root());
  uint64_t done = 0;
  for (std::size_t k = 0; k < dist::work_rounds(items_.size(), comm_.size()); ++k) {
    const dist::WorkItem* mine = dist::item_of(items_, k, comm_.rank(), comm_.size());
    dist::collectively(comm_, [&] {
      if (mine) each(read_item(*mine));
    });
    round_end();
    done += dist::round_events(items_, k, comm_.size());
    progress.update(done);
  }
  progress.finish();
}

// The samples of one item in order of appearance, with their tallies.
struct Importer::ItemTally {
  std::vector<std::string> names;
  std::map<std::string, std::size_t> index;
  std::vector<Tallies> tallies;
  Tallies& of(const std::string& sample) {
    auto [pos, fresh] = index.try_emplace(sample, names.size());
    if (fresh) names.push_back(sample), tallies.push_back(Tallies{});
    return tallies[pos->second];
  }
};

void Importer::tally_item(const Item& it, ItemTally& local, stats::RunningStats& present) {
  const std::size_t F = candidates_.size();
  Row row;
  for (uint64_t i = 0; i < it.count; ++i) {
    evaluate(it, i, row);
    Tallies& t = local.of(row.sample);
    const bool kept = row.finite && !(cfg_.padding == PaddingPolicy::drop_event && row.any_missing);
    t[n_all] += 1, t[w_all] += row.weight;
    if (row.finite) t[n_finite] += 1, t[w_finite] += row.weight;
    if (kept) t[n_kept] += 1, t[w_kept] += row.weight;
    if (row.label == 1) t[n_signal_label] += 1;
    if (row.label == 0) t[n_background_label] += 1;
    if (!row.finite) continue;
    if (cfg_.missing_value)
      for (std::size_t f = 0; f < F; ++f)
        if (it.cols[f].as_double(i) == *cfg_.missing_value) ++missing_count_[f];
    if (kept && cfg_.padding == PaddingPolicy::mean &&
        split_of(row.event, stable_hash(row.sample.c_str()), cfg_.file.seed, cfg_.file.split) == io::Split::train)
      for (std::size_t f = 0; f < F; ++f) {
        const double v = it.cols[f].as_double(i);
        if (!(cfg_.missing_value && v == *cfg_.missing_value)) present.add(f, double(it.cols[f].as_float(i)));
      }
  }
}

// Collective: the samples every rank met in this round join the list in item order,
// then the items' tallies are added in item order (bitwise the same for any rank count).
void Importer::merge_round_tallies(const ItemTally& local) {
  if (sample_at_ >= 0) {
    for (int r = 0; r < comm_.size(); ++r) {
      std::string names = r == comm_.rank() ? join(local.names, "\n") : std::string();
      comm_.broadcast(names, r);
      if (names.empty()) continue;
      for (const auto& name : split(names, '\n'))
        if (sample_index_.try_emplace(name, samples_.size()).second) samples_.push_back(name);
    }
    tallies_.resize(samples_.size(), Tallies{});
  }
  std::vector<double> mine_packed(samples_.size() * kTallies, 0.0);
  for (std::size_t s = 0; s < local.names.size(); ++s) {
    const std::size_t g = sample_index_.at(local.names[s]);
    std::copy(local.tallies[s].begin(), local.tallies[s].end(), mine_packed.begin() + std::ptrdiff_t(g * kTallies));
  }
  const std::vector<double> all = comm_.all_gather(mine_packed);
  for (std::size_t r = 0; r < std::size_t(comm_.size()); ++r)
    for (std::size_t s = 0; s < samples_.size(); ++s)
      for (std::size_t q = 0; q < kTallies; ++q) tallies_[s][q] += all[(r * samples_.size() + s) * kTallies + q];
}

void Importer::validation_pass() {
  const std::size_t F = candidates_.size();
  if (sample_at_ < 0) {
    samples_ = {"background", "signal"};
    sample_index_ = {{"background", 0}, {"signal", 1}};
    tallies_.assign(2, Tallies{});
  }
  missing_count_.assign(F, 0);
  stats::OrderedStatsMerger means(comm_, F);
  ItemTally local;
  stats::RunningStats present(F);
  for_each_round(
      "import: checking", [&](const Item& it) { tally_item(it, local, present); },
      [&] {
        merge_round_tallies(local);
        if (cfg_.padding == PaddingPolicy::mean) means.merge_round(present);
        local = ItemTally{}, present = stats::RunningStats(F);
      });
  comm_.sum_in_place(missing_count_);
  present_train_ = means.total();
}

void Importer::write_pass(io::FeatureFileWriter& writer) {
  const std::size_t F = kept_.size();
  stats::OrderedStatsMerger stats(comm_, F);
  io::FeatureBlock block;
  block.n_features = F;
  block.reserve(std::size_t(cfg_.block_rows));
  stats::RunningStats mine_stats(F);
  for_each_round(
      "import: writing",
      [&](const Item& it) {
        Row row;
        for (uint64_t i = 0; i < it.count; ++i) {
          evaluate(it, i, row);
          if (!row.finite || (cfg_.padding == PaddingPolicy::drop_event && row.any_missing)) continue;
          const std::size_t s = sample_index_.at(row.sample);
          const int label = row.label >= 0 ? row.label : (roles_[s] == physics::Role::signal ? 1 : 0);
          const io::Split split = split_of(row.event, stable_hash(row.sample.c_str()), cfg_.file.seed, cfg_.file.split);
          for (std::size_t f = 0; f < F; ++f) {
            const TableColumn& c = it.cols[kept_[f]];
            float v = c.as_float(i);
            if (cfg_.missing_value && c.as_double(i) == *cfg_.missing_value) v = fill_[f];
            block.features.push_back(v);
            if (split == io::Split::train) mine_stats.add(f, double(v));
          }
          block.weight.push_back(row.weight);
          block.label.push_back(label);
          block.sample_index.push_back(int32_t(s));
          block.event_number.push_back(row.event);
          block.mass.push_back(mass_at_ >= 0 ? it.cols[std::size_t(mass_at_)].as_float(i) : 0.0f);
          block.split.push_back(int8_t(split));
        }
      },
      [&] {
        stats.merge_round(mine_stats);
        writer.append_round(block);
        block.clear(), mine_stats = stats::RunningStats(F);
      });
  stats_ = feature_statistics(stats.total().finish());
}

void Importer::assign_roles() {
  const std::string file = table_.path().string();
  const std::size_t S = samples_.size();
  roles_.assign(S, physics::Role::background);
  if (labels_from_samples_) {
    for (const auto& name : cfg_.signal_samples) {
      const auto it = sample_index_.find(name);
      if (it == sample_index_.end())
        throw InputError(fmt::format("--signal-samples: no sample '{}' in column '{}'{}; the samples are: {}", name,
                                     sample_col_, did_you_mean(name, samples_), join(samples_, ", ")));
      roles_[it->second] = physics::Role::signal;
    }
  } else if (sample_at_ < 0) {
    roles_[1] = physics::Role::signal;
  } else {
    for (std::size_t s = 0; s < S; ++s) {
      const auto& t = tallies_[s];
      if (t[n_signal_label] > 0 && t[n_background_label] > 0)
        throw InputError(fmt::format(
            "{}: sample '{}' (column '{}') has {} signal and {} background rows by label "
            "column '{}'; every row of a sample must have the same label",
            file, samples_[s], sample_col_, uint64_t(t[n_signal_label]), uint64_t(t[n_background_label]), label_col_));
      if (t[n_signal_label] > 0) roles_[s] = physics::Role::signal;
    }
  }
}

// The features written and the values replacing missing ones.
void Importer::choose_features(ImportResult& result) {
  std::vector<std::string> missing_counts;
  for (std::size_t f = 0; f < candidates_.size(); ++f)
    if (missing_count_[f] > 0) missing_counts.push_back(fmt::format("{} {}", candidates_[f], missing_count_[f]));
  if (!missing_counts.empty())
    log::info("import: rows with a missing value ({}) per feature: {}; --padding {}", *cfg_.missing_value,
              join(missing_counts, ", "), to_string(cfg_.padding));
  for (std::size_t f = 0; f < candidates_.size(); ++f) {
    if (cfg_.padding == PaddingPolicy::drop_feature && missing_count_[f] > 0) {
      result.dropped_features.push_back(candidates_[f]);
      continue;
    }
    kept_.push_back(f);
    float fill = float(cfg_.sentinel);
    if (cfg_.padding == PaddingPolicy::keep) fill = float(*cfg_.missing_value);
    if (cfg_.padding == PaddingPolicy::mean) {
      if (present_train_.count[f] > 0) {
        fill = float(present_train_.mean[f]);
      } else {
        fill = 0.0f;
        if (missing_count_[f] > 0 && comm_.is_root())
          log::warn("import: feature {} has no present value in the training split; missing values become 0",
                    candidates_[f]);
      }
    }
    fill_.push_back(fill);
  }
  if (!result.dropped_features.empty())
    log::info("import: --padding drop-feature removes {} feature{}: {}", result.dropped_features.size(),
              result.dropped_features.size() > 1 ? "s" : "", join(result.dropped_features, ", "));
  if (kept_.empty())
    throw InputError(fmt::format("{}: every feature has missing values ({}), so --padding drop-feature leaves none",
                                 table_.path().string(), *cfg_.missing_value));
  for (auto f : kept_) result.features.push_back(candidates_[f]);
  result.samples = samples_;
}

// Features, samples and provenance.
io::FeatureFileHeader Importer::header() const {
  io::FeatureFileHeader header;
  for (auto f : kept_) {
    header.feature_names.push_back(candidates_[f]);
    header.feature_units.push_back("");
  }
  for (std::size_t s = 0; s < samples_.size(); ++s) {
    physics::SampleInfo info;
    info.name = samples_[s];
    // A table knows no physics process beyond its sample column: the sample name
    // stands for it (plots stack by process); the source is in the file attributes.
    info.process = samples_[s];
    info.role = roles_[s];
    info.sum_of_weights = tallies_[s][w_all];
    info.n_generated = uint64_t(tallies_[s][n_all]);
    info.n_events = uint64_t(tallies_[s][n_kept]);
    info.parameters = {{"source_rows", int64_t(tallies_[s][n_all])}};
    header.samples.push_back(info);
  }
  header.attributes = {
      {"description", std::string("features imported from a table by bsmhunt import: float32 of the source values "
                                  "(float64 sources rounded to nearest), weights copied as float64")},
      {"feature_set", std::string("import")},
      {"source_file", cfg_.source_description.empty() ? table_.path().string() : cfg_.source_description},
      {"source_format", cfg_.root ? std::string("root") : std::string(io::to_string(table_.format()))},
      {"source_key", cfg_.root ? cfg_.tree : table_.key()},
      {"label_column", labels_from_samples_ ? std::string() : label_col_},
      {"signal_samples", join(cfg_.signal_samples, ",")},
      {"weight_column", weight_col_},
      {"mass_column", mass_col_},
      {"event_column", event_col_},
      {"sample_column", sample_col_},
      {"missing_value", cfg_.missing_value ? physics::ParameterValue(*cfg_.missing_value)
                                           : physics::ParameterValue(std::string("none"))},
      {"padding", std::string(to_string(cfg_.padding))},
      {"sentinel", cfg_.sentinel},
      {"on_nonfinite", std::string(cfg_.drop_nonfinite ? "drop" : "error")},
      {"split_train", cfg_.file.split.train},
      {"split_validation", cfg_.file.split.validation},
      {"seed", int64_t(cfg_.file.seed)},
      {"bsmhunt_version", std::string(BSMHUNT_VERSION)},
      {"bsmhunt_build", build_id()},
  };
  if (cfg_.padding == PaddingPolicy::mean) {
    std::vector<std::string> fills;
    for (std::size_t f = 0; f < kept_.size(); ++f)
      if (missing_count_[kept_[f]] > 0) fills.push_back(fmt::format("{}={}", candidates_[kept_[f]], fill_[f]));
    header.attributes.push_back({"imputed_means", join(fills, ",")});
  }
  return header;
}

io::Cutflow Importer::cutflow(ImportResult& result) const {
  io::Cutflow cutflow;
  cutflow.cuts = {"all", "finite"};
  if (cfg_.padding == PaddingPolicy::drop_event) cutflow.cuts.push_back("no missing");
  for (std::size_t s = 0; s < samples_.size(); ++s) {
    const auto& t = tallies_[s];
    std::vector<uint64_t> raw = {uint64_t(t[n_all]), uint64_t(t[n_finite])};
    std::vector<double> weighted = {t[w_all], t[w_finite]};
    if (cfg_.padding == PaddingPolicy::drop_event) raw.push_back(uint64_t(t[n_kept])), weighted.push_back(t[w_kept]);
    cutflow.raw.push_back(raw);
    cutflow.weighted.push_back(weighted);
    result.rows_read += uint64_t(t[n_all]);
    result.dropped_nonfinite += uint64_t(t[n_all] - t[n_finite]);
    result.dropped_missing += uint64_t(t[n_finite] - t[n_kept]);
    log::info("import: sample {} ({}): {} rows, {} written, sum of weights {:.6g}", samples_[s],
              physics::to_string(roles_[s]), uint64_t(t[n_all]), uint64_t(t[n_kept]), t[w_kept]);
  }
  return cutflow;
}

ImportResult Importer::run() {
  const auto start = std::chrono::steady_clock::now();
  ImportResult result;
  validation_pass();
  assign_roles();
  choose_features(result);
  io::FeatureFileWriter writer(comm_, cfg_.output, cfg_.file.write, header());
  write_pass(writer);
  if (writer.rows() == 0)
    throw InputError(fmt::format("{}: no row is left to write (see the cutflow in the log)", table_.path().string()));
  writer.write_statistics(stats_);
  writer.write_cutflow(cutflow(result));
  result.rows_written = writer.rows();
  writer.commit();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (result.dropped_nonfinite) log::info("import: dropped {} rows with non-finite values", result.dropped_nonfinite);
  if (result.dropped_missing) log::info("import: dropped {} rows with missing features", result.dropped_missing);
  log::info("import: wrote {} ({} rows x {} features, {} samples) in {}", cfg_.output.string(), result.rows_written,
            result.features.size(), samples_.size(), human_duration(result.seconds));
  return result;
}

}  // namespace

namespace {

// --format root: each rank converts its share of the ROOT files (file i goes to rank
// i mod N) into HDF5 columns with the uproot helper, chunk by chunk; rank 0 then
// joins the parts, in the order of the files, into one table of virtual datasets.
// Returns that table; the staging directory beside the output holds it all.
fs::path stage_root_files(const dist::Communicator& comm, const ImportConfig& cfg, const StagingDirectory& staging) {
  const InteropTool tool = resolve_interop_tool(comm, cfg.python, cfg.interop_script);
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < cfg.root_files.size(); ++i)
    parts.push_back((staging.path() / fmt::format("part-{:06d}.h5", i)).string());
  const std::string errors = staging.error_file();
  // Files of uneven size per rank, then the merge on rank 0: waits that may last
  // longer than --collective-timeout on purpose.
  dist::collectively_long(comm, [&] {
    std::vector<std::string> argv = {tool.python, tool.script, "--error-file", errors, "stage", "--tree", cfg.tree,
                                     "--step", std::to_string(cfg.chunk_entries), "--"};
    const std::size_t fixed = argv.size();
    for (std::size_t i = std::size_t(comm.rank()); i < parts.size(); i += std::size_t(comm.size()))
      argv.insert(argv.end(), {cfg.root_files[i], parts[i]});
    if (argv.size() > fixed) run_python_tool(argv, "the ROOT reader (uproot)", errors);
  });
  const fs::path table = staging.path() / "table.h5";
  dist::collectively_long(comm, [&] {
    if (!comm.is_root()) return;
    std::vector<std::string> argv = {tool.python, tool.script, "--error-file", errors, "merge", "--output",
                                     table.string(), "--"};
    argv.insert(argv.end(), parts.begin(), parts.end());
    run_python_tool(argv, "the ROOT reader (uproot)", errors);
  });
  return table;
}

}  // namespace

int run_import(const dist::Communicator& comm, const ImportConfig& cfg) {
  if (!cfg.root) {
    check_feature_output(comm, cfg.input, cfg.output, cfg.file.write.overwrite);
    if (!cfg.key.empty() && cfg.format == io::TableFormat::csv && comm.is_root())
      log::warn("import: --key is ignored for CSV input");
    Importer(comm, cfg).run();
    return 0;
  }
  for (const auto& file : cfg.root_files) check_feature_output(comm, file, cfg.output, cfg.file.write.overwrite);
  StagingDirectory staging(comm, cfg.output.string() + ".root-staging");
  try {
    ImportConfig staged = cfg;
    staged.input = stage_root_files(comm, cfg, staging);
    staged.key = "/";
    Importer(comm, staged).run();
  } catch (...) {
    staging.remove();
    throw;
  }
  staging.remove();
  return 0;
}

}  // namespace bsmhunt::pipeline
