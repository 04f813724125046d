#pragma once
// `bsmhunt significance`: weighted score histograms per sample and channel, reduced
// over the ranks (bitwise rank-invariant), then per signal sample the scan of the cut
// on the score, ROC, classification table, confusion matrix and the cut-and-count
// yields table (docs/significance.md).
#include <cstdint>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/pipeline/Command.hpp"
#include "bsmhunt/stats/HistogramSet.hpp"
#include "bsmhunt/stats/Scan.hpp"

namespace bsmhunt::pipeline {

struct SignificanceConfig {
  std::string scores, features;      // features: only for --channels and --cuts
  std::string output, output_h5;     // JSON; HDF5 (default: OUTPUT with .h5 for .json)
  std::string score_column;          // "" = the score file's first column
  std::vector<std::string> signals;  // glob patterns over signal samples; empty = all
  stats::ScanOptions scan;
  std::string split = "test";        // test | validation | train | all
  std::size_t bins = 1000;
  std::string transform = "auto";    // logit | none | auto (logit for probabilities)
  std::string range = "auto";        // "LO,HI" of the binned variable, or auto ([-20, 20] for the logit, else min..max)
  std::string channels, cuts;
  double threshold = 0.5;            // confusion matrix
  std::size_t combination_bins = 10;
  std::size_t cut_folds = 5;         // unbiased Z: cut chosen on K-1 folds, evaluated on the K-th; < 2: off
  std::size_t print_top = 20;
  uint64_t chunk_rows = 1 << 20;
  uint64_t block_rows = stats::HistogramSet::kBlockRows;  // ranks own whole blocks (HistogramSet fast fill)
  bool overwrite = false;
};

void add_significance_options(po::options_description& options);
SignificanceConfig significance_config_from(const po::variables_map& vm);

// Collective; rank 0 writes the outputs and prints the tables. Returns 0.
int run_significance(const dist::Communicator& comm, const SignificanceConfig& config);

// The default HDF5 result beside a JSON result: OUTPUT with .h5 for .json (else OUTPUT.h5).
std::string significance_h5_path(const std::string& output);

// The format attribute and version of both outputs. Version 2 added, in the HDF5
// file, samples/<name>/{role, process, cross_section_pb, parameters} and the flows' sum of
// w^2 (bsmhunt limits builds its models from them).
// The score_column of a significance run that judged each signal of a parametrised
// model's scores at its own point (its JSON and HDF5 name each signal's column).
inline constexpr const char* kOwnPointColumn = "score[own point]";
inline constexpr const char* kSignificanceFormat = "bsmhunt.significance";
inline constexpr int64_t kSignificanceFormatVersion = 2;

}  // namespace bsmhunt::pipeline
