"""Shared drawing: the stacked histogram with pseudo-data and a data/MC ratio panel,
and small helpers."""

import math
import re

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from . import style
from .hists import poisson_interval


class Context:
    """What every section needs: the output directory, the luminosity and energy for
    the labels, the signal patterns, and the list of figures written."""

    def __init__(self, outdir, lumi_ifb=None, sqrt_s_GeV=None, signal_patterns=None, signal_scale=0.0):
        self.outdir = outdir
        self.lumi_ifb = lumi_ifb
        self.sqrt_s_GeV = sqrt_s_GeV
        self.signal_patterns = signal_patterns or []
        self.signal_scale = signal_scale
        self.written = []
        self.warnings = []
        self.spectrum_lumi = lumi_ifb  # the luminosity of fitted spectra (None: not shown)
        self.mass_label = None

    def save(self, fig, name):
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        if not name.endswith(".png"):
            name += ".png"
        base, n = name[:-4], 2
        while name in self.written:
            name = "%s_%d.png" % (base, n)
            n += 1
        style.save(fig, "%s/%s" % (self.outdir, name))
        self.written.append(name)
        return name

    def label(self, ax, extra=(), lumi="default", **kw):
        return style.experiment_label(ax, self.lumi_ifb if lumi == "default" else lumi, self.sqrt_s_GeV, extra,
                                      **kw)


def bin_width_text(edges, unit):
    w = np.diff(edges)
    if np.allclose(w, w[0], rtol=1e-6):
        if unit:
            return "Events / %s %s" % (("%.3g" % w[0]), unit)
        return "Events / %.3g" % w[0] if not np.isclose(w[0], 1.0) else "Events"
    return "Events / bin"


def auto_signal_scale(signal_sw, background_sw, target=0.3):
    """A round factor 10^k (k >= 0) so that the scaled signal reaches ~`target` of the
    background in the bin where it is most prominent."""
    s = np.asarray(signal_sw, dtype=np.float64)
    b = np.asarray(background_sw, dtype=np.float64)
    ok = b > 0
    if not ok.any() or not (s[ok] > 0).any():
        return 1.0
    k = float(np.max(s[ok] / b[ok]))
    if k <= 0:
        return 1.0
    exponent = math.ceil(math.log10(target / k))
    return float(10 ** max(0, exponent))


def scale_text(scale):
    if scale == 1:
        return ""
    e = math.log10(scale)
    if abs(e - round(e)) < 1e-9:
        return r" $\times$10$^{%d}$" % round(e) if e >= 3 else r" $\times$%d" % round(scale)
    return r" $\times$%g" % scale


def data_intervals(n, errors=None):
    """(lower, upper) errors of data counts: Poisson intervals, or the given symmetric errors."""
    if errors is None:
        return poisson_interval(n)
    e = np.asarray(errors, dtype=np.float64)
    return e, e


def stack_plot(ctx, edges, stack, data=None, signals=(), xlabel="", ylabel="Events", logy=True, logx=False,
               extra=(), ratio=True, mc_label="MC stat. unc.", legend_cols=2, integer_ticks=False,
               data_label="Pseudo-data", data_errors=None, total_variance=None, log_floor=None, lumi="default"):
    """stack: [{'label', 'colour', 'sw', 'sw2'}] bottom to top; data: counts per bin or
    None; signals: [{'label', 'sw', 'colour', 'scale'}] drawn dashed on top.
    data_errors: symmetric errors of the data (default: Poisson intervals);
    total_variance: the variance of the stack's total (default: the sum of the
    components' sw2); mc_label None: no MC uncertainty band; log_floor: the lowest
    y shown with logy (far tails below it are cut off); lumi: the luminosity in the
    label when the stack is drawn at the data's rather than the report's."""
    edges = np.asarray(edges, dtype=np.float64)
    centres = 0.5 * (edges[1:] + edges[:-1])
    if logx:
        centres = np.sqrt(edges[1:] * edges[:-1])
    with_ratio = ratio and data is not None
    if with_ratio:
        fig, (ax, rax) = plt.subplots(2, 1, figsize=(8, 8), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
    else:
        fig, ax = plt.subplots(figsize=(8, 6.5))
        rax = None
    fig.subplots_adjust(left=0.14, right=0.96, top=0.97, bottom=0.1 if with_ratio else 0.13)
    total = np.zeros(len(edges) - 1)
    total2 = np.zeros(len(edges) - 1)
    handles = []
    for comp in stack:
        sw = np.asarray(comp["sw"], dtype=np.float64)
        ax.stairs(total + sw, edges, baseline=total.copy(), fill=True, color=comp["colour"], linewidth=0)
        ax.stairs(total + sw, edges, baseline=None, color="black", linewidth=0.5)
        total = total + sw
        total2 = total2 + np.asarray(comp["sw2"], dtype=np.float64)
        handles.append(Patch(facecolor=comp["colour"], edgecolor="black", linewidth=0.5, label=comp["label"]))
    if total_variance is not None:
        total2 = np.asarray(total_variance, dtype=np.float64)
    err = np.sqrt(np.maximum(total2, 0))
    if mc_label is None:
        err = np.zeros_like(err)
    if stack and mc_label is not None:
        ax.stairs(total + err, edges, baseline=total - err, fill=True, facecolor="none", edgecolor="#444444",
                  hatch="////", linewidth=0)
        handles.append(Patch(facecolor="none", edgecolor="#444444", hatch="////", linewidth=0, label=mc_label))
    for sig in signals:
        sw = np.asarray(sig["sw"], dtype=np.float64) * sig.get("scale", 1.0)
        line = ax.stairs(sw, edges, baseline=None, color=sig["colour"], linestyle="--", linewidth=2.2,
                         label=sig["label"] + scale_text(sig.get("scale", 1.0)))
        handles.append(line)
    positive = [total[total > 0]]
    if data is not None:
        n = np.asarray(data, dtype=np.float64)
        lo, hi = data_intervals(n, data_errors)
        m = n > 0
        eb = ax.errorbar(centres[m], n[m], yerr=[lo[m], hi[m]], fmt="o", color="black", markersize=5,
                         elinewidth=1.4, capsize=0, label=data_label, zorder=5)
        handles.insert(0, eb)
        positive.append(n[m])
    # The legend lists the stack top first, as it is drawn.
    nstack = len(stack)
    order = list(handles)
    if data is not None:
        order = [handles[0]] + list(reversed(handles[1:1 + nstack])) + handles[1 + nstack:]
    else:
        order = list(reversed(handles[:nstack])) + handles[nstack:]
    allpos = np.concatenate(positive) if positive else np.array([])
    ymax = float(max(allpos.max() if allpos.size else 1.0,
                     max((np.max(np.asarray(s["sw"]) * s.get("scale", 1.0)) for s in signals), default=0)))
    if logy:
        ax.set_yscale("log")
        ymin = float(allpos.min()) if allpos.size else 1e-3
        ymin = max(ymin * 0.3, ymax * 1e-8)
        if log_floor is not None:
            ymin = max(ymin, min(log_floor, ymax * 1e-2))
    else:
        ymin = 0.0
    if logx:
        ax.set_xscale("log")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylabel(ylabel)
    texts = ctx.label(ax, extra, lumi=lumi)
    style.arrange_legend(ax, texts, ymin, ymax * (1.0 if logy else 1.02), log=logy, handles=order)
    bottom = rax if rax is not None else ax
    bottom.set_xlabel(xlabel)
    if integer_ticks:
        bottom.set_xticks(np.round(centres).astype(int) if len(centres) <= 16 else bottom.get_xticks())
        bottom.xaxis.set_minor_locator(plt.NullLocator())
    if rax is not None:
        n = np.asarray(data, dtype=np.float64)
        ok = total > 0
        rel = np.where(ok, err / np.where(ok, total, 1), 0)
        rax.stairs(1 + rel, edges, baseline=1 - rel, fill=True, facecolor="#BBBBBB", edgecolor="none", alpha=0.7)
        rax.axhline(1.0, color="black", linewidth=1.0, linestyle="-")
        m = ok & (n > 0)
        lo, hi = data_intervals(n, data_errors)
        r = np.where(ok, n / np.where(ok, total, 1), np.nan)
        rax.errorbar(centres[m], r[m], yerr=[lo[m] / total[m], hi[m] / total[m]], fmt="o", color="black",
                     markersize=4, elinewidth=1.2, capsize=0)
        good = m & (np.maximum(lo, hi) / np.where(ok, total, 1) < 0.25)
        dev = float(np.max(np.abs(r[good] - 1))) if good.any() else 0.4
        span = 0.2 if dev < 0.15 else (0.5 if dev < 0.4 else 1.0)
        rax.set_ylim(1 - span, 1 + span)
        rax.set_ylabel("Data / MC", fontsize=14)
        rax.yaxis.set_major_locator(plt.MaxNLocator(4, prune="both"))
        if logx:
            rax.set_xscale("log")
        # Points outside the panel: arrows at the edge.
        over = m & (r > 1 + span)
        under = m & (r < 1 - span)
        rax.plot(centres[over], np.full(over.sum(), 1 + 0.88 * span), marker="^", color="#B00000",
                 linestyle="none", markersize=7)
        rax.plot(centres[under], np.full(under.sum(), 1 - 0.88 * span), marker="v", color="#B00000",
                 linestyle="none", markersize=7)
        fig.align_ylabels([ax, rax])
    return fig


def residual_panel(rax, edges, pulls, mask=None, logx=False, ylabel="(n - μ) / √μ", colour="#D55E00"):
    """Bars of per-bin pulls (or significances) below a spectrum."""
    pulls = np.asarray(pulls, dtype=np.float64)
    if mask is None:
        mask = np.ones(len(pulls), dtype=bool)
    vals = np.where(mask & np.isfinite(pulls), pulls, 0.0)
    rax.stairs(vals, edges, baseline=0, fill=True, color=colour, alpha=0.85)
    rax.axhline(0, color="black", linewidth=0.8)
    lim = max(3.0, math.ceil(float(np.max(np.abs(vals))) + 0.5) if len(vals) else 3.0)
    rax.set_ylim(-lim, lim)
    rax.set_ylabel(ylabel, fontsize=14)
    rax.yaxis.set_major_locator(plt.MaxNLocator(5, integer=True, prune="both"))
    if logx:
        rax.set_xscale("log")


def _shade(colour, amount):
    """The colour lightened (amount > 0, towards white) or darkened (< 0)."""
    from matplotlib.colors import to_hex, to_rgb
    rgb = np.array(to_rgb(colour))
    target = np.ones(3) if amount > 0 else np.zeros(3)
    return to_hex(rgb + (target - rgb) * abs(amount))


def spread(items, k):
    """At most k of the items, spread evenly over the list (first and last included)."""
    items = list(items)
    if len(items) <= k:
        return items
    idx = sorted({int(round(x)) for x in np.linspace(0, len(items) - 1, k)})
    return [items[i] for i in idx]


def sample_stack(hists, ranking=None, max_entries=10, variances=None):
    """Stack components of MC samples known only by name: samples with the same prefix
    (before the first '_'; style.sample_family) share a colour family (lighter and
    darker shades of one colour; a known process keeps its colour), and beyond `max_entries` the
    smallest samples are summed into one grey 'other'. hists: {name: sw}; ranking:
    {name: yield} that orders and groups them (default: the sums of hists, pass one
    for colours that agree between plots); variances: {name: sw2} or None (zeros).
    Bottom to top: 'other', then families by increasing yield, each by increasing
    yield."""
    names = list(hists)
    if not names:
        return []
    rank = {n: abs(float((ranking or {}).get(n, np.nansum(hists[n])))) for n in names}
    order = sorted(names, key=lambda n: -rank[n])
    keep = order if len(order) <= max_entries else order[:max_entries - 1]
    rest = [n for n in order if n not in keep]
    nb = len(np.asarray(hists[names[0]]))

    def var(n):
        return np.zeros(nb) if variances is None else np.nan_to_num(np.asarray(variances[n], dtype=np.float64))

    families = {}
    for n in keep:
        families.setdefault(style.sample_family(n), []).append(n)
    fam_order = sorted(families, key=lambda f: sum(rank[n] for n in families[f]))
    base = style.process_colours(fam_order)
    stack = []
    if rest:
        stack.append({"label": "other (%d samples)" % len(rest), "colour": "#BBBBBB",
                      "sw": np.sum([np.nan_to_num(np.asarray(hists[n], dtype=np.float64)) for n in rest], axis=0),
                      "sw2": np.sum([var(n) for n in rest], axis=0)})
    for f in fam_order:
        members = sorted(families[f], key=lambda n: rank[n])
        k = len(members)
        shades = [0.0] if k == 1 else list(np.linspace(-0.35, 0.55, k))
        for n, a in zip(members, shades):
            stack.append({"label": n, "colour": _shade(base[f], a) if a else base[f],
                          "sw": np.nan_to_num(np.asarray(hists[n], dtype=np.float64)), "sw2": var(n)})
    return stack
