// End-to-end tests of `bsmhunt significance`: scans checked against numpy on the same
// files, bitwise identical results for 1, 2 and 3 ranks, and bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/TestFiles.hpp"

using namespace bsmhunt::test;
namespace fs = std::filesystem;

namespace {

std::string serial() { return std::string(BSMHUNT_BINARY); }
std::string ranks_command(int ranks) { return ranks == 1 ? serial() : bsmhunt_command(ranks); }


// The JSON without its timing line (the only rank-dependent part).
// The result without the fill time and the rank count (the only fields that may differ).
std::string json_without_timing(const fs::path& p) {
  std::ifstream in(p);
  std::string line, out;
  while (std::getline(in, line))
    if (!contains(line, "\"fill_seconds\"") && !contains(line, "\"ranks\"")) out += line + "\n";
  return out;
}

const std::string kChannels = " --channels 'ee: channel_flag == 0; mumu: channel_flag == 1'";
const std::string kCuts = " --cuts 'met_significance > 10 && mt_llmet > 120 && n_bjets == 0'";

class SignificanceFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("significance");
    const fs::path events = *dir_ / "events.h5", model = *dir_ / "mlp.h5";
    auto g = run_command(serial() +
                         " generate --channel dilepton_met --events 40000 --signal-events 3000 --lumi-ifb 1"
                         " --samples dy_ee,dy_mumu,ttbar_dilep,ww_lvlv,zz_llvv,zp_DH_HDS_m130_ee,zp_DH_HDS_m130_mumu,"
                         "zp_DH_HDS_m500_ee --summary false --output " + events.string());
    ASSERT_EQ(g.exit_code, 0) << g.output;
    auto e = run_command(bsmhunt_command(2) + " extract --input " + events.string() + " --output " + features().string());
    ASSERT_EQ(e.exit_code, 0) << e.output;
    auto t = run_command(bsmhunt_command(2) + " train --features " + features().string() + " --output " +
                         model.string() + " --model mlp --signal-samples 'zp_DH_HDS_m130_*' --epochs 3"
                         " --batch-size 512 --hidden 32,32");
    ASSERT_EQ(t.exit_code, 0) << t.output;
    auto p = run_command(bsmhunt_command(2) + " predict --model " + model.string() + " --features " +
                         features().string() + " --output " + scores().string());
    ASSERT_EQ(p.exit_code, 0) << p.output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static fs::path features() { return *dir_ / "features.h5"; }
  static fs::path scores() { return *dir_ / "scores.h5"; }
  static const fs::path& dir() { return dir_->path(); }
  static TempDir* dir_;
};
TempDir* SignificanceFiles::dir_ = nullptr;

}  // namespace

TEST_F(SignificanceFiles, ScansAgreeWithNumpyAndAreBitwiseRankInvariant) {
  std::string first_json;
  for (int ranks : {1, 2, 3}) {
    const fs::path out = dir() / ("sig" + std::to_string(ranks) + ".json");
    auto r = run_command(ranks_command(ranks) + " significance --scores " + scores().string() + " --features " +
                         features().string() + " --output " + out.string() + kChannels + kCuts +
                         " --min-mc-events 5 --block-rows 4096");  // small blocks: every rank gets rows
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "channel ee")) << r.output;
    EXPECT_TRUE(contains(r.output, "zp_DH_HDS_m130_mumu")) << r.output;
    // The thesis' cut-and-count beside bsmhunt's for the models that carry it.
    EXPECT_TRUE(contains(r.output, "cut-and-count beside thesis Tables 5.4 (ee) and 5.5 (mumu)")) << r.output;
    EXPECT_TRUE(contains(r.output, "(1256624)") && contains(r.output, "(1626098)")) << r.output;
    ASSERT_TRUE(fs::exists(dir() / ("sig" + std::to_string(ranks) + ".h5")));
    if (ranks == 1) {
      first_json = json_without_timing(out);
      continue;
    }
    EXPECT_EQ(json_without_timing(out), first_json) << ranks << " ranks differ from 1 rank";
    auto cmp = run_command(system_python() + " " + source_dir() + "/tools/h5compare " + (dir() / "sig1.h5").string() +
                           " " + (dir() / ("sig" + std::to_string(ranks) + ".h5")).string());
    EXPECT_EQ(cmp.exit_code, 0) << cmp.output;
  }

  // Binned in the score itself (not its logit), so that numpy can apply the same cuts.
  const fs::path plain = dir() / "plain.json";
  auto r0 = run_command(bsmhunt_command(2) + " significance --scores " + scores().string() + " --features " +
                        features().string() + " --output " + plain.string() + kChannels + kCuts +
                        " --min-mc-events 5 --bins 200 --transform none");
  ASSERT_EQ(r0.exit_code, 0) << r0.output;
  // Independently with numpy: the test split, scaled per sample by all / test events;
  // background = role background; channel from channel_flag; the best cut's s and b,
  // Asimov Z at it, the cut-and-count yields and the AUC.
  const std::string check = python_script(dir(), "check", R"(
import decimal
decimal.getcontext().prec = 50
res = json.load(open(sys.argv[1]))
S = h5py.File(sys.argv[2], 'r'); F = h5py.File(sys.argv[3], 'r')
score = S['score'][:]; w = S['weight'][:]; split = S['split'][:]; idx = S['sample_index'][:]
names = [n.decode() for n in S['sample_names'][:]]
role = [S['samples'][n].attrs['role'] for n in names]
role = np.array([r.decode() if isinstance(r, bytes) else r for r in role])
fn = [n.decode() for n in F['feature_names'][:]]; X = F['features'][:]
col = lambda n: X[:, fn.index(n)]
n_all = np.bincount(idx, minlength=len(names)); n_test = np.bincount(idx[split == 2], minlength=len(names))
factor = np.where(n_test > 0, n_all / np.maximum(n_test, 1), 0.0)[idx]
test = split == 2
cuts = (col('met_significance') > 10) & (col('mt_llmet') > 120) & (col('n_bjets') == 0)
checked = 0
for ch in res['channels']:
    flag = {'ee': 0, 'mumu': 1}[ch['name']]
    inch = test & (col('channel_flag') == flag)
    bkg = inch & (role[idx] == 'background')
    B = np.sum((w * factor)[bkg])
    assert math.isclose(ch['background']['total'], B, rel_tol=1e-9, abs_tol=1e-9), (ch['background']['total'], B)
    bcc = np.sum((w * factor)[bkg & cuts])
    assert math.isclose(ch['cut_and_count']['background']['after'], bcc, rel_tol=1e-9, abs_tol=1e-9)
    for sig in ch['signals']:
        k = names.index(sig['name']); sel = inch & (idx == k)
        assert math.isclose(sig['total'], np.sum((w * factor)[sel]), rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(sig['cut_and_count']['after'], np.sum((w * factor)[sel & cuts]), rel_tol=1e-9, abs_tol=1e-12)
        attrs = S['samples'][sig['name']].attrs
        ref = sig['cut_and_count'].get('reference')
        if 'reference' in attrs:
            assert ref['signal_after'] == attrs['reference_signal_after_cuts'], (ref, dict(attrs))
            assert ref['background_before'] == attrs['reference_background_preselection'], ref
            assert ref['z'] == attrs['reference_z'], ref
        else:
            assert ref is None, (sig['name'], ref)
        best = sig['best']
        if best is None: continue
        c = best['cut']
        s = np.sum((w * factor)[sel & (score >= c)]); b = np.sum((w * factor)[bkg & (score >= c)])
        assert math.isclose(best['s'], s, rel_tol=1e-9, abs_tol=1e-9), (sig['name'], best['s'], s)
        assert math.isclose(best['b'], b, rel_tol=1e-9, abs_tol=1e-9), (sig['name'], best['b'], b)
        # Asimov Z in 50-digit decimal arithmetic (no cancellation for s << b).
        S_, B_ = decimal.Decimal(float(s)), decimal.Decimal(float(b))
        z = math.sqrt(float(2 * ((S_ + B_) * (1 + S_ / B_).ln() - S_)))
        assert math.isclose(best['z'], z, rel_tol=1e-9), (best['z'], z)
        # No cut that counts (b >= 1, >= 5 effective MC events) does better.
        w2b = np.sum(((w * factor) ** 2)[bkg & (score >= c)])
        assert b >= 1 and b * b / w2b >= 5, (sig['name'], b, b * b / w2b)
        checked += 1
assert checked >= 3, checked
H = h5py.File(sys.argv[4], 'r')
edges = H['edges'][:]
assert len(edges) == 201 and edges[0] == 0 and edges[-1] == 1, (len(edges), edges[0], edges[-1])
ee = [c for c in res['channels'] if c['name'] == 'ee'][0]
best = [x for x in ee['signals'] if x['name'] == 'zp_DH_HDS_m130_ee'][0]['best']
# The best cut is the optimum of an independent scan: every edge as a threshold
# (score >= edge, on the test split scaled to the full sample), the rules b >= 1 and
# b^2 / sum w^2 >= 5, the Asimov Z; the first of equal maxima.
def suffix(x, weights):
    h = np.histogram(x, bins=edges, weights=weights)[0]
    return np.cumsum(h[::-1])[::-1]
optimal = 0
for ch in res['channels']:
    flag = {'ee': 0, 'mumu': 1}[ch['name']]
    inch = test & (col('channel_flag') == flag)
    bkg = inch & (role[idx] == 'background')
    wf = w * factor
    b_at, w2_at = suffix(score[bkg], wf[bkg]), suffix(score[bkg], (wf ** 2)[bkg])
    for sig in ch['signals']:
        sel = inch & (idx == names.index(sig['name']))
        s_at = suffix(score[sel], wf[sel])
        ok = (b_at >= 1) & (b_at * b_at >= 5 * np.maximum(w2_at, 1e-300))
        z = np.full(len(s_at), -np.inf)
        sb = s_at[ok] / b_at[ok]
        z[ok] = np.sqrt(2 * ((s_at[ok] + b_at[ok]) * np.log1p(sb) - s_at[ok]))
        if not ok.any():
            assert sig['best'] is None, (sig['name'], sig['best'])
            continue
        i = int(np.argmax(z))
        assert sig['best'] is not None, sig['name']
        assert math.isclose(sig['best']['z'], z[i], rel_tol=1e-9), (sig['name'], sig['best'], z[i], edges[i])
        assert sig['best']['cut'] == edges[i], (sig['name'], sig['best']['cut'], edges[i])
        optimal += 1
assert optimal >= 3, optimal
hb = sum(H['channels/ee/histograms/%s/sum_w' % n][:].sum() + H['channels/ee/histograms/%s/flow_w' % n][:].sum()
         for n in names if role[names.index(n)] == 'background')
assert math.isclose(hb, ee['background']['total'], rel_tol=1e-9), (hb, ee['background']['total'])
print('checked', checked, 'signals,', optimal, 'optima')
)");
  auto r = run_command(check + " " + plain.string() + " " + scores().string() + " " + features().string() + " " +
                       (dir() / "plain.h5").string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(SignificanceFiles, BadInputIsOneLineErrorAndNoOutput) {
  const fs::path out = dir() / "bad.json", out_h5 = dir() / "bad.h5";
  const std::string base = " significance --scores " + scores().string() + " --output " + out.string();
  const std::string with_features = base + " --features " + features().string();
  // Score files damaged in two ways docs/significance.md names: a row's event number
  // changed (the file no longer belongs to the feature file), a NaN score in the test split.
  const fs::path moved = dir() / "moved_scores.h5", nan = dir() / "nan_scores.h5";
  const auto damage = run_command(python_script(dir(), "damage", R"(
import shutil
src, moved, nan = sys.argv[1:4]
shutil.copy(src, moved); shutil.copy(src, nan)
with h5py.File(moved, 'r+') as f: f['event_number'][5] = f['event_number'][5] + 1000000
with h5py.File(nan, 'r+') as f:
    row = int(np.nonzero(f['split'][:] == 2)[0][3]); s = f['score'][:]; s[row] = np.nan; f['score'][...] = s
    print(row)
)") + " " + scores().string() + " " + moved.string() + " " + nan.string());
  ASSERT_EQ(damage.exit_code, 0) << damage.output;
  const std::string nan_row = damage.output.substr(0, damage.output.find('\n'));
  struct Case {
    std::string args, expect;
  };
  const std::vector<Case> cases = {
      {" significance --scores " + moved.string() + " --features " + features().string() + " --output " +
           out.string(),
       "moved_scores.h5 does not belong to " + features().string() + ": row 5 is event"},
      {" significance --scores " + nan.string() + " --output " + out.string(),
       "nan_scores.h5: score 'score' of row " + nan_row + " (event "},
      {base + kCuts, "give --features"},
      {with_features + " --score-column prob", "no score column 'prob'"},
      {with_features + " --cuts 'met_sig > 10'", "unknown feature 'met_sig' (did you mean 'met_significance'?)"},
      {with_features + " --cuts 'met_significance >> 10'", "expected a finite number"},
      {with_features + " --channels 'ee channel_flag == 0'", "is not NAME: SELECTION"},
      {with_features + " --metric ams --bkg-uncertainty 0.1", "not for ams"},
      {with_features + " --metric z", "expected asimov, s_over_sqrt_b or ams"},
      {with_features + " --split holdout", "expected test, validation, train or all"},
      {with_features + " --signal 'zp_XX_*'", "matches no signal sample"},
      {" significance --scores " + features().string() + " --output " + out.string(), "bsmhunt.scores"},
      {" significance --scores " + scores().string() + " --features " + (dir() / "events.h5").string() +
           " --output " + out.string(),
       "events.h5"},
  };
  for (int ranks : {1, 2}) {
    for (const auto& c : cases) {
      auto r = run_command(ranks_command(ranks) + c.args);
      EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
      EXPECT_TRUE(contains(r.output, c.expect)) << c.args << "\nexpected: " << c.expect << "\n" << r.output;
      EXPECT_FALSE(fs::exists(out) || fs::exists(out_h5) || fs::exists(out.string() + ".partial")) << c.args;
    }
  }
}
