#include <gtest/gtest.h>

#include "bsmhunt/dist/Communicator.hpp"

using namespace bsmhunt;

TEST(Partition, CoversAndBalances) {
  for (uint64_t n : {0ull, 1ull, 7ull, 100ull, 1000003ull})
    for (int parts : {1, 2, 3, 4, 7}) {
      uint64_t expect_begin = 0;
      for (int i = 0; i < parts; ++i) {
        const auto r = dist::partition(n, parts, i);
        EXPECT_EQ(r.begin, expect_begin);
        EXPECT_LE(r.size(), n / parts + 1);
        EXPECT_GE(r.size(), n / parts);
        expect_begin = r.end;
      }
      EXPECT_EQ(expect_begin, n);
    }
}

TEST(Communicator, ReductionsAndGathers) {
  const auto c = dist::Communicator::world();
  const uint64_t P = uint64_t(c.size()), r = uint64_t(c.rank());
  EXPECT_EQ(c.sum(r + 1), P * (P + 1) / 2);
  EXPECT_EQ(c.exclusive_prefix_sum(r + 1), r * (r + 1) / 2);
  EXPECT_DOUBLE_EQ(c.max(double(r)), double(P - 1));
  EXPECT_DOUBLE_EQ(c.min(double(r)), 0.0);
  const auto g = c.all_gather(r * 10);
  ASSERT_EQ(g.size(), P);
  for (uint64_t i = 0; i < P; ++i) EXPECT_EQ(g[i], i * 10);
  EXPECT_TRUE(c.all(true));
  EXPECT_FALSE(c.all(r != 0));
  std::string s = c.is_root() ? "hello" : "";
  c.broadcast(s);
  EXPECT_EQ(s, "hello");
}

TEST(Communicator, ExactSumIsRankInvariant) {
  // The same 999 values split over any number of ranks sum to the same bits.
  const auto c = dist::Communicator::world();
  ExactSum serial;
  for (int i = 0; i < 999; ++i) serial.add(0.1 * i - 17.3 / (i + 1));
  const auto mine = dist::partition(999, c.size(), c.rank());
  ExactSum local;
  for (uint64_t i = mine.begin; i < mine.end; ++i) local.add(0.1 * double(i) - 17.3 / double(i + 1));
  EXPECT_EQ(c.sum(local).raw(), serial.raw());
}
