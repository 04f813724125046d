// bsmhunt bumphunt: CWoLa hunting with k-fold cross-training over the ranks.
#include "bsmhunt/pipeline/Bumphunt.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <map>

#include "Hunt.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/dist/WorkItems.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/stats/LinearSideband.hpp"
#include "bsmhunt/stats/Significance.hpp"

namespace bsmhunt::pipeline {

namespace {

// Every window of sr_bins bins with sb_bins sideband bins on each side (or those
// starting at --regions).
std::vector<Region> plan_regions(const BumphuntConfig& c) {
  const std::size_t nbins = c.mass_bins.size() - 1;
  std::vector<Region> regions;
  for (std::size_t s = c.sb_bins; s + c.sr_bins + c.sb_bins <= nbins; ++s)
    if (c.regions.empty() || std::find(c.regions.begin(), c.regions.end(), s) != c.regions.end())
      regions.push_back({s, s - c.sb_bins, s + c.sr_bins + c.sb_bins});
  return regions;
}

// The (region, fold) classifiers dealt round-robin to the ranks; one BLAS thread each
// so a unit's bits do not depend on how many ranks share the node. Returns each
// region's score of every event (every row scored by the fold model that never saw it).
std::vector<std::vector<double>> train_classifiers(const dist::Communicator& comm, const BumphuntConfig& c,
                                                   const Events& ev, const std::vector<Region>& regions) {
  const auto t0 = std::chrono::steady_clock::now();
  nn::set_cpu_threads(1);
  auto backend = nn::make_backend(nn::DeviceKind::cpu);
  const std::size_t units = regions.size() * c.folds;
  std::map<std::size_t, std::vector<float>> mine;
  const std::size_t rounds = dist::work_rounds(units, comm.size());
  for (std::size_t k = 0; k < rounds; ++k) {
    const std::size_t u = dist::unit_of(k, comm.rank(), comm.size(), units);
    dist::collectively(comm, [&] {
      if (u < units) mine[u] = ensemble_scores(ev, regions[u / c.folds], u % c.folds, regions[u / c.folds].first, c, *backend);
    });
    if (comm.is_root())
      log::info("bumphunt: trained {} of {} classifiers", std::min(units, (k + 1) * std::size_t(comm.size())), units);
  }
  log::info("bumphunt: {} classifiers trained in {:.1f}s", units,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  std::vector<std::vector<double>> scores(regions.size(), std::vector<double>(ev.rows(), 0.0));
  for (std::size_t ri = 0; ri < regions.size(); ++ri) {
    auto& score = scores[ri];
    for (std::size_t k = 0; k < c.folds; ++k) {
      const auto it = mine.find(ri * c.folds + k);
      if (it == mine.end()) continue;
      std::size_t i = 0;
      for (std::size_t r = 0; r < ev.rows(); ++r)
        if (ev.fold[r] == k) score[r] = it->second[i++];
    }
    comm.sum_in_place(score.data(), score.size());
  }
  return scores;
}

// The selected spectrum of one region at one efficiency: the SR count against the
// background predicted from the sidebands, and its local significance.
EfficiencyResult evaluate(const std::vector<double>& counts, const std::vector<double>& edges, const Region& R,
                          const BumphuntConfig& c) {
  EfficiencyResult e;
  e.selected = counts;
  for (std::size_t b = R.first; b < R.first + c.sr_bins; ++b) e.observed += counts[b];
  if (c.background == BumpBackground::linear) {
    const auto p = stats::linear_sideband_prediction(counts, edges, R.first, R.first + c.sr_bins, R.window_lo, R.window_hi);
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


// At each efficiency, per fold, the top fraction of that fold's events in the SR and
// sidebands; the selected spectrum is evaluated.
std::vector<EfficiencyResult> select_and_evaluate(const BumphuntConfig& c, const Events& ev, const Region& R,
                                                  const std::vector<double>& score) {
  const std::size_t nbins = c.mass_bins.size() - 1;
  std::vector<EfficiencyResult> out;
  for (const double eff : c.efficiencies) {
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
    out.push_back(std::move(e));
  }
  return out;
}

// Global significance per efficiency from background-only toys of every region's
// selected spectrum (dijet background only): the look-elsewhere effect over the
// signal regions; toys spread over the ranks, counts summed (rank-invariant).
std::vector<GlobalResult> global_significance(const dist::Communicator& comm, const BumphuntConfig& c,
                                              const HuntResult& h) {
  std::vector<GlobalResult> globals;
  if (c.toys == 0 || c.background != BumpBackground::dijet) return globals;
  const std::size_t nbins = c.mass_bins.size() - 1;
  const auto range = dist::partition(c.toys, comm.size(), comm.rank());
  for (std::size_t ei = 0; ei < c.efficiencies.size(); ++ei) {
    GlobalResult g;
    g.efficiency = c.efficiencies[ei];
    g.toys = c.toys;
    for (std::size_t ri = 0; ri < h.regions.size(); ++ri)
      if (std::isfinite(h.results[ri][ei].z)) g.max_z = std::max(g.max_z, h.results[ri][ei].z);
    uint64_t above = 0, failed = 0;
    for (uint64_t i = range.begin; i < range.end; ++i) {
      double max_z = 0;
      bool ok = true;
      for (std::size_t ri = 0; ri < h.regions.size() && ok; ++ri) {
        const auto& bkg = h.results[ri][ei].background_only;
        if (bkg.empty()) continue;  // no background model: the region is not in the hunt at this efficiency
        CounterRng rng(c.seed, stable_hash("bsmhunt.bumphunt.toys") + ei * 7919 + ri, i);
        stats::Spectrum toy{c.mass_bins, std::vector<double>(nbins)};
        for (std::size_t b = 0; b < nbins; ++b) toy.counts[b] = double(rng.poisson(std::max(0.0, bkg[b])));
        try {
          const auto r = stats::fit_signal_region(
              toy, {c.mass_bins[h.regions[ri].first], c.mass_bins[h.regions[ri].first + c.sr_bins]}, c.fit);
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
  return globals;
}

}  // namespace

int run_bumphunt(const dist::Communicator& comm, const BumphuntConfig& c) {
  io::check_output_path(comm, c.output, c.overwrite, "--output");
  const auto t0 = std::chrono::steady_clock::now();
  HuntResult h;
  h.regions = plan_regions(c);
  dist::collectively(comm, [&] { h.events = load_events(comm, c); });
  const Events& ev = h.events;
  log::info("bumphunt: {} events in [{}, {}) GeV, {} signal regions x {} folds on {} ranks; training features {} "
            "(not the mass{})",
            ev.rows(), c.mass_bins.front(), c.mass_bins.back(), h.regions.size(), c.folds, comm.size(),
            join(ev.names, ","), ev.mass_columns.empty() ? "" : ": " + ev.mass_columns);
  const auto scores = train_classifiers(comm, c, ev, h.regions);
  for (std::size_t ri = 0; ri < h.regions.size(); ++ri)
    h.results.push_back(select_and_evaluate(c, ev, h.regions[ri], scores[ri]));
  h.globals = global_significance(comm, c, h);
  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    write_bumphunt_json(c.output, h, c);
    std::cout << bumphunt_table(h, c) << std::flush;
  });
  log::info("wrote {} ({:.1f}s)", c.output,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}

}  // namespace bsmhunt::pipeline
