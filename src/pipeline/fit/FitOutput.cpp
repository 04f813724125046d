// The outputs of bsmhunt fit: the JSON result (docs/fit.md), per-bin HDF5 arrays and
// the summary table.
#include <fmt/format.h>

#include <cmath>

#include "bsmhunt/core/Json.hpp"
#include "bsmhunt/io/SpectrumFile.hpp"
#include "bsmhunt/pipeline/Fit.hpp"

namespace bsmhunt::pipeline {

namespace {

using stats::FunctionFit;
using stats::SidebandFit;
using stats::SignalRegionResult;
using stats::Spectrum;

json::Value number(double v) { return json::number(v, "fit output"); }
json::Value numbers(const std::vector<double>& v) { return json::numbers(v, "fit output"); }

json::Value matrix(const std::vector<double>& m, std::size_t k) {
  json::Value out = json::Value::array();
  for (std::size_t r = 0; r < k; ++r)
    out.push_back(numbers(std::vector<double>(m.begin() + std::ptrdiff_t(r * k), m.begin() + std::ptrdiff_t((r + 1) * k))));
  return out;
}

std::vector<double> pulls_of(const Spectrum& s, const FunctionFit& f) {
  std::vector<double> p(s.bins());
  for (std::size_t b = 0; b < s.bins(); ++b) p[b] = (s.counts[b] - f.expected[b]) / std::sqrt(f.expected[b]);
  return p;
}

json::Value range_GeV(const Spectrum& s, std::size_t first, std::size_t end) {
  return {number(s.edges[first]), number(s.edges[end])};
}

json::Value attempt_json(const Spectrum& s, const FunctionFit& a) {
  json::Value out = {{"function", stats::to_string(a.function)},
                     {"fit_range_GeV", range_GeV(s, a.first_bin, a.end_bin)},
                     {"fit_bins", a.fit_bins},
                     {"converged", a.converged}};
  if (a.converged) out["chi2"] = number(a.chi2), out["ndf"] = a.ndf, out["pvalue"] = number(a.pvalue);
  out["message"] = a.message;
  return out;
}

json::Value sideband_json(const Spectrum& s, const SidebandFit& fit, std::size_t signal_first, std::size_t signal_end) {
  const FunctionFit& f = fit.result();
  std::vector<double> in_fit(s.bins(), 0.0);
  for (std::size_t b = f.first_bin; b < f.end_bin; ++b) in_fit[b] = (b < signal_first || b >= signal_end) ? 1 : 0;
  json::Value attempts = json::Value::array();
  for (const auto& a : fit.attempts) attempts.push_back(attempt_json(s, a));
  return {{"accepted", fit.accepted},
          {"function", stats::to_string(f.function)},
          {"fit_range_GeV", range_GeV(s, f.first_bin, f.end_bin)},
          {"fit_bins", f.fit_bins},
          {"parameters", numbers(f.parameters)},
          {"errors", numbers(f.errors)},
          {"covariance", matrix(f.covariance, f.parameters.size())},
          {"log_p1", number(f.log_p1)},
          {"chi2", number(f.chi2)},
          {"ndf", f.ndf},
          {"pvalue", number(f.pvalue)},
          {"deviance", number(f.deviance)},
          {"edm", number(f.edm)},
          {"expected", numbers(f.expected)},
          {"expected_error", numbers(f.expected_error)},
          {"pulls", numbers(pulls_of(s, f))},
          {"in_fit", numbers(in_fit)},
          {"attempts", attempts}};
}

}  // namespace

void write_fit_json(const std::filesystem::path& path, const FitRun& run, const FitConfig& config) {
  const Spectrum& s = run.spectrum;
  const auto& o = config.options;
  std::vector<std::string> functions;
  for (auto f : o.functions) functions.emplace_back(stats::to_string(f));
  double events = 0;
  for (double n : s.counts) events += n;
  json::Value doc = {{"format", "bsmhunt-fit"}, {"version", 1}, {"input", config.input.string()}};
  if (!run.source.empty()) doc["spectrum_source"] = run.source;
  doc["sqrt_s_GeV"] = number(o.sqrt_s_GeV);
  doc["options"] = {{"functions", functions},
                    {"pvalue_threshold", number(o.pvalue_threshold)},
                    {"reduce_range", o.reduce_range},
                    {"min_sideband_bins", o.min_sideband_bins},
                    {"max_reductions", o.max_reductions},
                    {"starts", o.starts},
                    {"toys", config.toys.toys},
                    {"seed", config.toys.seed}};
  doc["conventions"] = {{"likelihood", "binned Poisson, deviance minimised"},
                        {"chi2", "pearson"},
                        {"pull", "(n - mu) / sqrt(mu)"},
                        {"local_pvalue", "P(n >= observed), Poisson convolved with a Gaussian fit uncertainty "
                                         "truncated at 0"},
                        {"z", "one-sided, Phi^-1(1 - p), 0 for p >= 0.5"}};
  doc["spectrum"] = {{"bins", s.bins()}, {"events", number(events)}, {"edges", numbers(s.edges)},
                     {"counts", numbers(s.counts)}};
  doc["background_only"] = sideband_json(s, run.background_only, 0, 0);
  json::Value regions = json::Value::array();
  for (const SignalRegionResult& r : run.regions)
    regions.push_back({{"lo_GeV", number(r.region.lo_GeV)},
                       {"hi_GeV", number(r.region.hi_GeV)},
                       {"first_bin", r.first_bin},
                       {"end_bin", r.end_bin},
                       {"observed", number(r.observed)},
                       {"expected", number(r.expected)},
                       {"expected_error", number(r.expected_error)},
                       {"pvalue_local", number(r.pvalue)},
                       {"z_local", number(r.z)},
                       {"pvalue_local_stat", number(r.pvalue_stat)},
                       {"z_local_stat", number(r.z_stat)},
                       {"fit", sideband_json(s, r.fit, r.first_bin, r.end_bin)}});
  doc["signal_regions"] = regions;
  doc["max_local_z"] = number(run.max_z);
  if (run.global) {
    const auto& g = *run.global;
    doc["global"] = {{"toys", g.toys},
                     {"failed", g.failed},
                     {"at_or_above", g.at_or_above},
                     {"observed_max_z", number(g.observed_max_z)},
                     {"pvalue", number(g.pvalue)},
                     {"pvalue_error", number(g.pvalue_error)},
                     {"z", number(g.z)},
                     {"z_is_lower_bound", g.z_is_lower_bound}};
  } else {
    doc["global"] = nullptr;
  }
  json::write(path, doc);
}

void write_fit_h5(const std::filesystem::path& path, const FitRun& run, const FitConfig& config) {
  const Spectrum& s = run.spectrum;
  std::vector<io::NamedArray> arrays{{"edges", s.edges}, {"observed", s.counts}};
  const auto add_fit = [&](const std::string& group, const FunctionFit& f) {
    arrays.push_back({group + "/expected", f.expected});
    arrays.push_back({group + "/expected_error", f.expected_error});
    arrays.push_back({group + "/pull", pulls_of(s, f)});
  };
  add_fit("background_only", run.background_only.result());
  for (std::size_t r = 0; r < run.regions.size(); ++r)
    add_fit(fmt::format("region_{}", r), run.regions[r].fit.result());
  io::write_array_file(path, arrays,
                       {{"format", "bsmhunt-fit-bins"}, {"input", config.input.string()},
                        {"description", "per-bin arrays of bsmhunt fit; region_<i> follows signal_regions[i] of the "
                                        "JSON result"}});
}

std::string format_fit_summary(const FitRun& run, const FitConfig& config) {
  const Spectrum& s = run.spectrum;
  double events = 0;
  for (double n : s.counts) events += n;
  const auto fit_text = [&](const SidebandFit& fit) {
    const FunctionFit& f = fit.result();
    return fmt::format("{:<5} {:>15} {:>12} {:>8.3g}",
                       fmt::format("{}{}", stats::to_string(f.function), fit.accepted ? "" : "*"),
                       fmt::format("{:g}-{:g}", s.edges[f.first_bin], s.edges[f.end_bin]),
                       fmt::format("{:.1f}/{}", f.chi2, f.ndf), f.pvalue);
  };
  std::string t = fmt::format("bsmhunt fit: {}: {} bins, {:g}-{:g} GeV, {:.6g} events; sqrt(s) = {:g} GeV\n",
                              config.input.string(), s.bins(), s.edges.front(), s.edges.back(), events,
                              config.options.sqrt_s_GeV);
  t += fmt::format("{:<19} {:<5} {:>15} {:>12} {:>8} {:>10} {:>22} {:>8} {:>8}\n", "signal region [GeV]", "func",
                   "fit range [GeV]", "chi2/ndf", "p(chi2)", "observed", "expected", "Z local", "Z stat");
  t += fmt::format("{:<19} {}\n", "(background only)", fit_text(run.background_only));
  for (const auto& r : run.regions) {
    t += fmt::format("{:<19} {} {:>10.6g} {:>22} {:>8.2f} {:>8.2f}\n",
                     fmt::format("{:g}-{:g}", r.region.lo_GeV, r.region.hi_GeV), fit_text(r.fit), r.observed,
                     fmt::format("{:.6g} +- {:.3g}", r.expected, r.expected_error), r.z, r.z_stat);
  }
  bool any_rejected = !run.background_only.accepted;
  for (const auto& r : run.regions) any_rejected |= !r.fit.accepted;
  if (any_rejected)
    t += fmt::format("* no function reached p(chi2) > {:g}: the fit with the best p-value is shown\n",
                     config.options.pvalue_threshold);
  t += fmt::format("fits of the observed spectrum: {:.3f} s for {} signal region(s) and the background-only fit\n",
                   run.fit_seconds, run.regions.size());
  if (!run.regions.empty()) t += fmt::format("max local Z = {:.3f}\n", run.max_z);
  if (run.global) {
    const auto& g = *run.global;
    t += fmt::format("global p-value = {:.4g} +- {:.2g} ({} of {} toys at or above, {} failed), Z global {} {:.3f}; "
                     "{:.1f} toys/s on rank 0\n",
                     g.pvalue, g.pvalue_error, g.at_or_above, g.toys - g.failed, g.failed,
                     g.z_is_lower_bound ? ">" : "=", g.z, run.toys_per_second);
  }
  return t;
}

}  // namespace bsmhunt::pipeline
