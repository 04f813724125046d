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

// Runs a check script with Debian's python (h5py, pandas); it prints ok at its end.
void expect_script_ok(const fs::path& script) {
  auto p = run_command(system_python() + " " + script.string());
  EXPECT_EQ(p.exit_code, 0) << p.output;
  EXPECT_TRUE(contains(p.output, "ok")) << p.output;
}
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

// Compressed (the default: shuffle + deflate, written collectively) and uncompressed
// event and feature files hold the same values; h5py sees the filters, pandas builds
// its frames from them, and the compressed files are smaller.
TEST(Generate, CompressedFilesOpenWithH5pyAndPandas) {
  TempDir dir("compressed");
  const auto packed = dir / "packed.h5", plain = dir / "plain.h5";
  auto r1 = run_command(bsmhunt_command(2) + kSmall + " --seed 11 --summary false --output " + packed.string());
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  auto r2 = run_command(bsmhunt_command(1) + kSmall + " --seed 11 --summary false --compression none --output " +
                        plain.string());
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  const auto fpacked = dir / "fpacked.h5", fplain = dir / "fplain.h5";
  const std::string extract = " extract --require sfos --met-min 50";
  auto e1 = run_command(bsmhunt_command(3) + extract + " --input " + plain.string() + " --output " + fpacked.string());
  ASSERT_EQ(e1.exit_code, 0) << e1.output;
  auto e2 = run_command(bsmhunt_command(1) + extract + " --compression none --input " + packed.string() +
                        " --output " + fplain.string());
  ASSERT_EQ(e2.exit_code, 0) << e2.output;
  for (const auto& [a, b] : {std::pair{packed, plain}, std::pair{fpacked, fplain}}) {
    auto cmp = run_command(system_python() + " " + source_dir() + "/tools/h5compare " + a.string() + " " +
                           b.string() + " --ignore-attr source_file");
    EXPECT_EQ(cmp.exit_code, 0) << cmp.output;
  }
  const auto script = dir / "check.py";
  std::ofstream(script) << "import os, h5py, numpy as np, pandas as pd\n"
                         "d = '" + dir.path().string() + "'\n"
                         "def datasets(path):\n"
                         "    out = []\n"
                         "    h5py.File(path).visititems(lambda n, o: out.append(o) if isinstance(o, h5py.Dataset) else None)\n"
                         "    return out\n"
                         "for name in ('packed.h5', 'fpacked.h5'):\n"
                         "    f = h5py.File(os.path.join(d, name))\n"
                         "    n = len(f['weight']) if 'weight' in f else None\n"
                         "    rows = [x for x in datasets(os.path.join(d, name))\n"
                         "            if x.size > 0 and not x.is_virtual and (n is None or x.shape[0] == n)]\n"
                         "    assert rows and all(x.compression == 'gzip' and x.shuffle for x in rows), name\n"
                         "for name in ('plain.h5', 'fplain.h5'):\n"
                         "    assert all(x.compression is None for x in datasets(os.path.join(d, name))), name\n"
                         "def frame(path):\n"
                         "    f = h5py.File(path)\n"
                         "    names = [n.decode() if isinstance(n, bytes) else n for n in f['feature_names'][:]]\n"
                         "    df = pd.DataFrame(f['features'][:], columns=names)\n"
                         "    df['weight'] = f['weight'][:]\n"
                         "    return df\n"
                         "a, b = frame(os.path.join(d, 'fpacked.h5')), frame(os.path.join(d, 'fplain.h5'))\n"
                         "assert len(a) > 1000 and a.equals(b), (len(a), len(b))\n"
                         "ev = h5py.File(os.path.join(d, 'packed.h5'))['samples/ttbar_dilep']\n"
                         "jets = pd.DataFrame({k: ev['jets/' + k][:] for k in ('pt', 'eta', 'phi')})\n"
                         "assert len(jets) == ev['jets/offsets'][-1] > 0\n"
                         "for p, q in (('packed.h5', 'plain.h5'), ('fpacked.h5', 'fplain.h5')):\n"
                         "    ratio = os.path.getsize(os.path.join(d, q)) / os.path.getsize(os.path.join(d, p))\n"
                         "    assert ratio > 1.4, (p, ratio)\n"
                         "    print(p, 'smaller by', round(ratio, 2))\n"
                         "print('ok')\n";
  expect_script_ok(script);
}

// Pseudo-data follow the request: 20 000 background MC events at 139 fb^-1 (4.5 M
// expected) get data at the luminosity where 20 000 are expected, recorded in the data
// sample and named by inspect; an explicit luminosity scales the same expectation, the
// MC's weighted yield.
TEST(Generate, PseudoDataLuminosityFollowsTheMonteCarlo) {
  TempDir dir("datalumi");
  const auto autofile = dir / "auto.h5", given = dir / "given.h5";
  const std::string base = " generate --channel dilepton_met --events 20000 --signal-events 0 --seed 4";
  auto r1 = run_command(bsmhunt_command(2) + base + " --output " + autofile.string());
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  EXPECT_TRUE(contains(r1.output, "pseudo-data at")) << r1.output;
  EXPECT_TRUE(contains(r1.output, "the data are")) << r1.output;
  auto r2 = run_command(bsmhunt_command(1) + base + " --data-lumi-ifb 0.05 --summary false --output " + given.string());
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  const auto script = dir / "check.py";
  std::ofstream(script) << "import h5py, math\n"
                           "a = h5py.File('" << autofile.string() << "')\n"
                           "b = h5py.File('" << given.string() << "')\n"
                           "da, db = a['samples/data'].attrs, b['samples/data'].attrs\n"
                           "assert a.attrs['luminosity_ifb'] == b.attrs['luminosity_ifb'] == 139\n"
                           "la, lb = da['luminosity_ifb'], db['luminosity_ifb']\n"
                           "assert lb == 0.05 and 0.2 < la < 2, (la, lb)\n"
                           "# auto: as many expected events as background MC events\n"
                           "assert abs(da['expected_background'] - 20000) < 1e-6 * 20000, da['expected_background']\n"
                           "# the same expectation per fb^-1 in both files\n"
                           "ra, rb = da['expected_background'] / la, db['expected_background'] / lb\n"
                           "assert abs(ra / rb - 1) < 1e-9, (ra, rb)\n"
                           "# and that expectation is the background MC's weighted yield, within its MC error\n"
                           "# (~1%; Drell-Yan's weights differ by slice: counting its events would give\n"
                           "# several times the whole background)\n"
                           "mc = 0.0\n"
                           "for g in a['samples'].values():\n"
                           "    t = g.attrs\n"
                           "    if t['role'] == 'background':\n"
                           "        mc += (g['weight_mc'][:].astype('f8').sum() * t['cross_section_pb'] * t['k_factor']\n"
                           "               * t['filter_efficiency'] * 139e3 / t['sum_of_weights'])\n"
                           "assert abs(ra * 139 / mc - 1) < 0.03, (ra * 139, mc)\n"
                           "for d in (da, db):\n"
                           "    mu = d['expected_background']\n"
                           "    assert abs(d['n_events'] - mu) < 5 * math.sqrt(mu), (d['n_events'], mu)\n"
                           "print('ok', la, da['n_events'], db['n_events'])\n";
  expect_script_ok(script);
  for (const char* bad : {"0", "-1", "x", "1e"}) {
    auto r = run_command(bsmhunt_command(1) + base + " --data-lumi-ifb " + bad + " --output " + (dir / "bad.h5").string());
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "expected auto, full or a positive number")) << r.output;
  }
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
      {" generate --events 100 --compression lz4 --output " + out.string(),
       "--compression lz4: expected none, deflate or deflate:LEVEL", out},
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
    EXPECT_EQ(r.exit_code, 2) << r.output;  // refused as bad input, not a crash
  }
  auto r = run_command(bsmhunt_command(1) + " inspect " + out.string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
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
