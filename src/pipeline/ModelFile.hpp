#pragma once
// Private to pipeline: what train writes beside the network and what every stage
// that scores events (predict, bumphunt) reads back, and the per-rank device.
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bsmhunt/core/Archive.hpp"
#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/nn/Backend.hpp"
#include "bsmhunt/nn/Bdt.hpp"
#include "bsmhunt/nn/Network.hpp"
#include "bsmhunt/nn/Preprocessing.hpp"
#include "Parametrisation.hpp"

namespace bsmhunt::pipeline {

inline constexpr const char* kModelFormat = "bsmhunt.model";
inline constexpr int64_t kModelFormatVersion = 1;

// x' = (x - offset) * scale per feature, from the training-split statistics of the
// feature file: zscore (mean, 1/std), minmax (min, 1/(max - min)), none (0, 1).
// Over the feature columns `columns` of the file (the model's inputs, in this order).
nn::Preprocessing make_preprocessing(const io::FeatureFileReader& reader, const std::vector<std::size_t>& columns,
                                     const std::string& kind,
                                     const std::string& file);

// Collective: this rank's compute device (one GPU per rank of a node, by the rank's
// place among all the job's ranks on the node) with its BLAS threads: `blas_threads`,
// or (0) the node's cores shared among all the job's ranks on it.
std::unique_ptr<nn::Backend> make_rank_backend(const dist::Communicator& comm, nn::DeviceKind device,
                                               int blas_threads);

// The entries of an archive under `prefix` ("folds/2/"), with the prefix removed.
Archive sub_archive(const Archive& archive, const std::string& prefix);
// An ensemble model (train --ensemble): its members' archives, checked; another model: itself.
std::vector<Archive> ensemble_members(const Archive& model, const std::string& what);

// The eta-phi image settings a CNN model file carries (images/...): the channel scales
// of its training events, the compression and the seed of the stochastic one.
struct ImageSettings {
  std::array<double, 8> scales{};
  std::string compression;
  uint64_t seed = 1;
};
ImageSettings image_settings_of(const Archive& model, const std::string& what);
void store_image_settings(const ImageSettings& settings, Archive& model);
// The scales of a model file (bsmhunt images --scales MODEL.h5); not collective.
std::array<double, 8> image_scales_of(const std::string& model_path);

// A model file loaded for scoring: preprocessing, then the network or the BDT, then
// the output transform (sigmoid, softmax, or the autoencoder's reconstruction MSE).
class TrainedModel {
 public:
  // Collective (reads the file on every rank; opens the device of each rank).
  TrainedModel(const dist::Communicator& comm, const std::string& path, nn::DeviceKind device, int blas_threads);
  ~TrainedModel();
  const std::string& kind() const { return kind_; }
  const std::vector<std::string>& feature_names() const { return feature_names_; }
  const std::vector<std::string>& score_names() const { return score_names_; }
  const std::string& score_description() const;
  // A parametrised classifier scores every event at each point: one column per point,
  // "score[m_zprime_GeV=130]" (default: the training points). Not for other models.
  const std::optional<Parametrisation>& parametrisation() const { return parametrisation_; }
  void score_at(const std::vector<ParameterPoint>& points);
  // Scores `rows` events whose raw features sit at x[r * stride + column[j]] for the
  // model's feature j: out has rows x score_names().size() values.
  void score(const float* x, std::size_t rows, std::size_t stride, const std::vector<std::size_t>& column,
             std::vector<float>& out);
  std::size_t ensemble_size() const { return std::max<std::size_t>(1, member_models_.size()); }
  // k-fold models (train --folds): the fold models, the seed of the fold rule, and the
  // scores of rows whose folds are given (row r by the model of fold[r]). For a model
  // without folds, score().
  std::size_t folds() const { return fold_models_.size(); }
  uint64_t fold_seed() const { return fold_seed_; }
  void score_folds(const float* x, std::size_t rows, std::size_t stride, const std::vector<std::size_t>& column,
                   const uint32_t* fold, std::vector<float>& out);
  // A CNN scores images (built from the events' particles with image_settings()) instead.
  bool takes_images() const { return kind_ == "cnn"; }
  const ImageSettings& image_settings() const { return images_; }
  // Rows per call of score_images that keep the network's activations near 256 MB.
  std::size_t image_rows_per_pass() const;
  void score_images(const float* images, std::size_t rows, std::vector<float>& out);

 private:
  std::string path_, kind_;
  nn::Preprocessing prep_;
  std::vector<std::string> feature_names_, score_names_;
  std::unique_ptr<nn::Backend> backend_;
  std::unique_ptr<nn::Network> net_;
  std::optional<nn::BdtModel> bdt_;
  ImageSettings images_;
  std::optional<Parametrisation> parametrisation_;
  std::vector<ParameterPoint> points_;
  std::vector<float> normalised_, at_point_, point_scores_;  // at_point_: rows x (features + parameters)
  void finish_scores(std::vector<float>& out, std::size_t rows) const;
  TrainedModel(const dist::Communicator& comm, const Archive& model, const std::string& what, nn::DeviceKind device,
               int blas_threads);
  void load(const dist::Communicator& comm, const Archive& model, nn::DeviceKind device, int blas_threads);
  std::vector<std::unique_ptr<TrainedModel>> fold_models_;
  // An ensemble (train --ensemble): its members, whose scores are averaged.
  std::vector<std::unique_ptr<TrainedModel>> member_models_;
  std::vector<float> member_scores_;
  void load_members(const dist::Communicator& comm, const Archive& model, nn::DeviceKind device, int blas_threads);
  void adopt_parts(const std::vector<std::unique_ptr<TrainedModel>>& parts, const char* noun);
  uint64_t fold_seed_ = 0;
  void score_points(const float* x, std::size_t rows, std::size_t stride, const std::vector<std::size_t>& column,
                    std::vector<float>& out);
};

}  // namespace bsmhunt::pipeline
