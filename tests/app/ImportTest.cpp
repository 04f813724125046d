// End-to-end tests of `bsmhunt import`: tables written by the real libraries
// (Debian's python3-pandas and python3-h5py) and CSV files, imported with 1 and 2
// ranks, checked value by value in Python.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/TestFiles.hpp"

using namespace bsmhunt::test;
namespace fs = std::filesystem;

namespace {

// Runs a Python script (written to a file in `dir`) with the system Python. The
// name must not shadow a module the script imports (the script's folder comes
// first on sys.path).
CommandResult python(const TempDir& dir, const std::string& name, const std::string& script) {
  const fs::path path = dir / (name + ".py");
  std::ofstream(path) << "import numpy as np, h5py\n" << script;
  return run_command(system_python() + " " + path.string());
}

CommandResult h5compare(const fs::path& a, const fs::path& b) {
  return run_command(system_python() + " " + source_dir() + "/tools/h5compare " + a.string() + " " + b.string());
}

bool no_output_left(const fs::path& out) { return !fs::exists(out) && !fs::exists(out.string() + ".partial"); }


// A HiggsML-2014-like table: EventId, features with -999.0 where undefined,
// Weight, Label s/b. Values printed with the file's precision and some with
// full float64 precision (to exercise rounding to float32).
const char* kHiggsScript = R"(
import csv, sys
rng = np.random.default_rng(7)
n = 1500
rows = []
for i in range(n):
    s = rng.random() < 0.35
    jets = int(rng.integers(0, 4))
    mmc = -999.0 if rng.random() < 0.15 else float(rng.normal(125 if s else 90, 20))
    tau = float(rng.exponential(40)) + 20
    lead = float(rng.exponential(60)) + 30 if jets > 0 else -999.0
    w = float(rng.random() * (0.002 if s else 2.0))
    rows.append([100000 + i, '%.3f' % mmc if i % 3 else repr(mmc), '%.3f' % tau, jets,
                 '%.3f' % lead if i % 5 else repr(lead), repr(w), 's' if s else 'b'])
with open(sys.argv[1] if len(sys.argv) > 1 else OUT, 'w', newline='') as f:
    wr = csv.writer(f)
    wr.writerow(['EventId', 'DER_mass_MMC', 'PRI_tau_pt', 'PRI_jet_num', 'PRI_jet_leading_pt', 'Weight', 'Label'])
    wr.writerows(rows)
)";

// Reads the CSV back with Python's own float() for the expected values.
const char* kReadCsv = R"(
import csv
with open(CSV) as fh:
    r = list(csv.reader(fh))
head, body = r[0], r[1:]
col = {h: i for i, h in enumerate(head)}
src = {h: np.array([float(x[col[h]]) for x in body]) for h in head if h != 'Label'}
lab = np.array([x[col['Label']] == 's' for x in body])
f = h5py.File(OUTFILE, 'r')
names = [x.decode() for x in f['feature_names'][:]]
X = f['features'][:]
cuts = [x.decode() for x in f['cutflow/cuts'][:]]
samples = [x.decode() for x in f['sample_names'][:]]
)";

}  // namespace

TEST(Import, PandasMixedDtypesExactAndSameForOneAndTwoRanks) {
  TempDir dir("import-pandas");
  const auto table = dir / "frame.h5";
  auto made = python(dir, "make", R"(
import pandas as pd
rng = np.random.default_rng(3)
n = 1000
df = pd.DataFrame({
    'met': rng.normal(100, 40, n),                                   # float64: rounds to float32
    'lep_eta': rng.normal(0, 1.2, n).astype(np.float32),             # float32: exact
    'n_jets': rng.integers(0, 9, n),                                 # int64
    'big_int': rng.integers(-(1 << 40), 1 << 40, n),                 # int64 beyond float32 precision
    'has_b': rng.random(n) < 0.3,                                    # bool
    'tiny': rng.normal(0, 1e-30, n),                                 # float64 near float32's limits
    'mjj': rng.uniform(500, 3000, n).astype(np.float32),
    'is_signal': (rng.random(n) < 0.4).astype(np.int64),
    'w': rng.normal(1, 0.5, n),                                      # negative weights kept
})
df.to_hdf(')" + table.string() + R"(', key='events')
print('ok')
)");
  ASSERT_EQ(made.exit_code, 0) << made.output;

  const std::string args = " import --input " + table.string() +
                           " --format pandas --label-column is_signal --weight-column w --mass-column mjj"
                           " --block-rows 97 --output ";
  const auto one = dir / "one.h5", two = dir / "two.h5";
  auto r1 = run_command(bsmhunt_command(1) + args + one.string());
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  auto r2 = run_command(bsmhunt_command(2) + args + two.string());
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  auto cmp = h5compare(one, two);
  EXPECT_EQ(cmp.exit_code, 0) << cmp.output;
  EXPECT_TRUE(contains(cmp.output, "identical")) << cmp.output;

  auto check = python(dir, "check", R"(
import pandas as pd
df = pd.read_hdf(')" + table.string() + R"(', 'events')
f = h5py.File(')" + one.string() + R"(', 'r')
assert f.attrs['format'] == 'bsmhunt.features'
names = [x.decode() for x in f['feature_names'][:]]
assert names == ['met', 'lep_eta', 'n_jets', 'big_int', 'has_b', 'tiny'], names
X = f['features'][:]
assert X.dtype == np.float32 and X.shape == (len(df), 6)
for j, c in enumerate(names):
    assert np.array_equal(X[:, j], np.float32(df[c].values)), c
assert np.array_equal(f['label'][:], df['is_signal'].values)
assert f['weight'].dtype == np.float64 and np.array_equal(f['weight'][:], df['w'].values)
assert np.array_equal(f['mass'][:], df['mjj'].values)
assert np.array_equal(f['event_number'][:], np.arange(len(df)))
assert [x.decode() for x in f['sample_names'][:]] == ['background', 'signal']
assert f['samples/signal'].attrs['role'] == 'signal' and f['samples/background'].attrs['role'] == 'background'
assert np.array_equal(f['sample_index'][:], df['is_signal'].values)
sig = df['is_signal'].values == 1
assert f['samples/signal'].attrs['n_events'] == sig.sum()
assert np.isclose(f['samples/signal'].attrs['sum_of_weights'], df['w'].values[sig].sum())
assert [x.decode() for x in f['cutflow/cuts'][:]] == ['all', 'finite']
assert np.array_equal(f['cutflow/raw'][:], [[(~sig).sum()] * 2, [sig.sum()] * 2])
split = f['split'][:]
assert set(np.unique(split)) <= {0, 1, 2} and 0.5 < np.mean(split == 0) < 0.7
train = X[split == 0].astype(np.float64)
assert np.allclose(f['normalization/mean'][:], train.mean(axis=0), rtol=1e-9, atol=1e-40)
assert np.allclose(f['normalization/std'][:], train.std(axis=0), rtol=1e-7, atol=1e-40)
assert f['normalization'].attrs['count'] == (split == 0).sum()
print('checked')
)");
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_TRUE(contains(check.output, "checked")) << check.output;
}

TEST(Import, H5pyColumnsWithSampleColumn) {
  TempDir dir("import-h5py");
  const auto table = dir / "columns.h5";
  auto made = python(dir, "make", R"(
rng = np.random.default_rng(5)
n = 777
with h5py.File(')" + table.string() + R"(', 'w') as f:
    g = f.create_group('tree')
    g['pt'] = rng.exponential(50, n).astype(np.float32)
    g['eta'] = rng.normal(0, 2, n)
    g['njet'] = rng.integers(0, 5, n).astype(np.int32)
    g['is_b'] = rng.random(n) < 0.5
    procs = np.array(['ttbar', 'zz', 'zprime_500'])[rng.integers(0, 3, n)]
    procs[0] = 'zz'
    g['process'] = procs.astype(h5py.string_dtype())
    g['evt'] = (np.arange(n, dtype=np.uint64) * 7 + 11)
    f['other'] = np.zeros(3)
print('ok')
)");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const std::string args = " import " + table.string() +
                           " --key tree --sample-column process --signal-samples zprime_500 --event-column evt"
                           " --block-rows 50 --output ";
  const auto one = dir / "one.h5", two = dir / "two.h5";
  auto r1 = run_command(bsmhunt_command(1) + args + one.string());
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  EXPECT_TRUE(contains(r1.output, "h5py format")) << r1.output;  // auto-detected
  auto r2 = run_command(bsmhunt_command(2) + args + two.string());
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  auto cmp = h5compare(one, two);
  EXPECT_EQ(cmp.exit_code, 0) << cmp.output;

  auto check = python(dir, "check", R"(
src = h5py.File(')" + table.string() + R"(', 'r')['tree']
f = h5py.File(')" + one.string() + R"(', 'r')
names = [x.decode() for x in f['feature_names'][:]]
assert names == [k for k in src.keys() if k not in ('process', 'evt')], names  # h5py's (name) order
assert sorted(names) == ['eta', 'is_b', 'njet', 'pt'], names
X = f['features'][:]
for j, c in enumerate(names):
    assert np.array_equal(X[:, j], np.float32(src[c][:])), c
procs = np.array([p.decode() for p in src['process'][:]])
samples = [x.decode() for x in f['sample_names'][:]]
assert samples[0] == 'zz' and sorted(samples) == ['ttbar', 'zprime_500', 'zz'], samples
assert [samples[i] for i in f['sample_index'][:]] == list(procs)
assert np.array_equal(f['label'][:], (procs == 'zprime_500').astype(np.int32))
assert f['samples/zprime_500'].attrs['role'] == 'signal' and f['samples/ttbar'].attrs['role'] == 'background'
assert np.array_equal(f['event_number'][:], src['evt'][:])
assert np.all(f['weight'][:] == 1.0)
print('checked')
)");
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_TRUE(contains(check.output, "checked")) << check.output;
}

TEST(Import, HiggsMlCsvWithPaddingPolicies) {
  TempDir dir("import-csv");
  const auto csv = dir / "atlas-higgs.csv";
  auto made = python(dir, "make", std::string("OUT = '") + csv.string() + "'\n" + kHiggsScript);
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const std::string base =
      " import --input " + csv.string() + " --format csv --event-column EventId --block-rows 128 --output ";

  // sentinel (default 10): values exact, -999 replaced, Weight and Label mapped.
  const auto sentinel = dir / "sentinel.h5";
  auto r = run_command(bsmhunt_command(2) + base + sentinel.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto check =
      python(dir, "sentinel", "CSV = '" + csv.string() + "'\nOUTFILE = '" + sentinel.string() + "'\n" + kReadCsv + R"(
feats = ['DER_mass_MMC', 'PRI_tau_pt', 'PRI_jet_num', 'PRI_jet_leading_pt']
assert names == feats, names
for j, c in enumerate(feats):
    expect = np.where(src[c] == -999.0, np.float32(10), np.float32(src[c]))
    assert np.array_equal(X[:, j], expect), c
assert np.any(src['DER_mass_MMC'] == -999.0) and np.any(src['PRI_jet_leading_pt'] == -999.0)
assert np.array_equal(f['weight'][:], src['Weight'])
assert np.array_equal(f['label'][:], lab.astype(np.int32))
assert np.array_equal(f['event_number'][:], src['EventId'].astype(np.uint64))
assert cuts == ['all', 'finite'] and samples == ['background', 'signal']
assert np.array_equal(f['cutflow/raw'][:], [[(~lab).sum()] * 2, [lab.sum()] * 2])
assert np.allclose(f['cutflow/weighted'][:, 0], [src['Weight'][~lab].sum(), src['Weight'][lab].sum()])
print('checked')
)");
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_TRUE(contains(check.output, "checked")) << check.output;

  // mean: the mean of the present float32 training values, identical for 1 and 2 ranks.
  const auto mean1 = dir / "mean1.h5", mean2 = dir / "mean2.h5";
  r = run_command(bsmhunt_command(1) + base + mean1.string() + " --padding mean");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(bsmhunt_command(2) + base + mean2.string() + " --padding mean");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto cmp = h5compare(mean1, mean2);
  EXPECT_EQ(cmp.exit_code, 0) << cmp.output;
  check = python(dir, "mean", "CSV = '" + csv.string() + "'\nOUTFILE = '" + mean1.string() + "'\n" + kReadCsv + R"(
train = f['split'][:] == 0
for j, c in enumerate(names):
    miss = src[c] == -999.0
    present = np.float32(src[c])
    assert np.array_equal(X[~miss, j], present[~miss]), c
    if miss.any():
        m = present[~miss & train].astype(np.float64).mean()
        assert np.all(X[miss, j] == X[miss, j][0]), c
        assert np.isclose(X[miss, j][0], m, rtol=1e-6), (c, X[miss, j][0], m)
print('checked')
)");
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_TRUE(contains(check.output, "checked")) << check.output;

  // drop-event: rows with a missing feature are dropped and counted per sample.
  const auto drop1 = dir / "drop1.h5", drop2 = dir / "drop2.h5";
  r = run_command(bsmhunt_command(1) + base + drop1.string() + " --padding drop-event");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(bsmhunt_command(2) + base + drop2.string() + " --padding drop-event");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  cmp = h5compare(drop1, drop2);
  EXPECT_EQ(cmp.exit_code, 0) << cmp.output;
  check = python(dir, "drop", "CSV = '" + csv.string() + "'\nOUTFILE = '" + drop1.string() + "'\n" + kReadCsv + R"(
feats = ['DER_mass_MMC', 'PRI_tau_pt', 'PRI_jet_num', 'PRI_jet_leading_pt']
keep = np.all([src[c] != -999.0 for c in feats], axis=0)
assert 0 < keep.sum() < len(keep)
assert cuts == ['all', 'finite', 'no missing'], cuts
for j, c in enumerate(feats):
    assert np.array_equal(X[:, j], np.float32(src[c][keep])), c
assert np.array_equal(f['event_number'][:], src['EventId'][keep].astype(np.uint64))
raw = f['cutflow/raw'][:]
assert np.array_equal(raw[0], [(~lab).sum(), (~lab).sum(), (~lab & keep).sum()]), raw
assert np.array_equal(raw[1], [lab.sum(), lab.sum(), (lab & keep).sum()]), raw
assert np.isclose(f['cutflow/weighted'][1, 2], src['Weight'][lab & keep].sum())
assert f['samples/signal'].attrs['n_events'] == (lab & keep).sum()
print('checked')
)");
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_TRUE(contains(check.output, "checked")) << check.output;

  // drop-feature: features ever missing are left out.
  const auto dropf = dir / "dropf.h5";
  r = run_command(bsmhunt_command(2) + base + dropf.string() + " --padding drop-feature");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  check = python(dir, "dropf", "f = h5py.File('" + dropf.string() + "', 'r')\n" + R"(
names = [x.decode() for x in f['feature_names'][:]]
assert names == ['PRI_tau_pt', 'PRI_jet_num'], names
print('checked')
)");
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

TEST(Import, NonFiniteValuesErrorOrDropped) {
  TempDir dir("import-nan");
  const auto table = dir / "nan.h5";
  auto made = python(dir, "make", R"(
import pandas as pd
n = 300
x = np.linspace(0, 1, n)
y = np.linspace(5, 6, n)
y[123] = np.nan
y[200] = np.inf
df = pd.DataFrame({'x': x, 'y': y, 'label': (np.arange(n) % 2).astype(np.int8)})
df.to_hdf(')" + table.string() + R"(', key='t')
)");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const auto out = dir / "out.h5";
  for (int ranks : {1, 2}) {
    auto r = run_command(bsmhunt_command(ranks) + " import --input " + table.string() + " --block-rows 40 --output " +
                         out.string());
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "column 'y', row 123: value nan is not finite")) << r.output;
    EXPECT_TRUE(contains(r.output, "--on-nonfinite drop")) << r.output;
    EXPECT_TRUE(no_output_left(out));
  }
  auto r = run_command(bsmhunt_command(2) + " import --input " + table.string() +
                       " --block-rows 40 --on-nonfinite drop --output " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto check = python(dir, "check", "f = h5py.File('" + out.string() + "', 'r')\n" + R"(
assert [x.decode() for x in f['cutflow/cuts'][:]] == ['all', 'finite']
raw = f['cutflow/raw'][:]
assert np.array_equal(raw, [[150, 149], [150, 149]]), raw   # row 123 is odd (signal), 200 even
assert len(f['features']) == 298 and 123 not in f['event_number'][:] and 200 not in f['event_number'][:]
print('checked')
)");
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

TEST(Import, BadInputIsOneErrorAndNoFile) {
  TempDir dir("import-bad");
  const auto csv = dir / "higgs.csv";
  auto made = python(dir, "make", std::string("OUT = '") + csv.string() + "'\n" + kHiggsScript);
  ASSERT_EQ(made.exit_code, 0) << made.output;
  // Small hand-made CSVs: the bad line is late so that rank 1 meets it with 2 ranks.
  const std::string header = "EventId,DER_mass_MMC,PRI_tau_pt,Weight,Label\n";
  std::string good_rows;
  for (int i = 0; i < 20; ++i) good_rows += std::to_string(100 + i) + ",12.5,40.25,0.5," + (i % 2 ? "s" : "b") + "\n";
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  const auto short_row = write("short.csv", header + good_rows + "200,1.0,2.0,s\n" + good_rows);
  const auto not_number = write("word.csv", header + good_rows + "201,1.0,abc,0.5,b\n");
  const auto bad_label = write("label.csv", header + good_rows + "202,1.0,2.0,0.5,x\n");
  auto py = python(dir, "bad_inputs",
                   R"(
import pandas as pd
n = 50
pd.DataFrame({'a': np.arange(n, dtype=float), 'Label': ['s', 'b'] * 25}).to_hdf(')" +
                       (dir / "object.h5").string() + R"(', key='df')
pd.DataFrame({'a': np.arange(n, dtype=float), 'label': [0, 1] * 25}).to_hdf(')" +
                       (dir / "two.h5").string() +
                       R"(', key='first')
pd.DataFrame({'b': np.arange(n, dtype=float), 'label': [0, 1] * 25}).to_hdf(')" +
                       (dir / "two.h5").string() +
                       R"(', key='second')
with h5py.File(')" + (dir / "matrix.h5").string() +
                       R"(', 'w') as f:
    f['a'] = np.arange(n, dtype=float)
    f['label'] = np.arange(n) % 2
    f['jets'] = np.zeros((n, 4))
with h5py.File(')" + (dir / "ragged.h5").string() +
                       R"(', 'w') as f:
    f['a'] = np.arange(n, dtype=float)
    f['label'] = np.arange(n + 1) % 2
)");
  ASSERT_EQ(py.exit_code, 0) << py.output;

  const auto out = dir / "features.h5";
  const std::string o = " --block-rows 4 --output " + out.string();
  // Every case runs without mpirun (a singleton MPI process: mpirun adds ~2 s to
  // a failing run); those whose error is found in the data run with 2 ranks too,
  // where rank 1 meets the bad row and rank 0 must report it.
  struct Case {
    std::string args;
    std::vector<std::string> expected;
    bool two_ranks = false;
  };
  const std::string higgs = " import --input " + csv.string() + " --event-column EventId";
  const std::vector<Case> cases = {
      {higgs + " --label-column Lable" + o, {"no column 'Lable'", "did you mean 'Label'", "EventId, DER_mass_MMC"}},
      {higgs + " --features DER_mass_MMC,PRI_tau_ptt" + o, {"no column 'PRI_tau_ptt'", "did you mean 'PRI_tau_pt'"}},
      {" import --input " + short_row + o, {"short.csv: line 22 has 4 cells, but the header (line 1) names 5"}, true},
      {" import --input " + not_number + o,
       {"word.csv: line 22, column 'PRI_tau_pt' (3rd column): 'abc' is not a number"},
       true},
      {" import --input " + bad_label + o,
       {"column 'Label', line 22: label 'x' is neither signal nor background"},
       true},
      {higgs + " --format parquet" + o, {"--format 'parquet'", "expected auto, pandas, h5py or csv"}},
      {higgs + " --format pandas" + o, {"not an HDF5 file"}},
      {higgs + " --padding avg" + o, {"--padding 'avg'"}},
      {higgs + " --on-nonfinite skip" + o, {"--on-nonfinite 'skip'"}},
      {higgs + " --split 0.9,0.3" + o, {"--split '0.9,0.3'"}},
      {higgs + " --weight-column Label" + o, {"--weight-column column 'Label' holds text"}},
      {higgs + " --signal-samples x" + o, {"--signal-samples needs --sample-column"}},
      {" import --input " + (dir / "object.h5").string() + o,
       {"column 'Label' (object) cannot be read", "pickled"},
       true},
      {" import --input " + (dir / "two.h5").string() + o, {"2 pandas objects (first, second): choose one with --key"}},
      {" import --input " + (dir / "two.h5").string() + " --key thrid" + o, {"no key 'thrid'", "first, second"}},
      {" import --input " + (dir / "matrix.h5").string() + " --features a,jets" + o,
       {"column 'jets' (float64) cannot be read: shape [50, 4]"}},
      {" import --input " + (dir / "ragged.h5").string() + o, {"label: 51 rows, but 'a' has 50"}, true},
      {" import --input " + (dir / "nothere.csv").string() + o, {"nothere.csv: no such file"}},
      {" import --input " + csv.string(), {"--output FILE is required"}},
  };
  for (const auto& c : cases) {
    for (int ranks : {1, 2}) {
      if (ranks == 2 && !c.two_ranks) continue;
      auto r = run_command((ranks == 1 ? std::string(BSMHUNT_BINARY) : bsmhunt_command(ranks)) + c.args);
      EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
      for (const auto& e : c.expected)
        EXPECT_TRUE(contains(r.output, e)) << c.args << "\nexpected: " << e << "\n" << r.output;
      EXPECT_FALSE(contains(r.output, "[rank 1]")) << r.output;  // one message, from rank 0
      EXPECT_TRUE(no_output_left(out)) << c.args;
    }
  }
}

TEST(Import, HelpListsOptionsWithDefaults) {
  auto r = run_command(std::string(BSMHUNT_BINARY) + " import --help");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* opt : {"--format arg (=auto)", "--label-column arg (=auto)", "--weight-column arg (=auto)",
                          "--signal-labels arg (=s,1)", "--missing-value arg (=-999)", "--padding arg (=sentinel)",
                          "--sentinel arg (=10)", "--on-nonfinite arg (=error)", "--split arg (=0.6,0.2)",
                          "--seed arg (=1)", "--mass-column", "--event-column", "--sample-column", "--signal-samples",
                          "--features", "--drop-columns", "--key", "--overwrite"})
    EXPECT_TRUE(contains(r.output, opt)) << opt << "\n" << r.output;
  auto top = run_command(std::string(BSMHUNT_BINARY) + " --help");
  EXPECT_TRUE(contains(top.output, "import")) << top.output;
}
