#pragma once
// How the stages split their work over the ranks (docs/architecture.md, "Distribution").
//
// Streams of events (generate, extract, import): fixed-size work items of each
// sample in file order, dealt round-robin to ranks. Round k is items [kP, kP + P);
// rank r takes item kP + r. Item boundaries depend on the block size only, so
// appending each round's blocks in rank order gives a file that does not depend on
// the rank count P.
//
// Independent units (signal regions, folds, toys, signal models): unit i goes to
// rank i mod P, in rounds, so that every rank makes the same number of rounds and
// an error in one unit reaches every rank at the same collective.
//
// Contiguous slices read in chunks (predict, significance, fit): every rank makes
// as many read rounds as the largest slice needs, empty ones included.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"

namespace bsmhunt::dist {

struct WorkItem {
  std::size_t sample;
  uint64_t first, count;
};

// Items of at most `block_events` events for samples of the given sizes, in file order.
std::vector<WorkItem> plan_work(const std::vector<uint64_t>& sizes, uint64_t block_events);

// Rounds needed to deal `n_units` items or units to `ranks` ranks (at least 0).
std::size_t work_rounds(std::size_t n_units, int ranks);

// The item of `rank` in round `round`, or nullptr when it has none.
const WorkItem* item_of(const std::vector<WorkItem>& items, std::size_t round, int rank, int ranks);

// Events of all items of round `round` (every rank's), for progress reports.
uint64_t round_events(const std::vector<WorkItem>& items, std::size_t round, int ranks);

// Index of the unit `rank` works on in round `round`, or `n_units` when it has none.
std::size_t unit_of(std::size_t round, int rank, int ranks, std::size_t n_units);

// Chunked reading of a contiguous slice `mine`: the number of rounds of `chunk_rows`
// that the largest slice of any rank needs (at least 1), and the rows of round k.
uint64_t read_rounds(const Communicator& comm, const Range& mine, uint64_t chunk_rows);
Range read_chunk(const Range& mine, uint64_t round, uint64_t chunk_rows);

}  // namespace bsmhunt::dist
