// Cut expressions on features (--select, --cuts, --channels).
#include <gtest/gtest.h>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/physics/features/Selection.hpp"

using namespace bsmhunt;
using namespace bsmhunt::physics;

namespace {
const std::vector<std::string> kNames = {"met", "mll", "n_bjets", "channel_flag"};

std::string error_of(const std::string& text) {
  try {
    parse_selection(text, kNames, "--cuts");
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(Selection, EveryComparisonAgainstHandPickedRows) {
  const Selection s = parse_selection("met > 100 && mll >= 120 && n_bjets == 0", kNames, "--cuts");
  ASSERT_EQ(s.conditions.size(), 3u);
  EXPECT_EQ(s.conditions[1].column, 1u);
  const float pass[] = {100.5f, 120.0f, 0.0f, 1.0f};
  const float fail_met[] = {100.0f, 200.0f, 0.0f, 1.0f};    // > is strict
  const float fail_mll[] = {150.0f, 119.99f, 0.0f, 1.0f};
  const float fail_b[] = {150.0f, 150.0f, 1.0f, 1.0f};
  EXPECT_TRUE(s.passes(pass));
  EXPECT_FALSE(s.passes(fail_met));
  EXPECT_FALSE(s.passes(fail_mll));
  EXPECT_FALSE(s.passes(fail_b));
  const Selection t = parse_selection("met<=50&&channel_flag!=2", kNames, "--cuts");
  const float in[] = {50.0f, 0.0f, 0.0f, 1.0f}, out[] = {50.0f, 0.0f, 0.0f, 2.0f};
  EXPECT_TRUE(t.passes(in));
  EXPECT_FALSE(t.passes(out));
  EXPECT_EQ(t.text(), "met <= 50 && channel_flag != 2");
  const Selection all = parse_selection("  ", kNames, "--cuts");
  EXPECT_TRUE(all.conditions.empty());
  EXPECT_TRUE(all.passes(out));
}

TEST(Selection, ErrorsNameTheOptionAndTheCondition) {
  EXPECT_NE(error_of("mett > 5").find("unknown feature 'mett'"), std::string::npos);
  EXPECT_NE(error_of("mett > 5").find("met"), std::string::npos);
  EXPECT_NE(error_of("met 5").find("has no comparison"), std::string::npos);
  EXPECT_NE(error_of("met > 5 &&").find("is empty"), std::string::npos);
  EXPECT_NE(error_of("met > nan").find("expected a finite number"), std::string::npos);
  EXPECT_NE(error_of("met > x").find("--cuts"), std::string::npos);
}

TEST(Selection, ChannelsAreNamedSelections) {
  const auto channels = parse_channels("ee: channel_flag == 0; mumu: channel_flag == 1", kNames, "--channels");
  ASSERT_EQ(channels.size(), 2u);
  EXPECT_EQ(channels[1].name, "mumu");
  const float ee[] = {0, 0, 0, 0.0f}, mumu[] = {0, 0, 0, 1.0f};
  EXPECT_TRUE(channels[0].selection.passes(ee));
  EXPECT_FALSE(channels[0].selection.passes(mumu));
  const auto one = parse_channels("", kNames, "--channels");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].name, "all");
  EXPECT_THROW(parse_channels("ee: met > 1; ee: met > 2", kNames, "--channels"), InputError);
  EXPECT_THROW(parse_channels("met > 1", kNames, "--channels"), InputError);
}
