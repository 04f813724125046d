#include "bsmhunt/stats/HistogramSet.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::stats {

HistogramSet::HistogramSet(std::size_t groups, std::size_t nbins, double lo, double hi, uint64_t block_rows)
    : groups_(groups), edges_(Histogram(nbins, lo, hi).edges()), lo_(lo), inv_width_(double(nbins) / (hi - lo)),
      block_rows_(block_rows),
      pending_(groups * (nbins + 2)), exact_(groups * (nbins + 2)) {
  if (block_rows_ == 0) throw InputError("histogram block rows must be >= 1");
}

void HistogramSet::check(std::span<const float> x, std::span<const double> w, std::span<const uint32_t> group) const {
  if (x.size() != w.size() || x.size() != group.size())
    throw InternalError(fmt::format("HistogramSet::fill: {} values, {} weights, {} groups", x.size(), w.size(),
                                    group.size()));
  // A tight loop the compiler vectorises; the slow loop only names the culprit.
  bool bad = false;
  for (std::size_t i = 0; i < x.size(); ++i)
    bad |= std::isnan(x[i]) | !std::isfinite(w[i]) | (group[i] >= groups_);
  if (bad)
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (std::isnan(x[i])) throw InputError(fmt::format("histogram fill: value {} is NaN", i));
      if (!std::isfinite(w[i])) throw InputError(fmt::format("histogram fill: weight {} = {} is not finite", i, w[i]));
      if (group[i] >= groups_) throw InternalError(fmt::format("histogram fill: group {} of {}", group[i], groups_));
    }
}

void HistogramSet::fill(std::span<const float> x, std::span<const double> w, std::span<const uint32_t> group) {
  check(x, w, group);
  const std::size_t stride = nbins() + 2;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::size_t k = std::size_t(group[i]) * stride + slot_of(double(x[i]));
    exact_[k].w += ExactSum::to_fixed(w[i]);
    exact_[k].w2 += ExactSum::to_fixed(w[i] * w[i]);
    ++pending_[k].entries;
  }
}

void HistogramSet::fill(std::span<const float> x, std::span<const double> w, std::span<const uint32_t> group,
                        std::span<const uint64_t> row) {
  check(x, w, group);
  if (row.size() != x.size())
    throw InternalError(fmt::format("HistogramSet::fill: {} values, {} row numbers", x.size(), row.size()));
  const std::size_t stride = nbins() + 2;
  Pending* pending = pending_.data();
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::size_t k = std::size_t(group[i]) * stride + slot_of(double(x[i]));
    Pending& p = pending[k];
    const uint64_t block = row[i] / block_rows_;
    if (p.block != block) [[unlikely]] {
      settle(k);
      p.block = block;
    }
    const double wi = w[i];
    p.w += wi;
    p.w2 += wi * wi;
    ++p.entries;
  }
  unsettled_ = unsettled_ || !x.empty();
}

dist::Range HistogramSet::rows_of_rank(uint64_t rows, uint64_t block_rows, const dist::Communicator& comm) {
  block_rows = std::max<uint64_t>(block_rows, 1);
  const dist::Range blocks = dist::partition((rows + block_rows - 1) / block_rows, comm.size(), comm.rank());
  return {std::min(rows, blocks.begin * block_rows), std::min(rows, blocks.end * block_rows)};
}

void HistogramSet::settle_all() const {
  if (!unsettled_) return;
  for (std::size_t k = 0; k < pending_.size(); ++k)
    if (pending_[k].block != kNoBlock) settle(k);
  unsettled_ = false;
}

void HistogramSet::reduce(const dist::Communicator& comm) {
  settle_all();
  const std::size_t m = exact_.size(), stride = nbins() + 2;
  static_assert(sizeof(Exact) == 2 * sizeof(Int128), "Exact is two contiguous Int128");
  comm.sum_in_place(&exact_.data()->w, 2 * m);
  // Entry counts per group, as integers (exact in 128 bits); a group's reduced count
  // is kept in its first slot (entries() sums the slots).
  std::vector<Int128> counts(groups_);
  for (std::size_t g = 0; g < groups_; ++g) counts[g] = Int128(entries(g));
  comm.sum_in_place(counts.data(), counts.size());
  for (std::size_t g = 0; g < groups_; ++g)
    for (std::size_t s = 0; s < stride; ++s) pending_[g * stride + s].entries = s ? 0 : uint64_t(counts[g]);
}

Histogram HistogramSet::histogram(std::size_t g) const {
  const std::size_t g1[] = {g};
  return sum_of(g1);
}

Histogram HistogramSet::sum_of(std::span<const std::size_t> members) const {
  settle_all();
  const std::size_t stride = nbins() + 2;
  std::vector<ExactSum> w(stride), w2(stride);
  for (const std::size_t g : members) {
    if (g >= groups_) throw InternalError(fmt::format("HistogramSet: group {} of {}", g, groups_));
    for (std::size_t s = 0; s < stride; ++s) {
      w[s].add(ExactSum::from_raw(exact_[g * stride + s].w));
      w2[s].add(ExactSum::from_raw(exact_[g * stride + s].w2));
    }
  }
  return Histogram::from_sums(edges_, std::move(w), std::move(w2));
}

uint64_t HistogramSet::entries(std::size_t g) const {
  if (g >= groups_) throw InternalError(fmt::format("HistogramSet: group {} of {}", g, groups_));
  const std::size_t stride = nbins() + 2;
  uint64_t n = 0;
  for (std::size_t s = 0; s < stride; ++s) n += pending_[g * stride + s].entries;
  return n;
}

}  // namespace bsmhunt::stats
