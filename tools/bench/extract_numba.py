#!/usr/bin/env python3
"""A numba-compiled event loop computing what `bsmhunt extract --select <24 features>`
computes for dilepton_met (no mT2, no MET significance), for the side-by-side benchmark
(tools/bench/bench extract). The peer of issue #20: h5py column reads, one @njit loop per
sample, no parallelism.

Same selection (exactly two leptons with pT > 20 GeV and |eta| < 2.5, same flavour and
opposite sign, MET > 50 GeV) and the same formulas, in the same order of operations, as
src/physics/features/DileptonMet.cpp and physics/Kinematics.hpp, so that the float32
features can be compared bit for bit with bsmhunt's feature file (--compare).

Usage: .bench-venv/bin/python tools/bench/extract_numba.py EVENTS.h5 [--compare FEATURES.h5]
Prints: RESULT events_read=N events_selected=M compile_s=... read_s=... compute_s=...
        events_per_s_compute=... events_per_s_with_read=... [mismatched_values=K of V]
"""
import math
import sys
import time

import h5py
import numba
import numpy as np

FEATURES = ["lep1_pt", "lep1_eta", "lep1_phi", "lep2_pt", "lep2_eta", "lep2_phi", "mll", "ptll", "met", "met_phi",
            "mt_llmet", "dphi_ll", "dphi_ll_met", "dr_ll", "n_jets", "n_bjets", "ht", "jet1_pt", "jet1_eta",
            "jet1_phi", "jet2_pt", "jet2_eta", "jet2_phi", "channel_flag"]
SENTINEL = 10.0  # bsmhunt extract --sentinel default: eta/phi of a missing jet
PI = math.pi
TWO_PI = 2 * math.pi


@numba.njit(cache=False)
def wrap_phi(phi):
    if -PI <= phi < PI:
        return phi
    phi = np.fmod(phi + PI, TWO_PI)
    if phi < 0:
        phi += TWO_PI
    return phi - PI


@numba.njit(cache=False)
def abs_delta_phi(a, b):
    d = abs(a - b)
    if d > TWO_PI:
        d = np.fmod(d, TWO_PI)
    return TWO_PI - d if d > PI else d


@numba.njit(cache=False)
def sin2_half(a, b):
    s = math.sin(0.5 * (a - b))
    return s * s


@numba.njit(cache=False)
def sample_features(e_off, e_pt, e_eta, e_phi, e_q, m_off, m_pt, m_eta, m_phi, m_q,
                    j_off, j_pt, j_eta, j_phi, j_b, met_col, met_phi_col, out):
    """Fills out[row] for each selected event in file order; returns the row count."""
    rows = 0
    lpt = np.empty(3)
    leta = np.empty(3)
    lphi = np.empty(3)
    lq = np.empty(3, np.int64)
    lfl = np.empty(3, np.int64)
    for i in range(len(met_col)):
        n = 0
        for flavour in range(2):
            off = e_off if flavour == 0 else m_off
            pt = e_pt if flavour == 0 else m_pt
            eta = e_eta if flavour == 0 else m_eta
            phi = e_phi if flavour == 0 else m_phi
            q = e_q if flavour == 0 else m_q
            for k in range(off[i], off[i + 1]):
                p = np.float64(pt[k])
                h = np.float64(eta[k])
                if p > 20.0 and abs(h) < 2.5:
                    if n < 3:
                        lpt[n] = p
                        leta[n] = h
                        lphi[n] = np.float64(phi[k])
                        lq[n] = q[k]
                        lfl[n] = flavour
                    n += 1
        if n != 2:
            continue
        a, b = (1, 0) if lpt[1] > lpt[0] else (0, 1)  # leading first
        if not (lfl[a] == lfl[b] and lq[a] * lq[b] < 0):
            continue
        met = np.float64(met_col[i])
        met_phi = np.float64(met_phi_col[i])
        if not met > 50.0:
            continue
        pt1, eta1, phi1 = lpt[a], leta[a], lphi[a]
        pt2, eta2, phi2 = lpt[b], leta[b], lphi[b]
        j0, j1 = j_off[i], j_off[i + 1]
        nb = 0
        ht = 0.0
        for k in range(j0, j1):
            nb += j_b[k] != 0
            ht += np.float64(j_pt[k])
        # m_ll of two massless leptons (Kinematics.hpp invariant_mass2 with m = 0)
        mt_prod = math.sqrt(pt1 * pt1) * math.sqrt(pt2 * pt2)
        pt_prod = pt1 * pt2
        half_dy = 0.5 * (eta1 - eta2)
        s = math.sinh(half_dy)
        mass_term = 0.0  # (m1^2 pT2^2 + m2^2 pT1^2 + m1^2 m2^2) / (...) with m = 0
        m_ll = math.sqrt(0.0 + 2 * (mass_term + 2 * mt_prod * s * s + 2 * pt_prod * sin2_half(phi1, phi2)))
        c = math.cos(0.5 * (phi1 - phi2))
        dpt = pt1 - pt2
        pt_ll = math.sqrt(dpt * dpt + 4 * pt1 * pt2 * c * c)
        pxll = pt1 * math.cos(phi1) + pt2 * math.cos(phi2)
        pyll = pt1 * math.sin(phi1) + pt2 * math.sin(phi2)
        phi_ll = 0.0 if pxll == 0 and pyll == 0 else math.atan2(pyll, pxll)
        et = math.sqrt(m_ll * m_ll + pt_ll * pt_ll)
        et_minus_pt = m_ll * m_ll / (et + pt_ll) if et + pt_ll > 0 else 0.0
        mt = math.sqrt(m_ll * m_ll + 2 * (et_minus_pt * met + 2 * pt_ll * met * sin2_half(phi_ll, met_phi)))
        o = out[rows]
        o[0], o[1], o[2], o[3], o[4], o[5] = pt1, eta1, phi1, pt2, eta2, phi2
        o[6], o[7], o[8], o[9], o[10] = m_ll, pt_ll, met, met_phi, mt
        o[11] = abs_delta_phi(phi1, phi2)
        o[12] = abs_delta_phi(phi_ll, met_phi)
        o[13] = math.hypot(eta1 - eta2, wrap_phi(phi1 - phi2))
        o[14], o[15], o[16] = j1 - j0, nb, ht
        for j in range(2):
            if j0 + j < j1:
                o[17 + 3 * j] = j_pt[j0 + j]
                o[18 + 3 * j] = j_eta[j0 + j]
                o[19 + 3 * j] = j_phi[j0 + j]
            else:
                o[17 + 3 * j], o[18 + 3 * j], o[19 + 3 * j] = 0.0, SENTINEL, SENTINEL
        o[23] = 2.0 if lfl[a] != lfl[b] else np.float64(lfl[a])
        rows += 1
    return rows


def read_sample(g):
    cols = []
    for coll in ("electrons", "muons"):
        cols += [g[f"{coll}/offsets"][:]] + [g[f"{coll}/{m}"][:] for m in ("pt", "eta", "phi", "charge")]
    cols += [g["jets/offsets"][:]] + [g[f"jets/{m}"][:] for m in ("pt", "eta", "phi", "btag")]
    cols += [g["met"][:], g["met_phi"][:]]
    return cols


def main():
    path = sys.argv[1]
    compare = sys.argv[sys.argv.index("--compare") + 1] if "--compare" in sys.argv else None
    read_s = compute_s = 0.0
    read = 0
    blocks = []
    with h5py.File(path, "r") as f:
        groups = list(f["samples"].values())
        t0 = time.perf_counter()  # compile on the first sample's first 100 events
        small = read_sample(groups[0])
        small = [c[:101] if c.dtype == np.uint64 else c for c in small[:-2]] + [c[:100] for c in small[-2:]]
        sample_features(*small, np.empty((100, len(FEATURES))))
        compile_s = time.perf_counter() - t0
        for g in groups:
            t0 = time.perf_counter()
            cols = read_sample(g)
            t1 = time.perf_counter()
            out = np.empty((len(cols[-1]), len(FEATURES)))
            rows = sample_features(*cols, out)
            t2 = time.perf_counter()
            read_s += t1 - t0
            compute_s += t2 - t1
            read += len(cols[-1])
            blocks.append(out[:rows].astype(np.float32))
    mine = np.concatenate(blocks)
    line = (f"RESULT events_read={read} events_selected={len(mine)} compile_s={compile_s:.3f} read_s={read_s:.3f} "
            f"compute_s={compute_s:.3f} events_per_s_compute={read / compute_s:.4g} "
            f"events_per_s_with_read={read / (read_s + compute_s):.4g}")
    if compare:
        with h5py.File(compare, "r") as f:
            names = [x.decode() for x in f["feature_names"][:]]
            theirs = f["features"][:]
        if names != FEATURES or theirs.shape != mine.shape:
            line += f" mismatched_values=shape:{theirs.shape}vs{mine.shape}"
        else:
            differ = mine.view(np.uint32) != theirs.view(np.uint32)
            per = {FEATURES[k]: int(v) for k, v in enumerate(differ.sum(axis=0)) if v}
            line += f" mismatched_values={int(differ.sum())}_of_{differ.size}"
            if per:
                line += " mismatched_by_feature=" + ",".join(f"{k}:{v}" for k, v in per.items())
    print(line)


if __name__ == "__main__":
    main()
