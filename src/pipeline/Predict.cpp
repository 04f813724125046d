// bsmhunt predict: model file + feature file -> score file, every event of every
// split, written in the feature file's row order whatever the rank count.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <filesystem>

#include "ModelFile.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/pipeline/Train.hpp"

namespace bsmhunt::pipeline {

namespace {

// Column j of the network input is column index[j] of the file; refuses with the
// differences listed when the model's features are not all in the file.
std::vector<std::size_t> match_features(const std::vector<std::string>& model, const std::vector<std::string>& file,
                                        const std::string& model_path, const std::string& file_path) {
  std::vector<std::size_t> index;
  std::vector<std::string> missing, extra;
  for (const auto& name : model) {
    const auto it = std::find(file.begin(), file.end(), name);
    if (it == file.end()) missing.push_back(name);
    else index.push_back(std::size_t(it - file.begin()));
  }
  for (const auto& name : file)
    if (std::find(model.begin(), model.end(), name) == model.end()) extra.push_back(name);
  if (!missing.empty())
    throw InputError(fmt::format("{} does not match {}: missing feature(s) {}{}", file_path, model_path,
                                 join(missing, ", "),
                                 extra.empty() ? std::string() : fmt::format("; not in the model: {}", join(extra, ", "))));
  return index;
}

}  // namespace

int run_predict(const PredictConfig& c, const dist::Communicator& comm) {
  if (c.model.empty()) throw InputError("bsmhunt predict: --model MODEL.h5 is required");
  if (c.features.empty()) throw InputError("bsmhunt predict: --features FILE is required");
  if (c.output.empty()) throw InputError("bsmhunt predict: --output SCORES.h5 is required");
  io::check_output_path(comm, c.output, c.overwrite);

  Archive model;
  dist::collectively(comm, [&] { model = io::read_archive(c.model, kModelFormat); });
  const std::string kind = model.string("model/kind", c.model);
  const Preprocessing prep = load_preprocessing(model, c.model);
  const auto& model_features = model.strings_of("preprocessing/feature_names", c.model);
  io::FeatureFileReader reader(comm, c.features);
  const auto& header = reader.header();
  const auto columns = match_features(model_features, header.feature_names, c.model, c.features);
  const std::size_t F = model_features.size();
  if (prep.offset.size() != F)
    throw InputError(fmt::format("{}: preprocessing for {} features, the model has {}", c.model, prep.offset.size(), F));

  std::unique_ptr<nn::Backend> backend;
  std::unique_ptr<nn::Network> net;
  std::optional<nn::BdtModel> bdt;
  std::vector<std::string> score_names;
  if (kind == "bdt") {
    const auto it = model.bytes.find("model/xgboost_ubj");
    if (it == model.bytes.end()) throw InputError(fmt::format("{}: bdt model without model/xgboost_ubj", c.model));
    bdt.emplace(nn::BdtModel::deserialize(it->second));
    score_names = {"score"};
  } else {
    set_cpu_threads(c.blas_threads, comm);
    const int local_rank = comm.split_shared().rank();
    dist::collectively(comm, [&] { backend = nn::make_backend(c.device, local_rank); });
    const nn::NetworkSpec spec = nn::network_spec_from(model, c.model);
    if (spec.inputs != F)
      throw InputError(fmt::format("{}: network of {} inputs for {} features", c.model, spec.inputs, F));
    net = std::make_unique<nn::Network>(*backend, spec);
    nn::load_network(*net, model, c.model);
    if (kind == "autoencoder") score_names = {"reconstruction_mse"};
    else if (spec.outputs == 1) score_names = {"score"};
    else
      for (std::size_t k = 0; k < spec.outputs; ++k) score_names.push_back(fmt::format("p_class{}", k));
  }
  const std::size_t K = score_names.size();

  io::FeatureFileHeader out_header;
  out_header.feature_names = score_names;
  out_header.feature_units.assign(K, "");
  out_header.samples = header.samples;
  out_header.attributes = {{"model", c.model}, {"model_kind", kind}, {"features_file", c.features},
                           {"score_description",
                            kind == "autoencoder" ? std::string("per-event mean squared reconstruction error of the "
                                                                "normalised features (the anomaly score)")
                                                  : std::string("classifier output: signal probability (sigmoid of "
                                                                "the logit), softmax per class for multi-class")}};
  io::WriteOptions options;
  options.overwrite = c.overwrite;
  io::FeatureFileWriter writer(comm, c.output, options, out_header, io::RowFileKind::scores);

  const dist::Range range = dist::partition(reader.rows(), comm.size(), comm.rank());
  Progress progress("predict", reader.rows(), "events", comm.is_root());
  io::FeatureBlock in, out;
  out.n_features = K;
  std::vector<float> x;
  nn::LocalCollective local;
  if (!backend) backend = nn::make_backend(nn::DeviceKind::cpu);  // the BDT path needs no tensors
  nn::StepContext ctx{*backend, local, false, 0, nullptr, 0};
  nn::Tensor device_x(*backend, 0, F), row_loss(*backend, 0, 1);
  // Every rank runs the same number of rounds (empty ones included) for the progress sums.
  const uint64_t largest_slice = (reader.rows() + uint64_t(comm.size()) - 1) / uint64_t(comm.size());
  const uint64_t rounds = std::max<uint64_t>(1, (largest_slice + c.chunk_rows - 1) / c.chunk_rows);
  for (uint64_t k = 0; k < rounds; ++k) {
    const uint64_t b = std::min(range.end, range.begin + k * c.chunk_rows);
    const uint64_t e = std::min(range.end, b + c.chunk_rows);
    reader.read(b, e, in);
    const std::size_t rows = in.size();
    x.resize(rows * F);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t j = 0; j < F; ++j) {
        const float v = in.features[r * header.feature_names.size() + columns[j]];
        x[r * F + j] = float((double(v) - prep.offset[j]) * prep.scale[j]);
      }
    out.features.assign(rows * K, 0.0f);
    if (bdt) {
      bdt->predict(x, F, out.features);
    } else if (rows) {
      device_x.reshape(rows, F);
      backend->upload(x.data(), device_x.data(), x.size());
      const float* y = net->forward(ctx, device_x.data(), rows);
      if (kind == "autoencoder") {
        row_loss.reshape(rows, 1);
        backend->loss({nn::LossKind::mse}, y, device_x.data(), nullptr, rows, F, 0.f, nullptr, row_loss.data());
        backend->download(row_loss.data(), out.features.data(), rows);
      } else {
        backend->download(y, out.features.data(), rows * K);
        for (std::size_t r = 0; r < rows; ++r) {
          float* s = out.features.data() + r * K;
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
    }
    out.weight = in.weight, out.label = in.label, out.sample_index = in.sample_index;
    out.event_number = in.event_number, out.mass = in.mass, out.split = in.split;
    // Items in file order: rank-major (contiguous slices), chunk-minor.
    if (rows) writer.append_item((uint64_t(comm.rank()) << 32) | k, out);
    progress.update(comm.sum(uint64_t(e - range.begin)));
  }
  progress.finish();
  writer.commit();
  log::info("wrote {}: {} scores ({}) for {} events", c.output, K, join(score_names, ", "), reader.rows());
  return 0;
}

}  // namespace bsmhunt::pipeline
