#!/usr/bin/python3
"""Independent numpy reference of the mono-jet eta-phi images and a cross-check of `bsmhunt images`.

    /usr/bin/python3 tests/physics/images_reference.py BSMHUNT_BINARY WORKDIR
    /usr/bin/python3 tests/physics/images_reference.py --self-test

Generates a small monojet event file, renders images with `bsmhunt images --per-sample 3 --scales none`
(twice), recomputes every raw image (100, 126, 8) and the none / empty-rowcol / empty-cell images
(60, 60, 10) from the event's particles and jets and compares them to 1e-5 relative; for the stochastic
image (not reproducible from Python) it checks the properties the spec lists. --self-test checks this
reference against hand-computed values of a tiny hand-made event.

Exit status: 0 passed, 1 mismatch (the first one printed), 77 (ctest's SKIP_RETURN_CODE) while the
binary does not know the monojet channel or the images command yet.
"""
import os
import subprocess
import sys

import h5py
import numpy as np

NROW, NCOL, NPHYS, OUT, RTOL = 100, 126, 8, 60, 1e-5  # grid, physics channels, output size, tolerance
COMPRESSIONS = ("none", "empty-rowcol", "empty-cell")

# Coordinate channels of every cell: c8 = eta_c / 2.5, c9 = phi_c / 3.15, cell centres in float64.
C8 = ((-2.5 + (np.arange(NROW) + 0.5) * 0.05) / 2.5).astype(np.float32)
C9 = ((-3.15 + (np.arange(NCOL) + 0.5) * 0.05) / 3.15).astype(np.float32)


class Mismatch(Exception):
    pass


# ---------------------------------------------------------------------------------------------------
# The reference implementation of the eta-phi image specification (analysis E, mono-jet)

def cells(eta, phi):
    """(row, col) of the objects inside the grid (spec: floor((double(x) + lo) / 0.05)), inside mask."""
    row = np.floor((np.asarray(eta, np.float32).astype(np.float64) + 2.5) / 0.05).astype(np.int64)
    col = np.floor((np.asarray(phi, np.float32).astype(np.float64) + 3.15) / 0.05).astype(np.int64)
    ok = (row >= 0) & (row < NROW) & (col >= 0) & (col < NCOL)
    return row[ok], col[ok], ok


def raw_image(p, j):
    """p: particle arrays (pt, eta, phi, charge, pdg_id, em), j: jet arrays (pt, eta, phi, width) of one
    event. Returns (raw float32 (100, 126, 8), non-empty mask (100, 126))."""
    acc = np.zeros((NROW, NCOL, NPHYS))  # float64 sums
    em_pt, jet_pt_width, n_jets = np.zeros((3, NROW, NCOL))
    r, c, ok = cells(p["eta"], p["phi"])
    pt = np.asarray(p["pt"], np.float32).astype(np.float64)[ok]
    pdg = np.abs(np.asarray(p["pdg_id"], np.int64)[ok])
    np.add.at(acc[..., 0], (r, c), pt)
    np.add.at(acc[..., 1], (r, c), 1.0)
    np.add.at(acc[..., 2], (r, c), np.asarray(p["charge"], np.float64)[ok])
    np.add.at(acc[..., 3], (r, c), np.where(pdg == 13, pt, 0.0))
    np.add.at(acc[..., 4], (r, c), np.where(pdg == 11, pt, 0.0))
    np.add.at(em_pt, (r, c), np.where(np.asarray(p["em"])[ok] == 1, pt, 0.0))
    r, c, ok = cells(j["eta"], j["phi"])
    jpt = np.asarray(j["pt"], np.float32).astype(np.float64)[ok]
    np.add.at(acc[..., 6], (r, c), jpt)
    np.add.at(jet_pt_width, (r, c), jpt * np.asarray(j["width"], np.float32).astype(np.float64)[ok])
    np.add.at(n_jets, (r, c), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc[..., 5] = np.where(acc[..., 0] != 0, em_pt / acc[..., 0], 0.0)
        acc[..., 7] = np.where(n_jets > 0, jet_pt_width / acc[..., 6], 0.0)
    return acc.astype(np.float32), (acc[..., 1] > 0) | (n_jets > 0)


def full_image(raw, scales):
    """(100, 126, 10): physics channels normalised (float32(double(c_k) / s_k)) plus coordinates."""
    out = np.empty((NROW, NCOL, NPHYS + 2), np.float32)
    out[..., :NPHYS] = (raw.astype(np.float64) / np.asarray(scales, np.float64)).astype(np.float32)
    out[..., 8], out[..., 9] = C8[:, None], C9[None, :]
    return out


def compress(raw, nonempty, scales, how):
    """The none, empty-rowcol or empty-cell image (60, 60, 10)."""
    assert how in COMPRESSIONS, how
    full = full_image(raw, scales)
    out = np.zeros((OUT, OUT, NPHYS + 2), np.float32)
    R = np.flatnonzero(nonempty.any(axis=1))[:OUT]
    if how == "none":
        out[:] = full[20:20 + OUT, 33:33 + OUT]
    elif how == "empty-rowcol":
        C = np.flatnonzero(nonempty.any(axis=0))[:OUT]
        out[:len(R), :len(C)] = full[np.ix_(R, C)]
    else:  # empty-cell
        for r, row in enumerate(R):
            cols = np.flatnonzero(nonempty[row])[:OUT]
            out[r, :len(cols)] = full[row, cols]
    return out


def compare(what, got, want, where=""):
    """Equal to RTOL relative (exact for zeros); raises with the first differing cell and channel."""
    got = np.asarray(got)
    if got.shape != want.shape:
        raise Mismatch(f"{what}{where}: shape {got.shape}, expected {want.shape}")
    bad = np.abs(got.astype(np.float64) - want) > RTOL * np.maximum(np.abs(got), np.abs(want))
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        raise Mismatch(f"{what}{where}: first mismatch at cell (row {i[0]}, col {i[1]}) channel {i[2]}: "
                       f"got {got[i]!r}, expected {want[i]!r} ({int(bad.sum())} values differ)")


def check_stochastic(img, raw, scales, where):
    """Spec: 60 distinct ascending rows and columns, each output cell a raw cell with its coordinates."""
    if img.shape != (OUT, OUT, NPHYS + 2):
        raise Mismatch(f"stochastic{where}: shape {img.shape}")
    row_c8, col_c9 = img[:, 0, 8], img[0, :, 9]
    if not (img[..., 8] == row_c8[:, None]).all() or not (img[..., 9] == col_c9[None, :]).all():
        raise Mismatch(f"stochastic{where}: c8 not constant along an output row or c9 along a column")
    # The raw row / column each output row / column came from: the cell centre nearest to its coordinate.
    rows = np.rint((row_c8 * 2.5 + 2.5) / 0.05 - 0.5).astype(np.int64)
    cols = np.rint((col_c9 * 3.15 + 3.15) / 0.05 - 0.5).astype(np.int64)
    if rows.min() < 0 or rows.max() >= NROW or cols.min() < 0 or cols.max() >= NCOL:
        raise Mismatch(f"stochastic{where}: a coordinate is outside the grid: c8 {row_c8}, c9 {col_c9}")
    for what, c, idx in (("rows (c8)", row_c8, rows), ("columns (c9)", col_c9, cols)):
        if (np.diff(c) <= 0).any():
            k = int(np.flatnonzero(np.diff(c) <= 0)[0])
            raise Mismatch(f"stochastic{where}: {what} not strictly ascending: output {k} is raw {idx[k]} "
                           f"({c[k]}), output {k + 1} is raw {idx[k + 1]} ({c[k + 1]})")
    compare("stochastic", img, full_image(raw, scales)[np.ix_(rows, cols)], where)
    return tuple(rows), tuple(cols)


def read_collection(group, name, members):
    """(offsets, {member: flat array}) of a jagged collection; event i is [offsets[i], offsets[i + 1])."""
    return group[name]["offsets"][()].astype(np.int64), {m: group[name][m][()] for m in members}


def event_slice(off, cols, i):
    return {m: v[off[i]:off[i + 1]] for m, v in cols.items()}


# ---------------------------------------------------------------------------------------------------
# The cross-check against the binary

def run(cmd):
    print("+ " + " ".join(cmd), flush=True)
    try:
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as e:
        raise Mismatch(f"cannot run {cmd[0]}: {e}")
    if res.returncode != 0:
        for line in res.stdout.lower().splitlines():
            if "unknown" in line and (("channel" in line and "monojet" in line)
                                      or ("command" in line and "images" in line)):
                print(res.stdout.strip() + "\nimages_reference: skipped: this binary has no monojet channel or "
                      "no images command yet (error above)")
                sys.exit(77)
        print(res.stdout)
        raise Mismatch(f"command failed with status {res.returncode}: {' '.join(cmd)}")


def cross_check(binary, workdir):
    os.makedirs(workdir, exist_ok=True)
    events, *outputs = (os.path.join(workdir, f) for f in ("events.h5", "images.h5", "images2.h5"))
    for f in filter(os.path.exists, [events] + outputs):
        os.remove(f)
    # ---- The event file. Options of `generate` beyond the spec'd call go here, and only here: ----
    # --summary false: the end-of-run inspect refuses the empty (sum of weights 0) znunu signal samples.
    run([binary, "generate", "--channel", "monojet", "--events", "400", "--signal-events", "0",
         "--pseudo-data", "false", "--seed", "5", "--output", events, "--summary", "false"])
    for out in outputs:  # twice: the images (the stochastic one included) must not change
        run([binary, "images", "--events", events, "--output", out, "--per-sample", "3", "--scales", "none"])
    ev, im, im2 = (h5py.File(f, "r") for f in [events] + outputs)
    if (fmt := im.attrs.get("format")) not in ("bsmhunt.images", b"bsmhunt.images"):
        raise Mismatch(f"images file: format attribute {fmt!r}, expected 'bsmhunt.images'")
    # /grid = [eta_min, phi_min, cell, rows, cols]; /channel_names the 10 names.
    grid = im["grid"][()] if "grid" in im else None
    if grid is None or not np.allclose(grid, [-2.5, -3.15, 0.05, 100, 126]):
        raise Mismatch(f"images file: /grid = {grid!r}, expected [-2.5, -3.15, 0.05, 100, 126]")
    names = im["channel_names"][()] if "channel_names" in im else []
    if len(names) != NPHYS + 2:
        raise Mismatch(f"images file: /channel_names {names!r} is not 10 names")
    scales = im["scales"][()]
    compare("/scales", scales.reshape(1, 1, -1), np.ones((1, 1, NPHYS)))

    checked, selections = 0, set()
    for name, sg in ev["samples"].items():
        numbers = sg["event_number"][()]
        if len(numbers) == 0 and name not in im["samples"]:
            continue  # an empty sample may have no group (the spec does not say)
        if name not in im["samples"]:
            raise Mismatch(f"sample {name}: {len(numbers)} events but no /samples/{name} in the images file")
        ig = im["samples"][name]
        got_numbers = ig["event_number"][()]
        if list(got_numbers) != list(numbers[:3]):
            raise Mismatch(f"sample {name}: event_number {list(got_numbers)}, not the first 3 {list(numbers[:3])}")
        for ds in ig:
            if not np.array_equal(ig[ds][()], im2["samples"][name][ds][()]):
                raise Mismatch(f"sample {name}: {ds} differs between two runs of the same command")
        if any(ig[c].dtype != np.float32 for c in ("raw", "stochastic") + COMPRESSIONS):
            raise Mismatch(f"sample {name}: images are not float32")
        p_off, p = read_collection(sg, "particles", ("pt", "eta", "phi", "charge", "pdg_id", "em"))
        j_off, j = read_collection(sg, "jets", ("pt", "eta", "phi", "width"))
        for k, number in enumerate(got_numbers):
            i = int(np.flatnonzero(numbers == number)[0])  # the event's position in the event file
            raw, nonempty = raw_image(event_slice(p_off, p, i), event_slice(j_off, j, i))
            where = f" (sample {name}, event {int(number)})"
            compare("raw", ig["raw"][k], raw, where)
            for how in COMPRESSIONS:
                compare(how, ig[how][k], compress(raw, nonempty, scales, how), where)
            selections.add(check_stochastic(ig["stochastic"][k], raw, scales, where))
            checked += 1
    if checked == 0:
        raise Mismatch("the images file holds no event")
    if checked > 1 and len(selections) == 1:
        raise Mismatch(f"stochastic: all {checked} events chose the same rows and columns (keyed by event?)")
    print(f"images_reference: {checked} events agree with the numpy reference (raw, {', '.join(COMPRESSIONS)} "
          f"to {RTOL:g} relative; stochastic properties; identical on a second run)")


# ---------------------------------------------------------------------------------------------------
# Self-test of the reference on a hand-made event

def self_test():
    # Hand-made event. Cells: row = floor((eta + 2.5) / 0.05), col = floor((phi + 3.15) / 0.05).
    #   two pions  (0.01, 0.01), (0.02, 0.03)  -> both row 50 (50.2, 50.4), col 63 (63.2, 63.6)
    #   electron   (-0.99, 1.01)               -> row 30 (30.2), col 83 (83.2)
    #   mu+        (0.51, -2.02)               -> row 60 (60.2), col 22 (22.6)
    #   photon     (0.01, 3.14)                -> row 50, col 125 (125.8, the last column)
    #   a pion at eta 2.6 (row 102)            -> outside the grid, ignored
    #   jets       (0.02, 0.02), (0.03, 0.04)  -> both row 50, col 63; a third (1.21, -3.12) -> row 74, col 0
    p = dict(pt=np.array([10, 30, 20, 40, 5, 99], np.float32),
             eta=np.array([0.01, 0.02, -0.99, 0.51, 0.01, 2.6], np.float32),
             phi=np.array([0.01, 0.03, 1.01, -2.02, 3.14, 0.0], np.float32),
             charge=np.array([1, -1, -1, 1, 0, 1], np.int8),
             pdg_id=np.array([211, -211, 11, -13, 22, 211], np.int32),
             em=np.array([0, 0, 1, 0, 1, 0], np.int8))
    j = dict(pt=np.array([100, 50, 25], np.float32), eta=np.array([0.02, 0.03, 1.21], np.float32),
             phi=np.array([0.02, 0.04, -3.12], np.float32), width=np.array([0.1, 0.4, 0.2], np.float32))
    w1, w2, w3 = (float(np.float32(w)) for w in (0.1, 0.4, 0.2))
    want = np.zeros((NROW, NCOL, NPHYS))
    #              c0  c1  c2  c3  c4  c5   c6   c7
    want[50, 63] = [40, 2, 0, 0, 0, 0, 150, (100 * w1 + 50 * w2) / 150]  # two pions, two jets
    want[30, 83] = [20, 1, -1, 0, 20, 1, 0, 0]                          # electron (em)
    want[60, 22] = [40, 1, 1, 40, 0, 0, 0, 0]                           # muon (not em)
    want[50, 125] = [5, 1, 0, 0, 0, 1, 0, 0]                            # photon (em)
    want[74, 0] = [0, 0, 0, 0, 0, 0, 25, w3]                            # a jet alone: non-empty, c1 = 0
    raw, ne = raw_image(p, j)
    compare("self-test raw", raw, want)
    cells_ne = [(30, 83), (50, 63), (50, 125), (60, 22), (74, 0)]
    if sorted((int(a), int(b)) for a, b in zip(*np.nonzero(ne))) != cells_ne:
        raise Mismatch(f"self-test: non-empty cells {list(zip(*np.nonzero(ne)))}, expected {cells_ne}")
    if not np.allclose([C8[50], C8[0], C8[20], C9[63], C9[0]], [0.01, -0.99, -0.59, 0.025 / 3.15, -3.125 / 3.15],
                       rtol=1e-6, atol=0):
        raise Mismatch(f"self-test coordinates: C8 {C8[[50, 0, 20]]}, C9 {C9[[63, 0]]}")

    def cell(row, col, scale=1.0):  # the 10 channels of one cell, by hand
        return np.concatenate([want[row, col] / scale, [(-2.5 + (row + 0.5) * 0.05) / 2.5,
                                                        (-3.15 + (col + 0.5) * 0.05) / 3.15]])
    ones = np.ones(NPHYS)
    # none: the crop rows 20..79, cols 33..92, coordinates everywhere; keeps pions + jets and the electron
    exp = np.array([[cell(20 + r, 33 + c) for c in range(OUT)] for r in range(OUT)])
    compare("self-test none", compress(raw, ne, ones, "none"), exp)
    exp = np.zeros((OUT, OUT, 10))  # empty-rowcol: rows 30, 50, 60, 74 x cols 0, 22, 63, 83, 125
    exp[:4, :5] = [[cell(r, c) for c in (0, 22, 63, 83, 125)] for r in (30, 50, 60, 74)]
    compare("self-test empty-rowcol", compress(raw, ne, ones, "empty-rowcol"), exp)
    exp = np.zeros((OUT, OUT, 10))  # empty-cell: the non-empty cells of each non-empty row, left-aligned
    exp[0, 0], exp[1, 0], exp[1, 1], exp[2, 0], exp[3, 0] = (cell(30, 83), cell(50, 63), cell(50, 125),
                                                             cell(60, 22), cell(74, 0))
    compare("self-test empty-cell", compress(raw, ne, ones, "empty-cell"), exp)
    scales = np.array([2, 1, 4, 8, 5, 0.5, 10, 0.25])  # normalised: c_k / s_k (s_1 = 1 for the count)
    exp[1, 0] = cell(50, 63, scales)
    compare("self-test empty-cell, scales", compress(raw, ne, scales, "empty-cell")[1:2, 0:1], exp[1:2, 0:1])

    rng = np.random.default_rng(7)  # the stochastic checker: takes a valid image, refuses unsorted / wrong ones
    rows, cols = np.sort(rng.choice(NROW, OUT, replace=False)), np.sort(rng.choice(NCOL, OUT, replace=False))
    good = full_image(raw, ones)[np.ix_(rows, cols)]
    if check_stochastic(good, raw, ones, " (self-test)") != (tuple(rows), tuple(cols)):
        raise Mismatch("self-test: stochastic checker found other rows / columns")
    for bad in (good[::-1], good + np.eye(OUT)[:, :, None] * (np.arange(10) == 0)):
        try:
            check_stochastic(bad, raw, ones, " (self-test)")
        except Mismatch:
            continue
        raise Mismatch("self-test: stochastic checker accepted a bad image")


def main():
    args = sys.argv[1:]
    if args != ["--self-test"] and len(args) != 2:
        print(__doc__.split("\n\n")[1])
        return 2
    try:
        self_test() if args == ["--self-test"] else cross_check(*args)
    except Mismatch as e:
        print(f"images_reference: MISMATCH: {e}")
        return 1
    if args == ["--self-test"]:
        print("images_reference: self-test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
