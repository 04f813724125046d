// bsmhunt limits: the signal models (from a workspace or the significance
// histograms, every rank the same list), model i tested on rank i mod P (fits,
// CLs limits, discovery, pulls, impacts; a model that fails is reported and the
// others go on), the results gathered on rank 0, which writes the JSON, the HDF5
// arrays and the exported workspaces and prints the table.
#include "bsmhunt/pipeline/Limits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>

#include "bsmhunt/core/Archive.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/io/EventFile.hpp"

namespace bsmhunt::pipeline {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json::number_or_null;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

json::Value limit_json(double observed, const std::array<double, 5>& expected, double scale) {
  json::Value e = json::Value::array();
  for (const double x : expected) e.push_back(number_or_null(x * scale));
  return {{"observed", number_or_null(observed * scale)}, {"expected", e}};
}

// What the likelihood is made of: channels and bins, samples, parameters by modifier type.
json::Value model_summary(const stats::Workspace& w, const stats::Likelihood& L) {
  json::Value channels = json::Value::object();
  std::size_t samples = 0;
  for (const auto& ch : w.channels) channels[ch.name] = ch.bins(), samples += ch.samples.size();
  json::Value by_type = json::Value::object();
  for (const auto& p : L.parameter_specs()) {
    const std::string type = stats::to_string(p.type);
    by_type[type] = by_type.value(type, 0) + 1;
  }
  std::size_t fixed = 0;
  for (const auto& p : L.parameter_specs()) fixed += p.fixed ? 1 : 0;
  return {{"bins", channels}, {"samples", samples}, {"parameters", L.parameters()}, {"fixed", fixed},
          {"parameters_by_type", by_type}, {"poi", L.parameter(L.poi()).name}};
}

// Everything bsmhunt knows about one model after its tests; never throws on a
// failed fit (ok = false, message).
json::Value test_model(const LimitModel& model, const LimitsConfig& config, const dist::Communicator* toys_comm) {
  const auto t0 = Clock::now();
  json::Value j = {{"name", model.name},
                   {"status", "failed"},
                   {"parameters", model.parameters},
                   {"cross_section_pb", model.cross_section_pb > 0 ? json::Value(model.cross_section_pb) : json::Value()}};
  try {
    const stats::Likelihood likelihood(model.workspace, config.measurement);
    j["model"] = model_summary(model.workspace, likelihood);
    stats::AsymptoticCalculator calc(likelihood, likelihood.observed());
    stats::UpperLimit ul = calc.upper_limit(config.limits);
    if (toys_comm) {
      // The asymptotic limits place the toys' mu grid; they stay in the output.
      if (ul.ok) j["limit_asymptotic"] = limit_json(ul.observed, ul.expected, 1.0);
      const double lo = ul.ok ? 0.5 * std::min(ul.observed, ul.expected[0]) : 0.1;
      const double hi = ul.ok ? 1.6 * std::max(ul.observed, ul.expected[4]) : 10.0;
      stats::ToyCalculator toys(*toys_comm, likelihood, likelihood.observed(), config.toy);
      ul = toys.upper_limit(config.limits, lo, hi);
    }
    const stats::FitResult& fit = calc.free_fit();
    const std::size_t poi = likelihood.poi();
    j["ok"] = ul.ok;
    j["status"] = ul.ok ? "ok" : ul.above_mu_max ? "above mu-max" : "failed";
    j["message"] = ul.message;
    j["mu_hat"] = number_or_null(fit.values[poi]);
    j["mu_hat_error"] = number_or_null(fit.errors[poi]);
    if (ul.ok) {
      j["limit"] = limit_json(ul.observed, ul.expected, 1.0);
      j["cross_section_limit_pb"] =
          model.cross_section_pb > 0 ? limit_json(ul.observed, ul.expected, model.cross_section_pb) : json::Value();
    } else {
      j["limit"] = json::Value();
      j["cross_section_limit_pb"] = json::Value();
    }
    const stats::Discovery d = calc.discovery();
    j["discovery"] = {{"p0", number_or_null(d.p0)}, {"z", number_or_null(d.z)},
                      {"p0_expected", number_or_null(d.p0_expected)}, {"z_expected", number_or_null(d.z_expected)}};
    json::Value pulls = json::Value::array();
    for (std::size_t k = 0; k < likelihood.parameters(); ++k) {
      const stats::ParameterSpec& p = likelihood.parameter(k);
      if (!p.constrained || p.fixed) continue;
      pulls.push_back({{"parameter", p.name},
                       {"value", number_or_null(fit.values[k])},
                       {"error", number_or_null(fit.errors[k])},
                       {"pull", number_or_null((fit.values[k] - p.aux) / p.sigma)},
                       {"constraint", number_or_null(fit.errors[k] / p.sigma)}});
    }
    j["pulls"] = pulls;
    json::Value impacts = json::Value::array();
    if (config.impacts)
      for (const auto& im : stats::rank_impacts(calc.model(), likelihood.observed(), fit))
        impacts.push_back({{"parameter", im.parameter},
                           {"postfit_up", number_or_null(im.postfit_up)},
                           {"postfit_down", number_or_null(im.postfit_down)},
                           {"prefit_up", number_or_null(im.prefit_up)},
                           {"prefit_down", number_or_null(im.prefit_down)}});
    j["impacts"] = impacts;
    j["poi_upper_bound"] = ul.poi_upper_bound;
    j["evaluations"] = ul.evaluations;
  } catch (const InputError& e) {
    j["ok"] = false;
    j["status"] = "failed";
    j["message"] = e.what();
    j["limit"] = json::Value();
    j["cross_section_limit_pb"] = json::Value();
  }
  j["seconds"] = std::chrono::duration<double>(Clock::now() - t0).count();
  return j;
}

double number_at(const json::Value& j, const char* key, int index = -1) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return kNaN;
  if (index < 0) return it->is_number() ? it->get<double>() : kNaN;
  const json::Value& e = (*it)["expected"];
  return e[std::size_t(index)].is_number() ? e[std::size_t(index)].get<double>() : kNaN;
}
double observed_of(const json::Value& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return kNaN;
  return (*it)["observed"].is_number() ? (*it)["observed"].get<double>() : kNaN;
}

void write_limits_h5(const fs::path& path, const std::vector<json::Value>& results) {
  Archive a;
  std::vector<std::string> names;
  std::vector<double> ok, mu_hat, mu_err, z, z_exp, xs, obs, xs_obs;
  std::array<std::vector<double>, 5> exp, xs_exp;
  for (const auto& r : results) {
    names.push_back(r["name"].get<std::string>());
    ok.push_back(r["ok"].get<bool>() ? 1 : 0);
    mu_hat.push_back(number_at(r, "mu_hat")), mu_err.push_back(number_at(r, "mu_hat_error"));
    const auto d = r.find("discovery");
    z.push_back(d == r.end() ? kNaN : number_at(*d, "z")), z_exp.push_back(d == r.end() ? kNaN : number_at(*d, "z_expected"));
    xs.push_back(number_at(r, "cross_section_pb"));
    obs.push_back(observed_of(r, "limit")), xs_obs.push_back(observed_of(r, "cross_section_limit_pb"));
    for (int k = 0; k < 5; ++k) {
      exp[std::size_t(k)].push_back(number_at(r, "limit", k));
      xs_exp[std::size_t(k)].push_back(number_at(r, "cross_section_limit_pb", k));
    }
  }
  a.string_lists["model"] = names;
  a.doubles["ok"] = ok, a.doubles["mu_hat"] = mu_hat, a.doubles["mu_hat_error"] = mu_err;
  a.doubles["z"] = z, a.doubles["z_expected"] = z_exp, a.doubles["cross_section_pb"] = xs;
  a.doubles["limit_observed"] = obs, a.doubles["cross_section_limit_observed_pb"] = xs_obs;
  const char* band[5] = {"minus2", "minus1", "median", "plus1", "plus2"};
  for (std::size_t k = 0; k < 5; ++k) {
    a.doubles[fmt::format("limit_expected_{}", band[k])] = exp[k];
    a.doubles[fmt::format("cross_section_limit_expected_{}_pb", band[k])] = xs_exp[k];
  }
  // Model parameters as columns (numbers as numbers, text as strings) when every model has them.
  if (!results.empty())
    for (const auto& [key, first] : results.front()["parameters"].items()) {
      bool everywhere = true;
      for (const auto& r : results) everywhere = everywhere && r["parameters"].contains(key) &&
                                                 r["parameters"][key].is_number() == first.is_number();
      if (!everywhere) continue;
      if (first.is_number()) {
        std::vector<double> v;
        for (const auto& r : results) v.push_back(r["parameters"][key].get<double>());
        a.doubles["parameters/" + key] = v;
      } else if (first.is_string()) {
        std::vector<std::string> v;
        for (const auto& r : results) v.push_back(r["parameters"][key].get<std::string>());
        a.string_lists["parameters/" + key] = v;
      }
    }
  io::write_archive(path, a, kLimitsFormat, kLimitsFormatVersion);
}

std::string limits_table(const std::vector<json::Value>& results, const LimitsConfig& config, const std::string& data) {
  std::vector<const json::Value*> order;
  for (const auto& r : results) order.push_back(&r);
  const auto key = [](const json::Value* r) {
    const double e = number_at(*r, "limit", 2);
    return std::isfinite(e) ? e : std::numeric_limits<double>::infinity();
  };
  std::stable_sort(order.begin(), order.end(), [&](auto* a, auto* b) { return key(a) < key(b); });
  std::string out = fmt::format("\n{:.0f}% CL upper limits on the signal strength mu ({} CLs, q~_mu), observed = {}\n",
                                100 * config.limits.cl, config.toys ? "toy" : "asymptotic", data);
  out += fmt::format("  {:<34} {:>9} {:>9} {:>9} {:>9} {:>9} {:>12} {:>7} {:>6}\n", "model", "observed", "-1 sigma",
                     "expected", "+1 sigma", "mu_hat", "sigma obs/pb", "Z", "status");
  for (std::size_t i = 0; i < std::min(order.size(), config.print_top); ++i) {
    const json::Value& r = *order[i];
    const double xs = observed_of(r, "cross_section_limit_pb");
    const auto d = r.find("discovery");
    out += fmt::format("  {:<34} {:>9.4g} {:>9.4g} {:>9.4g} {:>9.4g} {:>9.3g} {:>12} {:>7} {:>6}\n",
                       r["name"].get<std::string>(), observed_of(r, "limit"), number_at(r, "limit", 1),
                       number_at(r, "limit", 2), number_at(r, "limit", 3), number_at(r, "mu_hat"),
                       std::isfinite(xs) ? fmt::format("{:.3g}", xs) : "-",
                       d == r.end() ? "-" : fmt::format("{:.2f}", number_at(*d, "z")),
                       r["status"].get<std::string>() == "above mu-max" ? "> max" : r["status"].get<std::string>());
  }
  if (order.size() > config.print_top)
    out += fmt::format("  ... {} more models in {}\n", order.size() - config.print_top, config.output.string());
  std::size_t above = 0;
  for (const auto& r : results) {
    if (r["status"].get<std::string>() == "failed")
      out += fmt::format("  FAILED {}: {}\n", r["name"].get<std::string>(), r["message"].get<std::string>());
    above += r["status"].get<std::string>() == "above mu-max" ? 1 : 0;
  }
  if (above > 0)
    out += fmt::format("  {} model{} not excluded below mu = {:.3g} (--mu-max): status \"above mu-max\"\n", above,
                       above == 1 ? " is" : "s are", config.limits.mu_max);
  return out;
}

}  // namespace

int run_limits(const dist::Communicator& comm, const LimitsConfig& config) {
  const auto t0 = Clock::now();
  io::check_output_path(comm, config.output, config.overwrite, "--output");
  io::check_output_path(comm, config.output_h5, config.overwrite, "--output-h5");

  // 1. The models: every rank reads the same list.
  std::vector<LimitModel> models;
  std::vector<std::string> channels;
  std::string data = "workspace observations", source;
  double lumi_ifb = kNaN, mc_lumi_ifb = kNaN;
  dist::collectively(comm, [&] {
    if (!config.workspace.empty()) {
      source = config.workspace.string();
      LimitModel m;
      m.name = config.workspace.stem().string();
      m.workspace = stats::read_workspace(source);
      m.workspace.measurement(config.measurement);  // InputError for an unknown name
      for (const auto& ch : m.workspace.channels) channels.push_back(ch.name);
      models.push_back(std::move(m));
    } else {
      source = config.histograms.string();
      HistogramModels h = models_from_histograms(config.histograms, config.model);
      models = std::move(h.models), channels = h.channels, data = h.data;
      if (h.lumi_ifb > 0) lumi_ifb = h.lumi_ifb;
      if (h.mc_lumi_ifb > 0) mc_lumi_ifb = h.mc_lumi_ifb;
    }
    if (models.empty()) throw InputError(fmt::format("{}: no signal model to test (--signal)", source));
  });
  log::info("{} model{} from {}, {} channel{} ({}), observed: {}; on {} rank{}", models.size(),
            models.size() == 1 ? "" : "s", source, channels.size(), channels.size() == 1 ? "" : "s", join(channels, ", "),
            data, comm.size(), comm.size() == 1 ? "" : "s");

  if (comm.is_root()) try {
      const stats::Likelihood first(models.front().workspace, config.measurement);
      log::info("model ({}): {}", models.front().name, model_summary(models.front().workspace, first).dump());
    } catch (const InputError&) {
      // Reported with the model's results.
    }

  // 2. Model i on rank i mod P.
  std::vector<json::Value> mine;
  std::vector<std::size_t> mine_index;
  {
    // Asymptotic: model i on rank i mod P. Toys: every rank on every model in turn,
    // the toys spread over the ranks (rank 0 keeps the results).
    const std::size_t first = config.toys ? 0 : std::size_t(comm.rank());
    const std::size_t stride = config.toys ? 1 : std::size_t(comm.size());
    std::size_t count = 0;
    for (std::size_t i = first; i < models.size(); i += stride) ++count;
    Progress progress("limits", count, "models", comm.is_root());
    for (std::size_t i = first; i < models.size(); i += stride) {
      json::Value r = test_model(models[i], config, config.toys ? &comm : nullptr);
      if (!config.toys || comm.is_root()) mine.push_back(std::move(r)), mine_index.push_back(i);
      progress.update(i / stride + 1);
    }
    progress.finish();
  }

  // 3. Gathered on rank 0 (each rank's results as one JSON text).
  std::vector<json::Value> results(models.size());
  for (int r = 0; r < comm.size(); ++r) {
    std::string text;
    if (comm.rank() == r) {
      json::Value batch = json::Value::array();
      for (std::size_t k = 0; k < mine.size(); ++k) batch.push_back({{"index", mine_index[k]}, {"result", mine[k]}});
      text = batch.dump();
    }
    comm.broadcast(text, r);
    if (!comm.is_root()) continue;
    for (const auto& e : json::Value::parse(text)) results[e["index"].get<std::size_t>()] = e["result"];
  }

  // 4. Outputs from rank 0.
  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    std::size_t failed = 0, above = 0;
    for (const auto& r : results) {
      failed += r["status"].get<std::string>() == "failed" ? 1 : 0;
      above += r["status"].get<std::string>() == "above mu-max" ? 1 : 0;
    }
    if (!config.export_dir.empty()) {
      fs::create_directories(config.export_dir);
      for (std::size_t i = 0; i < models.size(); ++i) {
        stats::Workspace w = models[i].workspace;
        // The POI range the search used, so that pyhf fits within the same bounds.
        const double hi = number_at(results[i], "poi_upper_bound");
        if (std::isfinite(hi))
          for (auto& ms : w.measurements) {
            auto it = std::find_if(ms.parameters.begin(), ms.parameters.end(),
                                   [&](const stats::ParameterConfig& p) { return p.name == ms.poi; });
            if (it == ms.parameters.end()) {
              ms.parameters.push_back({});
              it = std::prev(ms.parameters.end());
              it->name = ms.poi;
            }
            it->bounds = std::make_pair(it->bounds ? it->bounds->first : 0.0, hi);
          }
        stats::write_workspace((config.export_dir / (models[i].name + ".json")).string(), w);
      }
      log::info("{} workspaces written to {}", models.size(), config.export_dir.string());
    }
    const json::Value doc = {
        {"format", kLimitsFormat},
        {"version", kLimitsFormatVersion},
        {"source", source},
        {"cl", config.limits.cl},
        {"calculator", config.toys ? "toys" : "asymptotic"},
        {"toys", config.toys ? json::Value({{"per_hypothesis_and_point", config.toy.toys}, {"grid", config.toy.grid},
                                             {"seed", config.toy.seed}})
                             : json::Value()},
        {"test_statistic", "qtilde"},
        {"data", data},
        {"lumi_ifb", number_or_null(lumi_ifb)},
        {"mc_lumi_ifb", number_or_null(mc_lumi_ifb)},
        {"channels", channels},
        {"systematics",
         {{"lumi", config.workspace.empty() ? json::Value(config.model.lumi_uncertainty) : json::Value()},
          {"background_norm", config.workspace.empty() ? json::Value(config.model.background_norm) : json::Value()},
          {"signal_norm", config.workspace.empty() ? json::Value(config.model.signal_norm) : json::Value()},
          {"mc_stat", config.workspace.empty() ? json::Value(config.model.mc_stat) : json::Value()}}},
        {"models", results},
        {"failed", failed},
        {"above_mu_max", above},
        {"ranks", comm.size()},
        {"seconds", std::chrono::duration<double>(Clock::now() - t0).count()},
    };
    json::write(config.output, doc);
    write_limits_h5(config.output_h5, results);
    std::cout << limits_table(results, config, data) << std::flush;
    if (failed > 0) log::warn("{} of {} models failed (see 'message' in {})", failed, results.size(), config.output.string());
  });
  return 0;
}

}  // namespace bsmhunt::pipeline
