// train --model cnn: the training and validation rows become eta-phi images, built
// batch by batch from the particles of their events (never held for the whole set).
#include <fmt/format.h>

#include "ImageShards.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/ExactSum.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/io/EventFile.hpp"

namespace bsmhunt::pipeline {

namespace {

// The event file of the images: --events, else the feature file's source_file.
std::string events_file(const TrainConfig& c, const io::FeatureFileReader& reader) {
  if (!c.events.empty()) return c.events;
  for (const auto& a : reader.header().attributes)
    if (a.name == "source_file")
      if (const auto* s = std::get_if<std::string>(&a.value)) return *s;
  throw InputError(fmt::format("{}: no source_file attribute names the event file of its particles: give --events",
                               c.features));
}

// Mean |value| of the non-zero cells of every training image, per channel, over all
// ranks (exact sums: the same scales for any rank count); the count is not scaled.
std::array<double, 8> channel_scales(const dist::Communicator& comm, const ParticleStore& train) {
  std::array<uint64_t, 8> count{};
  physics::EtaPhiImage image;
  std::vector<ExactSum> exact(8);
  for (std::size_t i = 0; i < train.size(); ++i) {
    std::array<double, 8> event_sum{};
    image.fill(train.particles(i), train.jets(i));
    image.add_channel_sums(event_sum, count);
    for (std::size_t k = 0; k < 8; ++k) exact[k].add(event_sum[k]);
  }
  exact = comm.sum(exact);
  std::vector<uint64_t> counts(count.begin(), count.end());
  comm.sum_in_place(counts);
  std::array<double, 8> scales;
  for (std::size_t k = 0; k < 8; ++k) scales[k] = counts[k] > 0 && k != 1 ? exact[k].value() / double(counts[k]) : 1.0;
  return scales;
}

}  // namespace

std::unique_ptr<ImageShards> make_image_shards(const dist::Communicator& comm, const TrainConfig& c,
                                               const io::FeatureFileReader& reader, LoadedData& d,
                                               Archive& provenance) {
  auto images = std::make_unique<ImageShards>();
  images->compression = physics::parse_compression(c.compression);
  images->settings.compression = c.compression;
  images->settings.seed = c.trainer.seed;
  const std::string events = events_file(c, reader);
  io::EventFileReader event_reader(comm, events);
  dist::collectively(comm, [&] { ParticleStore::check_source(event_reader, reader.header().samples, c.features); });
  dist::collectively(comm, [&] {
    images->train.load(event_reader, d.train_sample, d.train_event);
    images->validation.load(event_reader, d.validation_sample, d.validation_event);
  });
  images->settings.scales = channel_scales(comm, images->train);
  store_image_settings(images->settings, provenance);
  provenance.strings["images/events_file"] = events;
  const auto& sc = images->settings.scales;
  log::info("images: {} compression from {}; channel scales {:.3g} {:.3g} {:.3g} {:.3g} {:.3g} {:.3g} {:.3g} {:.3g}",
            c.compression, events, sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7]);
  const ImageShards* shards = images.get();
  for (auto [shard, split_store] : {std::pair{&d.train, &images->train}, std::pair{&d.validation, &images->validation}}) {
    shard->features = physics::ImageGrid::out_size;
    std::vector<float>().swap(shard->x);
    // A copy, not the structured binding: C++20 lambdas may not capture bindings before clang 16.
    const auto* store = split_store;
    shard->make_rows = [shards, store](const uint32_t* local, std::size_t n, float* out) {
      shards->rows(*store, local, n, out);
    };
  }
  return images;
}

}  // namespace bsmhunt::pipeline
