"""Eta-phi images (bsmhunt images output, the CNN inputs of the mono-jet study): per
sample, the raw sum-pT image of its first event on the physical eta-phi grid next to
the four compressed 60 x 60 network inputs, and a table of the samples."""

import math
import os
import re

import h5py
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from .inputs import ReportError, check_format, open_h5, strings
from .page import Cell, Figure, Table, Text, fmt_count, fmt_fixed, fmt_yield, num

KIND = "images file (bsmhunt images)"
COMPRESSIONS = ("none", "empty-rowcol", "empty-cell", "stochastic")
# Drawn first: the signal and the main background of the mono-jet study.
PREFERRED = ("znunu", "wtaunu")
MAX_SAMPLES = 4
LABEL_AXES_HEIGHT = 0.84 * 6.5  # inches: the axes of the 8 x 6.5 plots
SUM_PT = "sum_pt"


def natural_key(name):
    """pt250 < pt280_500 < pt1000: digits compare as numbers."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


class ImageFile:
    """The grid, channel names and scales of an images file and its samples:
    {name: (events, [compressions present])}. Only the drawn events are read."""

    def __init__(self, path):
        self.path = path
        f = self.f = open_h5(path, KIND)
        check_format(f, path, "bsmhunt.images", KIND)
        for name in ("grid", "channel_names"):
            if name not in f or not isinstance(f[name], h5py.Dataset):
                raise ReportError("%s: missing dataset '%s' (%s)" % (path, name, KIND))
        grid = np.asarray(f["grid"][()], dtype=np.float64)
        if grid.shape != (5,) or not np.isfinite(grid).all():
            raise ReportError("%s: 'grid' should hold 5 numbers [eta_min, phi_min, cell, rows, cols], found %s" %
                              (path, grid.tolist()))
        self.eta_min, self.phi_min, self.cell = (float(x) for x in grid[:3])
        self.rows, self.cols = int(grid[3]), int(grid[4])
        if not (self.cell > 0 and self.rows > 0 and self.cols > 0 and grid[3] == self.rows and grid[4] == self.cols):
            raise ReportError("%s: 'grid' = %s: expected a cell size > 0 and whole numbers of rows and columns" %
                              (path, grid.tolist()))
        self.channel_names = strings(f["channel_names"])
        if SUM_PT not in self.channel_names:
            raise ReportError("%s: no '%s' among the channel_names (%s)" %
                              (path, SUM_PT, ", ".join(self.channel_names)))
        self.channel = self.channel_names.index(SUM_PT)
        scales = np.asarray(f["scales"][()], dtype=np.float64) if "scales" in f else np.array([])
        self.scale = float(scales[self.channel]) if self.channel < len(scales) else None
        if "samples" not in f or not isinstance(f["samples"], h5py.Group):
            raise ReportError("%s: no /samples group (expected samples/<sample>/raw and the compressed images)" % path)
        self.samples = {}
        for name, g in f["samples"].items():
            self.samples[name] = self._check_sample(name, g)
        if not self.samples:
            raise ReportError("%s: the /samples group holds no sample" % path)

    def _check_sample(self, name, g):
        path = self.path
        if not isinstance(g, h5py.Group) or "raw" not in g:
            raise ReportError("%s: /samples/%s has no 'raw' dataset" % (path, name))
        raw = g["raw"]
        if raw.ndim != 4 or raw.shape[1:3] != (self.rows, self.cols) or raw.shape[3] <= self.channel:
            raise ReportError("%s: /samples/%s/raw has shape %s, expected (events, %d, %d, channels) as 'grid' says" %
                              (path, name, raw.shape, self.rows, self.cols))
        n = raw.shape[0]
        if "event_number" in g and g["event_number"].shape != (n,):
            raise ReportError("%s: /samples/%s/event_number has shape %s for %d raw images" %
                              (path, name, g["event_number"].shape, n))
        present = []
        for c in COMPRESSIONS:
            if c not in g:
                continue
            if g[c].ndim != 4 or g[c].shape[0] != n or g[c].shape[3] <= self.channel:
                raise ReportError("%s: /samples/%s/%s has shape %s, expected (%d, rows, columns, channels)" %
                                  (path, name, c, g[c].shape, n))
            present.append(c)
        return n, present

    def image(self, sample, dataset, event=0):
        """The sum-pT channel of one event as a 2-d array (rows = eta)."""
        x = np.asarray(self.f["samples"][sample][dataset][event, :, :, self.channel], dtype=np.float64)
        if not np.isfinite(x).all():
            raise ReportError("%s: /samples/%s/%s[%d] holds non-finite values" % (self.path, sample, dataset, event))
        return x

    def event_number(self, sample, event=0):
        g = self.f["samples"][sample]
        return float(g["event_number"][event]) if "event_number" in g else None

    def describe(self):
        compressions = sorted({c for _, cs in self.samples.values() for c in cs}, key=COMPRESSIONS.index)
        return "%d samples, %d events, %d x %d cells of %g in eta x phi, compressions: %s" % (
            len(self.samples), sum(n for n, _ in self.samples.values()), self.rows, self.cols, self.cell,
            ", ".join(compressions) or "none stored")


def choose_samples(imf, n=MAX_SAMPLES):
    """Up to n samples with events: the preferred ones first, alternating (znunu,
    wtaunu, znunu, ...), then the others, each in natural order."""
    names = sorted((s for s, (k, _) in imf.samples.items() if k > 0), key=natural_key)
    lists = [[s for s in names if s.startswith(p)] for p in PREFERRED]
    order = []
    for i in range(max(len(x) for x in lists)):
        order += [x[i] for x in lists if i < len(x)]
    order += [s for s in names if s not in order]
    return order[:n]


def fmt_event(x):
    if x is None or not math.isfinite(x):
        return "–"
    return "%d" % x if x == int(x) else "%g" % x


def cell_stats(imf, raw):
    """Non-empty cells, their sum, the hottest cell's value and (eta, phi) centre
    (None for an empty image)."""
    out = {"cells": int(np.count_nonzero(raw > 0)), "total": float(raw[raw > 0].sum()), "max": None, "eta": None,
           "phi": None}
    if out["cells"]:
        r, c = np.unravel_index(int(np.argmax(raw)), raw.shape)
        out.update(max=float(raw[r, c]), eta=imf.eta_min + (r + 0.5) * imf.cell, phi=imf.phi_min + (c + 0.5) * imf.cell)
    return out


def log_norm(images):
    """One log colour scale over the positive cells of the images."""
    pos = np.concatenate([x[x > 0] for x in images])
    if pos.size == 0:
        return LogNorm(0.1, 1.0)
    lo, hi = float(pos.min()), float(pos.max())
    return LogNorm(lo, hi if hi > lo else lo * 10)


def colour_map():
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("#F2F2F2")  # empty cells
    return cmap


def draw_image(ax, x, norm, extent=None):
    im = ax.imshow(np.ma.masked_less_equal(x, 0), origin="lower", cmap=colour_map(), norm=norm, extent=extent,
                   interpolation="nearest", aspect="equal")
    if not (x > 0).any():
        ax.text(0.5, 0.5, "empty", transform=ax.transAxes, ha="center", va="center", fontsize=14, color="dimgrey")
    return im


def image_plot(ctx, imf, sample):
    """The raw sum-pT image (physical eta-phi axes) of the sample's first event and its
    compressed 60 x 60 versions. Returns the figure and the raw image's cell stats."""
    raw = imf.image(sample, "raw")
    _, present = imf.samples[sample]
    small = [(c, imf.image(sample, c)) for c in present]
    width, height = (17, 7.6) if small else (9.5, 7.6)
    fig = plt.figure(figsize=(width, height), layout="constrained")
    outer = fig.add_gridspec(1, 2, width_ratios=[1.25, 1]) if small else fig.add_gridspec(1, 1)
    left = outer[0].subgridspec(2, 1, height_ratios=[1.25, 6.35])
    fig.add_subplot(left[0]).axis("off")  # room for the label
    # The label in an invisible axes as tall as those of the other plots, so that its
    # lines are spaced as there.
    lab = fig.add_axes([0.008, 1 - LABEL_AXES_HEIGHT / height, 0.5, LABEL_AXES_HEIGHT / height])
    lab.set_in_layout(False)
    lab.axis("off")
    ctx.label(lab, ["%s, event %s" % (sample, fmt_event(imf.event_number(sample)))], lumi=None, x=0.0, y=0.975)
    ax = fig.add_subplot(left[1])
    extent = [imf.phi_min, imf.phi_min + imf.cols * imf.cell, imf.eta_min, imf.eta_min + imf.rows * imf.cell]
    im = draw_image(ax, raw, log_norm([raw]), extent)
    ax.set_xlabel(r"$\phi$")
    ax.set_ylabel(r"$\eta$")
    ax.set_title("Raw: %d x %d cells of %g x %g" % (imf.rows, imf.cols, imf.cell, imf.cell), fontsize=14)
    fig.colorbar(im, ax=ax, label=r"sum $p_{\mathrm{T}}$ per cell [GeV]", pad=0.02)
    if small:
        right = outer[1].subgridspec(2, 2)
        norm = log_norm([x for _, x in small])
        axes = []
        for i, (c, x) in enumerate(small):
            bx = fig.add_subplot(right[i // 2, i % 2])
            im = draw_image(bx, x, norm)
            bx.set_title(c, fontsize=15)
            bx.tick_params(labelsize=12, which="both")
            bx.minorticks_off()
            if i // 2 == 1 or len(small) <= 2:
                bx.set_xlabel("column (φ order)", fontsize=13)
            if i % 2 == 0:
                bx.set_ylabel("row (η order)", fontsize=13)
            axes.append(bx)
        fig.colorbar(im, ax=axes, label=r"sum $p_{\mathrm{T}}$ / scale", pad=0.02, shrink=0.9)
    return fig, cell_stats(imf, raw)


def image_section(ctx, section, imf):
    chosen = choose_samples(imf)
    scale = "" if imf.scale is None else " (sum-pT scale %g GeV)" % imf.scale
    section.add(Text("%s: %s. Each figure shows the first event of a sample: left, the raw sum-pT channel on the "
                     "eta-phi grid (log colour scale, grey cells empty); right, the compressed 60 x 60 network "
                     "inputs, sum pT divided by its scale%s, on one shared log scale. The samples of %s are shown "
                     "first (the signal and the main background of the mono-jet study), at most %d." %
                     (os.path.basename(imf.path), imf.describe(), scale, " and ".join(PREFERRED), MAX_SAMPLES),
                     cls="note"))
    stats = {}
    for sample in chosen:
        fig, st = image_plot(ctx, imf, sample)
        stats[sample] = st
        name = ctx.save(fig, "images_%s" % sample)
        hottest = "" if st["max"] is None else ", hottest cell %s GeV at eta = %.3f, phi = %.3f" % (
            fmt_yield(st["max"]), st["eta"], st["phi"])
        section.add(Figure(name, "%s, event %s: raw sum-pT image (%d non-empty cells, %s GeV in all%s) and the "
                                 "compressions %s." %
                           (sample, fmt_event(imf.event_number(sample)), st["cells"], fmt_yield(st["total"]), hottest,
                            ", ".join(imf.samples[sample][1]) or "(none stored)"), wide=True))
    rows = []
    for sample in sorted(imf.samples, key=natural_key):
        st = stats.get(sample)
        n, _ = imf.samples[sample]
        ev = imf.event_number(sample) if st else None
        st = st or {}
        rows.append([Cell(sample), num(n, fmt_count), num(ev, fmt_event), num(st.get("cells"), fmt_count),
                     num(st.get("total")), num(st.get("max")), num(st.get("eta"), lambda v: fmt_fixed(v, 3)),
                     num(st.get("phi"), lambda v: fmt_fixed(v, 3))])
    section.add(Table("image-samples", "Samples of the images file; for the drawn ones, the raw sum-pT image of "
                                       "the event shown",
                      ["sample", "events", "event shown", "non-empty cells", "sum pT [GeV]", "hottest cell [GeV]",
                       "its η", "its φ"], rows))
