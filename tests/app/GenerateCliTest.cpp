// End-to-end tests of `bsmhunt generate` and `bsmhunt inspect` as a user runs them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/TestFiles.hpp"

using namespace bsmhunt::test;
namespace fs = std::filesystem;

namespace {
// Small but complete: every background, a few signals, pseudo-data with injection.
const std::string kSmall =
    " generate --channel dilepton_met --events 30000 --signal-events 500 --lumi-ifb 0.2 --block-events 4096"
    " --samples dy_ee,dy_mumu,dy_tautau,ttbar_dilep,ww_lvlv,wz_lvll,zz_llvv,zz_llll,wjets_fake,"
    "zp_DH_HDS_m130_ee,zp_DH_HDS_m130_mumu,zp_LV_LDS_m500_ee"
    " --inject-signal zp_DH_HDS_m130_ee --inject-events 25";

bool no_output_left(const fs::path& out) { return !fs::exists(out) && !fs::exists(out.string() + ".partial"); }
}  // namespace

TEST(Generate, SameFileForOneAndThreeRanks) {
  TempDir dir("rankinv");
  const auto a = dir / "one.h5", b = dir / "three.h5";
  auto r1 = run_command(bsmhunt_command(1) + kSmall + " --seed 11 --output " + a.string());
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  auto r3 = run_command(bsmhunt_command(3) + kSmall + " --seed 11 --output " + b.string());
  ASSERT_EQ(r3.exit_code, 0) << r3.output;
  // Every dataset and attribute, byte for byte.
  auto cmp = run_command(system_python() + " " + source_dir() + "/tools/h5compare " + a.string() + " " + b.string());
  EXPECT_EQ(cmp.exit_code, 0) << cmp.output;
  EXPECT_NE(cmp.output.find("identical"), std::string::npos) << cmp.output;
  // The summary lists the samples, the data and totals per role.
  EXPECT_NE(r1.output.find("zp_DH_HDS_m130_ee"), std::string::npos) << r1.output;
  EXPECT_NE(r1.output.find("totals per role"), std::string::npos) << r1.output;
  EXPECT_NE(r1.output.find("data"), std::string::npos);
  // A different seed changes the events (the comparison is not vacuous).
  const auto c = dir / "seed12.h5";
  auto r4 = run_command(bsmhunt_command(1) + kSmall + " --seed 12 --summary false --output " + c.string());
  ASSERT_EQ(r4.exit_code, 0) << r4.output;
  auto cmp2 = run_command(system_python() + " " + source_dir() + "/tools/h5compare " + a.string() + " " + c.string());
  EXPECT_EQ(cmp2.exit_code, 1) << cmp2.output;
}

TEST(Generate, FileIsReadableByH5pyWithUnits) {
  TempDir dir("h5py");
  const auto out = dir / "ev.h5";
  auto r = run_command(bsmhunt_command(2) + kSmall + " --seed 11 --summary false --output " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string py = system_python() + " -c \"\n"
                         "import h5py, numpy as np\n"
                         "f = h5py.File('" + out.string() + "', 'r')\n"
                         "assert f.attrs['format'] == 'bsmhunt.events', f.attrs['format']\n"
                         "assert f.attrs['luminosity_ifb'] == 0.2\n"
                         "s = f['samples/zp_DH_HDS_m130_ee']\n"
                         "assert s.attrs['role'] == 'signal' and s.attrs['theory'] == 'DH'\n"
                         "assert s['met'].attrs['unit'] == 'GeV'\n"
                         "o = s['electrons/offsets'][:]\n"
                         "assert o[0] == 0 and o[-1] == len(s['electrons/pt']) and np.all(np.diff(o) >= 0)\n"
                         "assert len(o) == len(s['met']) + 1 == s.attrs['n_events'] + 1\n"
                         "d = f['samples/data']\n"
                         "assert d.attrs['role'] == 'data' and np.all(d['weight_mc'][:] == 1)\n"
                         "assert d.attrs['n_injected_signal'] > 0\n"
                         "print('ok')\"";
  auto p = run_command(py);
  EXPECT_EQ(p.exit_code, 0) << p.output;
}

TEST(Generate, BadInputIsOneLineErrorAndNoFile) {
  TempDir dir("bad");
  const auto out = dir / "x.h5";
  std::ofstream(dir / "exists.h5") << "not hdf5";
  struct Case {
    std::string args, expected;
    fs::path output;
  };
  const std::string base = " generate --channel dilepton_met --events 1000 --signal-events 10 --samples ttbar_dilep";
  const std::vector<Case> cases = {
      {base + " --output " + (dir / "nodir" / "x.h5").string(), "does not exist", dir / "nodir" / "x.h5"},
      {base + " --output " + (dir / "exists.h5").string(), "pass --overwrite", dir / "none.h5"},
      {" generate --channel dilepton_mett --events 10 --output " + out.string(), "did you mean 'dilepton_met'", out},
      {" generate --events 10 --samples ttbar --output " + out.string(), "no sample 'ttbar'", out},
      {" generate --events 10 --inject-signal zp_XX --signal-strength 1 --output " + out.string(),
       "no sample 'zp_XX'", out},
      {" generate --events -5 --output " + out.string(), "--events -5 must not be negative", out},
      {" generate --events 0 --signal-events 0 --output " + out.string(), "nothing to generate", out},
      {" generate --events 100 --signal-strength 2 --output " + out.string(), "no --inject-signal sample named", out},
      {" generate --events 100 --evnets 3 --output " + out.string(), "did you mean 'events'", out},
      {" generate --events 100", "--output FILE is required", out},
  };
  for (const auto& c : cases) {
    for (int ranks : {1, 2}) {
      auto r = run_command(bsmhunt_command(ranks) + c.args);
      EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;  // bad input: exit status 2
      EXPECT_NE(r.output.find(c.expected), std::string::npos) << c.args << "\n" << r.output;
      // One line from rank 0 (mpirun may add its own note about the exit code).
      EXPECT_EQ(r.output.find("[rank 1]"), std::string::npos) << r.output;
      EXPECT_TRUE(no_output_left(c.output)) << c.args;
    }
  }
  // The existing file was not touched.
  std::ifstream in(dir / "exists.h5");
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "not hdf5");
}

TEST(Generate, KilledJobLeavesNoAcceptableFile) {
  TempDir dir("kill");
  const auto out = dir / "big.h5", log = dir / "log";
  // A long job in its own session (setsid), killed with SIGKILL once its log shows a
  // progress line (mid-generation): every process of that session, mpirun and the
  // ranks (Open MPI gives each rank its own process group), by the session id.
  const std::string cmd =
      "setsid " + bsmhunt_command(2) + " generate --events 20000000 --signal-events 100 --output " + out.string() +
      " > " + log.string() + " 2>&1 & pid=$!; "
      "for i in $(seq 1 1200); do grep -q 'ETA' " + log.string() + " && break; sleep 0.1; done; "
      "grep -q 'ETA' " + log.string() + " && echo observed-progress; "
      "pkill -KILL -s $pid; wait $pid; echo killed-status=$?";
  const auto killed = run_command(cmd);
  EXPECT_TRUE(contains(killed.output, "observed-progress")) << killed.output << read_file(log);
  EXPECT_TRUE(contains(killed.output, "killed-status=137")) << killed.output;
  EXPECT_FALSE(contains(read_file(log), "wrote ")) << "the job finished before it was killed:\n" << read_file(log);
  EXPECT_FALSE(fs::exists(out)) << "a killed job must not leave the final file";
  if (fs::exists(out.string() + ".partial")) {
    auto r = run_command(bsmhunt_command(1) + " inspect " + out.string() + ".partial");
    EXPECT_NE(r.exit_code, 0) << r.output;
  }
  auto r = run_command(bsmhunt_command(1) + " inspect " + out.string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("no such file"), std::string::npos) << r.output;
}

TEST(Cli, HelpListsEveryOptionWithDefault) {
  auto r = run_command(std::string(BSMHUNT_BINARY) + " generate --help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* opt : {"--channel arg (=dilepton_met)", "--events arg (=1000000)", "--lumi-ifb arg (=139)",
                          "--seed arg (=1)", "--config", "--overwrite", "--inject-signal"})
    EXPECT_NE(r.output.find(opt), std::string::npos) << opt << "\n" << r.output;
  auto top = run_command(std::string(BSMHUNT_BINARY) + " --help");
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.output.find("generate"), std::string::npos);
  EXPECT_NE(top.output.find("inspect"), std::string::npos);
  auto bad = run_command(std::string(BSMHUNT_BINARY) + " generat");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("did you mean 'generate'"), std::string::npos) << bad.output;
}

TEST(Cli, ConfigFileWithCommandLineOverride) {
  TempDir dir("ini");
  const auto ini = dir / "job.ini";
  std::ofstream(ini) << "# a job file\n[generate]\nchannel = dilepton_met\nevents = 2000\nsignal-events = 50\n"
                        "samples = ttbar_dilep,zp_DH_HDS_m130_ee\nseed = 5\npseudo-data = false\n"
                        "[train]\nepochs = 3\n";
  const auto out = dir / "a.h5";
  auto r = run_command(bsmhunt_command(1) + " generate --config " + ini.string() + " --events 3000 --output " +
                       out.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The command line won (3000 background events), the rest came from the file.
  const auto counts = run_command(python_script(dir.path(), "counts", R"(
f = h5py.File(sys.argv[1], 'r')
print(sorted(f['samples']), f['samples/ttbar_dilep'].attrs['n_events'], f['samples/zp_DH_HDS_m130_ee'].attrs['n_events'])
)") + " " + out.string());
  EXPECT_EQ(counts.output, "['ttbar_dilep', 'zp_DH_HDS_m130_ee'] 3000 50\n") << counts.output << r.output;
  EXPECT_EQ(r.output.find("pseudo-data"), std::string::npos) << r.output;  // from the file
  std::ofstream(ini) << "[generate]\nevnts = 5\n";
  auto bad = run_command(bsmhunt_command(1) + " generate --config " + ini.string() + " --output " +
                         (dir / "b.h5").string());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("unknown key 'evnts' in [generate]"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("did you mean 'events'"), std::string::npos) << bad.output;
  std::ofstream(ini) << "[generte]\nevents = 5\n";
  auto bad2 = run_command(bsmhunt_command(1) + " generate --config " + ini.string() + " --output " +
                          (dir / "c.h5").string());
  EXPECT_EQ(bad2.exit_code, 2);
  EXPECT_NE(bad2.output.find("unknown section [generte]"), std::string::npos) << bad2.output;
}
