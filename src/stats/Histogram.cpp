#include "bsmhunt/stats/Histogram.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::stats {

namespace {

std::vector<double> uniform_edges(std::size_t nbins, double lo, double hi) {
  if (nbins == 0) throw InputError("histogram: the number of bins must be >= 1");
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi))
    throw InputError(fmt::format("histogram: range [{}, {}) must be finite with lo < hi", lo, hi));
  std::vector<double> edges(nbins + 1);
  for (std::size_t i = 0; i <= nbins; ++i) edges[i] = lo + (hi - lo) * (double(i) / double(nbins));
  edges.back() = hi;
  return edges;
}

std::vector<double> values_of(const std::vector<ExactSum>& sums) {
  std::vector<double> out;
  out.reserve(sums.size() - 2);
  for (std::size_t i = 1; i + 1 < sums.size(); ++i) out.push_back(sums[i].value());
  return out;
}

std::vector<double> cumulative_of(const std::vector<ExactSum>& sums) {
  // sums has nbins + 2 entries; result entry i covers sums[i + 1 ..].
  std::vector<double> out(sums.size() - 1);
  ExactSum acc;
  for (std::size_t i = out.size(); i-- > 0;) {
    acc.add(sums[i + 1]);
    out[i] = acc.value();
  }
  return out;
}

}  // namespace

Histogram::Histogram(std::size_t nbins, double lo, double hi) : Histogram(uniform_edges(nbins, lo, hi)) {}

Histogram::Histogram(std::vector<double> edges) : edges_(std::move(edges)) {
  if (edges_.size() < 2)
    throw InputError(fmt::format("histogram: {} edges given, at least 2 needed", edges_.size()));
  for (std::size_t i = 0; i < edges_.size(); ++i) {
    if (!std::isfinite(edges_[i])) throw InputError(fmt::format("histogram: edge {} = {} is not finite", i, edges_[i]));
    if (i > 0 && !(edges_[i - 1] < edges_[i]))
      throw InputError(fmt::format("histogram: edges must increase strictly, but edge {} = {} follows {}", i,
                                   edges_[i], edges_[i - 1]));
  }
  sum_w_.resize(edges_.size() + 1);
  sum_w2_.resize(edges_.size() + 1);
}

Histogram Histogram::from_sums(std::vector<double> edges, std::vector<ExactSum> sum_w, std::vector<ExactSum> sum_w2) {
  Histogram h(std::move(edges));
  if (sum_w.size() != h.sum_w_.size() || sum_w2.size() != h.sum_w2_.size())
    throw InternalError(fmt::format("histogram: {} and {} sums for {} bins (expected nbins + 2 each)", sum_w.size(),
                                    sum_w2.size(), h.nbins()));
  h.sum_w_ = std::move(sum_w);
  h.sum_w2_ = std::move(sum_w2);
  return h;
}

void Histogram::fill(double x, double w) {
  if (std::isnan(x)) throw InputError("histogram: cannot fill NaN");
  if (!std::isfinite(w)) throw InputError(fmt::format("histogram: weight {} is not finite", w));
  // Index into sum_w_: 0 = underflow, i + 1 = bin i, nbins + 1 = overflow.
  const auto idx = std::size_t(std::upper_bound(edges_.begin(), edges_.end(), x) - edges_.begin());
  sum_w_[idx].add(w);
  sum_w2_[idx].add(w * w);
}

void Histogram::merge(const Histogram& other) {
  if (other.edges_ != edges_)
    throw InputError(fmt::format("histogram: cannot merge histograms with different edges ({} and {} bins)",
                                 nbins(), other.nbins()));
  for (std::size_t i = 0; i < sum_w_.size(); ++i) {
    sum_w_[i].add(other.sum_w_[i]);
    sum_w2_[i].add(other.sum_w2_[i]);
  }
}

void Histogram::reduce(const dist::Communicator& comm) {
  std::vector<ExactSum> both(sum_w_);
  both.insert(both.end(), sum_w2_.begin(), sum_w2_.end());
  const auto total = comm.sum(both);
  const auto n = std::ptrdiff_t(sum_w_.size());
  std::copy(total.begin(), total.begin() + n, sum_w_.begin());
  std::copy(total.begin() + n, total.end(), sum_w2_.begin());
}

std::vector<double> Histogram::values() const { return values_of(sum_w_); }
std::vector<double> Histogram::variances() const { return values_of(sum_w2_); }

double Histogram::total() const {
  ExactSum acc;
  for (const auto& s : sum_w_) acc.add(s);
  return acc.value();
}

std::vector<double> Histogram::cumulative_above() const { return cumulative_of(sum_w_); }
std::vector<double> Histogram::cumulative_variance_above() const { return cumulative_of(sum_w2_); }

}  // namespace bsmhunt::stats
