#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "bsmhunt/core/ExactSum.hpp"
#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/stats/Histogram.hpp"

namespace bsmhunt::stats {

// Many weighted histograms with the same uniform bins, one per group (e.g. sample x
// channel), filled from columns in one pass. This is the hot loop of a significance
// scan over 10^8 scores: the bin is computed arithmetically (then corrected against
// the edges, so a value lands exactly where Histogram::fill would put it) and w, w^2
// are accumulated as 2^-62 fixed-point integers — the same rounding as ExactSum, so
// the result does not depend on the fill order or on the rank count of reduce().
class HistogramSet {
 public:
  // `groups` histograms of nbins uniform bins on [lo, hi).
  HistogramSet(std::size_t groups, std::size_t nbins, double lo, double hi);

  // Fills x[i] with weight w[i] into histogram group[i] (< groups()). Throws
  // InputError naming the position for a NaN x, a non-finite w or a bad group.
  void fill(std::span<const float> x, std::span<const double> w, std::span<const uint32_t> group);

  // Collective: every rank ends with the sum over ranks, bitwise identical for any
  // rank count. Every rank must hold a set of the same shape.
  void reduce(const dist::Communicator& comm);

  std::size_t groups() const { return groups_; }
  std::size_t nbins() const { return edges_.size() - 1; }
  const std::vector<double>& edges() const { return edges_; }
  // Group g as a Histogram (flows included); the sum over `members` groups.
  Histogram histogram(std::size_t g) const;
  Histogram sum_of(std::span<const std::size_t> members) const;
  // Unweighted entries of group g (flows included).
  uint64_t entries(std::size_t g) const;

 private:
  std::size_t groups_;
  std::vector<double> edges_;
  double lo_, inv_width_;
  // Per group nbins + 2 slots: [underflow, bins..., overflow]; w and w^2 of a slot
  // side by side, so a fill touches one cache line (the groups are hit at random).
  struct Slot {
    Int128 w = 0, w2 = 0;
  };
  std::vector<Slot> slots_;
  std::vector<uint64_t> entries_;
};

}  // namespace bsmhunt::stats
