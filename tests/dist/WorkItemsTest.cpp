// How stages split their work: items in file order dealt round-robin, units in
// rounds, chunked reads of contiguous slices.
#include <gtest/gtest.h>

#include <numeric>

#include "bsmhunt/dist/WorkItems.hpp"

using namespace bsmhunt;

TEST(WorkItems, ItemsCoverEverySampleInFileOrder) {
  const auto items = dist::plan_work({5, 0, 3}, 2);
  ASSERT_EQ(items.size(), 5u);  // 2+2+1 of sample 0, none of sample 1, 2+1 of sample 2
  EXPECT_EQ(items[0].sample, 0u);
  EXPECT_EQ(items[2].first, 4u);
  EXPECT_EQ(items[2].count, 1u);
  EXPECT_EQ(items[3].sample, 2u);
  EXPECT_EQ(items[4].count, 1u);
  uint64_t total = 0;
  for (const auto& w : items) total += w.count;
  EXPECT_EQ(total, 8u);
}

TEST(WorkItems, RoundRobinGivesEveryItemToExactlyOneRank) {
  const auto items = dist::plan_work({10, 7}, 3);  // 4 + 3 items
  for (int ranks = 1; ranks <= 5; ++ranks) {
    std::vector<int> owner(items.size(), -1);
    uint64_t events = 0;
    for (std::size_t k = 0; k < dist::work_rounds(items.size(), ranks); ++k) {
      for (int r = 0; r < ranks; ++r)
        if (const auto* w = dist::item_of(items, k, r, ranks)) {
          const auto i = std::size_t(w - items.data());
          EXPECT_EQ(owner[i], -1);
          owner[i] = r;
          EXPECT_EQ(i, k * std::size_t(ranks) + std::size_t(r));  // file order = (round, rank)
        }
      events += dist::round_events(items, k, ranks);
    }
    for (const int o : owner) EXPECT_GE(o, 0);
    EXPECT_EQ(events, 17u);
  }
  EXPECT_EQ(dist::work_rounds(0, 4), 0u);
  EXPECT_EQ(dist::unit_of(2, 1, 3, 7), 7u);  // round 2 of 3 ranks: unit 7 does not exist
  EXPECT_EQ(dist::unit_of(1, 2, 3, 7), 5u);
}

TEST(WorkItems, ReadRoundsAreTheSameOnEveryRank) {
  const auto comm = dist::Communicator::world();
  const uint64_t rows = 1001, chunk = 100;
  const dist::Range mine = dist::partition(rows, comm.size(), comm.rank());
  const uint64_t rounds = dist::read_rounds(comm, mine, chunk);
  EXPECT_EQ(double(rounds), comm.max(double(rounds)));
  EXPECT_EQ(rounds, std::max<uint64_t>(1, (dist::partition(rows, comm.size(), 0).size() + chunk - 1) / chunk));
  uint64_t covered = 0, next = mine.begin;
  for (uint64_t k = 0; k < rounds; ++k) {
    const dist::Range c = dist::read_chunk(mine, k, chunk);
    EXPECT_EQ(c.begin, next);
    EXPECT_LE(c.size(), chunk);
    covered += c.size(), next = c.end;
  }
  EXPECT_EQ(covered, mine.size());
  EXPECT_EQ(comm.sum(covered), rows);
}
