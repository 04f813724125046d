#include <gtest/gtest.h>

#include "bsmhunt/core/Strings.hpp"

using namespace bsmhunt;

TEST(Strings, EditDistance) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("same", "same"), 0u);
}

TEST(Strings, ClosestMatch) {
  const std::vector<std::string> names = {"channel", "events", "signal-events", "seed", "output"};
  EXPECT_EQ(closest_match("chanel", names), "channel");
  EXPECT_EQ(closest_match("event", names), "events");
  EXPECT_EQ(closest_match("signal-event", names), "signal-events");
  EXPECT_EQ(closest_match("xyzzy", names), "");
  EXPECT_EQ(did_you_mean("outptu", names), " (did you mean 'output'?)");
}

TEST(Strings, SplitJoinTrim) {
  EXPECT_EQ(split(" a, b ,c", ','), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(join({"x", "y"}, "+"), "x+y");
  EXPECT_EQ(trim("  t \n"), "t");
}

TEST(Strings, SplitListAndGlobMatch) {
  EXPECT_EQ(bsmhunt::split_list(" a, b,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(bsmhunt::split_list("x|y", '|'), (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(bsmhunt::split_list("  ").empty());
  EXPECT_TRUE(bsmhunt::glob_match("zp_DH_*", "zp_DH_HDS_m130_ee"));
  EXPECT_TRUE(bsmhunt::glob_match("zp_*_m130_??", "zp_LV_LDS_m130_ee"));
  EXPECT_FALSE(bsmhunt::glob_match("zp_*_m130_?", "zp_LV_LDS_m130_ee"));
  EXPECT_TRUE(bsmhunt::glob_match("*", ""));
  EXPECT_FALSE(bsmhunt::glob_match("dy_*", "ttbar_dilep"));
}

TEST(Strings, JoinAbridgedForLogLines) {
  const std::vector<std::string> five{"a", "b", "c", "d", "e"};
  EXPECT_EQ(join_abridged(five, ", ", 5, "x"), "a, b, c, d, e");
  EXPECT_EQ(join_abridged(five, ", ", 9, "x"), "a, b, c, d, e");
  EXPECT_EQ(join_abridged(five, "; ", 2, "all in the file"), "a; b; ... (3 more, all in the file)");
  EXPECT_EQ(join_abridged(five, ", ", 0, "in the file"), "... (5 more, in the file)");
  EXPECT_EQ(join_abridged({}, ", ", 2, "x"), "");
}

TEST(Strings, PrintableEscapesWhatIsNotUtf8TextOrIsAControlByte) {
  EXPECT_EQ(bsmhunt::printable("role 'background'\n\tok"), "role 'background'\n\tok");
  // A byte flipped in a file's string: 0xf5 starts no valid UTF-8 sequence.
  EXPECT_EQ(bsmhunt::printable("backgro\xf5und"), "backgro\\xf5und");
  // Valid multi-byte UTF-8 stays: e (2 bytes), the euro sign (3), an emoji (4).
  EXPECT_EQ(bsmhunt::printable("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  // Truncated, overlong, surrogate and beyond-U+10FFFF sequences: every byte escaped.
  EXPECT_EQ(bsmhunt::printable("\xc3"), "\\xc3");
  EXPECT_EQ(bsmhunt::printable("\xe2\x82x"), "\\xe2\\x82x");
  EXPECT_EQ(bsmhunt::printable("\xc0\xaf"), "\\xc0\\xaf");
  EXPECT_EQ(bsmhunt::printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");
  EXPECT_EQ(bsmhunt::printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
  // Control bytes other than newline and tab: the terminal's escape, a carriage return, NUL, DEL.
  EXPECT_EQ(bsmhunt::printable(std::string("a\x1b[2Jb\rc\0d\x7f", 11)), "a\\x1b[2Jb\\x0dc\\x00d\\x7f");
}
