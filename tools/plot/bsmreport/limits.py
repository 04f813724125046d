"""Upper limits (bsmhunt limits output): the "Brazil" plots of the observed and
expected CLs upper limits with their +-1 and +-2 sigma bands against m(Z') per
model family (theory, dark sector, final state), on the cross section with the
theory prediction when it is known, else on the signal strength mu; the
nuisance-parameter pulls and the impact ranking on mu of the model with the best
expected limit; tables of the limits."""

import json
import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from . import style
from .page import Cell, Figure, Table, Text, fmt_g, fmt_z, num

YELLOW = "#FFD21F"  # +-2 sigma
GREEN = "#35B44A"   # +-1 sigma
THEORY = "#D62728"
IMPACT_UP = "#1F5FA8"
IMPACT_DOWN = "#39B8D6"
GROUP_KEYS = ("theory", "dark_sector", "final_state")
CHANNEL_TEXT = {"ee": "$ee$", "mumu": r"$\mu\mu$", "emu": r"$e\mu$", "mm": r"$\mu\mu$"}
MASS_KEY = "m_zprime_GeV"
MAX_TABLE_ROWS = 20
MAX_RANKED = 15
MAX_PULLS = 40
MAX_INDEX_MODELS = 30  # models per plot against the model index
DERIVED = ("zprime_width_GeV",)  # functions of the mass: never a family of their own


def cl_text(doc):
    return "%g%%" % round(100 * doc["cl"], 6)


def median(m):
    """The expected median limit on mu; infinite without one (sorted last)."""
    v = float(m["_mu"]["expected"][2]) if m["_mu"] is not None else math.nan
    return v if math.isfinite(v) else math.inf


def without_limit(models):
    """'1 failed, 2 above mu-max': the models without a limit by status."""
    counts = {}
    for m in models:
        if not m["ok"]:
            counts[m["status"]] = counts.get(m["status"], 0) + 1
    return ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items()))


def is_asimov(doc):
    return str(doc.get("data", "")).lower().startswith("asimov")


def observed_label(doc):
    d = str(doc.get("data", ""))
    if is_asimov(doc):
        return "Observed (Asimov)"
    if d == "data":
        return "Observed"
    return "Observed (%s)" % d


def describe(doc):
    """One line for the inputs table."""
    models = doc["models"]
    return "%d models (%s), %s CL, %s %s, data: %s%s" % (
        len(models), without_limit(models) or "0 failed", cl_text(doc), doc.get("calculator", "?"),
        doc.get("test_statistic", "?"), doc.get("data", "?"), (", source " + str(doc["source"])) if doc.get("source") else "")


# --------------------------------------------------------------------------------------
# Families of models (one Brazil plot each)


def scalar(v):
    """A parameter value usable as part of a key."""
    return v if isinstance(v, (str, int, float)) or v is None else json.dumps(v, sort_keys=True)


def family_key(m, extra_keys=()):
    p = m["_parameters"]
    keys = [k for k in GROUP_KEYS if k in p]
    if not any(k in p for k in GROUP_KEYS[:2]):
        # Other models: their string parameters name the family.
        keys += sorted(k for k, v in p.items() if isinstance(v, str) and k not in keys)
    keys += [k for k in extra_keys if k not in keys]
    return tuple((k, scalar(p.get(k))) for k in keys)


def family_text(key):
    bits = []
    for k, v in key:
        if k == "final_state":
            bits.append(CHANNEL_TEXT.get(str(v), str(v)) + " channel")
        elif k == "m_chi_GeV":
            bits.append(r"$m_\chi$ = %g GeV" % v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            bits.append("%s = %g" % (k, v))
        else:
            bits.append(str(v))
    return ", ".join(bits)


def family_tag(key):
    return "_".join(("%g" % v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)
                    for _, v in key) or "all"


def mass_families(models):
    """[(key, [models by mass])] of the models with an m(Z'); a numeric parameter
    that takes several values at one mass within a family splits the family."""
    fams = {}
    for m in models:
        if MASS_KEY in m["_parameters"]:
            fams.setdefault(family_key(m), []).append(m)
    out = []
    for key, ms in fams.items():
        by_mass = {}
        for m in ms:
            by_mass.setdefault(m["_parameters"][MASS_KEY], []).append(m)
        # Parameters (other than the mass and its functions) that differ at one mass.
        split = sorted({k for same in by_mass.values() if len(same) > 1 for m in same
                        for k in m["_parameters"] if k != MASS_KEY and k not in DERIVED
                        and len({scalar(x["_parameters"].get(k)) for x in same}) > 1})
        if split:
            sub = {}
            for m in ms:
                sub.setdefault(family_key(m, split), []).append(m)
            out += list(sub.items())
        else:
            out.append((key, ms))
    for _, ms in out:
        ms.sort(key=lambda m: (m["_parameters"][MASS_KEY], m["name"]))
    out.sort(key=lambda kv: [str(v) for _, v in kv[0]])
    return out


# --------------------------------------------------------------------------------------
# Brazil plots


def quantity(models):
    """'xs' when every drawn model has a cross section (and its limit), else 'mu'."""
    ok = [m for m in models if m["ok"]]
    return "xs" if ok and all(m["_xs"] is not None and m["cross_section_pb"] is not None for m in ok) else "mu"


def bands_of(models, q):
    key = "_xs" if q == "xs" else "_mu"
    obs = np.array([m[key]["observed"] for m in models], dtype=float)
    exp = np.array([m[key]["expected"] for m in models], dtype=float).reshape(len(models), 5)
    return obs, exp


def y_label(doc, q):
    if q == "xs":
        return r"%s CL upper limit on $\sigma$ [pb]" % cl_text(doc)
    return r"%s CL upper limit on $\mu$" % cl_text(doc)


def legend_handles(doc, q, points=False):
    h = [Line2D([], [], color="black", linewidth=0 if points else 2.2, marker="o", markersize=7 if points else 4,
                label=observed_label(doc)),
         Line2D([], [], color="black", linewidth=2.0, linestyle="--", label="Expected (median)"),
         Patch(facecolor=GREEN, edgecolor="none", label=r"Expected $\pm 1\sigma$"),
         Patch(facecolor=YELLOW, edgecolor="none", label=r"Expected $\pm 2\sigma$")]
    if q == "xs":
        h.append(Line2D([], [], color=THEORY, linewidth=2.2, label=r"$\sigma_{\mathrm{theory}}$"))
    else:
        h.append(Line2D([], [], color=THEORY, linewidth=1.8, linestyle="-", label=r"$\mu = 1$"))
    return h


def label_lines(doc, extra):
    lines = list(extra)
    lines.append(r"CL$_s$, %s %s" % (doc.get("calculator", "asymptotic"),
                                      r"$\tilde{q}_\mu$" if doc.get("test_statistic") == "qtilde"
                                      else str(doc.get("test_statistic", ""))))
    if is_asimov(doc):
        lines.append("observed = Asimov (no data)")
    return lines


def limits_lumi(doc, default):
    """The luminosity the limits were set at (the data's, when the pseudo-data are
    smaller than the MC's), else `default`."""
    return doc.get("lumi_ifb") if isinstance(doc.get("lumi_ifb"), (int, float)) else default


def status_of(doc):
    return "internal" if doc.get("data") == "data" else "simulation"


def finish_axes(ctx, ax, doc, q, values, extra, points=False):
    """Label, legend and y range of a Brazil plot; values: everything drawn."""
    v = np.asarray([x for x in values if np.isfinite(x) and x > 0])
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.1, 10.0)
    if q == "mu":
        lo, hi = min(lo, 1.0), max(hi, 1.0)
    log = q == "xs" or hi / lo > 20
    if log:
        ax.set_yscale("log")
        lo, hi = lo / 2, hi * 2
    else:
        lo, hi = 0.0, hi * 1.05
    ax.set_ylabel(y_label(doc, q))
    texts = ctx.label(ax, label_lines(doc, extra), status=status_of(doc), lumi=limits_lumi(doc, "default"))
    style.arrange_legend(ax, texts, lo, hi, log=log, handles=legend_handles(doc, q, points), ncol=1)


def brazil_mass_plot(ctx, doc, key, models):
    """Limits vs m(Z') of one family (failed models left out). None when nothing to draw."""
    ok = [m for m in models if m["ok"]]
    if not ok:
        return None, None
    q = quantity(ok)
    obs, exp = bands_of(ok, q)
    x = np.array([m["_parameters"][MASS_KEY] for m in ok], dtype=float)
    fig, ax = plt.subplots(figsize=(8, 6.5))
    fig.subplots_adjust(left=0.15, right=0.96, top=0.97, bottom=0.13)
    single = len(ok) == 1
    if single:
        boxes(ax, x, obs, exp, width=max(0.1 * x[0], 1.0))
        ax.set_xlim(x[0] * 0.8, x[0] * 1.2)
    else:
        ax.fill_between(x, exp[:, 0], exp[:, 4], color=YELLOW, linewidth=0, zorder=1)
        ax.fill_between(x, exp[:, 1], exp[:, 3], color=GREEN, linewidth=0, zorder=2)
        ax.plot(x, exp[:, 2], color="black", linestyle="--", linewidth=2.0, zorder=3)
        ax.plot(x, obs, color="black", linewidth=2.2, marker="o", markersize=4, zorder=4)
        pad = 0.02 * (x[-1] - x[0])
        ax.set_xlim(x[0] - pad, x[-1] + pad)
    values = list(obs) + list(exp.ravel())
    if q == "xs":
        xs = np.array([m["cross_section_pb"] for m in ok], dtype=float)
        ax.plot(x, xs, color=THEORY, linewidth=2.2, zorder=5, marker="o" if len(ok) == 1 else None)
        values += list(xs)
    else:
        ax.axhline(1.0, color=THEORY, linewidth=1.8, zorder=5)
    ax.set_xlabel(r"$m_{\mathit{Z'}}$ [GeV]")
    finish_axes(ctx, ax, doc, q, values, [family_text(key)], points=single)
    return fig, q


def boxes(ax, x, obs, exp, width):
    """Bands as boxes around each x (categorical models, or a single mass)."""
    for xi, e in zip(x, exp):
        for lo, hi, colour, z in ((0, 4, YELLOW, 1), (1, 3, GREEN, 2)):
            if np.isfinite(e[lo]) and np.isfinite(e[hi]):  # a band bsmhunt could not compute is left out
                ax.add_patch(plt.Rectangle((xi - width / 2, e[lo]), width, e[hi] - e[lo], color=colour,
                                           linewidth=0, zorder=z))
        if np.isfinite(e[2]):
            ax.plot([xi - width / 2, xi + width / 2], [e[2], e[2]], color="black", linestyle="--", linewidth=2.0,
                    zorder=3)
    ax.plot(x, obs, color="black", linestyle="none", marker="o", markersize=7, zorder=4)


def brazil_index_plot(ctx, doc, models, part, parts):
    """Limits of models without m(Z'), against their index, names as tick labels."""
    ok = [m for m in models if m["ok"]]
    q = quantity(ok)
    obs, exp = bands_of(ok, q)
    x = np.arange(len(ok), dtype=float)
    width = max(8.0, 0.45 * len(ok) + 3)
    fig, ax = plt.subplots(figsize=(width, 7.0))
    longest = max(len(m["name"]) for m in ok)
    fig.subplots_adjust(left=0.15 * 8 / width, right=1 - 0.04 * 8 / width, top=0.97,
                        bottom=min(0.5, (0.45 + 0.068 * longest) / 7.0))
    boxes(ax, x, obs, exp, width=0.7)
    values = list(obs) + list(exp.ravel())
    if q == "xs":
        xs = np.array([m["cross_section_pb"] for m in ok], dtype=float)
        ax.plot(x, xs, color=THEORY, linestyle="none", marker="_", markersize=26, markeredgewidth=2.5, zorder=5)
        values += list(xs)
    else:
        ax.axhline(1.0, color=THEORY, linewidth=1.8, zorder=5)
    ax.set_xlim(-0.6, len(ok) - 0.4)
    ax.set_xticks(x)
    ax.set_xticklabels([m["name"] for m in ok], rotation=60, ha="right", fontsize=11)
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.tick_params(axis="x", top=False)
    finish_axes(ctx, ax, doc, q, values, ["models %d of %d" % (part + 1, parts)] if parts > 1 else [], points=True)
    return fig, q


# --------------------------------------------------------------------------------------
# Pulls and impacts


def best_model(doc):
    """The ok model with the smallest expected median limit on mu that has pulls or
    impacts, or None."""
    cands = [m for m in doc["models"] if m["ok"] and (m["pulls"] or m["impacts"])]
    return min(cands, key=lambda m: (median(m), m["name"])) if cands else None


def impact_size(i):
    return max([abs(v) for v in (i["postfit_up"], i["postfit_down"], i["prefit_up"], i["prefit_down"])
                if v is not None] or [0.0])


def ranked_impacts(m):
    """The top MAX_RANKED impacts, largest first: by the larger post-fit shift as
    bsmhunt limits sorts them, then the pre-fit one (ties keep the file's order)."""
    def key(i):
        post = max([abs(v) for v in (i["postfit_up"], i["postfit_down"]) if v is not None] or [0.0])
        return (-post, -impact_size(i))
    return sorted(m["impacts"], key=key)[:MAX_RANKED]


def header(ctx, ax, doc, extra):
    """The experiment label top left of a tall axes, its lines spaced in points
    (style.experiment_label spaces them in axes fractions). Returns the texts."""
    t1 = ax.text(0.03, 0.99, "bsmhunt", transform=ax.transAxes, fontsize=style.FONT_SIZE + 3, fontweight="bold",
                 fontstyle="italic", va="top", ha="left", zorder=10)
    t2 = ax.annotate(" " + status_of(doc), xy=(1, 0), xycoords=t1, fontsize=style.FONT_SIZE + 3, va="bottom",
                     ha="left", zorder=10)
    lines = [style.lumi_text(limits_lumi(doc, ctx.lumi_ifb), ctx.sqrt_s_GeV)] + [e for e in extra if e]
    t3 = ax.annotate("\n".join(lines), xy=(0, 0), xycoords=t1, xytext=(0, -6), textcoords="offset points",
                     fontsize=style.FONT_SIZE - 1, va="top", ha="left", linespacing=1.3, zorder=10)
    return [t1, t2, t3]


def name_margin(names, width):
    longest = max((len(n) for n in names), default=8)
    return min(0.45, 0.04 + longest * 0.095 / width)


def ranking_plot(ctx, doc, m):
    """ATLAS-style: Delta mu of the top impacts (pre-fit open, post-fit filled, top
    axis) with the parameter's pull and constraint (points, bottom axis)."""
    ranked = ranked_impacts(m)
    if not ranked:
        return None
    pulls = {p["parameter"]: p for p in m["pulls"]}
    n = len(ranked)
    row = 0.42
    head = 1.35  # inches above the rows: the label
    width = 9.0
    height = n * row + head + 2.6
    fig = plt.figure(figsize=(width, height))
    names = [i["parameter"] for i in ranked]
    left = name_margin(names, width)
    bottom_in, top_in = 1.9, 0.75
    ax = fig.add_axes([left, bottom_in / height, 0.96 - left, 1 - (bottom_in + top_in) / height])
    top = ax.twiny()
    y = np.arange(n)[::-1].astype(float)  # largest on top
    span = max([impact_size(i) for i in ranked] + [1e-12]) * 1.15
    for yi, i in zip(y, ranked):
        for v, colour in ((i["prefit_up"], IMPACT_UP), (i["prefit_down"], IMPACT_DOWN)):
            if v is not None:
                top.barh(yi, v, height=0.7, facecolor="none", edgecolor=colour, linewidth=1.6, zorder=2)
        for v, colour in ((i["postfit_up"], IMPACT_UP), (i["postfit_down"], IMPACT_DOWN)):
            if v is not None:
                top.barh(yi, v, height=0.7, color=colour, alpha=0.75, linewidth=0, zorder=1)
    top.set_xlim(-span, span)
    top.set_xlabel(r"$\Delta\mu$", labelpad=6)
    px, pe, py = [], [], []
    for yi, name in zip(y, names):
        p = pulls.get(name)
        if p is not None and p["pull"] is not None:
            px.append(p["pull"])
            pe.append(p["constraint"] if p["constraint"] is not None else 0.0)
            py.append(yi)
    reach = max([abs(a) + b for a, b in zip(px, pe)] + [1.0])
    lim = 2.0 if reach <= 1.8 else math.ceil(reach + 0.3)
    ax.set_xlim(-lim, lim)
    for k in (-1, 0, 1):  # through the rows only, not the label
        ax.plot([k, k], [-0.7, n - 0.3], color="grey", linestyle=":" if k else "-", linewidth=1.0, zorder=0)
    ax.errorbar(px, py, xerr=pe, fmt="o", color="black", markersize=6, elinewidth=1.6, capsize=0, zorder=6)
    ax.set_xlabel(r"$(\hat{\theta} - \theta_0) / \Delta\theta$")
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=12)
    ax.yaxis.set_minor_locator(plt.NullLocator())
    ax.tick_params(axis="y", right=False, left=False)
    extra_rows = head / row
    ax.set_ylim(-0.7, n - 0.3 + extra_rows)
    top.set_ylim(ax.get_ylim())
    ax.set_zorder(top.get_zorder() + 1)  # the pulls above the bars
    ax.patch.set_visible(False)
    ax.tick_params(axis="x", which="both", top=False)
    top.tick_params(axis="x", which="both", bottom=False)
    info = ["best expected limit: " + m["name"]]
    if m["mu_hat"] is not None:
        info.append(r"$\hat{\mu}$ = %s" % (fmt_g(m["mu_hat"], 3) + (r" $\pm$ %s" % fmt_g(m["mu_hat_error"], 2)
                                                                      if m["mu_hat_error"] is not None else "")))
    header(ctx, ax, doc, info)
    # Two columns, filled down: pre-fit and post-fit up | down, the pull below.
    handles = [Patch(facecolor="none", edgecolor=IMPACT_UP, linewidth=1.6, label=r"Pre-fit $\theta_0 + \Delta\theta$"),
               Patch(facecolor=IMPACT_UP, alpha=0.75, label=r"Post-fit $\hat\theta + \Delta\hat\theta$"),
               Line2D([], [], color="black", marker="o", linestyle="-", linewidth=1.6, markersize=6,
                      label="Pull (bottom axis)"),
               Patch(facecolor="none", edgecolor=IMPACT_DOWN, linewidth=1.6,
                     label=r"Pre-fit $\theta_0 - \Delta\theta$"),
               Patch(facecolor=IMPACT_DOWN, alpha=0.75, label=r"Post-fit $\hat\theta - \Delta\hat\theta$")]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=12, bbox_to_anchor=(0.5, 0.005),
               columnspacing=1.2, handlelength=1.6, title=r"Impact on $\mu$ (top axis):", title_fontsize=12)
    return fig


def pulls_plot(ctx, doc, m):
    """Every constrained parameter's pull +- constraint (at most MAX_PULLS: the
    largest pulls when there are more), in the file's order, with the 1 and 2 sigma
    bands."""
    have = [p for p in m["pulls"] if p["pull"] is not None]
    if not have:
        return None, 0
    shown = have
    if len(have) > MAX_PULLS:
        keep = set(id(p) for p in sorted(have, key=lambda p: -abs(p["pull"]))[:MAX_PULLS])
        shown = [p for p in have if id(p) in keep]
    n = len(shown)
    row = 0.36
    width = 8.5
    head = 1.2
    height = n * row + head + 1.05
    fig = plt.figure(figsize=(width, height))
    names = [p["parameter"] for p in shown]
    left = name_margin(names, width)
    ax = fig.add_axes([left, 0.8 / height, 0.96 - left, 1 - 1.05 / height])
    y = np.arange(n)[::-1].astype(float)
    pull = np.array([p["pull"] for p in shown])
    err = np.array([p["constraint"] if p["constraint"] is not None else 0.0 for p in shown])
    reach = float(np.max(np.abs(pull) + err))
    lim = 3.0 if reach <= 2.7 else math.ceil(reach + 0.3)
    rows = [-0.7, n - 0.3]  # the bands through the rows only, not the label
    ax.fill_betweenx(rows, -2, 2, color=YELLOW, linewidth=0, zorder=0)
    ax.fill_betweenx(rows, -1, 1, color=GREEN, linewidth=0, zorder=0)
    ax.plot([0, 0], rows, color="black", linewidth=1.0, linestyle=":", zorder=1)
    ax.errorbar(pull, y, xerr=err, fmt="o", color="black", markersize=6, elinewidth=1.6, capsize=0, zorder=3)
    ax.set_xlim(-lim, lim)
    ax.set_xlabel(r"$(\hat{\theta} - \theta_0) / \Delta\theta$")
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=12 if n <= 25 else 10)
    ax.yaxis.set_minor_locator(plt.NullLocator())
    ax.tick_params(axis="y", right=False, left=False)
    ax.set_ylim(-0.7, n - 0.3 + head / row)
    header(ctx, ax, doc, [m["name"]])
    return fig, len(have) - n


# --------------------------------------------------------------------------------------
# Tables


def limit_cells(m, key):
    b = m[key]
    if b is None:
        return [num(None), num(None), num(None), num(None)]
    e = b["expected"]
    return [num(b["observed"], fmt_lim), num(e[1], fmt_lim), num(e[2], fmt_lim), num(e[3], fmt_lim)]


def fmt_lim(x):
    return fmt_g(x, 3)


def status_text(m):
    if not m["ok"]:
        return "%s: %s" % (m["status"], m.get("message") or "no message")
    o = m["_mu"]["observed"]
    if not math.isfinite(o):
        return "no observed limit"
    if o < 1:
        return "excluded"
    if m["_mu"]["expected"][2] < 1:
        return "not excluded (expected excluded)"
    return "not excluded"


def model_row(m):
    p = m["_parameters"]
    d = m.get("discovery") or {}
    mu_hat = num(m.get("mu_hat"), fmt_lim, error=m.get("mu_hat_error"))
    row = [Cell(m["name"]), num(p.get(MASS_KEY), lambda v: "%g" % v), mu_hat]
    row += limit_cells(m, "_mu")
    xs = m["_xs"]
    row += [num(xs["observed"] if xs else None, fmt_lim), num(xs["expected"][2] if xs else None, fmt_lim),
            num(m.get("cross_section_pb"), fmt_lim)]
    row += [num(d.get("z"), fmt_z), num(d.get("z_expected"), fmt_z),
            Cell(status_text(m), cls=None if m["ok"] else "warn")]
    return {"cls": "chosen" if m.get("_best") else None, "cells": row}


HEADER = [[("model", 1), ("m(Z') [GeV]", 1), ("μ̂", 1), ("upper limit on μ", 4), ("upper limit on σ [pb]", 2),
           ("σ theory [pb]", 1), ("discovery", 2), ("status", 1)],
          ["", "", "", "observed", "expected −1σ", "expected median", "expected +1σ", "observed",
           "expected median", "", "Z observed", "Z expected", ""]]


def limits_tables(section, doc, path, tid):
    models = doc["models"]
    ok = sorted([m for m in models if m["ok"]], key=lambda m: (median(m), m["name"]))
    failed = [m for m in models if not m["ok"]]
    shown = ok[:MAX_TABLE_ROWS]
    more = len(ok) - len(shown)
    cl = cl_text(doc)
    note = ("Sorted by the expected median limit on μ (the signal strength; σ = μ × σ theory). "
            "Status: excluded when the observed limit on μ is below 1.")
    if more:
        note += " The %d best of %d models; %d more with larger expected limits are in the full table below." % (
            len(shown), len(ok), more)
    if failed:
        note += " Without a limit (last rows): %s." % without_limit(failed)
    if any(m.get("_best") for m in shown):
        note += " Highlighted: the model whose pulls and impacts are shown."
    section.add(Table(tid, "%s CL upper limits%s" % (cl, (", the %d best expected" % len(shown)) if more else ""),
                      HEADER, [model_row(m) for m in shown + failed], note=note))
    if more:
        section.add(Table(tid + "-all", "All %d models (%s CL upper limits)" % (len(models), cl), HEADER,
                          [model_row(m) for m in ok + failed], collapsed=True))


def nuisance_tables(section, m, tid):
    if m["impacts"]:
        rows = [[Cell(i["parameter"])] + [num(i[k], lambda v: fmt_g(v, 3)) for k in
                                          ("prefit_up", "prefit_down", "postfit_up", "postfit_down")]
                for i in ranked_impacts(m)]
        section.add(Table(tid + "-impacts", "Impacts on μ of %s (top %d)" % (m["name"], len(rows)),
                          ["parameter", "pre-fit +1σ", "pre-fit −1σ", "post-fit +1σ", "post-fit −1σ"], rows,
                          collapsed=True))
    if m["pulls"]:
        rows = [[Cell(p["parameter"])] + [num(p[k], lambda v: fmt_g(v, 4)) for k in PULL_KEYS] for p in m["pulls"]]
        section.add(Table(tid + "-pulls", "Pulls of %s (%d parameters)" % (m["name"], len(rows)),
                          ["parameter", "value", "error", "pull", "constraint"], rows, collapsed=True))


PULL_KEYS = ("value", "error", "pull", "constraint")


# --------------------------------------------------------------------------------------
# The section


QUANTITY_TEXT = {"xs": "the cross section (red: the theory cross section)",
                 "mu": "the signal strength μ (red: μ = 1)"}


def plain_text(t):
    """Mathtext of a label as plain text for a caption."""
    return t.replace("$", "").replace("\\mu", "μ").replace("\\chi", "χ")


def limits_section(ctx, section, doc, path, tag=""):
    """tag: a prefix of the figure names and table ids when several files are shown."""
    pre = "limits_%s" % (tag + "_" if tag else "")
    tid = "limits" + ("-" + tag if tag else "")
    models = doc["models"]
    cl = cl_text(doc)
    info = "%s: %d models, %s CL upper limits (CLs, %s calculator, test statistic %s), data: %s%s%s." % (
        path, len(models), cl, doc.get("calculator", "?"), doc.get("test_statistic", "?"), doc.get("data", "?"),
        (", channels " + ", ".join(doc["channels"])) if doc["channels"] else "",
        (", without a limit: " + without_limit(models)) if without_limit(models) else "")
    if doc.get("seconds") is not None:
        info += " %.1f s on %s rank%s." % (doc["seconds"], doc.get("ranks", "?"), "" if doc.get("ranks") == 1 else "s")
    section.add(Text(info, cls="note"))
    if is_asimov(doc):
        section.add(Text("The observed limits are computed on the background-only Asimov data set: no data, "
                         "observed = expected median.", cls="note"))
    if not models:
        section.add(Text("%s: no models." % path, cls="warning"))
        return
    best = best_model(doc)
    for m in models:
        m["_best"] = m is best
    # 1. Brazil plots: per family against m(Z'), the others against their index.
    for key, fam in mass_families(models):
        fig, q = brazil_mass_plot(ctx, doc, key, fam)
        nfail = without_limit(fam)
        if fig is None:
            section.add(Text("%s: no model has a limit (%s)." % (plain_text(family_text(key)), nfail),
                             cls="warning"))
            continue
        name = ctx.save(fig, pre + "brazil_" + family_tag(key))
        notes = []
        if q == "mu" and any(m["ok"] and m["cross_section_pb"] is None for m in fam):
            notes.append("on μ as some models have no cross section")
        if nfail:
            notes.append("without a limit, not drawn: " + nfail)
        if is_asimov(doc):
            notes.append("observed = Asimov (no data)")
        section.add(Figure(name, "%s: observed (solid) and expected (dashed) %s CL upper limits on %s vs m(Z'), "
                                 "with the ±1σ (green) and ±2σ (yellow) bands of the expected limit%s." %
                           (plain_text(family_text(key)), cl, QUANTITY_TEXT[q],
                            "".join("; " + n for n in notes))))
    others = [m for m in models if MASS_KEY not in m["_parameters"] and m["ok"]]
    chunks = [others[i:i + MAX_INDEX_MODELS] for i in range(0, len(others), MAX_INDEX_MODELS)]
    for k, chunk in enumerate(chunks):
        fig, q = brazil_index_plot(ctx, doc, chunk, k, len(chunks))
        name = ctx.save(fig, pre + "brazil_models" + ("_%d" % (k + 1) if len(chunks) > 1 else ""))
        section.add(Figure(name, "Models without m(Z')%s: observed (points) and expected (dashed) %s CL upper "
                                 "limits on %s, with the ±1σ (green) and ±2σ (yellow) bands." %
                           ((" (%d of %d)" % (k + 1, len(chunks))) if len(chunks) > 1 else "", cl,
                            QUANTITY_TEXT[q]), wide=len(chunk) > 16))
    # 2. Pulls and impacts of the model with the best expected limit.
    if best is None:
        if any(m["ok"] for m in models):
            section.add(Text("No model has pulls or impacts (a model without nuisance parameters).", cls="note"))
    else:
        fig = ranking_plot(ctx, doc, best)
        if fig is not None:
            name = ctx.save(fig, pre + "ranking")
            section.add(Figure(name, "%s (the best expected limit, μ < %s): impact on μ of the %d "
                                     "highest-ranked nuisance parameters (top axis; open: the parameter at its "
                                     "pre-fit ±1σ, filled: at its post-fit ±1σ) and their pulls "
                                     "(θ̂ − θ₀)/Δθ ± the constraint (points, bottom axis)." %
                               (best["name"], fmt_lim(median(best)), len(ranked_impacts(best)))))
        fig, hidden = pulls_plot(ctx, doc, best)
        if fig is not None:
            name = ctx.save(fig, pre + "pulls")
            section.add(Figure(name, "%s: pulls (θ̂ − θ₀)/Δθ of the constrained nuisance parameters with "
                                     "their post-fit uncertainty in units of the pre-fit one (the constraint)%s." %
                               (best["name"], ("; the %d largest pulls, %d more not shown" %
                                               (MAX_PULLS, hidden)) if hidden else "")))
    # 3. Tables.
    limits_tables(section, doc, path, tid)
    if best is not None:
        nuisance_tables(section, best, tid)
