#!/usr/bin/env python3
"""Interchange with ROOT and ONNX (docs/import.md, docs/export.md), end to end.

    .venv/bin/python tests/interop/interop_test.py BSMHUNT_BINARY WORKDIR [-k PATTERN]

Run with the test environment's interpreter (tools/setup makes .venv with uproot,
onnxruntime and onnx). ROOT files are written here with uproot itself; bsmhunt
reads them through its uproot helper; every value is compared with its source:
  - flat trees of several files and branch types -> import on 1 and 2 ranks
  - NanoAOD-like (GeV) and ATLAS-like (MeV) object-level trees made from a
    generated event file -> convert -> extract: the same features as the original
  - mlp, mlp with batchnorm, 3-class mlp, autoencoder, BDT and CNN -> export ONNX ->
    onnxruntime on raw features (images for the CNN) vs bsmhunt predict (1e-5 relative)
  - scores -> ROOT friend tree read back with uproot
  - bad input: one clear message, exit status 2, no output and no staging left
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import unittest

import awkward as ak
import h5py
import numpy as np
import onnx
import onnxruntime as ort
import uproot

BSMHUNT = WORK = None


def mpirun(n):
    if n == 1:
        return [BSMHUNT]
    return ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", str(n), BSMHUNT]


def run(args, ranks=1, expect=0):
    env = dict(os.environ, BSMHUNT_PYTHON=sys.executable)
    r = subprocess.run(mpirun(ranks) + [str(a) for a in args], capture_output=True, text=True, env=env)
    output = r.stdout + r.stderr
    if expect == 0 and r.returncode != 0:
        raise AssertionError(f"bsmhunt {' '.join(map(str, args))} failed ({r.returncode}):\n{output}")
    if expect != 0 and r.returncode == 0:
        raise AssertionError(f"bsmhunt {' '.join(map(str, args))} succeeded, expected a failure:\n{output}")
    return output


def path(name):
    return os.path.join(WORK, name)


def write_tree(file, name, columns, chunks=3):
    """A TTree written in `chunks` baskets (uproot's mktree + extend), as ROOT users write them."""
    with uproot.recreate(file) as f:
        tree = f.mktree(name, {k: (str(v.type.content) if isinstance(v, ak.Array) else v.dtype)
                               for k, v in columns.items()})
        n = len(next(iter(columns.values())))
        edges = np.linspace(0, n, chunks + 1).astype(int)
        for a, b in zip(edges[:-1], edges[1:]):
            tree.extend({k: v[a:b] for k, v in columns.items()})


def read_features(file):
    with h5py.File(file, "r") as f:
        names = [n.decode() for n in f["feature_names"][:]]
        return {n: f["features"][:, i] for i, n in enumerate(names)}, {
            k: f[k][:] for k in ("weight", "label", "event_number", "sample_index", "split", "mass")}


class FlatImport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rng = np.random.default_rng(7)
        cls.sources = []
        for k, n in enumerate([2500, 0, 3100, 1700]):  # an empty file is legal: it adds no row
            label = rng.integers(0, 2, n).astype(np.int32)
            counts = rng.integers(0, 4, n)
            cols = {
                "lep_pt": (rng.exponential(40, n) + 20 * label).astype(np.float32),
                "mjj": rng.normal(500, 120, n) + 30 * label,  # float64: rounded once to float32
                "njet": rng.integers(0, 9, n).astype(np.int64),
                "nb": rng.integers(0, 3, n).astype(np.uint8),
                "trig": rng.integers(0, 2, n).astype(np.bool_),
                "is_signal": label,
                "weight": rng.uniform(-0.2, 2.0, n),
                "eventNumber": (np.arange(n) + 100000 * k).astype(np.uint64),
                "jet_pt": ak.unflatten(rng.exponential(30, int(counts.sum())), counts),
            }
            file = path(f"flat_{k}.root")
            write_tree(file, "ntuple", cols)
            cls.sources.append(cols)

    def import_with(self, ranks, output, extra=()):
        return run(["import", "--format", "root", "--input", path("flat_*.root"), "--tree", "ntuple",
                    "--label-column", "is_signal", "--event-column", "eventNumber", "--chunk-entries", "900",
                    "--output", output, "--overwrite", *extra], ranks)

    def test_values_equal_the_tree(self):
        self.import_with(2, path("flat2.h5"))
        features, cols = read_features(path("flat2.h5"))
        self.assertEqual(list(features), ["lep_pt", "mjj", "njet", "nb", "trig", "njet_pt"])
        # Rows are grouped by sample (background, signal), in table order within each: match by event number.
        src = {k: np.concatenate([s[k] for s in self.sources]) for k in self.sources[0] if k != "jet_pt"}
        src["njet_pt"] = np.concatenate([ak.to_numpy(ak.num(s["jet_pt"])) for s in self.sources])
        order = {int(e): i for i, e in enumerate(src["eventNumber"])}
        rows = np.array([order[int(e)] for e in cols["event_number"]])
        self.assertEqual(len(rows), len(src["eventNumber"]))
        self.assertEqual(len(set(rows.tolist())), len(rows))
        for name in features:
            np.testing.assert_array_equal(features[name], src[name][rows].astype(np.float32), err_msg=name)
        np.testing.assert_array_equal(cols["weight"], src["weight"][rows])
        np.testing.assert_array_equal(cols["label"], src["is_signal"][rows])
        with h5py.File(path("flat2.h5"), "r") as f:
            self.assertEqual(f.attrs["source_format"], "root")
            self.assertEqual(f.attrs["source_file"], ",".join(sorted(glob.glob(path("flat_*.root")))))
        self.assertFalse(os.path.exists(path("flat2.h5.root-staging")))

    def test_rank_count_does_not_change_the_file(self):
        self.import_with(1, path("flat1.h5"))
        self.import_with(2, path("flat2b.h5"))
        with h5py.File(path("flat1.h5"), "r") as a, h5py.File(path("flat2b.h5"), "r") as b:
            for k in ("features", "weight", "label", "event_number", "sample_index", "split"):
                np.testing.assert_array_equal(a[k][:], b[k][:], err_msg=k)

    def test_bad_input(self):
        out = path("bad.h5")
        write_tree(path("other.root"), "ntuple", {"lep_pt": np.ones(5, np.float32), "x": np.ones(5)})
        with open(path("notroot.root"), "w") as f:
            f.write("not a ROOT file\n")
        cases = [
            (["--input", path("flat_0.root"), "--tree", "nope"], "no tree 'nope' (--tree); the trees are: ntuple"),
            (["--input", path("missing_*.root")], "no file matches"),
            (["--input", path("notroot.root")], "notroot.root: not a readable ROOT file"),
            (["--input", path("flat_0.root") + "," + path("other.root"), "--tree", "ntuple"],
             "other.root: its branches differ from those of"),
            (["--input", path("flat_0.root") + "," + path("flat_0.root")], "is given twice"),
        ]
        for args, message in cases:
            output = run(["import", "--format", "root", "--label-column", "is_signal", "--output", out, *args],
                         2, expect=2)
            self.assertIn(message, output, args)
            self.assertFalse(os.path.exists(out), args)
            self.assertFalse(os.path.exists(out + ".partial"), args)
            self.assertFalse(os.path.exists(out + ".root-staging"), args)


NANOAOD = {"electrons": "Electron", "muons": "Muon", "jets": "Jet"}
ATLAS = {"electrons": "el", "muons": "mu", "jets": "jet"}


class Convert(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.events = path("generated.h5")
        run(["generate", "--channel", "dilepton_met", "--events", "6000", "--signal-events", "150",
             "--pseudo-data", "false", "--seed", "11", "--summary", "false", "--output", cls.events, "--overwrite"], 2)
        run(["extract", "--input", cls.events, "--features", "dilepton_met", "--output", path("direct.h5"),
             "--overwrite", "--log-level", "warn"], 2)
        with h5py.File(cls.events, "r") as f:
            cls.samples = {n: dict(g.attrs) for n, g in f["samples"].items()}
        # Three samples are enough and keep the test short: a background, the ee and mumu of one signal.
        cls.chosen = ["ttbar_dilep"] + [n for n in cls.samples if n.startswith("zp_DH_HDS_m130")][:2]

    def write_samples(self, layout, unit_scale, float_type):
        sections = []
        with h5py.File(self.events, "r") as f:
            for name in self.chosen:
                g = f["samples"][name]
                cols = {}
                for coll, prefix in layout.items():
                    off = g[coll]["offsets"][:]
                    counts = np.diff(off).astype(np.int64)
                    for member in ("pt", "eta", "phi", "charge", "m", "btag"):
                        if member not in g[coll]:
                            continue
                        values = g[coll][member][:]
                        if member in ("pt", "m"):
                            values = (values.astype(np.float64) * unit_scale).astype(float_type)
                        if layout is NANOAOD:
                            branch = {"m": "mass", "btag": "btagDeepFlavB"}.get(member, member)
                            if member == "btag":
                                values = np.where(values > 0, 0.9, 0.05).astype(np.float32)
                            if member == "charge":
                                values = values.astype(np.int32)
                        else:
                            branch = {"btag": "isbtagged_DL1r_77"}.get(member, member)
                            if member == "charge":
                                values = values.astype(np.float32)
                        cols[f"{prefix}_{branch}"] = ak.unflatten(values, counts)
                scale = lambda x: (x.astype(np.float64) * unit_scale).astype(float_type)
                if layout is NANOAOD:
                    cols.update(event=g["event_number"][:], genWeight=g["weight_mc"][:], MET_pt=g["met"][:],
                                MET_phi=g["met_phi"][:], MET_sumEt=g["met_sumet"][:], GenMET_pt=g["met_truth"][:],
                                GenMET_phi=g["met_truth_phi"][:])
                    tree = "Events"
                else:
                    cols.update(eventNumber=g["event_number"][:], weight_mc=g["weight_mc"][:],
                                met_met=scale(g["met"][:]), met_phi=g["met_phi"][:], met_sumet=scale(g["met_sumet"][:]))
                    tree = "nominal"
                # Two files per sample, as samples usually come.
                n = len(g["event_number"])
                half = n // 2
                files = []
                for part, (a, b) in enumerate([(0, half), (half, n)]):
                    file = path(f"{tree}_{name}_{part}.root")
                    write_tree(file, tree, {k: v[a:b] for k, v in cols.items()}, chunks=2)
                    files.append(file)
                attrs = self.samples[name]
                # Comments after values, as docs/import.md writes them.
                sections.append(
                    f"[{name}]\nfiles = {','.join(files)}   # two files\nrole = {attrs['role']}\n"
                    f"process = {attrs['process']}\n"
                    f"dsid = {attrs['dsid']}\ncross_section_pb = {attrs['cross_section_pb']!r}    # sigma x BR, pb\n"
                    f"k_factor = {attrs['k_factor']!r}\nfilter_efficiency = {attrs['filter_efficiency']!r}\n"
                    f"sum_of_weights = {attrs['sum_of_weights']!r}\nn_generated = {attrs['n_generated']}\n")
        ini = path(f"samples_{tree}.ini")
        with open(ini, "w") as f:
            f.write("\n".join(sections))
        return ini

    def converted_features(self, layout, mapping, unit_scale, float_type):
        ini = self.write_samples(layout, unit_scale, float_type)
        events = path(f"converted_{mapping}.h5")
        run(["convert", "--samples", ini, "--mapping", mapping, "--output", events, "--chunk-entries", "700",
             "--overwrite", "--lumi-ifb", "139"], 2)
        self.assertFalse(os.path.exists(events + ".convert-staging"))
        features = path(f"converted_{mapping}_features.h5")
        run(["extract", "--input", events, "--features", "dilepton_met", "--output", features, "--overwrite",
             "--log-level", "warn"], 2)
        return events, features

    def direct_rows(self):
        """The rows of the directly extracted file that belong to the chosen samples."""
        feats, cols = read_features(path("direct.h5"))
        with h5py.File(path("direct.h5"), "r") as f:
            names = [n.decode() for n in f["sample_names"][:]]
        keep = np.isin(np.array(names)[cols["sample_index"]], self.chosen)
        return {k: v[keep] for k, v in feats.items()}, {k: v[keep] for k, v in cols.items()}, names

    def test_nanoaod_gives_the_same_features(self):
        events, features = self.converted_features(NANOAOD, "nanoaod", 1.0, np.float32)
        want_f, want_c, _ = self.direct_rows()
        got_f, got_c = read_features(features)
        self.assertEqual(list(got_f), list(want_f))
        for k in want_f:
            np.testing.assert_array_equal(got_f[k], want_f[k], err_msg=k)
        for k in ("weight", "label", "event_number", "split"):
            np.testing.assert_array_equal(got_c[k], want_c[k], err_msg=k)
        with h5py.File(events, "r") as f, h5py.File(self.events, "r") as g:
            for name in self.chosen:
                for column in ("met", "weight_mc", "electrons/pt", "jets/btag", "muons/charge", "electrons/offsets"):
                    np.testing.assert_array_equal(f["samples"][name][column][:], g["samples"][name][column][:],
                                                  err_msg=f"{name}/{column}")

    def test_atlas_mev_gives_the_same_features(self):
        # float32 MeV, as ATLAS ntuples store them: one rounding each way, so 1e-6 relative.
        _, features = self.converted_features(ATLAS, "atlas", 1000.0, np.float32)
        want_f, want_c, _ = self.direct_rows()
        got_f, got_c = read_features(features)
        np.testing.assert_array_equal(got_c["event_number"], want_c["event_number"])
        for k in want_f:
            # mT2 is solved to a relative precision of 1e-3 (kMt2DefaultPrecision), so a 1e-7
            # change of its inputs can move it by up to twice that; the rest follows its inputs.
            rtol = 2e-3 if k == "mt2" else 2e-5
            np.testing.assert_allclose(got_f[k], want_f[k], rtol=rtol, atol=2e-4, err_msg=k)
        np.testing.assert_array_equal(got_c["weight"], want_c["weight"])

    def test_data_needs_no_generator_branches(self):
        # Collision data: no genWeight, no GenMET; the nanoaod mapping still applies.
        n = 50
        counts = np.tile([0, 1, 2], n)[:n]
        cols = {"event": np.arange(n, dtype=np.uint64) + 7, "MET_pt": np.full(n, 60, np.float32),
                "MET_phi": np.zeros(n, np.float32), "MET_sumEt": np.full(n, 300, np.float32)}
        for prefix in ("Electron", "Muon", "Jet"):
            for member in ("pt", "eta", "phi", "charge", "mass", "btagDeepFlavB"):
                if prefix != "Jet" and member in ("mass", "btagDeepFlavB"):
                    continue
                if prefix == "Jet" and member == "charge":
                    continue
                dtype = np.int32 if member == "charge" else np.float32
                cols[f"{prefix}_{member}"] = ak.unflatten(np.ones(int(counts.sum()), dtype), counts)
        write_tree(path("data_run.root"), "Events", cols)
        ini = path("data.ini")
        with open(ini, "w") as f:
            f.write(f"[data]\nfiles = {path('data_run.root')}\nrole = data\n")
        out = path("data_events.h5")
        run(["convert", "--samples", ini, "--output", out, "--overwrite"])
        with h5py.File(out, "r") as f:
            g = f["samples/data"]
            self.assertEqual(g.attrs["role"], "data")
            np.testing.assert_array_equal(g["weight_mc"][:], np.ones(n, np.float32))
            self.assertNotIn("met_truth", g)
            np.testing.assert_array_equal(g["jets/offsets"][:], np.concatenate([[0], np.cumsum(counts)]))

    def test_bad_input(self):
        out = path("bad_events.h5")
        ini = path("bad.ini")
        repeated = path("repeated.root")
        write_tree(repeated, "Events", {"event": np.array([1, 2, 2], np.uint64), "genWeight": np.ones(3, np.float32),
                                        "Electron_pt": ak.unflatten(np.ones(3, np.float32), [1, 1, 1])})
        file = path("Events_ttbar_dilep_0.root")
        if not os.path.exists(file):
            self.write_samples(NANOAOD, 1.0, np.float32)
        mapping_repeated = path("repeated_mapping.ini")
        with open(mapping_repeated, "w") as f:
            f.write("[event]\ntree = Events\nevent_number = event\nweight_mc = genWeight\n[electrons]\npt = Electron_pt\n")
        mapping = path("bad_mapping.ini")
        cases = [
            ("[s]\nrole = background\ncross_section_pb = 1\n", "nanoaod", "files = (the sample's ROOT files, globs)"),
            (f"[s]\nfiles = {file}\nrole = physics\ncross_section_pb = 1\n", "nanoaod", "role = 'physics'"),
            (f"[s]\nfiles = {file}\nrole = background\n", "nanoaod", "cross_section_pb = (in pb, > 0) is required"),
            (f"[s]\nfiles = {file}\ncross_section_pb = 1\ncolour = red\n", "nanoaod", "unknown key 'colour'"),
            (f"[s]\nfiles = {file}\ncross_section_pb = 1\n", "atlas", "no tree 'nominal'"),
            (f"[s]\nfiles = {file}\ncross_section_pb = 1\n", mapping, "no branch Photon_pt"),
            (f"[s]\nfiles = {repeated}\ncross_section_pb = 1\n", mapping_repeated,
             "sample s: event number 2 (branch event) appears more than once"),
        ]
        with open(mapping, "w") as f:
            f.write("[event]\ntree = Events\nweight_mc = genWeight\n[electrons]\npt = Photon_pt\n")
        for text, mapping_name, message in cases:
            with open(ini, "w") as f:
                f.write(text)
            output = run(["convert", "--samples", ini, "--mapping", mapping_name, "--output", out], 2, expect=2)
            self.assertIn(message, output, text)
            for leftover in (out, out + ".partial", out + ".convert-staging"):
                self.assertFalse(os.path.exists(leftover), (text, leftover))


class Job(unittest.TestCase):
    """ROOT in, ONNX and a friend tree out, as one `bsmhunt run` job; a rerun skips every stage."""

    def test_root_to_onnx_job(self):
        Convert.setUpClass()
        ini = Convert.write_samples(Convert, NANOAOD, 1.0, np.float32)
        out = path("job")
        job = path("root_to_onnx.ini")
        with open(job, "w") as f:
            f.write(f"""[job]
output-dir = {out}
stages = convert, extract, train, predict, export:mlp, export:friend
[convert]
samples = {ini}
mapping = nanoaod
[extract]
features = dilepton_met
[train]
model = mlp
signal-samples = zp_DH_HDS_m130_*
epochs = 2
[export:mlp]
[export:friend]
scores = {{predict}}
event-branch = event
""")
        log = run(["run", job], 2)
        for stage in ("convert", "extract", "train", "predict", "export:mlp", "export:friend"):
            self.assertIn(f"stage {stage}: run", log)
        session = ort.InferenceSession(os.path.join(out, "mlp.onnx"), providers=["CPUExecutionProvider"])
        names = json.loads(session.get_modelmeta().custom_metadata_map["bsmhunt.features"])
        with h5py.File(os.path.join(out, "features.h5"), "r") as f, \
                h5py.File(os.path.join(out, "mlp_scores.h5"), "r") as s:
            all_names = [n.decode() for n in f["feature_names"][:]]
            x = f["features"][:][:, [all_names.index(n) for n in names]]
            np.testing.assert_allclose(session.run(None, {"features": x})[0], s["score"][:], rtol=1e-5, atol=1e-7)
            with uproot.open(os.path.join(out, "friend_scores.root")) as r:
                np.testing.assert_array_equal(r["bsmhunt_scores"]["event"].array(library="np"), s["event_number"][:])
        again = run(["run", job], 2)
        self.assertEqual(again.count("skipped (complete)"), 6, again)


class Onnx(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        FlatImport.setUpClass()
        cls.features = path("onnx_features.h5")
        run(["import", "--format", "root", "--input", path("flat_*.root"), "--tree", "ntuple", "--label-column",
             "is_signal", "--event-column", "eventNumber", "--output", cls.features, "--overwrite"], 2)

    def check(self, model, train_args, extra_check=None):
        model_file, scores = path(f"{model}.h5"), path(f"{model}_scores.h5")
        run(["train", "--features", self.features, "--output", model_file, "--overwrite", "--log-level", "warn",
             *train_args], 2)
        run(["predict", "--model", model_file, "--features", self.features, "--output", scores, "--overwrite"], 2)
        onnx_file = path(f"{model}.onnx")
        run(["export", "--model", model_file, "--output", onnx_file, "--overwrite"])
        onnx.checker.check_model(onnx.load(onnx_file), full_check=True)
        session = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
        meta = session.get_modelmeta().custom_metadata_map
        names = json.loads(meta["bsmhunt.features"])
        with h5py.File(self.features, "r") as f, h5py.File(scores, "r") as s:
            all_names = [n.decode() for n in f["feature_names"][:]]
            x = f["features"][:][:, [all_names.index(n) for n in names]]
            want = s["score"][:]
        got = session.run(None, {"features": x})[0]
        self.assertEqual(got.shape, want.shape)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=model)
        return meta

    def test_mlp(self):
        meta = self.check("mlp", ["--model", "mlp", "--epochs", "3", "--hidden", "16,8"])
        self.assertEqual(meta["bsmhunt.kind"], "mlp")

    def test_mlp_batchnorm_leaky_dropout(self):
        self.check("mlp_bn", ["--model", "mlp", "--epochs", "2", "--hidden", "12,12", "--batchnorm", "1",
                              "--activation", "leaky_relu", "--dropout", "0.2", "--normalization", "minmax"])

    def test_autoencoder(self):
        self.check("ae", ["--model", "autoencoder", "--epochs", "3", "--hidden", "8", "--latent", "3",
                          "--activation", "tanh"])

    def test_bdt(self):
        self.check("bdt", ["--model", "bdt", "--bdt-trees", "40", "--bdt-depth", "4", "--sample-weights", "abs"])

    def test_cnn_on_images(self):
        events, feats = path("monojet.h5"), path("monojet_features.h5")
        run(["generate", "--channel", "monojet", "--events", "150", "--signal-events", "30", "--pseudo-data",
             "false", "--seed", "3", "--summary", "false", "--output", events, "--overwrite"], 2)
        run(["extract", "--features", "monojet", "--input", events, "--output", feats, "--overwrite",
             "--log-level", "warn"], 2)
        model, scores = path("cnn.h5"), path("cnn_scores.h5")
        run(["train", "--features", feats, "--output", model, "--overwrite", "--model", "cnn", "--epochs", "1",
             "--batch-size", "16", "--signal-samples", "znunu_pt1000", "--exclude-samples",
             "wtaunu_pt280_500,wtaunu_pt500_1000,wmunu_*,wenu_*,zmumu_*,ztautau_*,ttbar,diboson",
             "--class-balance", "count", "--compression", "empty-rowcol", "--log-level", "warn"], 2)
        run(["predict", "--model", model, "--features", feats, "--output", scores, "--overwrite"], 2)
        images = path("cnn_images.h5")
        run(["images", "--events", events, "--output", images, "--scales", model, "--per-sample", "12",
             "--overwrite"])
        onnx_file = path("cnn.onnx")
        run(["export", "--model", model, "--output", onnx_file, "--overwrite"])
        onnx.checker.check_model(onnx.load(onnx_file), full_check=True)
        session = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
        compression = session.get_modelmeta().custom_metadata_map["bsmhunt.image_compression"]
        self.assertEqual(compression, "empty-rowcol")
        with h5py.File(scores, "r") as s:
            names = [n.decode() for n in s["sample_names"][:]]
            want = {(names[i], int(e)): v for i, e, v in zip(s["sample_index"][:], s["event_number"][:], s["score"][:])}
        matched = 0
        with h5py.File(images, "r") as f:
            for sample, g in f["samples"].items():
                got = session.run(None, {"images": g[compression][:].astype(np.float32)})[0]
                for event, value in zip(g["event_number"][:], got):
                    if (sample, int(event)) in want:
                        matched += 1
                        np.testing.assert_allclose(value, want[(sample, int(event))], rtol=1e-5, atol=1e-7)
        self.assertGreater(matched, 50)


class FriendTree(unittest.TestCase):
    def test_scores_read_back(self):
        Onnx.setUpClass()
        model, scores = path("friend_mlp.h5"), path("friend_scores.h5")
        run(["train", "--features", Onnx.features, "--output", model, "--overwrite", "--model", "mlp", "--epochs",
             "2", "--log-level", "warn"], 2)
        run(["predict", "--model", model, "--features", Onnx.features, "--output", scores, "--overwrite"], 2)
        friend = path("friend.root")
        run(["export", "--scores", scores, "--output", friend, "--tree", "scores", "--chunk-entries", "1000",
             "--event-branch", "eventNumber", "--overwrite"])
        with uproot.open(friend) as f, h5py.File(scores, "r") as s:
            tree = f["scores"]
            self.assertEqual(tree.num_entries, len(s["score"]))
            got = tree.arrays(library="np")
            self.assertNotIn("event_number", tree.keys())
            for branch, dataset in [("score", "score"), ("eventNumber", "event_number"), ("weight", "weight"),
                                    ("sample_index", "sample_index"), ("label", "label"), ("split", "split")]:
                np.testing.assert_array_equal(got[branch], s[dataset][:], err_msg=branch)
            self.assertEqual(str(f["sample_names"]).split(","), [n.decode() for n in s["sample_names"][:]])
        # bad input: not a score file, an existing output, an unknown format
        for args, message in [
            (["--scores", Onnx.features, "--output", path("x.root")], "not a bsmhunt score file"),
            (["--scores", scores, "--output", friend], "exists; give --overwrite"),
            (["--model", scores, "--output", path("x.onnx")], "expected 'bsmhunt.model'"),
            (["--scores", scores, "--output", path("x.txt")], "give --format onnx or root"),
            (["--model", model, "--output", path("x.root")], "--format root takes --scores"),
            (["--scores", scores, "--output", path("x.root"), "--event-branch", "weight"], "branch names collide"),
        ]:
            output = run(["export", *args], expect=2)
            self.assertIn(message, output, args)
        for leftover in ("x.root", "x.onnx", "x.root.partial", "x.onnx.partial"):
            self.assertFalse(os.path.exists(path(leftover)), leftover)


if __name__ == "__main__":
    BSMHUNT, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
