#include "bsmhunt/stats/HistogramSet.hpp"

#include <fmt/format.h>

#include <cmath>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::stats {

HistogramSet::HistogramSet(std::size_t groups, std::size_t nbins, double lo, double hi)
    : groups_(groups), edges_(Histogram(nbins, lo, hi).edges()), lo_(lo), inv_width_(double(nbins) / (hi - lo)),
      slots_(groups * (nbins + 2)), entries_(groups) {}

void HistogramSet::fill(std::span<const float> x, std::span<const double> w, std::span<const uint32_t> group) {
  if (x.size() != w.size() || x.size() != group.size())
    throw InternalError(fmt::format("HistogramSet::fill: {} values, {} weights, {} groups", x.size(), w.size(),
                                    group.size()));
  const std::size_t n = nbins(), stride = n + 2;
  const double* edges = edges_.data();
  // Validate first (a tight loop the compiler vectorises), then fill without checks.
  bool bad = false;
  for (std::size_t i = 0; i < x.size(); ++i)
    bad |= std::isnan(x[i]) | !std::isfinite(w[i]) | (group[i] >= groups_);
  if (bad)
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (std::isnan(x[i])) throw InputError(fmt::format("histogram fill: value {} is NaN", i));
      if (!std::isfinite(w[i])) throw InputError(fmt::format("histogram fill: weight {} = {} is not finite", i, w[i]));
      if (group[i] >= groups_) throw InternalError(fmt::format("histogram fill: group {} of {}", group[i], groups_));
    }
  Slot* slots = slots_.data();
  uint64_t* entries = entries_.data();
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i], wi = w[i];
    // Slot 0 underflow, b + 1 bin b, n + 1 overflow. The arithmetic guess is off by at
    // most one near an edge; the comparisons make it agree with Histogram::fill.
    const double t = (v - lo_) * inv_width_;
    std::ptrdiff_t slot = t < 0 ? 0 : t >= double(n) ? std::ptrdiff_t(n) + 1 : std::ptrdiff_t(t) + 1;
    if (slot > 0 && v < edges[slot - 1]) --slot;
    else if (slot <= std::ptrdiff_t(n) && v >= edges[slot]) ++slot;
    Slot& s = slots[std::size_t(group[i]) * stride + std::size_t(slot)];
    s.w += ExactSum::to_fixed(wi);
    s.w2 += ExactSum::to_fixed(wi * wi);
    ++entries[group[i]];
  }
}

void HistogramSet::reduce(const dist::Communicator& comm) {
  std::vector<ExactSum> all;
  all.reserve(slots_.size() * 2 + entries_.size());
  for (const Slot& v : slots_) all.push_back(ExactSum::from_raw(v.w));
  for (const Slot& v : slots_) all.push_back(ExactSum::from_raw(v.w2));
  // Entry counts ride along as integers (exact in 128 bits).
  for (const uint64_t c : entries_) all.push_back(ExactSum::from_raw(Int128(c)));
  const auto total = comm.sum(all);
  const std::size_t m = slots_.size();
  for (std::size_t i = 0; i < m; ++i) slots_[i].w = total[i].raw(), slots_[i].w2 = total[m + i].raw();
  for (std::size_t g = 0; g < groups_; ++g) entries_[g] = uint64_t(total[2 * m + g].raw());
}

Histogram HistogramSet::histogram(std::size_t g) const {
  const std::size_t g1[] = {g};
  return sum_of(g1);
}

Histogram HistogramSet::sum_of(std::span<const std::size_t> members) const {
  const std::size_t stride = nbins() + 2;
  std::vector<ExactSum> w(stride), w2(stride);
  for (const std::size_t g : members) {
    if (g >= groups_) throw InternalError(fmt::format("HistogramSet: group {} of {}", g, groups_));
    for (std::size_t s = 0; s < stride; ++s) {
      w[s].add(ExactSum::from_raw(slots_[g * stride + s].w));
      w2[s].add(ExactSum::from_raw(slots_[g * stride + s].w2));
    }
  }
  return Histogram::from_sums(edges_, std::move(w), std::move(w2));
}

uint64_t HistogramSet::entries(std::size_t g) const { return entries_.at(g); }

}  // namespace bsmhunt::stats
