// bsmhunt train: feature file -> model file (mlp, autoencoder on the nn engine;
// bdt on XGBoost), data-parallel over the ranks.
#include "bsmhunt/pipeline/Train.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
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
                     "exclude-features={} parametrise={} select={} weights={} normalization={} hidden={} epochs={} "
                     "batch={} lr={} loss={}",
                     c.folds, c.held_out_fold, c.trainer.seed, c.model, c.features, size, time,
                     join(c.signal_samples, ","), join(c.exclude_samples, ","), join(c.exclude_features, ","),
                     join(c.parametrise, ","), c.select, policy_text(c.weights), c.normalization, join(hidden, ","),
                     c.trainer.epochs, c.trainer.batch_size, c.trainer.learning_rate, c.loss);
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
    const std::size_t shown = std::min<std::size_t>(labels.size(), 4);
    log::info("parametrised in {} ({} inputs) over {} signal points: {}{}", join(c.parametrise, ", "),
              parametrisation->width(), labels.size(),
              join(std::vector<std::string>(labels.begin(), labels.begin() + std::ptrdiff_t(shown)), "; "),
              labels.size() > shown ? fmt::format("; ... ({} more, all in the model file)", labels.size() - shown)
                                    : std::string());
  }
  prep.store(archive, input_names);
  if (!c.exclude_features.empty()) archive.string_lists["training/excluded_features"] = c.exclude_features;
  archive.strings["training/features_file"] = c.features;
  archive.strings["training/weight_policy"] = policy_text(c.weights);
  archive.strings["training/selection"] = c.select;
  if (c.held_out_fold >= 0) {
    archive.strings["training/fold_key"] = fold_key(c);
    archive.doubles["training/held_out_fold"] = {double(c.held_out_fold)};
    archive.doubles["training/folds"] = {double(c.folds)};
  }
  std::vector<std::string> used;
  for (std::size_t i = 0; i < use.size(); ++i)
    if (use[i]) used.push_back(header.samples[i].name);
  archive.string_lists["training/samples"] = used;
  log::info("training {} on {} ({} of {} features, {} of {} samples) with {} rank(s)", c.model, c.features,
            inputs.size(), header.feature_names.size(), used.size(), header.samples.size(), ranks);
  return archive;
}

nn::NetworkSpec network_spec(const TrainConfig& c, const LoadedData& d, bool autoencoder) {
  nn::NetworkSpec spec = c.network;
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

// k-fold: model k trained on every event outside fold k (its own training run, with
// its checkpoint and early stopping), then the K models in one file under folds/K/.
// With --resume, folds whose models are complete are kept.
int train_folds(const dist::Communicator& comm, const TrainConfig& c) {
  io::check_output_path(comm, c.output, c.overwrite || c.resume);
  const auto fold_path = [&](int k) { return fmt::format("{}.fold{}.h5", c.output, k); };
  StopSignals signals;  // also between folds (each fold's training installs its own)
  for (int k = 0; k < c.folds; ++k) {
    if (comm.max(StopSignals::requested() ? 1.0 : 0.0) > 0) {
      log::warn("signal {} received before fold {} of {}; continue with the same command and --resume",
                StopSignals::signal(), k + 1, c.folds);
      return kInterruptedExitCode;
    }
    TrainConfig ck = c;
    ck.held_out_fold = k, ck.output = fold_path(k), ck.overwrite = true, ck.checkpoint = "";
    // Decided on rank 0 for all: keep a complete fold of the same settings (--resume),
    // continue its checkpoint, or start it afresh.
    std::string state = "train";
    dist::collectively(comm, [&] {
      if (!comm.is_root() || !c.resume) return;
      std::error_code ec;
      if (std::filesystem::exists(ck.output, ec)) {
        const Archive a = io::read_archive(ck.output, kModelFormat);
        const auto key = a.strings.find("training/fold_key");
        if (key != a.strings.end() && key->second == fold_key(ck)) return void(state = "keep");
        log::warn("fold {}: {} was trained with other settings or features; training it again", k + 1, ck.output);
      }
      if (std::filesystem::exists(ck.output + ".checkpoint.h5", ec)) state = "resume";
    });
    comm.broadcast(state);
    if (state == "keep") {
      log::info("fold {}/{}: complete in {}, kept (--resume)", k + 1, c.folds, ck.output);
      continue;
    }
    ck.resume = state == "resume";
    log::info("fold {}/{}: training without the events of fold {} -> {}", k + 1, c.folds, k, ck.output);
    const int code = train_model(comm, ck);
    if (code != 0) return code;  // interrupted: the same command with --resume continues this fold
  }
  // One file: every fold's archive under folds/K/, the kind and the fold rule on top.
  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    Archive merged;
    std::string history = "fold,epoch,train_loss,validation_loss,learning_rate,seconds\n";
    for (int k = 0; k < c.folds; ++k) {
      const Archive a = io::read_archive(fold_path(k), kModelFormat);
      const std::string pre = fmt::format("folds/{}/", k);
      for (const auto& [key, v] : a.floats) merged.floats[pre + key] = v;
      for (const auto& [key, v] : a.doubles) merged.doubles[pre + key] = v;
      for (const auto& [key, v] : a.bytes) merged.bytes[pre + key] = v;
      for (const auto& [key, v] : a.strings) merged.strings[pre + key] = v;
      for (const auto& [key, v] : a.string_lists) merged.string_lists[pre + key] = v;
      if (k == 0) merged.strings["model/kind"] = a.string("model/kind", fold_path(k));
      std::ifstream in(fold_path(k) + ".history.csv");
      std::string line;
      std::getline(in, line);  // header
      while (std::getline(in, line)) history += fmt::format("{},{}\n", k, line);
    }
    merged.doubles["folds/count"] = {double(c.folds)};
    merged.strings["folds/seed"] = std::to_string(c.trainer.seed);  // exact (a double is not above 2^53)
    merged.strings["folds/description"] =
        "k-fold: folds/K/ is a complete model trained without the events of fold K; predict scores an event of "
        "fold K with it (out-of-fold). The fold of an event: docs/training.md, 'k-fold'";
    io::write_archive(c.output, merged, kModelFormat, kModelFormatVersion);
    write_file_atomically(c.output + ".history.csv", history);
    for (int k = 0; k < c.folds; ++k) {
      std::error_code ec;
      std::filesystem::remove(fold_path(k), ec);
      std::filesystem::remove(fold_path(k) + ".history.csv", ec);
      std::filesystem::remove(fold_path(k) + ".checkpoint.h5", ec);
    }
  });
  log::info("wrote {}: {} folds (and {}.history.csv)", c.output, c.folds, c.output);
  return 0;
}

}  // namespace

int train_model(const dist::Communicator& comm, const TrainConfig& c) {
  if (c.folds > 1 && c.held_out_fold < 0) return train_folds(comm, c);
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
  nn::Preprocessing prep = make_preprocessing(reader, inputs, c.normalization, c.features);
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
