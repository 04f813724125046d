#include "bsmhunt/stats/HistogramSet.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::stats {

namespace {

// Bins of n values by arithmetic alone, written to slot[] (0 underflow, b + 1 bin b,
// nbins + 1 overflow) with the top bit set where the value lies within `band` bins of
// an edge and the guess must be checked, or where x is NaN or w is not finite. Branch-
// free and in double lanes only, so that it vectorises; compiled for AVX-512 and AVX2
// as well as the baseline, chosen at run time. Returns 1 if some slot has the top bit.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) uint32_t guess_slots(
    const float* x, const double* w, std::size_t n, double lo, double inv_width, double nbins, double band,
    uint32_t* slot) {
  const double half = nbins / 2;
  uint32_t any = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const double t = (double(x[k]) - lo) * inv_width;
    // u = t + 1 clamped to [0, nbins + 1]; truncation is floor there. A NaN t clamps to
    // -1 (std::max would pass it on, and NaN -> int is undefined; UBSan): flagged below.
    const double u = std::min(t > -1.0 ? t : -1.0, nbins) + 1.0;
    const auto s = int32_t(u);
    const double frac = u - double(s);
    // Trusted: away from an edge or a far flow, with t and w finite (NaN fails all tests).
    const bool trusted = ((std::abs(frac - 0.5) < 0.5 - band) | (std::abs(t - half) >= half + 0.5)) &
                         (t == t) & (std::abs(w[k]) <= std::numeric_limits<double>::max());
    slot[k] = trusted ? uint32_t(s) : uint32_t(s) | 0x80000000u;
    any |= slot[k];
  }
  return any >> 31;  // 1 if some slot needs a check
}

}  // namespace

HistogramSet::HistogramSet(std::size_t groups, std::size_t nbins, double lo, double hi, uint64_t block_rows)
    : groups_(groups), edges_(Histogram(nbins, lo, hi).edges()), lo_(lo), inv_width_(double(nbins) / (hi - lo)),
      block_rows_(block_rows), pending_(groups * (nbins + 2)), exact_(groups * (nbins + 2)), entries_(groups),
      is_touched_(groups, 0) {
  if (block_rows_ == 0) throw InputError("histogram block rows must be >= 1");
  // The guess t = (v - lo) / width and the edges lo + (hi - lo) i / n are each within a
  // few units of 2^-52 of (|lo| + |hi|) / width + n bins of the exact values; 2^-40
  // leaves a factor > 1000 of margin. Beyond a quarter bin nothing is trusted.
  const double n = double(nbins);
  edge_band_ = std::ldexp((std::abs(lo) + std::abs(hi)) * inv_width_ + 2 * n + 2, -40);
  if (!(edge_band_ < 0.25)) edge_band_ = std::numeric_limits<double>::infinity();
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
    ++entries_[group[i]];
  }
}

bool HistogramSet::add_run(const float* x, const double* w, std::size_t n, Pending* acc) const {
  constexpr std::size_t kChunk = 1024;
  uint32_t slot[kChunk];
  const double nb = double(nbins());
  for (std::size_t c = 0; c < n; c += kChunk) {
    const std::size_t m = std::min(kChunk, n - c);
    if (guess_slots(x + c, w + c, m, lo_, inv_width_, nb, edge_band_, slot)) [[unlikely]]
      for (std::size_t k = 0; k < m; ++k) {
        if (!(slot[k] >> 31)) continue;
        if (std::isnan(x[c + k]) || !std::isfinite(w[c + k])) return false;
        slot[k] = uint32_t(slot_of(double(x[c + k])));
      }
#pragma GCC unroll 4
    for (std::size_t k = 0; k < m; ++k) {
      const double wk = w[c + k];
      acc[slot[k]].w += wk;
      acc[slot[k]].w2 += wk * wk;
    }
  }
  return true;
}

namespace {

constexpr std::size_t kShortRun = 16;  // shorter runs are added value by value

// The end of the run of value g that starts at `begin`: a branch-free test per
// 64 values, so that the common long runs cost a fraction of a cycle per value.
std::size_t run_end(const uint32_t* group, std::size_t begin, std::size_t end, uint32_t g) {
  constexpr std::size_t kStep = 64;
  std::size_t i = begin;
  while (i + kStep <= end) {
    uint32_t differs = 0;
    for (std::size_t k = 0; k < kStep; ++k) differs |= group[i + k] ^ g;
    if (differs) break;
    i += kStep;
  }
  while (i < end && group[i] == g) ++i;
  return i;
}

}  // namespace

void HistogramSet::fill(std::span<const float> x, std::span<const double> w, std::span<const uint32_t> group,
                        std::span<const uint64_t> row) {
  if (x.size() != w.size() || x.size() != group.size() || row.size() != x.size())
    throw InternalError(fmt::format("HistogramSet::fill: {} values, {} weights, {} groups, {} row numbers", x.size(),
                                    w.size(), group.size(), row.size()));
  const std::size_t stride = nbins() + 2, n = x.size();
  // Runs of one group within one block: the values of a slot and block are added in
  // row order whatever the runs are, so the bits do not depend on how calls cut rows.
  // The values are validated as they are binned; on a bad one, check() names it.
  for (std::size_t i = 0; i < n;) {
    const uint64_t block = row[i] / block_rows_;
    if (block != block_) {
      settle_block();
      block_ = block;
    }
    const uint64_t block_end = (block + 1) * block_rows_;  // rows are non-decreasing
    const std::size_t in_block =
        block_end <= block ? n : std::size_t(std::partition_point(row.begin() + i, row.end(), [&](uint64_t r) {
                                   return r < block_end;
                                 }) - row.begin());
    while (i < in_block) {
      const uint32_t g = group[i];
      if (g >= groups_) check(x, w, group);
      const std::size_t j = run_end(group.data(), i + 1, in_block, g);
      if (!is_touched_[g]) is_touched_[g] = 1, touched_.push_back(g);
      entries_[g] += j - i;
      Pending* acc = pending_.data() + std::size_t(g) * stride;
      if (j - i >= kShortRun) {
        if (!add_run(x.data() + i, w.data() + i, j - i, acc)) check(x, w, group);
      } else {
        for (std::size_t k = i; k < j; ++k) {  // samples interleaved: no batch to vectorise
          if (std::isnan(x[k]) || !std::isfinite(w[k])) check(x, w, group);
          Pending& p = acc[slot_of(double(x[k]))];
          p.w += w[k];
          p.w2 += w[k] * w[k];
        }
      }
      i = j;
    }
  }
}

dist::Range HistogramSet::rows_of_rank(uint64_t rows, uint64_t block_rows, const dist::Communicator& comm) {
  block_rows = std::max<uint64_t>(block_rows, 1);
  const dist::Range blocks = dist::partition((rows + block_rows - 1) / block_rows, comm.size(), comm.rank());
  return {std::min(rows, blocks.begin * block_rows), std::min(rows, blocks.end * block_rows)};
}

void HistogramSet::settle_block() const {
  const std::size_t stride = nbins() + 2;
  for (const uint32_t g : touched_) {
    for (std::size_t k = std::size_t(g) * stride; k < (std::size_t(g) + 1) * stride; ++k) {
      Pending& p = pending_[k];
      if (p.w == 0 && p.w2 == 0) continue;  // to_fixed(0) adds nothing
      exact_[k].w += ExactSum::to_fixed(p.w), exact_[k].w2 += ExactSum::to_fixed(p.w2);
      p.w = p.w2 = 0;
    }
    is_touched_[g] = 0;
  }
  touched_.clear();
}

void HistogramSet::reduce(const dist::Communicator& comm) {
  settle_block();
  const std::size_t m = exact_.size();
  static_assert(sizeof(Exact) == 2 * sizeof(Int128), "Exact is two contiguous Int128");
  comm.sum_in_place(&exact_.data()->w, 2 * m);
  // Entry counts per group, as integers (exact in 128 bits).
  std::vector<Int128> counts(entries_.begin(), entries_.end());
  comm.sum_in_place(counts.data(), counts.size());
  for (std::size_t g = 0; g < groups_; ++g) entries_[g] = uint64_t(counts[g]);
}

Histogram HistogramSet::histogram(std::size_t g) const {
  const std::size_t g1[] = {g};
  return sum_of(g1);
}

Histogram HistogramSet::sum_of(std::span<const std::size_t> members) const {
  settle_block();
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
  return entries_[g];
}

}  // namespace bsmhunt::stats
