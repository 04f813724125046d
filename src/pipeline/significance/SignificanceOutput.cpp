// The outputs of bsmhunt significance: the JSON result (docs/significance.md), the
// HDF5 archive of histograms, scan curves and ROC for plots, and the printed table.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "SignificanceResult.hpp"
#include "bsmhunt/core/Archive.hpp"
#include "bsmhunt/core/Json.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/stats/Significance.hpp"

namespace bsmhunt::pipeline {


namespace {

using json::number_or_null;

json::Value parameters_json(const physics::SampleInfo& s) {
  json::Value out = json::Value::object();
  for (const auto& p : s.parameters) {
    if (const auto* d = std::get_if<double>(&p.value)) out[p.name] = number_or_null(*d);
    else if (const auto* n = std::get_if<int64_t>(&p.value)) out[p.name] = *n;
    else out[p.name] = std::get<std::string>(p.value);
  }
  return out;
}

// Published cut-and-count yields a sample carries as attributes (the generator writes
// the thesis' tables into analysis A's models): printed and written beside bsmhunt's.
struct ReferenceYields {
  std::string source;
  double signal_preselection, signal_after_cuts, background_preselection, background_after_cuts, z;
};
std::optional<ReferenceYields> reference_yields(const physics::SampleInfo& info) {
  const auto number = [&](const char* name) {
    const auto* v = info.parameter(name);
    const double* d = v ? std::get_if<double>(v) : nullptr;
    return d ? *d : std::numeric_limits<double>::quiet_NaN();
  };
  const auto* source = info.parameter("reference");
  if (!source || !std::holds_alternative<std::string>(*source)) return std::nullopt;
  return ReferenceYields{std::get<std::string>(*source),          number("reference_signal_preselection"),
                         number("reference_signal_after_cuts"),   number("reference_background_preselection"),
                         number("reference_background_after_cuts"), number("reference_z")};
}

json::Value signal_json(const SignalResult& sr, const physics::SampleInfo& info, const std::string& column) {
  json::Value j = {{"name", info.name},
                   {"score_column", column},
                   {"parameters", parameters_json(info)},
                   {"total", number_or_null(sr.total)},
                   {"raw", uint64_t(sr.raw)},
                   {"auc", number_or_null(sr.auc)}};
  if (sr.scan.has_best()) {
    const std::size_t bi = sr.scan.best;
    const double s = sr.scan.s[bi], b = sr.scan.b[bi];
    j["best"] = {{"cut", number_or_null(sr.scan.cut[bi])},       {"s", number_or_null(s)},
                 {"b", number_or_null(b)},                       {"s_error", number_or_null(sr.scan.s_error[bi])},
                 {"b_error", number_or_null(sr.scan.b_error[bi])}, {"z", number_or_null(sr.scan.z[bi])},
                 {"s_over_sqrt_b", number_or_null(stats::s_over_sqrt_b(s, b))},
                 {"ams", number_or_null(stats::ams(s, b))}};
  } else {
    j["best"] = nullptr;
  }
  j["binned_z"] = number_or_null(sr.binned_z);
  if (!sr.fold_z.empty()) {
    const auto numbers = [](const std::vector<double>& v) {
      json::Value a = json::Value::array();
      for (const double x : v) a.push_back(number_or_null(x));
      return a;
    };
    j["unbiased"] = {{"folds", sr.fold_z.size()},
                     {"z", number_or_null(sr.z_folds)},
                     {"z_std", number_or_null(sr.z_folds_std)},
                     {"cut", numbers(sr.fold_cut)},
                     {"s", numbers(sr.fold_s)},
                     {"b", numbers(sr.fold_b)},
                     {"z_per_fold", numbers(sr.fold_z)}};
  }
  j["cut_and_count"] = {{"before", number_or_null(sr.cc_before)},
                        {"after", number_or_null(sr.cc_after)},
                        {"z", number_or_null(sr.cc_z)}};
  if (const auto ref = reference_yields(info))
    j["cut_and_count"]["reference"] = {{"source", ref->source},
                                       {"signal_before", number_or_null(ref->signal_preselection)},
                                       {"signal_after", number_or_null(ref->signal_after_cuts)},
                                       {"background_before", number_or_null(ref->background_preselection)},
                                       {"background_after", number_or_null(ref->background_after_cuts)},
                                       {"z", number_or_null(ref->z)}};
  return j;
}

json::Value channel_json(const ChannelResult& R, const SignificanceResult& r) {
  json::Value bkg_samples = json::Value::array(), cc_samples = json::Value::array();
  for (const std::size_t s : r.backgrounds) {
    const auto& info = r.samples[s];
    bkg_samples.push_back({{"name", info.name},
                           {"process", info.process},
                           {"total", number_or_null(R.sample_total[s])},
                           {"raw", uint64_t(R.sample_raw[s])}});
    cc_samples.push_back({{"name", info.name},
                          {"process", info.process},
                          {"before", number_or_null(R.cc_sample_before[s])},
                          {"after", number_or_null(R.cc_sample_after[s])}});
  }
  json::Value j = {{"name", R.channel->name},
                   {"selection", R.channel->selection.text()},
                   {"background", {{"total", number_or_null(R.background)},
                                   {"total_error", number_or_null(R.background_error)},
                                   {"samples", bkg_samples}}}};
  if (R.has_data) j["data"] = {{"total", number_or_null(R.data)}, {"luminosity_ifb", number_or_null(r.data_lumi_ifb)}};
  json::Value signals = json::Value::array();
  for (const auto& sr : R.signals)
    signals.push_back(
        signal_json(sr, r.samples[sr.sample], r.slot_columns.at(std::size_t(r.slot_of_signal(sr.sample)))));
  j["signals"] = signals;
  if (R.has_classification) {
    json::Value table = json::Value::array();
    for (const auto& p : R.table)
      table.push_back({{"threshold", number_or_null(p.threshold)},
                       {"precision", number_or_null(p.precision)},
                       {"recall", number_or_null(p.recall)},
                       {"f1", number_or_null(p.f1)},
                       {"accuracy", number_or_null(p.accuracy)}});
    j["thresholds"] = table;
    const auto& q = R.confusion;
    j["confusion"] = {{"threshold", number_or_null(q.threshold)},
                      {"true_positive", number_or_null(q.true_positive)},
                      {"false_positive", number_or_null(q.false_positive)},
                      {"true_negative", number_or_null(q.true_negative)},
                      {"false_negative", number_or_null(q.false_negative)}};
  }
  json::Value cc = {{"cuts", r.cuts.text()},
                    {"background", {{"before", number_or_null(R.cc_bkg_before)},
                                    {"after", number_or_null(R.cc_bkg_after)},
                                    {"after_error", number_or_null(R.cc_bkg_after_error)},
                                    {"samples", cc_samples}}}};
  if (R.has_data) {
    double before = 0, after = 0;
    for (const auto s : r.data) before += R.cc_sample_before[s], after += R.cc_sample_after[s];
    cc["data"] = {{"before", number_or_null(before)}, {"after", number_or_null(after)}};
  }
  j["cut_and_count"] = cc;
  return j;
}

}  // namespace

void write_significance_json(const std::string& path, const SignificanceResult& r) {
  const SignificanceConfig& c = *r.config;
  json::Value channels = json::Value::array();
  for (const auto& R : r.results) channels.push_back(channel_json(R, r));
  const json::Value doc = {
      {"format", kSignificanceFormat},
      {"version", kSignificanceFormatVersion},
      {"scores_file", c.scores},
      {"features_file", c.features},
      {"score_column", r.column_name},
      {"split", c.split},
      {"metric", stats::to_string(c.scan.metric)},
      {"bkg_uncertainty", c.scan.bkg_uncertainty},
      {"min_background", c.scan.min_background},
      {"min_mc_events", c.scan.min_mc_events},
      {"lumi_ifb", number_or_null(r.lumi_ifb)},
      {"bins", {{"n", c.bins}, {"lo", r.binning.lo}, {"hi", r.binning.hi},
                {"variable", r.binning.logit ? "logit" : "score"}}},
      {"cuts", r.cuts.text()},
      {"cut_folds", c.cut_folds},
      {"channels", channels},
      {"fill_seconds", number_or_null(r.fill_seconds)},
      {"ranks", r.ranks},
  };
  json::write(path, doc);
}

void write_significance_h5(const std::string& path, const SignificanceResult& r) {
  const SignificanceConfig& c = *r.config;
  Archive a;
  std::vector<double> score_edges;
  for (const double e : r.bin_edges) score_edges.push_back(r.binning.score(e));
  a.doubles["edges"] = score_edges;  // in score units (not uniform when binned in the logit)
  a.doubles["binned_edges"] = r.bin_edges;
  a.strings["binning"] = r.binning.logit ? "logit of the score" : "score";
  a.strings["score_column"] = r.column_name;
  a.strings["split"] = c.split;
  if (std::isfinite(r.lumi_ifb)) a.doubles["lumi_ifb"] = {r.lumi_ifb};
  if (std::isfinite(r.data_lumi_ifb)) a.doubles["data_lumi_ifb"] = {r.data_lumi_ifb};
  for (const auto& info : r.samples) {
    const std::string sb = "samples/" + info.name + "/";
    a.strings[sb + "role"] = std::string(physics::to_string(info.role));
    a.strings[sb + "process"] = info.process;
    // sigma x BR x k x filter efficiency: the cross section a limit on mu multiplies.
    a.doubles[sb + "cross_section_pb"] = {info.cross_section_pb * info.k_factor * info.filter_efficiency};
    a.strings[sb + "parameters"] = json::dump(parameters_json(info));
  }
  // Own-point scores: the column of each signal (its backgrounds: channels/CH/points/COLUMN/).
  if (r.column_name == kOwnPointColumn)
    for (std::size_t s = 0; s < r.samples.size(); ++s)
      if (r.samples[s].role == physics::Role::signal && r.slot_of_signal(s) >= 0)
        a.strings["samples/" + r.samples[s].name + "/score_column"] = r.slot_columns[std::size_t(r.slot_of_signal(s))];
  for (std::size_t ch = 0; ch < r.channels.size(); ++ch) {
    const std::string base = "channels/" + r.channels[ch].name + "/";
    a.strings[base + "selection"] = r.channels[ch].selection.text();
    const auto put = [&](const stats::Histogram& h, const std::string& hb) {
      a.doubles[hb + "sum_w"] = h.values();
      a.doubles[hb + "sum_w2"] = h.variances();
      // Scores outside [lo, hi) (a probability of exactly 1 is one): [underflow, overflow].
      a.doubles[hb + "flow_w"] = {h.underflow(), h.overflow()};
      a.doubles[hb + "flow_w2"] = {h.underflow_variance(), h.overflow_variance()};
    };
    for (std::size_t s = 0; s < r.samples.size(); ++s) {
      const bool signal = r.samples[s].role == physics::Role::signal;
      if (signal && r.slot_of_signal(s) < 0) continue;  // no score at its own point
      // A signal in its own slot; backgrounds and data in slot 0 here, every slot below.
      put(r.histogram(ch, s, signal ? std::size_t(r.slot_of_signal(s)) : 0), base + "histograms/" + r.samples[s].name + "/");
      if (signal || r.column_name != kOwnPointColumn) continue;
      for (std::size_t u = 0; u < r.slot_columns.size(); ++u)
        put(r.histogram(ch, s, u), base + "points/" + r.slot_columns[u] + "/histograms/" + r.samples[s].name + "/");
    }
    for (const auto& sr : r.results[ch].signals) {
      const std::string sb = base + "scan/" + r.samples[sr.sample].name + "/";
      a.doubles[sb + "cut"] = sr.scan.cut, a.doubles[sb + "s"] = sr.scan.s, a.doubles[sb + "b"] = sr.scan.b;
      a.doubles[sb + "z"] = sr.scan.z;
      if (!sr.has_roc) continue;
      const std::string rb = base + "roc/" + r.samples[sr.sample].name + "/";
      std::vector<double> t, es, eb;
      for (const auto& p : sr.roc.points) {
        t.push_back(p.threshold), es.push_back(p.signal_efficiency), eb.push_back(p.background_efficiency);
      }
      a.doubles[rb + "threshold"] = t, a.doubles[rb + "signal_efficiency"] = es;
      a.doubles[rb + "background_efficiency"] = eb;
    }
  }
  io::write_archive(path, a, kSignificanceFormat, kSignificanceFormatVersion);
}

namespace {

// The cut-and-count of the signals that carry published yields, bsmhunt's numbers
// with the reference's in parentheses (the reference's own cuts are the job's --cuts).
std::string reference_table(const ChannelResult& R, const SignificanceResult& r) {
  std::string out, source;
  for (const SignalResult& sr : R.signals) {
    const auto ref = reference_yields(r.samples[sr.sample]);
    if (!ref) continue;
    if (out.empty())
      out = fmt::format("  cut-and-count beside {} [bsmhunt (reference)]:\n  {:<26} {:>20} {:>16} {:>26} {:>24} {:>14}\n",
                        ref->source, "signal", "s before cuts", "s after", "background before cuts",
                        "background after", "Z");
    out += fmt::format("  {:<26} {:>20} {:>16} {:>26} {:>24} {:>14}\n", r.samples[sr.sample].name,
                       fmt::format("{:.3g} ({:.3g})", sr.cc_before, ref->signal_preselection),
                       fmt::format("{:.3g} ({:.3g})", sr.cc_after, ref->signal_after_cuts),
                       fmt::format("{:.4g} ({:.7g})", R.cc_bkg_before, ref->background_preselection),
                       fmt::format("{:.3g} +- {:.2g} ({:.3g})", R.cc_bkg_after, R.cc_bkg_after_error,
                                   ref->background_after_cuts),
                       fmt::format("{} ({:.2g})", std::isfinite(sr.cc_z) ? fmt::format("{:.2f}", sr.cc_z) : "-",
                                   ref->z));
  }
  return out;
}

}  // namespace

std::string significance_table(const SignificanceResult& r) {
  const SignificanceConfig& c = *r.config;
  std::string out;
  // A cut close to 1 printed as 1 - 1e-05 (4 significant digits would say "1").
  const auto cut_text = [](double cut) {
    return cut > 0.999 && cut < 1 ? fmt::format("1-{:.2g}", 1 - cut) : fmt::format("{:.4g}", cut);
  };
  const auto z_of = [](const SignalResult* sr) { return sr->scan.has_best() ? sr->scan.z[sr->scan.best] : -1.0; };
  for (const ChannelResult& R : r.results) {
    out += fmt::format("\nchannel {} ({}): background {:.4g} +- {:.2g}{}  [{} split, scaled to all events]\n",
                       R.channel->name, R.channel->selection.text().empty() ? "all events" : R.channel->selection.text(),
                       R.background, R.background_error,
                       !R.has_data ? std::string()
                       : r.data_lumi_ifb != r.lumi_ifb && std::isfinite(r.data_lumi_ifb) && std::isfinite(r.lumi_ifb)
                           ? fmt::format(", data {:.0f} at {:.4g} fb^-1 (MC at {:.4g})", R.data, r.data_lumi_ifb, r.lumi_ifb)
                           : fmt::format(", data {:.0f}", R.data),
                       c.split);
    if (!r.cuts.conditions.empty())
      out += fmt::format("  cut-and-count ({}): background {:.4g} -> {:.4g} +- {:.2g}\n", r.cuts.text(),
                         R.cc_bkg_before, R.cc_bkg_after, R.cc_bkg_after_error);
    std::vector<const SignalResult*> order;
    for (const auto& sr : R.signals) order.push_back(&sr);
    std::stable_sort(order.begin(), order.end(), [&](auto* a1, auto* a2) { return z_of(a1) > z_of(a2); });
    out += fmt::format("  {:<34} {:>10} {:>8} {:>10} {:>10} {:>7} {:>7} {:>14} {:>7} {:>10} {:>7}\n", "signal", "S",
                       "AUC", "best cut", "s", "b", "Z", "Z folds", "Z_bin", "s (c&c)", "Z c&c");
    for (std::size_t i = 0; i < std::min(order.size(), c.print_top); ++i) {
      const SignalResult& sr = *order[i];
      const bool best = sr.scan.has_best();
      out += fmt::format("  {:<34} {:>10.4g} {:>8.4f} {:>10} {:>10} {:>7} {:>7} {:>14} {:>7.3f} {:>10.4g} {:>7}\n",
                         r.samples[sr.sample].name, sr.total, sr.auc, best ? cut_text(sr.scan.cut[sr.scan.best]) : "-",
                         best ? fmt::format("{:.4g}", sr.scan.s[sr.scan.best]) : "-",
                         best ? fmt::format("{:.4g}", sr.scan.b[sr.scan.best]) : "-",
                         best ? fmt::format("{:.3f}", sr.scan.z[sr.scan.best]) : "-",
                         std::isfinite(sr.z_folds) ? fmt::format("{:.3f}+-{:.3f}", sr.z_folds, sr.z_folds_std) : "-",
                         sr.binned_z, sr.cc_after,
                         std::isfinite(sr.cc_z) ? fmt::format("{:.3f}", sr.cc_z) : "-");
    }
    if (order.size() > c.print_top)
      out += fmt::format("  ... {} more signals in {}\n", order.size() - c.print_top, c.output);
    if (!r.cuts.conditions.empty()) out += reference_table(R, r);
    if (R.has_classification)
      out += fmt::format("  at score >= {:.3g}: precision {:.4f}, recall {:.4f}, F1 {:.4f}, accuracy {:.4f}\n",
                         R.confusion.threshold, R.confusion.precision, R.confusion.recall, R.confusion.f1,
                         R.confusion.accuracy);
  }
  return out;
}

}  // namespace bsmhunt::pipeline
