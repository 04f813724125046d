#include "BackgroundShares.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace bsmhunt::physics {

std::vector<uint64_t> background_event_counts(std::span<const double> yields, uint64_t n_events, double min_share) {
  const std::size_t n_processes = yields.size();
  std::vector<double> share(n_processes);
  double total = 0;
  for (std::size_t i = 0; i < n_processes; ++i) {
    share[i] = std::sqrt(std::max(0.0, yields[i]));
    total += share[i];
  }
  if (!(total > 0)) std::fill(share.begin(), share.end(), 1.0), total = double(n_processes);
  for (auto& s : share) s /= total;
  // Pin shares below the floor to it and rescale the others into what is left;
  // rescaling can push more below the floor, so repeat until none moves.
  std::vector<bool> pinned(n_processes, false);
  for (bool moved = true; moved;) {
    moved = false;
    double free_sum = 0;
    int n_pinned = 0;
    for (std::size_t i = 0; i < n_processes; ++i) {
      if (pinned[i]) ++n_pinned;
      else free_sum += share[i];
    }
    const double scale = free_sum > 0 ? (1.0 - n_pinned * min_share) / free_sum : 0.0;
    for (std::size_t i = 0; i < n_processes; ++i) {
      if (pinned[i]) continue;
      share[i] *= scale;
      if (share[i] < min_share) share[i] = min_share, pinned[i] = moved = true;
    }
  }
  // Largest remainder: counts sum exactly to n_events.
  std::vector<uint64_t> counts(n_processes, 0);
  std::vector<std::pair<double, std::size_t>> remainders(n_processes);
  uint64_t assigned = 0;
  for (std::size_t i = 0; i < n_processes; ++i) {
    const double exact = share[i] * double(n_events);
    counts[i] = std::min<uint64_t>(n_events, uint64_t(exact));
    assigned += counts[i];
    remainders[i] = {exact - double(counts[i]), i};
  }
  std::stable_sort(remainders.begin(), remainders.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t k = 0; assigned < n_events && n_processes > 0; k = (k + 1) % n_processes, ++assigned)
    ++counts[remainders[k].second];
  while (assigned > n_events) {  // rounding can only overshoot by float noise; take from the largest
    auto it = std::max_element(counts.begin(), counts.end());
    --*it, --assigned;
  }
  return counts;
}

}  // namespace bsmhunt::physics
