// End-to-end tests of `bsmhunt extract`: small generated event files, features
// recomputed from the event file in Python (h5py) and compared row by row.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/TestFiles.hpp"

using namespace bsmhunt::test;
namespace fs = std::filesystem;

namespace {

CommandResult python(const fs::path& dir, const std::string& name, const std::string& script) {
  const fs::path path = dir / (name + ".py");
  std::ofstream(path) << "import numpy as np, h5py, json, sys\n" << script;
  return run_command(system_python() + " " + path.string());
}

CommandResult h5compare(const fs::path& a, const fs::path& b) {
  return run_command(system_python() + " " + source_dir() + "/tools/h5compare " + a.string() + " " + b.string());
}

// One rank without mpirun (MPI singleton): starts in a fraction of the time.
std::string serial() { return std::string(BSMHUNT_BINARY); }
std::string ranks_command(int ranks) { return ranks == 1 ? serial() : bsmhunt_command(ranks); }

bool no_output_left(const fs::path& out) { return !fs::exists(out) && !fs::exists(out.string() + ".partial"); }

// Event files shared by the tests (generated once, ~0.5 s each).
class ExtractFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("extract");
    auto d = run_command(serial() +
                         " generate --channel dilepton_met --events 12000 --signal-events 400 --lumi-ifb 0.2"
                         " --block-events 2048 --samples dy_ee,dy_mumu,ttbar_dilep,ww_lvlv,wjets_fake,"
                         "zp_DH_HDS_m130_ee,zp_LV_LDS_m500_mumu --summary false --output " +
                         dilepton().string());
    ASSERT_EQ(d.exit_code, 0) << d.output;
    auto j = run_command(serial() +
                         " generate --channel dijet --events 6000 --signal-events 300 --lumi-ifb 0.2"
                         " --block-events 2048 --summary false --output " + dijet().string());
    ASSERT_EQ(j.exit_code, 0) << j.output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static fs::path dilepton() { return *dir_ / "dilepton.h5"; }
  static fs::path dijet() { return *dir_ / "dijet.h5"; }
  static const fs::path& dir() { return dir_->path(); }
  static TempDir* dir_;
};
TempDir* ExtractFiles::dir_ = nullptr;

}  // namespace

TEST_F(ExtractFiles, SameFileForOneAndThreeRanks) {
  for (const std::string& options : {std::string(""), std::string(" --padding mean --max-bjets 0 --require any")}) {
    const auto a = dir() / "one.h5", b = dir() / "three.h5";
    const std::string args = " extract --input " + dilepton().string() + " --block-events 1500 --overwrite" + options;
    auto r1 = run_command(serial() + args + " --output " + a.string());
    ASSERT_EQ(r1.exit_code, 0) << r1.output;
    auto r3 = run_command(bsmhunt_command(3) + args + " --output " + b.string());
    ASSERT_EQ(r3.exit_code, 0) << r3.output;
    auto cmp = h5compare(a, b);
    EXPECT_EQ(cmp.exit_code, 0) << options << "\n" << cmp.output;
    EXPECT_TRUE(contains(cmp.output, "identical")) << cmp.output;
  }
}

TEST_F(ExtractFiles, KnownValuesRecomputedInPython) {
  const auto out = dir() / "known.h5";
  auto r = run_command(bsmhunt_command(2) + " extract --input " + dilepton().string() + " --require any --output " +
                       out.string() + " --overwrite");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string script = "EV, OUT = '" + dilepton().string() + "', '" + out.string() + "'\n" + R"(
ev = h5py.File(EV, 'r'); f = h5py.File(OUT, 'r')
names = [x.decode() for x in f['feature_names'][:]]
units = dict(zip(names, [x.decode() for x in f['feature_units'][:]]))
assert units['mll'] == 'GeV' and units['lep1_phi'] == 'rad' and units['n_jets'] == '', units
samples = [x.decode() for x in f['sample_names'][:]]
# The samples in the event file's order (its /samples group keeps no creation order: by name).
assert samples == list(ev['samples'].keys()), samples
X = f['features'][:]; si = f['sample_index'][:]; en = f['event_number'][:]; mass = f['mass'][:]
col = {n: i for i, n in enumerate(names)}
rng = np.random.default_rng(1)
checked = 0
for row in rng.choice(len(X), size=300, replace=False):
    s = ev['samples'][samples[si[row]]]
    i = int(np.nonzero(s['event_number'][:] == en[row])[0][0])
    leps = []
    for flav, c in ((0, 'electrons'), (1, 'muons')):
        o = s[c + '/offsets']
        for k in range(o[i], o[i + 1]):
            pt, eta, phi = (float(s[c + '/' + m][k]) for m in ('pt', 'eta', 'phi'))
            if pt > 20 and abs(eta) < 2.5:
                leps.append((pt, eta, phi, flav))
    assert len(leps) == 2, (row, leps)
    leps.sort(key=lambda l: -l[0])
    (p1, e1, f1, fl1), (p2, e2, f2, fl2) = leps
    mll = np.sqrt(2 * p1 * p2 * (np.cosh(e1 - e2) - np.cos(f1 - f2)))
    oj = s['jets/offsets']
    expect = {'mll': mll, 'met': float(s['met'][i]), 'lep1_pt': p1, 'lep2_eta': e2,
              'n_jets': oj[i + 1] - oj[i], 'channel_flag': 2 if fl1 != fl2 else fl1}
    for k, v in expect.items():
        assert abs(X[row, col[k]] - v) <= 1e-5 * max(1, abs(v)), (row, k, X[row, col[k]], v)
    assert abs(mass[row] - mll) <= 1e-5 * mll
    checked += 1
assert set(np.unique(X[:, col['channel_flag']])) == {0, 1, 2}, np.unique(X[:, col['channel_flag']])
# missing jets get pT 0 and eta = phi = the sentinel 10
nj = X[:, col['n_jets']]
assert np.all(X[nj < 2, col['jet2_pt']] == 0) and np.all(X[nj < 2, col['jet2_eta']] == 10)
# statistics of the training split of the simulated samples
roles = [ev['samples'][n].attrs['role'] for n in samples]
train = (f['split'][:] == 0) & np.array([roles[k] != 'data' for k in si])
assert np.allclose(f['normalization/mean'][:], X[train].astype(np.float64).mean(axis=0), rtol=1e-9, atol=1e-9)
# weights: weight_mc x sigma k eps L / sum_of_weights; data 1; labels from roles
for k, n in enumerate(samples):
    a = ev['samples'][n].attrs
    sel = si == k
    if not sel.any(): continue
    w = f['weight'][sel]; lab = f['label'][sel]
    assert np.all(lab == (1 if a['role'] == 'signal' else 0)), n
    if a['role'] == 'data':
        assert np.all(w == 1)
    else:
        wmc = ev['samples'][n]['weight_mc'][:]
        idx = np.searchsorted(ev['samples'][n]['event_number'][:], f['event_number'][sel])
        scale = a['cross_section_pb'] * a['k_factor'] * a['filter_efficiency'] * 0.2e3 / a['sum_of_weights']
        assert np.allclose(w, wmc[idx].astype(np.float64) * scale, rtol=1e-12), n
print('ok', checked)
)";
  auto p = python(dir(), "known", script);
  EXPECT_EQ(p.exit_code, 0) << p.output;
  EXPECT_TRUE(contains(p.output, "ok 300")) << p.output;
}

TEST_F(ExtractFiles, CutflowInFileJsonAndLog) {
  const auto out = dir() / "cutflow.h5";
  auto r = run_command(bsmhunt_command(2) + " extract --input " + dilepton().string() +
                       " --max-bjets 0 --padding drop-event --met-min 60 --output " + out.string() + " --overwrite");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "cutflow (raw events)")) << r.output;
  EXPECT_TRUE(contains(r.output, "bjet veto")) << r.output;
  EXPECT_TRUE(contains(r.output, "zp_DH_HDS_m130_ee")) << r.output;
  const std::string script = "EV, OUT = '" + dilepton().string() + "', '" + out.string() + "'\n" + R"(
ev = h5py.File(EV, 'r'); f = h5py.File(OUT, 'r')
cuts = [x.decode() for x in f['cutflow/cuts'][:]]
assert cuts == ['all', 'two leptons', 'flavour', 'met', 'bjet veto', 'padding'], cuts
raw = f['cutflow/raw'][:]; wt = f['cutflow/weighted'][:]
samples = [x.decode() for x in f['sample_names'][:]]
si = f['sample_index'][:]; w = f['weight'][:]
for k, n in enumerate(samples):
    assert raw[k, 0] == ev['samples'][n].attrs['n_events'], (n, raw[k])
    assert np.all(np.diff(raw[k].astype(np.int64)) <= 0), (n, raw[k])
    assert raw[k, -1] == np.count_nonzero(si == k), (n, raw[k, -1])
    assert abs(wt[k, -1] - w[si == k].sum()) <= 1e-9 * max(1.0, abs(wt[k, -1])), (n, wt[k, -1], w[si == k].sum())
sig = [k for k, n in enumerate(samples) if ev['samples'][n].attrs['role'] == 'signal']
assert sum(wt[k, -1] for k in sig) > 0
# the cutflow sums are exact sums on a 2^-62 grid: agreement to 1e-9 absolute
assert abs(sum(wt[k, -1] for k in sig) - w[np.isin(si, sig)].sum()) <= 1e-9 * max(1.0, abs(w[np.isin(si, sig)].sum()))
assert raw[samples.index('ttbar_dilep'), 4] < raw[samples.index('ttbar_dilep'), 3]  # the veto bites
j = json.load(open(OUT + '.cutflow.json'))
assert j['cuts'] == cuts
for k, s in enumerate(j['samples']):
    assert s['name'] == samples[k] and s['raw'] == [int(x) for x in raw[k]] and np.allclose(s['weighted'], wt[k])
print('ok')
)";
  auto p = python(dir(), "cutflow", script);
  EXPECT_EQ(p.exit_code, 0) << p.output;
}

TEST_F(ExtractFiles, DijetMjjAndSelect) {
  const auto out = dir() / "dijet_features.h5";
  auto r = run_command(bsmhunt_command(2) + " extract --input " + dijet().string() + " --mjj-min 1200 --output " +
                       out.string() + " --overwrite");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string script = "EV, OUT = '" + dijet().string() + "', '" + out.string() + "'\n" + R"(
ev = h5py.File(EV, 'r'); f = h5py.File(OUT, 'r')
names = [x.decode() for x in f['feature_names'][:]]
assert names == ['mjj', 'mj1', 'mj2', 'tau21_j1', 'tau21_j2', 'deta_jj'], names
assert f.attrs['feature_set'] == 'dijet'
X = f['features'][:]; si = f['sample_index'][:]; en = f['event_number'][:]
samples = [x.decode() for x in f['sample_names'][:]]
assert np.all(X[:, 0] >= 1200) and np.all(X[:, 1] >= X[:, 2]) and np.array_equal(X[:, 0], f['mass'][:])
def p4(pt, eta, phi, m):
    return np.array([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), np.sqrt((pt * np.cosh(eta))**2 + m * m)])
for row in np.random.default_rng(2).choice(len(X), size=100, replace=False):
    s = ev['samples'][samples[si[row]]]
    i = int(np.nonzero(s['event_number'][:] == en[row])[0][0])
    k = int(s['large_jets/offsets'][i])
    v = sum(p4(*(float(s['large_jets/' + m][k + q]) for m in ('pt', 'eta', 'phi', 'm'))) for q in (0, 1))
    mjj = np.sqrt(max(v[3]**2 - v[0]**2 - v[1]**2 - v[2]**2, 0))
    assert abs(X[row, 0] - mjj) <= 1e-4 * mjj, (row, X[row, 0], mjj)
print('ok')
)";
  auto p = python(dir(), "dijet", script);
  EXPECT_EQ(p.exit_code, 0) << p.output;
  // --select writes a subset in the given order.
  auto s = run_command(serial() + " extract --input " + dijet().string() + " --select deta_jj,mjj --output " +
                       out.string() + " --overwrite");
  ASSERT_EQ(s.exit_code, 0) << s.output;
  auto q = python(dir(), "select", "f = h5py.File('" + out.string() + "', 'r')\n"
                  "assert [x.decode() for x in f['feature_names'][:]] == ['deta_jj', 'mjj']\n"
                  "assert f['features'].shape[1] == 2 and np.array_equal(f['features'][:, 1], f['mass'][:])\n");
  EXPECT_EQ(q.exit_code, 0) << q.output;
}

TEST_F(ExtractFiles, NonFiniteInputIsErrorOrDropped) {
  const auto bad = dir() / "nan.h5", out = dir() / "nan_features.h5";
  fs::copy_file(dilepton(), bad, fs::copy_options::overwrite_existing);
  auto m = python(dir(), "poison", "f = h5py.File('" + bad.string() + "', 'r+')\n"
                  "d = f['samples/ttbar_dilep/met']; d[7] = np.nan\n"
                  "print('event', f['samples/ttbar_dilep/event_number'][7])\n");
  ASSERT_EQ(m.exit_code, 0) << m.output;
  for (int ranks : {1, 2}) {
    auto r = run_command(ranks_command(ranks) + " extract --input " + bad.string() + " --output " + out.string());
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "sample 'ttbar_dilep', event 7: 'met' is not finite")) << r.output;
    EXPECT_TRUE(no_output_left(out));
  }
  // A jet member too: the inputs are checked column by column per block, and the
  // message names the first non-finite input in the set's order (columns, then
  // members in order), as an event-by-event check would.
  const auto bad_jet = dir() / "nan_jet.h5";
  fs::copy_file(dilepton(), bad_jet, fs::copy_options::overwrite_existing);
  auto j = python(dir(), "poison_jet", "f = h5py.File('" + bad_jet.string() + "', 'r+')\n"
                  "g = f['samples/ttbar_dilep']; o = g['jets/offsets'][:]\n"
                  "e = [i for i in range(len(o) - 1) if o[i + 1] - o[i] >= 2][0]\n"
                  "d = g['jets/phi']; d[int(o[e]) + 1] = np.inf\n"
                  "d = g['jets/eta']; d[int(o[e]) + 1] = np.nan\n"
                  "print('event', g['event_number'][e])\n");
  ASSERT_EQ(j.exit_code, 0) << j.output;
  const std::string jet_event = j.output.substr(j.output.find("event ") + 6, j.output.find_first_of("\r\n") - 6);
  auto r = run_command(ranks_command(2) + " extract --input " + bad_jet.string() + " --output " + out.string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "sample 'ttbar_dilep', event " + jet_event + ": 'jets/eta' is not finite")) << r.output;
  EXPECT_TRUE(no_output_left(out));
  auto d = run_command(bsmhunt_command(2) + " extract --input " + bad.string() + " --on-nonfinite drop --output " +
                       out.string());
  ASSERT_EQ(d.exit_code, 0) << d.output;
  auto q = python(dir(), "finite", "f = h5py.File('" + out.string() + "', 'r')\n"
                  "cuts = [x.decode() for x in f['cutflow/cuts'][:]]\n"
                  "assert cuts[:2] == ['all', 'finite'], cuts\n"
                  "raw = f['cutflow/raw'][:]\n"
                  "k = [x.decode() for x in f['sample_names'][:]].index('ttbar_dilep')\n"
                  "assert raw[k, 0] - raw[k, 1] == 1 and (raw[:, 0] - raw[:, 1]).sum() == 1, raw\n");
  EXPECT_EQ(q.exit_code, 0) << q.output;
}

TEST_F(ExtractFiles, BadInputIsClearErrorAndNoFile) {
  const auto out = dir() / "bad.h5";
  const auto existing = dir() / "existing.h5";
  std::ofstream(existing) << "not hdf5";
  struct Case {
    std::string args, expected;
    fs::path output;
  };
  const std::vector<Case> cases = {
      {" extract --input " + dilepton().string() + " --select mll,metx --output " + out.string(),
       "no feature 'metx' (did you mean 'met'?)", out},
      {" extract --input " + dijet().string() + " --features dilepton_met --output " + out.string(),
       "needs the collection 'electrons'", out},
      {" extract --input " + (dir() / "missing.h5").string() + " --output " + out.string(), "no such file", out},
      {" extract --input " + dilepton().string() + " --output " + existing.string(), "pass --overwrite", existing},
      {" extract --input " + dilepton().string() + " --features dijte --output " + out.string(),
       "did you mean 'dijet'", out},
      {" extract --input " + dilepton().string() + " --padding zero --output " + out.string(), "--padding 'zero'", out},
      {" extract --input " + dilepton().string(), "--output FILE is required", out},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    // Every case serially; the collective ones (found while reading) also on 2 ranks.
    for (int ranks : {1, 2}) {
      if (ranks == 2 && i >= 3) continue;
      auto r = run_command(ranks_command(ranks) + c.args);
      EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
      EXPECT_TRUE(contains(r.output, c.expected)) << c.args << "\n" << r.output;
      EXPECT_FALSE(contains(r.output, "[rank 1]")) << r.output;
      if (c.output != existing) {
        EXPECT_TRUE(no_output_left(c.output)) << c.args;
      }
      EXPECT_FALSE(fs::exists(c.output.string() + ".partial")) << c.args;
      EXPECT_FALSE(fs::exists(c.output.string() + ".cutflow.json")) << c.args;
    }
  }
  std::ifstream in(existing);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "not hdf5");
}

TEST(ExtractCli, HelpListsOptionsWithDefaults) {
  auto r = run_command(std::string(BSMHUNT_BINARY) + " extract --help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* opt : {"--input", "--output", "--features", "--select", "--lepton-pt-min arg (=20)",
                          "--lepton-eta-max arg (=2.5)", "--require arg (=sfos)", "--met-min arg (=50)",
                          "--max-bjets arg (=-1)", "--mjj-min arg (=0)", "--padding arg (=sentinel)",
                          "--sentinel arg (=10)", "--split arg (=0.6,0.2)", "--seed arg (=1)",
                          "--block-events arg (=131072)", "--overwrite", "--config", "--on-nonfinite arg (=error)"})
    EXPECT_TRUE(contains(r.output, opt)) << opt << "\n" << r.output;
  auto top = run_command(std::string(BSMHUNT_BINARY) + " --help");
  EXPECT_TRUE(contains(top.output, "extract")) << top.output;
}
