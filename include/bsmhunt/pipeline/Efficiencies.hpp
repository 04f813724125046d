#pragma once
// `bsmhunt efficiencies`: how a classifier sorts each group of samples (processes) at
// thresholds on its score, per slice of a sample parameter and after a selection, and
// what that does to S / sqrt(B) for given yields (docs/monojet.md "Tables": the
// mono-jet study's Tables 2-4 and its sensitivity gain).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/pipeline/Command.hpp"

namespace bsmhunt::pipeline {

struct SampleGroup {
  std::string name;
  std::vector<std::string> patterns;  // glob patterns over sample names
};

struct EfficienciesConfig {
  std::string scores, features, output;
  std::string score_column;          // "" = the first column
  std::vector<SampleGroup> groups;   // every sample of a group counts for it; samples in no group are ignored
  std::string signal_group;          // the group a score above the threshold classifies correctly
  std::string slice_parameter;       // sample parameter splitting the per-slice table ("" = none)
  std::string reference_slice;       // slice whose threshold table chooses the threshold ("" = all events)
  std::string reference_background;  // the group the threshold table sets against the signal
  std::string threshold = "auto";    // auto (largest precision x recall of the table) or a number
  std::string split = "test";        // test | validation | train | all
  std::string selection;             // cuts on features for the selected table and the gain
  std::vector<std::pair<std::string, double>> yields;  // group -> expected events (the gain with given yields)
  std::vector<std::string> scaled;   // groups the classifier acts on in the gain with given yields
  bool overwrite = false;
};

void add_efficiencies_options(po::options_description& options);
EfficienciesConfig efficiencies_config_from(const po::variables_map& vm);
// Collective; rank 0 writes the JSON and prints the tables.
int run_efficiencies(const dist::Communicator& comm, const EfficienciesConfig& config);

}  // namespace bsmhunt::pipeline
