// bsmhunt fit --peak: the spectrum (every rank), the sliding scan for the starting
// mass, the signal + background fit and the background-only fit (every rank,
// identically: small), the global significance of the scan from toys spread over
// the ranks; rank 0 writes the JSON (docs/fit.md, "Peak fits"), the per-bin HDF5
// arrays and prints the summary.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <optional>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Json.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/SpectrumFile.hpp"
#include "bsmhunt/pipeline/Fit.hpp"

namespace bsmhunt::pipeline {

namespace {

using json::number_or_null;

struct PeakRun {
  stats::Spectrum spectrum;
  std::string source;
  stats::PeakModel model;
  stats::FitRange range;
  double width = 0, step = 0;
  std::optional<stats::PeakScan> scan;
  stats::PeakFitResult signal_plus_background, background;
  stats::LocalSignificance local;
  std::optional<stats::PeakGlobal> global;
};

std::vector<std::string> parameter_names(const stats::PeakModel& m) {
  const bool gamma = m.shape == stats::PeakShape::breit_wigner || m.shape == stats::PeakShape::voigt;
  std::vector<std::string> names{"signal_yield", "mass_GeV", gamma ? "gamma_GeV" : "sigma_GeV", "background_yield"};
  for (std::size_t k = 0; k < m.background.parameters(); ++k) names.push_back(fmt::format("background_shape_{}", k + 1));
  return names;
}

std::vector<double> expected_in_range(const PeakRun& run, const stats::PeakFitResult& f) {
  const auto& e = run.spectrum.edges;
  const std::vector<double> edges(e.begin() + std::ptrdiff_t(run.range.first), e.begin() + std::ptrdiff_t(run.range.end) + 1);
  return f.parameters.empty() ? std::vector<double>(edges.size() - 1, 0.0)
                              : stats::peak_expected(run.model, edges, f.parameters);
}

json::Value fit_json(const PeakRun& run, const stats::PeakFitResult& f) {
  json::Value cov = json::Value::array();
  const std::size_t P = f.parameters.size();
  for (std::size_t r = 0; r < P && f.covariance.size() == P * P; ++r) {
    json::Value row = json::Value::array();
    for (std::size_t c = 0; c < P; ++c) row.push_back(number_or_null(f.covariance[r * P + c]));
    cov.push_back(row);
  }
  return {{"converged", f.converged},
          {"message", f.message},
          {"parameter_names", parameter_names(run.model)},
          {"parameters", json::numbers_or_null(f.parameters)},
          {"errors", json::numbers_or_null(f.errors)},
          {"covariance", cov},
          {"chi2", number_or_null(f.chi2)},
          {"ndf", f.ndf},
          {"deviance", number_or_null(2 * f.nll)},
          {"expected", json::numbers_or_null(expected_in_range(run, f))}};
}

void write_peak_json(const std::filesystem::path& path, const PeakRun& run, const FitConfig& config) {
  const auto& f = run.signal_plus_background;
  const PeakConfig& p = config.peak;
  const stats::PeakModel& m = run.model;
  const auto& e = run.spectrum.edges;
  json::Value peak = {{"shape", stats::to_string(m.shape)},
                      {"background", m.background.name()},
                      {"fit_range_GeV", {e[run.range.first], e[run.range.end]}},
                      {"bins", run.range.end - run.range.first},
                      {"converged", f.converged},
                      {"mass_GeV", number_or_null(f.converged ? f.parameters[1] : NAN)},
                      {"mass_error_GeV", number_or_null(f.converged ? f.errors[1] : NAN)},
                      {"width_GeV", number_or_null(f.converged ? f.parameters[2] : NAN)},
                      {"width_error_GeV", number_or_null(f.converged ? f.errors[2] : NAN)},
                      {"width_is", parameter_names(m)[2] == "gamma_GeV" ? "Breit-Wigner Gamma (FWHM)" : "Gaussian sigma"},
                      {"yield", number_or_null(f.converged ? f.parameters[0] : NAN)},
                      {"yield_error", number_or_null(f.converged ? f.errors[0] : NAN)},
                      {"local", {{"q0", number_or_null(run.local.q0)}, {"z", number_or_null(run.local.z)},
                                 {"pvalue", number_or_null(run.local.p)}}}};
  if (m.shape == stats::PeakShape::voigt) peak["resolution_GeV"] = m.resolution;
  if (m.shape == stats::PeakShape::crystal_ball)
    peak["cb_tails"] = {m.cb_alpha_lo, m.cb_n_lo, m.cb_alpha_hi, m.cb_n_hi};
  if (p.truth_mass > 0) {
    peak["truth_mass_GeV"] = p.truth_mass;
    peak["mass_pull"] = number_or_null(f.converged ? (f.parameters[1] - p.truth_mass) / f.errors[1] : NAN);
  }
  json::Value doc = {{"format", "bsmhunt-fit"}, {"version", 1}, {"mode", "peak"}, {"input", config.input.string()}};
  if (!run.source.empty()) doc["spectrum_source"] = run.source;
  doc["conventions"] = {
      {"likelihood", "binned Poisson, deviance minimised; yields in events over the fit range"},
      {"z", "signed: sign(yield) sqrt(2 (nll_background - nll_signal_plus_background)), p = 1 - Phi(z)"}};
  doc["spectrum"] = {{"edges", json::numbers_or_null(e)}, {"counts", json::numbers_or_null(run.spectrum.counts)}};
  doc["peak"] = peak;
  doc["signal_plus_background"] = fit_json(run, f);
  doc["background_only"] = fit_json(run, run.background);
  if (run.scan)
    doc["scan"] = {{"width_GeV", run.width}, {"step_GeV", run.step}, {"mass_GeV", json::numbers_or_null(run.scan->mass)},
                   {"z", json::numbers_or_null(run.scan->z)}, {"yield", json::numbers_or_null(run.scan->yield)},
                   {"best_mass_GeV", number_or_null(run.scan->mass.empty() ? NAN : run.scan->mass[run.scan->best])},
                   {"max_z", number_or_null(run.scan->max_z())}};
  else
    doc["scan"] = nullptr;
  if (run.global) {
    const auto& g = *run.global;
    doc["global"] = {{"toys", g.toys}, {"failed", g.failed}, {"at_or_above", g.at_or_above},
                     {"observed_max_z", number_or_null(g.observed_max_z)}, {"pvalue", number_or_null(g.p_global)},
                     // No toy reached the observed Z: the p-value is (0 + 1/2) / toys, an upper estimate.
                     {"pvalue_is_upper_bound", g.at_or_above == 0},
                     {"z", number_or_null(g.z_global)}, {"upcrossings_z1", number_or_null(g.upcrossings)},
                     {"pvalue_gross_vitells", number_or_null(g.p_gross_vitells)},
                     {"z_gross_vitells", number_or_null(g.z_gross_vitells)}};
  } else {
    doc["global"] = nullptr;
  }
  json::write(path, doc);
}

void write_peak_h5(const std::filesystem::path& path, const PeakRun& run, const FitConfig& config) {
  const auto& e = run.spectrum.edges;
  std::vector<io::NamedArray> arrays{
      {"edges", std::vector<double>(e.begin() + std::ptrdiff_t(run.range.first), e.begin() + std::ptrdiff_t(run.range.end) + 1)},
      {"observed", std::vector<double>(run.spectrum.counts.begin() + std::ptrdiff_t(run.range.first),
                                       run.spectrum.counts.begin() + std::ptrdiff_t(run.range.end))},
      {"signal_plus_background/expected", expected_in_range(run, run.signal_plus_background)},
      {"background_only/expected", expected_in_range(run, run.background)}};
  if (run.scan) arrays.push_back({"scan/mass", run.scan->mass}), arrays.push_back({"scan/z", run.scan->z});
  io::write_array_file(path, arrays,
                       {{"format", "bsmhunt-fit-bins"}, {"input", config.input.string()},
                        {"description", "per-bin arrays of bsmhunt fit --peak over the fit range"}});
}

std::string peak_summary(const PeakRun& run, const FitConfig& config) {
  const auto& f = run.signal_plus_background;
  const auto& e = run.spectrum.edges;
  std::string out = fmt::format("\npeak fit: {} peak on {} background, {} bins in [{:g}, {:g}] GeV\n",
                                stats::to_string(run.model.shape), run.model.background.name(),
                                run.range.end - run.range.first, e[run.range.first], e[run.range.end]);
  if (!f.converged) return out + fmt::format("  the signal + background fit did not converge: {}\n", f.message);
  const auto names = parameter_names(run.model);
  out += fmt::format("  mass   {:.6g} +- {:.3g} GeV\n", f.parameters[1], f.errors[1]);
  out += fmt::format("  {:<6} {:.4g} +- {:.3g} GeV\n", names[2] == "gamma_GeV" ? "Gamma" : "sigma", f.parameters[2],
                     f.errors[2]);
  out += fmt::format("  yield  {:.4g} +- {:.3g} events (background {:.4g})\n", f.parameters[0], f.errors[0], f.parameters[3]);
  out += fmt::format("  chi2/ndf {:.2f}/{}; background only {:.2f}/{}\n", f.chi2, f.ndf, run.background.chi2,
                     run.background.ndf);
  out += fmt::format("  local significance Z = {:.2f} (p = {:.3g})\n", run.local.z, run.local.p);
  if (config.peak.truth_mass > 0)
    out += fmt::format("  generated mass {:g} GeV: fitted - generated = {:+.3g} GeV = {:+.2f} sigma\n",
                       config.peak.truth_mass, f.parameters[1] - config.peak.truth_mass,
                       (f.parameters[1] - config.peak.truth_mass) / f.errors[1]);
  if (run.scan && !run.scan->z.empty())
    out += fmt::format("  scan: {} points, largest local Z {:.2f} at {:.5g} GeV\n", run.scan->z.size(),
                       run.scan->max_z(), run.scan->mass[run.scan->best]);
  if (run.global)
    out += fmt::format("  global: p {} {:.3g} (Z {} {:.2f}) from {} toys; Gross-Vitells p = {:.3g} (Z = {:.2f})\n",
                       run.global->at_or_above == 0 ? "<" : "=", run.global->p_global,
                       run.global->at_or_above == 0 ? ">" : "=", run.global->z_global, run.global->toys,
                       run.global->p_gross_vitells, run.global->z_gross_vitells);
  return out;
}

}  // namespace

int run_peak_fit(const dist::Communicator& comm, const FitConfig& config) {
  io::check_output_path(comm, config.output, config.overwrite, "--output");
  if (!config.output_h5.empty()) io::check_output_path(comm, config.output_h5, config.overwrite, "--output-h5");
  const PeakConfig& p = config.peak;
  PeakRun run;
  run.spectrum = load_spectrum(comm, config, &run.source);
  dist::collectively(comm, [&] {
    const auto& e = run.spectrum.edges;
    run.model = p.model;
    run.model.lo = p.range_hi > p.range_lo ? p.range_lo : e.front();
    run.model.hi = p.range_hi > p.range_lo ? p.range_hi : e.back();
    run.range = stats::fit_range(run.spectrum, run.model.lo, run.model.hi, run.model.parameters());
    run.model.lo = e[run.range.first], run.model.hi = e[run.range.end];  // on bin edges
    if (p.mass > 0 && (p.mass <= run.model.lo || p.mass >= run.model.hi))
      throw InputError(fmt::format("--mass {} GeV lies outside the fit range [{}, {}] GeV", p.mass, run.model.lo,
                                   run.model.hi));
    std::vector<double> widths;
    for (std::size_t i = run.range.first; i < run.range.end; ++i) widths.push_back(e[i + 1] - e[i]);
    std::nth_element(widths.begin(), widths.begin() + std::ptrdiff_t(widths.size() / 2), widths.end());
    run.width = p.width > 0 ? p.width : 2 * widths[widths.size() / 2];
    run.step = p.scan_step > 0 ? p.scan_step : run.width;
    run.background = stats::fit_background(run.model, run.spectrum, run.range);
    if (!run.background.converged)
      log::warn("the background-only fit did not converge: {}", run.background.message);
    if (p.scan) run.scan = stats::scan_peak(run.model, run.spectrum, run.range, run.width, run.step);
    stats::PeakFitOptions o;
    o.mass = p.mass > 0 ? p.mass : (run.scan && !run.scan->z.empty() ? run.scan->mass[run.scan->best] : 0.0);
    o.width = run.width, o.fix_width = p.fix_width;
    run.signal_plus_background = stats::fit_peak(run.model, run.spectrum, run.range, o);
    run.local = stats::local_significance(run.signal_plus_background, run.background);
  });
  if (config.toys.toys > 0 && run.scan && run.background.converged)
    run.global = stats::peak_global_significance(comm, run.model, run.spectrum, run.range, run.background, run.width,
                                                 run.step, run.scan->max_z(), config.toys.toys, config.toys.seed);
  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    write_peak_json(config.output, run, config);
    if (!config.output_h5.empty()) write_peak_h5(config.output_h5, run, config);
    std::cout << peak_summary(run, config) << std::flush;
  });
  return 0;
}

}  // namespace bsmhunt::pipeline
