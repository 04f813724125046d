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
// end up in 2^-62 fixed-point integers (ExactSum's grid), which reduce() adds over
// the ranks exactly. Two fills: per value (order-free) or per block of rows (faster,
// rank-free when ranks own whole blocks); see below.
class HistogramSet {
 public:
  // `groups` histograms of nbins uniform bins on [lo, hi); block_rows: see the fast fill.
  HistogramSet(std::size_t groups, std::size_t nbins, double lo, double hi, uint64_t block_rows = kBlockRows);

  // Fills x[i] with weight w[i] into histogram group[i] (< groups()). Throws
  // InputError naming the position for a NaN x, a non-finite w or a bad group.
  // Every weight is rounded to the fixed-point grid on its own (ExactSum): the sums
  // do not depend on the order of the values at all.
  void fill(std::span<const float> x, std::span<const double> w, std::span<const uint32_t> group);

  // The fast fill for large inputs: row[i] is the global row number of value i, non-
  // decreasing over the calls of one rank. The values a slot receives from one block of
  // kBlockRows consecutive rows are summed in double in row order and that sum is
  // rounded to the grid once (instead of every value): about 5x faster. The result
  // depends on the block boundaries but not on the rank count, provided every block
  // is filled by one rank (split the rows with rows_of_rank) and not on how the calls
  // cut the rows. Do not mix with the per-value fill in one set.
  static constexpr uint64_t kBlockRows = 1 << 16;
  void fill(std::span<const float> x, std::span<const double> w, std::span<const uint32_t> group,
            std::span<const uint64_t> row);
  // This rank's share of `rows` rows in whole blocks of block_rows (for the fast fill).
  static dist::Range rows_of_rank(uint64_t rows, uint64_t block_rows, const dist::Communicator& comm);
  uint64_t block_rows() const { return block_rows_; }

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
  // Half-width, in bins, of the band around each edge where the arithmetic bin guess
  // may be off by one (a bound on the rounding of the guess and of the edges, with a
  // wide margin); values there take the exact comparisons of slot_of. Infinite when the
  // range is too narrow for its magnitude to trust any guess.
  double edge_band_;
  uint64_t block_rows_;
  // Per group nbins + 2 slots: [underflow, bins..., overflow]. The fast fill adds into
  // the 16-byte Pending sums of the current block (the 1002 slots of one group fit in
  // L1) and moves them into the exact sums when the block changes, only for the groups
  // the block touched.
  static constexpr uint64_t kNoBlock = ~uint64_t(0);
  struct alignas(16) Pending {
    double w = 0, w2 = 0;  // sums of the current block
  };
  struct Exact {
    Int128 w = 0, w2 = 0;
  };
  void settle_block() const;  // pending sums of the touched groups into the exact ones
  void check(std::span<const float> x, std::span<const double> w, std::span<const uint32_t> group) const;
  // Adds n values of one group and block into its pending sums `acc`; false (part
  // added) if a value is NaN or a weight not finite.
  bool add_run(const float* x, const double* w, std::size_t n, Pending* acc) const;
  std::size_t slot_of(double v) const {
    // Slot 0 underflow, b + 1 bin b, n + 1 overflow. The arithmetic guess is off by at
    // most one near an edge; the comparisons make it agree with Histogram::fill.
    const std::size_t n = nbins();
    const double t = (v - lo_) * inv_width_;
    std::ptrdiff_t slot = t < 0 ? 0 : t >= double(n) ? std::ptrdiff_t(n) + 1 : std::ptrdiff_t(t) + 1;
    if (slot > 0 && v < edges_[std::size_t(slot) - 1]) --slot;
    else if (slot <= std::ptrdiff_t(n) && v >= edges_[std::size_t(slot)]) ++slot;
    return std::size_t(slot);
  }
  mutable std::vector<Pending> pending_;
  mutable std::vector<Exact> exact_;
  std::vector<uint64_t> entries_;              // values filled per group
  mutable uint64_t block_ = kNoBlock;          // the block the pending sums belong to
  mutable std::vector<uint32_t> touched_;      // groups with pending sums in that block
  mutable std::vector<uint8_t> is_touched_;    // per group: listed in touched_
};

}  // namespace bsmhunt::stats
