// End-to-end tests of analysis B on small files: the trilepton channel is the same for
// 1 and 2 ranks; bsmhunt datamc flags the feature the pseudo-data were distorted in
// (MET scaled by 15%) and its chi2 agrees with numpy on the same bins; an autoencoder
// on rapidity-mass matrices without an excluded feature, scored by predict and cut by
// bsmhunt anomaly, whose efficiencies numpy recomputes from the score file; and the
// bad-input cases of the issue.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/TestFiles.hpp"

using namespace bsmhunt::test;
namespace fs = std::filesystem;

namespace {



// 10 fb^-1 of pseudo-data (about 8 000 events) with the MET scaled by 1.15, and a
// few thousand MC events: made once for the tests of this file.
class TrileptonFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("trilepton");
    const auto g = run_command(bsmhunt_command(2) + generate_args() + " --output " + events().string());
    ASSERT_EQ(g.exit_code, 0) << g.output;
    const auto x = run_command(bsmhunt_command(2) + " extract --input " + events().string() + " --output " +
                               flat().string() + " --log-level warn");
    ASSERT_EQ(x.exit_code, 0) << x.output;
    const auto r = run_command(bsmhunt_command(2) + " extract --features rmm --rmm-slots 3 --input " +
                               events().string() + " --output " + rmm().string() + " --log-level warn");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string generate_args() {
    return " generate --channel trilepton --events 3000 --signal-events 300 --lumi-ifb 10 --seed 5"
           " --parameter data_met_scale=1.15 --summary false --log-level warn";
  }
  static fs::path events() { return *dir_ / "events.h5"; }
  static fs::path flat() { return *dir_ / "flat.h5"; }
  static fs::path rmm() { return *dir_ / "rmm.h5"; }
  static const TempDir& dir() { return *dir_; }

 private:
  static TempDir* dir_;
};
TempDir* TrileptonFiles::dir_ = nullptr;

}  // namespace

TEST_F(TrileptonFiles, GenerateIsTheSameForOneAndTwoRanks) {
  const auto one = dir() / "one.h5";
  const auto r = run_command(std::string(BSMHUNT_BINARY) + generate_args() + " --output " + one.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto cmp = run_command(system_python() + " " + source_dir() + "/tools/h5compare " + one.string() + " " +
                               events().string());
  EXPECT_EQ(cmp.exit_code, 0) << cmp.output;
}

TEST_F(TrileptonFiles, DataMcFlagsTheDistortedMetAndAgreesWithNumpy) {
  const auto out = dir() / "datamc.json";
  const auto r = run_command(bsmhunt_command(2) + " datamc " + flat().string() + " --output " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "DISAGREES")) << r.output;
  ASSERT_TRUE(fs::exists(out.string() + ".csv"));
  // Independent of the C++: the data counts from the feature file in the JSON's bins,
  // the MC sums, and chi2 = sum (d - s m)^2 / (s m + s^2 var) with s = data/MC.
  const auto check = run_command(python_script(dir().path(), "datamc", R"(
doc = json.load(open(sys.argv[1])); f = h5py.File(sys.argv[2], 'r')
names = [n.decode() for n in f['feature_names'][:]]
byname = {x['name']: x for x in doc['features']}
assert 'met' in doc['flagged'], doc['flagged']
assert byname['lep1_eta']['p_value'] > 1e-3, byname['lep1_eta']   # eta does not see the MET scale
samples = [n.decode() for n in f['sample_names'][:]]
roles = {s: f['samples'][s].attrs['role'] for s in samples}
roles = {s: (r.decode() if isinstance(r, bytes) else r) for s, r in roles.items()}
x = f['features'][:, names.index('met')]; si = f['sample_index'][:]; w = f['weight'][:]
# The pseudo-data are smaller than the MC's luminosity here (generate --data-lumi-ifb
# auto): datamc compares the MC scaled to the data's.
lumi = f.attrs['luminosity_ifb']; data_lumi = f['samples']['data'].attrs['luminosity_ifb']
assert 0 < data_lumi < lumi, (data_lumi, lumi)
w = w * (data_lumi / lumi)
m = byname['met']; e = np.array(m['edges'])
is_data = np.array([roles[samples[i]] == 'data' for i in si])
is_bkg = np.array([roles[samples[i]] == 'background' for i in si])
d, _ = np.histogram(np.clip(x[is_data], e[0], e[-1]), e)
mc, _ = np.histogram(np.clip(x[is_bkg], e[0], e[-1]), e, weights=w[is_bkg])
var, _ = np.histogram(np.clip(x[is_bkg], e[0], e[-1]), e, weights=w[is_bkg] ** 2)
assert np.array_equal(d, np.array(m['data'])), (d, m['data'])
mc_json = np.sum([np.array(v) for v in m['mc'].values()], axis=0)
assert np.allclose(mc, mc_json, rtol=1e-9), (mc, mc_json)
s = d.sum() / mc.sum(); mu = s * mc; v = mu + s * s * var
chi2 = np.sum((d - mu) ** 2 / v)
assert abs(chi2 - m['chi2']) < 1e-6 * chi2, (chi2, m['chi2'])
assert m['ndf'] == len(d) - 1, m['ndf']
print('met chi2', chi2, 'ndf', m['ndf'])
)") + " " + out.string() + " " + flat().string());
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

TEST_F(TrileptonFiles, AutoencoderOnRmmWithoutAnExcludedFeatureFeedsTheAnomalyCuts) {
  const auto model = dir() / "ae.h5", scores = dir() / "ae_scores.h5", result = dir() / "ae_anomaly.json";
  const auto t = run_command(bsmhunt_command(2) + " train --model autoencoder --features " + rmm().string() +
                             " --output " + model.string() +
                             " --hidden 32 --latent 4 --epochs 2 --exclude-features m_objects --log-level warn");
  ASSERT_EQ(t.exit_code, 0) << t.output;
  const auto p = run_command(bsmhunt_command(2) + " predict --model " + model.string() + " --features " +
                             rmm().string() + " --output " + scores.string() + " --log-level warn");
  ASSERT_EQ(p.exit_code, 0) << p.output;
  const auto a = run_command(bsmhunt_command(2) + " anomaly " + scores.string() + " --output " + result.string() +
                             " --background-uncertainty 0.1");
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_TRUE(contains(a.output, "<- search")) << a.output;
  // numpy: MC of the test split scaled to each sample's full yield; the background
  // efficiency above each threshold and one signal's efficiency.
  const auto check = run_command(python_script(dir().path(), "anomaly", R"(
doc = json.load(open(sys.argv[1])); f = h5py.File(sys.argv[2], 'r'); m = h5py.File(sys.argv[3], 'r')
names = [n.decode() for n in m['preprocessing/feature_names'][:]]
assert 'm_objects' not in names and len(names) == 100, len(names)   # T3N3: D = 10, D^2 cells
score = f['score'][:]; si = f['sample_index'][:]; w = f['weight'][:]; split = f['split'][:]
samples = [n.decode() for n in f['sample_names'][:]]
role = [f['samples'][s].attrs['role'] for s in samples]
role = [r.decode() if isinstance(r, bytes) else r for r in role]
wt = np.zeros(len(w))
for i, s in enumerate(samples):
    sel = si == i
    if role[i] == 'data' or not sel.any(): continue
    test = sel & (split == 2)
    wt[test] = w[test] * w[sel].sum() / w[test].sum()
bkg = np.array([role[i] == 'background' for i in si])
total = wt[bkg].sum()
assert abs(total - doc['background_total']) < 1e-6 * total, (total, doc['background_total'])
for th in doc['thresholds']:
    eff = wt[bkg & (score >= th['threshold'])].sum() / total
    assert abs(eff - th['sm_efficiency']) < 1e-9, (eff, th)
    data = np.sum(np.array([role[i] == 'data' for i in si]) & (score >= th['threshold']))
    assert data == th['data'], (data, th)
# The data are smaller than the MC's luminosity (generate --data-lumi-ifb auto): the
# expected data above a threshold are the background at the data's luminosity.
lumi = f.attrs['luminosity_ifb']; data_lumi = f['samples']['data'].attrs['luminosity_ifb']
assert 0 < data_lumi < lumi, (data_lumi, lumi)
assert abs(doc['data_fraction'] - data_lumi / lumi) < 1e-12, (doc['data_fraction'], data_lumi / lumi)
for th in doc['thresholds']:
    want = wt[bkg & (score >= th['threshold'])].sum() * data_lumi / lumi
    assert abs(th['expected_background'] - want) < 1e-6 * max(want, 1e-9), (th, want)
sig = doc['signals'][3]; k = samples.index(sig['name']); sel = si == k
for th, e in zip(doc['thresholds'], sig['efficiency']):
    mine = wt[sel & (score >= th['threshold'])].sum() / wt[sel].sum()
    assert abs(mine - e) < 1e-9, (sig['name'], mine, e)
print('anomaly thresholds and efficiencies agree')
)") + " " + result.string() + " " + scores.string() + " " + model.string());
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

TEST_F(TrileptonFiles, BadInputNamesTheProblemAndWritesNothing) {
  const std::string b = std::string(BSMHUNT_BINARY);
  const auto out = dir() / "bad.h5";
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {" extract --features rmm --rmm-slots 0 --input " + events().string(), "--rmm-slots"},
      {" extract --features rmm --rmm-types jets,taus --input " + events().string(), "taus"},
      {" train --model autoencoder --features " + rmm().string() + " --exclude-features m_object", "m_objects"},
      {" train --model autoencoder --features " + rmm().string() +
           " --exclude-samples 'wz_*,zz_*,tt*,dy_*,zgamma_*,w*z*,www_*,zzz_*'",
       "the autoencoder trains on background samples"},
  };
  for (const auto& c : cases) {
    const auto r = run_command(b + c.args + " --output " + out.string());
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;  // bad input
    EXPECT_TRUE(contains(r.output, c.message)) << c.args << "\n" << r.output;
    EXPECT_FALSE(fs::exists(out)) << c.args;
  }
  // An event file without the lepton collections (dijet has jets only).
  const auto dijet = dir() / "dijet.h5";
  const auto g = run_command(b + " generate --channel dijet --events 200 --signal-events 20 --pseudo-data false"
                                 " --summary false --log-level warn --output " + dijet.string());
  ASSERT_EQ(g.exit_code, 0) << g.output;
  const auto r = run_command(b + " extract --features rmm --input " + dijet.string() + " --output " + out.string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, dijet.string())) << r.output;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(TrileptonFiles, AutoencoderScanIsSortedByValidationLossWithoutAuc) {
  // Two groups of one rank: each rank owns one point and must not report the other's.
  const auto model = dir() / "scan.h5";
  const auto r = run_command(bsmhunt_command(2) + " train --model autoencoder --features " + rmm().string() +
                             " --output " + model.string() +
                             " --hidden 16 --epochs 1 --scan grid --scan-params 'latent=1|6' --log-level warn");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto check = run_command(python_script(dir().path(), "scan", R"(
import csv
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 2, rows
assert all(r['validation_auc'] == '' for r in rows), rows          # an autoencoder has no AUC
losses = [float(r['best_validation_loss']) for r in rows]
assert losses == sorted(losses), losses
assert sorted(r['point'] for r in rows) == ['0', '1'], rows
)") + " " + model.string() + ".scan.csv");
  EXPECT_EQ(check.exit_code, 0) << check.output;
}
