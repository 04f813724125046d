#!/usr/bin/env python3
"""The bad-input catalogue of docs/reliability.md (issue #19): every case is a command that
must be refused with exit code 2, a message that contains the given text (naming the file,
dataset, option or row and what was expected), and no output file or .partial left behind.

Usage: bad_input_catalogue.py BSMHUNT WORKDIR [--markdown]
  --markdown prints the table of cases with the message each gives (for docs/reliability.md).
"""
import os
import shutil
import subprocess
import sys

import h5py

BSMHUNT, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
MARKDOWN = "--markdown" in sys.argv
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")


def path(name):
    return os.path.join(WORK, name)


def bsmhunt(*args, ranks=1):
    cmd = ["mpirun", "-n", str(ranks), BSMHUNT, *args] if ranks > 1 else [BSMHUNT, *args]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300, cwd=WORK)
    return p.returncode, (p.stdout + p.stderr).strip()


def write(name, text, mode="w"):
    with open(path(name), mode) as f:
        f.write(text)
    return path(name)


def _datasets(f):
    names = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def fixtures():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    steps = [
        ("generate", "--channel", "dilepton_met", "--events", "4000", "--signal-events", "300", "--seed", "3",
         "--summary", "false", "--log-level", "warn", "--output", path("events.h5")),
        ("extract", "--input", path("events.h5"), "--log-level", "warn", "--output", path("features.h5")),
        ("train", "--features", path("features.h5"), "--model", "mlp", "--epochs", "1", "--hidden", "8",
         "--log-level", "warn", "--output", path("model.h5")),
        ("predict", "--model", path("model.h5"), "--features", path("features.h5"), "--log-level", "warn",
         "--output", path("scores.h5")),
        ("generate", "--channel", "dijet", "--events", "400", "--signal-events", "40", "--pseudo-data", "false",
         "--summary", "false", "--log-level", "warn", "--output", path("dijet_events.h5")),
        ("extract", "--input", path("dijet_events.h5"), "--log-level", "warn", "--output", path("dijet_features.h5")),
    ]
    for s in steps:
        code, out = bsmhunt(*s)
        if code != 0:
            sys.exit(f"fixture {' '.join(s[:1])} failed ({code}):\n{out}")
    with open(path("events.h5"), "rb") as f:
        data = f.read()
    write("truncated.h5", data[: len(data) // 3], "wb")
    write("text.h5", "this is not HDF5\n")
    write("empty.h5", "")
    write("table.csv", "a,b,label,weight\n1,2,1,0.5\n3,4,0,0.5\n")
    write("table_no_label.csv", "a,b,weight\n1,2,0.5\n3,4,0.5\n")
    write("table_ragged.csv", "a,b,label\n1,2,1\n3,0\n")
    write("table_text.csv", "a,b,label\n1,2,1\n3,x,0\n")
    write("table_nan_weight.csv", "a,label,weight\n1,1,0.5\n2,0,nan\n")
    write("spectrum.csv", "lo,hi,count\n1000,1100,50\n1100,1200,40\n1200,1300,30\n")
    write("spectrum_text.csv", "lo,hi,count\n1000,1100,50\n1100,1200,forty\n")
    write("spectrum_backwards.csv", "lo,hi,count\n1100,1200,50\n1000,1100,40\n")
    write("spectrum_negative.csv", "lo,hi,count\n1000,1100,50\n1100,1200,-4\n")
    write("job_unknown_section.ini", "[job]\nname = x\n[generat]\nevents = 10\n")
    write("job_unknown_key.ini", "[generate]\nevnets = 10\n")
    write("job_bad_value.ini", "[generate]\nevents = many\n")
    write("job_no_stages.ini", "[job]\nname = nothing\n")
    write("not_a_job.ini", "this is not an INI file [\n")
    write("existing.h5", "do not overwrite me\n")
    # A model whose values changed after bsmhunt wrote it (one weight), its checksum left as it was.
    shutil.copy(path("model.h5"), path("model_changed.h5"))
    with h5py.File(path("model_changed.h5"), "r+") as f:
        bias = [n for n in _datasets(f) if n.endswith("/bias")][0]
        f[bias][0] = f[bias][0] + 1.0
    os.makedirs(path("a_directory"), exist_ok=True)


OUT = "out.h5"  # every case writes here (or to a JSON/CSV beside it); none may be left

# (name, args, text the message must contain). Paths are relative to WORK.
CASES = [
    # generate
    ("negative event count", ["generate", "--events", "-5"], "--events"),
    ("event count not a number", ["generate", "--events", "many"], "--events"),
    ("unknown channel", ["generate", "--channel", "dilepton"], "dilepton"),
    ("unknown option, with a suggestion", ["generate", "--evnets", "10"], "did you mean"),
    ("bad compression", ["generate", "--compression", "lz4"], "lz4"),
    ("negative data luminosity", ["generate", "--data-lumi-ifb", "-3"], "--data-lumi-ifb"),
    ("zero luminosity", ["generate", "--lumi-ifb", "0"], "--lumi-ifb"),
    ("output in a missing directory", ["generate", "--events", "100", "--output", "no/such/dir/out.h5"], "no/such/dir"),
    ("output exists, no --overwrite", ["generate", "--events", "100", "--output", "existing.h5"], "existing.h5"),
    ("output is a directory", ["generate", "--events", "100", "--output", "a_directory"], "a_directory"),
    ("unknown sample pattern", ["generate", "--samples", "no_such_*"], "no_such_"),
    ("bad block size", ["generate", "--block-events", "0"], "--block-events"),
    # inspect
    ("missing file", ["inspect", "nothing.h5"], "nothing.h5"),
    ("text file named .h5", ["inspect", "text.h5"], "not an HDF5 file"),
    ("empty file", ["inspect", "empty.h5"], "empty.h5"),
    ("truncated HDF5 file", ["inspect", "truncated.h5"], "truncated.h5"),
    ("feature file where events are expected", ["inspect", "features.h5"], "features.h5"),
    # extract
    ("unknown feature set", ["extract", "--input", "events.h5", "--features", "dimuon"], "dimuon"),
    ("unknown feature in --select", ["extract", "--input", "events.h5", "--select", "mll,mzz"], "mzz"),
    ("feature file as input", ["extract", "--input", "features.h5"], "features.h5"),
    ("missing input", ["extract", "--input", "nothing.h5"], "nothing.h5"),
    ("bad padding policy", ["extract", "--input", "events.h5", "--padding", "zeros"], "--padding"),
    ("non-finite sentinel", ["extract", "--input", "events.h5", "--sentinel", "nan"], "--sentinel"),
    ("bad lepton requirement", ["extract", "--input", "events.h5", "--require", "ssos"], "--require"),
    ("bad split fractions", ["extract", "--input", "events.h5", "--split", "0.8,0.3,0.1"], "--split"),
    ("bad --on-nonfinite", ["extract", "--input", "events.h5", "--on-nonfinite", "ignore"], "--on-nonfinite"),
    ("features need collections the file lacks", ["extract", "--input", "dijet_events.h5", "--features", "dilepton_met"],
     "dijet_events.h5"),
    # train
    ("unknown model", ["train", "--features", "features.h5", "--model", "svm"], "svm"),
    ("missing feature file", ["train", "--features", "nothing.h5"], "nothing.h5"),
    ("event file as features", ["train", "--features", "events.h5"], "events.h5"),
    ("bad hidden layers", ["train", "--features", "features.h5", "--hidden", "64,x"], "--hidden"),
    ("zero-width hidden layer", ["train", "--features", "features.h5", "--hidden", "64,0"], "--hidden"),
    ("negative learning rate", ["train", "--features", "features.h5", "--learning-rate", "-1"], "--learning-rate"),
    ("zero epochs", ["train", "--features", "features.h5", "--epochs", "0"], "--epochs"),
    ("dropout above 1", ["train", "--features", "features.h5", "--dropout", "1.5"], "--dropout"),
    ("unknown device", ["train", "--features", "features.h5", "--device", "tpu"], "tpu"),
    ("unknown activation", ["train", "--features", "features.h5", "--activation", "swish"], "--activation 'swish'"),
    ("unknown optimiser", ["train", "--features", "features.h5", "--optimizer", "lion"], "--optimizer 'lion'"),
    ("unknown weight rule", ["train", "--features", "features.h5", "--sample-weights", "squared"], "squared"),
    ("excluding an unknown feature", ["train", "--features", "features.h5", "--exclude-features", "mzz"], "mzz"),
    ("zero folds", ["train", "--features", "features.h5", "--folds", "0"], "--folds"),
    ("parametrising on an unknown attribute", ["train", "--features", "features.h5", "--parametrise", "m_higgs"],
     "m_higgs"),
    ("unknown schedule", ["train", "--features", "features.h5", "--schedule", "cyclic"], "--schedule 'cyclic'"),
    # predict
    ("missing model", ["predict", "--model", "nothing.h5", "--features", "features.h5"], "nothing.h5"),
    ("feature file as model", ["predict", "--model", "features.h5", "--features", "features.h5"], "features.h5"),
    ("features of another set", ["predict", "--model", "model.h5", "--features", "dijet_features.h5"],
     "dijet_features.h5"),
    ("zero chunk rows", ["predict", "--model", "model.h5", "--features", "features.h5", "--chunk-rows", "0"],
     "--chunk-rows"),
    # significance
    ("missing score file", ["significance", "--scores", "nothing.h5", "--output", "out.json"], "nothing.h5"),
    ("zero bins", ["significance", "--scores", "scores.h5", "--bins", "0", "--output", "out.json"], "--bins"),
    ("range backwards", ["significance", "--scores", "scores.h5", "--range", "1,0", "--output", "out.json"], "--range"),
    ("unknown signal sample", ["significance", "--scores", "scores.h5", "--signal", "zp_nothing", "--output",
                               "out.json"], "zp_nothing"),
    ("unknown metric", ["significance", "--scores", "scores.h5", "--metric", "sb", "--output", "out.json"], "sb"),
    # limits
    ("confidence level above 1", ["limits", "--histograms", "scores.h5", "--cl", "1.5", "--output", "out.json"], "--cl"),
    ("missing workspace", ["limits", "--workspace", "nothing.json", "--output", "out.json"], "nothing.json"),
    # fit
    ("missing spectrum", ["fit", "--input", "nothing.csv", "--output", "out.json"], "nothing.csv"),
    ("text in a count", ["fit", "--input", "spectrum_text.csv", "--output", "out.json"], "spectrum_text.csv"),
    ("bins out of order", ["fit", "--input", "spectrum_backwards.csv", "--output", "out.json"], "spectrum_backwards.csv"),
    ("negative count", ["fit", "--input", "spectrum_negative.csv", "--output", "out.json"], "spectrum_negative.csv"),
    ("a trillion mass bins", ["fit", "--input", "features.h5", "--mass-bins", "0:1000:1e12", "--output", "out.json"],
     "at most 1000000"),
    # damaged files
    ("model changed after it was written", ["predict", "--model", "model_changed.h5", "--features", "features.h5",
                                            "--output", OUT], "model_changed.h5: damaged"),
    # import
    ("unknown format", ["import", "--input", "table.csv", "--format", "parquet"], "parquet"),
    ("missing label column", ["import", "--input", "table_no_label.csv"], "label"),
    ("ragged CSV row", ["import", "--input", "table_ragged.csv"], "table_ragged.csv"),
    ("text in a number column", ["import", "--input", "table_text.csv"], "table_text.csv"),
    ("NaN weight", ["import", "--input", "table_nan_weight.csv", "--weight-column", "weight"], "weight"),
    # run and job files
    ("missing job file", ["run", "--job", "nothing.ini"], "nothing.ini"),
    ("job file without stages", ["run", "--job", "job_no_stages.ini"], "job_no_stages.ini"),
    ("unknown section", ["run", "--job", "job_unknown_section.ini"], "generat"),
    ("unknown key in a --config file", ["generate", "--config", "job_unknown_key.ini"], "evnets"),
    ("bad value in a --config file", ["generate", "--config", "job_bad_value.ini"], "job_bad_value.ini"),
    ("--config is a directory", ["generate", "--config", "a_directory"], "a_directory"),
    # every command
    ("bad log level", ["inspect", "events.h5", "--log-level", "loud"], "loud"),
    ("negative collective timeout", ["inspect", "events.h5", "--collective-timeout", "-1"], "--collective-timeout"),
    ("unknown command", ["extrct"], "extrct"),
    # export
    ("unknown export format", ["export", "--model", "model.h5", "--format", "pmml"], "pmml"),
    ("export of a missing model", ["export", "--model", "nothing.h5", "--format", "onnx"], "nothing.h5"),
    ("a --python that does not exist", ["export", "--scores", "scores.h5", "--output", "out.root", "--python",
                                        "no_such_python"], "cannot start no_such_python"),
]


def main():
    fixtures()
    failures, rows = [], []
    for name, args, text in CASES:
        full = list(args)
        if "--output" not in full and full[0] not in ("inspect", "run", "export") and len(full) > 1:
            full += ["--output", OUT]
        if full[0] == "export" and "--output" not in full:
            full += ["--output", "out.onnx"]
        code, out = bsmhunt(*full)
        left = [f for f in os.listdir(WORK) if f.startswith("out") or f.endswith(".partial")]
        message = next((line for line in out.splitlines() if "error" in line.lower()), out.splitlines()[0] if out else "")
        rows.append((name, " ".join(full), code, message))
        problems = []
        if code != 2:
            problems.append(f"exit {code}, expected 2")
        if text not in out:
            problems.append(f"message lacks '{text}'")
        if left:
            problems.append(f"left {left}")
        for f in left:
            p = path(f)
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
        if problems:
            failures.append(f"{name}: bsmhunt {' '.join(full)}\n  " + "; ".join(problems) + f"\n  output: {out[-600:]}")
    if MARKDOWN:
        print("| # | case | command | message |")
        print("|---|---|---|---|")
        for i, (name, cmd, code, message) in enumerate(rows, 1):
            msg = message.replace("|", "\\|").replace(WORK + "/", "")
            print(f"| {i} | {name} | `bsmhunt {cmd}` | {msg} |")
    print(f"{len(CASES)} bad-input cases, {len(failures)} failed")
    if failures:
        print("\n".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
