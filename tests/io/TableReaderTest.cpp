// TableReader on CSV files written here (quotes, CRLF, blank lines, errors with
// line numbers) and on an h5py file, each rank reading its contiguous share.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/io/TableReader.hpp"
#include "support/TestFiles.hpp"

using namespace bsmhunt;

namespace {

dist::Communicator world() { return dist::Communicator::world(); }

// A file written by rank 0, visible to every rank.
std::filesystem::path shared_file(const std::string& name, const std::string& content) {
  const auto comm = world();
  std::string path;
  if (comm.is_root()) {
    const auto dir = std::filesystem::temp_directory_path() / ("bsmhunt-table-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    path = (dir / name).string();
    std::ofstream(path, std::ios::binary) << content;
  }
  comm.broadcast(path);
  return path;
}

void remove_shared(const std::filesystem::path& p) {
  const auto comm = world();
  comm.barrier();
  if (comm.is_root()) std::filesystem::remove_all(p.parent_path());
}

// Expects `f` to throw InputError containing `part` (on every rank).
template <typename F>
void expect_input_error(F&& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error, expected: " << part;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(TableReader, CsvRowsSplitOverRanksWithQuotesCrlfAndBlankLines) {
  const auto comm = world();
  std::string text =
      "\xEF\xBB\xBF"
      "id, x ,\"name, quoted\",label\r\n";
  for (int i = 0; i < 2500; ++i) {
    text += std::to_string(i) + "," + std::to_string(0.1 * i) + ",\"a \"\"" + std::to_string(i % 3) + "\"\"\"," +
            (i % 2 ? "s" : "b") + "\r\n";
    if (i % 700 == 0) text += "\r\n   \n";  // blank lines are skipped
  }
  const auto path = shared_file("t.csv", text);
  io::TableReader t(comm, path, io::TableFormat::automatic);
  EXPECT_EQ(t.format(), io::TableFormat::csv);
  ASSERT_EQ(t.rows(), 2500u);
  ASSERT_EQ(t.columns().size(), 4u);
  EXPECT_EQ(t.columns()[1].name, "x");
  EXPECT_EQ(t.columns()[2].name, "name, quoted");
  EXPECT_EQ(t.columns()[2].kind, io::ColumnKind::text);
  EXPECT_EQ(t.columns()[3].kind, io::ColumnKind::text);
  EXPECT_EQ(t.columns()[1].kind, io::ColumnKind::floating);
  dist::Range r;
  const auto cols = t.read_partition(comm, {"x", "name, quoted", "id", "label"}, &r);
  EXPECT_EQ(r.size(), dist::partition(2500, comm.size(), comm.rank()).size());
  ASSERT_EQ(cols[0].size(), r.size());
  for (uint64_t i = r.begin; i < r.end; ++i) {
    const std::size_t k = std::size_t(i - r.begin);
    EXPECT_EQ(cols[0].real[k], std::stod(std::to_string(0.1 * double(i))));
    EXPECT_EQ(cols[1].text[k], "a \"" + std::to_string(i % 3) + "\"");
    EXPECT_EQ(cols[2].as_double(k), double(i));
    EXPECT_EQ(cols[3].text[k], i % 2 ? "s" : "b");
  }
  // Row 0 is on line 2; the blank lines 3 and 4 follow it.
  EXPECT_EQ(t.where(0), "line 2");
  EXPECT_EQ(t.where(1), "line 5");
  expect_input_error([&] { t.column("lable", "--label-column"); }, "no column 'lable' (--label-column)");
  expect_input_error([&] { t.column("lable", "--label-column"); }, "did you mean 'label'");
  remove_shared(path);
}

TEST(TableReader, CsvErrorsNameFileLineAndColumn) {
  const auto comm = world();
  const std::string head = "a,b,c\n";
  {
    const auto path = shared_file("short.csv", head + "1,2,3\n4,5\n");
    expect_input_error([&] { io::TableReader t(comm, path, io::TableFormat::csv); },
                       "short.csv: line 3 has 2 cells, but the header (line 1) names 3 columns");
    remove_shared(path);
  }
  {
    const auto path = shared_file("word.csv", head + "1,2,3\n4,x5,6\n7,,inf\n");
    io::TableReader t(comm, path, io::TableFormat::csv);
    expect_input_error([&] { t.read({"b"}, 0, 3); }, "word.csv: line 3, column 'b' (2nd column): 'x5' is not a number");
    const auto ok = t.read({"a", "c"}, 0, 3);  // other columns are fine
    EXPECT_EQ(ok[0].real, (std::vector<double>{1, 4, 7}));
    EXPECT_TRUE(std::isinf(ok[1].real[2]));
    const auto empty = t.read({"b"}, 2, 3);  // an empty cell is NaN
    EXPECT_TRUE(std::isnan(empty[0].real[0]));
    remove_shared(path);
  }
  {
    const auto path = shared_file("quote.csv", head + "1,\"2,3\n");
    expect_input_error([&] { io::TableReader t(comm, path, io::TableFormat::csv); },
                       "line 2: a quoted cell is not closed");
    remove_shared(path);
  }
  {
    const auto path = shared_file("empty.csv", "\n\n");
    expect_input_error([&] { io::TableReader t(comm, path, io::TableFormat::csv); }, "empty file");
    remove_shared(path);
  }
  expect_input_error([] { io::parse_table_format("pandsa"); }, "did you mean 'pandas'");
}

TEST(TableReader, H5pyColumnsAndFloat32Rounding) {
  const auto comm = world();
  std::string path;
  if (comm.is_root()) {
    const auto dir = std::filesystem::temp_directory_path() / ("bsmhunt-table-h5-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    path = (dir / "c.h5").string();
    const auto r = test::run_command(test::system_python() +
                                     " -c \"import h5py, numpy as np\n"
                                     "f = h5py.File('" +
                                     path +
                                     "', 'w')\n"
                                     "f['x'] = np.arange(1000) * 0.1\n"
                                     "f['n'] = np.arange(1000, dtype=np.uint64) + (1 << 60)\n"
                                     "f['ok'] = np.arange(1000) % 3 == 0\n"
                                     "f['s'] = np.array([b'abc', b'de'] * 500)\n"
                                     "f['m'] = np.zeros((1000, 2))\"");
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
  comm.broadcast(path);
  io::TableReader t(comm, path, io::TableFormat::automatic);
  EXPECT_EQ(t.format(), io::TableFormat::h5py);
  ASSERT_EQ(t.rows(), 1000u);
  EXPECT_EQ(t.column("m", "test").kind, io::ColumnKind::unsupported);
  EXPECT_EQ(t.column("ok", "test").kind, io::ColumnKind::boolean);
  dist::Range r;
  const auto c = t.read_partition(comm, {"x", "n", "ok", "s"}, &r);
  for (uint64_t i = r.begin; i < r.end; ++i) {
    const std::size_t k = std::size_t(i - r.begin);
    EXPECT_EQ(c[0].as_float(k), float(double(i) * 0.1));
    EXPECT_EQ(c[1].integer[k], int64_t(i + (uint64_t(1) << 60)));
    EXPECT_EQ(c[1].as_float(k), float(int64_t(i + (uint64_t(1) << 60))));  // one rounding, from the integer
    EXPECT_EQ(c[2].integer[k], i % 3 == 0 ? 1 : 0);
    EXPECT_EQ(c[3].text[k], i % 2 ? "de" : "abc");
  }
  expect_input_error([&] { t.read({"m"}, 0, 1); }, "column 'm' (float64) cannot be read: shape [1000, 2]");
  remove_shared(path);
}

// Found by hdf5_table_fuzzer: a pandas boolean block stored as 1-byte bitfields whose
// precision claims 16 bits. HDF5's native type for it is 2 bytes, and reading it into
// one byte per row wrote past the buffer; now the column is refused as damaged.
TEST(TableReader, BooleanColumnWiderThanItsByteIsRefused) {
  const auto comm = world();
  const std::string path = std::string(BSMHUNT_SOURCE_DIR) +
                           "/fuzz/regressions/hdf5_table_fuzzer/boolean_column_precision_past_its_size.h5";
  io::TableReader t(comm, path, io::TableFormat::automatic);
  ASSERT_EQ(t.column("flag", "test").kind, io::ColumnKind::boolean);
  expect_input_error([&] { t.read({"flag"}, 0, t.rows()); },
                     "block2_values: damaged: a 1-byte boolean column whose stored precision is wider than a byte");
}
