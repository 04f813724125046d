#pragma once
#include <cstddef>
#include <vector>

#include "bsmhunt/core/ExactSum.hpp"
#include "bsmhunt/dist/Communicator.hpp"

namespace bsmhunt::stats {

// Weighted 1-D histogram with fixed bin edges. Bin i covers [edges[i], edges[i+1]);
// x < edges.front() goes to the underflow, x >= edges.back() (+inf included) to
// the overflow. Sums of w and w^2 are ExactSum (each term rounded to 2^-62), so
// fill order, merge order and the rank count of reduce() never change a bit.
class Histogram {
 public:
  // nbins uniform bins on [lo, hi); nbins >= 1 and lo < hi (both finite).
  Histogram(std::size_t nbins, double lo, double hi);
  // Given edges: at least 2, finite, strictly increasing.
  explicit Histogram(std::vector<double> edges);
  // From raw sums in the layout of sum_w() (nbins + 2 entries each, flows included).
  static Histogram from_sums(std::vector<double> edges, std::vector<ExactSum> sum_w, std::vector<ExactSum> sum_w2);

  // Throws InputError for NaN x or a non-finite w (rank-local: callers that fill
  // before a collective should agree on errors first, e.g. Communicator::all).
  void fill(double x, double w = 1.0);
  // Adds `other`, which must have identical edges (InputError otherwise).
  void merge(const Histogram& other);
  // Collective: every rank ends with the sum over ranks, bitwise identical for any
  // rank count. Every rank must hold a histogram with the same edges.
  void reduce(const dist::Communicator& comm);

  std::size_t nbins() const { return edges_.size() - 1; }
  const std::vector<double>& edges() const { return edges_; }
  // In-range bins only (nbins() values); flows separately.
  std::vector<double> values() const;
  std::vector<double> variances() const;  // sum of w^2 per bin
  double underflow() const { return sum_w_.front().value(); }
  double overflow() const { return sum_w_.back().value(); }
  double underflow_variance() const { return sum_w2_.front().value(); }
  double overflow_variance() const { return sum_w2_.back().value(); }
  // Sum of all weights, flows included.
  double total() const;
  // For cuts "score >= edges[i]": nbins()+1 entries, entry i = sum of w (or w^2)
  // over bins i..nbins()-1 plus the overflow; entry nbins() = overflow alone.
  // Underflow is never above a threshold. Summed exactly, then rounded once.
  std::vector<double> cumulative_above() const;
  std::vector<double> cumulative_variance_above() const;

  // Raw exact sums, layout [underflow, bin 0 .. bin nbins()-1, overflow].
  const std::vector<ExactSum>& sum_w() const { return sum_w_; }
  const std::vector<ExactSum>& sum_w2() const { return sum_w2_; }

 private:
  std::vector<double> edges_;
  std::vector<ExactSum> sum_w_, sum_w2_;
};

}  // namespace bsmhunt::stats
