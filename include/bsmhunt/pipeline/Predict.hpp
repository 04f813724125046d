#pragma once
// `bsmhunt predict`: model file + feature file -> score file (docs/training.md).
#include <cstdint>
#include <string>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/nn/Backend.hpp"
#include "bsmhunt/pipeline/Command.hpp"

namespace bsmhunt::pipeline {

struct PredictConfig {
  std::string model, features, output;
  std::string events;  // cnn: the event file with the particles (default: the feature file's source_file)
  std::string at = "all";  // parametrised models: the points scored (Parametrisation::parse_points)
  int fold = -1;           // k-fold models: -1 scores each event with its fold's model (out-of-fold), k with fold k's
  nn::DeviceKind device = nn::DeviceKind::cpu;
  io::WriteOptions write;  // --overwrite, --compression, --spool-memory
  uint64_t chunk_rows = 1 << 18;
  int blas_threads = 0;
};

void add_predict_options(po::options_description& options);
PredictConfig predict_config_from(const po::variables_map& vm);

// Collective: scores every event of every split, written in the feature file's row
// order whatever the rank count.
int run_predict(const dist::Communicator& comm, const PredictConfig& config);

}  // namespace bsmhunt::pipeline
