#!/usr/bin/env python3
"""Analysis A's generator against the thesis' cut-and-count tables (issue #16).

Generates the dilepton_met backgrounds (1 M stored events) and the heavy-dark-sector
130 GeV models, extracts the analysis features with the thesis' preselection, and
computes with numpy, independently of bsmhunt significance, the expected events at
139 fb^-1 per channel after MET > 50 GeV and after the thesis' cuts (MET significance
> 10, mT > 160 GeV, m_ll > 120 GeV, 0 b-jets, mT2 > 110 GeV). Each must match the
thesis within 30%, widened by twice this reduced sample's MC-statistical error (the
background after the cuts rests on ~100 weighted MC events here). The thesis' numbers
are taken from the event file's attributes, and checked against the issue's text here,
so the generator cannot drift from them silently.

usage: thesis_yields.py BSMHUNT WORKDIR [--events N]
"""
import argparse
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from cli_check import mpirun, run, verdict  # noqa: E402

# The thesis' Tables 5.4 (ee) and 5.5 (mumu), as issue #16 quotes them.
THESIS = {
    ("LV", "ee"): dict(s_pre=15, s_cut=4, b_pre=1256624, b_cut=117, z=0.4),
    ("DH", "ee"): dict(s_pre=20, s_cut=6, b_pre=1256624, b_cut=117, z=0.6),
    ("LV", "mumu"): dict(s_pre=14, s_cut=3, b_pre=1626098, b_cut=108, z=0.36),
    ("DH", "mumu"): dict(s_pre=19, s_cut=5, b_pre=1626098, b_cut=108, z=0.51),
}
BACKGROUNDS = ["dy_ee", "dy_mumu", "dy_tautau", "ttbar_dilep", "ww_lvlv", "wz_lvll", "zz_llvv", "zz_llll",
               "wjets_fake"]
SIGNALS = [f"zp_{t}_HDS_m130_{f}" for t in ("LV", "DH", "EFT") for f in ("ee", "mumu")]
TOLERANCE = 0.30




def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bsmhunt")
    ap.add_argument("workdir")
    ap.add_argument("--events", type=int, default=1000000)
    args = ap.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    events = os.path.join(args.workdir, "events.h5")
    features = os.path.join(args.workdir, "features.h5")
    run(mpirun(2) + [args.bsmhunt, "generate", "--channel", "dilepton_met", "--events", str(args.events),
                     "--signal-events", "10000", "--samples", ",".join(BACKGROUNDS + SIGNALS),
                     "--pseudo-data", "false", "--summary", "false", "--output", events])
    run(mpirun(2) + [args.bsmhunt, "extract", "--input", events, "--output", features, "--features",
                     "dilepton_met", "--lepton-pt-min", "20", "--require", "sfos", "--met-min", "50",
                     "--padding", "sentinel"])

    failures = []
    with h5py.File(events, "r") as f:
        # The reference numbers the generator writes must be the thesis'.
        for (theory, fs), ref in THESIS.items():
            a = f["samples"][f"zp_{theory}_HDS_m130_{fs}"].attrs
            got = dict(s_pre=a["reference_signal_preselection"], s_cut=a["reference_signal_after_cuts"],
                       b_pre=a["reference_background_preselection"], b_cut=a["reference_background_after_cuts"],
                       z=a["reference_z"])
            if got != ref:
                failures.append(f"zp_{theory}_HDS_m130_{fs}: reference attributes {got} != thesis {ref}")
            if "x" not in str(a["cross_section_calibration"]):
                failures.append(f"zp_{theory}_HDS_m130_{fs}: no cross_section_calibration attribute")
        if "met_tail_calibration" not in f["samples"]["dy_ee"].attrs:
            failures.append("dy_ee: no met_tail_calibration attribute")
        if "reference" in f["samples"]["zp_EFT_HDS_m130_ee"].attrs:
            failures.append("zp_EFT_HDS_m130_ee carries reference yields the thesis does not give")

    with h5py.File(features, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["feature_names"][:]]
        x = {n: f["features"][:, i] for i, n in enumerate(names)}
        w = f["weight"][:]
        index = f["sample_index"][:]
        samples = [n.decode() if isinstance(n, bytes) else n for n in f["sample_names"][:]]
    cuts = ((x["met_significance"] > 10) & (x["mt_llmet"] > 160) & (x["mll"] > 120) & (x["n_bjets"] == 0)
            & (x["mt2"] > 110))
    background = np.isin(index, [samples.index(b) for b in BACKGROUNDS])

    def yield_of(mask):
        return float(w[mask].sum()), float(np.sqrt((w[mask] ** 2).sum()))

    print(f"{'quantity':44} {'bsmhunt':>20} {'thesis':>10} {'allowed':>10}")

    def check(label, value, error, reference):
        allowed = TOLERANCE * reference + 2 * error
        ok = abs(value - reference) <= allowed
        print(f"{label:44} {value:12.4g} +- {error:<6.2g} {reference:10.7g} {allowed:10.3g}  {'ok' if ok else 'FAIL'}")
        if not ok:
            failures.append(f"{label}: {value:.4g} +- {error:.2g}, thesis {reference} (allowed +- {allowed:.3g})")

    for flag, fs in ((0, "ee"), (1, "mumu")):
        channel = x["channel_flag"] == flag
        ref = THESIS[("DH", fs)]
        check(f"{fs}: background after MET > 50 GeV", *yield_of(channel & background), ref["b_pre"])
        check(f"{fs}: background after the cuts", *yield_of(channel & background & cuts), ref["b_cut"])
        for theory in ("LV", "DH"):
            ref = THESIS[(theory, fs)]
            mine = channel & (index == samples.index(f"zp_{theory}_HDS_m130_{fs}"))
            check(f"{fs}: {theory} HDS m130 after MET > 50 GeV", *yield_of(mine), ref["s_pre"])
            check(f"{fs}: {theory} HDS m130 after the cuts", *yield_of(mine & cuts), ref["s_cut"])
    return verdict(failures, "thesis yields: all within 30% (+ 2 sigma MC statistics)")


if __name__ == "__main__":
    sys.exit(main())
