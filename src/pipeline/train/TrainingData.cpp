#include "TrainingData.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/ExactSum.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/physics/features/Selection.hpp"
#include "bsmhunt/pipeline/FeatureCommon.hpp"

namespace bsmhunt::pipeline {

std::vector<bool> selected_samples(const io::FeatureFileHeader& h, const TrainConfig& c, bool autoencoder,
                                   const std::string& train_on) {
  std::vector<bool> use(h.samples.size(), false);
  for (const auto& p : c.signal_samples) {
    bool any = false;
    for (const auto& s : h.samples) any |= s.role == physics::Role::signal && glob_match(p, s.name);
    if (!any) {
      std::vector<std::string> names;
      for (const auto& s : h.samples)
        if (s.role == physics::Role::signal) names.push_back(s.name);
      throw InputError(fmt::format("--signal-samples: '{}' matches no signal sample of {}{}", p, c.features,
                                   did_you_mean(p, names)));
    }
  }
  for (std::size_t i = 0; i < h.samples.size(); ++i) {
    const auto& s = h.samples[i];
    bool excluded = false;
    for (const auto& p : c.exclude_samples) excluded |= glob_match(p, s.name);
    if (excluded) continue;
    if (autoencoder) {
      use[i] = (train_on == "all" && s.role != physics::Role::data) ||
               (train_on == "background" && s.role == physics::Role::background) ||
               (train_on == "data" && s.role == physics::Role::data);
    } else if (s.role == physics::Role::background) {
      use[i] = true;
    } else if (s.role == physics::Role::signal) {
      use[i] = c.signal_samples.empty();
      for (const auto& p : c.signal_samples) use[i] = use[i] || glob_match(p, s.name);
    }
  }
  if (autoencoder && std::find(use.begin(), use.end(), true) == use.end())
    throw InputError(fmt::format("{}: the autoencoder trains on {} samples (--train-on {}) and none is left{}",
                                 c.features, train_on == "all" ? "background and signal" : train_on, train_on,
                                 c.exclude_samples.empty() ? std::string() : " after --exclude-samples"));
  return use;
}

std::vector<std::size_t> input_columns(const io::FeatureFileHeader& h, const TrainConfig& c) {
  const auto& names = h.feature_names;
  const auto excluded = [&](const std::string& name) {
    return std::any_of(c.exclude_features.begin(), c.exclude_features.end(),
                       [&](const std::string& p) { return glob_match(p, name); });
  };
  // Every pattern must match something: a typo would otherwise train on what it meant to drop.
  for (const auto& p : c.exclude_features)
    if (std::none_of(names.begin(), names.end(), [&](const std::string& n) { return glob_match(p, n); }))
      throw InputError(fmt::format("--exclude-features: '{}' is not a feature of {}{}", p, c.features,
                                   did_you_mean(p, names)));
  std::vector<std::size_t> columns;
  for (std::size_t f = 0; f < names.size(); ++f)
    if (!excluded(names[f])) columns.push_back(f);
  if (columns.empty() && c.model != "cnn")
    throw InputError(fmt::format("--exclude-features leaves none of the {} features of {} to train on", names.size(),
                                 c.features));
  return columns;
}

// The contiguous slice of the file's rows this rank trains on, chosen so that every
// rank holds about the same number of rows it will use (train and validation splits
// of the selected samples). An even split of the file would not: samples that are
// not trained on (pseudo-data, the other signal models) sit together in the file,
// and the rank holding them would idle while the others compute every step. Slices
// end on blocks of at most 2^16 rows; the rows' global order (file order) is unchanged, so
// the global batches are the same as with any other partition.
dist::Range balanced_range(const io::FeatureFileReader& reader, const dist::Communicator& comm,
                           const std::vector<bool>& use) {
  // Blocks of 2^16 rows, smaller in small files so that every rank gets some.
  const uint64_t rows = reader.rows();
  const uint64_t block = std::clamp<uint64_t>(rows / (256 * uint64_t(comm.size())), 1024, 1 << 16);
  const uint64_t blocks = (rows + block - 1) / block;
  std::vector<uint64_t> used(blocks, 0);
  const dist::Range mine = dist::partition(blocks, comm.size(), comm.rank());
  std::vector<int32_t> sample;
  std::vector<int8_t> split;
  dist::collectively(comm, [&] {
    for (uint64_t k = mine.begin; k < mine.end; ++k) {
      reader.read_membership(k * block, std::min(rows, (k + 1) * block), sample, split);
      for (std::size_t r = 0; r < sample.size(); ++r)
        used[k] += sample[r] >= 0 && std::size_t(sample[r]) < use.size() && use[std::size_t(sample[r])] &&
                   split[r] != int8_t(io::Split::test);
    }
  });
  comm.sum_in_place(used);
  uint64_t total = 0;
  for (const auto u : used) total += u;
  // Rank r starts at the first block where the used rows before it reach r/P of the total.
  const auto start_of = [&](int r) -> uint64_t {
    if (r <= 0) return 0;
    if (r >= comm.size()) return rows;
    const uint64_t target = total * uint64_t(r) / uint64_t(comm.size());
    uint64_t before = 0;
    for (uint64_t k = 0; k < blocks; ++k) {
      if (before >= target) return k * block;
      before += used[k];
    }
    return rows;
  };
  return dist::Range{std::min(rows, start_of(comm.rank())), std::min(rows, start_of(comm.rank() + 1))};
}

// Reads this rank's rows [range) of the train and validation splits, normalised.
LoadedData load_splits(const io::FeatureFileReader& reader, const TrainConfig& c, const dist::Communicator& comm,
                       dist::Range range, const std::vector<bool>& use, nn::Preprocessing& prep,
                       bool autoencoder, const Parametrisation* param) {
  LoadedData d;
  const auto& samples = reader.header().samples;
  const std::size_t F = reader.header().feature_names.size();
  const std::vector<std::size_t> columns = input_columns(reader.header(), c);
  const physics::Selection region = physics::parse_selection(c.select, reader.header().feature_names, "--select");
  const std::size_t W = param ? param->width() : 0;
  d.train.features = d.validation.features = columns.size() + W;
  // Parametrised: each signal sample's point (an index of the training points).
  std::vector<int32_t> sample_point(samples.size(), -1);
  if (param)
    for (std::size_t s = 0; s < samples.size(); ++s)
      if (use[s] && samples[s].role == physics::Role::signal) {
        const auto& points = param->training_points();
        sample_point[s] = int32_t(std::find(points.begin(), points.end(), *param->point_of(samples[s])) - points.begin());
      }
  std::vector<float> encoded(W);
  // k-fold: the model of fold k trains on every split of the other folds (validation
  // split for early stopping); fold k is what it will score.
  const bool k_fold = c.held_out_fold >= 0;
  std::vector<uint64_t> stream(samples.size());
  for (std::size_t s = 0; s < samples.size(); ++s) stream[s] = stable_hash(samples[s].name.c_str());
  std::vector<double> train_raw_w, val_raw_w;
  std::vector<int32_t> train_label, train_point, val_point;
  io::FeatureBlock block;
  const uint64_t chunk = 1 << 18;
  int32_t max_label = 0;
  // Capacity for every row of the range: pages are only touched as rows arrive, so
  // this costs address space, not memory, and the columns never reallocate (a
  // growing vector would hold the training set twice while it moves).
  // The rows are read raw and widened in place by the preprocessing (indicators: at
  // most one per feature).
  const std::size_t width = columns.size() + W + (c.preprocess == "auto" ? columns.size() : 0);
  d.train.x.reserve(range.size() * width), d.validation.x.reserve(range.size() * width);
  Progress progress("reading", comm.sum(range.size()), "rows", comm.is_root());
  // The same number of rounds on every rank (the progress sums are collective),
  // also when one rank reads everything (the BDT).
  const uint64_t rounds = uint64_t(comm.max(double((range.size() + chunk - 1) / chunk)));
  for (uint64_t k = 0; k < rounds; ++k) {
    const uint64_t b = std::min(range.end, range.begin + k * chunk);
    const uint64_t e = std::min(range.end, b + chunk);
    reader.read(b, e, block);
    for (std::size_t r = 0; r < block.size(); ++r) {
      auto split = io::Split(block.split[r]);
      const int32_t sample = block.sample_index[r];
      if (!use[std::size_t(sample)]) continue;
      if (k_fold) {
        if (fold_of(block.event_number[r], stream[std::size_t(sample)], c.trainer.seed, uint32_t(c.folds)) ==
            uint32_t(c.held_out_fold))
          continue;
        if (split == io::Split::test) split = io::Split::train;
      } else if (split == io::Split::test) {
        continue;
      }
      const float* x = block.features.data() + r * F;
      if (!region.passes(x)) continue;
      nn::Shard& s = split == io::Split::train ? d.train : d.validation;
      for (std::size_t input = 0; input < columns.size(); ++input) {
        const std::size_t f = columns[input];
        if (!std::isfinite(x[f]))
          throw InputError(fmt::format("{}: /features row {} column {} ('{}') is {}: training needs finite features",
                                       c.features, b + r, f, reader.header().feature_names[f], x[f]));
        s.x.push_back(x[f]);
      }
      int32_t point = -1;
      if (param) {
        point = sample_point[std::size_t(sample)];
        const std::size_t at = point >= 0 ? std::size_t(point)
                                          : param->drawn_point(c.trainer.seed, sample, block.event_number[r]);
        param->encode(param->training_points()[at], encoded.data());
        s.x.insert(s.x.end(), encoded.begin(), encoded.end());
      }
      if (!std::isfinite(block.weight[r]))
        throw InputError(fmt::format("{}: /weight row {} is {}", c.features, b + r, block.weight[r]));
      if (block.label[r] < 0)
        throw InputError(fmt::format("{}: /label row {} is {}: expected a class index >= 0", c.features, b + r,
                                     block.label[r]));
      max_label = std::max(max_label, block.label[r]);
      if (c.model == "cnn") {
        (split == io::Split::train ? d.train_sample : d.validation_sample).push_back(sample);
        (split == io::Split::train ? d.train_event : d.validation_event).push_back(block.event_number[r]);
      }
      if (split == io::Split::train) {
        train_raw_w.push_back(block.weight[r]);
        train_label.push_back(block.label[r]);
        train_point.push_back(point);
        if (!autoencoder) d.train.target.push_back(float(block.label[r]));
      } else {
        val_raw_w.push_back(block.weight[r]);
        val_point.push_back(point);
        d.validation_analysis_weight.push_back(block.weight[r]);
        d.validation_label.push_back(block.label[r]);
        if (!autoencoder) d.validation.target.push_back(float(block.label[r]));
      }
    }
    progress.update(comm.sum(e - range.begin));
  }
  progress.finish();
  if (c.preprocess == "auto") {
    std::vector<std::string> names;
    for (const auto f : columns) names.push_back(reader.header().feature_names[f]);
    const std::string summary =
        fit_preprocessing(comm, d.train, columns.size(), names, c.normalization, c.missing_value, prep);
    log::info("preprocessing (--preprocess auto): {}", summary);
  }
  for (auto* shard : {&d.train, &d.validation})
    if (prep.features() > 0) prep.apply_in_place(shard->x, shard->x.size() / prep.features());
  d.train.features = d.validation.features = prep.outputs();
  // A classifier has at least the two classes background (0) and signal (1).
  d.classes = autoencoder ? 1 : std::max(2, int(comm.max(double(max_label))) + 1);

  // Training weights: sample part, then class part from global sums over the training split.
  auto sample_part = [&](double w) {
    switch (c.weights.sample) {
      case SampleWeights::none: return 1.0;
      case SampleWeights::mc: return w;
      case SampleWeights::abs: return std::fabs(w);
    }
    return w;
  };
  // Parametrised: every signal point gets the same total weight in the training split.
  std::vector<double> point_factor(param ? param->training_points().size() : 0, 1.0);
  if (param) {
    std::vector<double> point_sum(point_factor.size(), 0.0);
    for (std::size_t i = 0; i < train_raw_w.size(); ++i)
      if (train_point[i] >= 0) point_sum[std::size_t(train_point[i])] += sample_part(train_raw_w[i]);
    comm.sum_in_place(point_sum);
    double mean = 0;
    for (const double t : point_sum) mean += t / double(point_sum.size());
    for (std::size_t p = 0; p < point_sum.size(); ++p) {
      if (!(point_sum[p] > 0))
        throw InputError(fmt::format("--parametrise: the training split has no signal weight at {} ({})",
                                     param->label(param->training_points()[p]), c.features));
      point_factor[p] = mean / point_sum[p];
    }
  }
  const auto sample_part_of = [&](double w, int32_t point) {
    return sample_part(w) * (point >= 0 ? point_factor[std::size_t(point)] : 1.0);
  };
  const std::size_t K = std::size_t(std::max(d.classes, 1));
  std::vector<double> class_count(K, 0.0), class_sum(K, 0.0);
  for (std::size_t i = 0; i < train_raw_w.size(); ++i) {
    const std::size_t k = autoencoder ? 0 : std::size_t(train_label[i]);
    class_count[k] += 1, class_sum[k] += sample_part_of(train_raw_w[i], train_point[i]);
  }
  comm.sum_in_place(class_count), comm.sum_in_place(class_sum);
  if (!autoencoder) {
    d.global_background_train = uint64_t(class_count[0]);
    d.global_signal_train = K > 1 ? uint64_t(class_count[1]) : 0;
    for (std::size_t k = 0; k < K; ++k)
      if (class_count[k] == 0)
        throw InputError(fmt::format("{}: the training split has no events of class {} ({}): a classifier needs "
                                     "every class; check --signal-samples / --exclude-samples / --select",
                                     c.features, k, k == 0 ? "background" : (K == 2 ? "signal" : "label")));
  }
  std::vector<double> factor(K, 1.0);
  if (!autoencoder && c.weights.balance != ClassBalance::none) {
    const auto& totals = c.weights.balance == ClassBalance::count ? class_count : class_sum;
    for (std::size_t k = 0; k < K; ++k)
      if (!(totals[k] > 0))
        throw InputError(fmt::format("class balance by {}: class {} has total {} in the training split",
                                     c.weights.balance == ClassBalance::count ? "count" : "sum", k, totals[k]));
    if (K == 2) {
      // Background scaled down to the signal total, or signal up to the background's.
      if (c.weights.scale_signal_up) factor[1] = totals[0] / totals[1];
      else factor[0] = totals[1] / totals[0];
    } else {
      double mean_total = 0;
      for (auto t : totals) mean_total += t / double(K);
      for (std::size_t k = 0; k < K; ++k) factor[k] = mean_total / totals[k];
    }
    // Counting balance applies to the sample-weight part as it stands.
  }
  double total_w = 0, total_n = 0;
  for (std::size_t k = 0; k < K; ++k) total_w += factor[k] * class_sum[k], total_n += class_count[k];
  const double norm = c.weights.normalize && total_w != 0 ? total_n / total_w : 1.0;
  for (std::size_t i = 0; i < train_raw_w.size(); ++i) {
    const std::size_t k = autoencoder ? 0 : std::size_t(train_label[i]);
    d.train.weight.push_back(float(sample_part_of(train_raw_w[i], train_point[i]) * factor[k] * norm));
  }
  for (std::size_t i = 0; i < val_raw_w.size(); ++i) {
    const std::size_t k = autoencoder ? 0 : std::size_t(d.validation_label[i]);
    d.validation.weight.push_back(float(sample_part_of(val_raw_w[i], val_point[i]) * factor[k] * norm));
  }
  d.train.global_offset = comm.exclusive_prefix_sum(d.train.rows());
  d.train.global_rows = comm.sum(uint64_t(d.train.rows()));
  d.validation.global_offset = comm.exclusive_prefix_sum(d.validation.rows());
  d.validation.global_rows = comm.sum(uint64_t(d.validation.rows()));
  return d;
}

std::string fit_preprocessing(const dist::Communicator& comm, const nn::Shard& train, std::size_t F,
                              const std::vector<std::string>& names, const std::string& normalization,
                              double missing_value, nn::Preprocessing& prep) {
  const std::size_t N = prep.features();
  const std::size_t rows = N ? train.x.size() / N : 0;
  const float* x = train.x.data();
  const auto missing_at = [&](std::size_t r, std::size_t j) { return double(x[r * N + j]) == missing_value; };
  // Counts, and the range of the present values (exact over ranks: counts are
  // integers, min and max are taken from every rank's).
  std::vector<uint64_t> counts(2 * F, 0);  // present, missing
  std::vector<double> lo(F, std::numeric_limits<double>::infinity()), hi(F, -std::numeric_limits<double>::infinity());
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < F; ++j) {
      if (missing_at(r, j)) {
        ++counts[F + j];
        continue;
      }
      const double v = x[r * N + j];
      ++counts[j], lo[j] = std::min(lo[j], v), hi[j] = std::max(hi[j], v);
    }
  comm.sum_in_place(counts);
  const auto all_lo = comm.all_gather(lo), all_hi = comm.all_gather(hi);
  for (std::size_t k = 0; k < all_lo.size(); ++k)
    lo[k % F] = std::min(lo[k % F], all_lo[k]), hi[k % F] = std::max(hi[k % F], all_hi[k]);
  // Moments of u = x / max|x| (|u| <= 1 keeps the fixed-point sums far from overflow):
  // mean, variance and skewness, bitwise the same for any rank count.
  std::vector<double> bound(F, 1.0);
  for (std::size_t j = 0; j < F; ++j)
    if (counts[j] > 0 && std::max(std::fabs(lo[j]), std::fabs(hi[j])) > 0) bound[j] = std::max(std::fabs(lo[j]), std::fabs(hi[j]));
  std::vector<ExactSum> moments(3 * F);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < F; ++j) {
      if (missing_at(r, j)) continue;
      const double u = double(x[r * N + j]) / bound[j];
      moments[3 * j].add(u), moments[3 * j + 1].add(u * u), moments[3 * j + 2].add(u * u * u);
    }
  moments = comm.sum(moments);
  prep.log_scale.assign(N, 0.0);
  prep.missing.assign(N, 0);
  prep.missing_value = missing_value;
  std::vector<double> mean(F, 0.0), var(F, 0.0);
  std::vector<std::string> logged, indicated;
  for (std::size_t j = 0; j < F; ++j) {
    prep.missing[j] = counts[F + j] > 0;
    if (prep.missing[j]) indicated.push_back(names[j]);
    if (counts[j] == 0) continue;
    const double n = double(counts[j]);
    const double m1 = moments[3 * j].value() / n, m2 = moments[3 * j + 1].value() / n, m3 = moments[3 * j + 2].value() / n;
    const double v = std::max(0.0, m2 - m1 * m1);
    const double skew = v > 0 ? (m3 - 3 * m1 * m2 + 2 * m1 * m1 * m1) / std::pow(v, 1.5) : 0.0;
    mean[j] = m1 * bound[j], var[j] = v * bound[j] * bound[j];
    if (lo[j] >= 0 && hi[j] > 0 && skew > 1.0 && mean[j] > 0) {
      prep.log_scale[j] = mean[j];
      logged.push_back(names[j]);
    }
  }
  // The log features' mean and variance after the log (bounded values, no scaling).
  std::vector<ExactSum> log_moments(2 * F);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < F; ++j) {
      if (prep.log_scale[j] == 0 || missing_at(r, j)) continue;
      const double t = std::log(1.0 + double(x[r * N + j]) / prep.log_scale[j]);
      log_moments[2 * j].add(t), log_moments[2 * j + 1].add(t * t);
    }
  log_moments = comm.sum(log_moments);
  for (std::size_t j = 0; j < F; ++j) {
    if (prep.log_scale[j] > 0) {
      const double n = double(counts[j]);
      mean[j] = log_moments[2 * j].value() / n;
      var[j] = std::max(0.0, log_moments[2 * j + 1].value() / n - mean[j] * mean[j]);
      lo[j] = std::log(1.0 + lo[j] / prep.log_scale[j]), hi[j] = std::log(1.0 + hi[j] / prep.log_scale[j]);
    }
    double offset = 0, scale = 1;
    if (counts[j] > 0 && normalization == "zscore") {
      offset = mean[j], scale = var[j] > 0 ? 1.0 / std::sqrt(var[j]) : 1.0;
    } else if (counts[j] > 0 && normalization == "minmax") {
      offset = lo[j], scale = hi[j] > lo[j] ? 1.0 / (hi[j] - lo[j]) : 1.0;
    }
    prep.offset[j] = offset, prep.scale[j] = scale;
  }
  if (logged.empty()) prep.log_scale.clear();
  if (indicated.empty()) prep.missing.clear();
  const auto listed = [](const std::vector<std::string>& v) {
    if (v.empty()) return std::string();
    return ": " + join_abridged(v, ", ", 8, "in the model file");
  };
  return fmt::format("{} of {} features log-transformed{}; {} with missing values (= {}) get an indicator input{}",
                     logged.size(), F, listed(logged), indicated.size(), missing_value, listed(indicated));
}

std::string policy_text(const WeightPolicy& w) {
  const char* sample = w.sample == SampleWeights::none ? "none" : (w.sample == SampleWeights::mc ? "mc" : "abs");
  const char* balance = w.balance == ClassBalance::none ? "none" : (w.balance == ClassBalance::count ? "count" : "sum");
  return fmt::format("sample-weights={} class-balance={} balance-scale={} normalize-weights={}", sample, balance,
                     w.scale_signal_up ? "signal" : "background", w.normalize);
}

}  // namespace bsmhunt::pipeline
