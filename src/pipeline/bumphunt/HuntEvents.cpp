// The events of the CWoLa hunt and the classifiers of every (signal region, fold).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "Hunt.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/nn/Collective.hpp"
#include "bsmhunt/nn/Network.hpp"
#include "bsmhunt/nn/Preprocessing.hpp"
#include "bsmhunt/nn/Trainer.hpp"

namespace bsmhunt::pipeline {

Events load_events(const dist::Communicator& comm, const BumphuntConfig& c) {
  io::FeatureFileReader reader(comm, c.features);
  const auto& h = reader.header();
  std::vector<bool> take(h.samples.size(), false);
  bool any_data = false;
  for (const auto& s : h.samples) any_data = any_data || s.role == physics::Role::data;
  for (std::size_t i = 0; i < h.samples.size(); ++i) {
    if (c.samples.empty()) take[i] = !any_data || h.samples[i].role == physics::Role::data;
    for (const auto& p : c.samples) take[i] = take[i] || glob_match(p, h.samples[i].name);
  }
  for (const auto& p : c.samples) {
    bool any = false;
    for (const auto& s : h.samples) any = any || glob_match(p, s.name);
    std::vector<std::string> names;
    for (const auto& s : h.samples) names.push_back(s.name);
    if (!any) throw InputError(fmt::format("--samples '{}' matches no sample of {}{}", p, c.features, did_you_mean(p, names)));
  }
  for (const auto& name : c.exclude_features)
    if (std::find(h.feature_names.begin(), h.feature_names.end(), name) == h.feature_names.end())
      throw InputError(fmt::format("--exclude-features: {} has no feature '{}'{}", c.features, name,
                                   did_you_mean(name, h.feature_names)));

  // Every rank reads every row: the hunt's inputs (data in a mass range) are small.
  const std::size_t F = h.feature_names.size();
  std::vector<float> x, mass;
  std::vector<uint64_t> event;
  std::vector<int32_t> sample;
  io::FeatureBlock block;
  const uint64_t chunk = 1 << 20;
  const double lo = c.mass_bins.front(), hi = c.mass_bins.back();
  for (uint64_t b = 0; b < reader.rows(); b += chunk) {
    reader.read(b, std::min(reader.rows(), b + chunk), block);
    for (std::size_t r = 0; r < block.size(); ++r) {
      const auto s = std::size_t(block.sample_index[r]);
      if (s >= take.size() || !take[s]) continue;
      const double m = block.mass[r];
      if (!(m >= lo && m < hi)) continue;
      x.insert(x.end(), block.features.begin() + std::ptrdiff_t(r * F), block.features.begin() + std::ptrdiff_t((r + 1) * F));
      mass.push_back(block.mass[r]);
      event.push_back(block.event_number[r]);
      sample.push_back(block.sample_index[r]);
    }
  }
  if (mass.empty())
    throw InputError(fmt::format("{}: no event of the selected samples has a mass in [{}, {}) GeV", c.features, lo, hi));

  std::string mass_name;
  // The mass and every column equal to it (mjj is also written as the mass column)
  // never enter the classifier: CWoLa labels come from the mass alone.
  std::vector<std::size_t> keep;
  for (std::size_t j = 0; j < F; ++j) {
    bool is_mass = true;
    for (std::size_t r = 0; r < mass.size() && is_mass; ++r) is_mass = x[r * F + j] == mass[r];
    const bool excluded = std::find(c.exclude_features.begin(), c.exclude_features.end(), h.feature_names[j]) !=
                          c.exclude_features.end();
    if (is_mass) mass_name += (mass_name.empty() ? "" : ",") + h.feature_names[j];
    if (!is_mass && !excluded) keep.push_back(j);
  }
  if (keep.empty()) throw InputError(fmt::format("{}: no feature left to train on besides the mass", c.features));

  Events ev;
  ev.mass_columns = mass_name;
  ev.features = keep.size();
  for (const auto j : keep) ev.names.push_back(h.feature_names[j]);
  ev.x.resize(mass.size() * keep.size());
  for (std::size_t r = 0; r < mass.size(); ++r) {
    for (std::size_t j = 0; j < keep.size(); ++j) ev.x[r * keep.size() + j] = x[r * F + keep[j]];
    const auto it = std::upper_bound(c.mass_bins.begin(), c.mass_bins.end(), double(mass[r]));
    ev.bin.push_back(uint32_t(it - c.mass_bins.begin() - 1));
    // Fold from the event's identity, never its position or the rank count.
    ev.fold.push_back(uint8_t(mix64(c.seed ^ mix64(event[r] ^ (uint64_t(sample[r]) << 40))) % c.folds));
  }
  return ev;
}

namespace {

// Trains the classifier of (region, fold) and returns the scores (logits) of every
// event of that fold, in event order.
std::vector<float> train_and_score(const Events& ev, const Region& R, std::size_t fold, std::size_t validation_fold,
                                   std::size_t region_index, const BumphuntConfig& c, nn::Backend& backend) {
  const std::size_t F = ev.features;
  std::vector<std::size_t> train_rows, val_rows, score_rows;
  for (std::size_t r = 0; r < ev.rows(); ++r) {
    if (ev.fold[r] == fold) {
      score_rows.push_back(r);
      continue;
    }
    if (ev.bin[r] < R.window_lo || ev.bin[r] >= R.window_hi) continue;
    (ev.fold[r] == validation_fold ? val_rows : train_rows).push_back(r);
  }
  const nn::Preprocessing prep = nn::Preprocessing::zscore_of(ev.x, F, train_rows);
  const auto is_sr = [&](std::size_t r) { return ev.bin[r] >= R.first && ev.bin[r] < R.first + c.sr_bins; };
  const auto fill = [&](const std::vector<std::size_t>& rows, nn::Shard& shard) {
    shard.features = F;
    double n_sr = 0, n_sb = 0;
    for (const auto r : rows) (is_sr(r) ? n_sr : n_sb) += 1;
    for (const auto r : rows) {
      for (std::size_t j = 0; j < F; ++j) shard.x.push_back(prep.apply(j, ev.x[r * F + j]));
      shard.target.push_back(is_sr(r) ? 1.f : 0.f);
      // Equal total weight for SR and SB, mean weight 1.
      const double w = is_sr(r) ? double(rows.size()) / (2 * n_sr) : double(rows.size()) / (2 * n_sb);
      shard.weight.push_back(float(w));
    }
    shard.global_offset = 0;
    shard.global_rows = shard.rows();
  };
  nn::Shard train, val;
  fill(train_rows, train);
  fill(val_rows, val);
  if (train.rows() == 0 || val.rows() == 0)
    throw InputError(fmt::format("signal region {}: no events to train on in fold {}", region_index, fold));

  nn::NetworkSpec spec;
  spec.inputs = F;
  spec.hidden = c.hidden;
  nn::TrainerConfig t;
  t.learning_rate = c.learning_rate;
  t.epochs = c.epochs;
  t.batch_size = c.batch_size;
  t.patience = c.patience;
  t.seed = mix64(c.seed * 1000003 + region_index * 101 + fold * 11 + validation_fold);
  nn::LocalCollective local;
  nn::Network net(backend, spec);
  net.initialize(t.seed);
  nn::Trainer trainer(backend, net, local, t, train, val);
  trainer.run({});

  std::vector<float> x(score_rows.size() * F);
  for (std::size_t i = 0; i < score_rows.size(); ++i)
    for (std::size_t j = 0; j < F; ++j) x[i * F + j] = prep.apply(j, ev.x[score_rows[i] * F + j]);
  return net.predict(x.data(), score_rows.size());
}

}  // namespace

// Classifiers that differ in their validation fold (the CWoLa hunting papers average
// k-fold models the same way): the mean halves the variance of a selection that keeps
// a few percent of the events.
std::vector<float> ensemble_scores(const Events& ev, const Region& R, std::size_t fold, std::size_t region_index,
                                   const BumphuntConfig& c, nn::Backend& backend) {
  std::vector<float> sum;
  for (std::size_t m = 0; m < c.ensemble; ++m) {
    const std::size_t validation_fold = (fold + 1 + m) % c.folds;
    const auto s = train_and_score(ev, R, fold, validation_fold, region_index, c, backend);
    if (sum.empty()) sum.assign(s.size(), 0.f);
    for (std::size_t i = 0; i < s.size(); ++i) sum[i] += s[i];
  }
  for (auto& v : sum) v /= float(c.ensemble);
  return sum;
}

}  // namespace bsmhunt::pipeline
