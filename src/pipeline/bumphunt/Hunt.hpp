#pragma once
// Private to bumphunt: the events of the hunt, its signal regions, the classifiers
// of every (region, fold) and the results per region and efficiency.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/nn/Backend.hpp"
#include "bsmhunt/pipeline/Bumphunt.hpp"

namespace bsmhunt::pipeline {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The events of the hunt, identical on every rank.
struct Events {
  std::size_t features = 0;
  std::vector<std::string> names;  // training features
  std::string mass_columns;        // the features equal to the mass, never trained on
  std::vector<float> x;            // rows x features (raw)
  std::vector<uint32_t> bin;       // mass bin
  std::vector<uint8_t> fold;
  std::size_t rows() const { return bin.size(); }
};

struct Region {
  std::size_t first = 0;                     // first SR bin
  std::size_t window_lo = 0, window_hi = 0;  // [lo, hi) bins of SR + sidebands
};

struct EfficiencyResult {
  double efficiency = 0, observed = 0, predicted = kNaN, predicted_error = kNaN, z = kNaN, pvalue = kNaN;
  std::string function, message;
  double chi2 = kNaN, pvalue_fit = kNaN;
  int ndf = 0;
  std::vector<double> selected, fitted;
  std::vector<double> background_only;  // dijet: every bin fitted, for the toys
};

struct GlobalResult {
  double efficiency = 0, max_z = 0, pvalue = kNaN, z = kNaN;
  uint64_t toys = 0, failed = 0, at_or_above = 0;
};

struct HuntResult {
  Events events;
  std::vector<Region> regions;
  std::vector<std::vector<EfficiencyResult>> results;  // [region][efficiency]
  std::vector<GlobalResult> globals;                   // per efficiency (dijet background with toys)
};

// Collective: the events of the selected samples in the mass range, with their
// mass bin and fold (from the event's identity, never its position).
Events load_events(const dist::Communicator& comm, const BumphuntConfig& config);

// The mean logit of `ensemble` classifiers of (region, fold), trained SR vs SB on the
// other folds, for every event of `fold`, in event order.
std::vector<float> ensemble_scores(const Events& ev, const Region& region, std::size_t fold, std::size_t region_index,
                                   const BumphuntConfig& config, nn::Backend& backend);

void write_bumphunt_json(const std::string& path, const HuntResult& hunt, const BumphuntConfig& config);
std::string bumphunt_table(const HuntResult& hunt, const BumphuntConfig& config);

}  // namespace bsmhunt::pipeline
