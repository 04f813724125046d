#!/usr/bin/python3
"""A flat table for analysis C (Z' -> ll classifier, DESIGN.md section 1): one signal
and several backgrounds, very unbalanced, as an h5py column file (one 1-D dataset per
column, the process names as fixed-length strings); `bsmhunt import` reads it.

Signal: Z' (m = 1 TeV, width 30 GeV) -> ee/mumu. Backgrounds: Drell-Yan (m_ll from
a falling power law above 200 GeV), ttbar and WW dileptons (broad m_ll, MET, jets).
Per event: the two leptons' pT, eta, phi, the dilepton mass, pT and rapidity,
delta-phi, MET and the jet count; weights sigma x L / N for 139 fb^-1 (illustrative
cross sections, not published ones); a 'process' column names the sample and
'label' is 1 for the signal.

    /usr/bin/python3 tools/toys/zprime_table.py --output zprime_table.h5
    bsmhunt import --input zprime_table.h5 --output zprime.h5 --sample-column process --mass-column mll \
        --event-column event
"""
import argparse
import os

import h5py
import numpy as np
import pandas as pd

PROCESSES = {  # name: (events, cross section [fb] in the table's acceptance, label)
    "zprime_ll": (4000, 6.0, 1),
    "dy_ll": (300000, 2500.0, 0),
    "ttbar_ll": (120000, 900.0, 0),
    "ww_ll": (60000, 120.0, 0),
}


def leptons(rng, m, n, boost_scale):
    """Two massless leptons from a system of mass m: isotropic decay, system pT ~
    exponential, rapidity ~ normal; returns pt1, eta1, phi1, pt2, eta2, phi2, pt, y."""
    pt_sys = rng.exponential(boost_scale, n)
    y_sys = rng.normal(0, 1.0, n)
    phi_sys = rng.uniform(-np.pi, np.pi, n)
    mt = np.sqrt(m**2 + pt_sys**2)
    P = np.stack([pt_sys * np.cos(phi_sys), pt_sys * np.sin(phi_sys), mt * np.sinh(y_sys)], axis=1)
    E = mt * np.cosh(y_sys)
    cos_t = rng.uniform(-1, 1, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    sin_t = np.sqrt(1 - cos_t**2)
    p = (m / 2)[:, None] * np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=1)
    beta = P / E[:, None]
    b2 = np.sum(beta**2, axis=1)
    gamma = 1 / np.sqrt(1 - b2)
    out = []
    for sign in (1, -1):
        q = sign * p
        bq = np.sum(beta * q, axis=1)
        e = m / 2
        coef = (gamma - 1) * bq / np.where(b2 > 0, b2, 1) + gamma * e
        v = q + coef[:, None] * beta
        pt = np.hypot(v[:, 0], v[:, 1])
        eta = np.arcsinh(v[:, 2] / np.maximum(pt, 1e-9))
        out.append((pt, eta, np.arctan2(v[:, 1], v[:, 0])))
    (pt1, eta1, phi1), (pt2, eta2, phi2) = out
    swap = pt2 > pt1
    pt1, pt2 = np.where(swap, pt2, pt1), np.where(swap, pt1, pt2)
    eta1, eta2 = np.where(swap, eta2, eta1), np.where(swap, eta1, eta2)
    phi1, phi2 = np.where(swap, phi2, phi1), np.where(swap, phi1, phi2)
    return pt1, eta1, phi1, pt2, eta2, phi2, pt_sys, y_sys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", required=True, help="HDF5 file (h5py columns)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every process's event count (default 1)")
    ap.add_argument("--lumi-ifb", type=float, default=139.0, help="luminosity of the weights (default 139)")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    frames, first = [], 0
    for name, (n, xsec_fb, label) in PROCESSES.items():
        n = max(1, int(n * a.scale))
        if name == "zprime_ll":
            m = 1000 + 15 * np.tan(np.pi * (rng.uniform(size=n) - 0.5))  # Breit-Wigner, width 30
            m = np.clip(m, 700, 1300)
            boost, met_scale, jets = 40.0, 15.0, 0.6
        elif name == "dy_ll":
            m = 200 * (1 - rng.uniform(size=n)) ** (-1 / 3.5)  # dN/dm ~ m^-4.5 above 200 GeV
            boost, met_scale, jets = 25.0, 15.0, 0.5
        else:
            m = 120 + rng.gamma(2.0, 90.0 if name == "ttbar_ll" else 70.0, n)
            boost, met_scale, jets = 60.0, 70.0 if name == "ttbar_ll" else 45.0, 2.2 if name == "ttbar_ll" else 0.4
        pt1, eta1, phi1, pt2, eta2, phi2, ptll, yll = leptons(rng, m, n, boost)
        dphi = np.abs(np.mod(phi1 - phi2 + np.pi, 2 * np.pi) - np.pi)
        frames.append(pd.DataFrame({
            "event": np.arange(first, first + n, dtype=np.int64),
            "lep1_pt": pt1, "lep1_eta": eta1, "lep1_phi": phi1,
            "lep2_pt": pt2, "lep2_eta": eta2, "lep2_phi": phi2,
            "mll": m, "ptll": ptll, "yll": yll, "dphi_ll": dphi,
            "met": rng.exponential(met_scale, n), "n_jets": rng.poisson(jets, n).astype(np.int64),
            "weight": np.full(n, xsec_fb * a.lumi_ifb / n), "label": np.full(n, label, dtype=np.int64),
            "process": name,
        }))
        first += n
    df = pd.concat(frames, ignore_index=True)
    os.makedirs(os.path.dirname(os.path.abspath(a.output)), exist_ok=True)
    tmp = a.output + ".partial"
    with h5py.File(tmp, "w") as f:
        for c in df.columns:
            v = df[c].to_numpy()
            f[c] = v.astype("S") if v.dtype == object else v
    os.replace(tmp, a.output)
    print(f"wrote {a.output}: {len(df)} events, " + ", ".join(f"{k} {int(v)}" for k, v in df.process.value_counts().items()))


if __name__ == "__main__":
    main()
