// End-to-end tests of analysis E on small files: the monojet channel is the same for
// 1 and 2 ranks, a CNN trains on eta-phi images (1 and 2 ranks agree) and scores every
// event, bsmhunt efficiencies against an independent numpy computation of its tables,
// and the bad-input cases of the issue (no particles, unknown compression or model,
// an image request on another channel's file).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/TestFiles.hpp"

using namespace bsmhunt::test;
namespace fs = std::filesystem;

namespace {



// Small monojet files shared by the tests of this file (made once).
class MonojetFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("monojet");
    const auto r = run_command(bsmhunt_command(2) + " generate --channel monojet --events 150 --signal-events 30" +
                               " --pseudo-data false --seed 3 --summary false --output " + events().string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto x = run_command(bsmhunt_command(2) + " extract --features monojet --input " + events().string() +
                               " --output " + features().string() + " --log-level warn");
    ASSERT_EQ(x.exit_code, 0) << x.output;
  }
  static void TearDownTestSuite() { delete dir_; }
  static fs::path events() { return *dir_ / "events.h5"; }
  static fs::path features() { return *dir_ / "features.h5"; }
  static const TempDir& dir() { return *dir_; }
  static std::string cnn_options() {
    return " --model cnn --epochs 1 --batch-size 16 --signal-samples znunu_pt1000"
           " --exclude-samples 'wtaunu_pt280_500,wtaunu_pt500_1000,wmunu_*,wenu_*,zmumu_*,ztautau_*,ttbar,diboson'"
           " --class-balance count --log-level warn";
  }

 private:
  static TempDir* dir_;
};
TempDir* MonojetFiles::dir_ = nullptr;

}  // namespace

TEST_F(MonojetFiles, GenerateIsTheSameForOneAndTwoRanks) {
  const auto one = dir() / "one.h5";
  const auto r = run_command(std::string(BSMHUNT_BINARY) + " generate --channel monojet --events 150 --signal-events 30" +
                             " --pseudo-data false --seed 3 --summary false --output " + one.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto cmp = run_command(system_python() + " " + source_dir() + "/tools/h5compare " + one.string() + " " +
                               events().string());
  EXPECT_EQ(cmp.exit_code, 0) << cmp.output;
}

TEST_F(MonojetFiles, CnnTrainsOnImagesAndScoresEveryEvent) {
  const auto m1 = dir() / "cnn1.h5", m2 = dir() / "cnn2.h5", s = dir() / "cnn_scores.h5";
  // Plain SGD for the comparison of 1 and 2 ranks: Adam turns the rounding noise of a
  // near-zero gradient into full-size steps of either sign.
  const std::string sgd = " --optimizer sgd --learning-rate 0.01";
  const auto r1 = run_command(std::string(BSMHUNT_BINARY) + " train --features " + features().string() + " --output " +
                              m1.string() + cnn_options() + sgd);
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  const auto r2 = run_command(bsmhunt_command(2) + " train --features " + features().string() + " --output " +
                              m2.string() + cnn_options() + sgd);
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  // The model file carries the images' settings; 1 and 2 ranks give the same network up
  // to the float rounding of the gradient sums.
  const auto check = run_command(python_script(dir().path(), "cnn_model", R"(
a = h5py.File(sys.argv[1], 'r'); b = h5py.File(sys.argv[2], 'r')
assert a['model'].attrs['kind'] == 'cnn', dict(a['model'].attrs)
assert a['images'].attrs['compression'] == 'empty-cell'
scales = a['images/scales'][:]
assert scales.shape == (8,) and scales[1] == 1 and np.all(scales > 0), scales
assert np.array_equal(scales, b['images/scales'][:]), 'channel scales differ between 1 and 2 ranks'
diff = largest = 0
for name in a['model/layers']:
    for p in a['model/layers'][name]:
        x, y = a['model/layers'][name][p][:], b['model/layers'][name][p][:]
        diff, largest = max(diff, float(np.max(np.abs(x - y)))), max(largest, float(np.max(np.abs(x))))
worst = diff / largest
assert worst < 1e-5, worst
print('ok', worst)
)") + " " + m1.string() + " " + m2.string());
  EXPECT_EQ(check.exit_code, 0) << check.output;
  const auto p = run_command(bsmhunt_command(2) + " predict --model " + m2.string() + " --features " +
                             features().string() + " --output " + s.string() + " --log-level warn");
  ASSERT_EQ(p.exit_code, 0) << p.output;
  const auto scores = run_command(python_script(dir().path(), "cnn_scores", R"(
f = h5py.File(sys.argv[1], 'r'); g = h5py.File(sys.argv[2], 'r')
score = f['score'][:]
assert len(score) == len(g['weight']), (len(score), len(g['weight']))
assert np.all((score >= 0) & (score <= 1)) and np.all(np.isfinite(score))
assert np.array_equal(f['event_number'][:], g['event_number'][:])
assert np.std(score) > 0
print('ok')
)") + " " + s.string() + " " + features().string());
  EXPECT_EQ(scores.exit_code, 0) << scores.output;
}

TEST_F(MonojetFiles, EfficienciesAgreeWithNumpy) {
  // Scores from the BDT (fast) on the high-level features.
  const auto m = dir() / "bdt.h5", s = dir() / "bdt_scores.h5", out = dir() / "eff.json";
  ASSERT_EQ(run_command(std::string(BSMHUNT_BINARY) + " train --model bdt --sample-weights abs --features " +
                        features().string() + " --output " + m.string() + " --log-level warn")
                .exit_code,
            0);
  ASSERT_EQ(run_command(std::string(BSMHUNT_BINARY) + " predict --model " + m.string() + " --features " +
                        features().string() + " --output " + s.string() + " --log-level warn")
                .exit_code,
            0);
  const std::string groups = " --groups 'znunu: znunu_*; wtaunu: wtaunu_*; wmunu: wmunu_*; other: w*nu_*,z*_*,ttbar,diboson'";
  for (int ranks : {1, 3}) {
    const auto r = run_command(bsmhunt_command(ranks) + " efficiencies --scores " + s.string() + " --features " +
                               features().string() + " --output " + out.string() + groups +
                               " --signal-group znunu --reference-background wtaunu --slice-parameter slice"
                               " --reference-slice pt1000 --selection 'met > 200'"
                               " --yields znunu=137800,wtaunu=50300,wmunu=20860,top=8600 --scaled znunu,wtaunu,wmunu"
                               " --split all --overwrite --log-level warn");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto check = run_command(python_script(dir().path(), "eff", R"(
r = json.load(open(sys.argv[1])); s = h5py.File(sys.argv[2], 'r'); f = h5py.File(sys.argv[3], 'r')
score = s['score'][:].astype(np.float64); idx = s['sample_index'][:]; w = s['weight'][:]
names = [n.decode() if isinstance(n, bytes) else n for n in s['sample_names'][:]]
slc = [f['samples'][n].attrs.get('slice', 'none') for n in names]
slc = np.array([x.decode() if isinstance(x, bytes) else x for x in slc])[idx]
fn = [n.decode() for n in f['feature_names'][:]]
sel = f['features'][:, fn.index('met')] > 200
import fnmatch
def group(pats): return np.array([any(fnmatch.fnmatchcase(n, p) for p in pats) for n in names])[idx]
z, t, m = group(['znunu_*']), group(['wtaunu_*']), group(['wmunu_*'])
ref = slc == 'pt1000'
best, best_k = -1, 0
for k, row in enumerate(r['threshold_table']):
    th = k / 20.0
    assert abs(row['threshold'] - th) < 1e-12
    tp = np.sum(z & ref & (score >= th)); fp = np.sum(t & ref & (score >= th)); fn_ = np.sum(z & ref & (score < th))
    p = tp / (tp + fp) if tp + fp else None; rc = tp / (tp + fn_)
    assert row['true_positive'] == tp and row['false_positive'] == fp, (k, row, tp, fp)
    if p is not None:
        assert abs(row['precision'] - p) < 1e-12 and abs(row['product'] - p * rc) < 1e-12
        if p * rc > best: best, best_k = p * rc, k
th = best_k / 20.0
assert abs(r['threshold'] - th) < 1e-12, (r['threshold'], th)
for name, g in (('znunu', z), ('wtaunu', t)):
    for sl, cell in r['per_slice'].items():
        n = np.sum(g & (slc == sl))
        if n == 0: continue
        above = np.sum(g & (slc == sl) & (score >= th)) / n
        want = above if name == 'znunu' else 1 - above
        assert abs(cell[name]['correct'] - want) < 1e-12, (name, sl, cell[name], want)
def passing(g):
    return np.sum(w[g & sel & (score >= th)]) / np.sum(w[g & sel])
ez, et, em = passing(z), passing(t), passing(m)
gain = (137800 * ez / np.sqrt(50300 * et + 20860 * em + 8600)) / (137800 / np.sqrt(50300 + 20860 + 8600))
assert abs(r['gain_given_yields']['gain'] - gain) < 1e-9 * gain, (r['gain_given_yields'], gain)
print('ok', gain)
)") + " " + out.string() + " " + s.string() + " " + features().string());
    EXPECT_EQ(check.exit_code, 0) << ranks << " ranks: " << check.output;
  }
}

TEST_F(MonojetFiles, ImagesAndCnnRefuseBadInput) {
  const auto out = dir() / "bad.h5";
  // A dilepton event file has no particles.
  const auto dl = dir() / "dilepton.h5";
  ASSERT_EQ(run_command(std::string(BSMHUNT_BINARY) + " generate --channel dilepton_met --events 2000 --signal-events 50" +
                        " --pseudo-data false --samples dy_ee,zp_DH_HDS_m130_ee --summary false --output " + dl.string())
                .exit_code,
            0);
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {" images --events " + dl.string() + " --output " + out.string(), "has no 'particles' collection"},
      {" images --events " + events().string() + " --output " + out.string() + " --per-sample 0",
       "--per-sample must be >= 1"},
      {" train --features " + features().string() + " --output " + out.string() + cnn_options() + " --compression jpeg",
       "compression 'jpeg' is unknown: expected none, empty-rowcol, empty-cell, stochastic"},
      {" train --features " + features().string() + " --output " + out.string() + cnn_options() + " --cnn resnet",
       "--cnn 'resnet': expected one of strides, max-pool"},
      {" train --features " + features().string() + " --output " + out.string() + cnn_options() + " --events " +
           dl.string(),
       "does not hold the events of"},
      {" efficiencies --scores " + features().string() + " --output " + out.string() +
           " --groups 'a: znunu_*' --signal-group a --reference-background b",
       "give at least two groups"},
  };
  for (const auto& c : cases) {
    const auto r = run_command(bsmhunt_command(2) + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, c.message)) << c.args << "\n" << r.output;
    EXPECT_FALSE(fs::exists(out)) << c.args;
    EXPECT_FALSE(fs::exists(out.string() + ".partial")) << c.args;
  }
}
