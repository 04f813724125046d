#pragma once
// Work items shared by the stages that stream event files (generate, extract):
// fixed-size pieces of each sample in file order, dealt round-robin to ranks.
// Round k is items [kP, kP + P); rank r takes item kP + r. Item boundaries depend
// on the block size only, so appending each round's blocks in rank order gives a
// file that does not depend on the rank count P.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace bsmhunt::pipeline {

struct WorkItem {
  std::size_t sample;
  uint64_t first, count;
};

// Items of at most `block_events` events for samples of the given sizes, in file order.
inline std::vector<WorkItem> plan_work(const std::vector<uint64_t>& sizes, uint64_t block_events) {
  std::vector<WorkItem> items;
  for (std::size_t s = 0; s < sizes.size(); ++s)
    for (uint64_t first = 0; first < sizes[s]; first += block_events)
      items.push_back({s, first, std::min(block_events, sizes[s] - first)});
  return items;
}

// Rounds needed to deal `n_items` to `ranks` ranks.
inline std::size_t work_rounds(std::size_t n_items, int ranks) {
  const std::size_t P = std::size_t(ranks);
  return (n_items + P - 1) / P;
}

// The item of `rank` in round `round`, or nullptr when it has none.
inline const WorkItem* item_of(const std::vector<WorkItem>& items, std::size_t round, int rank, int ranks) {
  const std::size_t i = round * std::size_t(ranks) + std::size_t(rank);
  return i < items.size() ? &items[i] : nullptr;
}

// Events of all items of round `round` (every rank's), for progress reports.
inline uint64_t round_events(const std::vector<WorkItem>& items, std::size_t round, int ranks) {
  uint64_t n = 0;
  const std::size_t P = std::size_t(ranks);
  for (std::size_t i = round * P; i < std::min(items.size(), (round + 1) * P); ++i) n += items[i].count;
  return n;
}

}  // namespace bsmhunt::pipeline
