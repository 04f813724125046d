// train --model bdt: XGBoost (hist, weighted logloss, early stopping) on rank 0.
#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "../ModelFile.hpp"
#include "TrainingData.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"

namespace bsmhunt::pipeline {

int train_bdt(const dist::Communicator& comm, const TrainConfig& c, const io::FeatureFileReader& reader,
              const std::vector<bool>& use, nn::Preprocessing& prep, Archive archive,
              const Parametrisation* parametrisation) {
  // XGBoost trains in one process: rank 0 reads both splits whole, the other ranks
  // wait without spinning so its threads have the cores.
  const dist::Range everything{0, reader.rows()};
  const dist::Range mine = comm.is_root() ? everything : dist::Range{0, 0};
  LoadedData d = load_splits(reader, c, comm, mine, use, prep, false, parametrisation);
  store_preprocessing(prep, archive);
  if (d.classes != 2) throw InputError(fmt::format("--model bdt: binary labels expected, found {} classes", d.classes));
  archive.doubles["training/train_events"] = {double(d.global_signal_train), double(d.global_background_train)};
  std::vector<uint8_t> bytes;
  std::string error;
  if (comm.is_root()) {
    try {
      for (std::size_t i = 0; i < d.train.rows(); ++i)
        if (d.train.weight[i] < 0)
          throw InputError(fmt::format("--model bdt: XGBoost needs non-negative weights but training row {} has {} "
                                       "(use --sample-weights abs)",
                                       i, d.train.weight[i]));
      nn::BdtConfig cfg = c.bdt;
      if (c.weights.balance != ClassBalance::none && cfg.scale_pos_weight == 0) cfg.scale_pos_weight = 1.0;
      if (c.weights.sample == SampleWeights::abs)
        log::info("BDT: trained on |MC weight| (XGBoost takes no negative weights; analysis A's BDT did the same), "
                  "classes balanced by --class-balance {}", c.weights.balance == ClassBalance::sum     ? "sum"
                                                            : c.weights.balance == ClassBalance::count ? "count"
                                                                                                       : "none");
      log::info("training BDT: {} trees of depth {} on {} events ({} validation), {} features", cfg.n_trees,
                cfg.max_depth, d.train.rows(), d.validation.rows(), d.train.features);
      nn::BdtTrainingResult result;
      auto last = std::chrono::steady_clock::now();
      const auto start = last;
      nn::BdtModel model = nn::BdtModel::train(
          cfg, d.train.x, d.train.features, d.train.target, d.train.weight, d.validation.x, d.validation.target,
          d.validation.weight, &result, [&](int it, double train_loss, double val_loss) {
            const auto now = std::chrono::steady_clock::now();
            if (std::chrono::duration<double>(now - last).count() >= c.progress_seconds || it + 1 == cfg.n_trees) {
              last = now;
              const double elapsed = std::chrono::duration<double>(now - start).count();
              log::info("tree {}/{}  train logloss {:.5f}  validation logloss {:.5f}  {:.1f} trees/s  ETA {}", it + 1,
                        cfg.n_trees, train_loss, val_loss, (it + 1) / elapsed,
                        human_duration(elapsed / (it + 1) * (cfg.n_trees - it - 1)));
            }
          });
      bytes = model.serialize();
      archive.bytes["model/xgboost_ubj"] = bytes;
      archive.strings["model/kind"] = "bdt";
      archive.doubles["model/best_iteration"] = {double(result.best_iteration)};
      archive.doubles["model/feature_importance_gain"] = model.feature_importance_gain();
      archive.doubles["history/train_logloss"] = result.train_logloss;
      archive.doubles["history/validation_logloss"] = result.validation_logloss;
      archive.doubles["model/scale_pos_weight"] = {cfg.scale_pos_weight};
      archive.doubles["model/inputs"] = {double(d.train.features)};
      io::write_archive(c.output, archive, kModelFormat, kModelFormatVersion);
      log::info("wrote {}: {} trees used (best iteration {}), validation logloss {:.5f}", c.output,
                result.best_iteration + 1, result.best_iteration,
                result.validation_logloss.empty() ? std::nan("") : result.validation_logloss[std::size_t(result.best_iteration)]);
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "unknown error";
    }
  }
  comm.sleeping_barrier();
  comm.broadcast(error);
  if (!error.empty()) throw InputError(error);
  return 0;
}

}  // namespace bsmhunt::pipeline
