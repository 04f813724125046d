// The one JSON writer and reader, and the atomic output rule.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "bsmhunt/core/AtomicFile.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Json.hpp"

using namespace bsmhunt;

namespace {
std::filesystem::path temp(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("bsmhunt-json-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}
}  // namespace

TEST(Json, LayoutKeepsFieldOrderAndShortContainersOnOneLine) {
  const json::Value v = {{"z", 1}, {"a", {1.5, 2, 3}}, {"nested", {{"k", "v"}, {"n", nullptr}}}};
  EXPECT_EQ(json::dump(v), "{\"z\": 1, \"a\": [1.5, 2, 3], \"nested\": {\"k\": \"v\", \"n\": null}}\n");
  json::Value long_one = json::Value::object();
  for (int i = 0; i < 12; ++i) long_one["key_number_" + std::to_string(i)] = i;
  const std::string text = json::dump(long_one);
  EXPECT_EQ(text.substr(0, 23), "{\n  \"key_number_0\": 0,\n");
  EXPECT_EQ(json::Value::parse(text), long_one);
  // Arrays of numbers stay on one line however long.
  json::Value numbers = json::Value::array();
  for (int i = 0; i < 200; ++i) numbers.push_back(i);
  EXPECT_EQ(json::dump(numbers).find('\n'), json::dump(numbers).size() - 1);
}

TEST(Json, NonFiniteNumbersAreNullOrAnError) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(json::number_or_null(nan).is_null());
  EXPECT_TRUE(json::number_or_null(INFINITY).is_null());
  EXPECT_EQ(json::number_or_null(0.1).get<double>(), 0.1);
  EXPECT_THROW(json::number(nan, "z"), InternalError);
  EXPECT_EQ(json::dump(json::numbers_or_null({1, nan})), "[1.0, null]\n");
  // Shortest text that reads back to the same double.
  EXPECT_EQ(json::dump(json::Value(0.1)), "0.1\n");
  EXPECT_EQ(json::Value::parse(json::dump(json::Value(1.0 / 3))).get<double>(), 1.0 / 3);
}

TEST(Json, WriteIsAtomicAndReadNamesTheFile) {
  const auto path = temp("doc.json");
  json::write(path, {{"a", 1}});
  EXPECT_FALSE(std::filesystem::exists(partial_path(path)));
  EXPECT_EQ(json::read(path)["a"], 1);
  std::ofstream(temp("bad.json")) << "{\"a\": [1, 2}";
  try {
    json::read(temp("bad.json"));
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json: not valid JSON"), std::string::npos);
  }
  EXPECT_THROW(json::read(temp("missing.json")), InputError);
  std::filesystem::remove_all(path.parent_path());
}

TEST(AtomicFile, PartialThenRename) {
  const auto path = temp("out.txt");
  EXPECT_EQ(partial_path(path).string(), path.string() + ".partial");
  write_file_atomically(path, "hello\n");
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "hello");
  EXPECT_FALSE(std::filesystem::exists(partial_path(path)));
  EXPECT_THROW(write_file_atomically(temp("no/such/dir/x.txt"), "x"), Error);
  std::filesystem::remove_all(path.parent_path());
}
