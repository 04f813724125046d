#pragma once
// `bsmhunt anomaly`: what a cut on an anomaly score (an autoencoder's reconstruction
// error, or any classifier score) does. Thresholds at fixed Standard Model
// efficiencies (10%, 1%, 0.1% of the weighted background by default); per signal
// sample its efficiency there, its ROC AUC and the significance it would have if
// injected at a given inclusive S/sqrt(B); and the search: (pseudo-)data above each
// threshold against the expected background, with the local significance of the
// excess (docs/anomaly.md).
//
// The MC prediction comes from the rows the model was not trained on (--mc-split,
// test by default), each sample's weights scaled up to its full yield; the data,
// never trained on by a background-trained autoencoder, count in full (--data-split).
#include <cstdint>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/pipeline/Command.hpp"

namespace bsmhunt::pipeline {

struct AnomalyConfig {
  std::string scores, output;
  std::string score_column;                      // "" = the first column
  std::vector<double> sm_efficiencies = {0.1, 0.01, 0.001};
  double search_efficiency = 0.01;               // the SM efficiency of the headline search
  std::string mc_split = "test";                 // test | validation | train | all
  std::string data_split = "all";
  double background_uncertainty = 0;             // relative systematic on the expected background
  double reference_significance = 1;             // inclusive S/sqrt(B) of the per-signal expected Z
  uint64_t bins = 4000;                          // score bins (log-spaced for positive scores)
  std::vector<std::string> exclude_samples;      // glob patterns
  bool overwrite = false;
};

void add_anomaly_options(po::options_description& options);
AnomalyConfig anomaly_config_from(const po::variables_map& vm);
// Collective; rank 0 writes the JSON and prints the tables.
int run_anomaly(const dist::Communicator& comm, const AnomalyConfig& config);

}  // namespace bsmhunt::pipeline
