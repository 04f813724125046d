// bsmhunt train: feature file -> model file (mlp, autoencoder on the nn engine;
// bdt on XGBoost), data-parallel over the ranks.
#include "bsmhunt/pipeline/Train.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>

#include "../ModelFile.hpp"
#include "ImageShards.hpp"
#include "MpiCollective.hpp"
#include "../StopSignals.hpp"
#include "TrainingData.hpp"
#include "bsmhunt/core/AtomicFile.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/physics/EtaPhiImage.hpp"
#include "bsmhunt/stats/Histogram.hpp"
#include "bsmhunt/stats/Roc.hpp"

namespace bsmhunt::pipeline {

namespace {

std::string resolved_train_on(const TrainConfig& c) {
  const std::string train_on = c.train_on == "auto" ? "background" : c.train_on;
  if (train_on != "background" && train_on != "data" && train_on != "all")
    throw InputError(fmt::format("--train-on '{}': expected auto, background, data or all", c.train_on));
  return train_on;
}

// What a fold model was trained from: --resume keeps a fold only when this matches
// (the settings that change a model, and the features file's size and time).
std::string fold_key(const TrainConfig& c) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(c.features, ec);
  const auto time = std::filesystem::last_write_time(c.features, ec).time_since_epoch().count();
  std::vector<std::string> hidden;
  for (const auto h : c.network.hidden) hidden.push_back(std::to_string(h));
  return fmt::format("folds={} fold={} seed={} model={} features={} size={} time={} signal={} exclude={} "
                     "exclude-features={} parametrise={} select={} weights={} normalization={} preprocess={} missing={} "
                     "hidden={} epochs={} batch={} adaptive={}{}{}{} lr={} loss={} ensemble={} member={}",
                     c.folds, c.held_out_fold, c.trainer.seed, c.model, c.features, size, time,
                     join(c.signal_samples, ","), join(c.exclude_samples, ","), join(c.exclude_features, ","),
                     join(c.parametrise, ","), c.select, policy_text(c.weights), c.normalization, c.preprocess,
                     c.missing_value, join(hidden, ","),
                     c.trainer.epochs, c.trainer.batch_size, int(c.adaptive_batch), int(c.adaptive_epochs),
                     int(c.adaptive_patience), int(c.adaptive_network), c.trainer.learning_rate, c.loss, c.ensemble,
                     c.ensemble_member);
}

// What the model file records of its training besides the network.
Archive provenance(const TrainConfig& c, const io::FeatureFileHeader& header, const std::vector<std::size_t>& inputs,
                   const std::vector<bool>& use, const nn::Preprocessing& prep, int ranks,
                   const Parametrisation* parametrisation) {
  Archive archive;
  std::vector<std::string> input_names;
  for (const auto f : inputs) input_names.push_back(header.feature_names[f]);
  if (parametrisation) {
    for (const auto& name : parametrisation->input_names()) input_names.push_back(name);
    parametrisation->store(archive);
    std::vector<std::string> labels;
    for (const auto& p : parametrisation->training_points()) labels.push_back(parametrisation->label(p));
    log::info("parametrised in {} ({} inputs) over {} signal points: {}", join(c.parametrise, ", "),
              parametrisation->width(), labels.size(), join_abridged(labels, "; ", 4, "all in the model file"));
  }
  prep.store(archive, input_names);
  if (!c.exclude_features.empty()) archive.string_lists["training/excluded_features"] = c.exclude_features;
  archive.strings["training/features_file"] = c.features;
  archive.strings["training/weight_policy"] = policy_text(c.weights);
  archive.strings["training/selection"] = c.select;
  if (c.held_out_fold >= 0 || c.ensemble_member >= 0) archive.strings["training/fold_key"] = fold_key(c);
  if (c.held_out_fold >= 0) {
    archive.doubles["training/held_out_fold"] = {double(c.held_out_fold)};
    archive.doubles["training/folds"] = {double(c.folds)};
  }
  if (c.ensemble_member >= 0) {
    archive.doubles["training/ensemble_member"] = {double(c.ensemble_member)};
    archive.strings["training/seed"] = std::to_string(c.trainer.seed + uint64_t(c.ensemble_member));
  }
  std::vector<std::string> used;
  for (std::size_t i = 0; i < use.size(); ++i)
    if (use[i]) used.push_back(header.samples[i].name);
  archive.string_lists["training/samples"] = used;
  log::info("training {} on {} ({} of {} features, {} of {} samples) with {} rank(s)", c.model, c.features,
            inputs.size(), header.feature_names.size(), used.size(), header.samples.size(), ranks);
  return archive;
}

}  // namespace

// The fitted preprocessing in the model archive, under the input names provenance() gave.
void store_preprocessing(const nn::Preprocessing& prep, Archive& archive) {
  const auto names = archive.string_lists.at("preprocessing/feature_names");
  prep.store(archive, names);
}

namespace {

nn::NetworkSpec network_spec(const TrainConfig& c, const LoadedData& d, bool autoencoder) {
  nn::NetworkSpec spec = c.network;
  adapt_to_training_size(c, d.train.global_rows, spec);
  if (c.adaptive_network && d.train.global_rows < kSmallTrainingSet)
    log::info("{} training events (fewer than {}): hidden 128,128 with batch normalisation and dropout 0.2, as "
              "--hidden, --batchnorm and --dropout are not given (docs/training.md, 'Defaults that adapt')",
              d.train.global_rows, kSmallTrainingSet);
  spec.model = c.model;
  spec.inputs = d.train.features;
  if (c.model == "cnn") {
    using G = physics::ImageGrid;
    spec.image_height = G::out_rows, spec.image_width = G::out_cols, spec.image_channels = G::out_channels;
  }
  spec.outputs = autoencoder ? d.train.features : (d.classes > 2 ? std::size_t(d.classes) : 1);
  return spec;
}

// The trainer's settings with the loss resolved (auto) and checked against the task.
nn::TrainerConfig trainer_config(const TrainConfig& c, const LoadedData& d, bool autoencoder) {
  nn::TrainerConfig tc = c.trainer;
  // An ensemble's member i: its own initialisation, shuffling and dropout (the fold
  // rule and the parametrisation's draws keep the --seed).
  if (c.ensemble_member > 0) tc.seed = c.trainer.seed + uint64_t(c.ensemble_member);
  adapt_to_training_size(c, d.train.global_rows, tc);
  if (c.adaptive_batch || c.adaptive_epochs || c.adaptive_patience)
    log::info("for {} training events: batch size {}{}, epochs {}{}, patience {}{} (docs/training.md, 'Defaults "
              "that adapt')", d.train.global_rows, tc.batch_size, c.adaptive_batch ? " (adaptive)" : "", tc.epochs,
              c.adaptive_epochs ? " (adaptive)" : "", tc.patience, c.adaptive_patience ? " (adaptive)" : "");
  std::string loss = c.loss;
  if (loss == "auto") loss = autoencoder ? "mse" : (d.classes > 2 ? "softmax_ce" : "bce");
  tc.loss.kind = nn::parse_loss(loss);
  if (autoencoder && tc.loss.kind != nn::LossKind::mse)
    throw InputError(fmt::format("--loss {}: the autoencoder is trained with mse", loss));
  if (!autoencoder && d.classes > 2 && tc.loss.kind != nn::LossKind::softmax_ce)
    throw InputError(fmt::format("--loss {}: {} classes need softmax_ce", loss, d.classes));
  if (!autoencoder && d.classes == 2 && (tc.loss.kind == nn::LossKind::softmax_ce || tc.loss.kind == nn::LossKind::mse))
    throw InputError(fmt::format("--loss {}: a binary classifier is trained with bce or focal", loss));
  return tc;
}

// NCCL among the GPUs of several ranks (bootstrapped through MPI), else MPI itself.
std::unique_ptr<nn::Collective> gpu_collective(const dist::Communicator& comm, const TrainConfig& c,
                                               nn::Backend& backend, MpiCollective& mpi) {
  if (c.device != nn::DeviceKind::cuda || comm.size() == 1) return nullptr;
  std::vector<uint8_t> id;
  if (comm.is_root()) id = nn::nccl_unique_id();
  comm.broadcast(id);
  return nn::make_nccl_collective(backend, id, mpi);
}

// Progress lines with rate and ETA on rank 0, and the epoch summaries.
void add_progress_hooks(nn::TrainerHooks& hooks, const dist::Communicator& comm, const TrainConfig& c,
                        uint64_t batch_size, uint64_t first_step) {
  const auto start = std::chrono::steady_clock::now();
  auto last_print = std::make_shared<std::chrono::steady_clock::time_point>(start);
  hooks.step_report = [&comm, &c, batch_size, first_step, start, last_print](const nn::StepReport& r) {
    if (!comm.is_root()) return;
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - *last_print).count() < c.progress_seconds && r.step != r.total_steps) return;
    *last_print = now;
    const double elapsed = std::chrono::duration<double>(now - start).count();
    const double steps_done = double(r.step - first_step);
    const double rate = steps_done > 0 ? steps_done * double(batch_size) / elapsed : 0;
    log::info("epoch {}/{}  step {}/{}  loss {:.5f}  {}samples/s  ETA {}", r.epoch, r.epochs, r.step, r.total_steps,
              r.loss, si_count(rate), human_duration(elapsed / std::max(steps_done, 1.0) * double(r.total_steps - r.step)));
  };
  hooks.epoch_end = [](const nn::EpochRecord& e, bool improved) {
    log::info("epoch {} done: train loss {:.5f}  validation loss {:.5f}{}  lr {:.3g}  {}", e.epoch, e.train_loss,
              e.validation_loss, improved ? " (best)" : "", e.learning_rate, human_duration(e.seconds));
  };
}

// The network's outputs for every row of a shard (rows made on demand in chunks).
std::vector<float> predict_shard(nn::Network& net, const nn::Shard& shard) {
  if (!shard.make_rows) return net.predict(shard.x.data(), shard.rows(), 1 << 16);
  const std::size_t chunk = net.rows_per_pass(256), K = net.outputs();
  std::vector<float> out(shard.rows() * K), rows;
  std::vector<uint32_t> local;
  for (std::size_t r0 = 0; r0 < shard.rows(); r0 += chunk) {
    const std::size_t n = std::min(chunk, shard.rows() - r0);
    local.resize(n), rows.resize(n * shard.features);
    for (std::size_t i = 0; i < n; ++i) local[i] = uint32_t(r0 + i);
    shard.make_rows(local.data(), n, rows.data());
    const auto y = net.predict(rows.data(), n);
    std::copy(y.begin(), y.end(), out.begin() + std::ptrdiff_t(r0 * K));
  }
  return out;
}

// Weighted ROC AUC of the validation split with the physics weights (binary classifiers).
double validation_auc(nn::Network& net, const LoadedData& d, const dist::Communicator& comm) {
  stats::Histogram sig(4000, 0.0, 1.0 + 1e-9), bkg(4000, 0.0, 1.0 + 1e-9);
  const std::vector<float> logits = predict_shard(net, d.validation);
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const double score = 1.0 / (1.0 + std::exp(-double(logits[i])));
    (d.validation_label[i] == 1 ? sig : bkg).fill(score, d.validation_analysis_weight[i]);
  }
  sig.reduce(comm), bkg.reduce(comm);
  if (!(sig.total() > 0) || !(bkg.total() > 0)) return std::nan("");
  return stats::roc(sig, bkg).auc;
}

void write_history_csv(const std::string& path, const std::vector<nn::EpochRecord>& history) {
  std::string text = "epoch,train_loss,validation_loss,learning_rate,seconds\n";
  for (const auto& r : history)
    text += fmt::format("{},{:.8g},{:.8g},{:.6g},{:.3f}\n", r.epoch, r.train_loss, r.validation_loss, r.learning_rate,
                        r.seconds);
  write_file_atomically(path, text);
}

// The trainer's snapshot (network, optimiser state, history) plus the provenance.
void write_model(const std::string& path, const nn::Trainer& trainer, const Archive& provenance) {
  Archive a = trainer.snapshot();
  for (auto& [k, v] : provenance.floats) a.floats[k] = v;
  for (auto& [k, v] : provenance.strings) a.strings[k] = v;
  for (auto& [k, v] : provenance.string_lists) a.string_lists[k] = v;
  for (auto& [k, v] : provenance.doubles) a.doubles[k] = v;
  io::write_archive(path, a, kModelFormat, kModelFormatVersion);
}

}  // namespace

int run_train(const dist::Communicator& comm, const TrainJob& job) {
  return job.scan ? run_train_scan(comm, *job.scan) : train_model(comm, job.train);
}

namespace {

// Models made of parts, each a complete training run with its checkpoint and early
// stopping, then merged into one file under GROUP/K/: k-fold (part k trained without
// the events of fold k) and ensembles (member i with seed + i). With --resume, parts
// whose models are complete and made with the same settings are kept.
struct PartPlan {
  const char* noun;   // "fold", "member"
  const char* group;  // "folds", "members"
  int count = 0;
  std::function<void(TrainConfig&, int)> configure;  // the part's settings from the whole's
  std::function<std::string(int)> what;              // for the log: "training without the events of fold 2"
  std::string description;                           // GROUP/description in the file
};

int train_parts(const dist::Communicator& comm, const TrainConfig& c, const PartPlan& plan) {
  io::check_output_path(comm, c.output, c.overwrite || c.resume);
  const auto part_path = [&](int k) { return fmt::format("{}.{}{}.h5", c.output, plan.noun, k); };
  const auto part_config = [&](int k) {
    TrainConfig ck = c;
    plan.configure(ck, k);
    ck.output = part_path(k), ck.overwrite = true, ck.checkpoint = "";
    return ck;
  };
  // Decided on rank 0 for all, before anything trains: keep a complete part of the
  // same settings (--resume), continue its checkpoint, or start it afresh.
  enum : uint64_t { kTrain = 0, kResume = 1, kKeep = 2 };
  std::vector<uint64_t> state(std::size_t(plan.count), kTrain);
  dist::collectively(comm, [&] {
    if (!comm.is_root() || !c.resume) return;
    for (int k = 0; k < plan.count; ++k) {
      const TrainConfig ck = part_config(k);
      std::error_code ec;
      if (std::filesystem::exists(ck.output, ec)) {
        const Archive a = io::read_archive(ck.output, kModelFormat);
        const auto key = a.strings.find("training/fold_key");
        if (key != a.strings.end() && key->second == fold_key(ck)) {
          state[std::size_t(k)] = kKeep;
          continue;
        }
        log::warn("{} {}: {} was trained with other settings or features; training it again", plan.noun, k + 1,
                  ck.output);
      }
      if (std::filesystem::exists(ck.output + ".checkpoint.h5", ec)) state[std::size_t(k)] = kResume;
    }
  });
  comm.broadcast(state);
  // Parts side by side on sub-communicators when there are ranks enough (each group
  // trains its parts data-parallel, one after another), else one after another on all.
  const int groups = std::max(1, std::min({c.model_groups > 0 ? c.model_groups : comm.size(), plan.count, comm.size()}));
  const int color = int(int64_t(comm.rank()) * groups / comm.size());
  const dist::Communicator group = groups > 1 ? comm.split(color, comm.rank()) : comm;
  if (groups > 1) {
    // Only the first group's training is in the log (rank 0's): the plan is, whole.
    log::info("{} {}s on {} groups of ranks side by side; the log follows group 1's", plan.count, plan.noun, groups);
    for (int k = 0; k < plan.count; ++k)
      log::info("{} {}/{}: {} -> {} (group {}){}", plan.noun, k + 1, plan.count, plan.what(k), part_path(k),
                k % groups + 1, state[std::size_t(k)] == kKeep ? ": complete, kept (--resume)" : "");
  }
  StopSignals signals;  // also between parts (each part's training installs its own)
  bool interrupted = false, failed = false;
  std::string failure;
  for (int k = color; k < plan.count; k += groups) {
    if (group.max(StopSignals::requested() ? 1.0 : 0.0) > 0) {
      interrupted = true;
      break;
    }
    if (state[std::size_t(k)] == kKeep) {
      if (groups == 1) log::info("{} {}/{}: complete in {}, kept (--resume)", plan.noun, k + 1, plan.count, part_path(k));
      continue;
    }
    TrainConfig ck = part_config(k);
    ck.resume = state[std::size_t(k)] == kResume;
    if (groups == 1) log::info("{} {}/{}: {} -> {}", plan.noun, k + 1, plan.count, plan.what(k), ck.output);
    if (groups == 1) {
      if (train_model(comm, ck) != 0) return kInterruptedExitCode;  // --resume continues this part
      continue;
    }
    try {
      if (train_model(group, ck) != 0) interrupted = true;
    } catch (const Error& e) {
      failed = true, failure = fmt::format("{} {}: {}", plan.noun, k + 1, e.what());
    }
    if (interrupted || failed) break;
  }
  if (groups > 1) {
    // Every group has stopped; the world agrees on the outcome. A failure's message
    // comes from the lowest rank that has one.
    const auto failing = comm.all_gather(uint64_t(failed));
    const auto first = std::find(failing.begin(), failing.end(), 1u);
    if (first != failing.end()) {
      comm.broadcast(failure, int(first - failing.begin()));
      throw InputError(failure);
    }
    if (comm.max(interrupted ? 1.0 : 0.0) > 0) {
      log::warn("stop signal received: the {}s written so far are kept; continue with the same command and --resume",
                plan.noun);
      return kInterruptedExitCode;
    }
  } else if (interrupted) {
    log::warn("signal {} received before all {}s were trained; continue with the same command and --resume",
              StopSignals::signal(), plan.noun);
    return kInterruptedExitCode;
  }
  // One file: every part's archive under GROUP/K/, the kind and the plan on top.
  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    Archive merged;
    std::string history;
    for (int k = 0; k < plan.count; ++k) {
      const Archive a = io::read_archive(part_path(k), kModelFormat);
      const std::string pre = fmt::format("{}/{}/", plan.group, k);
      for (const auto& [key, v] : a.floats) merged.floats[pre + key] = v;
      for (const auto& [key, v] : a.doubles) merged.doubles[pre + key] = v;
      for (const auto& [key, v] : a.bytes) merged.bytes[pre + key] = v;
      for (const auto& [key, v] : a.strings) merged.strings[pre + key] = v;
      for (const auto& [key, v] : a.string_lists) merged.string_lists[pre + key] = v;
      if (k == 0) merged.strings["model/kind"] = a.string("model/kind", part_path(k));
      std::ifstream in(part_path(k) + ".history.csv");
      std::string line;
      std::getline(in, line);  // header
      if (k == 0) history = fmt::format("{},{}\n", plan.noun, line);
      while (std::getline(in, line)) history += fmt::format("{},{}\n", k, line);
    }
    merged.doubles[std::string(plan.group) + "/count"] = {double(plan.count)};
    merged.strings[std::string(plan.group) + "/description"] = plan.description;
    if (std::string(plan.group) == "folds") {
      merged.strings["folds/seed"] = std::to_string(c.trainer.seed);  // exact (a double is not above 2^53)
    } else if (c.held_out_fold >= 0) {
      // An ensemble that is one fold of a k-fold model: what the fold loop looks for.
      merged.strings["training/fold_key"] = fold_key(c);
      merged.doubles["training/held_out_fold"] = {double(c.held_out_fold)};
      merged.doubles["training/folds"] = {double(c.folds)};
    }
    io::write_archive(c.output, merged, kModelFormat, kModelFormatVersion);
    write_file_atomically(c.output + ".history.csv", history);
    for (int k = 0; k < plan.count; ++k) {
      std::error_code ec;
      std::filesystem::remove(part_path(k), ec);
      std::filesystem::remove(part_path(k) + ".history.csv", ec);
      std::filesystem::remove(part_path(k) + ".checkpoint.h5", ec);
    }
  });
  log::info("wrote {}: {} {}s (and {}.history.csv)", c.output, plan.count, plan.noun, c.output);
  return 0;
}

int train_folds(const dist::Communicator& comm, const TrainConfig& c) {
  PartPlan plan{"fold", "folds", c.folds, [](TrainConfig& ck, int k) { ck.held_out_fold = k; },
                [](int k) { return fmt::format("training without the events of fold {}", k); },
                "k-fold: folds/K/ is a complete model trained without the events of fold K; predict scores an event "
                "of fold K with it (out-of-fold). The fold of an event: docs/training.md, 'k-fold'"};
  return train_parts(comm, c, plan);
}

int train_ensemble(const dist::Communicator& comm, const TrainConfig& c) {
  PartPlan plan{"member", "members", c.ensemble, [](TrainConfig& ck, int i) { ck.ensemble_member = i; },
                [&c](int i) { return fmt::format("seed {}", c.trainer.seed + uint64_t(i)); },
                "ensemble: members/I/ is a complete network trained on the same events with seed + I; predict "
                "writes the mean of the members' scores (docs/training.md, 'Ensembles')"};
  return train_parts(comm, c, plan);
}

}  // namespace

int train_model(const dist::Communicator& comm, const TrainConfig& c) {
  if (c.folds > 1 && c.held_out_fold < 0) return train_folds(comm, c);
  if (c.ensemble > 1 && c.ensemble_member < 0) return train_ensemble(comm, c);
  const bool autoencoder = c.model == "autoencoder";
  const std::string checkpoint = c.checkpoint.empty() ? c.output + ".checkpoint.h5" : c.checkpoint;
  // A resumed run writes the model its interrupted start did not write.
  io::check_output_path(comm, c.output, c.overwrite || c.resume);
  std::error_code ec;
  if (c.resume && !std::filesystem::exists(checkpoint, ec))
    throw InputError(fmt::format("--resume: no checkpoint {} (written by an interrupted run)", checkpoint));
  const std::string train_on = resolved_train_on(c);

  io::FeatureFileReader reader(comm, c.features);
  const std::vector<std::size_t> inputs = input_columns(reader.header(), c);
  // --preprocess auto fits its statistics to the training rows once they are read.
  nn::Preprocessing prep = make_preprocessing(reader, inputs, c.preprocess == "auto" ? "none" : c.normalization,
                                              c.features);
  prep.kind = c.normalization;
  const std::vector<bool> use = selected_samples(reader.header(), c, autoencoder, train_on);
  std::optional<Parametrisation> parametrisation;
  if (!c.parametrise.empty()) {
    parametrisation = Parametrisation::from_samples(c.parametrise, reader.header().samples, use, c.features);
    parametrisation->normalisation(prep.offset, prep.scale);
  }
  const Parametrisation* param = parametrisation ? &*parametrisation : nullptr;
  Archive archive = provenance(c, reader.header(), inputs, use, prep, comm.size(), param);
  log::info("weights: {}", policy_text(c.weights));
  if (c.model == "bdt") return train_bdt(comm, c, reader, use, prep, std::move(archive), param);

  // Data-parallel engine: each rank holds a contiguous slice of the file's rows,
  // balanced by the rows it will use.
  const auto backend = make_rank_backend(comm, c.device, c.blas_threads);
  LoadedData d = load_splits(reader, c, comm, balanced_range(reader, comm, use), use, prep, autoencoder, param);
  store_preprocessing(prep, archive);
  if (d.train.global_rows == 0) throw InputError(fmt::format("{}: the training split selects no events", c.features));
  const auto images = c.model == "cnn" ? make_image_shards(comm, c, reader, d, archive) : nullptr;
  const nn::NetworkSpec spec = network_spec(c, d, autoencoder);
  const nn::TrainerConfig tc = trainer_config(c, d, autoencoder);
  if (!autoencoder)
    archive.doubles["training/train_events"] = {double(d.global_signal_train), double(d.global_background_train)};
  const double fewest = comm.min(double(d.train.rows())), most = comm.max(double(d.train.rows()));
  if (comm.size() > 1) log::info("training rows per rank: {:.0f} to {:.0f}", fewest, most);
  if (autoencoder)  // no labels: the events of the --train-on samples
    log::info("training split: {} events, validation: {} events", d.train.global_rows, d.validation.global_rows);
  else
    log::info("training split: {} events ({} signal, {} background), validation: {} events", d.train.global_rows,
              d.global_signal_train, d.global_background_train, d.validation.global_rows);

  MpiCollective mpi(comm);
  const auto nccl = gpu_collective(comm, c, *backend, mpi);
  nn::Network net(*backend, spec);
  net.initialize(tc.seed);
  nn::Trainer trainer(*backend, net, nccl ? *nccl : static_cast<nn::Collective&>(mpi), tc, d.train, d.validation);
  // A GPU holds the training features now; the host copy can go. The CPU backend
  // reads them in place.
  if (!backend->uses_host_memory()) std::vector<float>().swap(d.train.x);
  std::vector<std::string> architecture;
  for (const auto& layer : net.layers()) architecture.push_back(layer->describe());
  log::info("network: {} ({} parameters), {} steps per epoch of {} events, device {}", join(architecture, "; "),
            net.parameter_count(), trainer.steps_per_epoch(), tc.batch_size, backend->info().name);
  if (c.resume) {
    trainer.restore(io::read_archive(checkpoint, kModelFormat), checkpoint);
    log::info("resumed from {} at step {}", checkpoint, trainer.step());
  }

  StopSignals signals;
  nn::TrainerHooks hooks;
  hooks.stop_requested = [] { return StopSignals::requested(); };
  hooks.checkpoint = [&](uint64_t) {
    // Rank 0 writes; a failure there (a full disk) must stop every rank, not leave the
    // others in the next step's all-reduce.
    dist::collectively(comm, [&] {
      if (comm.is_root()) write_model(checkpoint, trainer, archive);
    });
  };
  add_progress_hooks(hooks, comm, c, tc.batch_size, trainer.step());
  const nn::TrainingOutcome outcome = trainer.run(hooks);
  if (outcome == nn::TrainingOutcome::interrupted) {
    log::warn("signal {} received: checkpoint written to {} at step {}; continue with the same command and --resume",
              StopSignals::signal(), checkpoint, trainer.step());
    return kInterruptedExitCode;
  }
  if (outcome == nn::TrainingOutcome::early_stopped)
    log::info("early stopping after epoch {}: no improvement of the validation loss for {} epochs",
              trainer.history().size(), tc.patience);
  double auc = std::nan("");
  if (!autoencoder && d.classes == 2) {
    auc = validation_auc(net, d, comm);
    archive.doubles["training/validation_auc"] = {auc};
  }
  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    write_model(c.output, trainer, archive);
    write_history_csv(c.output + ".history.csv", trainer.history());
  });
  log::info("wrote {} (and {}.history.csv){}", c.output, c.output,
            std::isfinite(auc) ? fmt::format("; validation weighted ROC AUC {:.4f}", auc) : std::string());
  return 0;
}

}  // namespace bsmhunt::pipeline
