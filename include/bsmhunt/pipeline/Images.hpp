#pragma once
// `bsmhunt images`: a few events' eta-phi images, raw and in every compression, into an
// HDF5 file a physicist opens with h5py (and the report draws), so the images a CNN is
// trained on can be looked at (docs/monojet.md "Images").
#include <cstdint>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/pipeline/Command.hpp"

namespace bsmhunt::pipeline {

struct ImagesConfig {
  std::string events, output;
  std::vector<std::string> samples;  // glob patterns (empty: all)
  uint64_t per_sample = 2;           // the first N events of each sample
  std::string scales = "none";       // none (raw values) | a model file with image scales
  uint64_t seed = 1;                 // of the stochastic compression
  bool overwrite = false;
};

void add_images_options(po::options_description& options);
ImagesConfig images_config_from(const po::variables_map& vm);
// Collective; rank 0 builds the images and writes the file.
int run_images(const dist::Communicator& comm, const ImagesConfig& config);

}  // namespace bsmhunt::pipeline
