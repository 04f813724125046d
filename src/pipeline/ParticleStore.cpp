#include "ParticleStore.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/physics/generator/Driver.hpp"

namespace bsmhunt::pipeline {

void ParticleStore::check_source(const io::EventFileReader& events, const std::vector<physics::SampleInfo>& samples,
                                 const std::string& features_file) {
  const auto& have = events.samples();
  const std::string file = events.path().string();
  for (std::size_t s = 0; s < std::max(have.size(), samples.size()); ++s)
    if (s >= have.size() || s >= samples.size() || have[s].info.name != samples[s].name)
      throw InputError(fmt::format("{} does not hold the events of {}: sample {} is '{}' there and '{}' here (give "
                                   "--events the event file the features were extracted from)",
                                   file, features_file, s, s < samples.size() ? samples[s].name : "-",
                                   s < have.size() ? have[s].info.name : "-"));
  for (const auto& layout : have)
    if (!layout.schema.find_collection("particles"))
      throw InputError(fmt::format("{}: sample '{}' has no 'particles' collection: CNN images need an event file of "
                                   "the monojet channel",
                                   file, layout.info.name));
}

void ParticleStore::load(const io::EventFileReader& reader, const std::vector<int32_t>& sample,
                         const std::vector<uint64_t>& event_number) {
  const std::size_t n = sample.size();
  // Entries grouped by sample and event, read in contiguous ranges of at most 2^16 events.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return sample[a] != sample[b] ? sample[a] < sample[b] : event_number[a] < event_number[b];
  });
  // Per entry (in input order): where its particles and jets went in the flat arrays.
  std::vector<uint64_t> p_begin(n), p_end(n), j_begin(n), j_end(n);
  std::vector<float> pt, eta, phi, jpt, jeta, jphi, jwidth;
  std::vector<int8_t> charge, em;
  std::vector<int32_t> pdg;
  physics::EventBlock block;
  const uint64_t max_range = 1 << 16;
  for (std::size_t k = 0; k < n;) {
    const auto s = std::size_t(sample[order[k]]);
    if (s >= reader.samples().size())
      throw InputError(fmt::format("{}: sample index {} of {} samples", reader.path().string(), s, reader.samples().size()));
    const auto& layout = reader.samples()[s];
    if (!layout.schema.find_collection("particles"))
      throw InputError(fmt::format("{}: sample '{}' has no 'particles' collection: CNN images need an event file of "
                                   "the monojet channel (--events)",
                                   reader.path().string(), layout.info.name));
    const uint64_t begin = event_number[order[k]];
    std::size_t end_k = k;
    while (end_k < n && std::size_t(sample[order[end_k]]) == s && event_number[order[end_k]] < begin + max_range) ++end_k;
    const uint64_t end = event_number[order[end_k - 1]] + 1;
    if (end > layout.info.n_events)
      throw InputError(fmt::format("{}: sample '{}' has {} events, event {} was asked for: the feature file does not "
                                   "come from this event file",
                                   reader.path().string(), layout.info.name, layout.info.n_events, end - 1));
    reader.read(s, begin, end, block, {"event_number", "particles", "jets"});
    const auto& ev = block.values<uint64_t>("event_number");
    const auto& p = block.collection("particles");
    const auto& j = block.collection("jets");
    const bool shapes = j.has_member("width");
    for (; k < end_k; ++k) {
      const std::size_t e = order[k];
      const uint64_t row = event_number[e] - begin;
      if (ev[row] != event_number[e])
        throw InputError(fmt::format("{}: sample '{}' row {} holds event {}, not event {}: images need the event "
                                     "file's rows in event-number order (as bsmhunt generate writes them)",
                                     reader.path().string(), layout.info.name, begin + row, ev[row], event_number[e]));
      p_begin[e] = pt.size();
      for (uint64_t q = p.offsets[row]; q < p.offsets[row + 1]; ++q) {
        pt.push_back(p.member("pt").as<float>()[q]), eta.push_back(p.member("eta").as<float>()[q]);
        phi.push_back(p.member("phi").as<float>()[q]), charge.push_back(p.member("charge").as<int8_t>()[q]);
        pdg.push_back(p.member("pdg_id").as<int32_t>()[q]), em.push_back(p.member("em").as<int8_t>()[q]);
      }
      p_end[e] = pt.size();
      j_begin[e] = jpt.size();
      if (shapes)
        for (uint64_t q = j.offsets[row]; q < j.offsets[row + 1]; ++q) {
          jpt.push_back(j.member("pt").as<float>()[q]), jeta.push_back(j.member("eta").as<float>()[q]);
          jphi.push_back(j.member("phi").as<float>()[q]), jwidth.push_back(j.member("width").as<float>()[q]);
        }
      j_end[e] = jpt.size();
    }
  }
  // Back to input order, contiguous per entry.
  *this = ParticleStore();
  for (std::size_t e = 0; e < n; ++e) {
    for (uint64_t q = p_begin[e]; q < p_end[e]; ++q) {
      pt_.push_back(pt[q]), eta_.push_back(eta[q]), phi_.push_back(phi[q]);
      charge_.push_back(charge[q]), pdg_.push_back(pdg[q]), em_.push_back(em[q]);
    }
    for (uint64_t q = j_begin[e]; q < j_end[e]; ++q)
      jet_pt_.push_back(jpt[q]), jet_eta_.push_back(jeta[q]), jet_phi_.push_back(jphi[q]), jet_width_.push_back(jwidth[q]);
    particle_offsets_.push_back(pt_.size());
    jet_offsets_.push_back(jet_pt_.size());
    event_.push_back(event_number[e]);
    stream_.push_back(physics::sample_stream(reader.samples()[std::size_t(sample[e])].info));
  }
}

physics::EtaPhiImage::ParticleView ParticleStore::particles(std::size_t i) const {
  const uint64_t b = particle_offsets_[i];
  return {pt_.data() + b, eta_.data() + b, phi_.data() + b, charge_.data() + b, pdg_.data() + b, em_.data() + b,
          std::size_t(particle_offsets_[i + 1] - b)};
}

physics::EtaPhiImage::JetView ParticleStore::jets(std::size_t i) const {
  const uint64_t b = jet_offsets_[i];
  return {jet_pt_.data() + b, jet_eta_.data() + b, jet_phi_.data() + b, jet_width_.data() + b,
          std::size_t(jet_offsets_[i + 1] - b)};
}

uint64_t ParticleStore::random_key(std::size_t i, uint64_t seed) const {
  return physics::image_random_key(seed, stream_[i], event_[i]);
}

void ParticleStore::image(std::size_t i, physics::Compression compression, const std::array<double, 8>& scales,
                          uint64_t seed, physics::EtaPhiImage& scratch, float* out) const {
  scratch.fill(particles(i), jets(i));
  scratch.compress(compression, scales, random_key(i, seed), out);
}

}  // namespace bsmhunt::pipeline
