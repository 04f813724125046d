#pragma once
// `bsmhunt extract`: event file -> feature file (docs/extract.md).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/physics/features/FeatureSet.hpp"
#include "bsmhunt/pipeline/Command.hpp"
#include "bsmhunt/pipeline/FeatureCommon.hpp"

namespace bsmhunt::pipeline {

struct ExtractConfig {
  std::filesystem::path input, output;
  std::string feature_set;           // "" = the event file's channel attribute
  std::vector<std::string> select;   // subset of the feature set, in this order (empty: all)
  physics::FeatureSetOptions selection;
  PaddingPolicy padding = PaddingPolicy::sentinel;  // features of missing objects (leading jets)
  double sentinel = 10;
  bool drop_nonfinite = false;       // false: NaN/Inf in a used column is an InputError
  FeatureFileOptions file;
  uint64_t block_events = 1u << 17;  // events per work item (the file does not depend on the rank count)
};

void add_extract_options(po::options_description& options);
ExtractConfig extract_config_from(const po::variables_map& vm);

// Collective. Reads the event file in work items of `block_events` events dealt
// round-robin to ranks (twice with --padding mean: the first pass computes the
// means of the present values), applies the selection, computes the features and
// writes the feature file, its statistics and cutflow; rank 0 prints the cutflow and
// writes "<output>.cutflow.json". The output is bitwise identical for any rank count.
int run_extract(const dist::Communicator& comm, const ExtractConfig& config);

// The cutflow as a text table (samples x cuts, raw counts).
std::string format_cutflow(const io::Cutflow& cutflow, const std::vector<std::string>& samples);

}  // namespace bsmhunt::pipeline
