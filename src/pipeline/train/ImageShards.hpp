#pragma once
// Private to train: the images of a CNN's training and validation rows.
#include "../ModelFile.hpp"
#include "../ParticleStore.hpp"
#include "TrainingData.hpp"

namespace bsmhunt::pipeline {

// What the shards' make_rows read: the events' particles and the image settings.
class ImageShards {
 public:
  ParticleStore train, validation;
  ImageSettings settings;
  physics::Compression compression = physics::Compression::empty_cell;
  void rows(const ParticleStore& store, const uint32_t* local, std::size_t n, float* out) const {
    thread_local physics::EtaPhiImage scratch;
    for (std::size_t i = 0; i < n; ++i)
      store.image(local[i], compression, settings.scales, settings.seed, scratch, out + i * physics::ImageGrid::out_size);
  }
};

}  // namespace bsmhunt::pipeline
