#!/usr/bin/python3
"""Seed corpora of the fuzz harnesses that are not made by bsmhunt itself: tables
written by pandas and h5py, spectra, workspaces, CSV files and option texts.
Usage: fuzz/make_seeds.py CORPUS_DIR   (one subdirectory per harness)."""
import json
import os
import sys

import h5py
import numpy as np
import pandas as pd


def put(harness, name, content):
    d = os.path.join(sys.argv[1], harness)
    os.makedirs(d, exist_ok=True)
    mode = "wb" if isinstance(content, bytes) else "w"
    with open(os.path.join(d, name), mode) as f:
        f.write(content)
    return os.path.join(d, name)


def main():
    rng = np.random.default_rng(1)
    for i, text in enumerate(["met > 50", "met_significance > 10 && mt_llmet > 160 && n_bjets == 0 && mt2 > 110",
                              "ee: channel_flag == 0; mumu: channel_flag == 1", "m_ll >= 120 && lep1_pt != -999",
                              "", "score <= 0.5e-3 && jet1_eta < -2.4"]):
        put("selection_fuzzer", f"seed{i}", text)
    for i, text in enumerate(["1,0.2,0.1", "0:100:10", "log:10:1000:20", "200,250,300,400,600,1000", "csv",
                              "pandas", "h5py", "auto", "1e300,-0,inf"]):
        put("options_fuzzer", f"seed{i}", text)

    # CSV tables, HiggsML style: -999 for undefined values, a text column, weights.
    n = 12
    frame = pd.DataFrame({"EventId": np.arange(100000, 100000 + n), "DER_mass_MMC": rng.normal(120, 20, n),
                          "PRI_jet_leading_pt": np.where(rng.random(n) < 0.3, -999.0, rng.exponential(60, n)),
                          "Weight": rng.random(n), "Label": np.where(rng.random(n) < 0.5, "s", "b")})
    put("csv_table_fuzzer", "higgsml.csv", frame.to_csv(index=False))
    put("csv_table_fuzzer", "plain.csv", "a,b,c\n1,2,3\n4.5,-6e2,nan\n")
    put("spectrum_csv_fuzzer", "spectrum.csv", "lo,hi,count\n1000,1100,530\n1100,1210,410\n1210,1331,290\n")
    put("spectrum_csv_fuzzer", "spectrum_comments.csv", "# m_jj\nlo,hi,count\n\n1000,1100,5\n1100,1200,0\n")

    spectrum = put("hdf5_spectrum_fuzzer", "spectrum.h5", b"")
    with h5py.File(spectrum, "w") as f:
        f["edges"] = np.array([1000.0, 1100.0, 1210.0, 1331.0])
        f["counts"] = np.array([530.0, 410.0, 290.0])

    pandas_file = put("hdf5_table_fuzzer", "pandas_fixed.h5", b"")
    os.remove(pandas_file)
    frame.drop(columns=["Label"]).assign(flag=rng.random(n) < 0.5).to_hdf(pandas_file, key="events", format="fixed")
    h5py_file = put("hdf5_table_fuzzer", "h5py_columns.h5", b"")
    with h5py.File(h5py_file, "w") as f:
        g = f.create_group("events")
        g["pt"] = rng.exponential(50, n).astype(np.float32)
        g["n_jets"] = rng.integers(0, 5, n)
        g["is_signal"] = rng.random(n) < 0.5
        g["name"] = np.array([b"ttbar"] * n)

    workspace = {
        "channels": [{"name": "SR", "samples": [
            {"name": "signal", "data": [5.0, 2.0], "modifiers": [
                {"name": "mu", "type": "normfactor", "data": None},
                {"name": "lumi", "type": "lumi", "data": None}]},
            {"name": "background", "data": [10.0, 4.0], "modifiers": [
                {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                {"name": "shape", "type": "histosys", "data": {"hi_data": [11.0, 4.5], "lo_data": [9.0, 3.6]}},
                {"name": "staterror_SR", "type": "staterror", "data": [1.0, 0.5]},
                {"name": "uncorr", "type": "shapesys", "data": [0.5, 0.4]},
                {"name": "lumi", "type": "lumi", "data": None}]}]}],
        "observations": [{"name": "SR", "data": [12.0, 5.0]}],
        "measurements": [{"name": "counting", "config": {"poi": "mu", "parameters": [
            {"name": "lumi", "auxdata": [1.0], "sigmas": [0.02], "inits": [1.0], "bounds": [[0.0, 10.0]]}]}}],
        "version": "1.0.0",
    }
    put("workspace_fuzzer", "workspace.json", json.dumps(workspace, indent=1))


if __name__ == "__main__":
    main()
