#include "bsmhunt/stats/RunningStats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace bsmhunt::stats {

RunningStats::RunningStats(std::size_t n)
    : count(n, 0.0),
      mean(n, 0.0),
      m2(n, 0.0),
      min(n, std::numeric_limits<double>::infinity()),
      max(n, -std::numeric_limits<double>::infinity()) {}

void RunningStats::add_rows(const float* rows, std::size_t n_rows, const char* take) {
  const std::size_t F = count.size();
  RunningStats block(F);
  std::vector<double> sum(F, 0.0);
  double n = 0;
  for (std::size_t r = 0; r < n_rows; ++r) {
    if (!take[r]) continue;
    n += 1;
    const float* x = rows + r * F;
    for (std::size_t f = 0; f < F; ++f) {
      const double v = x[f];
      sum[f] += v;
      block.min[f] = std::min(block.min[f], v);
      block.max[f] = std::max(block.max[f], v);
    }
  }
  if (n == 0) return;
  for (std::size_t f = 0; f < F; ++f) block.mean[f] = sum[f] / n, block.count[f] = n;
  for (std::size_t r = 0; r < n_rows; ++r) {
    if (!take[r]) continue;
    const float* x = rows + r * F;
    for (std::size_t f = 0; f < F; ++f) {
      const double d = double(x[f]) - block.mean[f];
      block.m2[f] += d * d;
    }
  }
  merge(block);
}

void RunningStats::merge(const RunningStats& o) {
  for (std::size_t f = 0; f < count.size(); ++f) {
    if (o.count[f] == 0) continue;
    const double n = count[f] + o.count[f];
    const double d = o.mean[f] - mean[f];
    mean[f] += d * o.count[f] / n;
    m2[f] += o.m2[f] + d * d * count[f] * o.count[f] / n;
    count[f] = n;
    min[f] = std::min(min[f], o.min[f]);
    max[f] = std::max(max[f], o.max[f]);
  }
}

FeatureMoments RunningStats::finish() const {
  FeatureMoments s;
  s.count = count.empty() ? 0 : uint64_t(*std::max_element(count.begin(), count.end()));
  for (std::size_t f = 0; f < count.size(); ++f) {
    s.mean.push_back(mean[f]);
    s.stddev.push_back(count[f] > 1 ? std::sqrt(m2[f] / count[f]) : 0.0);
    s.min.push_back(count[f] > 0 ? min[f] : 0.0);
    s.max.push_back(count[f] > 0 ? max[f] : 0.0);
  }
  return s;
}

std::vector<double> RunningStats::pack() const {
  std::vector<double> p;
  for (const auto* v : {&count, &mean, &m2, &min, &max}) p.insert(p.end(), v->begin(), v->end());
  return p;
}

RunningStats RunningStats::unpack(const std::vector<double>& p, std::size_t n) {
  RunningStats s(n);
  std::size_t k = 0;
  for (auto* v : {&s.count, &s.mean, &s.m2, &s.min, &s.max})
    for (std::size_t f = 0; f < n; ++f) (*v)[f] = p[k++];
  return s;
}

OrderedStatsMerger::OrderedStatsMerger(const dist::Communicator& comm, std::size_t n)
    : comm_(comm), n_features_(n), total_(n) {}

void OrderedStatsMerger::merge_round(const RunningStats& mine) {
  const std::vector<double> packed = mine.pack();
  const std::vector<double> all = comm_.all_gather(packed);
  for (int r = 0; r < comm_.size(); ++r) {
    const std::vector<double> part(all.begin() + std::ptrdiff_t(r * packed.size()),
                                   all.begin() + std::ptrdiff_t((r + 1) * packed.size()));
    total_.merge(RunningStats::unpack(part, n_features_));
  }
}

}  // namespace bsmhunt::stats
