#!/usr/bin/python3
"""End-to-end test of tools/plot/report.py: builds tiny synthetic inputs of every kind
(event, feature, image and score files in the documented layouts, a model file,
history CSV, cutflow, significance, limits, efficiencies, sideband and peak fit,
bump-hunt, data/MC and anomaly JSON), runs the report, and checks that every expected
PNG and the HTML exist and that the HTML tables hold the numbers computed here
independently; then bad inputs must fail with a message naming the file.

    /usr/bin/python3 tests/plot/report_test.py            # exit 0: passed
    BSMHUNT_REPORT_TEST_KEEP=/tmp/rt /usr/bin/python3 tests/plot/report_test.py   # keep the files

Exit status 77 (ctest's SKIP_RETURN_CODE) when numpy, h5py or matplotlib is missing.
"""

import html
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from html.parser import HTMLParser

try:
    import h5py
    import numpy as np
    HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
except ImportError as e:  # pragma: no cover
    print("report_test: skipped, missing Python module: %s" % e)
    sys.exit(77)
if not HAVE_MATPLOTLIB:  # pragma: no cover
    print("report_test: skipped, missing Python module: matplotlib")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.normpath(os.path.join(HERE, "..", "..", "tools", "plot", "report.py"))
PYTHON = sys.executable or "/usr/bin/python3"
LUMI = 139.0

# --------------------------------------------------------------------------------------
# Synthetic inputs

BACKGROUNDS = [("dy_ee", "drell_yan", 1200, 0.5), ("dy_mumu", "drell_yan", 1000, 0.5),
               ("ttbar_dilep", "ttbar", 800, 0.25), ("ww_lvlv", "diboson", 400, 0.125)]
SIGNALS = [("zp_DH_HDS_m130_ee", 130.0, "ee"), ("zp_DH_HDS_m130_mumu", 130.0, "mumu"),
           ("zp_DH_HDS_m500_ee", 500.0, "ee"), ("zp_DH_HDS_m500_mumu", 500.0, "mumu")]
N_SIGNAL = 300
W_SIGNAL = 0.0625
N_DATA = 2900
FEATURES = ["met", "mll", "mt_llmet", "n_jets", "channel_flag"]
UNITS = ["GeV", "GeV", "GeV", "", ""]


def sample_table():
    """[(name, role, process, attrs, rows, weight)] in file order."""
    out = []
    for i, (name, proc, n, w) in enumerate(BACKGROUNDS):
        out.append((name, "background", proc, {"dsid": 910001 + i, "cross_section_pb": 10.0 * (i + 1)}, n, w))
    for i, (name, m, fs) in enumerate(SIGNALS):
        out.append((name, "signal", "mono_zprime", {"dsid": 920000 + i, "cross_section_pb": 1e-3, "theory": "DH",
                                                    "dark_sector": "HDS", "m_zprime_GeV": m, "m_chi_GeV": m / 4,
                                                    "final_state": fs}, N_SIGNAL, W_SIGNAL))
    out.append(("data", "data", "pseudo-data (background only)", {"dsid": 0, "cross_section_pb": 0.0}, N_DATA, 1.0))
    return out


def write_samples(group, table, with_index):
    for i, (name, role, proc, attrs, n, w) in enumerate(table):
        g = group.create_group(name)
        g.attrs["role"] = role
        g.attrs["process"] = proc
        g.attrs["k_factor"] = 1.0
        g.attrs["filter_efficiency"] = 1.0
        g.attrs["sum_of_weights"] = float(n * 10)
        g.attrs["n_generated"] = n * 10
        g.attrs["n_events"] = n
        for k, v in attrs.items():
            g.attrs[k] = v
        if with_index:
            g.attrs["sample_index"] = i
    return group


def make_rows(seed=3):
    """Columns of the feature file: exact binary-fraction weights, a few negative."""
    rng = np.random.default_rng(seed)
    table = sample_table()
    cols = {k: [] for k in ("features", "weight", "label", "sample_index", "event_number", "split")}
    for si, (name, role, proc, attrs, n, w) in enumerate(table):
        if role == "signal":
            met = 80 + rng.exponential(150 + attrs["m_zprime_GeV"] / 2, n)
            mll = rng.normal(attrs["m_zprime_GeV"], 5, n)
        else:
            met = 50 + rng.exponential(40 if proc == "drell_yan" else 90, n)
            mll = 91.2 + rng.standard_cauchy(n) * 3 if proc == "drell_yan" else 40 + rng.exponential(100, n)
        mll = np.clip(mll, 10, 3000)
        mt = np.sqrt(2 * met * np.abs(mll) + 10.0)
        nj = rng.poisson(1.5 if proc == "ttbar" else 0.6, n)
        flag = np.full(n, 0 if name.endswith("ee") else 1) if role != "data" else rng.integers(0, 2, n)
        cols["features"].append(np.stack([met, mll, mt, nj, flag], axis=1).astype(np.float32))
        ww = np.full(n, w, dtype=np.float64)
        if role == "background" and proc == "ttbar":
            ww[::10] = -w  # NLO-like negative weights
        cols["weight"].append(ww)
        cols["label"].append(np.full(n, 1 if role == "signal" else 0, dtype=np.int32))
        cols["sample_index"].append(np.full(n, si, dtype=np.int32))
        cols["event_number"].append(np.arange(n, dtype=np.uint64))
        cols["split"].append(rng.choice(np.array([0, 1, 2], dtype=np.int8), n, p=[0.5, 0.2, 0.3]))
    return table, {k: np.concatenate(v) for k, v in cols.items()}


def write_row_file(path, table, cols, fmt, values_name, values, extra_attrs):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = fmt
        f.attrs["version"] = 1
        f.attrs["complete"] = 1
        for k, v in extra_attrs.items():
            f.attrs[k] = v
        f[values_name] = values
        for k in ("weight", "label", "sample_index", "event_number", "split"):
            f[k] = cols[k]
        f["mass"] = cols["features"][:, 1]
        f["sample_names"] = np.array([t[0].encode() for t in table])
        write_samples(f.create_group("samples"), table, True)
        return f.filename


def make_feature_file(d):
    table, cols = make_rows()
    path = os.path.join(d, "features.h5")
    write_row_file(path, table, cols, "bsmhunt.features", "features", cols["features"],
                   {"luminosity_ifb": LUMI, "feature_set": "dilepton_met", "met_min_GeV": 50.0,
                    "source_file": "events.h5"})
    cuts = ["all", "two leptons", "flavour", "met"]
    raw = np.zeros((len(table), len(cuts)), dtype=np.uint64)
    weighted = np.zeros((len(table), len(cuts)))
    for si, t in enumerate(table):
        m = cols["sample_index"] == si
        n, y = int(m.sum()), float(cols["weight"][m].sum())
        raw[si] = [2 * n, 2 * n, n + n // 2, n]
        weighted[si] = [2 * y, 2 * y, 1.5 * y, y]
    with h5py.File(path, "a") as f:
        f["feature_names"] = np.array([x.encode() for x in FEATURES])
        f["feature_units"] = np.array([x.encode() for x in UNITS])
        g = f.create_group("cutflow")
        g["cuts"] = np.array([c.encode() for c in cuts])
        g["raw"] = raw
        g["weighted"] = weighted
    cutflow = {"feature_file": "features.h5", "cuts": cuts,
               "samples": [{"name": t[0], "role": t[1], "raw": [int(x) for x in raw[i]],
                            "weighted": [float(x) for x in weighted[i]]} for i, t in enumerate(table)]}
    with open(path + ".cutflow.json", "w") as fh:
        json.dump(cutflow, fh)
    return path, table, cols, cutflow


def make_event_file(d, table):
    path = os.path.join(d, "events.h5")
    rng = np.random.default_rng(5)
    with h5py.File(path, "w") as f:
        for k, v in {"format": "bsmhunt.events", "version": 1, "complete": 1, "channel": "dilepton_met",
                     "luminosity_ifb": LUMI, "sqrt_s_GeV": 13000.0, "seed": 1}.items():
            f.attrs[k] = v
        g = write_samples(f.create_group("samples"), table, False)
        for name, role, proc, attrs, n, w in table:
            s = g[name]
            s["event_number"] = np.arange(n, dtype=np.uint64)
            s["weight_mc"] = rng.choice(np.array([1.0, 1.0, 1.0, -1.0], dtype=np.float32), n)
            s["met"] = rng.exponential(60, n).astype(np.float32)
    return path


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def make_score_files(d, table, cols):
    rng = np.random.default_rng(11)
    out = {}
    # Like bsmhunt's model files, sealed in a 512-byte user block: they do not start
    # with the HDF5 signature (the quickstart's report once took one for a CSV).
    with h5py.File(os.path.join(d, "mlp.h5"), "w", userblock_size=512) as m:
        m.attrs["format"] = "bsmhunt.model"
        m.attrs["version"] = 1
        m.attrs["complete"] = 1
        m.create_group("model").attrs["kind"] = "mlp"
        m["training/samples"] = np.array([b"dy_ee", b"dy_mumu", b"ttbar_dilep", b"ww_lvlv", b"zp_DH_HDS_m130_ee",
                                          b"zp_DH_HDS_m130_mumu"])
        m["history/epoch"] = np.arange(1.0, 6.0)
        m["history/train_loss"] = np.array([0.6, 0.45, 0.4, 0.38, 0.37])
        m["history/validation_loss"] = np.array([0.55, 0.44, 0.41, 0.405, 0.41])
    with open(os.path.join(d, "mlp.h5"), "r+b") as fh:
        fh.write(b"bsmhunt sealed file v1\n")
    for label, sep, kind in (("MLP", 2.5, "mlp"), ("BDT", 1.5, "bdt")):
        x = rng.normal(0, 1, len(cols["label"])) + sep * cols["label"]
        score = sigmoid(x - 1.0).astype(np.float32)
        if kind == "bdt":
            score = np.round(score * 50) / 50  # ties, as a BDT with few trees has
        path = os.path.join(d, "%s_scores.h5" % kind)
        write_row_file(path, table, cols, "bsmhunt.scores", "score", score,
                       {"model": "%s.h5" % kind, "model_kind": kind, "features_file": "features.h5"})
        with h5py.File(path, "a") as f:
            f["score_names"] = np.array([b"score"])
        out[label] = (path, score)
    # An autoencoder: anomaly score = reconstruction MSE, log-distributed, no model file.
    mse = np.exp(rng.normal(-3, 1, len(cols["label"])) + 1.5 * cols["label"]).astype(np.float32)
    path = os.path.join(d, "ae_scores.h5")
    write_row_file(path, table, cols, "bsmhunt.scores", "score", mse,
                   {"model": "ae.h5", "model_kind": "autoencoder", "features_file": "features.h5"})
    with h5py.File(path, "a") as f:
        f["score_names"] = np.array([b"reconstruction_mse"])
    out["AE"] = (path, mse)
    return out


def make_history(d):
    path = os.path.join(d, "mlp.h5.history.csv")
    with open(path, "w") as fh:
        fh.write("epoch,train_loss,validation_loss,learning_rate,seconds,validation_auc\n")
        for e, (t, v, a) in enumerate(zip([0.6, 0.45, 0.4, 0.38, 0.37], [0.55, 0.44, 0.41, 0.405, 0.41],
                                          [0.80, 0.86, 0.88, 0.89, 0.885]), start=1):
            fh.write("%d,%g,%g,%g,%g,%g\n" % (e, t, v, 0.001 * 0.5 ** (e // 3), 0.1, a))
    return path


def asimov(s, b):
    return math.sqrt(2 * ((s + b) * math.log1p(s / b) - s))


def make_significance(d):
    """A significance JSON + HDF5 in the lead's format, for a 2 x 2 x 3 signal grid."""
    path = os.path.join(d, "significance.json")
    # As bsmhunt significance writes it: bins in the logit of the score, cuts in score units.
    logits = np.linspace(-6, 6, 51)
    cuts = 1 / (1 + np.exp(-logits))
    doc = {"format": "bsmhunt.significance", "version": 1, "scores_file": "mlp_scores.h5",
           "features_file": "features.h5", "score_column": "score", "split": "test", "metric": "asimov",
           "bkg_uncertainty": 0.0, "lumi_ifb": LUMI, "bins": {"n": 50, "lo": -6, "hi": 6, "variable": "logit"},
           "cuts": "met > 150", "channels": []}
    with h5py.File(os.path.splitext(path)[0] + ".h5", "w") as h:
        h["edges"] = cuts
        h["binned_edges"] = logits
        for ci, ch in enumerate(("ee", "mumu")):
            b = 5000.0 * np.exp(-8 * cuts ** 4) + 2.0
            c = {"name": ch, "selection": "channel_flag == %d" % ci,
                 "background": {"total": float(b[0]), "total_error": 30.0,
                                "samples": [{"name": "dy_%s" % ch, "process": "drell_yan", "total": float(b[0]),
                                             "raw": 4000}]},
                 "signals": [], "thresholds": [], "cut_and_count": {"cuts": "met > 150", "background": {
                     "before": float(b[0]), "after": 120.0, "after_error": 6.0}, "signals": []},
                 "confusion": {"threshold": 0.5, "true_positive": 3.0, "false_positive": 40.0, "true_negative": 4900.0,
                               "false_negative": 1.0}}
            if ci == 0:
                c["data"] = {"total": 5010.0}
                del c["cut_and_count"]["signals"]
            for theory in ("DH", "LV"):
                for ds in ("HDS", "LDS"):
                    for m in (130.0, 300.0, 500.0):
                        name = "zp_%s_%s_m%d_%s" % (theory, ds, m, ch)
                        s0 = 10.0 * (130.0 / m) * (1.5 if theory == "DH" else 1.0) * (1.2 if ds == "HDS" else 1.0)
                        s = s0 * (1 - cuts ** 3)
                        z = np.array([asimov(si, bi) for si, bi in zip(s, b)])
                        z[-1] = np.nan  # a cut that does not count
                        j = int(np.nanargmax(z))
                        g = "channels/%s/scan/%s" % (ch, name)
                        h[g + "/cut"], h[g + "/s"], h[g + "/b"], h[g + "/z"] = cuts, s, b, z
                        g = "channels/%s/roc/%s" % (ch, name)
                        h[g + "/threshold"] = cuts
                        h[g + "/signal_efficiency"] = s / s[0]
                        h[g + "/background_efficiency"] = b / b[0]
                        sig = {"name": name, "parameters": {"theory": theory, "dark_sector": ds, "m_zprime_GeV": m,
                                                            "final_state": ch},
                               "total": float(s[0]), "raw": 300, "auc": 0.9,
                               "best": {"cut": float(cuts[j]), "s": float(s[j]), "b": float(b[j]), "s_error": 0.1,
                                        "b_error": 1.0, "z": float(z[j]), "s_over_sqrt_b": float(s[j] / b[j] ** 0.5),
                                        "ams": float(z[j])}}
                        if not (theory == "LV" and ds == "LDS"):
                            sig["binned_z"] = float(z[j] * 1.1)  # optional key left out once
                        c["signals"].append(sig)
                        cc = {"name": name, "before": float(s[0]), "after": float(0.4 * s[0]),
                              "z": asimov(0.4 * s[0], 120.0)}
                        if ch == "ee":  # bsmhunt significance's layout: inside the signal
                            sig["cut_and_count"] = cc
                        else:  # also read: a list in the channel's cut_and_count
                            c["cut_and_count"]["signals"].append(cc)
                            # significance --cut-folds in mumu only: below the cut-and-count at 500 GeV
                            sig["unbiased"] = {"folds": 5, "z": cc["z"] * (0.8 if m == 500.0 else 1.25),
                                               "z_std": 0.05, "z_per_fold": [cc["z"]] * 5}
            for t in (0.2, 0.5, 0.8):
                c["thresholds"].append({"threshold": t, "precision": 0.1 * t, "recall": 1 - t / 2, "f1": 0.15,
                                        "accuracy": 0.5 + t / 2})
            doc["channels"].append(c)
    with open(path, "w") as fh:
        json.dump(doc, fh)
    return path, doc


def f3(x, p1, p2, p3):
    return p1 * (1 - x) ** p2 * x ** (-p3)


def make_fit(d):
    edges = np.arange(1500.0, 5001.0, 100.0)
    c = 0.5 * (edges[1:] + edges[:-1])
    mu = f3(c / 13000.0, 0.3, 10.0, 5.0) * 100.0
    rng = np.random.default_rng(2)
    counts = rng.poisson(mu).astype(float)
    counts[18:21] += 60  # a bump at 3300-3600 GeV
    nb = len(counts)

    def fit_of(first, end):
        in_fit = [0 if first <= i < end else 1 for i in range(nb)]
        pulls = [(n - m) / math.sqrt(m) for n, m in zip(counts, mu)]
        return {"accepted": True, "function": "f3", "fit_range_GeV": [1500.0, 5000.0], "fit_bins": nb - (end - first),
                "parameters": [0.3, 10.0, 5.0], "errors": [0.01, 0.1, 0.05], "chi2": 30.5, "ndf": nb - (end - first) - 3,
                "pvalue": 0.4, "expected": mu.tolist(), "expected_error": (0.02 * mu).tolist(), "pulls": pulls,
                "in_fit": in_fit, "attempts": [{"function": "f3", "fit_range_GeV": [1500.0, 5000.0], "converged": True,
                                                "chi2": 30.5, "ndf": 28, "pvalue": 0.4, "message": "CONVERGENCE"}]}

    regions = []
    for first, end in ((18, 21), (8, 11), (25, 28)):
        obs, exp = float(counts[first:end].sum()), float(mu[first:end].sum())
        regions.append({"lo_GeV": float(edges[first]), "hi_GeV": float(edges[end]), "first_bin": first,
                        "end_bin": end, "observed": obs, "expected": exp, "expected_error": 0.02 * exp,
                        "pvalue_local": 0.01, "z_local": max(0.0, (obs - exp) / math.sqrt(exp)),
                        "pvalue_local_stat": 0.01, "z_local_stat": max(0.0, (obs - exp) / math.sqrt(exp)),
                        "fit": fit_of(first, end)})
    doc = {"format": "bsmhunt-fit", "version": 1, "input": "spectrum.csv", "sqrt_s_GeV": 13000,
           "spectrum": {"bins": nb, "events": float(counts.sum()), "edges": edges.tolist(),
                        "counts": counts.tolist()},
           "background_only": fit_of(0, 0), "signal_regions": regions,
           "max_local_z": max(r["z_local"] for r in regions),
           "global": {"toys": 100, "failed": 0, "at_or_above": 2, "observed_max_z": 3.0, "pvalue": 0.02,
                      "pvalue_error": 0.014, "z": 2.05, "z_is_lower_bound": False}}
    path = os.path.join(d, "fit.json")
    with open(path, "w") as fh:
        json.dump(doc, fh)
    return path, doc


def peak_fractions_gauss(edges, mass, sigma):
    """Fractions of a Gaussian in the bins, normalised over the range of the edges."""
    cdf = np.array([0.5 * (1 + math.erf((e - mass) / (sigma * math.sqrt(2)))) for e in edges])
    return np.diff(cdf) / (cdf[-1] - cdf[0])


def peak_fractions_exp(edges, c):
    """Fractions of exp(-c t), t = (m - lo) / (hi - lo), in the bins, normalised over the range."""
    t = (edges - edges[0]) / (edges[-1] - edges[0])
    return -np.diff(np.exp(-c * t)) / (1 - math.exp(-c))


PEAK_TRUTH = 91.1876


def make_peak_fit(d, name, with_scan=True, weight=1.0):
    """A peak-mode fit JSON as bsmhunt fit --peak gauss --background exp writes it
    (src/pipeline/fit/PeakFit.cpp): a Gaussian on an exponential, the fit range the
    40 bins 71-111 GeV of a 42-bin spectrum; with_scan=False: scan and global null,
    no generated mass. weight: the counts are sums of this weight per event."""
    edges = np.arange(70.0, 112.5, 1.0)
    first, end = 1, 41
    fr = edges[first:end + 1]
    ns, nb, c = 900.0, 6000.0, 1.7
    nu_sb = ns * peak_fractions_gauss(fr, 91.2137, 2.49) + nb * peak_fractions_exp(fr, c)
    nu_b = (ns + nb) * peak_fractions_exp(fr, 1.45)
    rng = np.random.default_rng(11)
    counts = np.concatenate([[180.0], rng.poisson(nu_sb).astype(float), [95.0]]) * weight
    names = ["signal_yield", "mass_GeV", "sigma_GeV", "background_yield", "background_shape_1"]
    sb = {"converged": True, "message": "CONVERGENCE", "parameter_names": names,
          "parameters": [ns * weight, 91.2137, 2.49, nb * weight, c], "errors": [61.0, 0.0412, 0.05, 95.0, 0.03],
          "covariance": [[0.0] * 5 for _ in range(5)], "chi2": 37.4, "ndf": 35, "deviance": 38.0,
          "expected": (nu_sb * weight).tolist()}
    bo = {"converged": True, "message": "CONVERGENCE", "parameter_names": names,
          "parameters": [0.0, 91.0, 2.0, (ns + nb) * weight, 1.45], "errors": [0.0, 0.0, 0.0, 83.0, 0.03],
          "covariance": [[0.0] * 5 for _ in range(5)], "chi2": 410.2, "ndf": 38, "deviance": 420.0,
          "expected": (nu_b * weight).tolist()}
    peak = {"shape": "gauss", "background": "exp", "fit_range_GeV": [float(fr[0]), float(fr[-1])],
            "bins": end - first, "converged": True, "mass_GeV": 91.2137, "mass_error_GeV": 0.0412, "width_GeV": 2.49,
            "width_error_GeV": 0.05, "width_is": "Gaussian sigma", "yield": ns * weight, "yield_error": 61.0,
            "local": {"q0": 400.0, "z": 20.0, "pvalue": 2.75e-89}}
    doc = {"format": "bsmhunt-fit", "version": 1, "mode": "peak", "input": "spectrum.csv",
           "conventions": {"likelihood": "binned Poisson"},
           "spectrum": {"edges": edges.tolist(), "counts": counts.tolist()}, "peak": peak,
           "signal_plus_background": sb, "background_only": bo, "scan": None, "global": None}
    if with_scan:
        peak["truth_mass_GeV"] = PEAK_TRUTH
        peak["mass_pull"] = (91.2137 - PEAK_TRUTH) / 0.0412
        masses = np.arange(73.0, 109.5, 2.0)
        z = 19.8 * np.exp(-0.5 * ((masses - 91.0) / 3.0) ** 2) - 0.4 * np.cos(masses)
        best = int(np.argmax(z))
        doc["scan"] = {"width_GeV": 2.0, "step_GeV": 2.0, "mass_GeV": masses.tolist(), "z": z.tolist(),
                       "yield": (40.0 * z).tolist(), "best_mass_GeV": float(masses[best]), "max_z": float(z[best])}
        doc["global"] = {"toys": 200, "failed": 1, "at_or_above": 0, "observed_max_z": float(z[best]),
                         "pvalue": 0.0025, "pvalue_is_upper_bound": True, "z": 2.807, "upcrossings_z1": 2.1,
                         "pvalue_gross_vitells": 1.2e-85, "z_gross_vitells": 19.6}
    path = os.path.join(d, name + ".json")
    with open(path, "w") as fh:
        json.dump(doc, fh)
    return path, doc


def make_bumphunt(d):
    edges = np.arange(2000.0, 6001.0, 250.0)
    c = 0.5 * (edges[1:] + edges[:-1])
    bkg = f3(c / 13000.0, 0.3, 10.0, 5.0) * 60.0
    sig = 300 * np.exp(-0.5 * ((c - 3500) / 120) ** 2)
    effs = [1.0, 0.1, 0.01]
    rng = np.random.default_rng(4)
    regions = []
    nb = len(c)
    best = (None, None, -1)
    for i, first in enumerate(range(2, nb - 5)):
        sr = [float(edges[first]), float(edges[first + 3])]
        sb = [[float(edges[first - 2]), float(edges[first])], [float(edges[first + 3]), float(edges[first + 5])]]
        entries = []
        for e in effs:
            exp_b = bkg * e
            sel = rng.poisson(exp_b + sig * min(1.0, 3 * e)).astype(float)
            fitc = np.where((c > sb[0][0]) & (c < sb[1][1]), exp_b, 0.0)
            obs, pred = float(sel[first:first + 3].sum()), float(fitc[first:first + 3].sum())
            z = max(0.0, (obs - pred) / math.sqrt(pred)) if pred > 0 else 0.0
            entries.append({"efficiency": e, "observed": obs, "predicted": pred, "predicted_error": 0.05 * pred,
                            "z": z, "fit": {"function": "f3", "chi2": 1.5, "ndf": 1, "p_value": 0.22},
                            "selected_counts": sel.tolist(), "fit_counts": fitc.tolist()})
            if z > best[2]:
                best = (i, e, z)
        regions.append({"index": first, "signal_region": sr, "sidebands": sb, "efficiencies": entries})
    # A failed fit, as bsmhunt bumphunt reports it: nulls and no fit counts.
    regions[-1]["efficiencies"][-1].update({"predicted": None, "predicted_error": None, "z": None, "fit_counts": [],
                                            "message": "no sideband fit converged",
                                            "fit": {"function": "", "chi2": None, "ndf": 0, "p_value": None}})
    # 'region' of the summary is the SR's index (its first bin), as bumphunt writes it.
    doc = {"format": "bsmhunt.bumphunt", "version": 1, "mass_bins": edges.tolist(), "efficiencies": effs,
           "background": "dijet", "regions": regions,
           "global": [{"efficiency": e, "max_local_z": 1.0, "toys": 100, "failed": 0, "at_or_above": 3,
                       "p_value": 0.03, "z": 1.88} for e in effs],
           "summary": {"max_z": best[2], "best": {"region": regions[best[0]]["index"], "efficiency": best[1],
                                                  "z": best[2]}}}
    path = os.path.join(d, "bumphunt.json")
    with open(path, "w") as fh:
        json.dump(doc, fh)
    return path, doc


IMAGE_GRID = [-2.5, -3.15, 0.05, 100, 126]
IMAGE_CHANNELS = ["sum_pt", "n_particles", "sum_charge", "sum_pt_muons", "sum_pt_electrons", "em_fraction",
                  "sum_pt_jets", "jet_width", "eta", "phi"]
COMPRESSIONS = ["none", "empty-rowcol", "empty-cell", "stochastic"]


def make_images(d, with_samples=True):
    """An images file of bsmhunt images: two samples of three events, a few hot cells
    each (wtaunu first in the file, so the report must reorder to put znunu first)."""
    path = os.path.join(d, "images.h5")
    rng = np.random.default_rng(8)
    eta_min, phi_min, cell, rows, cols = IMAGE_GRID
    samples = {}
    with h5py.File(path, "w") as f:
        for k, v in {"format": "bsmhunt.images", "version": 1, "complete": 1}.items():
            f.attrs[k] = v
        f["grid"] = np.array(IMAGE_GRID, dtype=np.float64)
        f["channel_names"] = np.array([c.encode() for c in IMAGE_CHANNELS])
        f["scales"] = np.array([50.0, 1, 1, 1, 1, 1, 1, 1])
        if not with_samples:
            return path, samples
        for name, hot_eta, hot_phi in (("wtaunu_pt500", 1.0125, -2.0), ("znunu_pt500", -0.4, 2.63)):
            n = 3
            raw = np.zeros((n, rows, cols, 8), dtype=np.float32)
            for e in range(n):
                r, c = rng.integers(0, rows, 25), rng.integers(0, cols, 25)
                raw[e, r, c, 0] = rng.uniform(0.5, 20.0, 25).astype(np.float32)
                raw[e, r, c, 1] = 1
            # The hottest cell of the first event, placed by (eta, phi) as bsmhunt does.
            hr, hc = int(math.floor((hot_eta - eta_min) / cell)), int(math.floor((hot_phi - phi_min) / cell))
            raw[0, hr, hc, 0] = 750.0
            g = f.create_group("samples/" + name)
            g["event_number"] = np.array([7.0, 8.0, 9.0])
            g["raw"] = raw
            for c in COMPRESSIONS:
                img = np.zeros((n, 60, 60, 10), dtype=np.float32)
                img[:, :, :, 0] = np.where(rng.random((n, 60, 60)) < 0.02, rng.uniform(0.01, 5.0, (n, 60, 60)), 0)
                g[c] = img
            samples[name] = {"events": n, "event_number": 7.0, "first": raw[0, :, :, 0].astype(np.float64),
                             "hot": (hot_eta, hot_phi)}
    return path, samples


def make_efficiencies(d, label, quality, given):
    """An efficiencies JSON of bsmhunt efficiencies: signal 'znunu' against 'wtaunu'
    in slice pt1000; the larger `quality`, the better the classifier."""
    thresholds = [round(0.1 * i, 1) for i in range(11)]
    n_sig, n_bkg = 200.0, 150.0
    table = []
    for t in thresholds:
        tp = round(n_sig * (1 - t ** (2 * quality)))
        fp = round(n_bkg * (1 - t) ** (3 * quality))
        p = tp / (tp + fp) if tp + fp > 0 else None
        r = tp / n_sig
        table.append({"threshold": t, "precision": p, "recall": r, "mean": None if p is None else (p + r) / 2,
                      "product": None if p is None else p * r, "true_positive": float(tp), "false_positive": float(fp)})
    best = max(range(len(table)), key=lambda i: -1 if table[i]["product"] is None else table[i]["product"])
    groups = {"znunu": (0.9 * quality / 2, 5.0e5), "wtaunu": (0.35 / quality, 2.0e5), "wmunu": (0.4 / quality, 8.0e4)}
    selected = {g: {"events": 100.0 + i, "yield": y, "correct": (pas if g == "znunu" else 1 - pas), "passing": pas}
                for i, (g, (pas, y)) in enumerate(groups.items())}
    selected["ttbar"] = {"events": 0.0, "yield": 0.0, "correct": None, "passing": None}
    s, b = groups["znunu"][1], sum(y for g, (_, y) in groups.items() if g != "znunu")
    s_after = groups["znunu"][1] * groups["znunu"][0]
    b_after = sum(p * y for g, (p, y) in groups.items() if g != "znunu")
    gain_own = (s_after / math.sqrt(b_after)) / (s / math.sqrt(b))
    doc = {"format": "bsmhunt.efficiencies", "version": 1, "scores_file": "%s_scores.h5" % label,
           "features_file": "features.h5", "split": "test", "signal_group": "znunu", "reference_background": "wtaunu",
           "reference_slice": "pt1000", "selection": "atlas_selection == 1", "threshold_table": table,
           "threshold": thresholds[best], "threshold_choice": "largest precision x recall",
           "per_slice": {"pt500_1000": {"znunu": {"events": 90.0, "correct": 0.8 * quality / 2},
                                        "wtaunu": {"events": 70.0, "correct": 0.9},
                                        "ttbar": {"events": 0.0, "correct": None}},
                         "pt1000": {"znunu": {"events": 110.0, "correct": 0.95},
                                    "wtaunu": {"events": 80.0, "correct": 0.85 * quality / 2},
                                    "ttbar": {"events": 0.0, "correct": None}}},
           "selected": selected, "gain_given_yields": None,
           "gain_own_yields": {"s": s, "b": b, "s_after": s_after, "b_after": b_after, "gain": gain_own}}
    if given:
        gs, gb = 1.378e5, 1.0767e5
        gs_after, gb_after = gs * groups["znunu"][0], 5.03e4 * groups["wtaunu"][0] + (gb - 5.03e4)
        doc["gain_given_yields"] = {"groups": {"znunu": {"yield": gs, "efficiency": groups["znunu"][0]},
                                               "wtaunu": {"yield": 5.03e4, "efficiency": groups["wtaunu"][0]},
                                               "top": {"yield": gb - 5.03e4, "efficiency": 1.0}},
                                    "s": gs, "b": gb, "s_after": gs_after, "b_after": gb_after,
                                    "gain": (gs_after / math.sqrt(gb_after)) / (gs / math.sqrt(gb))}
    path = os.path.join(d, "%s_efficiencies.json" % label)
    with open(path, "w") as fh:
        json.dump(doc, fh)
    return path, doc


DATAMC_SAMPLES = ["dy_ee_mll10_40", "dy_ee_mll40", "dy_mumu_mll10_40", "dy_mumu_mll40", "ttbar_dilep", "ttbar_semilep",
                  "ww_lvlv", "wz_lvll", "zz_llll", "zz_llvv", "singletop_tw", "wjets_lnu"]


def make_datamc(d, n_features=14, flagged_every=5):
    """A datamc JSON of bsmhunt datamc: n_features features in 10 bins of about equal
    data content, 12 MC samples (so the smallest go into 'other'); every
    `flagged_every`-th feature disagrees; one feature has no bins to compare."""
    rng = np.random.default_rng(21)
    features = []
    nb = 10
    for k in range(n_features):
        name, unit = ("met", "GeV") if k == 0 else (("lep1_phi", "rad") if k == 1 else ("feat_%02d" % k, ""))
        edges = np.sort(np.concatenate([[0.0], rng.uniform(1, 99, nb - 1), [100.0]])) + (k - 3) * 10
        mc = {s: rng.uniform(0.5, 20.0, nb) * (4.0 if s.startswith("dy_") else 0.3 if s.startswith("zz") else 1.0)
              for s in DATAMC_SAMPLES}
        mc_sum = np.sum(list(mc.values()), axis=0)
        variance = mc_sum * 0.01
        scale = 1.1
        flagged = k % flagged_every == 2
        distortion = np.linspace(0.6, 1.4, nb) if flagged else np.ones(nb)
        data = rng.poisson(mc_sum * scale * distortion).astype(float)
        mu = mc_sum * scale
        chi2 = float(np.sum((data - mu) ** 2 / (mu + scale ** 2 * variance)))
        ndf = nb - 1
        entry = {"name": name, "unit": unit, "chi2": chi2, "ndf": ndf, "chi2_ndf": chi2 / ndf,
                 "p_value": (1e-7 * (k + 1)) if flagged else float(0.5 / (k + 1)), "ks_distance": 0.01 * (k + 1),
                 "ks_p_value": 0.3, "flagged": flagged, "data_events": float(data.sum()), "mc_yield": float(mc_sum.sum()),
                 "mc_scale": scale, "missing_data": 3.0 if k == 4 else 0.0, "missing_mc": 0.0,
                 "edges": edges.tolist(), "data": data.tolist(), "mc_variance": variance.tolist(),
                 "mc": {s: v.tolist() for s, v in mc.items()}}
        if k == n_features - 1:  # a constant feature: nothing to compare
            entry.update({"chi2": None, "ndf": 0, "chi2_ndf": None, "p_value": None})
        features.append(entry)
    doc = {"format": "bsmhunt.datamc", "version": 1, "features_file": "features.h5", "normalization": "shape",
           "selection": "met > 50", "split": "all", "flag_p_value": 1e-3, "data_samples": ["data"],
           "mc_samples": DATAMC_SAMPLES, "data_events": features[0]["data_events"], "mc_yield": features[0]["mc_yield"],
           "data_over_mc": features[0]["data_events"] / features[0]["mc_yield"],
           "flagged": [f["name"] for f in features if f["flagged"]], "features": features}
    path = os.path.join(d, "datamc.json")
    with open(path, "w") as fh:
        json.dump(doc, fh)
    return path, doc


ANOMALY_SIGNALS = ["hnl_mu_m300", "hnl_mu_m500", "zp_m1000", "zp_m2000", "zp_m3000"]


def make_anomaly(d, label, quality, signals=ANOMALY_SIGNALS):
    """An anomaly JSON of bsmhunt anomaly for one score: log-spaced score bins, four
    background samples, pseudo-data and the signals; thresholds at SM efficiencies
    0.1, 0.01, 0.001 with the search at 0.01. The larger `quality`, the more each
    signal passes."""
    rng = np.random.default_rng(int(quality * 100))
    edges = np.logspace(-4, 1, 61)
    c = np.sqrt(edges[1:] * edges[:-1])
    lc = np.log10(c)
    bkgs = {"dy_ee": 5e4, "dy_mumu": 4e4, "ttbar_dilep": 1e4, "ww_lvlv": 2e3}
    samples = {}
    btot = np.zeros(len(c))
    for k, (name, y) in enumerate(bkgs.items()):
        shape = np.exp(-0.5 * ((lc + 2.5 - 0.2 * k) / 0.5) ** 2)
        v = y * shape / shape.sum()
        btot += v
        samples[name] = {"role": "background", "values": v.tolist()}
    samples["data"] = {"role": "data", "values": rng.poisson(btot).astype(float).tolist()}
    effs = [0.1, 0.01, 0.001]
    cum = np.cumsum(btot[::-1])[::-1] / btot.sum()  # SM efficiency of 'score >= edge[i]'
    thresholds = []
    for e in effs:
        i = int(np.argmax(cum <= e))
        b = float(cum[i] * btot.sum())
        data = float(np.sum(samples["data"]["values"][i:]))
        z = max(0.0, (data - b) / math.sqrt(b + (0.1 * b) ** 2))
        thresholds.append({"sm_efficiency_target": e, "threshold": float(edges[i]), "sm_efficiency": float(cum[i]),
                           "expected_background": b, "background_uncertainty": math.sqrt(b + (0.1 * b) ** 2),
                           "data": data, "excess": data - b, "z_local": z, "p_value": 0.5 * math.erfc(z / math.sqrt(2)),
                           "search": e == 0.01})
    sigs, roc_s = [], {}
    for j, name in enumerate(signals):
        shape = np.exp(-0.5 * ((lc + 2.0 - quality * (0.3 + 0.15 * j)) / 0.6) ** 2)
        y = 100.0 * (j + 1)
        v = y * shape / shape.sum()
        samples[name] = {"role": "signal", "values": v.tolist()}
        scum = np.cumsum(v[::-1])[::-1] / y
        eff = [float(scum[int(np.argmax(cum <= e))]) for e in effs]
        b = [t["expected_background"] for t in thresholds]
        inj = 1.0 * math.sqrt(btot.sum())
        sigs.append({"name": name, "yield": y, "auc": 0.5 + 0.08 * quality + 0.01 * j, "efficiency": eff,
                     "z_reference": [ei * inj / math.sqrt(bi) for ei, bi in zip(eff, b)],
                     "z_nominal": [ei * y / math.sqrt(bi) for ei, bi in zip(eff, b)]})
        roc_s[name] = scum.tolist()
    sigs[-1]["z_nominal"][0] = None  # a significance that could not be computed
    doc = {"format": "bsmhunt.anomaly", "version": 1, "scores_file": "%s_scores.h5" % label,
           "score": "reconstruction_mse", "mc_split": "test", "data_split": "all", "data_fraction": 1.0,
           "background_total": float(btot.sum()), "data_total": float(np.sum(samples["data"]["values"])),
           "background_uncertainty": 0.1, "reference_significance": 1.0, "search_efficiency": 0.01,
           "sm_efficiencies": effs, "thresholds": thresholds, "signals": sigs,
           "distributions": {"edges": edges.tolist(), "samples": samples},
           "roc": {"background_efficiency": cum.tolist(), "signal_efficiency": roc_s}}
    path = os.path.join(d, "%s_anomaly.json" % label)
    with open(path, "w") as fh:
        json.dump(doc, fh)
    return path, doc


LIMIT_BANDS = (0.53, 0.72, 1.0, 1.39, 1.87)  # expected limits / their median, -2 .. +2 sigma
LIMIT_NPS = [("lumi", 0.0, 0.98), ("eff_electron", 0.3, 0.9), ("eff_muon", -0.2, 0.95), ("jes", 0.9, 0.7),
             ("bkg_norm_drell_yan", -1.3, 0.5), ("staterror_SR[0]", 0.1, 0.99), ("staterror_SR[1]", -0.05, 0.99),
             ("staterror_SR[2]", 0.4, 0.97)]
LIMIT_IMPACTS = [("norm_ttbar", 0.09, -0.08, 0.12, -0.11), ("bkg_norm_drell_yan", 0.05, -0.06, 0.1, -0.09),
                 ("jes", 0.04, -0.03, 0.05, -0.05), ("eff_electron", 0.02, -0.02, 0.021, -0.021),
                 ("lumi", 0.017, -0.017, 0.017, -0.017), ("staterror_SR[2]", 0.01, -0.012, 0.01, -0.011)]


def limits_model(name, params, median_mu, xs, obs_shift, with_nps=True):
    """One model of a limits JSON of bsmhunt limits: expected limits at LIMIT_BANDS x
    the median, the observed one at obs_shift x the median."""
    exp = [median_mu * f for f in LIMIT_BANDS]
    obs = median_mu * obs_shift
    m = {"name": name, "status": "ok", "parameters": params, "cross_section_pb": xs, "ok": True, "message": "",
         "mu_hat": median_mu * (obs_shift - 1), "mu_hat_error": 0.5 * median_mu,
         "limit": {"observed": obs, "expected": exp},
         "cross_section_limit_pb": None if xs is None else {"observed": obs * xs, "expected": [e * xs for e in exp]},
         "discovery": {"p0": 0.5 * math.erfc(max(obs_shift - 1, 0) / math.sqrt(2)), "z": max(obs_shift - 1, 0.0),
                       "p0_expected": 0.01, "z_expected": 1.96 / median_mu},
         "pulls": [], "impacts": [], "poi_upper_bound": 10 * median_mu, "evaluations": 40, "seconds": 0.01}
    if with_nps:
        m["pulls"] = [{"parameter": p, "value": 1.0 + 0.02 * pull, "error": 0.02 * c, "pull": pull, "constraint": c}
                      for p, pull, c in LIMIT_NPS]
        m["impacts"] = [{"parameter": p, "postfit_up": a * median_mu, "postfit_down": b * median_mu,
                         "prefit_up": c * median_mu, "prefit_down": e * median_mu} for p, a, b, c, e in LIMIT_IMPACTS]
    return m


def limits_doc(theories, sectors, masses, final_states, data="pseudo-data"):
    models = []
    for t in theories:
        for s in sectors:
            for m in masses:
                for fs in final_states:
                    k = len(models) + 1
                    med = 0.4 * (m / 130.0) ** 1.6 * (1.0 if t == "DH" else 1.7) * (1.0 if s == "HDS" else 1.3) * \
                        (1.0 if fs == "ee" else 1.1) * (1.0 + 0.001 * k)  # no two medians equal
                    xs = 0.12 * (130.0 / m) ** 2 * (1.5 if t == "DH" else 1.0)
                    shift = 1.0 if data.startswith("asimov") else 1.0 + 0.25 * math.sin(k)
                    params = {"theory": t, "dark_sector": s, "m_zprime_GeV": m,
                              "m_chi_GeV": 1.0 if s == "LDS" else m / 4, "zprime_width_GeV": 0.03 * m,
                              "final_state": fs}
                    models.append(limits_model("zp_%s_%s_m%d_%s" % (t, s, m, fs), params, med, xs, shift,
                                               with_nps=k % 2 == 1))
    return {"format": "bsmhunt.limits", "version": 1, "source": "workspace.json", "cl": 0.95,
            "calculator": "asymptotic", "test_statistic": "qtilde", "data": data, "lumi_ifb": LUMI,
            "channels": list(final_states), "systematics": {"lumi": 0.017, "background_norm": 0.1, "mc_stat": True},
            "models": models, "failed": 0, "above_mu_max": 0, "ranks": 2, "seconds": 3.2}


def make_limits(d):
    """A limits JSON for 2 theories x 2 dark sectors x 3 masses (ee), as bsmhunt limits
    writes it: one model failed (only the keys a failed model has), one above mu-max
    (no limit, but fitted), one without a cross section (its family is drawn on mu),
    and two models of a workspace without parameters (drawn against their index),
    one with a band bsmhunt could not compute (null)."""
    doc = limits_doc(("DH", "LV"), ("HDS", "LDS"), (130.0, 300.0, 500.0), ("ee",))
    models = doc["models"]
    i = [m["name"] for m in models].index("zp_LV_LDS_m500_ee")
    models[i] = {"name": "zp_LV_LDS_m500_ee", "status": "failed", "parameters": models[i]["parameters"],
                 "cross_section_pb": models[i]["cross_section_pb"], "ok": False,
                 "message": "the free fit did not converge", "limit": None, "cross_section_limit_pb": None,
                 "seconds": 0.02}
    by = {m["name"]: m for m in models}
    by["zp_DH_LDS_m500_ee"].update({"ok": False, "status": "above mu-max", "limit": None,
                                    "cross_section_limit_pb": None,
                                    "message": "CLs at mu = 1e+06 is still above 0.05"})
    by["zp_LV_HDS_m300_ee"].update({"cross_section_pb": None, "cross_section_limit_pb": None})
    models.append(limits_model("combined_srA_srB", {}, 0.8, None, 1.1))
    models[-1]["limit"]["expected"][0] = None
    models.append(limits_model("workspace_model_2", {}, 2.5, None, 0.9, False))
    doc["failed"], doc["above_mu_max"] = 1, 1
    path = os.path.join(d, "limits.json")
    with open(path, "w") as fh:
        json.dump(doc, fh)
    return path, doc


def make_limits_grid(d):
    """Analysis A's whole grid: 3 theories x 2 sectors x 12 masses x 2 final states, on Asimov data."""
    doc = limits_doc(("LV", "DH", "EFT"), ("LDS", "HDS"),
                     (130.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 1000.0, 1200.0, 1500.0, 2000.0),
                     ("ee", "mumu"), data="asimov (background only)")
    path = os.path.join(d, "grid_limits.json")
    with open(path, "w") as fh:
        json.dump(doc, fh)
    return path, doc


def limits_by_median(doc):
    """The models as the limits table lists them: by expected median, failed ones last."""
    ok = sorted([m for m in doc["models"] if m["ok"]], key=lambda m: m["limit"]["expected"][2])
    return ok + [m for m in doc["models"] if not m["ok"]]


# --------------------------------------------------------------------------------------
# Reading the page back


class Tables(HTMLParser):
    """table id -> rows -> [(text, data-value or None)]; row_classes: table id -> the
    class of each row (None without); cell_classes: table id -> rows -> the class of
    each cell; sections: the ids of the page's sections in order."""

    def __init__(self):
        super().__init__()
        self.tables, self.images, self.row_classes, self.cell_classes, self.sections = {}, [], {}, {}, []
        self._table = self._row = self._cell = None
        self._id = self._cls = None
        self._cell_cls = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._id = a.get("id", "table%d" % len(self.tables))
            self._table = self.tables.setdefault(self._id, [])
        elif tag == "tr" and self._table is not None:
            self._row, self._cls, self._cell_cls = [], a.get("class"), []
        elif tag == "td" and self._row is not None:
            self._cell = ["", float(a["data-value"]) if "data-value" in a else None]
            self._cell_cls.append(a.get("class"))
        elif tag == "section":
            self.sections.append(a.get("id"))
        elif tag == "img":
            self.images.append(a.get("src"))

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append((self._cell[0].strip(), self._cell[1]))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self._table.append(self._row)
                self.row_classes.setdefault(self._id, []).append(self._cls)
                self.cell_classes.setdefault(self._id, []).append(self._cell_cls)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data



def run_report(cls, args, timeout=300):
    """Runs report.py with `args` into cls.out; sets cls.proc, cls.html and cls.page (its
    parsed tables), empty when no page was written."""
    cls.proc = subprocess.run([PYTHON, REPORT, "--output-dir", cls.out] + args, capture_output=True, text=True,
                              timeout=timeout)
    cls.page = Tables()
    cls.html = ""
    if os.path.exists(os.path.join(cls.out, "index.html")):
        with open(os.path.join(cls.out, "index.html"), encoding="utf-8") as fh:
            cls.html = fh.read()
        cls.page.feed(cls.html)

def datamc_by_p(doc):
    """The features by p-value, features without one (no bins compared) last."""
    return sorted(doc["features"], key=lambda f: (f["p_value"] is None, f["p_value"] or 0.0))


def datamc_drawn(doc):
    """The features the report draws: the flagged ones, then the most discrepant others, 12 in all."""
    by_p = datamc_by_p(doc)
    return ([f for f in by_p if f["flagged"]] + [f for f in by_p if not f["flagged"]])[:12]


def row_by_first(table, first):
    for r in table:
        if r and r[0][0] == first:
            return r
    raise AssertionError("no row '%s' in %s" % (first, [r[0][0] for r in table]))


def weighted_auc(s, ws, b, wb):
    """Independent AUC: P(score_s > score_b) + P(=)/2, weighted, by all pairs."""
    gt = (s[:, None] > b[None, :]).astype(float) + 0.5 * (s[:, None] == b[None, :])
    return float(np.sum(ws[:, None] * wb[None, :] * gt) / (ws.sum() * wb.sum()))


class ReportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        keep = os.environ.get("BSMHUNT_REPORT_TEST_KEEP")
        if keep:
            shutil.rmtree(keep, ignore_errors=True)
            os.makedirs(keep)
            cls.dir = keep
        else:
            cls.dir = tempfile.mkdtemp(prefix="bsmhunt_report_test_")
        d = cls.dir
        cls.features, cls.table, cls.cols, cls.cutflow = make_feature_file(d)
        cls.events = make_event_file(d, cls.table)
        cls.scores = make_score_files(d, cls.table, cls.cols)
        cls.history = make_history(d)
        cls.sig_path, cls.sig = make_significance(d)
        cls.limits_path, cls.limits = make_limits(d)
        cls.fit_path, cls.fit = make_fit(d)
        cls.bh_path, cls.bh = make_bumphunt(d)
        cls.images_path, cls.images = make_images(d)
        cls.effs = {"cnn": make_efficiencies(d, "cnn", 1.0, True), "mlp": make_efficiencies(d, "mlp", 2.0, False)}
        cls.datamc_path, cls.datamc = make_datamc(d)
        cls.anomaly = {"ae_rmm": make_anomaly(d, "ae_rmm", 1.0), "ae_flat": make_anomaly(d, "ae_flat", 2.0),
                       "supervised_hnl_mu_m300": make_anomaly(d, "supervised_hnl_mu_m300", 3.0,
                                                              ["hnl_mu_m300", "zp_m1000"]),
                       "supervised_zp_m2000": make_anomaly(d, "supervised_zp_m2000", 1.5, ["zp_m2000"])}
        # The best Z of one signal is shared by two methods: both are named and bold.
        flat = cls.anomaly["ae_flat"][1]
        rmm_z = cls.anomaly["ae_rmm"][1]["signals"][2]["z_reference"][1]
        flat["signals"][2]["z_reference"][1] = rmm_z
        flat["signals"][2]["efficiency"][1] = 0.25
        with open(cls.anomaly["ae_flat"][0], "w") as fh:
            json.dump(flat, fh)
        cls.out = os.path.join(d, "report")
        cmd = [PYTHON, REPORT, "--output-dir", cls.out, "--title", "Synthetic test report",
               "--events", cls.events, "--features", cls.features, "--cutflow", cls.features + ".cutflow.json",
               "--scores", "MLP=" + cls.scores["MLP"][0], "--scores", "BDT=" + cls.scores["BDT"][0],
               "--scores", "AE=" + cls.scores["AE"][0],
               "--history", "MLP=" + cls.history, "--history", "MLP-model=" + os.path.join(d, "mlp.h5"),
               "--significance", cls.sig_path, "--limits", cls.limits_path, "--fit", cls.fit_path,
               "--bumphunt", cls.bh_path, "--images", cls.images_path, "--efficiencies", cls.effs["cnn"][0],
               "--efficiencies", cls.effs["mlp"][0], "--plot-features", "met,mll,n_jets",
               "--datamc", cls.datamc_path, "--anomaly", cls.anomaly["ae_rmm"][0],  # label from the file name
               "--anomaly", "ae_flat=" + cls.anomaly["ae_flat"][0],
               "--anomaly", "supervised_hnl_mu_m300=" + cls.anomaly["supervised_hnl_mu_m300"][0],
               "--anomaly", "supervised_zp_m2000=" + cls.anomaly["supervised_zp_m2000"][0]]
        cls.proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if cls.proc.returncode != 0:
            print(cls.proc.stdout, cls.proc.stderr, file=sys.stderr)
        html_path = os.path.join(cls.out, "index.html")
        cls.page = Tables()
        if os.path.exists(html_path):
            with open(html_path, encoding="utf-8") as fh:
                cls.html = fh.read()
            cls.page.feed(cls.html)

    @classmethod
    def tearDownClass(cls):
        if not os.environ.get("BSMHUNT_REPORT_TEST_KEEP"):
            shutil.rmtree(cls.dir, ignore_errors=True)

    def test_exit_status(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)

    def test_every_plot_exists(self):
        expected = ["feature_met", "feature_mll", "feature_n_jets", "scores_shapes_MLP", "scores_stacked_MLP",
                    "scores_shapes_BDT", "scores_stacked_BDT", "mass_selected_MLP", "mass_selected_BDT", "scores_shapes_AE", "scores_stacked_AE", "roc", "significance_scan_ee", "significance_grid_ee",
                    "significance_roc_ee", "significance_thresholds_ee", "significance_scan_mumu",
                    "significance_grid_mumu", "fit_fit_background_only", "fit_fit_sr0", "fit_fit_sr1",
                    "fit_fit_sr2", "fit_fit_local_z", "bumphunt_significance", "bumphunt_best_fit",
                    "bumphunt_best_region_all_efficiencies", "training_MLP", "training_MLP-model",
                    "images_znunu_pt500", "images_wtaunu_pt500", "efficiencies_precision_recall",
                    "anomaly_scores_ae_rmm", "anomaly_roc_ae_rmm", "anomaly_scores_ae_flat", "anomaly_roc_ae_flat",
                    "anomaly_scores_supervised_zp_m2000", "anomaly_roc_supervised_zp_m2000"]
        expected += ["datamc_" + f["name"] for f in datamc_drawn(self.datamc)]
        expected += ["limits_brazil_%s_%s_ee" % (t, s) for t in ("DH", "LV") for s in ("HDS", "LDS")]
        expected += ["limits_brazil_models", "limits_ranking", "limits_pulls"]
        for name in expected:
            path = os.path.join(self.out, name + ".png")
            self.assertTrue(os.path.isfile(path), "missing %s" % path)
            with open(path, "rb") as fh:
                self.assertEqual(fh.read(8), b"\x89PNG\r\n\x1a\n", path)
            self.assertIn(name + ".png", self.page.images)
        for src in self.page.images:  # relative links to files that exist
            self.assertFalse(os.path.isabs(src))
            self.assertTrue(os.path.isfile(os.path.join(self.out, src)), src)
        leftovers = [f for f in os.listdir(self.out) if ".tmp" in f]
        self.assertEqual(leftovers, [])

    def test_yields(self):
        t = self.page.tables["yields"]
        w, si = self.cols["weight"], self.cols["sample_index"]
        names = [x[0] for x in self.table]
        total = 0.0
        for proc in ("drell_yan", "ttbar", "diboson"):
            idx = [i for i, x in enumerate(self.table) if x[2] == proc]
            y = float(w[np.isin(si, idx)].sum())
            total += y
            self.assertAlmostEqual(row_by_first(t, proc)[3][1], y, places=9)
            self.assertEqual(row_by_first(t, proc)[2][1], float(np.isin(si, idx).sum()))
        self.assertAlmostEqual(row_by_first(t, "total background")[3][1], total, places=9)
        self.assertEqual(row_by_first(t, "data")[2][1], float((si == names.index("data")).sum()))
        self.assertEqual(total, 1200 * 0.5 + 1000 * 0.5 + 0.25 * (800 - 2 * 80) + 400 * 0.125)
        # Every feature plot holds the whole yield (flows folded into the edge bins).
        self.assertEqual(self.html.count("Total background 1310, data 2,900.</figcaption>"), 3)

    def test_cutflow(self):
        t = self.page.tables["cutflow"]
        cf = self.cutflow
        dy = [s for s in cf["samples"] if s["name"].startswith("dy_")]
        for k in range(len(cf["cuts"])):
            self.assertAlmostEqual(row_by_first(t, "drell_yan")[1 + k][1], sum(s["weighted"][k] for s in dy), places=9)
        data = [s for s in cf["samples"] if s["role"] == "data"][0]
        self.assertEqual([c[1] for c in row_by_first(t, "data")[1:]], [float(x) for x in data["raw"]])

    def test_roc_auc(self):
        t = self.page.tables["roc"]
        c = self.cols
        test = c["split"] == 2
        bkg = test & np.isin(c["sample_index"], [0, 1, 2, 3])
        # mlp.h5 says the MLP was trained on the m130 signals: those are its signal;
        # bdt.h5 does not exist, so every label-1 sample is the BDT's signal.
        for label, signals in (("MLP", [4, 5]), ("BDT", [4, 5, 6, 7]), ("AE", [4, 5, 6, 7])):
            sig = test & np.isin(c["sample_index"], signals)
            score = self.scores[label][1].astype(np.float64)
            auc = weighted_auc(score[sig], c["weight"][sig], score[bkg], c["weight"][bkg])
            self.assertAlmostEqual(row_by_first(t, label)[4][1], auc, places=9, msg=label)
            self.assertEqual(row_by_first(t, label)[2][1], float(sig.sum()))

    def test_significance_table(self):
        t = self.page.tables["significance-ee"]
        ch = self.sig["channels"][0]
        for s in ch["signals"]:
            r = row_by_first(t, s["name"])
            self.assertAlmostEqual(r[8][1], s["best"]["z"], places=12)
            self.assertAlmostEqual(r[5][1], s["best"]["cut"], places=12)
            self.assertAlmostEqual(r[12][1], s["cut_and_count"]["z"], places=12)
        self.assertIsNone(row_by_first(t, "zp_LV_LDS_m130_ee")[10][1])  # binned_z absent: a dash
        self.assertEqual(len(row_by_first(t, "zp_LV_LDS_m130_ee")), 14)  # no folds: no unbiased columns
        t = self.page.tables["significance-mumu"]
        mumu = self.sig["channels"][1]
        for cc in mumu["cut_and_count"]["signals"]:
            self.assertAlmostEqual(row_by_first(t, cc["name"])[12][1], cc["z"], places=12)
        for s in mumu["signals"]:
            r = row_by_first(t, s["name"])
            self.assertAlmostEqual(r[14][1], s["unbiased"]["z"], places=12)
            self.assertAlmostEqual(r[15][1], s["unbiased"]["z"] / r[12][1], places=2)

    def test_against_cut_and_count(self):
        # ee: the best Z (no folds); mumu: the unbiased Z, below the cut-and-count at 500 GeV only.
        ee = self.sig["channels"][0]
        above = sum(s["best"]["z"] >= s["cut_and_count"]["z"] for s in ee["signals"])
        ratios = sorted(s["best"]["z"] / s["cut_and_count"]["z"] for s in ee["signals"])
        self.assertIn("ee: The classifier is at or above the cut-and-count for %d of 12 signals (%.0f%%; Z at the best "
                      "cut over the counted events" % (above, 100.0 * above / 12), self.html)
        self.assertIn("median Z / Z(c&amp;c) %.2f, smallest %.2f" % ((ratios[5] + ratios[6]) / 2, ratios[0]),
                      self.html)
        self.assertIn("mumu: The classifier is at or above the cut-and-count for 8 of 12 signals (67%; Z with the cut "
                      "chosen on other folds", self.html)
        self.assertIn("median Z / Z(c&amp;c) 1.25, smallest 0.80 (zp_", self.html)

    def test_fit_table(self):
        t = self.page.tables["fit-fit"]
        for i, r in enumerate(self.fit["signal_regions"]):
            row = t[i]
            self.assertAlmostEqual(row[7][1], r["observed"])
            self.assertAlmostEqual(row[8][1], r["expected"])
            self.assertAlmostEqual(row[10][1], r["z_local"])

    def test_bumphunt_table(self):
        t = self.page.tables["bumphunt-z"]
        for i, r in enumerate(self.bh["regions"]):
            self.assertEqual(t[i][0][1], r["index"])
            for k, e in enumerate(r["efficiencies"]):
                if e["z"] is None:
                    self.assertIsNone(t[i][2 + k][1])
                else:
                    self.assertAlmostEqual(t[i][2 + k][1], e["z"])
        self.assertEqual([c[1] for c in row_by_first(t, "global")[2:]], [1.88] * 3)

    def test_training_table(self):
        t = self.page.tables["training"]
        r = row_by_first(t, "MLP")
        self.assertEqual(r[2][1], 4.0)  # best epoch
        self.assertAlmostEqual(r[3][1], 0.405)
        self.assertAlmostEqual(r[5][1], 0.89)

    def test_samples_table(self):
        t = self.page.tables["event-samples"]
        with h5py.File(self.events) as f:
            s = f["samples/dy_ee"]
            a = s.attrs
            y = float((s["weight_mc"][:].astype(np.float64)).sum() * a["cross_section_pb"] * LUMI * 1e3 /
                      a["sum_of_weights"])
        self.assertAlmostEqual(row_by_first(t, "dy_ee")[9][1], y, places=6)

    def test_images(self):
        # The signal of the mono-jet study first, though the file lists wtaunu first.
        self.assertLess(self.html.index('src="images_znunu_pt500.png"'),
                        self.html.index('src="images_wtaunu_pt500.png"'))
        t = self.page.tables["image-samples"]
        eta_min, phi_min, cell = IMAGE_GRID[:3]
        for name, x in self.images.items():
            r = row_by_first(t, name)
            img = x["first"]
            self.assertEqual(r[1][1], x["events"])
            self.assertEqual(r[2][1], x["event_number"])
            self.assertEqual(r[3][1], float(np.count_nonzero(img > 0)))
            self.assertAlmostEqual(r[4][1], float(img.sum()), places=3)
            self.assertEqual(r[5][1], 750.0)
            # The hottest cell's centre: within half a cell of where it was put.
            self.assertLessEqual(abs(r[6][1] - x["hot"][0]), cell / 2 + 1e-9)
            self.assertLessEqual(abs(r[7][1] - x["hot"][1]), cell / 2 + 1e-9)
            self.assertAlmostEqual((r[6][1] - eta_min) / cell % 1, 0.5, places=6)
            self.assertAlmostEqual((r[7][1] - phi_min) / cell % 1, 0.5, places=6)

    def test_efficiencies_tables(self):
        for label, (path, doc) in self.effs.items():
            t = self.page.tables["efficiencies-thresholds-" + label]
            classes = self.page.row_classes["efficiencies-thresholds-" + label]
            self.assertEqual(len(t), len(doc["threshold_table"]))
            self.assertEqual(classes.count("chosen"), 1, label)
            chosen = t[classes.index("chosen")]
            self.assertEqual(chosen[0][1], doc["threshold"])
            products = [-1 if r["product"] is None else r["product"] for r in doc["threshold_table"]]
            self.assertEqual(classes.index("chosen"), int(np.argmax(products)))
            for row, r in zip(t, doc["threshold_table"]):
                self.assertEqual(row[0][1], r["threshold"])
                for k, key in ((1, "precision"), (2, "recall"), (3, "mean"), (4, "product")):
                    if r[key] is None:
                        self.assertEqual(row[k], ("–", None))
                    else:
                        self.assertAlmostEqual(row[k][1], r[key], places=12)
                        self.assertEqual(row[k][0], "%.4f" % r[key])
            t = self.page.tables["efficiencies-slices-" + label]
            for sl, groups in doc["per_slice"].items():
                r = row_by_first(t, sl)
                for k, g in enumerate(["znunu", "wtaunu", "ttbar"], start=1):
                    want = groups[g]["correct"]
                    self.assertEqual(r[k][1], want, "%s %s %s" % (label, sl, g))
                    self.assertEqual(r[k][0], "–" if want is None else "%.4f" % want)
            t = self.page.tables["efficiencies-selected-" + label]
            for g, e in doc["selected"].items():
                r = row_by_first(t, g)
                self.assertEqual(r[1][0], {"znunu": "signal", "wtaunu": "reference background"}.get(g, "background"))
                self.assertEqual(r[2][1], e["events"])
                self.assertEqual(r[3][1], e["yield"])
                self.assertEqual(r[4][1], e["correct"])
            t = self.page.tables["efficiencies-gains-" + label]
            own = row_by_first(t, "this file's yields")
            self.assertEqual(own[5][0], "%.4f" % doc["gain_own_yields"]["gain"])
            self.assertAlmostEqual(own[5][1], doc["gain_own_yields"]["gain"], places=12)
            self.assertEqual(own[1][1], doc["gain_own_yields"]["s"])
            given = row_by_first(t, "given yields")
            if doc["gain_given_yields"] is None:
                self.assertEqual(given[5], ("–", None))
            else:
                self.assertEqual(given[5][0], "%.4f" % doc["gain_given_yields"]["gain"])

    def test_efficiencies_comparison(self):
        t = self.page.tables["efficiencies-comparison"]
        self.assertEqual([r[0][0] for r in t], ["cnn", "mlp"])
        for label, (path, doc) in self.effs.items():
            r = row_by_first(t, label)
            self.assertEqual(r[1][1], doc["threshold"])
            self.assertEqual((r[2][0], r[3][1]), ("znunu", doc["selected"]["znunu"]["correct"]))
            self.assertEqual((r[4][0], r[5][1]), ("wtaunu", doc["selected"]["wtaunu"]["correct"]))
            self.assertEqual(r[7][0], "%.4f" % doc["gain_own_yields"]["gain"])
        # Which gain is largest, computed here: cnn alone has given yields, mlp the larger own gain.
        own = {l: doc["gain_own_yields"]["gain"] for l, (_, doc) in self.effs.items()}
        best = max(own, key=own.get)
        self.assertEqual(best, "mlp")
        self.assertIn("with the given yields is cnn (%.4f)" % self.effs["cnn"][1]["gain_given_yields"]["gain"],
                      self.html)
        self.assertIn("own yields, %s (%.4f)" % (best, own[best]), self.html)
        self.assertEqual(row_by_first(t, "mlp")[6], ("–", None))

    def test_datamc_table(self):
        t = self.page.tables["datamc"]
        classes = self.page.row_classes["datamc"]
        want = datamc_by_p(self.datamc)
        self.assertEqual([r[0][0] for r in t], [f["name"] for f in want])
        for row, cls, f in zip(t, classes, want):
            for k, key in ((1, "chi2"), (2, "ndf"), (3, "chi2_ndf"), (4, "p_value"), (5, "ks_distance"),
                           (6, "ks_p_value")):
                if f[key] is None:
                    self.assertEqual(row[k], ("–", None), (f["name"], key))
                else:
                    self.assertAlmostEqual(row[k][1], f[key], places=12, msg=(f["name"], key))
            self.assertEqual(row[7][0], "disagrees" if f["flagged"] else "")
            self.assertEqual(cls, "flagged" if f["flagged"] else None)
        self.assertEqual(self.page.row_classes["datamc"].count("flagged"), 3)
        self.assertEqual(row_by_first(t, "feat_13")[4], ("–", None))  # no bins to compare: last, a dash
        # The summary sentence counts the flagged features.
        self.assertIn("3 of 14 features disagree (feat_02, feat_07, feat_12)", self.html)
        self.assertIn("Missing values (not histogrammed) in: feat_04.", self.html)

    def test_datamc_plots(self):
        drawn = datamc_drawn(self.datamc)
        self.assertEqual(len(drawn), 12)
        pngs = sorted(x for x in self.page.images if x.startswith("datamc_"))
        self.assertEqual(pngs, sorted("datamc_%s.png" % f["name"] for f in drawn))
        self.assertNotIn("datamc_met.png", pngs)  # the best agreement of the 14 is not drawn
        for f in drawn:
            self.assertIn("%s%s: events per bin in 10 bins" % (f["name"], " (disagrees)" if f["flagged"] else ""),
                          self.html)

    def test_section_order(self):
        order = self.page.sections
        self.assertLess(order.index("cutflow"), order.index("datamc"))
        self.assertLess(order.index("scores"), order.index("anomaly"))
        self.assertLess(order.index("anomaly"), order.index("significance"))
        self.assertLess(order.index("significance"), order.index("limits"))

    def test_anomaly_search_tables(self):
        for label, (path, doc) in self.anomaly.items():
            t = self.page.tables["anomaly-search-" + label]
            classes = self.page.row_classes["anomaly-search-" + label]
            self.assertEqual(len(t), len(doc["thresholds"]))
            self.assertEqual(classes, [("chosen" if th["search"] else None) for th in doc["thresholds"]])
            for row, th in zip(t, doc["thresholds"]):
                for k, key in ((0, "sm_efficiency_target"), (1, "sm_efficiency"), (2, "threshold"),
                               (3, "expected_background"), (4, "data"), (5, "excess"), (6, "z_local"),
                               (7, "p_value")):
                    self.assertAlmostEqual(row[k][1], th[key], places=12, msg=(label, key))
                self.assertIn(" ± ", row[3][0])
            t = self.page.tables["anomaly-signals-" + label]
            for s in doc["signals"]:
                r = row_by_first(t, s["name"])
                self.assertAlmostEqual(r[2][1], s["auc"], places=12)
                for k in range(len(doc["thresholds"])):
                    self.assertAlmostEqual(r[3 + 3 * k][1], s["efficiency"][k], places=12)
                    self.assertAlmostEqual(r[4 + 3 * k][1], s["z_reference"][k], places=12)
                    if s["z_nominal"][k] is None:
                        self.assertEqual(r[5 + 3 * k], ("–", None))
        self.assertTrue("score 'reconstruction_mse' of ae_rmm_scores.h5" in html.unescape(self.html))

    def test_anomaly_comparison(self):
        t = self.page.tables["anomaly-comparison"]
        cells = self.page.cell_classes["anomaly-comparison"]
        self.assertEqual([r[0][0] for r in t], ANOMALY_SIGNALS)
        docs = {l: doc for l, (_, doc) in self.anomaly.items()}
        for row, classes in zip(t, cells):
            name = row[0][0]
            self.assertEqual(len(row), 8)  # signal, 2 x (ae_rmm, ae_flat, supervised bound), best
            z = {}
            for k, label in enumerate(("ae_rmm", "ae_flat")):
                s = [x for x in docs[label]["signals"] if x["name"] == name][0]
                i = [th["search"] for th in docs[label]["thresholds"]].index(True)
                self.assertAlmostEqual(row[1 + 2 * k][1], s["efficiency"][i], places=12)
                self.assertAlmostEqual(row[2 + 2 * k][1], s["z_reference"][i], places=12)
                z[label] = s["z_reference"][i]
            best = [l for l in ("ae_rmm", "ae_flat") if z[l] == max(z.values())]
            self.assertEqual(row[7][0], " and ".join(best))
            self.assertEqual([c for c in (classes[2], classes[4])],
                             ["num best" if l in best else "num" for l in ("ae_rmm", "ae_flat")])
            sup = docs.get("supervised_" + name)
            if sup is None:
                self.assertEqual((row[5], row[6]), (("", None), ("", None)))
            else:
                s = [x for x in sup["signals"] if x["name"] == name][0]
                self.assertAlmostEqual(row[6][1], s["z_reference"][1], places=12)
                self.assertEqual(classes[6], "num")  # the bound is never bold
        self.assertEqual(row_by_first(t, "zp_m1000")[7][0], "ae_rmm and ae_flat")
        self.assertIn("inclusive S/√B = 1 before it", self.html)

    def test_limits_table(self):
        t = self.page.tables["limits"]
        classes = self.page.row_classes["limits"]
        want = limits_by_median(self.limits)
        self.assertEqual([r[0][0] for r in t], [m["name"] for m in want])  # 12 by expected median, 2 without last
        self.assertEqual(want[-2:], [m for m in self.limits["models"] if not m["ok"]])
        for row, m in zip(t, want):
            if not m["ok"]:
                self.assertEqual(row[12][0], "%s: %s" % (m["status"], m["message"]))
                self.assertEqual([c[1] for c in row[3:9]], [None] * 6)
                continue
            lim = m["limit"]
            self.assertAlmostEqual(row[3][1], lim["observed"], places=12, msg=m["name"])
            for k, band in ((4, 1), (5, 2), (6, 3)):
                self.assertAlmostEqual(row[k][1], lim["expected"][band], places=12, msg=m["name"])
            xs = m["cross_section_limit_pb"]
            if xs is None:
                self.assertEqual((row[7], row[8]), (("–", None), ("–", None)))
            else:
                self.assertAlmostEqual(row[7][1], xs["observed"], places=12)
                self.assertAlmostEqual(row[8][1], xs["expected"][2], places=12)
            self.assertAlmostEqual(row[10][1], m["discovery"]["z"], places=12)
            self.assertAlmostEqual(row[11][1], m["discovery"]["z_expected"], places=12)
            self.assertEqual(row[12][0], "excluded" if lim["observed"] < 1 else
                             "not excluded (expected excluded)" if lim["expected"][2] < 1 else "not excluded")
        self.assertEqual(row_by_first(t, "combined_srA_srB")[1], ("–", None))  # no m(Z')
        above = [m for m in self.limits["models"] if m["status"] == "above mu-max"][0]
        self.assertEqual(row_by_first(t, above["name"])[2][1], above["mu_hat"])  # fitted, though no limit
        self.assertAlmostEqual(row_by_first(t, above["name"])[10][1], above["discovery"]["z"], places=12)
        # The best expected limit with pulls and impacts is highlighted: its pulls and impacts are drawn.
        best = min((m for m in want if m["ok"] and m["impacts"]), key=lambda m: m["limit"]["expected"][2])
        self.assertEqual(classes.count("chosen"), 1)
        self.assertEqual(t[classes.index("chosen")][0][0], best["name"])
        self.assertEqual(best["name"], "zp_DH_HDS_m130_ee")
        self.assertNotIn("limits-all", self.page.tables)  # 14 models: no truncation
        impacts = self.page.tables["limits-impacts"]
        self.assertEqual([r[0][0] for r in impacts], [i[0] for i in LIMIT_IMPACTS])
        self.assertAlmostEqual(impacts[0][3][1], best["impacts"][0]["postfit_up"], places=12)
        pulls = self.page.tables["limits-pulls"]
        self.assertEqual([r[3][1] for r in pulls], [p[1] for p in LIMIT_NPS])

    def test_limits_captions(self):
        text = html.unescape(self.html)
        self.assertIn("LV, HDS, ee channel: observed (solid) and expected (dashed) 95% CL upper limits on the signal "
                      "strength μ (red: μ = 1) vs m(Z')", text)
        self.assertIn("on μ as some models have no cross section", text)
        self.assertIn("LV, LDS, ee channel: observed (solid) and expected (dashed) 95% CL upper limits on the cross "
                      "section (red: the theory cross section)", text)
        self.assertIn("LV, LDS, ee channel: observed (solid) and expected (dashed) 95% CL upper limits on the "
                      "cross section (red: the theory cross section) vs m(Z'), with the ±1σ (green) and ±2σ "
                      "(yellow) bands of the expected limit; without a limit, not drawn: 1 failed.", text)
        self.assertIn("; without a limit, not drawn: 1 above mu-max.", text)
        self.assertIn("Models without m(Z')", text)
        self.assertNotIn("observed = Asimov", text)
        self.assertIn("14 models (1 above mu-max, 1 failed), 95% CL, asymptotic qtilde, data: pseudo-data", text)
        self.assertIn("Without a limit (last rows): 1 above mu-max, 1 failed.", text)

    def test_luminosity_in_labels(self):
        self.assertIn("Synthetic test report", self.html)
        self.assertIn("139", self.html)


class LimitsGridTest(unittest.TestCase):
    """The whole grid of analysis A (144 models) on Asimov data, the only input."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="bsmhunt_report_limits_")
        cls.path, cls.doc = make_limits_grid(cls.dir)
        cls.out = os.path.join(cls.dir, "report")
        run_report(cls, ["--limits", cls.path])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_runs(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        self.assertEqual(self.page.sections, ["limits"])

    def test_one_plot_per_family(self):
        names = ["limits_brazil_%s_%s_%s.png" % (t, s, fs) for t in ("DH", "EFT", "LV") for s in ("HDS", "LDS")
                 for fs in ("ee", "mumu")]
        names += ["limits_ranking.png", "limits_pulls.png"]
        self.assertEqual(sorted(self.page.images), sorted(names))
        for n in names:
            with open(os.path.join(self.out, n), "rb") as fh:
                self.assertEqual(fh.read(8), b"\x89PNG\r\n\x1a\n", n)

    def test_best_twenty_and_the_rest(self):
        want = limits_by_median(self.doc)
        t = self.page.tables["limits"]
        self.assertEqual([r[0][0] for r in t], [m["name"] for m in want[:20]])
        self.assertIn("The 20 best of 144 models; 124 more with larger expected limits are in the full table below.",
                      html.unescape(self.html))
        full = self.page.tables["limits-all"]
        self.assertEqual([r[0][0] for r in full], [m["name"] for m in want])
        for row, m in zip(full, want):
            self.assertAlmostEqual(row[5][1], m["limit"]["expected"][2], places=12)

    def test_asimov(self):
        text = html.unescape(self.html)
        self.assertIn("observed = Asimov (no data)", text)
        self.assertIn("data: asimov (background only)", text)


class PeakFitTest(unittest.TestCase):
    """Peak-mode fit files (bsmhunt fit --peak) beside a sideband-fit file: one with a
    scan, global significance and generated mass, one with scan and global null."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="bsmhunt_report_peak_")
        cls.dijet_path, cls.dijet = make_fit(cls.dir)
        cls.peak_path, cls.peak = make_peak_fit(cls.dir, "peak", weight=0.25)
        cls.plain_path, cls.plain = make_peak_fit(cls.dir, "peak_noscan", with_scan=False)
        cls.out = os.path.join(cls.dir, "report")
        run_report(cls, ["--fit", cls.dijet_path, "--fit", cls.peak_path, "--fit", cls.plain_path])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_runs(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        self.assertEqual(self.page.sections, ["fits"])
        self.assertIn("<h2>Fits</h2>", self.html)  # sideband and peak fits together

    def test_plots(self):
        names = ["fit_peak_peak", "fit_peak_scan", "fit_peak_noscan_peak", "fit_fit_background_only",
                 "fit_fit_sr0", "fit_fit_sr1", "fit_fit_sr2", "fit_fit_local_z"]
        for name in names:
            path = os.path.join(self.out, name + ".png")
            self.assertTrue(os.path.isfile(path), "missing %s" % path)
            with open(path, "rb") as fh:
                self.assertEqual(fh.read(8), b"\x89PNG\r\n\x1a\n", path)
        self.assertEqual(sorted(self.page.images), sorted(n + ".png" for n in names))  # no scan plot without a scan
        self.assertIn("peak_noscan.json: no mass scan in the file", html.unescape(self.html))

    def test_peak_table(self):
        t = self.page.tables["peak-fits"]
        self.assertEqual([r[0][0] for r in t], ["peak.json", "peak_noscan.json"])
        row = t[0]
        p = self.peak["peak"]
        self.assertEqual(row[1][0], "Gaussian on exp")
        self.assertEqual(row[2][0], "71-111")
        self.assertEqual(row[4], ("91.214 ± 0.041", p["mass_GeV"]))
        self.assertEqual(row[5], ("2.490 ± 0.050 (σ)", p["width_GeV"]))
        self.assertEqual(row[6][1], p["yield"])
        self.assertEqual(row[7][0], "37.4/35")
        self.assertEqual(row[8], ("20.00", 20.0))
        self.assertEqual(row[10], ("< 0.0025", 0.0025))  # no toy reached the observed Z: bounds
        self.assertEqual(row[11], ("> 2.81", 2.807))
        self.assertEqual(row[12], ("19.60", 19.6))
        self.assertEqual(row[13], ("91.1876", PEAK_TRUTH))
        self.assertEqual(row[14][0], "+0.63")
        self.assertAlmostEqual(row[14][1], (p["mass_GeV"] - PEAK_TRUTH) / p["mass_error_GeV"], places=12)
        plain = t[1]
        self.assertEqual(plain[4][1], self.plain["peak"]["mass_GeV"])
        self.assertEqual([c[0] for c in plain[10:]], ["–"] * 5)  # no global, no generated mass
        params = self.page.tables["peak-parameters-peak"]
        self.assertEqual([r[0][0] for r in params], self.peak["signal_plus_background"]["parameter_names"])
        self.assertEqual(params[0][2][0], "0 (fixed)")

    def test_inputs_and_sideband_fits_unchanged(self):
        rows = {r[1][0]: r[2][0] for r in self.page.tables["inputs"]}
        self.assertEqual(rows[self.peak_path], "peak fit: gauss on exp, 40 bins in 71-111 GeV, scan of 19 masses, "
                                               "200 toys")
        self.assertEqual(rows[self.dijet_path], "35 bins, 3 signal regions")
        t = self.page.tables["fit-fit"]
        for i, r in enumerate(self.dijet["signal_regions"]):
            self.assertAlmostEqual(t[i][10][1], r["z_local"])


class BadInputTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bsmhunt_report_bad_")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def report(self, *args):
        out = os.path.join(self.dir, "report")
        r = subprocess.run([PYTHON, REPORT, "--output-dir", out] + list(args), capture_output=True, text=True,
                           timeout=300)
        return r, out

    def test_text_file_as_features(self):
        bad = os.path.join(self.dir, "notes.txt")
        with open(bad, "w") as fh:
            fh.write("this is not HDF5\n")
        r, out = self.report("--features", bad)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(bad, r.stderr)
        self.assertIn("not an HDF5 file", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "index.html")))

    def test_other_hdf5_as_features(self):
        path = make_event_file(self.dir, sample_table())
        r, _ = self.report("--features", path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(path, r.stderr)
        self.assertIn("bsmhunt.features", r.stderr)

    def test_mismatched_scores(self):
        features, table, cols, _ = make_feature_file(self.dir)
        short = {k: v[:-7] for k, v in cols.items()}
        path = os.path.join(self.dir, "short_scores.h5")
        write_row_file(path, table, short, "bsmhunt.scores", "score", np.zeros(len(short["label"]), np.float32), {})
        r, _ = self.report("--features", features, "--scores", "X=" + path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(path, r.stderr)

    def test_broken_json(self):
        path = os.path.join(self.dir, "fit.json")
        with open(path, "w") as fh:
            fh.write('{"format": "bsmhunt-fit", "version": 1}')
        r, _ = self.report("--fit", path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(path, r.stderr)
        self.assertIn("spectrum", r.stderr)

    def test_efficiencies_without_threshold_table(self):
        path, doc = make_efficiencies(self.dir, "cnn", 1.5, True)
        del doc["threshold_table"]
        with open(path, "w") as fh:
            json.dump(doc, fh)
        r, out = self.report("--efficiencies", path)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(path, r.stderr)
        self.assertIn("threshold_table", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "index.html")))

    def test_images_without_samples(self):
        path, _ = make_images(self.dir, with_samples=False)
        r, out = self.report("--images", path)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(path, r.stderr)
        self.assertIn("/samples", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "index.html")))

    def assert_fails(self, path, *words, options=None):
        r, out = self.report(*(options or []))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(path, r.stderr)
        for w in words:
            self.assertIn(w, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "index.html")))

    def rewrite(self, path, doc):
        with open(path, "w") as fh:
            json.dump(doc, fh)

    def test_datamc_wrong_format(self):
        path, doc = make_datamc(self.dir, n_features=2)
        doc["format"] = "bsmhunt.efficiencies"
        self.rewrite(path, doc)
        self.assert_fails(path, "format is 'bsmhunt.efficiencies'", "expected 'bsmhunt.datamc'",
                          options=["--datamc", path])

    def test_datamc_missing_key(self):
        path, doc = make_datamc(self.dir, n_features=2)
        del doc["features"][1]["mc_variance"]
        self.rewrite(path, doc)
        self.assert_fails(path, "missing key 'mc_variance' in features[1] ('lep1_phi')", options=["--datamc", path])

    def test_datamc_wrong_bins(self):
        path, doc = make_datamc(self.dir, n_features=2)
        doc["features"][0]["mc"]["ttbar_dilep"].append(1.0)
        self.rewrite(path, doc)
        self.assert_fails(path, "'ttbar_dilep' in features[0] ('met').mc has 11 values, expected 10",
                          options=["--datamc", path])

    def test_anomaly_missing_key(self):
        path, doc = make_anomaly(self.dir, "ae", 1.0)
        del doc["thresholds"]
        self.rewrite(path, doc)
        self.assert_fails(path, "missing key 'thresholds'", options=["--anomaly", path])

    def test_anomaly_wrong_type(self):
        path, doc = make_anomaly(self.dir, "ae", 1.0)
        doc["signals"][1]["efficiency"][2] = "high"
        self.rewrite(path, doc)
        self.assert_fails(path, "'efficiency' in signals[1] ('hnl_mu_m500')[2] should be a number or null",
                          options=["--anomaly", "ae=" + path])

    def test_anomaly_wrong_format_and_duplicate_label(self):
        path, _ = make_datamc(self.dir, n_features=2)
        self.assert_fails(path, "expected 'bsmhunt.anomaly'", options=["--anomaly", "ae=" + path])
        path, _ = make_anomaly(self.dir, "ae", 1.0)
        r, _ = self.report("--anomaly", "x=" + path, "--anomaly", "x=" + path)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("label 'x' is given twice", r.stderr)

    def test_limits_wrong_format(self):
        path, doc = make_limits(self.dir)
        doc["format"] = "bsmhunt.significance"
        self.rewrite(path, doc)
        self.assert_fails(path, "format is 'bsmhunt.significance'", "expected 'bsmhunt.limits'",
                          options=["--limits", path])

    def test_limits_missing_key(self):
        path, doc = make_limits(self.dir)
        del doc["models"][2]["limit"]["expected"]
        self.rewrite(path, doc)
        self.assert_fails(path, "missing key 'expected' in models[2] ('zp_DH_HDS_m500_ee').limit",
                          options=["--limits", path])
        del doc["cl"]
        self.rewrite(path, doc)
        self.assert_fails(path, "missing key 'cl'", options=["--limits", path])

    def test_limits_bad_values(self):
        path, doc = make_limits(self.dir)
        doc["models"][1]["limit"]["expected"] = [1.0, 2.0, 1.5, 3.0, 4.0]
        self.rewrite(path, doc)
        self.assert_fails(path, "'expected' in models[1] ('zp_DH_HDS_m300_ee').limit should increase",
                          options=["--limits", path])
        path, doc = make_limits(self.dir)
        doc["models"][0]["limit"] = None  # ok: true without a limit
        self.rewrite(path, doc)
        self.assert_fails(path, "'limit' in models[0] ('zp_DH_HDS_m130_ee') should be an object, found null",
                          options=["--limits", path])
        path, doc = make_limits(self.dir)
        doc["models"][2]["impacts"][0]["prefit_up"] = "large"
        self.rewrite(path, doc)
        self.assert_fails(path, "'prefit_up' in models[2] ('zp_DH_HDS_m500_ee').impacts[0] should be a number or null",
                          options=["--limits", path])

    def test_peak_fit_bad(self):
        path, doc = make_peak_fit(self.dir, "peak")
        del doc["peak"]["mass_GeV"]
        self.rewrite(path, doc)
        self.assert_fails(path, "missing key 'mass_GeV' in peak", options=["--fit", path])
        path, doc = make_peak_fit(self.dir, "peak")
        doc["background_only"]["expected"].pop()
        self.rewrite(path, doc)
        self.assert_fails(path, "'expected' in background_only has 39 values, expected 40", options=["--fit", path])
        path, doc = make_peak_fit(self.dir, "peak")
        doc["scan"]["z"][3] = "high"
        self.rewrite(path, doc)
        self.assert_fails(path, "'z' in scan[3] should be a number or null", options=["--fit", path])
        path, doc = make_peak_fit(self.dir, "peak")
        doc["mode"] = "sideband"
        self.rewrite(path, doc)
        self.assert_fails(path, "'mode' is \"sideband\"", options=["--fit", path])

    def test_unknown_feature(self):
        features, _, _, _ = make_feature_file(self.dir)
        r, _ = self.report("--features", features, "--plot-features", "met,nonsense")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nonsense", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
