// bsmhunt bumphunt: CWoLa hunting with k-fold cross-training over the ranks.
#include "bsmhunt/pipeline/Bumphunt.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>
#include <map>
#include <numeric>

#include "Json.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/nn/Backend.hpp"
#include "bsmhunt/nn/Collective.hpp"
#include "bsmhunt/nn/Network.hpp"
#include "bsmhunt/nn/Trainer.hpp"
#include "bsmhunt/nn/Tensor.hpp"
#include "bsmhunt/pipeline/Train.hpp"

namespace bsmhunt::pipeline {

inline constexpr const char* kBumphuntFormat = "bsmhunt.bumphunt";

namespace {

template <typename T>
T get(const po::variables_map& vm, const char* name) {
  return vm[name].as<T>();
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The events of the hunt, identical on every rank.
struct Events {
  std::size_t features = 0;
  std::vector<std::string> names;  // training features
  std::vector<float> x;            // rows x features (raw)
  std::vector<uint32_t> bin;       // mass bin
  std::vector<uint8_t> fold;
  std::size_t rows() const { return bin.size(); }
};

std::vector<double> parse_numbers(const std::string& text, const char* option) {
  std::vector<double> out;
  for (const auto& part : split(text, ',')) {
    const std::string t = trim(part);
    std::size_t used = 0;
    double v = kNaN;
    try {
      v = std::stod(t, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (t.empty() || used != t.size() || !std::isfinite(v))
      throw InputError(fmt::format("{} '{}': '{}' is not a number", option, text, t));
    out.push_back(v);
  }
  return out;
}

Events load_events(const dist::Communicator& comm, const BumphuntConfig& c, std::string& mass_name) {
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

struct Region {
  std::size_t first = 0;  // first SR bin
  std::size_t window_lo = 0, window_hi = 0;  // [lo, hi) bins of SR + sidebands
};

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
  // z-score from the training rows.
  std::vector<double> mean(F, 0.0), sd(F, 0.0);
  for (const auto r : train_rows)
    for (std::size_t j = 0; j < F; ++j) mean[j] += ev.x[r * F + j];
  for (auto& m : mean) m /= double(std::max<std::size_t>(1, train_rows.size()));
  for (const auto r : train_rows)
    for (std::size_t j = 0; j < F; ++j) sd[j] += std::pow(ev.x[r * F + j] - mean[j], 2);
  for (auto& s : sd) s = std::sqrt(s / double(std::max<std::size_t>(1, train_rows.size())));
  for (auto& s : sd) s = s > 0 ? 1.0 / s : 1.0;
  const auto is_sr = [&](std::size_t r) { return ev.bin[r] >= R.first && ev.bin[r] < R.first + c.sr_bins; };
  const auto fill = [&](const std::vector<std::size_t>& rows, nn::Shard& shard) {
    shard.features = F;
    double n_sr = 0, n_sb = 0;
    for (const auto r : rows) (is_sr(r) ? n_sr : n_sb) += 1;
    for (const auto r : rows) {
      for (std::size_t j = 0; j < F; ++j) shard.x.push_back(float((ev.x[r * F + j] - mean[j]) * sd[j]));
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

  std::vector<float> x(score_rows.size() * F), out(score_rows.size());
  for (std::size_t i = 0; i < score_rows.size(); ++i)
    for (std::size_t j = 0; j < F; ++j) x[i * F + j] = float((ev.x[score_rows[i] * F + j] - mean[j]) * sd[j]);
  if (!score_rows.empty()) {
    nn::StepContext ctx{backend, local, false, 0, nullptr, 0};
    nn::Tensor device_x(backend, score_rows.size(), F);
    backend.upload(x.data(), device_x.data(), x.size());
    const float* y = net.forward(ctx, device_x.data(), score_rows.size());
    backend.download(y, out.data(), out.size());
  }
  return out;
}

// The mean logit of `ensemble` classifiers that differ in their validation fold
// (the CWoLa hunting papers average k-fold models the same way): it halves the
// variance of a selection that keeps a few percent of the events.
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

// Straight line through the sideband densities (weighted least squares, Poisson
// variances), integrated over the SR: exact for a linear background, the CWoLa
// illustrative example's flat one included.
struct LinearPrediction {
  double expected = 0, error = 0;
  std::vector<double> per_bin;  // expected count of every bin
  std::string message;
};
LinearPrediction linear_prediction(const std::vector<double>& counts, const std::vector<double>& edges, const Region& R,
                                   std::size_t sr_bins) {
  double s0 = 0, s1 = 0, s2 = 0, t0 = 0, t1 = 0;
  const double m0 = 0.5 * (edges[R.first] + edges[R.first + sr_bins]);
  std::size_t used = 0;
  for (std::size_t b = R.window_lo; b < R.window_hi; ++b) {
    if (b >= R.first && b < R.first + sr_bins) continue;
    const double w = edges[b + 1] - edges[b], d = counts[b] / w, var = std::max(counts[b], 1.0) / (w * w);
    const double u = 0.5 * (edges[b] + edges[b + 1]) - m0;
    s0 += 1 / var, s1 += u / var, s2 += u * u / var, t0 += d / var, t1 += u * d / var;
    ++used;
  }
  LinearPrediction p;
  const double det = s0 * s2 - s1 * s1;
  if (used < 2 || !(det > 0)) {
    p.message = "the sidebands cannot fix a straight line";
    p.expected = p.error = kNaN;
    return p;
  }
  const double a = (s2 * t0 - s1 * t1) / det, b = (s0 * t1 - s1 * t0) / det;
  const double vaa = s2 / det, vbb = s0 / det, vab = -s1 / det;
  double A = 0, Bc = 0;  // SR integral = a A + b Bc
  p.per_bin.resize(counts.size());
  for (std::size_t k = 0; k < counts.size(); ++k) {
    const double w = edges[k + 1] - edges[k], u = 0.5 * (edges[k] + edges[k + 1]) - m0;
    p.per_bin[k] = (a + b * u) * w;
    if (k >= R.first && k < R.first + sr_bins) A += w, Bc += u * w;
  }
  p.expected = a * A + b * Bc;
  p.error = std::sqrt(std::max(0.0, A * A * vaa + Bc * Bc * vbb + 2 * A * Bc * vab));
  return p;
}

struct EfficiencyResult {
  double efficiency = 0, observed = 0, predicted = kNaN, predicted_error = kNaN, z = kNaN, pvalue = kNaN;
  std::string function, message;
  double chi2 = kNaN, pvalue_fit = kNaN;
  int ndf = 0;
  std::vector<double> selected, fitted;
  std::vector<double> background_only;  // dijet: every bin fitted, for the toys
};

EfficiencyResult evaluate(const std::vector<double>& counts, const std::vector<double>& edges, const Region& R,
                          const BumphuntConfig& c) {
  EfficiencyResult e;
  e.selected = counts;
  for (std::size_t b = R.first; b < R.first + c.sr_bins; ++b) e.observed += counts[b];
  if (c.background == BumpBackground::linear) {
    const auto p = linear_prediction(counts, edges, R, c.sr_bins);
    e.function = "linear";
    e.message = p.message;
    e.fitted = p.per_bin;
    if (std::isfinite(p.expected) && p.expected > 0) {
      e.predicted = p.expected, e.predicted_error = p.error;
      e.pvalue = stats::excess_pvalue(e.observed, p.expected, p.error);
      e.z = stats::z_from_pvalue(e.pvalue);
    } else if (e.message.empty()) {
      e.message = "no background predicted in the signal region (empty sidebands)";
    }
    return e;
  }
  try {
    stats::Spectrum s{edges, counts};
    const auto r = stats::fit_signal_region(s, {edges[R.first], edges[R.first + c.sr_bins]}, c.fit);
    const auto& f = r.fit.result();
    e.function = std::string(stats::to_string(f.function));
    e.chi2 = f.chi2, e.ndf = f.ndf, e.pvalue_fit = f.pvalue;
    e.fitted = f.expected;
    e.predicted = r.expected, e.predicted_error = r.expected_error;
    e.z = r.z, e.pvalue = r.pvalue;
    if (!r.fit.accepted) e.message = "no function passed the sideband chi2 test; the best p-value is used";
    if (c.toys > 0) e.background_only = stats::fit_sidebands(s, 0, 0, c.fit).result().expected;
  } catch (const InputError& err) {
    e.message = err.what();  // e.g. empty sidebands at a tiny efficiency: reported, not fatal
  }
  return e;
}

}  // namespace

std::vector<double> parse_mass_bins(const std::string& text) {
  const std::string t = trim(text);
  std::vector<double> edges;
  const auto parts = split(t, ':');
  if (parts.size() == 3 || (parts.size() == 4 && trim(parts[0]) == "log")) {
    const bool log = parts.size() == 4;
    const std::size_t o = log ? 1 : 0;
    const auto v = parse_numbers(parts[o] + "," + parts[o + 1] + "," + parts[o + 2], "--mass-bins");
    const double lo = v[0], hi = v[1];
    if (!(v[2] >= 1) || v[2] != std::floor(v[2]) || !(lo < hi) || (log && !(lo > 0)))
      throw InputError(fmt::format("--mass-bins '{}': expected [log:]LO:HI:N with LO < HI{} and N >= 1", text,
                                   log ? ", LO > 0" : ""));
    const auto n = std::size_t(v[2]);
    for (std::size_t i = 0; i <= n; ++i)
      edges.push_back(log ? std::exp(std::log(lo) + (std::log(hi) - std::log(lo)) * double(i) / double(n))
                          : lo + (hi - lo) * double(i) / double(n));
    edges.front() = lo, edges.back() = hi;  // exp(log(lo)) can miss lo by an ulp
  } else {
    edges = parse_numbers(t, "--mass-bins");
  }
  if (edges.size() < 2) throw InputError(fmt::format("--mass-bins '{}': at least two edges", text));
  for (std::size_t i = 1; i < edges.size(); ++i)
    if (!(edges[i - 1] < edges[i]))
      throw InputError(fmt::format("--mass-bins '{}': edges must increase ({} after {})", text, edges[i], edges[i - 1]));
  return edges;
}

int run_bumphunt(const BumphuntConfig& c, const dist::Communicator& comm) {
  if (c.features.empty()) throw InputError("bsmhunt bumphunt: --features FILE is required");
  if (c.output.empty()) throw InputError("bsmhunt bumphunt: --output RESULT.json is required");
  if (c.mass_bins.size() < 2) throw InputError("bsmhunt bumphunt: --mass-bins is required (e.g. 2000:5000:15)");
  if (c.folds < 3) throw InputError(fmt::format("--folds {}: at least 3 (train, validation, score)", c.folds));
  if (c.sr_bins < 1) throw InputError("--sr-bins must be >= 1");
  if (c.ensemble < 1 || c.ensemble + 1 > c.folds)
    throw InputError(fmt::format("--ensemble {}: between 1 and folds - 1 = {}", c.ensemble, c.folds - 1));
  if (c.efficiencies.empty()) throw InputError("--efficiencies: give at least one");
  for (const double e : c.efficiencies)
    if (!(e > 0 && e <= 1)) throw InputError(fmt::format("--efficiencies: {} is not in (0, 1]", e));
  const std::size_t nbins = c.mass_bins.size() - 1;
  if (nbins < c.sr_bins + 2 * c.sb_bins || c.sb_bins < 1)
    throw InputError(fmt::format("--mass-bins gives {} bins: a signal region of {} bins with {} sideband bins on each "
                                 "side needs at least {} (and --sb-bins >= 1)",
                                 nbins, c.sr_bins, c.sb_bins, c.sr_bins + 2 * c.sb_bins));
  std::vector<Region> regions;
  for (std::size_t s = c.sb_bins; s + c.sr_bins + c.sb_bins <= nbins; ++s)
    if (c.regions.empty() || std::find(c.regions.begin(), c.regions.end(), s) != c.regions.end())
      regions.push_back({s, s - c.sb_bins, s + c.sr_bins + c.sb_bins});
  for (const auto r : c.regions)
    if (r < c.sb_bins || r + c.sr_bins + c.sb_bins > nbins)
      throw InputError(fmt::format("--regions: a signal region starting at bin {} does not fit in {} bins with {} "
                                   "sideband bins per side (possible: {}..{})",
                                   r, nbins, c.sb_bins, c.sb_bins, nbins - c.sr_bins - c.sb_bins));
  io::check_output_path(comm, c.output, c.overwrite, "--output");
  const auto t0 = std::chrono::steady_clock::now();

  std::string mass_name;
  Events ev;
  dist::collectively(comm, [&] { ev = load_events(comm, c, mass_name); });
  log::info("bumphunt: {} events in [{}, {}) GeV, {} signal regions x {} folds on {} ranks; training features {} "
            "(not the mass{})",
            ev.rows(), c.mass_bins.front(), c.mass_bins.back(), regions.size(), c.folds, comm.size(),
            join(ev.names, ","), mass_name.empty() ? "" : ": " + mass_name);

  // (region, fold) units dealt round-robin; one BLAS thread each so a unit's bits do
  // not depend on how many ranks share the node.
  nn::set_cpu_threads(1);
  auto backend = nn::make_backend(nn::DeviceKind::cpu);
  const std::size_t units = regions.size() * c.folds;
  std::map<std::size_t, std::vector<float>> mine;
  // Every rank makes the same number of rounds, so an error in one unit reaches all.
  const std::size_t rounds = (units + std::size_t(comm.size()) - 1) / std::size_t(comm.size());
  for (std::size_t k = 0; k < rounds; ++k) {
    const std::size_t u = k * std::size_t(comm.size()) + std::size_t(comm.rank());
    dist::collectively(comm, [&] {
      if (u < units) mine[u] = ensemble_scores(ev, regions[u / c.folds], u % c.folds, regions[u / c.folds].first, c, *backend);
    });
    if (comm.is_root())
      log::info("bumphunt: trained {} of {} classifiers", std::min(units, (k + 1) * std::size_t(comm.size())), units);
  }
  log::info("bumphunt: {} classifiers trained in {:.1f}s", units,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

  std::vector<std::vector<EfficiencyResult>> results(regions.size());
  std::vector<double> score(ev.rows());
  for (std::size_t ri = 0; ri < regions.size(); ++ri) {
    // Assemble this region's scores: every row comes from exactly one unit.
    std::fill(score.begin(), score.end(), 0.0);
    for (std::size_t k = 0; k < c.folds; ++k) {
      const auto it = mine.find(ri * c.folds + k);
      if (it == mine.end()) continue;
      std::size_t i = 0;
      for (std::size_t r = 0; r < ev.rows(); ++r)
        if (ev.fold[r] == k) score[r] = it->second[i++];
    }
    comm.sum_in_place(score.data(), score.size());
    const Region& R = regions[ri];
    for (const double eff : c.efficiencies) {
      // Threshold per fold: the top eff of that fold's events in the SR + sidebands.
      std::vector<double> threshold(c.folds, -std::numeric_limits<double>::infinity());
      if (eff < 1) {
        for (std::size_t k = 0; k < c.folds; ++k) {
          std::vector<double> s;
          for (std::size_t r = 0; r < ev.rows(); ++r)
            if (ev.fold[r] == k && ev.bin[r] >= R.window_lo && ev.bin[r] < R.window_hi) s.push_back(score[r]);
          if (s.empty()) continue;
          const auto keep = std::max<std::size_t>(1, std::size_t(std::ceil(eff * double(s.size()))));
          std::nth_element(s.begin(), s.begin() + std::ptrdiff_t(keep - 1), s.end(), std::greater<>());
          threshold[k] = s[keep - 1];
        }
      }
      std::vector<double> counts(nbins, 0.0);
      for (std::size_t r = 0; r < ev.rows(); ++r)
        if (score[r] >= threshold[ev.fold[r]]) counts[ev.bin[r]] += 1;
      EfficiencyResult e = evaluate(counts, c.mass_bins, R, c);
      e.efficiency = eff;
      results[ri].push_back(std::move(e));
    }
  }
  mine.clear();

  // Global significance per efficiency from background-only toys of every region's
  // selected spectrum (dijet background only): the look-elsewhere effect over the
  // signal regions; toys spread over the ranks, counts summed (rank-invariant).
  struct Global {
    double efficiency = 0, max_z = 0, pvalue = kNaN, z = kNaN;
    uint64_t toys = 0, failed = 0, at_or_above = 0;
  };
  std::vector<Global> globals;
  if (c.toys > 0 && c.background == BumpBackground::dijet) {
    const auto range = dist::partition(c.toys, comm.size(), comm.rank());
    for (std::size_t ei = 0; ei < c.efficiencies.size(); ++ei) {
      Global g;
      g.efficiency = c.efficiencies[ei];
      g.toys = c.toys;
      for (std::size_t ri = 0; ri < regions.size(); ++ri)
        if (std::isfinite(results[ri][ei].z)) g.max_z = std::max(g.max_z, results[ri][ei].z);
      uint64_t above = 0, failed = 0;
      for (uint64_t i = range.begin; i < range.end; ++i) {
        double max_z = 0;
        bool ok = true;
        for (std::size_t ri = 0; ri < regions.size() && ok; ++ri) {
          const auto& bkg = results[ri][ei].background_only;
          if (bkg.empty()) continue;  // no background model: the region is not in the hunt at this efficiency
          CounterRng rng(c.seed, stable_hash("bsmhunt.bumphunt.toys") + ei * 7919 + ri, i);
          stats::Spectrum toy{c.mass_bins, std::vector<double>(nbins)};
          for (std::size_t b = 0; b < nbins; ++b) toy.counts[b] = double(rng.poisson(std::max(0.0, bkg[b])));
          try {
            const auto r = stats::fit_signal_region(toy, {c.mass_bins[regions[ri].first],
                                                          c.mass_bins[regions[ri].first + c.sr_bins]}, c.fit);
            max_z = std::max(max_z, r.z);
          } catch (const InputError&) {
            ok = false;
          }
        }
        if (!ok) ++failed;
        else if (max_z >= g.max_z) ++above;
      }
      g.at_or_above = comm.sum(above), g.failed = comm.sum(failed);
      const uint64_t valid = g.toys - g.failed;
      if (valid > 0) {
        g.pvalue = std::max(double(g.at_or_above), 1.0) / double(valid);  // 1 / valid: a bound when none reached it
        g.z = stats::z_from_pvalue(g.pvalue);
      }
      globals.push_back(g);
    }
  }

  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    double best_z = -1;
    std::size_t best_r = 0, best_e = 0;
    for (std::size_t ri = 0; ri < regions.size(); ++ri)
      for (std::size_t ei = 0; ei < c.efficiencies.size(); ++ei)
        if (std::isfinite(results[ri][ei].z) && results[ri][ei].z > best_z)
          best_z = results[ri][ei].z, best_r = ri, best_e = ei;
    const auto& E = c.mass_bins;
    std::string j = "{\n";
    j += fmt::format("  \"format\": {}, \"version\": 1,\n", json::quote(kBumphuntFormat));
    j += fmt::format("  \"features_file\": {}, \"training_features\": [", json::quote(c.features));
    for (std::size_t i = 0; i < ev.names.size(); ++i) j += (i ? ", " : "") + json::quote(ev.names[i]);
    j += fmt::format("], \"mass_columns\": {},\n", json::quote(mass_name));
    j += fmt::format("  \"events\": {}, \"folds\": {}, \"sr_bins\": {}, \"sb_bins\": {}, \"background\": {},\n",
                     ev.rows(), c.folds, c.sr_bins, c.sb_bins,
                     json::quote(c.background == BumpBackground::linear ? "linear" : "dijet"));
    j += "  \"mass_bins\": " + json::numbers(E) + ",\n";
    j += "  \"efficiencies\": " + json::numbers(c.efficiencies) + ",\n";
    j += "  \"regions\": [\n";
    for (std::size_t ri = 0; ri < regions.size(); ++ri) {
      const Region& R = regions[ri];
      j += fmt::format("    {{\"index\": {}, \"signal_region\": [{}, {}], \"sidebands\": [[{}, {}], [{}, {}]],\n",
                       R.first, E[R.first], E[R.first + c.sr_bins], E[R.window_lo], E[R.first],
                       E[R.first + c.sr_bins], E[R.window_hi]);
      j += "     \"efficiencies\": [\n";
      for (std::size_t ei = 0; ei < results[ri].size(); ++ei) {
        const auto& e = results[ri][ei];
        j += fmt::format("       {{\"efficiency\": {}, \"observed\": {}, \"predicted\": {}, \"predicted_error\": {}, "
                         "\"z\": {}, \"p_value\": {}, \"message\": {},\n",
                         e.efficiency, e.observed, json::number_or_null(e.predicted),
                         json::number_or_null(e.predicted_error), json::number_or_null(e.z),
                         json::number_or_null(e.pvalue), json::quote(e.message));
        j += fmt::format("        \"fit\": {{\"function\": {}, \"chi2\": {}, \"ndf\": {}, \"p_value\": {}}},\n",
                         json::quote(e.function), json::number_or_null(e.chi2), e.ndf,
                         json::number_or_null(e.pvalue_fit));
        std::string fitted = "[";
        for (std::size_t b = 0; b < e.fitted.size(); ++b) fitted += (b ? ", " : "") + json::number_or_null(e.fitted[b]);
        j += fmt::format("        \"selected_counts\": {}, \"fit_counts\": {}]}}{}\n", json::numbers(e.selected),
                         fitted, ei + 1 < results[ri].size() ? "," : "");
      }
      j += fmt::format("     ]}}{}\n", ri + 1 < regions.size() ? "," : "");
    }
    j += "  ],\n  \"global\": [";
    for (std::size_t g = 0; g < globals.size(); ++g)
      j += fmt::format("{}{{\"efficiency\": {}, \"max_local_z\": {}, \"toys\": {}, \"failed\": {}, \"at_or_above\": {}, "
                       "\"p_value\": {}, \"z\": {}, \"bound\": {}}}",
                       g ? ", " : "", globals[g].efficiency, globals[g].max_z, globals[g].toys, globals[g].failed,
                       globals[g].at_or_above, json::number_or_null(globals[g].pvalue),
                       json::number_or_null(globals[g].z), globals[g].at_or_above == 0 ? "true" : "false");
    j += "],\n";
    if (best_z >= 0)
      j += fmt::format("  \"summary\": {{\"max_z\": {}, \"best\": {{\"region\": {}, \"signal_region\": [{}, {}], "
                       "\"efficiency\": {}, \"z\": {}}}}}\n}}\n",
                       best_z, regions[best_r].first, E[regions[best_r].first],
                       E[regions[best_r].first + c.sr_bins], c.efficiencies[best_e], best_z);
    else
      j += "  \"summary\": {\"max_z\": null, \"best\": null}\n}\n";
    json::write_text_atomically(c.output, j);

    std::string out = fmt::format("\nCWoLa bump hunt: {} events, {} folds, background {}\n", ev.rows(), c.folds,
                                  c.background == BumpBackground::linear ? "linear" : "dijet fit");
    out += fmt::format("{:>18} {:>7}", "signal region", "eff");
    out += fmt::format(" {:>10} {:>10} {:>8} {:>7}  {}\n", "observed", "predicted", "+-", "Z", "fit");
    for (std::size_t ri = 0; ri < regions.size(); ++ri)
      for (const auto& e : results[ri]) {
        out += fmt::format("{:>18} {:>7g} {:>10.0f} {:>10} {:>8} {:>7}  {}\n",
                           fmt::format("[{:g}, {:g}]", E[regions[ri].first], E[regions[ri].first + c.sr_bins]),
                           e.efficiency, e.observed,
                           std::isfinite(e.predicted) ? fmt::format("{:.1f}", e.predicted) : "-",
                           std::isfinite(e.predicted_error) ? fmt::format("{:.1f}", e.predicted_error) : "-",
                           std::isfinite(e.z) ? fmt::format("{:.2f}", e.z) : "-",
                           e.message.empty() ? e.function : e.function + " (" + e.message.substr(0, 60) + ")");
      }
    for (const auto& g : globals)
      out += fmt::format("efficiency {:g}: max local Z {:.2f}, global p {}{:.3g} (Z {}{:.2f}) from {} toys ({} failed)\n",
                         g.efficiency, g.max_z, g.at_or_above == 0 ? "< " : "", g.pvalue,
                         g.at_or_above == 0 ? "> " : "", g.z, g.toys, g.failed);
    if (best_z >= 0)
      out += fmt::format("largest local Z {:.2f} in [{:g}, {:g}] GeV at efficiency {:g}\n", best_z,
                         E[regions[best_r].first], E[regions[best_r].first + c.sr_bins], c.efficiencies[best_e]);
    std::cout << out << std::flush;
  });
  log::info("wrote {} ({:.1f}s)", c.output,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}

void add_bumphunt_options(po::options_description& d) {
  const BumphuntConfig c;
  std::vector<std::string> eff;
  for (const double e : c.efficiencies) eff.push_back(fmt::format("{:g}", e));
  d.add_options()
      ("features", po::value<std::string>()->default_value(""), "feature file with the mass column (e.g. dijet)")
      ("output,o", po::value<std::string>()->default_value(""), "result (JSON)")
      ("mass-bins", po::value<std::string>()->default_value(""),
       "mass bin edges in GeV: E0,E1,... or LO:HI:N or log:LO:HI:N")
      ("sr-bins", po::value<std::size_t>()->default_value(c.sr_bins), "mass bins per signal region")
      ("sb-bins", po::value<std::size_t>()->default_value(c.sb_bins), "sideband bins on each side")
      ("folds", po::value<std::size_t>()->default_value(c.folds), "k of the k-fold cross-training")
      ("efficiencies", po::value<std::string>()->default_value(join(eff, ",")),
       "fractions of the SR+SB events kept by the classifier cut")
      ("samples", po::value<std::string>()->default_value(""),
       "samples to hunt in, glob patterns (default: the data samples, or every sample if there is none)")
      ("exclude-features", po::value<std::string>()->default_value(""),
       "features not to train on besides the mass (columns equal to the mass are always left out)")
      ("regions", po::value<std::string>()->default_value(""), "first bins of the signal regions to hunt (default: all)")
      ("background", po::value<std::string>()->default_value("dijet"),
       "background in the SR: dijet (sideband fit of the whole spectrum) | linear (line through the sidebands)")
      ("functions", po::value<std::string>()->default_value("f3,f4,fexp"), "dijet functions in the order to try")
      ("pvalue-threshold", double_value(c.fit.pvalue_threshold), "sideband fit acceptance")
      ("sqrt-s", double_value(c.fit.sqrt_s_GeV), "centre-of-mass energy in GeV (x = m / sqrt(s))")
      ("toys", po::value<uint64_t>()->default_value(c.toys), "pseudo-experiments for the global p-value (dijet)")
      ("seed", po::value<uint64_t>()->default_value(c.seed), "seed of the folds, the networks and the toys")
      ("ensemble", po::value<std::size_t>()->default_value(c.ensemble),
       "classifiers per fold, each validated on another fold; their mean logit is the score")
      ("hidden", po::value<std::string>()->default_value("32,32,32"), "classifier hidden layer widths")
      ("epochs", po::value<uint64_t>()->default_value(c.epochs), "classifier epochs at most")
      ("batch-size", po::value<uint64_t>()->default_value(c.batch_size), "classifier batch size")
      ("patience", po::value<uint64_t>()->default_value(c.patience), "early stopping on the validation fold")
      ("learning-rate", double_value(c.learning_rate), "Adam learning rate")
      ("overwrite", po::value<bool>()->default_value(false)->implicit_value(true), "replace an existing output");
}

int run_bumphunt_command(const po::variables_map& vm, const dist::Communicator& comm) {
  BumphuntConfig c;
  c.features = get<std::string>(vm, "features");
  c.output = get<std::string>(vm, "output");
  const std::string bins = get<std::string>(vm, "mass-bins");
  if (!bins.empty()) c.mass_bins = parse_mass_bins(bins);
  c.sr_bins = get<std::size_t>(vm, "sr-bins");
  c.sb_bins = get<std::size_t>(vm, "sb-bins");
  c.folds = get<std::size_t>(vm, "folds");
  c.efficiencies = parse_numbers(get<std::string>(vm, "efficiencies"), "--efficiencies");
  for (const auto& p : split(get<std::string>(vm, "samples"), ','))
    if (!trim(p).empty()) c.samples.push_back(trim(p));
  for (const auto& p : split(get<std::string>(vm, "exclude-features"), ','))
    if (!trim(p).empty()) c.exclude_features.push_back(trim(p));
  const std::string regions = get<std::string>(vm, "regions");
  if (!trim(regions).empty())
    for (const double r : parse_numbers(regions, "--regions")) {
      if (r < 0 || r != std::floor(r)) throw InputError(fmt::format("--regions: {} is not a bin index", r));
      c.regions.push_back(std::size_t(r));
    }
  const std::string background = get<std::string>(vm, "background");
  if (background == "dijet") c.background = BumpBackground::dijet;
  else if (background == "linear") c.background = BumpBackground::linear;
  else throw InputError(fmt::format("--background '{}': expected dijet or linear", background));
  c.fit.functions = stats::parse_dijet_functions(get<std::string>(vm, "functions"));
  c.fit.pvalue_threshold = get<double>(vm, "pvalue-threshold");
  c.fit.sqrt_s_GeV = get<double>(vm, "sqrt-s");
  c.toys = get<uint64_t>(vm, "toys");
  c.seed = get<uint64_t>(vm, "seed");
  c.hidden.clear();
  for (const double w : parse_numbers(get<std::string>(vm, "hidden"), "--hidden")) {
    if (!(w >= 1) || w != std::floor(w)) throw InputError(fmt::format("--hidden: {} is not a layer width", w));
    c.hidden.push_back(std::size_t(w));
  }
  c.ensemble = get<std::size_t>(vm, "ensemble");
  c.epochs = get<uint64_t>(vm, "epochs");
  c.batch_size = get<uint64_t>(vm, "batch-size");
  c.patience = get<uint64_t>(vm, "patience");
  c.learning_rate = get<double>(vm, "learning-rate");
  if (c.epochs == 0 || c.batch_size == 0 || !(c.learning_rate > 0))
    throw InputError("--epochs, --batch-size and --learning-rate must be positive");
  c.overwrite = get<bool>(vm, "overwrite");
  return run_bumphunt(c, comm);
}

}  // namespace bsmhunt::pipeline
