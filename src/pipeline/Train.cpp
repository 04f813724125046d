// bsmhunt train: feature file -> model file (mlp, autoencoder on the nn engine;
// bdt on XGBoost), data-parallel over the ranks.
#include "bsmhunt/pipeline/Train.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "ModelFile.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/pipeline/Selection.hpp"
#include "bsmhunt/stats/Histogram.hpp"
#include "bsmhunt/stats/Roc.hpp"

namespace bsmhunt::pipeline {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int signal) { g_stop_signal = signal; }

// SIGTERM / SIGUSR1 (Slurm preemption, `--signal=USR1@120`) ask the trainer to
// write a checkpoint at the end of the current step and leave.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old_term_);
    sigaction(SIGUSR1, &sa, &old_usr1_);
  }
  ~StopSignals() {
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGUSR1, &old_usr1_, nullptr);
  }
  static bool requested() { return g_stop_signal != 0; }
  static int signal() { return g_stop_signal; }

 private:
  struct sigaction old_term_ {}, old_usr1_ {};
};

// The replicas' sums through MPI (CPU backend: device pointers are host memory).
class MpiCollective final : public nn::Collective {
 public:
  explicit MpiCollective(const dist::Communicator& comm) : comm_(comm) {}
  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  void start_sum(float* values, std::size_t n) override {
    if (comm_.size() > 1 && n) pending_.push_back(comm_.start_sum_in_place(values, n));
  }
  void wait_all() override { dist::Communicator::wait_all(pending_); }
  void sum(double* values, std::size_t n) override {
    if (comm_.size() > 1 && n) comm_.sum_in_place(values, n);
  }

 private:
  const dist::Communicator& comm_;
  std::vector<MPI_Request> pending_;
};

struct LoadedData {
  nn::Shard train, validation;
  std::vector<double> validation_analysis_weight;  // physics weights, for the AUC
  std::vector<int32_t> validation_label;
  int classes = 2;
  uint64_t global_signal_train = 0, global_background_train = 0;
};

std::vector<bool> selected_samples(const io::FeatureFileHeader& h, const TrainConfig& c, bool autoencoder,
                                   const std::string& train_on) {
  std::vector<bool> use(h.samples.size(), false);
  for (const auto& p : c.signal_samples) {
    bool any = false;
    for (const auto& s : h.samples) any |= s.role == physics::Role::signal && glob_match(p, s.name);
    if (!any) {
      std::vector<std::string> names;
      for (const auto& s : h.samples)
        if (s.role == physics::Role::signal) names.push_back(s.name);
      throw InputError(fmt::format("--signal-samples: '{}' matches no signal sample of {}{}", p, c.features,
                                   did_you_mean(p, names)));
    }
  }
  for (std::size_t i = 0; i < h.samples.size(); ++i) {
    const auto& s = h.samples[i];
    bool excluded = false;
    for (const auto& p : c.exclude_samples) excluded |= glob_match(p, s.name);
    if (excluded) continue;
    if (autoencoder) {
      use[i] = (train_on == "all" && s.role != physics::Role::data) ||
               (train_on == "background" && s.role == physics::Role::background) ||
               (train_on == "data" && s.role == physics::Role::data);
    } else if (s.role == physics::Role::background) {
      use[i] = true;
    } else if (s.role == physics::Role::signal) {
      use[i] = c.signal_samples.empty();
      for (const auto& p : c.signal_samples) use[i] = use[i] || glob_match(p, s.name);
    }
  }
  return use;
}

// The contiguous slice of the file's rows this rank trains on, chosen so that every
// rank holds about the same number of rows it will use (train and validation splits
// of the selected samples). An even split of the file would not: samples that are
// not trained on (pseudo-data, the other signal models) sit together in the file,
// and the rank holding them would idle while the others compute every step. Slices
// end on blocks of at most 2^16 rows; the rows' global order (file order) is unchanged, so
// the global batches are the same as with any other partition.
dist::Range balanced_range(const io::FeatureFileReader& reader, const dist::Communicator& comm,
                           const std::vector<bool>& use) {
  // Blocks of 2^16 rows, smaller in small files so that every rank gets some.
  const uint64_t rows = reader.rows();
  const uint64_t block = std::clamp<uint64_t>(rows / (256 * uint64_t(comm.size())), 1024, 1 << 16);
  const uint64_t blocks = (rows + block - 1) / block;
  std::vector<uint64_t> used(blocks, 0);
  const dist::Range mine = dist::partition(blocks, comm.size(), comm.rank());
  std::vector<int32_t> sample;
  std::vector<int8_t> split;
  dist::collectively(comm, [&] {
    for (uint64_t k = mine.begin; k < mine.end; ++k) {
      reader.read_membership(k * block, std::min(rows, (k + 1) * block), sample, split);
      for (std::size_t r = 0; r < sample.size(); ++r)
        used[k] += sample[r] >= 0 && std::size_t(sample[r]) < use.size() && use[std::size_t(sample[r])] &&
                   split[r] != int8_t(io::Split::test);
    }
  });
  comm.sum_in_place(used);
  uint64_t total = 0;
  for (const auto u : used) total += u;
  // Rank r starts at the first block where the used rows before it reach r/P of the total.
  const auto start_of = [&](int r) -> uint64_t {
    if (r <= 0) return 0;
    if (r >= comm.size()) return rows;
    const uint64_t target = total * uint64_t(r) / uint64_t(comm.size());
    uint64_t before = 0;
    for (uint64_t k = 0; k < blocks; ++k) {
      if (before >= target) return k * block;
      before += used[k];
    }
    return rows;
  };
  return dist::Range{std::min(rows, start_of(comm.rank())), std::min(rows, start_of(comm.rank() + 1))};
}

// Reads this rank's rows [range) of the train and validation splits, normalised.
LoadedData load_splits(const io::FeatureFileReader& reader, const TrainConfig& c, const dist::Communicator& comm,
                       dist::Range range, const std::vector<bool>& use, const Preprocessing& prep,
                       bool autoencoder) {
  LoadedData d;
  const std::size_t F = reader.header().feature_names.size();
  const Selection region = parse_selection(c.select, reader.header().feature_names, "--select");
  d.train.features = d.validation.features = F;
  std::vector<double> train_raw_w, val_raw_w;
  std::vector<int32_t> train_label;
  io::FeatureBlock block;
  const uint64_t chunk = 1 << 18;
  int32_t max_label = 0;
  // Capacity for every row of the range: pages are only touched as rows arrive, so
  // this costs address space, not memory, and the columns never reallocate (a
  // growing vector would hold the training set twice while it moves).
  d.train.x.reserve(range.size() * F), d.validation.x.reserve(range.size() * F);
  Progress progress("reading", comm.sum(range.size()), "rows", comm.is_root());
  // The same number of rounds on every rank (the progress sums are collective),
  // also when one rank reads everything (the BDT).
  const uint64_t rounds = uint64_t(comm.max(double((range.size() + chunk - 1) / chunk)));
  for (uint64_t k = 0; k < rounds; ++k) {
    const uint64_t b = std::min(range.end, range.begin + k * chunk);
    const uint64_t e = std::min(range.end, b + chunk);
    reader.read(b, e, block);
    for (std::size_t r = 0; r < block.size(); ++r) {
      const auto split = io::Split(block.split[r]);
      const int32_t sample = block.sample_index[r];
      if (split == io::Split::test || !use[std::size_t(sample)]) continue;
      const float* x = block.features.data() + r * F;
      if (!region.passes(x)) continue;
      nn::Shard& s = split == io::Split::train ? d.train : d.validation;
      for (std::size_t f = 0; f < F; ++f) {
        if (!std::isfinite(x[f]))
          throw InputError(fmt::format("{}: /features row {} column {} ('{}') is {}: training needs finite features",
                                       c.features, b + r, f, reader.header().feature_names[f], x[f]));
        s.x.push_back(float((double(x[f]) - prep.offset[f]) * prep.scale[f]));
      }
      if (!std::isfinite(block.weight[r]))
        throw InputError(fmt::format("{}: /weight row {} is {}", c.features, b + r, block.weight[r]));
      if (block.label[r] < 0)
        throw InputError(fmt::format("{}: /label row {} is {}: expected a class index >= 0", c.features, b + r,
                                     block.label[r]));
      max_label = std::max(max_label, block.label[r]);
      if (split == io::Split::train) {
        train_raw_w.push_back(block.weight[r]);
        train_label.push_back(block.label[r]);
        if (!autoencoder) d.train.target.push_back(float(block.label[r]));
      } else {
        val_raw_w.push_back(block.weight[r]);
        d.validation_analysis_weight.push_back(block.weight[r]);
        d.validation_label.push_back(block.label[r]);
        if (!autoencoder) d.validation.target.push_back(float(block.label[r]));
      }
    }
    progress.update(comm.sum(e - range.begin));
  }
  progress.finish();
  // A classifier has at least the two classes background (0) and signal (1).
  d.classes = autoencoder ? 1 : std::max(2, int(comm.max(double(max_label))) + 1);

  // Training weights: sample part, then class part from global sums over the training split.
  auto sample_part = [&](double w) {
    switch (c.weights.sample) {
      case SampleWeights::none: return 1.0;
      case SampleWeights::mc: return w;
      case SampleWeights::abs: return std::fabs(w);
    }
    return w;
  };
  const std::size_t K = std::size_t(std::max(d.classes, 1));
  std::vector<double> class_count(K, 0.0), class_sum(K, 0.0);
  for (std::size_t i = 0; i < train_raw_w.size(); ++i) {
    const std::size_t k = autoencoder ? 0 : std::size_t(train_label[i]);
    class_count[k] += 1, class_sum[k] += sample_part(train_raw_w[i]);
  }
  comm.sum_in_place(class_count), comm.sum_in_place(class_sum);
  if (!autoencoder) {
    d.global_background_train = uint64_t(class_count[0]);
    d.global_signal_train = K > 1 ? uint64_t(class_count[1]) : 0;
    for (std::size_t k = 0; k < K; ++k)
      if (class_count[k] == 0)
        throw InputError(fmt::format("{}: the training split has no events of class {} ({}): a classifier needs "
                                     "every class; check --signal-samples / --exclude-samples / --select",
                                     c.features, k, k == 0 ? "background" : (K == 2 ? "signal" : "label")));
  }
  std::vector<double> factor(K, 1.0);
  if (!autoencoder && c.weights.balance != ClassBalance::none) {
    const auto& totals = c.weights.balance == ClassBalance::count ? class_count : class_sum;
    for (std::size_t k = 0; k < K; ++k)
      if (!(totals[k] > 0))
        throw InputError(fmt::format("class balance by {}: class {} has total {} in the training split",
                                     c.weights.balance == ClassBalance::count ? "count" : "sum", k, totals[k]));
    if (K == 2) {
      // Background scaled down to the signal total, or signal up to the background's.
      if (c.weights.scale_signal_up) factor[1] = totals[0] / totals[1];
      else factor[0] = totals[1] / totals[0];
    } else {
      double mean_total = 0;
      for (auto t : totals) mean_total += t / double(K);
      for (std::size_t k = 0; k < K; ++k) factor[k] = mean_total / totals[k];
    }
    // Counting balance applies to the sample-weight part as it stands.
  }
  double total_w = 0, total_n = 0;
  for (std::size_t k = 0; k < K; ++k) total_w += factor[k] * class_sum[k], total_n += class_count[k];
  const double norm = c.weights.normalize && total_w != 0 ? total_n / total_w : 1.0;
  for (std::size_t i = 0; i < train_raw_w.size(); ++i) {
    const std::size_t k = autoencoder ? 0 : std::size_t(train_label[i]);
    d.train.weight.push_back(float(sample_part(train_raw_w[i]) * factor[k] * norm));
  }
  for (std::size_t i = 0; i < val_raw_w.size(); ++i) {
    const std::size_t k = autoencoder ? 0 : std::size_t(d.validation_label[i]);
    d.validation.weight.push_back(float(sample_part(val_raw_w[i]) * factor[k] * norm));
  }
  d.train.global_offset = comm.exclusive_prefix_sum(d.train.rows());
  d.train.global_rows = comm.sum(uint64_t(d.train.rows()));
  d.validation.global_offset = comm.exclusive_prefix_sum(d.validation.rows());
  d.validation.global_rows = comm.sum(uint64_t(d.validation.rows()));
  return d;
}

std::string policy_text(const WeightPolicy& w) {
  const char* sample = w.sample == SampleWeights::none ? "none" : (w.sample == SampleWeights::mc ? "mc" : "abs");
  const char* balance = w.balance == ClassBalance::none ? "none" : (w.balance == ClassBalance::count ? "count" : "sum");
  return fmt::format("sample-weights={} class-balance={} balance-scale={} normalize-weights={}", sample, balance,
                     w.scale_signal_up ? "signal" : "background", w.normalize);
}

// Weighted ROC AUC of the validation split with the physics weights (binary classifiers).
double validation_auc(nn::Backend& be, nn::Network& net, const LoadedData& d, const dist::Communicator& comm) {
  stats::Histogram sig(4000, 0.0, 1.0 + 1e-9), bkg(4000, 0.0, 1.0 + 1e-9);
  nn::LocalCollective local;
  nn::StepContext ctx{be, local, false, 0, nullptr, 0};
  const std::size_t F = d.validation.features, chunk = 1 << 16;
  nn::Tensor x(be, 0, F);
  std::vector<float> logits;
  for (std::size_t r0 = 0; r0 < d.validation.rows(); r0 += chunk) {
    const std::size_t rows = std::min(chunk, d.validation.rows() - r0);
    x.reshape(rows, F);
    be.upload(d.validation.x.data() + r0 * F, x.data(), rows * F);
    const float* out = net.forward(ctx, x.data(), rows);
    logits.resize(rows);
    be.download(out, logits.data(), rows);
    for (std::size_t i = 0; i < rows; ++i) {
      const double score = 1.0 / (1.0 + std::exp(-double(logits[i])));
      (d.validation_label[r0 + i] == 1 ? sig : bkg).fill(score, d.validation_analysis_weight[r0 + i]);
    }
  }
  sig.reduce(comm), bkg.reduce(comm);
  if (!(sig.total() > 0) || !(bkg.total() > 0)) return std::nan("");
  return stats::roc(sig, bkg).auc;
}

void write_history_csv(const std::string& path, const std::vector<nn::EpochRecord>& history) {
  std::ofstream out(path + ".partial");
  out << "epoch,train_loss,validation_loss,learning_rate,seconds\n";
  for (const auto& r : history)
    out << fmt::format("{},{:.8g},{:.8g},{:.6g},{:.3f}\n", r.epoch, r.train_loss, r.validation_loss, r.learning_rate,
                       r.seconds);
  out.close();
  std::filesystem::rename(path + ".partial", path);
}

int train_bdt(const TrainConfig& c, const io::FeatureFileReader& reader, const dist::Communicator& comm,
              const std::vector<bool>& use, const Preprocessing& prep, Archive archive) {
  // XGBoost trains in one process: rank 0 reads both splits whole, the other ranks
  // wait without spinning so its threads have the cores.
  const dist::Range everything{0, reader.rows()};
  const dist::Range mine = comm.is_root() ? everything : dist::Range{0, 0};
  LoadedData d = load_splits(reader, c, comm, mine, use, prep, false);
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

}  // namespace

int run_train(const TrainConfig& c, const dist::Communicator& comm) {
  const bool autoencoder = c.model == "autoencoder";
  if (c.model != "mlp" && c.model != "autoencoder" && c.model != "bdt")
    throw InputError(fmt::format("--model '{}': expected mlp, autoencoder or bdt{}", c.model,
                                 did_you_mean(c.model, {"mlp", "autoencoder", "bdt"})));
  if (c.features.empty()) throw InputError("bsmhunt train: --features FILE is required");
  if (c.output.empty()) throw InputError("bsmhunt train: --output MODEL.h5 is required");
  const std::string checkpoint = c.checkpoint.empty() ? c.output + ".checkpoint.h5" : c.checkpoint;
  // A resumed run writes the model its interrupted start did not write.
  io::check_output_path(comm, c.output, c.overwrite || c.resume);
  std::error_code ec;
  if (c.resume && !std::filesystem::exists(checkpoint, ec))
    throw InputError(fmt::format("--resume: no checkpoint {} (written by an interrupted run)", checkpoint));
  std::string train_on = c.train_on;
  if (train_on == "auto") train_on = "background";
  if (train_on != "background" && train_on != "data" && train_on != "all")
    throw InputError(fmt::format("--train-on '{}': expected auto, background, data or all", c.train_on));

  io::FeatureFileReader reader(comm, c.features);
  const auto& header = reader.header();
  const Preprocessing prep = make_preprocessing(reader, c.normalization, c.features);
  const std::vector<bool> use = selected_samples(header, c, autoencoder, train_on);
  Archive archive;
  store_preprocessing(prep, header.feature_names, archive);
  archive.strings["training/features_file"] = c.features;
  archive.strings["training/weight_policy"] = policy_text(c.weights);
  archive.strings["training/selection"] = c.select;
  std::vector<std::string> used;
  for (std::size_t i = 0; i < use.size(); ++i)
    if (use[i]) used.push_back(header.samples[i].name);
  archive.string_lists["training/samples"] = used;
  log::info("training {} on {} ({} features, {} of {} samples) with {} rank(s)", c.model, c.features,
            header.feature_names.size(), used.size(), header.samples.size(), comm.size());
  log::info("weights: {}", policy_text(c.weights));
  if (c.model == "bdt") return train_bdt(c, reader, comm, use, prep, std::move(archive));

  // Data-parallel engine: each rank holds a contiguous slice of the file's rows,
  // balanced by the rows it will use.
  set_cpu_threads(c.blas_threads, comm);
  std::unique_ptr<nn::Backend> backend;
  const int local_rank = comm.split_shared().rank();  // one GPU per rank of a node
  dist::collectively(comm, [&] { backend = nn::make_backend(c.device, local_rank); });
  LoadedData d = load_splits(reader, c, comm, balanced_range(reader, comm, use), use, prep,
                             autoencoder);
  if (d.train.global_rows == 0) throw InputError(fmt::format("{}: the training split selects no events", c.features));
  nn::NetworkSpec spec = c.network;
  spec.model = c.model;
  spec.inputs = d.train.features;
  spec.outputs = autoencoder ? d.train.features : (d.classes > 2 ? std::size_t(d.classes) : 1);
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
  if (!autoencoder)
    archive.doubles["training/train_events"] = {double(d.global_signal_train), double(d.global_background_train)};
  const double fewest = comm.min(double(d.train.rows())), most = comm.max(double(d.train.rows()));
  if (comm.size() > 1) log::info("training rows per rank: {:.0f} to {:.0f}", fewest, most);
  log::info("training split: {} events ({} signal, {} background), validation: {} events",
            d.train.global_rows, d.global_signal_train, d.global_background_train, d.validation.global_rows);

  MpiCollective mpi(comm);
  std::unique_ptr<nn::Collective> nccl;
  if (c.device == nn::DeviceKind::cuda && comm.size() > 1) {
    std::vector<uint8_t> id;
    if (comm.is_root()) id = nn::nccl_unique_id();
    comm.broadcast(id);
    nccl = nn::make_nccl_collective(*backend, id, mpi);
  }
  nn::Collective& collective = nccl ? *nccl : static_cast<nn::Collective&>(mpi);
  nn::Network net(*backend, spec);
  net.initialize(tc.seed);
  nn::Trainer trainer(*backend, net, collective, tc, d.train, d.validation);
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

  auto write_model = [&](const std::string& path) {
    Archive a = trainer.snapshot();
    for (auto& [k, v] : archive.floats) a.floats[k] = v;
    for (auto& [k, v] : archive.strings) a.strings[k] = v;
    for (auto& [k, v] : archive.string_lists) a.string_lists[k] = v;
    for (auto& [k, v] : archive.doubles) a.doubles[k] = v;
    io::write_archive(path, a, kModelFormat, kModelFormatVersion);
  };
  StopSignals signals;
  nn::TrainerHooks hooks;
  hooks.stop_requested = [] { return StopSignals::requested(); };
  hooks.checkpoint = [&](uint64_t) {
    if (comm.is_root()) write_model(checkpoint);
  };
  auto start = std::chrono::steady_clock::now();
  auto last_print = start;
  const uint64_t first_step = trainer.step();
  hooks.step_report = [&](const nn::StepReport& r) {
    if (!comm.is_root()) return;
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_print).count() < c.progress_seconds && r.step != r.total_steps) return;
    last_print = now;
    const double elapsed = std::chrono::duration<double>(now - start).count();
    const double steps_done = double(r.step - first_step);
    const double rate = steps_done > 0 ? steps_done * double(tc.batch_size) / elapsed : 0;
    log::info("epoch {}/{}  step {}/{}  loss {:.5f}  {}samples/s  ETA {}", r.epoch, r.epochs, r.step, r.total_steps,
              r.loss, si_count(rate), human_duration(elapsed / std::max(steps_done, 1.0) * double(r.total_steps - r.step)));
  };
  hooks.epoch_end = [&](const nn::EpochRecord& e, bool improved) {
    log::info("epoch {} done: train loss {:.5f}  validation loss {:.5f}{}  lr {:.3g}  {}", e.epoch, e.train_loss,
              e.validation_loss, improved ? " (best)" : "", e.learning_rate, human_duration(e.seconds));
  };
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
    auc = validation_auc(*backend, net, d, comm);
    archive.doubles["training/validation_auc"] = {auc};
  }
  if (comm.is_root()) {
    write_model(c.output);
    write_history_csv(c.output + ".history.csv", trainer.history());
  }
  comm.barrier();
  log::info("wrote {} (and {}.history.csv){}", c.output, c.output,
            std::isfinite(auc) ? fmt::format("; validation weighted ROC AUC {:.4f}", auc) : std::string());
  return 0;
}

}  // namespace bsmhunt::pipeline
