// The outputs of bsmhunt bumphunt: the JSON result (docs/bumphunt.md) and the table.
#include <fmt/format.h>

#include <cmath>

#include "Hunt.hpp"
#include "bsmhunt/core/Json.hpp"

namespace bsmhunt::pipeline {

namespace {

inline constexpr const char* kBumphuntFormat = "bsmhunt.bumphunt";

struct Best {
  double z = -1;
  std::size_t region = 0, efficiency = 0;
};

Best best_of(const HuntResult& h) {
  Best b;
  for (std::size_t ri = 0; ri < h.regions.size(); ++ri)
    for (std::size_t ei = 0; ei < h.results[ri].size(); ++ei)
      if (std::isfinite(h.results[ri][ei].z) && h.results[ri][ei].z > b.z) b = {h.results[ri][ei].z, ri, ei};
  return b;
}

json::Value efficiency_json(const EfficiencyResult& e) {
  using json::number_or_null;
  return {{"efficiency", e.efficiency},
          {"observed", e.observed},
          {"predicted", number_or_null(e.predicted)},
          {"predicted_error", number_or_null(e.predicted_error)},
          {"z", number_or_null(e.z)},
          {"p_value", number_or_null(e.pvalue)},
          {"message", e.message},
          {"fit", {{"function", e.function}, {"chi2", number_or_null(e.chi2)}, {"ndf", e.ndf},
                   {"p_value", number_or_null(e.pvalue_fit)}}},
          {"selected_counts", json::numbers(e.selected)},
          {"fit_counts", json::numbers_or_null(e.fitted)}};
}

}  // namespace

void write_bumphunt_json(const std::string& path, const HuntResult& h, const BumphuntConfig& c) {
  const auto& E = c.mass_bins;
  json::Value regions = json::Value::array();
  for (std::size_t ri = 0; ri < h.regions.size(); ++ri) {
    const Region& R = h.regions[ri];
    json::Value effs = json::Value::array();
    for (const auto& e : h.results[ri]) effs.push_back(efficiency_json(e));
    regions.push_back({{"index", R.first},
                       {"signal_region", {E[R.first], E[R.first + c.sr_bins]}},
                       {"sidebands", {{E[R.window_lo], E[R.first]}, {E[R.first + c.sr_bins], E[R.window_hi]}}},
                       {"efficiencies", effs}});
  }
  json::Value globals = json::Value::array();
  for (const auto& g : h.globals)
    globals.push_back({{"efficiency", g.efficiency},
                       {"max_local_z", g.max_z},
                       {"toys", g.toys},
                       {"failed", g.failed},
                       {"at_or_above", g.at_or_above},
                       {"p_value", json::number_or_null(g.pvalue)},
                       {"z", json::number_or_null(g.z)},
                       {"bound", g.at_or_above == 0}});
  const Best best = best_of(h);
  json::Value summary = {{"max_z", nullptr}, {"best", nullptr}};
  if (best.z >= 0)
    summary = {{"max_z", best.z},
               {"best", {{"region", h.regions[best.region].first},
                         {"signal_region", {E[h.regions[best.region].first], E[h.regions[best.region].first + c.sr_bins]}},
                         {"efficiency", c.efficiencies[best.efficiency]},
                         {"z", best.z}}}};
  const json::Value doc = {{"format", kBumphuntFormat},
                           {"version", 1},
                           {"features_file", c.features},
                           {"training_features", h.events.names},
                           {"mass_columns", h.events.mass_columns},
                           {"events", h.events.rows()},
                           {"folds", c.folds},
                           {"sr_bins", c.sr_bins},
                           {"sb_bins", c.sb_bins},
                           {"background", c.background == BumpBackground::linear ? "linear" : "dijet"},
                           {"mass_bins", json::numbers(E)},
                           {"efficiencies", json::numbers(c.efficiencies)},
                           {"regions", regions},
                           {"global", globals},
                           {"summary", summary}};
  json::write(path, doc);
}

std::string bumphunt_table(const HuntResult& h, const BumphuntConfig& c) {
  const auto& E = c.mass_bins;
  std::string out = fmt::format("\nCWoLa bump hunt: {} events, {} folds, background {}\n", h.events.rows(), c.folds,
                                c.background == BumpBackground::linear ? "linear" : "dijet fit");
  out += fmt::format("{:>18} {:>7}", "signal region", "eff");
  out += fmt::format(" {:>10} {:>10} {:>8} {:>7}  {}\n", "observed", "predicted", "+-", "Z", "fit");
  for (std::size_t ri = 0; ri < h.regions.size(); ++ri)
    for (const auto& e : h.results[ri]) {
      out += fmt::format("{:>18} {:>7g} {:>10.0f} {:>10} {:>8} {:>7}  {}\n",
                         fmt::format("[{:g}, {:g}]", E[h.regions[ri].first], E[h.regions[ri].first + c.sr_bins]),
                         e.efficiency, e.observed, std::isfinite(e.predicted) ? fmt::format("{:.1f}", e.predicted) : "-",
                         std::isfinite(e.predicted_error) ? fmt::format("{:.1f}", e.predicted_error) : "-",
                         std::isfinite(e.z) ? fmt::format("{:.2f}", e.z) : "-",
                         e.message.empty() ? e.function : e.function + " (" + e.message.substr(0, 60) + ")");
    }
  for (const auto& g : h.globals)
    out += fmt::format("efficiency {:g}: max local Z {:.2f}, global p {}{:.3g} (Z {}{:.2f}) from {} toys ({} failed)\n",
                       g.efficiency, g.max_z, g.at_or_above == 0 ? "< " : "", g.pvalue, g.at_or_above == 0 ? "> " : "",
                       g.z, g.toys, g.failed);
  const Best best = best_of(h);
  if (best.z >= 0)
    out += fmt::format("largest local Z {:.2f} in [{:g}, {:g}] GeV at efficiency {:g}\n", best.z,
                       E[h.regions[best.region].first], E[h.regions[best.region].first + c.sr_bins],
                       c.efficiencies[best.efficiency]);
  return out;
}

}  // namespace bsmhunt::pipeline
