// bsmhunt extract: any feature set of physics/features over the ranks. Work items of
// the event file are dealt round-robin; each rank evaluates its items' events and the
// ordered writer puts the rows in file order, so the output does not depend on P.
#include "bsmhunt/pipeline/Extract.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>

#include "ExtractOutput.hpp"
#include "../StopSignals.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/ExactSum.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/core/Units.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/dist/WorkItems.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/physics/generator/Driver.hpp"
#include "bsmhunt/stats/RunningStats.hpp"

namespace bsmhunt::pipeline {

namespace {

class Extractor {
 public:
  Extractor(const dist::Communicator& comm, const ExtractConfig& cfg, const io::EventFileReader& reader,
            std::unique_ptr<physics::FeatureSet> set)
      : comm_(comm), cfg_(cfg), reader_(reader), set_(std::move(set)), defs_(set_->features()) {}

  ExtractResult run();

 private:
  void check_inputs() const;
  void choose_features();
  void list_cuts();
  void plan_items();
  // Evaluates event i of the block: fills values_ (every feature of the set, missing
  // objects padded) and returns the number of cuts passed (cuts_.size() = selected).
  // Throws InputError for non-finite inputs unless --on-nonfinite drop.
  std::size_t evaluate(const physics::EventBlock& b, std::size_t sample, std::size_t i);
  // Once per block read: binds the feature set to it and finds the events with a
  // non-finite input (first_bad_), column by column instead of event by event.
  void prepare_block(const physics::EventBlock& b);
  // Runs `each(block, item)` on this rank's item of every round, then `round_end(k)` on every rank.
  template <typename Each, typename RoundEnd>
  void for_each_round(const char* what, Each&& each, RoundEnd&& round_end);
  void mean_pass();
  void write_pass(io::FeatureFileWriter& writer, CutflowTally& tally, io::FeatureStatistics& stats);

  const dist::Communicator& comm_;
  const ExtractConfig& cfg_;
  const io::EventFileReader& reader_;
  std::unique_ptr<physics::FeatureSet> set_;
  const std::vector<physics::FeatureDef>& defs_;
  std::vector<std::size_t> selected_;  // indices into defs_ of the written features
  std::vector<std::size_t> optional_;  // features of objects an event may lack
  bool uses_optional_ = false;         // a written feature may be missing
  std::vector<std::string> cuts_;
  std::size_t cut_finite_ = 0, cut_padding_ = 0;  // 0: no such cut
  std::vector<std::string> columns_;
  std::vector<dist::WorkItem> items_;
  std::vector<double> scale_;     // per sample: luminosity scale
  std::vector<uint64_t> stream_;  // per sample: sample_stream
  std::vector<double> fill_;      // per feature: the value of a missing one
  std::vector<double> values_;
  std::vector<char> present_;
  physics::FeatureInputs inputs_;          // the set's inputs (plan_items)
  std::vector<std::string> finite_names_;  // inputs checked, in the order errors name them
  std::vector<uint32_t> first_bad_;        // per event of the block: 1 + its first non-finite input, or 0
  uint64_t total_events_ = 0;
};

void Extractor::check_inputs() const {
  const std::string file = reader_.path().string();
  const physics::FeatureInputs in = set_->inputs();
  std::vector<std::string> need_columns = {"event_number", "weight_mc"};
  need_columns.insert(need_columns.end(), in.columns.begin(), in.columns.end());
  for (const auto& s : reader_.samples()) {
    for (const auto& c : need_columns)
      if (!s.schema.find_column(c))
        throw InputError(fmt::format("{}: feature set {} needs the column '{}', which sample '{}' does not have "
                                     "(the file's channel is '{}')",
                                     file, set_->name(), c, s.info.name, reader_.channel()));
    for (const auto& c : in.collections)
      if (!s.schema.find_collection(c))
        throw InputError(fmt::format("{}: feature set {} needs the collection '{}', which sample '{}' does not have "
                                     "(the file's channel is '{}'; choose --features to match it)",
                                     file, set_->name(), c, s.info.name, reader_.channel()));
  }
}

void Extractor::choose_features() {
  std::vector<std::string> names;
  for (std::size_t f = 0; f < defs_.size(); ++f) {
    names.push_back(defs_[f].name);
    if (defs_[f].missing != physics::FeatureDef::Missing::never) optional_.push_back(f);
  }
  const auto dropped = [&](std::size_t f) {
    return cfg_.padding == PaddingPolicy::drop_feature && defs_[f].missing != physics::FeatureDef::Missing::never;
  };
  if (cfg_.select.empty()) {
    for (std::size_t f = 0; f < defs_.size(); ++f)
      if (!dropped(f)) selected_.push_back(f);
  } else {
    for (const auto& s : cfg_.select) {
      const auto it = std::find(names.begin(), names.end(), s);
      if (it == names.end())
        throw InputError(fmt::format("--select: feature set {} has no feature '{}'{}; the features are: {}",
                                     set_->name(), s, did_you_mean(s, names), join(names, ", ")));
      const std::size_t f = std::size_t(it - names.begin());
      if (std::find(selected_.begin(), selected_.end(), f) != selected_.end())
        throw InputError(fmt::format("--select: '{}' is listed twice", s));
      if (dropped(f)) {
        log::info("extract: --padding drop-feature leaves out {}", s);
        continue;
      }
      selected_.push_back(f);
    }
    if (selected_.empty()) throw InputError("--select: no feature left to write (see --padding drop-feature)");
  }
  for (const auto f : selected_) uses_optional_ = uses_optional_ || defs_[f].missing != physics::FeatureDef::Missing::never;
  set_->select(selected_);
}

void Extractor::list_cuts() {
  cuts_ = {"all"};
  if (cfg_.drop_nonfinite) cut_finite_ = cuts_.size(), cuts_.push_back("finite");
  for (auto& c : set_->cuts()) cuts_.push_back(c);
  if (uses_optional_ && cfg_.padding == PaddingPolicy::drop_event) cut_padding_ = cuts_.size(), cuts_.push_back("padding");
}

void Extractor::plan_items() {
  inputs_ = set_->inputs();
  const physics::FeatureInputs& in = inputs_;
  columns_ = {"event_number", "weight_mc"};
  columns_.insert(columns_.end(), in.columns.begin(), in.columns.end());
  columns_.insert(columns_.end(), in.collections.begin(), in.collections.end());
  const double lumi_ipb = reader_.luminosity_ifb() * units::invfb;
  std::vector<uint64_t> sizes;
  for (const auto& s : reader_.samples()) {
    scale_.push_back(s.info.luminosity_scale(lumi_ipb));
    stream_.push_back(physics::sample_stream(s.info));
    sizes.push_back(s.info.n_events);
    total_events_ += s.info.n_events;
  }
  items_ = dist::plan_work(sizes, cfg_.block_events);
  values_.assign(defs_.size(), 0.0);
  present_.assign(defs_.size(), 1);
  fill_.assign(defs_.size(), 0.0);
  finite_names_ = {"weight_mc"};
  finite_names_.insert(finite_names_.end(), in.finite_columns.begin(), in.finite_columns.end());
  for (const auto& [coll, members] : in.finite_members)
    for (const auto& m : members) finite_names_.push_back(fmt::format("{}/{}", coll, m));
  for (const auto f : optional_) fill_[f] = defs_[f].missing == physics::FeatureDef::Missing::zero ? 0.0 : cfg_.sentinel;
}

void Extractor::prepare_block(const physics::EventBlock& b) {
  set_->bind(b);
  const std::size_t n = b.size();
  first_bad_.assign(n, 0);
  uint32_t code = 0;  // 1 + index into finite_names_, in the order of the names
  const auto mark_column = [&](const std::vector<float>& v) {
    ++code;
    bool any = false;
    for (std::size_t i = 0; i < n; ++i) any |= !std::isfinite(v[i]);
    if (any)
      for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(v[i]) && first_bad_[i] == 0) first_bad_[i] = code;
  };
  mark_column(b.values<float>("weight_mc"));
  for (const auto& c : inputs_.finite_columns) mark_column(b.values<float>(c));
  for (const auto& [coll, members] : inputs_.finite_members) {
    const auto& c = b.collection(coll);
    for (const auto& m : members) {
      ++code;
      const auto& v = c.member(m).as<float>();
      bool any = false;
      for (std::size_t k = 0; k < v.size(); ++k) any |= !std::isfinite(v[k]);
      if (!any) continue;
      for (std::size_t i = 0; i < n; ++i)
        for (uint64_t k = c.offsets[i]; k < c.offsets[i + 1]; ++k)
          if (!std::isfinite(v[k]) && first_bad_[i] == 0) first_bad_[i] = code;
    }
  }
}

std::size_t Extractor::evaluate(const physics::EventBlock& b, std::size_t sample, std::size_t i) {
  std::size_t passed = 1;  // all
  if (const uint32_t bad = first_bad_[i]) {
    if (!cfg_.drop_nonfinite)
      throw InputError(fmt::format("{}: sample '{}', event {}: '{}' is not finite; pass --on-nonfinite drop to drop "
                                   "such events (counted in the cutflow as failing 'finite')",
                                   reader_.path().string(), reader_.samples()[sample].info.name,
                                   b.values<uint64_t>("event_number")[i], finite_names_[bad - 1]));
    return passed;
  }
  if (cut_finite_) ++passed;
  std::fill(present_.begin(), present_.end(), 1);
  passed += set_->evaluate(b, i, values_, present_);
  if (passed + (cut_padding_ ? 1 : 0) != cuts_.size()) return passed;
  bool complete = true;
  for (const auto f : optional_) complete = complete && present_[f];
  if (cut_padding_) {
    if (!complete) return passed;
    ++passed;  // padding
  }
  for (const auto f : optional_)
    if (!present_[f]) values_[f] = fill_[f];
  for (const auto f : selected_)
    if (!std::isfinite(values_[f]))
      throw InputError(fmt::format("{}: sample '{}', event {}: feature '{}' is not finite ({})",
                                   reader_.path().string(), reader_.samples()[sample].info.name,
                                   b.values<uint64_t>("event_number")[i], defs_[f].name, values_[f]));
  return passed;
}

template <typename Each, typename RoundEnd>
void Extractor::for_each_round(const char* what, Each&& each, RoundEnd&& round_end) {
  const std::size_t rounds = dist::work_rounds(items_.size(), comm_.size());
  physics::EventBlock block;
  Progress progress(what, total_events_, "events", comm_.is_root());
  uint64_t done = 0;
  StopSignals signals;
  for (std::size_t k = 0; k < rounds; ++k) {
    stop_point(comm_, "extract", k, rounds);
    dist::collectively(comm_, [&] {
      const dist::WorkItem* w = dist::item_of(items_, k, comm_.rank(), comm_.size());
      if (!w) return;
      reader_.read(w->sample, w->first, w->first + w->count, block, columns_);
      prepare_block(block);
      each(block, *w);
    });
    round_end(k);
    done += dist::round_events(items_, k, comm_.size());
    progress.update(done);
  }
  progress.finish();
}

// First pass of --padding mean: means of the present values of the optional
// features over the selected training events of all ranks (merged in item order).
void Extractor::mean_pass() {
  const std::size_t n = optional_.size();
  stats::OrderedStatsMerger merger(comm_, n);
  stats::RunningStats mine(n);
  for_each_round(
      "extract: means of present values",
      [&](const physics::EventBlock& block, const dist::WorkItem& w) {
        const auto& ev = block.values<uint64_t>("event_number");
        const bool is_data = reader_.samples()[w.sample].info.role == physics::Role::data;
        for (std::size_t i = 0; i < block.size(); ++i) {
          if (evaluate(block, w.sample, i) != cuts_.size()) continue;
          if (is_data || split_of(ev[i], stream_[w.sample], cfg_.file.seed, cfg_.file.split) != io::Split::train)
            continue;
          for (std::size_t j = 0; j < n; ++j)
            if (present_[optional_[j]]) mine.add(j, values_[optional_[j]]);
        }
      },
      [&](std::size_t) {
        merger.merge_round(mine);
        mine = stats::RunningStats(n);
      });
  const stats::RunningStats& total = merger.total();
  for (std::size_t j = 0; j < n; ++j) fill_[optional_[j]] = total.count[j] > 0 ? total.mean[j] : 0.0;
}

void Extractor::write_pass(io::FeatureFileWriter& writer, CutflowTally& tally, io::FeatureStatistics& statistics) {
  const std::size_t C = cuts_.size(), F = selected_.size();
  tally = CutflowTally(reader_.samples().size(), C);
  stats::OrderedStatsMerger merger(comm_, F);
  stats::RunningStats mine(F);
  io::FeatureBlock out;
  std::vector<char> train_rows;  // per row of the item: a training row (its statistics are the file's)
  out.n_features = F;
  out.reserve(std::size_t(cfg_.block_events));
  const std::size_t mass_feature = set_->mass_feature();
  for_each_round(
      "extract",
      [&](const physics::EventBlock& block, const dist::WorkItem& w) {
        const auto& info = reader_.samples()[w.sample].info;
        const auto& ev = block.values<uint64_t>("event_number");
        const auto& wmc = block.values<float>("weight_mc");
        const bool is_data = info.role == physics::Role::data;
        const int32_t label = info.role == physics::Role::signal ? 1 : 0;
        const std::size_t first_row = out.size();
        train_rows.clear();
        for (std::size_t i = 0; i < block.size(); ++i) {
          const std::size_t passed = evaluate(block, w.sample, i);
          const double weight = is_data ? 1.0 : double(wmc[i]) * scale_[w.sample];
          tally.count(w.sample, passed, weight);
          if (passed != C) continue;
          const io::Split split = split_of(ev[i], stream_[w.sample], cfg_.file.seed, cfg_.file.split);
          train_rows.push_back(split == io::Split::train && !is_data);
          const std::size_t at = out.features.size();
          out.features.resize(at + F);
          for (std::size_t f = 0; f < F; ++f) out.features[at + f] = float(values_[selected_[f]]);
          out.weight.push_back(weight);
          out.label.push_back(label);
          out.sample_index.push_back(int32_t(w.sample));
          out.event_number.push_back(ev[i]);
          out.mass.push_back(float(values_[mass_feature]));
          out.split.push_back(int8_t(split));
        }
        // The training rows' statistics, column by column over the item's rows.
        mine.add_rows(out.features.data() + first_row * F, out.size() - first_row, train_rows.data());
      },
      [&](std::size_t) {
        merger.merge_round(mine);
        mine = stats::RunningStats(F);
        writer.append_round(out);
        out.clear();
      });
  statistics = feature_statistics(merger.total().finish());
}

ExtractResult Extractor::run() {
  const auto start = std::chrono::steady_clock::now();
  check_inputs();
  choose_features();
  list_cuts();
  plan_items();
  const std::string file = reader_.path().string();
  ExtractResult result;
  io::FeatureFileHeader header = feature_file_header(*set_, selected_, reader_, cfg_, cuts_);
  result.features = header.feature_names;
  log::info("extract: {} -> {}: feature set {} ({} features), {} samples, {} events, {} rank{}", file,
            cfg_.output.string(), set_->name(), selected_.size(), reader_.samples().size(),
            si_count(double(total_events_)), comm_.size(), comm_.size() > 1 ? "s" : "");

  if (uses_optional_ && cfg_.padding == PaddingPolicy::mean) {
    mean_pass();
    std::vector<std::string> fills;
    for (const auto f : optional_) fills.push_back(fmt::format("{}={}", defs_[f].name, fill_[f]));
    header.attributes.push_back({"imputed_means", join(fills, ",")});
    log::info("extract: missing objects get the training means {}", join(fills, ", "));
  }

  StopSignals signals;  // until the file is committed: a signal during the write stops before the commit
  io::FeatureFileWriter writer(comm_, cfg_.output, cfg_.file.write, header);
  CutflowTally tally;
  io::FeatureStatistics statistics;
  write_pass(writer, tally, statistics);
  result.cutflow = tally.reduce(comm_, cuts_, cut_padding_);
  for (const auto& r : result.cutflow.raw) result.events_read += r.front();
  if (writer.rows() == 0)
    throw InputError(fmt::format("{}: no event passes the selection (cuts: {}); loosen the cuts", file,
                                 join(result.cutflow.cuts, ", ")));
  writer.write_statistics(statistics);
  writer.write_cutflow(result.cutflow);
  result.events_written = writer.rows();
  stop_point(comm_, "extract", 1, 1);
  writer.commit();
  std::vector<std::string> names;
  for (const auto& s : reader_.samples()) names.push_back(s.info.name);
  if (comm_.is_root()) {
    std::cout << format_cutflow(result.cutflow, names) << std::flush;
    write_cutflow_json(cfg_.output.string() + ".cutflow.json", result.cutflow, reader_.samples(), cfg_.output.string());
  }
  comm_.barrier();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("extract: wrote {} ({} of {} events x {} features) in {} ({} events/s)", cfg_.output.string(),
            result.events_written, result.events_read, selected_.size(), human_duration(result.seconds),
            si_count(double(result.events_read) / std::max(result.seconds, 1e-9)));
  return result;
}

}  // namespace

int run_extract(const dist::Communicator& comm, const ExtractConfig& cfg) {
  check_feature_output(comm, cfg.input, cfg.output, cfg.file.write.overwrite);
  io::EventFileReader reader(comm, cfg.input);
  const std::string set_name = cfg.feature_set.empty() ? reader.channel() : cfg.feature_set;
  auto set = physics::make_feature_set(set_name, cfg.selection,
                                       cfg.feature_set.empty()
                                           ? fmt::format("{} (its channel attribute; choose one with --features): ",
                                                         cfg.input.string())
                                           : std::string("--features: "));
  Extractor(comm, cfg, reader, std::move(set)).run();
  return 0;
}

}  // namespace bsmhunt::pipeline
