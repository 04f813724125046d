// Parallel event-file writing and validated reading, run under 1, 2 and 3 ranks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <tuple>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/physics/generator/RecoEvent.hpp"
#include "support/TestFiles.hpp"

using namespace bsmhunt;
using physics::EventBlock;

namespace {

dist::Communicator world() { return dist::Communicator::world(); }

// The same directory on every rank (rank 0 picks it).
std::filesystem::path shared_dir(const std::string& tag) {
  const auto comm = world();
  std::string dir;
  if (comm.is_root()) {
    dir = (std::filesystem::temp_directory_path() / ("bsmhunt-io-" + tag + "-" + std::to_string(getpid()))).string();
    std::filesystem::create_directories(dir);
  }
  comm.broadcast(dir);
  return dir;
}

// Event i of sample s: i % 4 electrons, deterministic values.
void fill(EventBlock& b, std::size_t s, uint64_t first, uint64_t count) {
  physics::RecoEventAppender app(b);
  physics::RecoEvent e;
  for (uint64_t i = first; i < first + count; ++i) {
    e.clear();
    e.weight_mc = (i % 5 == 0) ? -1.0 : 1.0;
    e.met = float(s * 1000 + i);
    for (uint64_t k = 0; k < i % 4; ++k) e.electrons.push_back({float(i + k), 0.1f * float(k), 0.f, int8_t(k % 2 ? 1 : -1)});
    app.append(e, i);
  }
}

physics::SampleInfo sample(const std::string& name, uint64_t n) {
  physics::SampleInfo s;
  s.name = name;
  s.dsid = 1;
  s.process = "test";
  s.cross_section_pb = 2.0;
  s.sum_of_weights = 10.0;
  s.n_events = n;
  s.parameters = {{"m_zprime_GeV", 130.0}, {"theory", std::string("DH")}};
  return s;
}

std::filesystem::path write_test_file(const std::filesystem::path& dir, const std::vector<uint64_t>& sizes,
                                      uint64_t block, io::Compression compression = {},
                                      uint64_t spool_memory = io::kDefaultSpoolMemoryBytes) {
  const auto comm = world();
  const auto schema = physics::reco_event_schema({true, false, false});
  std::vector<physics::SampleInfo> infos;
  for (std::size_t s = 0; s < sizes.size(); ++s) infos.push_back(sample("s" + std::to_string(s), sizes[s]));
  const auto path = dir / "events.h5";
  io::EventFileWriter w(comm, path, {true, compression, spool_memory}, {{"luminosity_ifb", 139.0}, {"channel", std::string("test")}},
                        schema, infos);
  // Work items in file order, dealt round-robin.
  struct Item { std::size_t s; uint64_t first, count; };
  std::vector<Item> items;
  for (std::size_t s = 0; s < sizes.size(); ++s)
    for (uint64_t f = 0; f < sizes[s]; f += block) items.push_back({s, f, std::min(block, sizes[s] - f)});
  EventBlock b(schema);
  const std::size_t P = std::size_t(comm.size());
  for (std::size_t k = 0; k * P < items.size(); ++k) {
    b.clear();
    const std::size_t mine = k * P + std::size_t(comm.rank());
    if (mine < items.size()) {
      fill(b, items[mine].s, items[mine].first, items[mine].count);
      w.append_round(items[mine].s, b);
    } else {
      w.append_round(io::EventFileWriter::kNoSample, b);
    }
  }
  w.commit();
  return path;
}

}  // namespace

// Both writers: compressed (chunked, collective writes) and uncompressed (contiguous,
// independent writes), with the rows in memory, spooled to disk, or split between the
// two (a 600-byte budget: the jagged offsets, shifted at write time, on both sides);
// the test runs on 1, 2 and 3 ranks.
class EventFileRoundTrip : public ::testing::TestWithParam<std::tuple<int, uint64_t>> {};
INSTANTIATE_TEST_SUITE_P(CompressionAndSpoolMemory, EventFileRoundTrip,
                         ::testing::Combine(::testing::Values(0, 1),
                                            ::testing::Values(io::kDefaultSpoolMemoryBytes, uint64_t(0), uint64_t(600))));

TEST_P(EventFileRoundTrip, AnyRankCount) {
  const auto [deflate_level, spool_memory] = GetParam();
  const auto dir = shared_dir("roundtrip" + std::to_string(deflate_level) + "_" + std::to_string(spool_memory));
  const auto path = write_test_file(dir, {0, 7, 100, 33}, 10, io::Compression{deflate_level}, spool_memory);
  io::EventFileReader r(world(), path);
  ASSERT_EQ(r.samples().size(), 4u);
  EXPECT_EQ(r.samples()[2].info.name, "s2");  // creation order, not name order
  EXPECT_DOUBLE_EQ(r.luminosity_ifb(), 139.0);
  EXPECT_EQ(r.channel(), "test");
  const auto& info = r.samples()[1].info;
  EXPECT_EQ(info.n_events, 7u);
  ASSERT_NE(info.parameter("theory"), nullptr);
  EXPECT_EQ(std::get<std::string>(*info.parameter("theory")), "DH");
  EXPECT_DOUBLE_EQ(std::get<double>(*info.parameter("m_zprime_GeV")), 130.0);

  EventBlock expected(physics::reco_event_schema({true, false, false})), got;
  for (std::size_t s = 0; s < 4; ++s) {
    const uint64_t n = r.samples()[s].info.n_events;
    // Read an odd slice too: offsets must be rebased correctly.
    for (auto [b, e] : {std::pair<uint64_t, uint64_t>{0, n}, {n / 3, n - n / 4}}) {
      r.read(s, b, e, got);
      expected.clear();
      fill(expected, s, b, e - b);
      EXPECT_EQ(got.values<uint64_t>("event_number"), expected.values<uint64_t>("event_number"));
      EXPECT_EQ(got.values<float>("met"), expected.values<float>("met"));
      EXPECT_EQ(got.values<float>("weight_mc"), expected.values<float>("weight_mc"));
      EXPECT_EQ(got.collection("electrons").offsets, expected.collection("electrons").offsets);
      EXPECT_EQ(got.collection("electrons").member("pt").as<float>(),
                expected.collection("electrons").member("pt").as<float>());
      EXPECT_EQ(got.collection("electrons").member("charge").as<int8_t>(),
                expected.collection("electrons").member("charge").as<int8_t>());
    }
  }
  // Restricting columns; an unknown column is an InputError naming it.
  r.read(2, 0, 10, got, {"weight_mc"});
  EXPECT_EQ(got.columns().size(), 1u);
  EXPECT_TRUE(got.collections().empty());
  try {
    r.read(2, 0, 10, got, {"weight_mcc"});
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'weight_mc'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(r.sample_index("nope"), InputError);
  EXPECT_EQ(r.sample_index("s3"), 3u);
  world().barrier();
  if (world().is_root()) std::filesystem::remove_all(dir);
}

TEST(EventFile, OutputPathChecks) {
  const auto dir = shared_dir("paths");
  EXPECT_THROW(io::check_output_path(world(), dir / "missing" / "x.h5", false), InputError);
  if (world().is_root()) std::ofstream(dir / "exists.h5") << "x";
  world().barrier();
  EXPECT_THROW(io::check_output_path(world(), dir / "exists.h5", false), InputError);
  EXPECT_NO_THROW(io::check_output_path(world(), dir / "exists.h5", true));
  EXPECT_NO_THROW(io::check_output_path(world(), dir / "new.h5", false));
  world().barrier();
  if (world().is_root()) std::filesystem::remove_all(dir);
}

TEST(EventFile, AbandonedWriterLeavesNothing) {
  const auto dir = shared_dir("abandon");
  {
    io::EventFileWriter w(world(), dir / "x.h5", {}, {{"luminosity_ifb", 1.0}},
                          physics::reco_event_schema({true, true, false}), {sample("a", 5)});
    // destroyed without commit, as after an exception
  }
  world().barrier();
  EXPECT_FALSE(std::filesystem::exists(dir / "x.h5"));
  EXPECT_FALSE(std::filesystem::exists(dir / "x.h5.partial"));
  world().barrier();
  if (world().is_root()) std::filesystem::remove_all(dir);
}

// Each broken variant is made by h5py from a good file, as a user's tool might.
TEST(EventFile, ValidationNamesTheProblem) {
  const auto dir = shared_dir("validate");
  const auto good = write_test_file(dir, {12, 9}, 4);
  struct Case {
    const char* name;
    const char* python;  // f is the h5py.File opened r+
    const char* expected;
  };
  const Case cases[] = {
      {"format", "f.attrs['format'] = 'something.else'", "format is 'something.else'"},
      {"version", "f.attrs['version'] = np.int64(99)", "version 99 is not supported"},
      {"incomplete", "f.attrs['complete'] = np.int64(0)", "incomplete file"},
      {"nosamples", "del f['samples']", "'/samples' is missing"},
      {"role", "f['samples/s0'].attrs['role'] = 'signl'", "role 'signl' is not one of"},
      {"norole", "del f['samples/s0'].attrs['role']", "attribute 'role' is missing"},
      {"sumw", "f['samples/s1'].attrs['sum_of_weights'] = 0.0", "sum_of_weights = 0"},
      {"missing", "del f['samples/s1/weight_mc']", "required dataset 'weight_mc' is missing"},
      {"dtype", "del f['samples/s0/event_number']; f['samples/s0/event_number'] = np.arange(12, dtype=np.float32)",
       "event_number: dtype float32 where uint64 was expected"},
      {"length", "del f['samples/s0/met']; f['samples/s0/met'] = np.zeros(11, dtype=np.float32)",
       "met: 11 values but the sample has n_events = 12"},
      {"offsets_len", "o = f['samples/s0/electrons/offsets'][:]; del f['samples/s0/electrons/offsets']; "
                      "f['samples/s0/electrons/offsets'] = o[:-1]",
       "12 offsets but the sample has 12 events (expected n_events + 1 = 13)"},
      {"offsets_end", "o = f['samples/s0/electrons/offsets']; o[-1] = o[-1] + 1",
       "values but offsets end at"},
      {"offsets_order", "o = f['samples/s0/electrons/offsets']; o[5] = o[6] + 1",
       "offsets decrease at event"},
  };
  for (const auto& c : cases) {
    const auto broken = dir / (std::string(c.name) + ".h5");
    if (world().is_root()) {
      std::filesystem::copy_file(good, broken, std::filesystem::copy_options::overwrite_existing);
      const std::string cmd = test::system_python() + " -c \"import h5py, numpy as np\nwith h5py.File('" +
                              broken.string() + "', 'r+') as f:\n    " + c.python + "\"";
      const auto r = test::run_command(cmd);
      EXPECT_EQ(r.exit_code, 0) << r.output;
    }
    world().barrier();
    std::string message;
    try {
      io::EventFileReader reader(world(), broken);
      // Offsets are checked where they are read.
      physics::EventBlock b;
      for (std::size_t s = 0; s < reader.samples().size(); ++s)
        reader.read(s, 0, reader.samples()[s].info.n_events, b);
    } catch (const InputError& e) {
      message = e.what();
    }
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.name << ": got '" << message << "'";
    EXPECT_NE(message.find(broken.string()), std::string::npos) << c.name << ": file not named in '" << message << "'";
  }
  world().barrier();
  if (world().is_root()) std::filesystem::remove_all(dir);
}
