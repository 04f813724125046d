// bsmhunt datamc: three passes over the rows of a feature file (value ranges; fine
// histograms of data and MC; per-sample histograms in bins of equal data content),
// each summed exactly over the ranks, then the agreement per feature on rank 0.
#include "bsmhunt/pipeline/DataMc.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>

#include "bsmhunt/core/AtomicFile.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Json.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/dist/WorkItems.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/physics/features/Selection.hpp"
#include "bsmhunt/pipeline/FeatureCommon.hpp"
#include "bsmhunt/stats/DataMc.hpp"
#include "bsmhunt/stats/Histogram.hpp"

namespace bsmhunt::pipeline {

namespace {

// Which samples are data, which the MC prediction (the others are ignored), and
// which features are compared.
struct Plan {
  std::vector<int> role;                  // per sample: 1 data, 0 MC, -1 not used
  std::vector<std::size_t> mc;            // MC sample indices, in file order
  std::vector<std::size_t> features;      // compared feature columns
  std::optional<float> sentinel;          // the value of a missing object's feature (--padding sentinel)
  double mc_to_data_lumi = 1;             // MC weights x this: the data's luminosity / the MC's
};

std::vector<std::string> names_of(const std::vector<physics::SampleInfo>& samples) {
  std::vector<std::string> n;
  for (const auto& s : samples) n.push_back(s.name);
  return n;
}

bool matches_any(const std::vector<std::string>& patterns, const std::string& name) {
  for (const auto& p : patterns)
    if (glob_match(p, name)) return true;
  return false;
}

void check_patterns(const std::vector<std::string>& patterns, const std::vector<std::string>& names,
                    const char* option, const std::string& file) {
  for (const auto& p : patterns)
    if (std::none_of(names.begin(), names.end(), [&](const std::string& n) { return glob_match(p, n); }))
      throw InputError(fmt::format("{}: '{}' matches nothing in {}{}", option, p, file, did_you_mean(p, names)));
}

Plan make_plan(const io::FeatureFileHeader& h, const DataMcConfig& c) {
  Plan plan;
  const auto sample_names = names_of(h.samples);
  check_patterns(c.mc_samples, sample_names, "--mc-samples", c.features);
  check_patterns(c.data_samples, sample_names, "--data-samples", c.features);
  check_patterns(c.only, h.feature_names, "--only", c.features);
  for (std::size_t s = 0; s < h.samples.size(); ++s) {
    const auto& info = h.samples[s];
    const bool data = c.data_samples.empty() ? info.role == physics::Role::data : matches_any(c.data_samples, info.name);
    const bool mc = !data && (c.mc_samples.empty() ? info.role == physics::Role::background
                                                   : matches_any(c.mc_samples, info.name));
    if (data && info.role != physics::Role::data)
      throw InputError(fmt::format("--data-samples: '{}' of {} is a {} sample, not data", info.name, c.features,
                                   physics::to_string(info.role)));
    if (mc && info.role == physics::Role::data)
      throw InputError(fmt::format("--mc-samples: '{}' of {} is data", info.name, c.features));
    plan.role.push_back(data ? 1 : (mc ? 0 : -1));
    if (mc) plan.mc.push_back(s);
  }
  if (std::find(plan.role.begin(), plan.role.end(), 1) == plan.role.end())
    throw InputError(fmt::format("{}: no data sample to compare (generate with --pseudo-data true, or name them with "
                                 "--data-samples)",
                                 c.features));
  if (plan.mc.empty())
    throw InputError(fmt::format("{}: no MC sample to compare the data with (--mc-samples)", c.features));
  // Pseudo-data smaller than the MC's luminosity: the MC is compared at the data's.
  plan.mc_to_data_lumi = data_to_mc_luminosity(h);
  if (plan.mc_to_data_lumi != 1)
    log::info("datamc: the data hold {:.4g} of the MC's luminosity; MC weights scaled to the data's",
              plan.mc_to_data_lumi);
  for (std::size_t f = 0; f < h.feature_names.size(); ++f)
    if (c.only.empty() || matches_any(c.only, h.feature_names[f])) plan.features.push_back(f);
  for (const auto& a : h.attributes)
    if (a.name == "padding" && std::get_if<std::string>(&a.value) && std::get<std::string>(a.value) == "sentinel")
      for (const auto& b : h.attributes)
        if (b.name == "sentinel" && std::get_if<double>(&b.value)) plan.sentinel = float(std::get<double>(b.value));
  return plan;
}

// Calls fn(x, weight, sample, row) for every row of this rank's share in the
// compared split that passes --select and belongs to a data or MC sample.
template <typename Fn>
void for_each_row(const dist::Communicator& comm, const io::FeatureFileReader& reader, const DataMcConfig& c,
                  const Plan& plan, const physics::Selection& selection, const char* pass, Fn&& fn) {
  const int8_t split = c.split == "train" ? 0 : c.split == "validation" ? 1 : c.split == "test" ? 2 : -1;
  const dist::Range mine = dist::partition(reader.rows(), comm.size(), comm.rank());
  const uint64_t chunk = 1 << 16;
  const std::size_t F = reader.header().feature_names.size();
  io::FeatureBlock block;
  Progress progress(pass, reader.rows(), "rows", comm.is_root());
  const uint64_t rounds = dist::read_rounds(comm, mine, chunk);
  for (uint64_t k = 0; k < rounds; ++k) {
    const dist::Range part = dist::read_chunk(mine, k, chunk);
    dist::collectively(comm, [&] {
      reader.read(part.begin, part.end, block);
      for (std::size_t r = 0; r < block.size(); ++r) {
        const auto s = std::size_t(block.sample_index[r]);
        if (s >= plan.role.size())
          throw InputError(fmt::format("{}: row {} has sample_index {}", c.features, part.begin + r, s));
        if (plan.role[s] < 0 || (split >= 0 && block.split[r] != split)) continue;
        const float* x = block.features.data() + r * F;
        if (!selection.passes(x)) continue;
        fn(x, plan.role[s] == 1 ? 1.0 : block.weight[r] * plan.mc_to_data_lumi, s, part.begin + r);
      }
    });
    progress.update(comm.sum(uint64_t(part.end - mine.begin)));
  }
  progress.finish();
}

bool is_missing(const Plan& plan, float v) { return plan.sentinel && v == *plan.sentinel; }

// Pass 1: the smallest and largest value of each compared feature (data and MC).
void value_ranges(const dist::Communicator& comm, const io::FeatureFileReader& reader, const DataMcConfig& c,
                  const Plan& plan, const physics::Selection& sel, std::vector<double>& lo, std::vector<double>& hi) {
  const std::size_t n = plan.features.size();
  std::vector<double> local(2 * n);
  for (std::size_t k = 0; k < n; ++k)
    local[k] = std::numeric_limits<double>::infinity(), local[n + k] = std::numeric_limits<double>::infinity();
  for_each_row(comm, reader, c, plan, sel, "datamc ranges", [&](const float* x, double, std::size_t, uint64_t row) {
    for (std::size_t k = 0; k < n; ++k) {
      const float v = x[plan.features[k]];
      if (!std::isfinite(v))
        throw InputError(fmt::format("{}: /features row {} ('{}') is {}", c.features, row,
                                     reader.header().feature_names[plan.features[k]], v));
      if (is_missing(plan, v)) continue;
      local[k] = std::min(local[k], double(v)), local[n + k] = std::min(local[n + k], -double(v));
    }
  });
  const std::vector<double> all = comm.all_gather(local);
  lo.assign(n, std::numeric_limits<double>::infinity()), hi.assign(n, -std::numeric_limits<double>::infinity());
  for (int r = 0; r < comm.size(); ++r)
    for (std::size_t k = 0; k < n; ++k)
      lo[k] = std::min(lo[k], all[std::size_t(r) * 2 * n + k]), hi[k] = std::max(hi[k], -all[std::size_t(r) * 2 * n + n + k]);
  for (std::size_t k = 0; k < n; ++k) {
    if (!std::isfinite(lo[k])) lo[k] = 0, hi[k] = 1;  // no value at all: one empty bin
    if (!(hi[k] > lo[k])) hi[k] = lo[k] + std::max(1.0, std::fabs(lo[k])) * 1e-3;
  }
}

// In-range content with the flows folded into the first and last bins (the edges
// span every value, so only rounding puts anything there).
std::vector<double> folded(const stats::Histogram& h, bool variance) {
  std::vector<double> v = variance ? h.variances() : h.values();
  v.front() += variance ? h.underflow_variance() : h.underflow();
  v.back() += variance ? h.overflow_variance() : h.overflow();
  return v;
}

struct FeatureResult {
  std::size_t column;
  std::vector<double> edges;
  std::vector<double> data;
  std::vector<std::vector<double>> mc;  // per MC sample
  std::vector<double> mc_variance;      // of the sum
  stats::DataMcAgreement agreement;
  double missing_data = 0, missing_mc = 0;
  bool flagged = false;
};

std::vector<FeatureResult> compare(const dist::Communicator& comm, const io::FeatureFileReader& reader,
                                   const DataMcConfig& c, const Plan& plan) {
  const physics::Selection sel = physics::parse_selection(c.select, reader.header().feature_names, "--select");
  std::vector<double> lo, hi;
  value_ranges(comm, reader, c, plan, sel, lo, hi);
  const std::size_t n = plan.features.size();

  // Pass 2: fine uniform histograms of data and of the summed MC.
  std::vector<stats::Histogram> fine_data, fine_mc;
  for (std::size_t k = 0; k < n; ++k) {
    const double top = hi[k] + (hi[k] - lo[k]) * 1e-9;  // the largest value inside the last bin
    fine_data.emplace_back(c.fine_bins, lo[k], top), fine_mc.emplace_back(c.fine_bins, lo[k], top);
  }
  std::vector<ExactSum> missing(2 * n);
  for_each_row(comm, reader, c, plan, sel, "datamc fine histograms", [&](const float* x, double w, std::size_t s, uint64_t) {
    const bool data = plan.role[s] == 1;
    for (std::size_t k = 0; k < n; ++k) {
      const float v = x[plan.features[k]];
      if (is_missing(plan, v)) {
        missing[data ? k : n + k].add(w);
        continue;
      }
      (data ? fine_data : fine_mc)[k].fill(v, w);
    }
  });
  for (std::size_t k = 0; k < n; ++k) fine_data[k].reduce(comm), fine_mc[k].reduce(comm);
  missing = comm.sum(missing);

  // Pass 3: per-sample histograms in bins of about equal data content.
  std::vector<FeatureResult> results(n);
  std::vector<std::size_t> mc_slot(plan.role.size(), 0);
  for (std::size_t m = 0; m < plan.mc.size(); ++m) mc_slot[plan.mc[m]] = m;
  std::vector<std::vector<stats::Histogram>> coarse(n);  // [feature][0: data, 1 + m: MC sample m]
  for (std::size_t k = 0; k < n; ++k) {
    const auto fine_edges = fine_data[k].edges();
    results[k].column = plan.features[k];
    results[k].edges = stats::equal_content_edges(fine_edges, folded(fine_data[k], false), c.bins);
    for (std::size_t h = 0; h <= plan.mc.size(); ++h) coarse[k].emplace_back(results[k].edges);
  }
  for_each_row(comm, reader, c, plan, sel, "datamc histograms", [&](const float* x, double w, std::size_t s, uint64_t) {
    const std::size_t h = plan.role[s] == 1 ? 0 : 1 + mc_slot[s];
    for (std::size_t k = 0; k < n; ++k) {
      const float v = x[plan.features[k]];
      if (!is_missing(plan, v)) coarse[k][h].fill(v, w);
    }
  });
  for (std::size_t k = 0; k < n; ++k) {
    auto& r = results[k];
    for (auto& h : coarse[k]) h.reduce(comm);
    r.data = folded(coarse[k][0], false);
    std::vector<double> mc_sum(r.data.size(), 0.0);
    r.mc_variance.assign(r.data.size(), 0.0);
    for (std::size_t m = 0; m < plan.mc.size(); ++m) {
      r.mc.push_back(folded(coarse[k][1 + m], false));
      const auto var = folded(coarse[k][1 + m], true);
      for (std::size_t b = 0; b < mc_sum.size(); ++b) mc_sum[b] += r.mc.back()[b], r.mc_variance[b] += var[b];
    }
    r.agreement = stats::compare_data_mc(r.data, mc_sum, r.mc_variance, c.shape);
    // The KS distance from the fine bins (the coarse ones would hide narrow differences).
    stats::kolmogorov_smirnov(folded(fine_data[k], false), folded(fine_mc[k], false), folded(fine_mc[k], true),
                              r.agreement.ks_distance, r.agreement.ks_p_value);
    r.missing_data = missing[k].value(), r.missing_mc = missing[n + k].value();
    r.flagged = r.agreement.ndf > 0 && r.agreement.p_value < c.flag_p_value;
  }
  return results;
}

void write_outputs(const DataMcConfig& c, const io::FeatureFileHeader& h, const Plan& plan,
                   const std::vector<FeatureResult>& results) {
  json::Value features = json::Value::array();
  std::vector<std::string> flagged;
  std::string csv = "feature,unit,chi2,ndf,chi2_ndf,p_value,ks_distance,ks_p_value,data_events,mc_yield,flagged\n";
  double data_total = 0, mc_total = 0;
  for (const auto& r : results) {
    const auto& a = r.agreement;
    const std::string& name = h.feature_names[r.column];
    if (r.flagged) flagged.push_back(name);
    data_total = a.data_total + r.missing_data, mc_total = a.mc_total + r.missing_mc;
    json::Value mc = json::Value::object();
    for (std::size_t m = 0; m < plan.mc.size(); ++m) mc[h.samples[plan.mc[m]].name] = json::numbers_or_null(r.mc[m]);
    const double per_dof = a.ndf > 0 ? a.chi2 / a.ndf : std::nan("");
    features.push_back({{"name", name},
                        {"unit", h.feature_units[r.column]},
                        {"chi2", json::number_or_null(a.chi2)},
                        {"ndf", a.ndf},
                        {"chi2_ndf", json::number_or_null(per_dof)},
                        {"p_value", json::number_or_null(a.p_value)},
                        {"ks_distance", json::number_or_null(a.ks_distance)},
                        {"ks_p_value", json::number_or_null(a.ks_p_value)},
                        {"flagged", r.flagged},
                        {"data_events", json::number_or_null(a.data_total)},
                        {"mc_yield", json::number_or_null(a.mc_total)},
                        {"mc_scale", json::number_or_null(a.scale)},
                        {"missing_data", json::number_or_null(r.missing_data)},
                        {"missing_mc", json::number_or_null(r.missing_mc)},
                        {"edges", json::numbers_or_null(r.edges)},
                        {"data", json::numbers_or_null(r.data)},
                        {"mc_variance", json::numbers_or_null(r.mc_variance)},
                        {"mc", mc}});
    csv += fmt::format("{},{},{:.6g},{},{:.6g},{:.6g},{:.6g},{:.6g},{:.10g},{:.10g},{}\n", name,
                       h.feature_units[r.column], a.chi2, a.ndf, per_dof, a.p_value, a.ks_distance, a.ks_p_value,
                       a.data_total, a.mc_total, r.flagged ? 1 : 0);
  }
  std::vector<std::string> data_names, mc_names;
  for (std::size_t s = 0; s < plan.role.size(); ++s)
    if (plan.role[s] == 1) data_names.push_back(h.samples[s].name);
  for (const auto m : plan.mc) mc_names.push_back(h.samples[m].name);
  json::Value out = {{"format", "bsmhunt.datamc"},
                     {"version", 1},
                     {"features_file", c.features},
                     {"normalization", c.shape ? "shape" : "luminosity"},
                     {"selection", c.select},
                     {"split", c.split},
                     {"flag_p_value", c.flag_p_value},
                     {"data_samples", data_names},
                     {"mc_samples", mc_names},
                     {"data_events", json::number_or_null(data_total)},
                     {"mc_yield", json::number_or_null(mc_total)},
                     {"data_over_mc", json::number_or_null(mc_total != 0 ? data_total / mc_total : std::nan(""))},
                     {"flagged", flagged},
                     {"features", features}};
  json::write(c.output, out);
  write_file_atomically(c.output + ".csv", csv);
}

void print_table(const DataMcConfig& c, const io::FeatureFileHeader& h, const std::vector<FeatureResult>& results) {
  std::vector<const FeatureResult*> order;
  for (const auto& r : results) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(), [](const FeatureResult* a, const FeatureResult* b) {
    return a->agreement.p_value < b->agreement.p_value;
  });
  std::size_t width = 7, flagged = 0;
  for (const auto& r : results) width = std::max(width, h.feature_names[r.column].size()), flagged += r.flagged;
  const std::size_t shown = std::max<std::size_t>(flagged, std::min<std::size_t>(results.size(), 15));
  std::string out = fmt::format("data/MC agreement ({} normalization; flagged: chi2 p-value < {:g}), {} of {} features "
                                "shown, most discrepant first:\n{:<{}}  {:>9} {:>4} {:>9} {:>10} {:>8} {:>10}  flag\n",
                                c.shape ? "shape" : "luminosity", c.flag_p_value, shown, results.size(), "feature",
                                width, "chi2", "ndf", "chi2/ndf", "p-value", "KS dist", "KS p");
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& r = *order[i];
    const auto& a = r.agreement;
    out += fmt::format("{:<{}}  {:>9.2f} {:>4} {:>9.2f} {:>10.3g} {:>8.4f} {:>10.3g}  {}\n",
                       h.feature_names[r.column], width, a.chi2, a.ndf, a.ndf > 0 ? a.chi2 / a.ndf : 0.0, a.p_value,
                       a.ks_distance, a.ks_p_value, r.flagged ? "DISAGREES" : "");
  }
  if (!results.empty()) {
    const auto& a = results.front().agreement;
    out += fmt::format("data: {:.0f} events, MC prediction: {:.1f} (data/MC {:.3f}); {} feature(s) flagged\n",
                       a.data_total + results.front().missing_data, a.mc_total + results.front().missing_mc,
                       (a.data_total + results.front().missing_data) / (a.mc_total + results.front().missing_mc),
                       flagged);
  }
  std::cout << out << std::flush;
}

}  // namespace

int run_datamc(const dist::Communicator& comm, const DataMcConfig& c) {
  io::check_output_path(comm, c.output, c.overwrite);
  io::FeatureFileReader reader(comm, c.features);
  const Plan plan = make_plan(reader.header(), c);
  if (plan.features.empty()) throw InputError(fmt::format("{}: no feature to compare (--only)", c.features));
  log::info("datamc: {} features, {} data sample(s), {} MC samples, {} normalization", plan.features.size(),
            std::count(plan.role.begin(), plan.role.end(), 1), plan.mc.size(), c.shape ? "shape" : "luminosity");
  const auto results = compare(comm, reader, c, plan);
  if (comm.is_root()) {
    write_outputs(c, reader.header(), plan, results);
    print_table(c, reader.header(), results);
  }
  comm.barrier();
  log::info("wrote {} and {}.csv", c.output, c.output);
  return 0;
}

}  // namespace bsmhunt::pipeline
