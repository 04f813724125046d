#!/usr/bin/python3
"""Independent numpy reference of the rapidity-mass matrix and a cross-check of `bsmhunt extract --features rmm`.

    /usr/bin/python3 tests/physics/rmm_reference.py BSMHUNT_BINARY WORKDIR
    /usr/bin/python3 tests/physics/rmm_reference.py --self-test

Generates a small event file with leptons and jets, extracts the RMM (T3N5: jets, electrons, muons, and
a T4N3 layout with b-jets as their own type) on 1 and 2 MPI ranks, and checks that
  - the two feature files are bitwise equal (every dataset),
  - the `rmm` dataset [events, D, D] equals the rmm_* columns of /features,
  - every matrix equals the one recomputed here from the event's objects (float32 rounding),
  - m_objects (the mass column) is the invariant mass of the matrix's objects.
--self-test checks this reference on a hand-made event against values worked out by hand.

Exit status: 0 passed, 1 mismatch (the first printed).
"""
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

SQRT_S = 13000.0
MASS = {"electrons": 0.000510999, "muons": 0.105658}


class Mismatch(Exception):
    pass


def four_vector(pt, eta, phi, m):
    pt, eta, phi, m = (np.asarray(a, np.float64) for a in (pt, eta, phi, m))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([px, py, pz, np.sqrt(px * px + py * py + pz * pz + m * m)], axis=-1)


def rmm(objects, met, met_phi, slots, c=0.15):
    """objects: list over types of (k, 4) arrays (px, py, pz, E) in decreasing pT. Returns (D, D)."""
    d = 1 + len(objects) * slots
    out = np.zeros((d, d))
    out[0, 0] = met / SQRT_S
    metx, mety = met * np.cos(met_phi), met * np.sin(met_phi)
    entries = []  # (index, p4, ET, y)
    for t, objs in enumerate(objects):
        for k, p in enumerate(objs[:slots]):
            i = 1 + t * slots + k
            pt = np.hypot(p[0], p[1])
            et = p[3] * pt / np.sqrt(pt * pt + p[2] * p[2])
            y = 0.5 * np.log((p[3] + p[2]) / (p[3] - p[2]))
            if k == 0:
                out[i, i] = et / SQRT_S
            else:
                prev = entries[-1][2]
                out[i, i] = (prev - et) / (prev + et)
            if met > 0:
                out[0, i] = np.sqrt(max((et + met) ** 2 - (p[0] + metx) ** 2 - (p[1] + mety) ** 2, 0.0)) / SQRT_S
            out[i, 0] = c * (np.cosh(y) - 1)
            entries.append((i, p, et, y))
    for a in range(len(entries)):
        for b in range(a + 1, len(entries)):
            (i, p, _, yi), (j, q, _, yj) = entries[a], entries[b]
            s = p + q
            m2 = s[3] ** 2 - s[0] ** 2 - s[1] ** 2 - s[2] ** 2
            out[i, j] = np.sqrt(max(m2, 0.0)) / SQRT_S
            out[j, i] = c * (np.cosh(0.5 * (yi - yj)) - 1)
    return out


def self_test():
    # MET 100 along x; a 50 GeV jet along y at eta 0; a 30 GeV jet along -y at eta 1 (see RmmTest.cpp).
    jets = four_vector([50, 30], [0, 1], [np.pi / 2, -np.pi / 2], [0, 0])
    m = rmm([jets, np.zeros((0, 4)), np.zeros((0, 4))], 100.0, 0.0, 5)
    want = {(0, 0): 100 / SQRT_S, (0, 1): 100 / SQRT_S, (1, 1): 50 / SQRT_S, (2, 2): 0.25,
            (2, 0): 0.15 * (np.cosh(1) - 1), (2, 1): 0.15 * (np.cosh(0.5) - 1),
            (1, 2): np.sqrt(3000 * (np.cosh(1) + 1)) / SQRT_S, (3, 3): 0.0}
    for (i, j), v in want.items():
        if abs(m[i, j] - v) > 1e-9:
            raise Mismatch(f"self-test: cell ({i}, {j}) is {m[i, j]}, by hand {v}")
    print("rmm_reference: self-test passed")


def run(cmd, cwd):
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise Mismatch(f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stdout}\n{res.stderr}")
    return res


def mpirun(n):
    return ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", str(n)]


def objects_of_event(ev, sample, row, types, lepton_pt_min):
    g = ev["samples"][sample]
    out = []
    jets = g["jets"]
    o0, o1 = int(jets["offsets"][row]), int(jets["offsets"][row + 1])
    jet = {k: jets[k][o0:o1] for k in ("pt", "eta", "phi", "m", "btag")}
    for t in types:
        if t in ("jets", "bjets"):
            keep = np.ones(o1 - o0, bool)
            if "bjets" in types:
                keep = (jet["btag"] != 0) if t == "bjets" else (jet["btag"] == 0)
            out.append(four_vector(jet["pt"][keep], jet["eta"][keep], jet["phi"][keep],
                                   np.maximum(jet["m"][keep], 0)))
        else:
            c = g[t]
            a0, a1 = int(c["offsets"][row]), int(c["offsets"][row + 1])
            pt, eta, phi = c["pt"][a0:a1], c["eta"][a0:a1], c["phi"][a0:a1]
            keep = (pt > lepton_pt_min) & (np.abs(eta) < 2.5)
            out.append(four_vector(pt[keep], eta[keep], phi[keep], np.full(keep.sum(), MASS[t])))
    return out


def check_layout(binary, work, events, types, slots, lepton_pt_min):
    tag = f"{'_'.join(types)}_{slots}"
    files = []
    for ranks in (1, 2):
        out = os.path.join(work, f"rmm_{tag}_{ranks}.h5")
        cmd = [binary, "extract", "--input", events, "--output", out, "--features", "rmm", "--rmm-types",
               ",".join(types), "--rmm-slots", str(slots), "--lepton-pt-min", str(lepton_pt_min), "--block-events",
               "37", "--log-level", "warn", "--overwrite"]
        run((mpirun(ranks) if ranks > 1 else []) + cmd, work)
        files.append(out)
    d = 1 + len(types) * slots
    with h5py.File(files[0], "r") as a, h5py.File(files[1], "r") as b, h5py.File(events, "r") as ev:
        for name in ("features", "weight", "label", "sample_index", "event_number", "mass", "split", "rmm"):
            x, y = a[name][()], b[name][()]
            if x.shape != y.shape or x.tobytes() != y.tobytes():
                raise Mismatch(f"{tag}: /{name} differs between 1 and 2 ranks")
        names = [n.decode() if isinstance(n, bytes) else n for n in a["feature_names"][()]]
        if names[:d * d] != [f"rmm_{i}_{j}" for i in range(d) for j in range(d)] or names[-1] != "m_objects":
            raise Mismatch(f"{tag}: feature names {names[:3]}... {names[-1]}")
        feats = a["features"][()]
        view = a["rmm"][()]
        if view.shape != (feats.shape[0], d, d) or not np.array_equal(view.reshape(len(feats), -1), feats[:, :d * d]):
            raise Mismatch(f"{tag}: /rmm {view.shape} is not the rmm_* columns of /features")
        samples = [n.decode() if isinstance(n, bytes) else n for n in a["sample_names"][()]]
        checked = 0
        event_rows = {}
        for s in samples:
            event_rows[s] = {int(e): r for r, e in enumerate(ev["samples"][s]["event_number"][()])}
        for r in range(len(feats)):
            s = samples[a["sample_index"][r]]
            row = event_rows[s][int(a["event_number"][r])]
            g = ev["samples"][s]
            objs = objects_of_event(ev, s, row, types, lepton_pt_min)
            want = rmm(objs, float(g["met"][row]), float(g["met_phi"][row]), slots)
            got = view[r].astype(np.float64)
            bad = np.abs(got - want) > 2e-6 * np.maximum(np.abs(want), 1e-3)
            if bad.any():
                i, j = (int(k) for k in np.argwhere(bad)[0])
                raise Mismatch(f"{tag}: sample {s} event {int(a['event_number'][r])}: cell ({i}, {j}) is {got[i, j]!r}, "
                               f"the reference gives {want[i, j]!r} ({int(bad.sum())} cells differ)")
            total = sum((o[:slots].sum(axis=0) for o in objs), np.zeros(4))
            m = np.sqrt(max(total[3] ** 2 - (total[:3] ** 2).sum(), 0.0))
            if abs(float(a["mass"][r]) - m) > 1e-5 * max(m, 1.0):
                raise Mismatch(f"{tag}: m_objects of row {r} is {a['mass'][r]}, the reference gives {m}")
            checked += 1
    if checked < 50:
        raise Mismatch(f"{tag}: only {checked} events checked")
    return checked


def main(argv):
    if argv[1:] == ["--self-test"]:
        self_test()
        return 0
    if len(argv) != 3:
        print(__doc__)
        return 2
    binary, work = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    events = os.path.join(work, "events.h5")
    run([binary, "generate", "--channel", "dilepton_met", "--events", "400", "--signal-events", "40", "--output",
         events, "--pseudo-data", "false", "--log-level", "warn", "--summary", "false"], work)
    n1 = check_layout(binary, work, events, ["jets", "electrons", "muons"], 5, 10.0)
    n2 = check_layout(binary, work, events, ["jets", "bjets", "electrons", "muons"], 3, 20.0)
    print(f"rmm_reference: {n1} + {n2} events agree with the numpy reference; 1 and 2 ranks bitwise equal; "
          "/rmm is the rmm_* columns")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Mismatch as e:
        print(f"rmm_reference: MISMATCH: {e}")
        sys.exit(1)
