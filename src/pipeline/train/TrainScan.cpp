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

#include "../ModelFile.hpp"
#include "bsmhunt/core/AtomicFile.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/pipeline/Train.hpp"

namespace bsmhunt::pipeline {

int run_train_scan(const dist::Communicator& comm, const ScanPlan& scan) {
  const std::size_t P = scan.points.size();
  const int groups = std::max(1, std::min<int>(scan.groups > 0 ? scan.groups : comm.size(), int(std::min<std::size_t>(P, std::size_t(comm.size())))));
  const int color = int(int64_t(comm.rank()) * groups / comm.size());
  const dist::Communicator group = comm.split(color, comm.rank());
  log::info("scan ({}): {} points over {} groups of ranks", scan.mode, P, groups);

  // Per point: status (1 trained, 2 reused, 3 failed, 4 interrupted), best validation loss, AUC.
  // NaN until a point's group root fills it: only the owner may raise the "have" flags below.
  std::vector<double> status(P, 0.0), loss(P, std::nan("")), auc(P, std::nan(""));
  int interrupted = 0;
  for (std::size_t i = std::size_t(color); i < P; i += std::size_t(groups)) {
    const TrainConfig& c = scan.points[i].config;
    double st = 1;
    if (std::filesystem::exists(c.output) && !scan.overwrite) {
      st = 2;
    } else if (interrupted) {
      st = 4;
    } else {
      try {
        const int rc = train_model(group, c);
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
    for (const auto& key : scan.keys) csv += "," + key;
    csv += ",validation_auc,best_validation_loss,status,model\n";
    std::string table = fmt::format("\nscan ({}, {} points) sorted by {}:\n{:>4} {:>5}", scan.mode, P,
                                    by_auc ? "validation AUC" : "best validation loss", "rank", "point");
    for (const auto& key : scan.keys) table += fmt::format(" {:>16}", key);
    table += fmt::format(" {:>9} {:>11} {:>11}  model\n", "val AUC", "val loss", "status");
    for (std::size_t r = 0; r < P; ++r) {
      const std::size_t i = order[r];
      const std::string a = have_auc[i] > 0 ? fmt::format("{:.6f}", auc[i]) : "";
      const std::string l = have_loss[i] > 0 ? fmt::format("{:.6g}", loss[i]) : "";
      const char* st = kStatus[std::min<int>(4, int(status[i]))];
      csv += fmt::format("{},{}", r + 1, i);
      table += fmt::format("{:>4} {:>5}", r + 1, i);
      for (const auto& v : scan.points[i].values) {
        csv += ",\"" + v + "\"";
        table += fmt::format(" {:>16}", v);
      }
      csv += fmt::format(",{},{},{},{}\n", a, l, st, scan.points[i].config.output);
      table += fmt::format(" {:>9} {:>11} {:>11}  {}\n", a.empty() ? "-" : a, l.empty() ? "-" : l, st,
                           scan.points[i].config.output);
    }
    write_file_atomically(scan.output + ".scan.csv", csv);
    std::cout << table << fmt::format("wrote {}.scan.csv\n", scan.output) << std::flush;
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
