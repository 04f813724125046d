#!/usr/bin/python3
"""The benchmark peer of `bsmhunt extract --features rmm`: the same rapidity-mass
matrices (docs/rmm.md) computed with numpy, vectorised over events (objects padded
to the slots of each type), on the same event file. Prints one RESULT line with the
time to read the collections and to compute the matrices, and, given bsmhunt's
output, the largest difference from it (float32 storage there).

    rmm_numpy.py EVENTS.h5 [--types jets,electrons,muons] [--slots 5]
                 [--lepton-pt-min 20] [--lepton-eta-max 2.5] [--compare RMM_FEATURES.h5]
"""
import argparse
import time

import h5py
import numpy as np

SQRT_S = 13000.0
MASS = {"electrons": 0.000510999, "muons": 0.105658}


def padded(group, name, slots, pt_min, eta_max):
    """[events, slots, 4] (px, py, pz, E) of the leading objects passing the cuts, zero-padded."""
    c = group[name]
    off = c["offsets"][:].astype(np.int64)
    pt, eta, phi = c["pt"][:].astype(np.float64), c["eta"][:].astype(np.float64), c["phi"][:].astype(np.float64)
    m = c["m"][:].astype(np.float64) if "m" in c else np.full(pt.shape, MASS[name])
    n_events = len(off) - 1
    keep = np.ones(pt.shape, bool) if name == "jets" else (pt > pt_min) & (np.abs(eta) < eta_max)
    event = np.repeat(np.arange(n_events), np.diff(off))[keep]
    pt, eta, phi, m = pt[keep], eta[keep], phi[keep], m[keep]
    # Rank within the event by decreasing pT (stable: the file's order breaks ties).
    order = np.lexsort((-pt, event))
    event, pt, eta, phi, m = event[order], pt[order], eta[order], phi[order], m[order]
    first = np.searchsorted(event, np.arange(n_events))
    rank = np.arange(len(event)) - first[event]
    sel = rank < slots
    out = np.zeros((n_events, slots, 4))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px * px + py * py + pz * pz + m * m)
    out[event[sel], rank[sel]] = np.stack([px, py, pz, e], axis=-1)[sel]
    present = np.zeros((n_events, slots), bool)
    present[event[sel], rank[sel]] = True
    return out, present


def matrices(objects, present, met, met_phi, c=0.15):
    """objects [N, K, 4] in type blocks, present [N, K]; returns [N, 1 + K, 1 + K]."""
    n, k = present.shape
    d = 1 + k
    out = np.zeros((n, d, d))
    px, py, pz, e = (objects[..., i] for i in range(4))
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        et = np.where(present, e * pt / np.sqrt(pt * pt + pz * pz), 0.0)
        y = np.where(present, 0.5 * np.log((e + pz) / (e - pz)), 0.0)
    out[:, 0, 0] = met / SQRT_S
    mx, my = (met * np.cos(met_phi))[:, None], (met * np.sin(met_phi))[:, None]
    mt2 = (et + met[:, None]) ** 2 - (px + mx) ** 2 - (py + my) ** 2
    out[:, 0, 1:] = np.where(present & (met[:, None] > 0), np.sqrt(np.maximum(mt2, 0.0)) / SQRT_S, 0.0)
    out[:, 1:, 0] = np.where(present, c * (np.cosh(y) - 1), 0.0)
    return out, et, y, px, py, pz, e


def rmm(objects_by_type, present_by_type, met, met_phi, slots, c=0.15):
    objects = np.concatenate(objects_by_type, axis=1)
    present = np.concatenate(present_by_type, axis=1)
    out, et, y, px, py, pz, e = matrices(objects, present, met, met_phi, c)
    k = present.shape[1]
    diag = np.arange(k)
    first_slot = (diag % slots) == 0
    prev = np.roll(et, 1, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        later = np.where(present, (prev - et) / (prev + et), 0.0)
    out[:, 1 + diag, 1 + diag] = np.where(first_slot[None, :], et / SQRT_S, later)
    # Pairs: masses above the diagonal, rapidity differences below.
    i, j = np.triu_indices(k, 1)
    both = present[:, i] & present[:, j]
    se, sx, sy, sz = e[:, i] + e[:, j], px[:, i] + px[:, j], py[:, i] + py[:, j], pz[:, i] + pz[:, j]
    m2 = se * se - sx * sx - sy * sy - sz * sz
    out[:, 1 + i, 1 + j] = np.where(both, np.sqrt(np.maximum(m2, 0.0)) / SQRT_S, 0.0)
    out[:, 1 + j, 1 + i] = np.where(both, c * (np.cosh(0.5 * (y[:, j] - y[:, i])) - 1), 0.0)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("events")
    p.add_argument("--types", default="jets,electrons,muons")
    p.add_argument("--slots", type=int, default=5)
    p.add_argument("--lepton-pt-min", type=float, default=20.0)
    p.add_argument("--lepton-eta-max", type=float, default=2.5)
    p.add_argument("--compare", default=None)
    a = p.parse_args()
    types = a.types.split(",")
    t0 = time.perf_counter()
    f = h5py.File(a.events, "r")
    loaded = []
    for name in f["samples"]:
        g = f["samples"][name]
        per_type = [padded(g, t, a.slots, a.lepton_pt_min, a.lepton_eta_max) for t in types]
        loaded.append((name, per_type, g["met"][:].astype(np.float64), g["met_phi"][:].astype(np.float64)))
    t1 = time.perf_counter()
    results, n = {}, 0
    for name, per_type, met, met_phi in loaded:
        results[name] = rmm([o for o, _ in per_type], [q for _, q in per_type], met, met_phi, a.slots)
        n += len(met)
    t2 = time.perf_counter()
    diff = float("nan")
    if a.compare:
        g = h5py.File(a.compare, "r")
        names = [s.decode() for s in g["sample_names"][:]]
        si, ev, mat = g["sample_index"][:], g["event_number"][:], g["rmm"]
        diff = 0.0
        for s, name in enumerate(names):
            rows = np.nonzero(si == s)[0]
            if len(rows) == 0:
                continue
            ours = mat[rows[0]:rows[-1] + 1]
            events = f["samples"][name]["event_number"][:]
            idx = np.searchsorted(events, ev[rows])
            diff = max(diff, float(np.max(np.abs(ours - results[name][idx]))))
    print(f"RESULT events={n} read_s={t1 - t0:.3f} compute_s={t2 - t1:.3f} "
          f"events_per_s={n / (t2 - t1):.1f} events_per_s_with_read={n / (t2 - t0):.1f} max_abs_diff={diff:.3g}")


if __name__ == "__main__":
    main()
