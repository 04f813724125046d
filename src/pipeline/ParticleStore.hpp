#pragma once
// Private to pipeline: the particles and jets of a list of events of an event file,
// held compactly so that CNN training and prediction build their images batch by
// batch (a few kB per event instead of 144 kB per image).
#include <cstdint>
#include <string>
#include <vector>

#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/physics/EtaPhiImage.hpp"

namespace bsmhunt::pipeline {

class ParticleStore {
 public:
  // InputError unless `events` holds the samples of the feature file `features_file`
  // (the same names in the same order) and has particles.
  static void check_source(const io::EventFileReader& events, const std::vector<physics::SampleInfo>& samples,
                           const std::string& features_file);
  // Reads the events (sample[i], event_number[i]) of the file, in any order; not
  // collective (independent reads). The file's rows must be in event-number order
  // (bsmhunt generate writes event i of a sample at row i): InputError otherwise.
  void load(const io::EventFileReader& reader, const std::vector<int32_t>& sample,
            const std::vector<uint64_t>& event_number);
  std::size_t size() const { return event_.size(); }
  physics::EtaPhiImage::ParticleView particles(std::size_t i) const;
  physics::EtaPhiImage::JetView jets(std::size_t i) const;
  // The key of entry i's stochastic compression (its sample and event, not its place).
  uint64_t random_key(std::size_t i, uint64_t seed) const;
  // Entry i's image, compressed and scaled, into out (ImageGrid::out_size floats).
  void image(std::size_t i, physics::Compression compression, const std::array<double, 8>& scales, uint64_t seed,
             physics::EtaPhiImage& scratch, float* out) const;

 private:
  std::vector<uint64_t> particle_offsets_{0}, jet_offsets_{0}, event_, stream_;
  std::vector<float> pt_, eta_, phi_, jet_pt_, jet_eta_, jet_phi_, jet_width_;
  std::vector<int8_t> charge_, em_;
  std::vector<int32_t> pdg_;
};

}  // namespace bsmhunt::pipeline
