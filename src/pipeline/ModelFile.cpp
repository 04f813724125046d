#include "ModelFile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/nn/Trainer.hpp"

namespace bsmhunt::pipeline {

nn::Preprocessing make_preprocessing(const io::FeatureFileReader& reader, const std::vector<std::size_t>& columns,
                                     const std::string& kind, const std::string& file) {
  const std::size_t F = reader.header().feature_names.size();
  nn::Preprocessing p = nn::Preprocessing::identity(columns.size());
  p.kind = kind;
  if (kind == "none") return p;
  if (kind != "zscore" && kind != "minmax")
    throw InputError(fmt::format("--normalization '{}': expected zscore, minmax or none{}", kind,
                                 did_you_mean(kind, {"zscore", "minmax", "none"})));
  const auto& st = reader.statistics();
  if (st.mean.size() != F)
    throw InputError(fmt::format("{}: no /normalization statistics for {} features (write them with bsmhunt "
                                 "extract/import, or train with --normalization none)",
                                 file, F));
  for (std::size_t k = 0; k < columns.size(); ++k) {
    const std::size_t f = columns[k];
    if (kind == "zscore") {
      p.offset[k] = st.mean[f];
      p.scale[k] = st.stddev[f] > 0 && std::isfinite(st.stddev[f]) ? 1.0 / st.stddev[f] : 1.0;
    } else {
      const double range = st.max[f] - st.min[f];
      p.offset[k] = st.min[f];
      p.scale[k] = range > 0 && std::isfinite(range) ? 1.0 / range : 1.0;
    }
  }
  return p;
}

std::unique_ptr<nn::Backend> make_rank_backend(const dist::Communicator& comm, nn::DeviceKind device,
                                               int blas_threads) {
  // The node's cores and GPUs are shared by all the job's ranks on it, not only by
  // those of `comm` (folds and scan points train on sub-communicators side by side).
  const dist::NodePlacement node = dist::node_placement();
  int threads = blas_threads;
  if (threads <= 0) threads = std::max(1, int(std::thread::hardware_concurrency()) / std::max(node.local_size, 1));
  nn::set_cpu_threads(threads);
  std::unique_ptr<nn::Backend> backend;
  const int local_rank = node.local_rank;
  dist::collectively(comm, [&] { backend = nn::make_backend(device, local_rank); });
  return backend;
}

ImageSettings image_settings_of(const Archive& model, const std::string& what) {
  ImageSettings s;
  const auto& scales = model.number_list("images/scales", what);
  if (scales.size() != s.scales.size())
    throw InputError(fmt::format("{}: images/scales has {} values, expected {}", what, scales.size(), s.scales.size()));
  std::copy(scales.begin(), scales.end(), s.scales.begin());
  s.compression = model.string("images/compression", what);
  s.seed = uint64_t(model.number("images/seed", what));
  return s;
}

void store_image_settings(const ImageSettings& s, Archive& model) {
  model.doubles["images/scales"] = std::vector<double>(s.scales.begin(), s.scales.end());
  model.strings["images/compression"] = s.compression;
  model.doubles["images/seed"] = {double(s.seed)};
  model.strings["images/description"] =
      "eta-phi images built from the particles (docs/monojet.md): channels divided by scales (mean |value| of the "
      "non-zero cells of the training events; the count channel is not scaled), then the compression and the crop";
}

std::array<double, 8> image_scales_of(const std::string& model_path) {
  const Archive model = io::read_archive(model_path, kModelFormat);
  if (!model.doubles.count("images/scales"))
    throw InputError(fmt::format("--scales {}: not a CNN model file (no images/scales)", model_path));
  return image_settings_of(model, model_path).scales;
}

Archive sub_archive(const Archive& a, const std::string& prefix) {
  Archive out;
  const auto take = [&](const auto& from, auto& to) {
    for (const auto& [key, v] : from)
      if (key.starts_with(prefix)) to[key.substr(prefix.size())] = v;
  };
  take(a.floats, out.floats), take(a.doubles, out.doubles), take(a.bytes, out.bytes);
  take(a.strings, out.strings), take(a.string_lists, out.string_lists);
  return out;
}

std::vector<Archive> ensemble_members(const Archive& model, const std::string& what) {
  if (!model.doubles.count("members/count")) return {model};
  const double n = model.number("members/count", what);
  if (!(n >= 2 && n <= 100 && n == std::floor(n)))
    throw InputError(fmt::format("{}: members/count is {}, expected an integer 2 to 100", what, n));
  std::vector<Archive> members;
  for (int i = 0; i < int(n); ++i) {
    members.push_back(sub_archive(model, fmt::format("members/{}/", i)));
    const auto index = members.back().doubles.find("training/ensemble_member");
    if (index == members.back().doubles.end() || index->second != std::vector<double>{double(i)})
      throw InputError(fmt::format("{}: members/{} is not member {} of the ensemble", what, i, i));
    if (members.back().doubles.count("members/count"))
      throw InputError(fmt::format("{}: members/{} is itself an ensemble", what, i));
  }
  return members;
}

TrainedModel::TrainedModel(const dist::Communicator& comm, const std::string& path, nn::DeviceKind device,
                           int blas_threads)
    : path_(path) {
  Archive model;
  dist::collectively(comm, [&] { model = io::read_archive(path, kModelFormat); });
  if (model.doubles.count("folds/count")) {
    // k-fold: one complete model per fold; this one scores each event with its fold's.
    const double k = model.number("folds/count", path);
    if (!(k >= 2 && k <= 100 && k == std::floor(k)))
      throw InputError(fmt::format("{}: folds/count is {}, expected an integer 2 to 100", path, k));
    const std::string& seed = model.string("folds/seed", path);
    try {
      std::size_t used = 0;
      fold_seed_ = std::stoull(seed, &used);
      if (used != seed.size()) throw std::invalid_argument(seed);
    } catch (const std::exception&) {
      throw InputError(fmt::format("{}: folds/seed is '{}', expected an unsigned integer", path, seed));
    }
    for (int f = 0; f < int(k); ++f) {
      const Archive fold = sub_archive(model, fmt::format("folds/{}/", f));
      const auto held_out = fold.doubles.find("training/held_out_fold");
      if (held_out == fold.doubles.end() || held_out->second != std::vector<double>{double(f)})
        throw InputError(fmt::format("{}: folds/{} is not the model trained without fold {}", path, f, f));
      if (fold.strings.count("model/kind") && fold.strings.at("model/kind") == "cnn")
        throw InputError(fmt::format("{}: a k-fold cnn is not supported", path));
      fold_models_.push_back(std::unique_ptr<TrainedModel>(
          new TrainedModel(comm, fold, fmt::format("{} (fold {})", path, f), device, blas_threads)));
    }
    adopt_parts(fold_models_, "folds");
    return;
  }
  load(comm, model, device, blas_threads);
}

TrainedModel::TrainedModel(const dist::Communicator& comm, const Archive& model, const std::string& what,
                           nn::DeviceKind device, int blas_threads)
    : path_(what) {
  load(comm, model, device, blas_threads);
}

void TrainedModel::load_members(const dist::Communicator& comm, const Archive& model, nn::DeviceKind device,
                                int blas_threads) {
  const std::string& path = path_;
  const std::vector<Archive> members = ensemble_members(model, path);
  for (std::size_t i = 0; i < members.size(); ++i)
    member_models_.push_back(std::unique_ptr<TrainedModel>(
        new TrainedModel(comm, members[i], fmt::format("{} (member {})", path, i), device, blas_threads)));
  if (member_models_.front()->kind_ == "cnn")
    throw InputError(fmt::format("{}: an ensemble of cnn models is not supported", path));
  adopt_parts(member_models_, "ensemble members");
}

// Folds and ensemble members stand in for one another: the same kind, inputs and
// outputs. The whole model describes itself as its first part does.
void TrainedModel::adopt_parts(const std::vector<std::unique_ptr<TrainedModel>>& parts, const char* noun) {
  const TrainedModel& first = *parts.front();
  for (const auto& m : parts)
    if (m->kind_ != first.kind_ || m->feature_names_ != first.feature_names_ || m->score_names_ != first.score_names_ ||
        m->parametrisation_.has_value() != first.parametrisation_.has_value())
      throw InputError(fmt::format("{}: its {} are models of different kinds, inputs or outputs", path_, noun));
  kind_ = first.kind_, feature_names_ = first.feature_names_, score_names_ = first.score_names_;
  parametrisation_ = first.parametrisation_, points_ = first.points_, images_ = first.images_;
}

void TrainedModel::load(const dist::Communicator& comm, const Archive& model, nn::DeviceKind device,
                        int blas_threads) {
  const std::string& path = path_;
  if (model.doubles.count("members/count")) return load_members(comm, model, device, blas_threads);
  kind_ = model.string("model/kind", path);
  prep_ = nn::Preprocessing::load(model, path);
  feature_names_ = model.strings_of("preprocessing/feature_names", path);
  parametrisation_ = Parametrisation::load(model, path);
  // The parameter inputs follow the features; the feature file supplies only the features.
  const std::size_t W = parametrisation_ ? parametrisation_->width() : 0;
  if (W > feature_names_.size())
    throw InputError(fmt::format("{}: {} parameter inputs but {} inputs", path, W, feature_names_.size()));
  feature_names_.resize(feature_names_.size() - W);
  const std::size_t F = feature_names_.size() + W;
  if (prep_.features() != F && kind_ != "cnn")
    throw InputError(fmt::format("{}: preprocessing for {} features, the model has {}", path, prep_.features(), F));
  if (kind_ == "bdt") {
    const auto it = model.bytes.find("model/xgboost_ubj");
    if (it == model.bytes.end()) throw InputError(fmt::format("{}: bdt model without model/xgboost_ubj", path));
    bdt_.emplace(nn::BdtModel::deserialize(it->second));
    score_names_ = {"score"};
    if (parametrisation_) score_at(parametrisation_->training_points());
    return;
  }
  backend_ = make_rank_backend(comm, device, blas_threads);
  const nn::NetworkSpec spec = nn::network_spec_from(model, path);
  if (spec.inputs != prep_.outputs() && kind_ != "cnn")
    throw InputError(fmt::format("{}: network of {} inputs for {} features and {} missing-value indicators", path,
                                 spec.inputs, F, prep_.indicators()));
  net_ = std::make_unique<nn::Network>(*backend_, spec);
  nn::load_network(*net_, model, path);
  if (kind_ == "cnn") images_ = image_settings_of(model, path);
  if (kind_ == "autoencoder") score_names_ = {"reconstruction_mse"};
  else if (spec.outputs == 1) score_names_ = {"score"};
  else
    for (std::size_t k = 0; k < spec.outputs; ++k) score_names_.push_back(fmt::format("p_class{}", k));
  if (parametrisation_) {
    if (spec.outputs != 1) throw InputError(fmt::format("{}: a parametrised model must be a binary classifier", path));
    score_at(parametrisation_->training_points());
  }
}

void TrainedModel::score_at(const std::vector<ParameterPoint>& points) {
  if (!parametrisation_) throw InputError(fmt::format("{}: the model is not parametrised (--at needs one)", path_));
  for (auto& m : fold_models_) m->score_at(points);
  for (auto& m : member_models_) m->score_at(points);
  points_ = points;
  score_names_.clear();
  for (const auto& p : points_) score_names_.push_back(point_column_name(parametrisation_->label(p)));
}

TrainedModel::~TrainedModel() = default;

const std::string& TrainedModel::score_description() const {
  static const std::string autoencoder =
      "per-event mean squared reconstruction error of the normalised features (the anomaly score)";
  static const std::string classifier =
      "classifier output: signal probability (sigmoid of the logit), softmax per class for multi-class";
  return kind_ == "autoencoder" ? autoencoder : classifier;
}

void TrainedModel::score_folds(const float* x, std::size_t rows, std::size_t stride,
                               const std::vector<std::size_t>& column, const uint32_t* fold, std::vector<float>& out) {
  if (fold_models_.empty()) return score(x, rows, stride, column, out);
  const std::size_t K = score_names_.size();
  out.assign(rows * K, 0.0f);
  std::vector<float> gathered, part;
  std::vector<std::size_t> index;
  for (std::size_t f = 0; f < fold_models_.size(); ++f) {
    index.clear(), gathered.clear();
    for (std::size_t r = 0; r < rows; ++r)
      if (fold[r] == f) index.push_back(r), gathered.insert(gathered.end(), x + r * stride, x + (r + 1) * stride);
    if (index.empty()) continue;
    fold_models_[f]->score(gathered.data(), index.size(), stride, column, part);
    for (std::size_t i = 0; i < index.size(); ++i)
      std::copy_n(part.data() + i * K, K, out.data() + index[i] * K);
  }
}

void TrainedModel::score(const float* x, std::size_t rows, std::size_t stride, const std::vector<std::size_t>& column,
                         std::vector<float>& out) {
  if (!fold_models_.empty())
    throw InternalError(fmt::format("{}: a k-fold model scores events by their fold (score_folds)", path_));
  if (!member_models_.empty()) {
    // The mean of the members' scores (probabilities, or reconstruction errors).
    std::vector<double> sum;
    for (auto& m : member_models_) {
      m->score(x, rows, stride, column, member_scores_);
      sum.resize(member_scores_.size(), 0.0);
      for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += member_scores_[i];
    }
    out.resize(sum.size());
    for (std::size_t i = 0; i < sum.size(); ++i) out[i] = float(sum[i] / double(member_models_.size()));
    return;
  }
  if (parametrisation_) return score_points(x, rows, stride, column, out);
  const std::size_t N = prep_.outputs(), K = score_names_.size();
  normalised_.resize(rows * N);
  prep_.apply_rows(x, rows, stride, column, normalised_.data());
  out.assign(rows * K, 0.0f);
  if (bdt_) {
    bdt_->predict(normalised_, N, out);
    return;
  }
  if (rows == 0) return;
  if (kind_ == "autoencoder") {
    out = net_->reconstruction_error(normalised_.data(), rows);
    return;
  }
  out = net_->predict(normalised_.data(), rows);
  finish_scores(out, rows);
}

// Parametrised: the normalised features once, then per point the parameter inputs
// appended and one pass of the BDT, or the network's shared-product pass over all
// points (nn::Network::predict_at_points); column p of out is point p.
void TrainedModel::score_points(const float* x, std::size_t rows, std::size_t stride,
                                const std::vector<std::size_t>& column, std::vector<float>& out) {
  const std::size_t F = feature_names_.size(), W = parametrisation_->width(), N = prep_.outputs(), P = points_.size();
  // The features normalised once (the preprocessing's first F entries; the parameter
  // inputs' follow, then the missing-value indicators), then per point the parameter
  // columns rewritten.
  at_point_.resize(rows * N);
  std::vector<std::size_t> feature_column(column);
  if (feature_column.empty())
    for (std::size_t j = 0; j < F; ++j) feature_column.push_back(j);
  prep_.apply_rows(x, rows, stride, feature_column, at_point_.data());
  std::vector<float> encoded(W), point_inputs(P * W);
  for (std::size_t p = 0; p < P; ++p) {
    parametrisation_->encode(points_[p], encoded.data());
    for (std::size_t j = 0; j < W; ++j) point_inputs[p * W + j] = prep_.apply(F + j, encoded[j]);
  }
  if (!bdt_) {
    out = net_->predict_at_points(at_point_.data(), rows, F, W, point_inputs.data(), P);
    for (auto& s : out) s = float(1.0 / (1.0 + std::exp(-double(s))));
    return;
  }
  out.assign(rows * P, 0.0f);
  for (std::size_t p = 0; p < P; ++p) {
    for (std::size_t r = 0; r < rows; ++r) std::copy_n(point_inputs.data() + p * W, W, at_point_.data() + r * N + F);
    point_scores_.assign(rows, 0.0f);
    bdt_->predict(at_point_, N, point_scores_);
    for (std::size_t r = 0; r < rows; ++r) out[r * P + p] = point_scores_[r];
  }
}

std::size_t TrainedModel::image_rows_per_pass() const { return net_->rows_per_pass(1 << 16); }

void TrainedModel::score_images(const float* images, std::size_t rows, std::vector<float>& out) {
  out = rows ? net_->predict(images, rows) : std::vector<float>();
  finish_scores(out, rows);
}

// Logits to probabilities: sigmoid of one logit, softmax of several.
void TrainedModel::finish_scores(std::vector<float>& out, std::size_t rows) const {
  const std::size_t K = score_names_.size();
  for (std::size_t r = 0; r < rows; ++r) {
    float* s = out.data() + r * K;
    if (K == 1) {
      s[0] = float(1.0 / (1.0 + std::exp(-double(s[0]))));
    } else {
      const float m = *std::max_element(s, s + K);
      double z = 0;
      for (std::size_t j = 0; j < K; ++j) z += std::exp(double(s[j] - m));
      for (std::size_t j = 0; j < K; ++j) s[j] = float(std::exp(double(s[j] - m)) / z);
    }
  }
}

}  // namespace bsmhunt::pipeline
