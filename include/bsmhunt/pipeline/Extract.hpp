#pragma once
// `bsmhunt extract`: event file -> feature file (docs/extract.md).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/pipeline/FeatureCommon.hpp"

namespace bsmhunt::pipeline {

// The feature sets extract knows, and the features of each (in file order).
std::vector<std::string> feature_set_names();
std::vector<std::string> feature_set_features(const std::string& feature_set);

struct ExtractConfig {
  std::filesystem::path input, output;
  std::string feature_set;           // "" = the event file's channel attribute
  std::vector<std::string> select;   // subset of the feature set, in this order (empty: all)
  // dilepton_met selection
  double lepton_pt_min = 20;         // GeV, pT > min
  double lepton_eta_max = 2.5;       // |eta| < max
  bool require_sfos = true;          // same flavour, opposite sign (false: any pair)
  double met_min = 50;               // GeV, MET > min
  int64_t max_bjets = -1;            // b-jet veto: n_bjets <= max (< 0: off)
  // dijet selection
  double mjj_min = 0;                // GeV, m_JJ >= min
  PaddingPolicy padding = PaddingPolicy::sentinel;  // missing jets (dilepton_met)
  double sentinel = 10;
  bool drop_nonfinite = false;       // false: NaN/Inf in a used column is an InputError
  SplitFractions split;
  uint64_t seed = 1;
  uint64_t block_events = 1u << 17;  // events per work item (the file does not depend on the rank count)
  bool overwrite = false;
};

struct ExtractResult {
  uint64_t events_read = 0, events_written = 0;
  std::string feature_set;
  std::vector<std::string> features;
  io::Cutflow cutflow;
  double seconds = 0;
};

// Collective. Reads the event file in work items of `block_events` events dealt
// round-robin to ranks (twice with --padding mean: the first pass computes the
// jet means), applies the selection, computes the features and writes the
// feature file, its statistics and cutflow; rank 0 prints the cutflow and writes
// "<output>.cutflow.json". The output is bitwise identical for any rank count.
ExtractResult run_extract(const dist::Communicator& comm, const ExtractConfig& config);

// The cutflow as a text table (samples x cuts, raw counts).
std::string format_cutflow(const io::Cutflow& cutflow, const std::vector<std::string>& samples);

}  // namespace bsmhunt::pipeline
