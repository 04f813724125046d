#pragma once
// `bsmhunt datamc`: before any training, does the (pseudo-)data agree with the
// weighted Monte Carlo in every input feature? Per feature: histograms of the data
// and of each MC sample in bins of equal data content, chi2/ndf with its p-value, a
// Kolmogorov-Smirnov distance, and a flag when they disagree (docs/datamc.md).
// Features that disagree are the ones to leave out of training
// (`bsmhunt train --exclude-features`).
#include <cstdint>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/pipeline/Command.hpp"

namespace bsmhunt::pipeline {

struct DataMcConfig {
  std::string features, output;          // feature file; result JSON (plus OUTPUT.csv with the table)
  std::vector<std::string> only;         // features to check, glob patterns (empty: all)
  std::vector<std::string> mc_samples;   // MC samples, glob patterns (empty: every background sample)
  std::vector<std::string> data_samples; // data samples, glob patterns (empty: every data sample)
  std::string select;                    // cuts on features applied to data and MC alike
  std::string split = "all";             // rows compared: all | train | validation | test
  uint64_t bins = 20;                    // bins of about equal data content per feature
  uint64_t fine_bins = 2000;             // uniform bins of the first pass (edges and the KS distance)
  bool shape = true;                     // normalization: shape (MC scaled to the data total) | luminosity
  double flag_p_value = 1e-3;            // a feature disagrees when the chi2 p-value is below this
  bool overwrite = false;
};

void add_datamc_options(po::options_description& options);
DataMcConfig datamc_config_from(const po::variables_map& vm);
// Collective; rank 0 writes the JSON and CSV and prints the table.
int run_datamc(const dist::Communicator& comm, const DataMcConfig& config);

}  // namespace bsmhunt::pipeline
