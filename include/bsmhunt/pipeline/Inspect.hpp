#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/physics/Sample.hpp"
#include "bsmhunt/pipeline/Command.hpp"

namespace bsmhunt::pipeline {

struct SampleSummary {
  physics::SampleInfo info;
  double negative_fraction = 0;  // of stored events with weight_mc < 0
  double expected_yield = 0;     // sum of analysis weights of stored events (data: event count)
  double yield_error = 0;        // sqrt(sum of squared analysis weights)
};

struct FileSummary {
  std::filesystem::path path;
  std::string channel;
  double luminosity_ifb = 0;
  std::vector<SampleSummary> samples;
  uint64_t objects_checked = 0;  // offsets validated
};

// Collective: reads every sample's weights (ranks share the events), validates
// every collection's offsets, and sums yields exactly (rank-independent).
FileSummary inspect_event_file(const dist::Communicator& comm, const std::filesystem::path& path);
// The table `bsmhunt inspect` prints: per sample and totals per role.
std::string format_summary(const FileSummary& summary);

struct InspectConfig {
  std::filesystem::path input;
};
void add_inspect_options(po::options_description& options);
InspectConfig inspect_config_from(const po::variables_map& vm);
// Collective: validates the file and prints its summary on rank 0.
int run_inspect(const dist::Communicator& comm, const InspectConfig& config);

}  // namespace bsmhunt::pipeline
