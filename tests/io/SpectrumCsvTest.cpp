// The CSV/text spectrum reader of bsmhunt fit.
#include <gtest/gtest.h>

#include <fstream>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/io/SpectrumFile.hpp"
#include "support/TestFiles.hpp"

using namespace bsmhunt;

namespace {
std::string error_of(const std::filesystem::path& p) {
  try {
    io::read_spectrum_csv(p);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(SpectrumCsv, HeaderInAnyOrderCommentsAndWhitespace) {
  if (!dist::Communicator::world().is_root()) return;  // not collective: one rank checks
  test::TempDir dir("spectrum-csv");
  std::ofstream(dir / "a.csv") << "# a comment\ncount,hi,lo,note\n5,110,100,x\n7,120,110,y\r\n\n";
  const auto a = io::read_spectrum_csv(dir / "a.csv");
  EXPECT_EQ(a.edges, (std::vector<double>{100, 110, 120}));
  EXPECT_EQ(a.counts, (std::vector<double>{5, 7}));
  std::ofstream(dir / "b.txt") << "lo hi counts\n1 2 +3\n2 4 0\n";
  const auto b = io::read_spectrum_csv(dir / "b.txt");
  EXPECT_EQ(b.edges, (std::vector<double>{1, 2, 4}));
  EXPECT_EQ(b.counts, (std::vector<double>{3, 0}));
}

TEST(SpectrumCsv, BadSpectraNameTheLineAndTheProblem) {
  if (!dist::Communicator::world().is_root()) return;
  test::TempDir dir("spectrum-csv-bad");
  const auto file = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  };
  EXPECT_NE(error_of(file("gap.csv", "lo,hi,count\n1,2,3\n3,4,5\n")).find(":3: the bin starting at 3 GeV leaves a gap"),
            std::string::npos);
  EXPECT_NE(error_of(file("over.csv", "lo,hi,count\n1,3,3\n2,4,5\n")).find("overlaps"), std::string::npos);
  EXPECT_NE(error_of(file("neg.csv", "lo,hi,count\n1,2,-1\n")).find("count -1 is negative"), std::string::npos);
  EXPECT_NE(error_of(file("nohead.csv", "1,2,3\n")).find("expected a header line"), std::string::npos);
  EXPECT_NE(error_of(file("nocol.csv", "lo,hi,events\n1,2,3\n")).find("the header has no column 'count'"),
            std::string::npos);
  EXPECT_NE(error_of(file("short.csv", "lo,hi,count\n1,2\n")).find("expected 3 comma-separated values"),
            std::string::npos);
  EXPECT_NE(error_of(file("nan.csv", "lo,hi,count\n1,2,nan\n")).find("is not a finite number"), std::string::npos);
  EXPECT_NE(error_of(file("empty.csv", "lo,hi,count\n")).find("not followed by any bin"), std::string::npos);
  EXPECT_NE(error_of(dir / "missing.csv").find("cannot open"), std::string::npos);
}
