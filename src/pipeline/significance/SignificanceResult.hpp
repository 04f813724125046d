#pragma once
// Private to significance: what the stage computed, per channel and signal, and the
// writers of its three outputs (JSON, HDF5, the printed table).
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "bsmhunt/physics/Sample.hpp"
#include "bsmhunt/physics/features/Selection.hpp"
#include "bsmhunt/pipeline/Significance.hpp"
#include "bsmhunt/stats/HistogramSet.hpp"
#include "bsmhunt/stats/Roc.hpp"
#include "bsmhunt/stats/Scan.hpp"

namespace bsmhunt::pipeline {

// The binned variable: the score, or its logit for probabilities (a good classifier
// pushes the signal against p = 1, where uniform bins in p cannot place a cut).
struct ScoreBinning {
  bool logit = false;
  double lo = 0, hi = 1;
  double binned(double score) const;  // score -> binned variable
  double score(double binned) const;  // binned variable -> score
};

struct SignalResult {
  std::size_t sample = 0;
  double total = 0, raw = 0, auc = std::numeric_limits<double>::quiet_NaN(), binned_z = 0;
  stats::CutScan scan;
  stats::Roc roc;
  bool has_roc = false;
  double cc_before = 0, cc_after = 0, cc_z = std::numeric_limits<double>::quiet_NaN();
  // --cut-folds: per fold k the cut chosen on the other folds and s, b, Z on fold k;
  // the mean and standard deviation of the finite Z (NaN when none).
  std::vector<double> fold_cut, fold_s, fold_b, fold_z;
  double z_folds = std::numeric_limits<double>::quiet_NaN(), z_folds_std = std::numeric_limits<double>::quiet_NaN();
};

struct ChannelResult {
  const physics::Channel* channel = nullptr;
  double background = 0, background_error = 0, data = 0;
  bool has_data = false;
  std::vector<double> sample_total, sample_raw;
  std::vector<SignalResult> signals;
  std::vector<stats::Classification> table;
  stats::Classification confusion;
  bool has_classification = false;
  double cc_bkg_before = 0, cc_bkg_after = 0, cc_bkg_after_error = 0;
  std::vector<double> cc_sample_before, cc_sample_after;
};

// Everything the writers need.
struct SignificanceResult {
  const SignificanceConfig* config = nullptr;
  std::string column_name;
  std::vector<physics::SampleInfo> samples;
  std::vector<std::size_t> backgrounds, data;
  std::vector<physics::Channel> channels;
  physics::Selection cuts;
  ScoreBinning binning;
  double lumi_ifb = std::numeric_limits<double>::quiet_NaN();
  // The data's own luminosity (the generator's pseudo-data may be smaller than the MC's).
  double data_lumi_ifb = std::numeric_limits<double>::quiet_NaN();
  std::vector<ChannelResult> results;
  // Histogram of (channel, sample) in score slot u, scaled from the counted splits to
  // all events. One slot (0) unless the scores are a parametrised model's: then each
  // signal has its own point's slot, and backgrounds and data one per slot.
  std::function<stats::Histogram(std::size_t channel, std::size_t sample, std::size_t slot)> histogram;
  std::vector<std::string> slot_columns;  // score column of each slot
  std::vector<int> signal_slot;           // per sample: a signal's slot (-1: none)
  int slot_of_signal(std::size_t s) const { return signal_slot.empty() ? 0 : signal_slot[s]; }
  std::vector<double> bin_edges;  // of the binned variable
  double fill_seconds = 0;
  int ranks = 1;
};

// --split: which splits count (train, validation, test), and --range LO,HI.
std::vector<bool> split_mask(const std::string& split);
std::pair<double, double> parse_range(const std::string& text);

void write_significance_json(const std::string& path, const SignificanceResult& r);
void write_significance_h5(const std::string& path, const SignificanceResult& r);
std::string significance_table(const SignificanceResult& r);

}  // namespace bsmhunt::pipeline
