#pragma once
// Per-feature count, mean, M2, min, max of a stream of values, merged across work
// items and ranks with the pairwise update of Chan, Golub & LeVeque (1979), which
// stays accurate where sum-of-squares cancels.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"

namespace bsmhunt::stats {

// What a finished RunningStats reports per feature (population standard deviation).
struct FeatureMoments {
  std::vector<double> mean, stddev, min, max;
  uint64_t count = 0;  // the largest per-feature count
};

struct RunningStats {
  std::vector<double> count, mean, m2, min, max;
  explicit RunningStats(std::size_t n_features = 0);
  // Welford's update; inline, as extract calls it for every written value.
  void add(std::size_t f, double x) {
    count[f] += 1.0;
    const double d = x - mean[f];
    mean[f] += d / count[f];
    m2[f] += d * (x - mean[f]);
    min[f] = std::min(min[f], x);
    max[f] = std::max(max[f], x);
  }
  // The rows r with take[r] != 0 of a row-major block of n_rows x count.size() floats:
  // the block's moments column by column (two passes in loops the compiler
  // vectorises), then merged. extract's per-value Welford update (a division per
  // value) cost it a tenth of its time.
  void add_rows(const float* rows, std::size_t n_rows, const char* take);
  void merge(const RunningStats& other);
  FeatureMoments finish() const;
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

}  // namespace bsmhunt::stats
