#pragma once
// Private to extract: what it writes besides the rows (the feature file's header,
// the cutflow table and JSON) and the cutflow tally behind them.
#include <filesystem>
#include <string>
#include <vector>

#include "bsmhunt/core/ExactSum.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/pipeline/Extract.hpp"

namespace bsmhunt::pipeline {

struct ExtractResult {
  uint64_t events_read = 0, events_written = 0;
  std::vector<std::string> features;
  io::Cutflow cutflow;
  double seconds = 0;
};

// Events passing each cut per sample, raw and weighted (exact sums: the same bits
// for any rank count once reduced).
class CutflowTally {
 public:
  CutflowTally(std::size_t samples = 0, std::size_t cuts = 0)
      : cuts_(cuts), raw_(samples * cuts, 0), weighted_(samples * cuts) {}
  // An event of `sample` that passed the first `passed` cuts.
  void count(std::size_t sample, std::size_t passed, double weight) {
    for (std::size_t c = 0; c < passed; ++c) ++raw_[sample * cuts_ + c], weighted_[sample * cuts_ + c].add(weight);
  }
  // Collective: the cutflow over all ranks. The cut `padding_cut` (0: none) is listed
  // only when it removed events.
  io::Cutflow reduce(const dist::Communicator& comm, const std::vector<std::string>& cuts, std::size_t padding_cut);

 private:
  std::size_t cuts_;
  std::vector<uint64_t> raw_;
  std::vector<ExactSum> weighted_;
};

// The header of the feature file: the written features, the samples and the
// provenance and selection attributes.
io::FeatureFileHeader feature_file_header(const physics::FeatureSet& set, const std::vector<std::size_t>& written,
                                          const io::EventFileReader& reader, const ExtractConfig& config,
                                          const std::vector<std::string>& cuts);

void write_cutflow_json(const std::filesystem::path& path, const io::Cutflow& cutflow,
                        const std::vector<io::SampleLayout>& samples, const std::string& feature_file);

}  // namespace bsmhunt::pipeline
