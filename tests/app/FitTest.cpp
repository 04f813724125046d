// End-to-end tests of `bsmhunt fit`: a CSV spectrum made from a known f4 shape with
// an injected bump, checked through the JSON (read in Python), the HDF5 per-bin
// output, rank invariance, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "support/TestFiles.hpp"

using namespace bsmhunt::test;
namespace fs = std::filesystem;

namespace {

std::string serial() { return std::string(BSMHUNT_BINARY); }
bool no_output_left(const fs::path& out) { return !fs::exists(out) && !fs::exists(out.string() + ".partial"); }

CommandResult python(const fs::path& dir, const std::string& name, const std::string& script) {
  const fs::path path = dir / (name + ".py");
  std::ofstream(path) << "import json, sys, math\n" << script;
  return run_command(system_python() + " " + path.string());
}

// f4 = p1 (1 - x)^p2 x^(-p3 - p4 ln x), integrated over a bin by Simpson's rule in x.
double f4_integral(double lo_GeV, double hi_GeV) {
  const double p1 = 1050, p2 = 10, p3 = 5, p4 = 0.2;
  const auto f = [&](double x) { return p1 * std::pow(1 - x, p2) * std::pow(x, -p3 - p4 * std::log(x)); };
  const double a = lo_GeV / 13000, b = hi_GeV / 13000;
  const int steps = 200;
  double sum = 0;
  for (int i = 0; i <= steps; ++i) sum += (i == 0 || i == steps ? 1 : i % 2 ? 4 : 2) * f(a + (b - a) * i / steps);
  return sum * (b - a) / steps / 3;
}

// 1-6 TeV in 50 bins of 100 GeV (~9e5 events), rounded expected counts, and a bump of
// 5 sqrt(b) spread 1:2:1 over 3000-3300 GeV. Returns the true background there.
double write_spectrum(const fs::path& path, double* signal = nullptr) {
  std::vector<double> counts;
  for (int i = 0; i < 50; ++i) counts.push_back(std::round(f4_integral(1000 + 100 * i, 1100 + 100 * i)));
  double b = 0;
  for (int i = 20; i < 23; ++i) b += counts[std::size_t(i)];
  const double s = std::round(5 * std::sqrt(b) / 4) * 4;
  counts[20] += s / 4, counts[21] += s / 2, counts[22] += s / 4;
  std::ofstream out(path);
  out << "lo,hi,count\n";
  for (int i = 0; i < 50; ++i) out << 1000 + 100 * i << "," << 1100 + 100 * i << "," << counts[std::size_t(i)] << "\n";
  if (signal) *signal = s;
  return b;
}

}  // namespace

TEST(Fit, KnownBumpInACsvSpectrum) {
  TempDir dir("fit-bump");
  const auto csv = dir / "spectrum.csv", json = dir / "fit.json", h5 = dir / "fit.h5";
  double s = 0;
  const double b = write_spectrum(csv, &s);
  auto r = run_command(bsmhunt_command(2) + " fit --input " + csv.string() + " --signal-region 3000,3300 --toys 20" +
                       " --seed 5 --output " + json.string() + " --output-h5 " + h5.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "signal region [GeV]")) << r.output;
  EXPECT_TRUE(contains(r.output, "3000-3300")) << r.output;
  EXPECT_TRUE(contains(r.output, "global p-value")) << r.output;
  EXPECT_FALSE(fs::exists(json.string() + ".partial"));
  const std::string check = "B, S, JSON, H5 = " + std::to_string(b) + ", " + std::to_string(s) + ", '" + json.string() +
                            "', '" + h5.string() + "'\n" + R"(
import numpy as np, h5py
d = json.load(open(JSON))
assert d['format'] == 'bsmhunt-fit' and d['conventions']['chi2'] == 'pearson', d['conventions']
assert d['spectrum']['bins'] == 50 and len(d['spectrum']['edges']) == 51
r = d['signal_regions'][0]
assert (r['lo_GeV'], r['hi_GeV'], r['first_bin'], r['end_bin']) == (3000, 3300, 20, 23), r
f = r['fit']
assert f['accepted'] and f['function'] in ('f3', 'f4', 'fexp'), (f['function'], f['attempts'])
k = len(f['parameters'])
assert len(f['errors']) == k and len(f['covariance']) == k and all(len(row) == k for row in f['covariance'])
assert f['ndf'] == 47 - k and f['pvalue'] > 0.05 and f['fit_bins'] == 47, (f['ndf'], f['pvalue'])
assert f['in_fit'][20:23] == [0, 0, 0] and sum(f['in_fit']) == 47
assert len(f['expected']) == len(f['pulls']) == len(f['expected_error']) == 50
assert r['observed'] == round(B) + S or abs(r['observed'] - B - S) < 3, (r['observed'], B, S)
# The prediction: the true background within the fit error (and rounding of the counts).
assert abs(r['expected'] - B) < 3 * r['expected_error'] + 3, (r['expected'], r['expected_error'], B)
naive = S / math.sqrt(B)
assert abs(r['z_local_stat'] - naive) < 0.2 * naive, (r['z_local_stat'], naive)
assert 3 < r['z_local'] <= r['z_local_stat'], (r['z_local'], r['z_local_stat'])
assert d['max_local_z'] == r['z_local']
g = d['global']
assert g['toys'] == 20 and g['failed'] == 0 and g['at_or_above'] == 0 and g['z_is_lower_bound'], g
bo = d['background_only']
assert bo['fit_bins'] == 50 and sum(bo['in_fit']) == 50
with h5py.File(H5) as h:
    assert h.attrs['format'] == 'bsmhunt-fit-bins'
    assert np.array_equal(h['edges'][()], d['spectrum']['edges'])
    assert np.array_equal(h['observed'][()], d['spectrum']['counts'])
    assert np.allclose(h['region_0/expected'][()], f['expected'], rtol=1e-15, atol=0)
    assert np.allclose(h['background_only/pull'][()], bo['pulls'], rtol=1e-15, atol=0)
print('ok', f['function'], r['z_local'], r['z_local_stat'], naive)
)";
  auto py = python(dir.path(), "check", check);
  EXPECT_EQ(py.exit_code, 0) << py.output;
  EXPECT_TRUE(contains(py.output, "ok")) << py.output;
}

TEST(Fit, SameResultForOneAndThreeRanksAndForHdf5Input) {
  TempDir dir("fit-ranks");
  const auto csv = dir / "spectrum.csv", h5in = dir / "spectrum.h5";
  write_spectrum(csv);
  const std::string args = " --scan-bins 3 --min-sideband-bins 2 --toys 9 --seed 3 --output ";
  auto one = run_command(serial() + " fit --input " + csv.string() + args + (dir / "one.json").string());
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto three = run_command(bsmhunt_command(3) + " fit --input " + csv.string() + args + (dir / "three.json").string());
  ASSERT_EQ(three.exit_code, 0) << three.output;
  const std::string a = read_file(dir / "one.json"), b = read_file(dir / "three.json");
  EXPECT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "1 and 3 ranks give different results";
  EXPECT_TRUE(contains(a, "\"toys\": 9")) << a.substr(0, 400);

  // The same spectrum as HDF5 (h5py: edges and integer counts) gives the same numbers.
  auto made = python(dir.path(), "to_h5", "CSV, H5 = '" + csv.string() + "', '" + h5in.string() + "'\n" + R"(
import numpy as np, h5py
t = np.loadtxt(CSV, delimiter=',', skiprows=1)
with h5py.File(H5, 'w') as f:
    f['edges'] = np.append(t[:, 0], t[-1, 1])
    f['counts'] = t[:, 2].astype(np.int64)
)");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  auto h5run = run_command(serial() + " fit " + h5in.string() + args + (dir / "h5.json").string());
  ASSERT_EQ(h5run.exit_code, 0) << h5run.output;
  auto same = python(dir.path(), "compare", "A, B = '" + (dir / "one.json").string() + "', '" +
                                                (dir / "h5.json").string() + "'\n" + R"(
a, b = json.load(open(A)), json.load(open(B))
del a['input'], b['input']
assert a == b
print('same')
)");
  EXPECT_EQ(same.exit_code, 0) << same.output;
}

TEST(Fit, BadInputIsOneErrorAndNoFile) {
  TempDir dir("fit-bad");
  const auto good = dir / "good.csv";
  write_spectrum(good);
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  const std::string header = "lo,hi,count\n", rows = "1000,1100,500\n1100,1200,400\n1200,1300,300\n";
  const auto word = write("word.csv", header + rows + "1300,1400,abc\n");
  const auto overlap = write("overlap.csv", header + rows + "1250,1400,200\n");
  const auto gap = write("gap.csv", header + rows + "1350,1400,200\n");
  const auto short_row = write("short.csv", "# a comment\n" + header + rows + "1300,1400\n");
  const auto no_header = write("noheader.csv", rows);
  const auto negative = write("negative.csv", header + rows + "1300,1400,-5\n");
  const auto wrong_header = write("columns.csv", "begin,end,count\n" + rows);
  const auto tiny = write("tiny.csv", header + rows + "1300,1400,200\n1400,1500,100\n");
  // 30 bins of 100 GeV from 1 TeV: counts only in the signal region; one event at each end.
  std::string empty_sidebands = header, two_events = header;
  for (int i = 0; i < 30; ++i) {
    const std::string bin = std::to_string(1000 + 100 * i) + "," + std::to_string(1100 + 100 * i) + ",";
    empty_sidebands += bin + (i >= 20 && i < 23 ? "100\n" : "0\n");
    two_events += bin + (i == 0 || i == 29 ? "1\n" : "0\n");
  }
  const auto no_sideband_events = write("sr_only.csv", empty_sidebands);
  const auto unfittable = write("two_events.csv", two_events);
  // HDF5 spectra (docs/fit.md): 'edges' (bins + 1) and 'counts' (bins).
  const auto h5 = run_command(python_script(dir.path(), "spectra", R"(
d = sys.argv[1]
with h5py.File(d + '/noedges.h5', 'w') as f: f['counts'] = [1.0, 2.0]
with h5py.File(d + '/nocounts.h5', 'w') as f: f['edges'] = [1000.0, 1100.0, 1200.0]
with h5py.File(d + '/sizes.h5', 'w') as f: f['edges'] = [1000.0, 1100.0, 1200.0, 1300.0, 1400.0]; f['counts'] = [5.0, 4.0, 3.0]
)") + " " + dir.path().string());
  ASSERT_EQ(h5.exit_code, 0) << h5.output;
  const auto out = dir / "fit.json";
  const std::string o = " --output " + out.string();
  const std::string sr = " --signal-region 3000,3300";
  struct Case {
    std::string args;
    std::vector<std::string> expected;
    bool two_ranks = false;
    bool one_line = true;  // false: the message lists the attempts, one per line
  };
  const std::vector<Case> cases = {
      {" fit --input " + (dir / "nothere.csv").string() + sr + o, {"nothere.csv: no such file"}, true},
      {" fit --input " + word + o, {"word.csv:5: column 'count': 'abc' is not a finite number"}, true},
      {" fit --input " + overlap + o, {"overlap.csv:5: the bin starting at 1250 GeV overlaps the previous bin"}},
      {" fit --input " + gap + o, {"gap.csv:5: the bin starting at 1350 GeV leaves a gap"}},
      {" fit --input " + short_row + o, {"short.csv:6: expected 3 comma-separated values like the header, found 2"}},
      {" fit --input " + no_header + o, {"noheader.csv:1: expected a header line naming the columns lo,hi,count"}},
      {" fit --input " + negative + o, {"negative.csv:5: count -5 is negative"}},
      {" fit --input " + wrong_header + o, {"columns.csv:1: the header has no column 'lo' (columns: begin, end, count); accepted: the edges"}},
      {" fit --input " + tiny + " --signal-region 1100,1400" + o, {"too few sideband bins"}, true},
      {" fit --input " + good.string() + " --signal-region 3050,3300" + o,
       {"signal region 3050-3300 GeV: 3050 GeV is not a bin edge (nearest edges 3000 and 3100 GeV)"}},
      {" fit --input " + good.string() + " --signal-region 500,1300" + o, {"lies outside the spectrum 1000-6000 GeV"}},
      {" fit --input " + good.string() + " --signal-region 3300" + o, {"expected LO,HI in GeV"}},
      {" fit --input " + good.string() + sr + " --functions f3,f6" + o, {"unknown dijet function 'f6'"}},
      {" fit --input " + good.string() + sr + " --sqrt-s-GeV 5000" + o, {"outside (0, sqrt(s) = 5000 GeV)"}},
      {" fit --input " + good.string() + " --toys 10" + o, {"--toys needs signal regions"}},
      {" fit --input " + good.string() + sr, {"--output RESULT.json is required"}},
      {" fit --input " + (dir / "noedges.h5").string() + o,
       {"noedges.h5: no dataset 'edges' (bins + 1 bin edges in GeV); a spectrum file holds"}, true},
      {" fit --input " + (dir / "nocounts.h5").string() + o, {"nocounts.h5: no dataset 'counts'"}},
      {" fit --input " + (dir / "sizes.h5").string() + o,
       {"sizes.h5: 'edges' has 5 values for 3 'counts' (expected bins + 1 = 4)"}},
      {" fit --input " + no_sideband_events + " --signal-region 3000,3300" + o,
       {"the sidebands hold no events (every count outside the signal region is 0)"}, true},
      {" fit --input " + unfittable + " --signal-region 3000,3300" + o,
       {"no sideband fit converged (3 attempts):", "f3 did not converge in 1000-4000 GeV"}, true, false},
  };
  for (const auto& c : cases) {
    for (int ranks : {1, 2}) {
      if (ranks == 2 && !c.two_ranks) continue;
      auto r = run_command((ranks == 1 ? serial() : bsmhunt_command(ranks)) + c.args);
      EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
      for (const auto& e : c.expected)
        EXPECT_TRUE(contains(r.output, e)) << c.args << "\nexpected: " << e << "\n" << r.output;
      if (ranks == 1 && c.one_line) {
        EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
      }
      EXPECT_FALSE(contains(r.output, "[rank 1]")) << r.output;
      EXPECT_TRUE(no_output_left(out)) << c.args;
    }
  }
  // An existing result is kept unless --overwrite.
  std::ofstream(out) << "old";
  auto kept = run_command(serial() + " fit --input " + good.string() + sr + o);
  EXPECT_EQ(kept.exit_code, 2) << kept.output;
  EXPECT_TRUE(contains(kept.output, "file exists; pass --overwrite")) << kept.output;
  EXPECT_EQ(read_file(out), "old");
  auto replaced = run_command(serial() + " fit --input " + good.string() + sr + o + " --overwrite");
  EXPECT_EQ(replaced.exit_code, 0) << replaced.output;
  EXPECT_TRUE(contains(read_file(out), "bsmhunt-fit"));
}

TEST(Fit, HelpListsOptionsWithDefaults) {
  auto r = run_command(serial() + " fit --help");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* opt : {"--input", "--signal-region", "--functions arg (=f3,f4,fexp)", "--pvalue-threshold arg (=0.05)",
                          "--toys arg (=0)", "--seed arg (=1)", "--sqrt-s-GeV arg (=13000)", "--output-h5",
                          "--scan-bins arg (=0)", "--reduce-range", "--starts arg (=3)"})
    EXPECT_TRUE(contains(r.output, opt)) << opt << "\n" << r.output;
  auto top = run_command(serial() + " --help");
  EXPECT_TRUE(contains(top.output, "fit")) << top.output;
}

TEST(Fit, SpectrumFromTheMassColumnOfAFeatureFileMatchesNumpyOnAnyRankCount) {
  TempDir dir("fit-rows");
  const fs::path events = dir / "events.h5", features = dir / "features.h5";
  auto g = run_command(bsmhunt_command(2) + " generate --channel dijet --events 50000 --signal-events 2000 --lumi-ifb 20"
                       " --data-lumi-ifb full --seed 4 --summary false --output " + events.string());
  ASSERT_EQ(g.exit_code, 0) << g.output;
  auto e = run_command(bsmhunt_command(2) + " extract --mjj-min 2750 --input " + events.string() + " --output " +
                       features.string());
  ASSERT_EQ(e.exit_code, 0) << e.output;
  const std::string args = " --input " + features.string() + " --mass-bins log:2750:5500:11 --select 'mj1 > 50'" +
                           " --scan-bins 3 --min-sideband-bins 2";
  std::string first;
  for (int ranks : {1, 2, 3}) {
    const fs::path out = dir / ("rows" + std::to_string(ranks) + ".json");
    auto r = run_command((ranks == 1 ? serial() : bsmhunt_command(ranks)) + " fit" + args + " --output " + out.string() +
                         " --output-h5 " + (dir / ("rows" + std::to_string(ranks) + ".h5")).string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "samples: data, mj1 > 50")) << r.output;
    std::string text = read_file(out);
    text = text.substr(0, text.find("\"fit_seconds\""));  // timings differ
    if (ranks == 1) first = text;
    else EXPECT_EQ(text, first) << ranks << " ranks";
  }
  // The counts are the data events with mj1 > 50 GeV per mass bin, counted by numpy.
  auto check = python(dir.path(), "rows_check", "F, H = '" + features.string() + "', '" + (dir / "rows1.h5").string() +
                                                    "'\n" + R"(
import numpy as np, h5py
f, h = h5py.File(F, 'r'), h5py.File(H, 'r')
names = [n.decode() for n in f['feature_names'][:]]
roles = [f['samples'][n.decode()].attrs['role'] for n in f['sample_names'][:]]
roles = np.array([r.decode() if isinstance(r, bytes) else r for r in roles])
keep = (roles[f['sample_index'][:]] == 'data') & (f['features'][:, names.index('mj1')] > 50)
edges = h['edges'][:]
counts = np.histogram(f['mass'][:][keep], edges)[0]
assert counts.sum() > 1000 and np.array_equal(counts, h['observed'][:]), (counts, h['observed'][:])
print('ok')
)");
  EXPECT_EQ(check.exit_code, 0) << check.output;
  // Bad: no --mass-bins, a sample pattern matching nothing, --mass-bins on a CSV spectrum.
  const fs::path bad = dir / "bad.json";
  for (const auto& [extra, expect] :
       {std::pair<std::string, std::string>{" --input " + features.string(), "give --mass-bins"},
        {" --input " + features.string() + " --mass-bins 3000:4000:4 --samples 'nothing_*'", "matches no sample"},
        {" --input " + features.string() + " --mass-bins 3000:4000:4 --select 'mj9 > 1'", "unknown feature 'mj9'"}}) {
    auto r = run_command(serial() + " fit" + extra + " --signal-region 3250,3500 --output " + bad.string());
    EXPECT_EQ(r.exit_code, 2) << extra << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, expect)) << extra << "\n" << r.output;
    EXPECT_TRUE(no_output_left(bad));
  }
  const auto csv = dir / "spectrum.csv";
  write_spectrum(csv);
  auto r = run_command(serial() + " fit --input " + csv.string() + " --mass-bins 1000:2000:10 --output " + bad.string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "apply to a feature or score file")) << r.output;
}
