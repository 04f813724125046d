// bsmhunt train --scan: hyperparameter points trained side by side on
// sub-communicators of the world, a results table sorted by the validation metric.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <numeric>
#include <typeinfo>

#include "Json.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/pipeline/Train.hpp"

namespace bsmhunt::pipeline {

namespace {

struct Axis {
  std::string key;
  std::vector<std::string> values;
};

std::vector<Axis> parse_axes(const std::string& text, const po::variables_map& vm) {
  std::vector<Axis> axes;
  std::vector<std::string> names;
  for (const auto& [k, v] : vm) names.push_back(k);
  for (const auto& part : split(text, ';')) {
    if (trim(part).empty()) continue;
    const auto eq = part.find('=');
    if (eq == std::string::npos)
      throw InputError(fmt::format("--scan-params '{}': '{}' is not KEY=V1|V2|...", text, trim(part)));
    Axis a{trim(part.substr(0, eq)), {}};
    for (const auto& v : split(part.substr(eq + 1), '|'))
      if (!trim(v).empty()) a.values.push_back(trim(v));
    if (!vm.count(a.key) || a.key == "scan" || a.key.rfind("scan-", 0) == 0 || a.key == "output" ||
        a.key == "features" || a.key == "config")
      throw InputError(fmt::format("--scan-params: '{}' is not a train option that can be scanned{}", a.key,
                                   did_you_mean(a.key, names)));
    if (a.values.empty()) throw InputError(fmt::format("--scan-params: no value for '{}'", a.key));
    axes.push_back(std::move(a));
  }
  if (axes.empty()) throw InputError("--scan needs --scan-params 'KEY=V1|V2;...'");
  return axes;
}

// Replaces the value of option `key` by `text`, converted to the option's type.
void override_option(po::variables_map& vm, const std::string& key, const std::string& text) {
  boost::any& v = vm.at(key).value();
  const auto bad = [&] { return InputError(fmt::format("--scan-params: {}={} is not a valid value", key, text)); };
  try {
    std::size_t used = 0;
    if (v.type() == typeid(std::string)) v = text, used = text.size();
    else if (v.type() == typeid(double)) v = std::stod(text, &used);
    else if (v.type() == typeid(uint64_t)) v = uint64_t(std::stoull(text, &used));
    else if (v.type() == typeid(int)) v = std::stoi(text, &used);
    else if (v.type() == typeid(bool)) {
      if (text != "true" && text != "false" && text != "1" && text != "0") throw bad();
      v = text == "true" || text == "1";
      used = text.size();
    } else throw InternalError(fmt::format("--scan-params: option '{}' has a type the scan cannot set", key));
    if (used != text.size()) throw bad();
  } catch (const std::invalid_argument&) {
    throw bad();
  } catch (const std::out_of_range&) {
    throw bad();
  }
}

std::string point_path(const std::string& output, std::size_t i) {
  std::filesystem::path p(output);
  const std::string ext = p.extension().string();
  return (p.parent_path() / fmt::format("{}_scan{:03d}{}", p.stem().string(), i, ext.empty() ? ".h5" : ext)).string();
}

}  // namespace

int run_train_scan(const po::variables_map& vm, const ScanConfig& sc,
                   const std::function<TrainConfig(const po::variables_map&)>& build, const dist::Communicator& comm) {
  if (sc.mode != "grid" && sc.mode != "random")
    throw InputError(fmt::format("--scan '{}': expected grid or random", sc.mode));
  const auto axes = parse_axes(sc.params, vm);
  const TrainConfig base = build(vm);
  if (base.output.empty()) throw InputError("bsmhunt train: --output MODEL.h5 is required (points: MODEL_scanNNN.h5)");
  if (base.resume) throw InputError("--resume does not apply to a scan: a rerun reuses the points already written");

  // The points: every combination (grid), or draws from the value lists (random).
  std::vector<std::vector<std::size_t>> points;
  if (sc.mode == "grid") {
    std::size_t total = 1;
    for (const auto& a : axes) total *= a.values.size();
    for (std::size_t i = 0; i < total; ++i) {
      std::vector<std::size_t> p;
      std::size_t r = i;
      for (auto a = axes.rbegin(); a != axes.rend(); ++a) p.insert(p.begin(), r % a->values.size()), r /= a->values.size();
      points.push_back(p);
    }
  } else {
    if (sc.points == 0) throw InputError("--scan-points must be >= 1");
    for (uint64_t i = 0; i < sc.points; ++i) {
      CounterRng rng(sc.seed, stable_hash("bsmhunt.train.scan"), i);
      std::vector<std::size_t> p;
      for (const auto& a : axes) p.push_back(std::min(a.values.size() - 1, std::size_t(rng.uniform() * double(a.values.size()))));
      points.push_back(p);
    }
  }
  const std::size_t P = points.size();
  // Every point's options are read on every rank before the split, so a bad value
  // fails the whole scan at once instead of one group in the middle of collectives.
  std::vector<TrainConfig> configs;
  for (std::size_t i = 0; i < P; ++i) {
    po::variables_map point_vm = vm;
    for (std::size_t k = 0; k < axes.size(); ++k) override_option(point_vm, axes[k].key, axes[k].values[points[i][k]]);
    configs.push_back(build(point_vm));
    configs.back().output = point_path(base.output, i);
  }
  const int groups = std::max(1, std::min<int>(sc.groups > 0 ? sc.groups : comm.size(), int(std::min<std::size_t>(P, std::size_t(comm.size())))));
  const int color = int(int64_t(comm.rank()) * groups / comm.size());
  const dist::Communicator group = comm.split(color, comm.rank());
  log::info("scan ({}): {} points over {} groups of ranks", sc.mode, P, groups);

  // Per point: status (1 trained, 2 reused, 3 failed, 4 interrupted), best validation loss, AUC.
  std::vector<double> status(P, 0.0), loss(P, 0.0), auc(P, 0.0);
  int interrupted = 0;
  for (std::size_t i = std::size_t(color); i < P; i += std::size_t(groups)) {
    const TrainConfig& c = configs[i];
    double st = 1;
    if (std::filesystem::exists(c.output) && !base.overwrite) {
      st = 2;
    } else if (interrupted) {
      st = 4;
    } else {
      try {
        const int rc = run_train(c, group);
        if (rc == kInterruptedExitCode) st = 4, interrupted = 1;
      } catch (const Error& e) {
        st = 3;
        if (group.is_root()) std::cerr << fmt::format("scan point {}: {}\n", i, e.what());
      }
    }
    double l = std::nan(""), a = std::nan("");
    if (group.is_root() && (st == 1 || st == 2)) {
      try {
        const Archive m = io::read_archive(c.output, kModelFormat);
        const auto lit = m.doubles.find("training/best_validation_loss");
        if (lit != m.doubles.end() && !lit->second.empty()) l = lit->second[0];
        const auto ait = m.doubles.find("training/validation_auc");
        if (ait != m.doubles.end() && !ait->second.empty()) a = ait->second[0];
        const auto bit = m.doubles.find("history/validation_logloss");  // BDT
        if (!std::isfinite(l) && bit != m.doubles.end() && !bit->second.empty())
          l = *std::min_element(bit->second.begin(), bit->second.end());
      } catch (const Error& e) {
        st = 3;
        std::cerr << fmt::format("scan point {}: {}\n", i, e.what());
      }
    }
    if (group.is_root()) status[i] = st, loss[i] = l, auc[i] = a;
  }
  // Every group root holds its points; the sums put every point on every rank (NaN
  // travels as a separate flag because NaN + 0 would poison the sum).
  std::vector<double> have_loss(P), have_auc(P);
  for (std::size_t i = 0; i < P; ++i) {
    have_loss[i] = std::isfinite(loss[i]) ? 1 : 0, have_auc[i] = std::isfinite(auc[i]) ? 1 : 0;
    if (!std::isfinite(loss[i])) loss[i] = 0;
    if (!std::isfinite(auc[i])) auc[i] = 0;
  }
  for (auto* v : {&status, &loss, &auc, &have_loss, &have_auc}) comm.sum_in_place(v->data(), v->size());
  interrupted = comm.sum(uint64_t(interrupted)) > 0;

  std::vector<std::size_t> order(P);
  std::iota(order.begin(), order.end(), 0);
  const bool by_auc = std::any_of(have_auc.begin(), have_auc.end(), [](double h) { return h > 0; });
  const auto metric = [&](std::size_t i) {
    if (by_auc) return have_auc[i] > 0 ? -auc[i] : std::numeric_limits<double>::infinity();
    return have_loss[i] > 0 ? loss[i] : std::numeric_limits<double>::infinity();
  };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return metric(x) < metric(y); });
  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    static const char* kStatus[] = {"not run", "trained", "reused", "failed", "interrupted"};
    std::string csv = "rank,point";
    for (const auto& a : axes) csv += "," + a.key;
    csv += ",validation_auc,best_validation_loss,status,model\n";
    std::string table = fmt::format("\nscan ({}, {} points) sorted by {}:\n{:>4} {:>5}", sc.mode, P,
                                    by_auc ? "validation AUC" : "best validation loss", "rank", "point");
    for (const auto& a : axes) table += fmt::format(" {:>16}", a.key);
    table += fmt::format(" {:>9} {:>11} {:>11}  model\n", "val AUC", "val loss", "status");
    for (std::size_t r = 0; r < P; ++r) {
      const std::size_t i = order[r];
      const std::string a = have_auc[i] > 0 ? fmt::format("{:.6f}", auc[i]) : "";
      const std::string l = have_loss[i] > 0 ? fmt::format("{:.6g}", loss[i]) : "";
      const char* st = kStatus[std::min<int>(4, int(status[i]))];
      csv += fmt::format("{},{}", r + 1, i);
      table += fmt::format("{:>4} {:>5}", r + 1, i);
      for (std::size_t k = 0; k < axes.size(); ++k) {
        const std::string& v = axes[k].values[points[i][k]];
        csv += ",\"" + v + "\"";
        table += fmt::format(" {:>16}", v);
      }
      csv += fmt::format(",{},{},{},{}\n", a, l, st, point_path(base.output, i));
      table += fmt::format(" {:>9} {:>11} {:>11}  {}\n", a.empty() ? "-" : a, l.empty() ? "-" : l, st,
                           point_path(base.output, i));
    }
    json::write_text_atomically(base.output + ".scan.csv", csv);
    std::cout << table << fmt::format("wrote {}.scan.csv\n", base.output) << std::flush;
  });
  const auto failed = std::count(status.begin(), status.end(), 3.0);
  if (failed > 0) {
    log::error("scan: {} of {} points failed (their errors are above); the table lists the others", failed, P);
    return 1;
  }
  if (interrupted) {
    log::warn("scan interrupted: run the same command again; points already written are reused");
    return kInterruptedExitCode;
  }
  return 0;
}

}  // namespace bsmhunt::pipeline
