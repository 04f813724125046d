#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "support/TestFiles.hpp"

using namespace bsmhunt;

namespace {
dist::Communicator world() { return dist::Communicator::world(); }

// Row i of the test file, whatever rank wrote it.
void fill_row(io::FeatureBlock& b, uint64_t i) {
  for (std::size_t f = 0; f < b.n_features; ++f) b.features.push_back(float(i) + 0.25f * float(f));
  b.weight.push_back(i % 3 == 0 ? -0.5 : 1e-3 * double(i));
  b.label.push_back(int32_t(i % 2));
  b.sample_index.push_back(int32_t(i % 2));
  b.event_number.push_back(1000 + i);
  b.mass.push_back(91.0f + float(i));
  b.split.push_back(int8_t(i % 3));
}
}  // namespace

// Rows kept in memory (the default budget), spooled to disk (0), and split between
// the two (a budget that holds the first records only); compressed and not.
class FeatureFileRoundTrip : public ::testing::TestWithParam<std::tuple<uint64_t, int>> {};

TEST_P(FeatureFileRoundTrip, WithStatisticsAndCutflow) {
  const auto [spool_memory, deflate_level] = GetParam();
  const auto comm = world();
  std::string dir;
  if (comm.is_root()) {
    dir = (std::filesystem::temp_directory_path() / ("bsmhunt-ff-" + std::to_string(getpid()))).string();
    std::filesystem::create_directories(dir);
  }
  comm.broadcast(dir);
  const auto path = std::filesystem::path(dir) / "features.h5";
  io::FeatureFileHeader h;
  h.feature_names = {"lep1_pt", "mll", "met"};
  h.feature_units = {"GeV", "GeV", "GeV"};
  physics::SampleInfo bkg, sig;
  bkg.name = "ttbar", bkg.role = physics::Role::background, bkg.sum_of_weights = 3, bkg.cross_section_pb = 832;
  sig.name = "zp", sig.role = physics::Role::signal, sig.sum_of_weights = 1, sig.parameters = {{"m_zprime_GeV", 130.0}};
  h.samples = {bkg, sig};
  h.attributes = {{"feature_set", std::string("dilepton_met")}};
  const uint64_t N = 1000, block = 37;
  {
    io::FeatureFileWriter w(comm, path, {true, io::Compression{deflate_level}, spool_memory}, h);
    io::FeatureBlock b;
    b.n_features = 3;
    const uint64_t P = uint64_t(comm.size());
    const uint64_t items = (N + block - 1) / block;
    for (uint64_t k = 0; k * P < items; ++k) {
      b.clear();
      const uint64_t item = k * P + uint64_t(comm.rank());
      for (uint64_t i = item * block; item < items && i < std::min(N, (item + 1) * block); ++i) fill_row(b, i);
      w.append_round(b);
    }
    EXPECT_EQ(w.rows(), N);
    io::FeatureStatistics st{{1, 2, 3}, {4, 5, 6}, {0, 0, 0}, {9, 9, 9}, 77};
    w.write_statistics(st);
    io::Cutflow c{{"all", "two leptons"}, {{10, 5}, {4, 4}}, {{1.5, 0.5}, {0.1, 0.1}}};
    w.write_cutflow(c);
    w.commit();
  }
  io::FeatureFileReader r(comm, path);
  EXPECT_EQ(r.rows(), N);
  EXPECT_EQ(r.header().feature_names, h.feature_names);
  EXPECT_EQ(r.header().feature_units, h.feature_units);
  ASSERT_EQ(r.header().samples.size(), 2u);
  EXPECT_EQ(r.header().samples[1].name, "zp");
  EXPECT_EQ(r.header().samples[1].role, physics::Role::signal);
  EXPECT_EQ(r.statistics().count, 77u);
  EXPECT_EQ(r.statistics().stddev, (std::vector<double>{4, 5, 6}));
  EXPECT_EQ(r.cutflow().cuts, (std::vector<std::string>{"all", "two leptons"}));
  EXPECT_EQ(r.cutflow().raw[0][1], 5u);
  EXPECT_DOUBLE_EQ(r.cutflow().weighted[1][0], 0.1);
  io::FeatureBlock got, want;
  want.n_features = 3;
  r.read(100, 250, got);
  for (uint64_t i = 100; i < 250; ++i) fill_row(want, i);
  EXPECT_EQ(got.features, want.features);
  EXPECT_EQ(got.weight, want.weight);
  EXPECT_EQ(got.label, want.label);
  EXPECT_EQ(got.event_number, want.event_number);
  EXPECT_EQ(got.mass, want.mass);
  EXPECT_EQ(got.split, want.split);
  io::FeatureBlock all;
  r.read(0, N, all);
  want.clear();
  for (uint64_t i = 0; i < N; ++i) fill_row(want, i);
  EXPECT_EQ(all.features, want.features);
  EXPECT_EQ(all.event_number, want.event_number);
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".spool." + std::to_string(comm.rank())));
  // pandas/h5py users see named columns.
  if (comm.is_root()) {
    const auto out = test::run_command(test::system_python() + " -c \"import h5py, pandas as pd\nf = h5py.File('" +
                                       path.string() + "')\ndf = pd.DataFrame(f['features'][:], columns=[n.decode() for "
                                       "n in f['feature_names'][:]])\nprint(list(df.columns), len(df))\"");
    EXPECT_EQ(out.exit_code, 0) << out.output;
    EXPECT_NE(out.output.find("['lep1_pt', 'mll', 'met'] 1000"), std::string::npos) << out.output;
  }
  comm.barrier();
  if (comm.is_root()) std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(SpoolMemoryAndCompression, FeatureFileRoundTrip,
                         ::testing::Combine(::testing::Values(io::kDefaultSpoolMemoryBytes, uint64_t(0), uint64_t(1000)),
                                            ::testing::Values(1, 0)));

namespace {
// A directory all ranks share, named by rank 0.
std::filesystem::path shared_temp_dir(const dist::Communicator& comm, const std::string& name) {
  std::string dir;
  if (comm.is_root()) {
    dir = (std::filesystem::temp_directory_path() / ("bsmhunt-" + name + "-" + std::to_string(getpid()))).string();
    std::filesystem::create_directories(dir);
  }
  comm.broadcast(dir);
  return dir;
}

// N rows of F features (row i: fill_row) written as items of `block` rows dealt to
// the ranks in turn, so that each rank's rows are runs separated by the others'.
void write_dealt_rows(const dist::Communicator& comm, const std::filesystem::path& path, std::size_t F, uint64_t N,
                      uint64_t block, int deflate_level) {
  io::FeatureFileHeader h;
  for (std::size_t f = 0; f < F; ++f) {
    h.feature_names.push_back("x" + std::to_string(f));
    h.feature_units.push_back("");
  }
  physics::SampleInfo bkg;
  bkg.name = "ttbar", bkg.role = physics::Role::background, bkg.sum_of_weights = 1;
  h.samples = {bkg};
  io::FeatureFileWriter w(comm, path, {true, io::Compression{deflate_level}, io::kDefaultSpoolMemoryBytes}, h);
  io::FeatureBlock b;
  b.n_features = F;
  const uint64_t P = uint64_t(comm.size()), items = (N + block - 1) / block;
  for (uint64_t k = 0; k * P < items; ++k) {
    b.clear();
    const uint64_t item = k * P + uint64_t(comm.rank());
    for (uint64_t i = item * block; item < items && i < std::min(N, (item + 1) * block); ++i) {
      fill_row(b, i);
      b.sample_index.back() = 0;
    }
    w.append_round(b);
  }
  w.write_statistics(io::FeatureStatistics{std::vector<double>(F, 0), std::vector<double>(F, 1),
                                           std::vector<double>(F, 0), std::vector<double>(F, 1), 1});
  w.commit();
}
}  // namespace

// A matrix wider than 16 columns is chunked in column blocks of equal width (40
// features: 3 blocks of 14, docs/formats.md), so that one column is read without
// decompressing the others; rows read back whole across chunk and block boundaries,
// on any rank count.
TEST(FeatureFileLayout, WideMatrixIsChunkedInColumnBlocks) {
  const auto comm = world();
  const auto dir = shared_temp_dir(comm, "ffwide");
  const auto path = dir / "wide.h5";
  constexpr std::size_t F = 40;
  write_dealt_rows(comm, path, F, 20000, 8192, 1);  // items of 8192 rows: chunks of 4096
  if (comm.is_root()) {
    const auto out = test::run_command(test::system_python() + " -c \"import h5py\nd = h5py.File('" + path.string() +
                                       "')['features']\nprint('chunks', d.chunks, 'column', float(d[19999, 29]))\"");
    EXPECT_EQ(out.exit_code, 0) << out.output;
    EXPECT_NE(out.output.find("chunks (4096, 14) column 20006.25"), std::string::npos) << out.output;
  }
  io::FeatureFileReader r(comm, path);
  io::FeatureBlock got, want;
  want.n_features = F;
  r.read(4000, 12500, got);  // starts and ends inside chunks
  for (uint64_t i = 4000; i < 12500; ++i) fill_row(want, i);
  EXPECT_EQ(got.features, want.features);
  comm.barrier();
  if (comm.is_root()) std::filesystem::remove_all(dir);
}

// `--compression none` stores chunks with HDF5's Fletcher-32 checksum and no
// compression: the rows read back whole (runs of records from alternating ranks), h5py
// sees the filter, and a value flipped on disk is refused with the file's name instead
// of being read as it is.
TEST(FeatureFileLayout, UncompressedChunksCarryAChecksumThatRefusesAFlippedValue) {
  const auto comm = world();
  const auto dir = shared_temp_dir(comm, "ffchecksum");
  const auto path = dir / "plain.h5", damaged = dir / "damaged.h5";
  constexpr std::size_t F = 5;
  constexpr uint64_t N = 20000;
  write_dealt_rows(comm, path, F, N, 3000, 0);
  if (comm.is_root()) {
    // Flip one bit in the middle of the first chunk of the matrix (its address from HDF5).
    const auto out = test::run_command(
        test::system_python() + " -c \"import h5py\nd = h5py.File('" + path.string() +
        "')['features']\ni = d.id.get_chunk_info(0)\nprint('fletcher32', d.fletcher32, 'compression', d.compression, "
        "'value', float(d[19999, 3]), 'chunk', i.byte_offset, i.size)\"");
    ASSERT_EQ(out.exit_code, 0) << out.output;
    EXPECT_NE(out.output.find("fletcher32 True compression None value 19999.75"), std::string::npos) << out.output;
    const std::size_t at = out.output.find("chunk ");
    ASSERT_NE(at, std::string::npos) << out.output;
    uint64_t offset = 0, size = 0;
    std::istringstream(out.output.substr(at + 6)) >> offset >> size;
    ASSERT_GT(size, 1000u) << out.output;
    std::filesystem::copy_file(path, damaged);
    std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(std::streamoff(offset + size / 2));
    char c = 0;
    f.read(&c, 1);
    c = char(c ^ 0x10);
    f.seekp(std::streamoff(offset + size / 2));
    f.write(&c, 1);
  }
  comm.barrier();
  {
    io::FeatureFileReader r(comm, path);
    io::FeatureBlock got, want;
    want.n_features = F;
    r.read(0, N, got);
    for (uint64_t i = 0; i < N; ++i) fill_row(want, i);
    EXPECT_EQ(got.features, want.features);
    EXPECT_EQ(got.weight, want.weight);
    EXPECT_EQ(got.event_number, want.event_number);
  }
  {
    io::FeatureFileReader r(comm, damaged);
    io::FeatureBlock got;
    try {
      r.read(0, 4096, got);
      ADD_FAILURE() << "a flipped value was read as it is";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(damaged.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("damaged"), std::string::npos) << e.what();
    }
  }
  comm.barrier();
  if (comm.is_root()) std::filesystem::remove_all(dir);
}
