#include "bsmhunt/dist/WorkItems.hpp"

namespace bsmhunt::dist {

std::vector<WorkItem> plan_work(const std::vector<uint64_t>& sizes, uint64_t block_events) {
  std::vector<WorkItem> items;
  for (std::size_t s = 0; s < sizes.size(); ++s)
    for (uint64_t first = 0; first < sizes[s]; first += block_events)
      items.push_back({s, first, std::min(block_events, sizes[s] - first)});
  return items;
}

std::size_t work_rounds(std::size_t n_units, int ranks) {
  const std::size_t P = std::size_t(ranks);
  return (n_units + P - 1) / P;
}

const WorkItem* item_of(const std::vector<WorkItem>& items, std::size_t round, int rank, int ranks) {
  const std::size_t i = unit_of(round, rank, ranks, items.size());
  return i < items.size() ? &items[i] : nullptr;
}

uint64_t round_events(const std::vector<WorkItem>& items, std::size_t round, int ranks) {
  uint64_t n = 0;
  const std::size_t P = std::size_t(ranks);
  for (std::size_t i = round * P; i < std::min(items.size(), (round + 1) * P); ++i) n += items[i].count;
  return n;
}

std::size_t unit_of(std::size_t round, int rank, int ranks, std::size_t n_units) {
  const std::size_t i = round * std::size_t(ranks) + std::size_t(rank);
  return i < n_units ? i : n_units;
}

uint64_t read_rounds(const Communicator& comm, const Range& mine, uint64_t chunk_rows) {
  const uint64_t largest = uint64_t(comm.max(double(mine.size())));
  return std::max<uint64_t>(1, (largest + chunk_rows - 1) / chunk_rows);
}

Range read_chunk(const Range& mine, uint64_t round, uint64_t chunk_rows) {
  const uint64_t b = std::min(mine.end, mine.begin + round * chunk_rows);
  return Range{b, std::min(mine.end, b + chunk_rows)};
}

}  // namespace bsmhunt::dist
