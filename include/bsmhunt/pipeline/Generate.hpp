#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/physics/generator/Channel.hpp"
#include "bsmhunt/pipeline/Command.hpp"

namespace bsmhunt::pipeline {

struct GenerateConfig {
  std::string channel = "dilepton_met";
  physics::GeneratorOptions options;
  std::filesystem::path output;
  io::WriteOptions write;  // --overwrite, --compression, --spool-memory
  bool pseudo_data = true;
  // Luminosity of the pseudo-data in fb^-1: 0 = auto (the luminosity at which the
  // expected background equals the background MC events stored, at most --lumi-ifb),
  // negative = full (--lumi-ifb), positive = that value.
  double data_lumi_ifb = 0;
  std::string inject_signal;        // sample name injected into the pseudo-data
  double signal_strength = 0;       // mu: injected yield = mu x expected signal yield (Poisson)
  int64_t inject_events = -1;       // exact number of injected events instead of mu (>= 0)
  std::vector<std::string> samples; // restrict to these samples (empty: all)
  // Events per work item; fixed, so the output does not depend on the ranks. Small:
  // items of one sample can cost 100x those of another (rejected Drell-Yan attempts),
  // and ranks take items in turn round by round, so with 2^17 two ranks ran 1.2x one.
  uint64_t block_events = 1u << 14;
  bool summary = true;              // print the inspect summary of the file at the end
};

void add_generate_options(po::options_description& options);
GenerateConfig generate_config_from(const po::variables_map& vm);

// Collective: generates the channel's samples (and pseudo-data) into an event file.
int run_generate(const dist::Communicator& comm, const GenerateConfig& config);

}  // namespace bsmhunt::pipeline
