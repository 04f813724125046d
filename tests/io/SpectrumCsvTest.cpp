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

TEST(SpectrumCsv, TheHeaderSpellingsPeopleWrite) {
  if (!dist::Communicator::world().is_root()) return;
  test::TempDir dir("spectrum-csv-names");
  const std::vector<double> edges{60, 70, 80}, counts{3, 4};
  for (const std::string header : {"low,high,count", "edge_low,edge_high,events", "Bin_Low,Bin_High,Entries",
                                   "xlow,xhigh,n", "left,right,content"}) {
    std::ofstream(dir / "s.csv") << header << "\n60,70,3\n70,80,4\n";
    const auto s = io::read_spectrum_csv(dir / "s.csv");
    EXPECT_EQ(s.edges, edges) << header;
    EXPECT_EQ(s.counts, counts) << header;
  }
  // Bin centres with a width; decimal centres whose edges meet within rounding.
  std::ofstream(dir / "c.csv") << "mass,width,counts\n65,10,3\n75,10,4\n";
  EXPECT_EQ(io::read_spectrum_csv(dir / "c.csv").edges, edges);
  std::ofstream(dir / "d.csv") << "bin_center,bin_width,n\n0.15,0.1,1\n0.25,0.1,2\n0.35,0.1,3\n";
  const auto d = io::read_spectrum_csv(dir / "d.csv");
  ASSERT_EQ(d.edges.size(), 4u);
  EXPECT_NEAR(d.edges[0], 0.1, 1e-15);
  EXPECT_NEAR(d.edges[3], 0.4, 1e-15);
  EXPECT_EQ(d.counts, (std::vector<double>{1, 2, 3}));
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
  const std::string nocount = error_of(file("nocol.csv", "lo,hi,weight\n1,2,3\n"));
  EXPECT_NE(nocount.find("the header has no column 'count' (columns: lo, hi, weight); accepted: the edges (lo|low|"),
            std::string::npos)
      << nocount;
  EXPECT_NE(error_of(file("nowidth.csv", "centre,count\n1,2\n")).find("no column 'width'"), std::string::npos);
  EXPECT_NE(error_of(file("nohi.csv", "low,count\n1,2\n")).find("no column 'hi'"), std::string::npos);
  EXPECT_NE(error_of(file("zerowidth.csv", "x,width,n\n1,0,2\n")).find(":2: width 0 GeV: a bin width must be positive"),
            std::string::npos);
  EXPECT_NE(error_of(file("short.csv", "lo,hi,count\n1,2\n")).find("expected 3 comma-separated values"),
            std::string::npos);
  EXPECT_NE(error_of(file("nan.csv", "lo,hi,count\n1,2,nan\n")).find("is not a finite number"), std::string::npos);
  EXPECT_NE(error_of(file("empty.csv", "lo,hi,count\n")).find("not followed by any bin"), std::string::npos);
  EXPECT_NE(error_of(dir / "missing.csv").find("cannot open"), std::string::npos);
}

// Found by hdf5_spectrum_fuzzer: a contiguous 'counts' whose layout message claims
// 5e18 bytes of storage and 1.4e17 values. Both claims agree, so only the file's own
// size (2 KB) shows the damage; before the check the reader asked for 1 EB of memory.
TEST(SpectrumHdf5, StorageClaimedBeyondTheFileIsRefusedBeforeAllocating) {
  const std::filesystem::path damaged =
      std::filesystem::path(BSMHUNT_SOURCE_DIR) / "fuzz/regressions/hdf5_spectrum_fuzzer/storage_claimed_beyond_the_file.h5";
  try {
    io::read_spectrum_file(damaged);
    FAIL() << "a damaged spectrum was accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("counts: damaged"), std::string::npos) << what;
    EXPECT_NE(what.find("in a file of 2104 bytes"), std::string::npos) << what;
  }
}

// Found by hdf5_spectrum_fuzzer (2026-12-07): a dataset whose damaged datatype message
// gives its elements no size. H5Tget_size answers 0, so "values x element size" was 0
// bytes, every storage claim passed, and the reader allocated 46 G doubles (371 GB).
TEST(SpectrumHdf5, ElementTypeWithoutSizeIsRefusedBeforeAllocating) {
  const std::filesystem::path damaged =
      std::filesystem::path(BSMHUNT_SOURCE_DIR) / "fuzz/regressions/hdf5_spectrum_fuzzer/element_type_without_size.h5";
  try {
    io::read_spectrum_file(damaged);
    FAIL() << "a damaged spectrum was accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("damaged: the dataset's element type has no size"), std::string::npos) << what;
  }
}
