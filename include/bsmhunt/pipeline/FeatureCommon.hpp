#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/io/FeatureFile.hpp"

namespace bsmhunt::pipeline {

// Train/validation/test from a hash of (seed, event number): the same event lands
// in the same split whatever the rank count or the order of reading.
struct SplitFractions {
  double train = 0.6, validation = 0.2;  // test = the rest
};
io::Split split_of(uint64_t event_number, uint64_t sample_stream, uint64_t seed, const SplitFractions& f);
// Parses "0.6,0.2" (train, validation); InputError unless both >= 0 and sum <= 1.
SplitFractions parse_split_fractions(std::string_view text);

// What to do with a feature whose object is missing (a third jet in a two-jet
// event) or whose value is flagged missing (-999 in HiggsML-style tables).
enum class PaddingPolicy {
  sentinel,      // pT-like features 0, angles the sentinel value (the thesis used 10)
  mean,          // the mean of the present values over all ranks (training split)
  drop_feature,  // remove every feature that is ever missing
  drop_event,    // remove events with any missing feature (counted in the cutflow)
};
PaddingPolicy parse_padding_policy(std::string_view text);
std::string_view to_string(PaddingPolicy p);

// Per-feature count, mean, M2, min, max: merged with the pairwise update of Chan,
// Golub & LeVeque (1979), which stays accurate where sum-of-squares cancels.
struct RunningStats {
  std::vector<double> count, mean, m2, min, max;
  explicit RunningStats(std::size_t n_features = 0);
  void add(std::size_t feature, double x);
  void merge(const RunningStats& other);
  io::FeatureStatistics finish() const;
  std::vector<double> pack() const;  // for MPI
  static RunningStats unpack(const std::vector<double>& packed, std::size_t n_features);
};

// Collective: merges each rank's per-round partial statistics in rank order,
// round after round. With work items dealt round-robin in a fixed order this
// reproduces the same merge sequence for any rank count.
class OrderedStatsMerger {
 public:
  OrderedStatsMerger(const dist::Communicator& comm, std::size_t n_features);
  void merge_round(const RunningStats& mine);
  const RunningStats& total() const { return total_; }

 private:
  const dist::Communicator& comm_;
  std::size_t n_features_;
  RunningStats total_;
};

}  // namespace bsmhunt::pipeline
