#pragma once
// `bsmhunt bumphunt`: CWoLa hunting (Collins, Howe, Nachman, PRL 121, 241803 and
// PRD 99, 014038). For each signal region of `sr_bins` mass bins with `sb_bins`
// sideband bins on each side, a classifier learns SR (1) against SB (0) from the
// auxiliary features only, with k-fold cross-training so that every event is scored
// by a model that never saw it; the top fraction of events at each efficiency is
// kept and the selected spectrum's background in the SR is predicted from the
// sidebands (docs/bumphunt.md).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/pipeline/Command.hpp"
#include "bsmhunt/stats/DijetFit.hpp"

namespace bsmhunt::pipeline {

enum class BumpBackground { dijet, linear };

struct BumphuntConfig {
  std::string features, output;
  std::vector<double> mass_bins;  // GeV, strictly increasing
  std::size_t sr_bins = 3, sb_bins = 2, folds = 5;
  std::vector<double> efficiencies{1, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002};
  std::vector<std::string> samples;           // glob patterns; empty: the data samples, else every sample
  std::vector<std::string> exclude_features;  // besides the mass (and any column equal to it)
  std::vector<std::size_t> regions;           // first SR bins to hunt in (empty: every possible SR)
  BumpBackground background = BumpBackground::dijet;
  stats::FitOptions fit;
  uint64_t toys = 0, seed = 1;
  // The classifier of every (SR, fold).
  std::size_t ensemble = 4;  // classifiers per fold (different validation folds), mean logit
  std::vector<std::size_t> hidden{32, 32, 32};
  uint64_t epochs = 200, batch_size = 256, patience = 30;
  double learning_rate = 2e-3;
  bool overwrite = false;
};

void add_bumphunt_options(po::options_description& options);
BumphuntConfig bumphunt_config_from(const po::variables_map& vm);

// Collective: the (SR, fold) trainings are spread over the ranks; the result does not
// depend on the rank count. Rank 0 writes the JSON and prints the summary table.
int run_bumphunt(const dist::Communicator& comm, const BumphuntConfig& config);

}  // namespace bsmhunt::pipeline
