// bsmhunt predict: every rank scores a contiguous slice of the feature file in
// chunks; the ordered writer puts the scores in the file's row order.
#include "bsmhunt/pipeline/Predict.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "../ModelFile.hpp"
#include "../ParticleStore.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "../StopSignals.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/WorkItems.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/pipeline/FeatureCommon.hpp"

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

io::FeatureFileHeader score_file_header(const TrainedModel& model, const io::FeatureFileHeader& features,
                                        const PredictConfig& c) {
  io::FeatureFileHeader header;
  header.feature_names = model.score_names();
  header.feature_units.assign(header.feature_names.size(), "");
  header.samples = features.samples;
  header.attributes = {{"model", c.model},
                       {"model_kind", model.kind()},
                       {"features_file", c.features},
                       {"score_description", model.score_description()}};
  // The MC's luminosity travels with the scores: anomaly and significance compare the
  // data (which may be smaller, generate --data-lumi-ifb) with the MC at it.
  for (const auto& a : features.attributes)
    if (a.name == "luminosity_ifb") header.attributes.push_back(a);
  if (model.folds() > 0) {
    header.attributes.push_back({"folds", int64_t(model.folds())});
    header.attributes.push_back({"fold_seed", int64_t(model.fold_seed())});
    header.attributes.push_back({"scored_by", c.fold >= 0 ? fmt::format("fold {}'s model (every event)", c.fold)
                                                          : std::string("out-of-fold: each event by the model "
                                                                        "trained without its fold")});
  }
  if (const auto& p = model.parametrisation()) {
    std::vector<std::string> names;
    for (const auto& m : p->parameters()) names.push_back(m.name);
    header.attributes.push_back({"parametrised_in", join(names, ",")});
    header.attributes.push_back(
        {"score_columns", std::string("score[POINT]: the parametrised classifier evaluated at that point of the "
                                      "signal parameters, for every event (docs/training.md)")});
  }
  return header;
}

// A CNN's scores of the rows of `in`: their events' particles read from the event
// file, images built a pass at a time.
class ImageScorer {
 public:
  ImageScorer(const dist::Communicator& comm, const PredictConfig& c, const io::FeatureFileHeader& header,
              TrainedModel& model)
      : model_(model), events_(comm, events_file(c, header)),
        compression_(physics::parse_compression(model.image_settings().compression)) {
    dist::collectively(comm, [&] { ParticleStore::check_source(events_, header.samples, c.features); });
  }
  void score(const io::FeatureBlock& in, std::vector<float>& out) {
    store_.load(events_, in.sample_index, in.event_number);
    const std::size_t K = model_.score_names().size(), pass = model_.image_rows_per_pass();
    out.assign(in.size() * K, 0.0f);
    std::vector<float> part;
    for (std::size_t r0 = 0; r0 < in.size(); r0 += pass) {
      const std::size_t n = std::min(pass, in.size() - r0);
      images_.resize(n * physics::ImageGrid::out_size);
      for (std::size_t i = 0; i < n; ++i)
        store_.image(r0 + i, compression_, model_.image_settings().scales, model_.image_settings().seed, scratch_,
                     images_.data() + i * physics::ImageGrid::out_size);
      model_.score_images(images_.data(), n, part);
      std::copy(part.begin(), part.end(), out.begin() + std::ptrdiff_t(r0 * K));
    }
  }

 private:
  static std::string events_file(const PredictConfig& c, const io::FeatureFileHeader& header) {
    if (!c.events.empty()) return c.events;
    for (const auto& a : header.attributes)
      if (a.name == "source_file")
        if (const auto* s = std::get_if<std::string>(&a.value)) return *s;
    throw InputError(fmt::format("{}: no source_file attribute names the event file of its particles: give --events",
                                 c.features));
  }
  TrainedModel& model_;
  io::EventFileReader events_;
  physics::Compression compression_;
  ParticleStore store_;
  physics::EtaPhiImage scratch_;
  std::vector<float> images_;
};

}  // namespace

int run_predict(const dist::Communicator& comm, const PredictConfig& c) {
  io::check_output_path(comm, c.output, c.write.overwrite);
  TrainedModel model(comm, c.model, c.device, c.blas_threads);
  if (model.parametrisation()) model.score_at(model.parametrisation()->parse_points(c.at, "--at"));
  else if (trim(c.at) != "all")
    throw InputError(fmt::format("--at '{}': {} is not a parametrised model (train --parametrise)", c.at, c.model));
  if (c.fold < -1 || (c.fold >= 0 && std::size_t(c.fold) >= model.folds()))
    throw InputError(fmt::format("--fold {}: {} has {}", c.fold, c.model,
                                 model.folds() ? fmt::format("folds 0 to {} (-1: out-of-fold)", model.folds() - 1)
                                               : std::string("no folds (train --folds)")));
  io::FeatureFileReader reader(comm, c.features);
  const auto& header = reader.header();
  std::vector<uint64_t> stream;  // k-fold: the fold rule's sample streams
  for (const auto& s : header.samples) stream.push_back(stable_hash(s.name.c_str()));
  std::vector<uint32_t> fold;
  const auto columns = model.takes_images()
                           ? std::vector<std::size_t>()
                           : match_features(model.feature_names(), header.feature_names, c.model, c.features);
  std::unique_ptr<ImageScorer> images;
  if (model.takes_images()) images = std::make_unique<ImageScorer>(comm, c, header, model);
  io::FeatureFileWriter writer(comm, c.output, c.write, score_file_header(model, header, c), io::RowFileKind::scores);

  const dist::Range mine = dist::partition(reader.rows(), comm.size(), comm.rank());
  Progress progress("predict", reader.rows(), "events", comm.is_root());
  io::FeatureBlock in, out;
  out.n_features = model.score_names().size();
  // Every rank runs the same number of rounds (empty ones included) for the progress sums.
  const uint64_t rounds = dist::read_rounds(comm, mine, c.chunk_rows);
  StopSignals signals;
  for (uint64_t k = 0; k < rounds; ++k) {
    stop_point(comm, "predict", k, rounds);
    const dist::Range chunk = dist::read_chunk(mine, k, c.chunk_rows);
    reader.read(chunk.begin, chunk.end, in);
    if (images) dist::collectively(comm, [&] { images->score(in, out.features); });
    else if (model.folds() > 0) {
      fold.resize(in.size());
      dist::collectively(comm, [&] {  // a bad row on one rank stops every rank
        for (std::size_t r = 0; r < in.size(); ++r) {
          const auto s = std::size_t(in.sample_index[r]);
          if (s >= stream.size())
            throw InputError(fmt::format("{}: row {} has sample_index {} of {} samples", c.features, chunk.begin + r,
                                         s, stream.size()));
          fold[r] = c.fold >= 0 ? uint32_t(c.fold)
                                : fold_of(in.event_number[r], stream[s], model.fold_seed(), uint32_t(model.folds()));
        }
      });
      model.score_folds(in.features.data(), in.size(), header.feature_names.size(), columns, fold.data(),
                        out.features);
    } else {
      model.score(in.features.data(), in.size(), header.feature_names.size(), columns, out.features);
    }
    out.weight = in.weight, out.label = in.label, out.sample_index = in.sample_index;
    out.event_number = in.event_number, out.mass = in.mass, out.split = in.split;
    // Items in file order: rank-major (contiguous slices), chunk-minor.
    dist::collectively(comm, [&] {  // a failed write (full disk) on one rank stops every rank
      if (in.size()) writer.append_item((uint64_t(comm.rank()) << 32) | k, out);
    });
    progress.update(comm.sum(uint64_t(chunk.end - mine.begin)));
  }
  progress.finish();
  stop_point(comm, "predict", rounds, rounds);
  writer.commit();
  log::info("wrote {}: {} scores ({}) for {} events", c.output, model.score_names().size(),
            join_abridged(model.score_names(), ", ", 4, "all in the file"), reader.rows());
  return 0;
}

}  // namespace bsmhunt::pipeline
