#!/usr/bin/env python3
"""Vectorised numpy version of `bsmhunt extract --features dilepton_met` without
mT2 and MET significance, for the side-by-side benchmark (tools/bench/bench extract).

Same input, same selection (exactly two leptons with pT > 20 GeV and |eta| < 2.5,
SFOS, MET > 50 GeV), features: lepton pT/eta/phi, m_ll, pT_ll, MET, MET phi,
mT(ll, MET), dphi_ll, dphi(ll, MET), dR_ll, n_jets, n_bjets, HT, two leading jets'
pT/eta/phi (sentinel padding), channel flag. Reads with h5py, one sample at a
time in chunks, single-threaded. Prints events read and seconds.
Usage: /usr/bin/python3 tools/bench/extract_numpy.py EVENTS.h5
"""
import sys
import time

import h5py
import numpy as np

CHUNK = 1 << 20


def segment_sum(values, offsets):
    """Per-event sums of a jagged member, from its offsets (starting at 0)."""
    cs = np.concatenate([[0], np.cumsum(values)])
    return cs[offsets[1:]] - cs[offsets[:-1]]


def leptons(g, lo, hi, name):
    off = g[f"{name}/offsets"][lo:hi + 1].astype(np.int64)
    a, b = off[0], off[-1]
    pt, eta, phi, q = (g[f"{name}/{m}"][a:b] for m in ("pt", "eta", "phi", "charge"))
    good = (pt > 20) & (np.abs(eta) < 2.5)
    counts = segment_sum(good.astype(np.int64), off - a)
    return off - a, pt, eta, phi, q, good, counts


def first_two(off, good):
    """Indices of the first and second good object of each event (-1 if none)."""
    idx = np.flatnonzero(good)
    ev = np.searchsorted(off, idx, side="right") - 1
    new_event = np.r_[True, ev[1:] != ev[:-1]] if len(idx) else np.zeros(0, bool)
    start = np.maximum.accumulate(np.where(new_event, np.arange(len(idx)), 0)) if len(idx) else idx
    rank = np.arange(len(idx)) - start
    first = np.full(len(off) - 1, -1)
    second = np.full(len(off) - 1, -1)
    first[ev[rank == 0]] = idx[rank == 0]
    second[ev[rank == 1]] = idx[rank == 1]
    return first, second


def pick(isee, e, ie, m, im):
    ev = e[np.maximum(ie, 0)] if len(e) else np.zeros(len(ie))
    mv = m[np.maximum(im, 0)] if len(m) else np.zeros(len(im))
    return np.where(isee, ev, mv)


def features(g, lo, hi):
    eo, ept, eeta, ephi, eq, egood, ne = leptons(g, lo, hi, "electrons")
    mo, mpt, meta, mphi, mq, mgood, nm = leptons(g, lo, hi, "muons")
    met = g["met"][lo:hi]
    metphi = g["met_phi"][lo:hi]
    sel = ((ne == 2) & (nm == 0)) | ((nm == 2) & (ne == 0))
    e1, e2 = first_two(eo, egood)
    m1, m2 = first_two(mo, mgood)
    isee = ne == 2
    pt1, pt2 = pick(isee, ept, e1, mpt, m1), pick(isee, ept, e2, mpt, m2)
    eta1, eta2 = pick(isee, eeta, e1, meta, m1), pick(isee, eeta, e2, meta, m2)
    phi1, phi2 = pick(isee, ephi, e1, mphi, m1), pick(isee, ephi, e2, mphi, m2)
    q1, q2 = pick(isee, eq, e1, mq, m1), pick(isee, eq, e2, mq, m2)
    sel &= (q1 * q2 < 0) & (met > 50)
    pt1, pt2, eta1, eta2, phi1, phi2 = (x[sel].astype(np.float64) for x in (pt1, pt2, eta1, eta2, phi1, phi2))
    met, metphi = met[sel].astype(np.float64), metphi[sel].astype(np.float64)
    dphi = np.remainder(phi1 - phi2 + np.pi, 2 * np.pi) - np.pi
    mll = np.sqrt(2 * pt1 * pt2 * (np.cosh(eta1 - eta2) - np.cos(dphi)))
    px = pt1 * np.cos(phi1) + pt2 * np.cos(phi2)
    py = pt1 * np.sin(phi1) + pt2 * np.sin(phi2)
    ptll = np.hypot(px, py)
    phill = np.arctan2(py, px)
    etll = np.sqrt(mll ** 2 + ptll ** 2)
    mt = np.sqrt(np.maximum(mll ** 2 + 2 * (etll * met - (px * met * np.cos(metphi) + py * met * np.sin(metphi))), 0))
    dphi_ll_met = np.abs(np.remainder(phill - metphi + np.pi, 2 * np.pi) - np.pi)
    dr = np.hypot(eta1 - eta2, dphi)
    jo = g["jets/offsets"][lo:hi + 1].astype(np.int64)
    a, b = jo[0], jo[-1]
    jpt = g["jets/pt"][a:b]
    jeta = g["jets/eta"][a:b]
    jphi = g["jets/phi"][a:b]
    jb = g["jets/btag"][a:b]
    starts = jo[:-1] - a
    nj = np.diff(jo)
    ht = segment_sum(jpt.astype(np.float64), jo - a)
    nb = segment_sum(jb.astype(np.int64), jo - a)
    j = []
    for k in (0, 1):
        has = nj > k
        at = np.where(has, starts + k, 0)
        for col, pad in ((jpt, 0.0), (jeta, 10.0), (jphi, 10.0)):
            j.append(np.where(has, col[at] if len(col) else pad, pad)[sel])
    flag = np.where(isee, 0, 1)[sel]
    cols = [pt1, eta1, phi1, pt2, eta2, phi2, mll, ptll, met, metphi, mt, np.abs(dphi), dphi_ll_met, dr,
            nj[sel], nb[sel], ht[sel], *j, flag]
    return np.stack(cols, axis=1).astype(np.float32)


def main():
    start = time.perf_counter()
    read = written = 0
    with h5py.File(sys.argv[1], "r") as f:
        for name, g in f["samples"].items():
            n = int(g.attrs["n_events"])
            for lo in range(0, n, CHUNK):
                hi = min(n, lo + CHUNK)
                written += len(features(g, lo, hi))
                read += hi - lo
    print(f"{read} {written} {time.perf_counter() - start:.3f}")


if __name__ == "__main__":
    main()
