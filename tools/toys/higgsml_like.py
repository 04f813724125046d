#!/usr/bin/python3
"""A table shaped like the HiggsML challenge's (ATLAS, 2014): H -> tau tau in the
lepton + hadronic-tau channel against Z -> tau tau, ttbar and W + jets, with the
challenge's 30 features, -999 where a feature is undefined (no jet, one jet, no MMC
solution), and weighted classes (signal weights ~1e-3, background weights ~1).

The events are a parametric toy, not a simulation: each process makes its tau pair
(or lepton + fake tau) from a resonance or a continuum, with the boson pT, the tau
decays in the collinear approximation, jets and MET drawn as documented below. The
features are then computed from those objects as the challenge defines them
(Adam-Bourdarios et al., "Learning to discover: the Higgs boson machine learning
challenge", 2014, appendix B). It is a test bench for classifiers on a small,
heavy-tailed, partly undefined table, which is what the challenge's table is.

    /usr/bin/python3 tools/toys/higgsml_like.py --events 10000 --output higgsml.csv
    bsmhunt import --input higgsml.csv --label-column Label --weight-column Weight \\
        --event-column EventId --output higgsml.h5

Processes (fractions of the rows as in the challenge's training set, weights so that
the class totals are the challenge's: signal ~692, background ~411 000 for 250 000
rows, scaled to the rows asked for):
  H -> tau tau (m 125 GeV): signal, 34% of the rows; 15% VBF-like (two forward jets)
  Z -> tau tau (m 91.19 GeV, width 2.50): 35%
  ttbar (lepton + tau from W decays, 2-4 jets): 11%
  W + jets (real lepton, a jet faking the tau): 20%
"""
import argparse
import os

import numpy as np

UNDEFINED = -999.0
PROCESSES = {  # name: (fraction of rows, label, class weight share, jets mean)
    "htautau": (0.34, 1, 1.0, 1.1),
    "ztautau": (0.35, 0, 0.30, 0.6),
    "ttbar": (0.11, 0, 0.05, 2.6),
    "wjets": (0.20, 0, 0.65, 0.8),
}
SIGNAL_TOTAL, BACKGROUND_TOTAL, CHALLENGE_ROWS = 692.0, 411_000.0, 250_000


def four(pt, eta, phi, m=0.0):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    return np.stack([e, px, py, pz], axis=1)


def pt_eta_phi(p):
    pt = np.hypot(p[:, 1], p[:, 2])
    return pt, np.arcsinh(p[:, 3] / np.maximum(pt, 1e-9)), np.arctan2(p[:, 2], p[:, 1])


def mass(p):
    return np.sqrt(np.maximum(p[:, 0] ** 2 - p[:, 1] ** 2 - p[:, 2] ** 2 - p[:, 3] ** 2, 0))


def boost(p, beta):
    """Lorentz boost of four-vectors p (rest frame) by velocity beta (n x 3)."""
    b2 = np.sum(beta**2, axis=1)
    gamma = 1 / np.sqrt(1 - b2)
    bp = np.sum(beta * p[:, 1:], axis=1)
    coef = (gamma - 1) * bp / np.where(b2 > 0, b2, 1) + gamma * p[:, 0]
    return np.column_stack([gamma * (p[:, 0] + bp), p[:, 1:] + coef[:, None] * beta])


def two_body(rng, m, n, pt_mean):
    """Two massless daughters of a system of mass m, isotropic in its rest frame; the
    system has pT ~ exponential(pt_mean) and rapidity ~ normal(0, 1.3)."""
    pt, y, phi = rng.exponential(pt_mean, n), rng.normal(0, 1.3, n), rng.uniform(-np.pi, np.pi, n)
    mt = np.sqrt(m**2 + pt**2)
    system = np.column_stack([mt * np.cosh(y), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y)])
    cos_t, ph = rng.uniform(-1, 1, n), rng.uniform(-np.pi, np.pi, n)
    sin_t = np.sqrt(1 - cos_t**2)
    q = (m / 2)[:, None] * np.column_stack([np.ones(n), sin_t * np.cos(ph), sin_t * np.sin(ph), cos_t])
    beta = system[:, 1:] / system[:, :1]
    return boost(q, beta), boost(q * np.array([1, -1, -1, -1]), beta)


def dphi(a, b):
    return np.abs(np.mod(a - b + np.pi, 2 * np.pi) - np.pi)


def make_process(rng, name, n):
    label, jets_mean = PROCESSES[name][1], PROCESSES[name][3]
    if name in ("htautau", "ztautau"):
        m = np.full(n, 125.0) if name == "htautau" else 91.19 + 1.25 * np.tan(np.pi * (rng.uniform(size=n) - 0.5))
        m = np.clip(m, 40, 200)
        tau_a, tau_b = two_body(rng, m, n, 45.0 if name == "htautau" else 20.0)
        # Collinear decays: the leptonic tau keeps a fraction x ~ Beta(2, 2.5) of its
        # momentum, the hadronic one x ~ Beta(2.5, 1.5) (fewer neutrinos).
        x_lep, x_had = rng.beta(2.0, 2.5, n), rng.beta(2.5, 1.5, n)
        lep, tau = tau_a * x_lep[:, None], tau_b * x_had[:, None]
        nu = tau_a * (1 - x_lep)[:, None] + tau_b * (1 - x_had)[:, None]
        true_mass = m
    elif name == "ttbar":
        m = 60 + rng.gamma(2.0, 60.0, n)  # the lepton-tau system of two W decays: no peak
        lep, tau = two_body(rng, m, n, 70.0)
        x_lep, x_had = rng.beta(2.0, 2.0, n), rng.beta(2.5, 1.5, n)
        nu = lep * (1 / x_lep - 1)[:, None] * 0.6 + tau * (1 / x_had - 1)[:, None] * 0.6
        lep, tau = lep, tau
        true_mass = m * 1.3
    else:  # W + jets: W -> l nu, a jet faking the tau
        m = 80.4 + 1.05 * np.tan(np.pi * (rng.uniform(size=n) - 0.5))
        m = np.clip(m, 40, 200)
        lep, nu = two_body(rng, m, n, 35.0)
        tau = four(20 + rng.exponential(18.0, n), rng.normal(0, 1.3, n), rng.uniform(-np.pi, np.pi, n))
        true_mass = 60 + rng.gamma(2.5, 30.0, n)
    lep_pt, lep_eta, lep_phi = pt_eta_phi(lep)
    tau_pt, tau_eta, tau_phi = pt_eta_phi(tau)
    # Jets: Poisson multiplicity above 30 GeV; the VBF-like share of the signal gets two
    # forward jets far apart in eta.
    n_jets = np.minimum(rng.poisson(jets_mean, n), 4)
    vbf = (rng.uniform(size=n) < 0.15) if name == "htautau" else np.zeros(n, bool)
    n_jets = np.where(vbf, np.maximum(n_jets, 2), n_jets)
    j_pt = 30 + rng.exponential(35.0, (n, 4)) * (1.6 if name == "ttbar" else 1.0)
    j_eta = rng.normal(0, 1.8, (n, 4))
    j_eta[:, 0] = np.where(vbf, rng.uniform(1.5, 4.5, n) * np.sign(rng.uniform(-1, 1, n)), j_eta[:, 0])
    j_eta[:, 1] = np.where(vbf, -np.sign(j_eta[:, 0]) * rng.uniform(1.5, 4.5, n), j_eta[:, 1])
    j_pt[:, :2] = np.where(vbf[:, None], j_pt[:, :2] + 20, j_pt[:, :2])
    j_eta = np.clip(j_eta, -4.9, 4.9)
    j_phi = rng.uniform(-np.pi, np.pi, (n, 4))
    order = np.argsort(-j_pt, axis=1)
    j_pt, j_eta, j_phi = (np.take_along_axis(a, order, axis=1) for a in (j_pt, j_eta, j_phi))
    present = np.arange(4)[None, :] < n_jets[:, None]
    j_pt = np.where(present, j_pt, 0.0)
    # MET: the neutrinos, the jets' recoil mismeasured, resolution 0.5 sqrt(sumET).
    soft = 100 + rng.gamma(3.0, 40.0, n)
    sumet = lep_pt + tau_pt + j_pt.sum(axis=1) + soft
    met_x = nu[:, 1] + rng.normal(0, 0.5 * np.sqrt(sumet))
    met_y = nu[:, 2] + rng.normal(0, 0.5 * np.sqrt(sumet))
    met, met_phi = np.hypot(met_x, met_y), np.arctan2(met_y, met_x)

    f = {}
    # The MMC mass: the true di-tau mass smeared by 15%; no solution in 8% of the
    # events (25% of W + jets, whose fake tau has no neutrino).
    no_solution = rng.uniform(size=n) < (0.25 if name == "wjets" else 0.08)
    f["DER_mass_MMC"] = np.where(no_solution, UNDEFINED, true_mass * rng.normal(1, 0.15, n).clip(0.5, 2))
    f["DER_mass_transverse_met_lep"] = np.sqrt(np.maximum(2 * lep_pt * met * (1 - np.cos(lep_phi - met_phi)), 0))
    f["DER_mass_vis"] = mass(lep + tau)
    h = np.column_stack([lep[:, 1] + tau[:, 1] + met_x, lep[:, 2] + tau[:, 2] + met_y])
    f["DER_pt_h"] = np.hypot(h[:, 0], h[:, 1])
    two = n_jets >= 2
    j1 = four(j_pt[:, 0], j_eta[:, 0], j_phi[:, 0])
    j2 = four(j_pt[:, 1], j_eta[:, 1], j_phi[:, 1])
    f["DER_deltaeta_jet_jet"] = np.where(two, np.abs(j_eta[:, 0] - j_eta[:, 1]), UNDEFINED)
    f["DER_mass_jet_jet"] = np.where(two, mass(j1 + j2), UNDEFINED)
    f["DER_prodeta_jet_jet"] = np.where(two, j_eta[:, 0] * j_eta[:, 1], UNDEFINED)
    f["DER_deltar_tau_lep"] = np.hypot(tau_eta - lep_eta, dphi(tau_phi, lep_phi))
    jx = (j_pt[:, :2] * np.cos(j_phi[:, :2])).sum(axis=1)
    jy = (j_pt[:, :2] * np.sin(j_phi[:, :2])).sum(axis=1)
    f["DER_pt_tot"] = np.hypot(h[:, 0] + jx, h[:, 1] + jy)
    f["DER_sum_pt"] = lep_pt + tau_pt + j_pt.sum(axis=1)
    f["DER_pt_ratio_lep_tau"] = lep_pt / tau_pt
    # MET phi centrality: where the MET points between the lepton and the tau (sqrt 2 inside).
    d = np.sin(lep_phi - tau_phi)
    d = np.where(np.abs(d) < 1e-6, 1e-6, d)
    a_ = np.sin(met_phi - tau_phi) / d
    b_ = np.sin(lep_phi - met_phi) / d
    f["DER_met_phi_centrality"] = (a_ + b_) / np.sqrt(a_**2 + b_**2)
    mid, half = (j_eta[:, 0] + j_eta[:, 1]) / 2, (j_eta[:, 0] - j_eta[:, 1])
    half = np.where(np.abs(half) < 1e-6, 1e-6, half)
    f["DER_lep_eta_centrality"] = np.where(two, np.exp(-4 / half**2 * (lep_eta - mid) ** 2), UNDEFINED)
    f["PRI_tau_pt"], f["PRI_tau_eta"], f["PRI_tau_phi"] = tau_pt, tau_eta, tau_phi
    f["PRI_lep_pt"], f["PRI_lep_eta"], f["PRI_lep_phi"] = lep_pt, lep_eta, lep_phi
    f["PRI_met"], f["PRI_met_phi"], f["PRI_met_sumet"] = met, met_phi, sumet
    f["PRI_jet_num"] = n_jets.astype(float)
    one = n_jets >= 1
    f["PRI_jet_leading_pt"] = np.where(one, j_pt[:, 0], UNDEFINED)
    f["PRI_jet_leading_eta"] = np.where(one, j_eta[:, 0], UNDEFINED)
    f["PRI_jet_leading_phi"] = np.where(one, j_phi[:, 0], UNDEFINED)
    f["PRI_jet_subleading_pt"] = np.where(two, j_pt[:, 1], UNDEFINED)
    f["PRI_jet_subleading_eta"] = np.where(two, j_eta[:, 1], UNDEFINED)
    f["PRI_jet_subleading_phi"] = np.where(two, j_phi[:, 1], UNDEFINED)
    f["PRI_jet_all_pt"] = j_pt.sum(axis=1)
    return f, np.full(n, label)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10000, help="rows (default 10000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--output", required=True, help="CSV file to write (EventId, 30 features, Weight, Label)")
    a = ap.parse_args()
    if a.events < 100:
        ap.error(f"--events {a.events}: at least 100 rows")
    rng = np.random.default_rng(a.seed)
    columns, labels, weights = None, [], []
    sig_rows = int(round(PROCESSES["htautau"][0] * a.events))
    bkg_rows = a.events - sig_rows
    bkg_share = sum(v[0] for k, v in PROCESSES.items() if v[1] == 0)
    rows_scale = a.events / CHALLENGE_ROWS
    for name, (fraction, label, weight_share, _) in PROCESSES.items():
        n = sig_rows if label == 1 else max(1, int(round(fraction / bkg_share * bkg_rows)))
        f, lab = make_process(rng, name, n)
        total = SIGNAL_TOTAL if label == 1 else BACKGROUND_TOTAL * weight_share
        # Per-event weights vary by +-30% inside a process, as the challenge's do.
        w = rng.uniform(0.7, 1.3, n)
        w *= total * rows_scale / w.sum()
        columns = f if columns is None else {k: np.concatenate([columns[k], f[k]]) for k in f}
        labels.append(lab), weights.append(w)
    labels, weights = np.concatenate(labels), np.concatenate(weights)
    order = rng.permutation(len(labels))  # the challenge's rows are not grouped by process
    names = list(columns)
    assert len(names) == 30, len(names)
    tmp = a.output + ".partial"
    with open(tmp, "w") as out:
        out.write(",".join(["EventId"] + names + ["Weight", "Label"]) + "\n")
        for i, r in enumerate(order):
            cells = [f"{columns[k][r]:.6g}" for k in names]
            out.write(f"{100000 + i}," + ",".join(cells) + f",{weights[r]:.6g},{labels[r]}\n")
    os.replace(tmp, a.output)
    print(f"wrote {a.output}: {len(labels)} rows, {int(labels.sum())} signal (weight {weights[labels == 1].sum():.3g}), "
          f"{int((labels == 0).sum())} background (weight {weights[labels == 0].sum():.4g}), "
          f"{sum(int((columns[k] == UNDEFINED).sum()) for k in names)} undefined cells")


if __name__ == "__main__":
    main()
