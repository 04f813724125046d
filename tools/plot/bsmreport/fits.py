"""Sideband fits (bsmhunt fit), peak fits (bsmhunt fit --peak) and the bump hunt
(bsmhunt bumphunt): spectra with the fitted background, signal regions shaded, pull
panels, significance summaries."""

import math
import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from . import style
from .draw import residual_panel
from .hists import poisson_interval
from .inputs import finite_or_none
from .page import Cell, Figure, Table, Text, fmt_fixed, fmt_g, fmt_yield, num

MASS_LABEL = r"$m_{JJ}$ [GeV]"


def _per_width(edges):
    w = np.diff(edges)
    uniform = np.allclose(w, w[0], rtol=1e-6)
    return uniform, (np.ones_like(w) if uniform else w)


def spectrum_plot(ctx, edges, counts, expected, expected_error=None, pulls=None, in_fit=None, sr=None,
                  sidebands=(), extra=(), info=(), data_label="Data", fit_label="Background fit",
                  hatch_unfitted=True):
    """Counts (points) with the fitted background (line; dashed outside the fitted
    bins) and its uncertainty, the signal region shaded, pulls below."""
    edges = np.asarray(edges, dtype=float)
    counts = np.asarray(counts, dtype=float)
    mu = np.asarray(expected, dtype=float) if expected is not None else None
    uniform, width = _per_width(edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(8, 8), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
    fig.subplots_adjust(left=0.14, right=0.96, top=0.97, bottom=0.1)
    handles = []
    for a, b in sidebands:
        for axx in (ax, rax):
            axx.axvspan(a, b, color="#56B4E9", alpha=0.12, linewidth=0)
    if sidebands:
        handles.append(Patch(color="#56B4E9", alpha=0.25, label="Sidebands (CWoLa)"))
    if sr is not None:
        for axx in (ax, rax):
            axx.axvspan(sr[0], sr[1], color="#D55E00", alpha=0.18, linewidth=0)
        handles.append(Patch(color="#D55E00", alpha=0.3, label="Signal region"))
    if in_fit is not None:
        fitted = np.asarray(in_fit, dtype=bool)
        outside = ~fitted
        if sr is not None:
            outside &= ~((centres > sr[0]) & (centres < sr[1]))
        if hatch_unfitted:
            for i in np.flatnonzero(outside):
                ax.axvspan(edges[i], edges[i + 1], facecolor="none", edgecolor="#999999", hatch="//", linewidth=0)
        if hatch_unfitted and outside.any():
            handles.append(Patch(facecolor="none", edgecolor="#999999", hatch="//", label="Not fitted"))
    else:
        fitted = np.ones(len(counts), dtype=bool)
    lo, hi = poisson_interval(counts)
    m = counts > 0
    eb = ax.errorbar(centres[m], counts[m] / width[m], yerr=[lo[m] / width[m], hi[m] / width[m]], fmt="o",
                     color="black", markersize=4.5, elinewidth=1.2, capsize=0, label=data_label, zorder=5)
    handles.insert(0, eb)
    positive = [counts[m] / width[m]]
    if mu is not None:
        y = mu / width
        ok = mu > 0
        if expected_error is not None:
            err = np.asarray(expected_error, dtype=float) / width
            ax.fill_between(centres, np.where(ok, y - err, np.nan), np.where(ok, y + err, np.nan), color="#D62728",
                            alpha=0.25, linewidth=0, step=None)
        solid = np.where(ok & fitted, y, np.nan)
        ax.plot(centres, solid, color="#D62728", linewidth=2.0)
        # Dashed where the function is extrapolated (signal region, dropped bins),
        # joined to the neighbouring fitted bins.
        ext = ok & ~fitted
        join = ext.copy()
        join[1:] |= ext[:-1]
        join[:-1] |= ext[1:]
        ax.plot(centres, np.where(join & ok, y, np.nan), color="#D62728", linewidth=2.0, linestyle="--")
        handles.insert(1, Line2D([], [], color="#D62728", linewidth=2.0, label=fit_label))
        if ext.any():
            handles.insert(2, Line2D([], [], color="#D62728", linewidth=2.0, linestyle="--",
                                     label="Fit, extrapolated"))
        positive.append(y[ok])
    ax.set_yscale("log")
    allpos = np.concatenate(positive) if positive else np.array([1.0])
    allpos = allpos[allpos > 0]
    ymin = float(allpos.min()) * 0.3 if allpos.size else 0.1
    ymax = float(allpos.max()) if allpos.size else 10.0
    if info:  # room for the fit summary under the spectrum
        ymin /= (ymax / ymin) ** (0.06 * (len(info) + 1))
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylabel(("Events / %g GeV" % (edges[1] - edges[0])) if uniform else "Events / GeV")
    texts = ctx.label(ax, list(extra), lumi=ctx.spectrum_lumi)
    if info:
        # The fit summary sits low on the left, under a falling spectrum.
        ax.text(0.04, 0.04, "\n".join(info), transform=ax.transAxes, fontsize=13, va="bottom", ha="left",
                linespacing=1.4, bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=2))
    style.arrange_legend(ax, texts, ymin, ymax, log=True, handles=handles)
    if mu is not None:
        p = np.asarray(pulls, dtype=float) if pulls is not None else np.where(mu > 0, (counts - mu) /
                                                                             np.sqrt(np.maximum(mu, 1e-300)), 0)
        residual_panel(rax, edges, p, ylabel=r"$(n-\mu)/\sqrt{\mu}$")
        if sr is not None:
            inside = (centres > sr[0]) & (centres < sr[1])
            rax.stairs(np.where(inside, p, 0), edges, baseline=0, fill=True, color="#B22222", alpha=0.9)
    rax.set_xlabel(ctx_mass_label(ctx))
    fig.align_ylabels([ax, rax])
    return fig


def ctx_mass_label(ctx):
    return ctx.mass_label or MASS_LABEL


def fit_info(fit, region=None):
    lines = []
    if fit:
        chi2, ndf, p = finite_or_none(fit.get("chi2")), fit.get("ndf"), finite_or_none(fit.get("pvalue"))
        f = str(fit.get("function", "?"))
        acc = "" if fit.get("accepted", True) else " (not accepted)"
        if chi2 is not None and ndf:
            lines.append(r"%s: $\chi^2$/ndf = %.1f/%d, p = %.2g%s" % (f, chi2, int(ndf), p if p is not None else
                                                                       float("nan"), acc))
    if region is not None:
        z = finite_or_none(region.get("z_local"))
        lines.append(r"SR: obs. %s, exp. %s $\pm$ %s, $Z_{\mathrm{local}}$ = %s" % (
            fmt_yield(finite_or_none(region.get("observed"))), fmt_yield(finite_or_none(region.get("expected"))),
            fmt_yield(finite_or_none(region.get("expected_error"))), fmt_fixed(z, 2)))
    return lines


def fit_section(ctx, section, doc, path, max_regions):
    spec = doc["spectrum"]
    edges, counts = np.asarray(spec["edges"], float), np.asarray(spec["counts"], float)
    base = os.path.splitext(os.path.basename(path))[0]
    regions = doc.get("signal_regions") or []
    bo = doc.get("background_only")
    if bo and bo.get("expected") is not None:
        fig = spectrum_plot(ctx, edges, counts, bo["expected"], bo.get("expected_error"), bo.get("pulls"),
                            bo.get("in_fit"), info=fit_info(bo))
        name = ctx.save(fig, "fit_%s_background_only" % base)
        section.add(Figure(name, "%s: the spectrum (%d events) and the background-only fit of all bins "
                                 "(the model of the pseudo-experiments); band: fit uncertainty; below: pulls." %
                           (os.path.basename(path), int(round(counts.sum())))))
    order = sorted(range(len(regions)), key=lambda i: -(finite_or_none(regions[i].get("z_local")) or 0))
    drawn = sorted(order[:max_regions])
    for i in drawn:
        r = regions[i]
        fit = r.get("fit") or {}
        sr = (finite_or_none(r.get("lo_GeV")), finite_or_none(r.get("hi_GeV")))
        if None in sr:
            sr = None
        fig = spectrum_plot(ctx, edges, counts, fit.get("expected"), fit.get("expected_error"), fit.get("pulls"),
                            fit.get("in_fit"), sr=sr, info=fit_info(fit, r))
        name = ctx.save(fig, "fit_%s_sr%d" % (base, i))
        section.add(Figure(name, "%s, signal region %d (%s-%s GeV, shaded): sideband fit (solid: fitted bins; "
                                 "dashed: extrapolated into the signal region and bins outside the fit range), "
                                 "band: fit uncertainty; below: pulls (n - mu)/sqrt(mu), the signal-region bins "
                                 "in dark red." % (os.path.basename(path), i, fmt_g(sr[0] if sr else None, 5),
                                                   fmt_g(sr[1] if sr else None, 5))))
    if len(regions) > len(drawn):
        section.add(Text("%s: %d of %d signal regions drawn (the most significant); the table lists all." %
                         (os.path.basename(path), len(drawn), len(regions)), cls="note"))
    if len(regions) >= 3:
        fig, ax = plt.subplots(figsize=(8, 6.5))
        fig.subplots_adjust(left=0.14, right=0.96, top=0.97, bottom=0.13)
        c = np.array([0.5 * (finite_or_none(r.get("lo_GeV")) + finite_or_none(r.get("hi_GeV"))) for r in regions])
        z = np.array([finite_or_none(r.get("z_local")) or 0.0 for r in regions])
        zs = np.array([finite_or_none(r.get("z_local_stat")) or 0.0 for r in regions])
        acc = np.array([bool((r.get("fit") or {}).get("accepted", True)) for r in regions])
        o = np.argsort(c)
        ax.plot(c[o], z[o], color="#D62728", linewidth=2, marker="o", markersize=5,
                label=r"$Z_{\mathrm{local}}$ (with fit uncertainty)")
        ax.plot(c[o], zs[o], color="#1F77B4", linewidth=1.5, linestyle="--", marker="s", markersize=4,
                label=r"$Z_{\mathrm{local}}$ (statistical only)")
        if (~acc).any():
            ax.plot(c[~acc], z[~acc], linestyle="none", marker="x", color="black", markersize=9,
                    label="fit not accepted")
        ax.set_xlabel("Signal-region centre, " + ctx_mass_label(ctx))
        ax.set_ylabel(r"Local significance $Z$")
        g = doc.get("global")
        extra = []
        if isinstance(g, dict) and finite_or_none(g.get("z")) is not None:
            extra.append(r"Global: $Z$ %s %.2f (%d toys)" % (">" if g.get("z_is_lower_bound") else "=",
                                                             float(g["z"]), int(g.get("toys", 0))))
        texts = ctx.label(ax, extra, lumi=ctx.spectrum_lumi)
        style.arrange_legend(ax, texts, 0.0, max(float(max(z.max(), zs.max())), 1.0))
        name = ctx.save(fig, "fit_%s_local_z" % base)
        section.add(Figure(name, "%s: local significance of every signal region vs its centre." %
                           os.path.basename(path)))
    fit_tables(section, doc, path)


def fit_tables(section, doc, path):
    rows = []
    for i, r in enumerate(doc.get("signal_regions") or []):
        fit = r.get("fit") or {}
        rng = fit.get("fit_range_GeV") or [None, None]
        rows.append([num(i, lambda x: "%d" % x), Cell("%s-%s" % (fmt_g(finite_or_none(r.get("lo_GeV")), 6),
                                                              fmt_g(finite_or_none(r.get("hi_GeV")), 6))),
                     Cell(str(fit.get("function", "–"))), Cell("yes" if fit.get("accepted", True) else "no *",
                                                               cls=None if fit.get("accepted", True) else "warn"),
                     Cell("%s-%s" % (fmt_g(finite_or_none(rng[0]), 6), fmt_g(finite_or_none(rng[1]), 6))),
                     Cell("%.1f/%s" % (finite_or_none(fit.get("chi2")) or float("nan"), fit.get("ndf", "?"))),
                     num(finite_or_none(fit.get("pvalue")), lambda x: fmt_g(x, 3)),
                     num(finite_or_none(r.get("observed"))),
                     num(finite_or_none(r.get("expected")), error=finite_or_none(r.get("expected_error"))),
                     num(finite_or_none(r.get("pvalue_local")), lambda x: fmt_g(x, 3)),
                     num(finite_or_none(r.get("z_local")), lambda x: fmt_fixed(x, 2)),
                     num(finite_or_none(r.get("z_local_stat")), lambda x: fmt_fixed(x, 2))])
    g = doc.get("global")
    note = "Maximum local Z = %s." % fmt_fixed(finite_or_none(doc.get("max_local_z")), 2)
    if isinstance(g, dict):
        note += " Global p-value %s ± %s from %s toys (%s failed), Z global %s %s." % (
            fmt_g(finite_or_none(g.get("pvalue")), 3), fmt_g(finite_or_none(g.get("pvalue_error")), 2),
            g.get("toys", "?"), g.get("failed", "?"), ">" if g.get("z_is_lower_bound") else "=",
            fmt_fixed(finite_or_none(g.get("z")), 2))
    bo = doc.get("background_only") or {}
    if bo:
        note += " Background-only fit: %s, chi2/ndf = %s/%s, p = %s." % (
            bo.get("function", "?"), fmt_fixed(finite_or_none(bo.get("chi2")), 1), bo.get("ndf", "?"),
            fmt_g(finite_or_none(bo.get("pvalue")), 3))
    if rows:
        section.add(Table("fit-%s" % os.path.splitext(os.path.basename(path))[0],
                          "Sideband fits of %s: signal regions" % os.path.basename(path),
                          ["#", "SR [GeV]", "function", "accepted", "fit range [GeV]", "χ²/ndf", "p(χ²)",
                           "observed", "expected", "p local", "Z local", "Z stat."], rows, note=note))
    else:
        section.add(Text(note, cls="note"))
    att = []
    for i, r in enumerate(doc.get("signal_regions") or []):
        for a in (r.get("fit") or {}).get("attempts") or []:
            rng = a.get("range_GeV") or a.get("fit_range_GeV") or a.get("range") or [None, None]
            att.append([num(i, lambda x: "%d" % x), Cell(str(a.get("function", "?"))),
                        Cell("%s-%s" % (fmt_g(finite_or_none(rng[0]) if len(rng) > 0 else None, 6),
                                        fmt_g(finite_or_none(rng[1]) if len(rng) > 1 else None, 6))),
                        Cell("yes" if a.get("converged") else "no"),
                        num(finite_or_none(a.get("chi2")), lambda x: fmt_fixed(x, 1)), Cell(str(a.get("ndf", "–"))),
                        num(finite_or_none(a.get("pvalue")), lambda x: fmt_g(x, 3)), Cell(str(a.get("message", "")))])
    if att:
        section.add(Table("fit-attempts-%s" % os.path.splitext(os.path.basename(path))[0],
                          "Every fit attempt of %s" % os.path.basename(path),
                          ["SR", "function", "range [GeV]", "converged", "χ²", "ndf", "p", "message"], att,
                          collapsed=True))


# --------------------------------------------------------------------------------------
# Bump hunt


def _best(doc):
    s = doc.get("summary") or {}
    b = s.get("best") or {}
    regions = doc["regions"]
    ri, ev = b.get("region"), finite_or_none(b.get("efficiency"))
    if isinstance(ri, int):
        # 'region' is the position in regions[] or a region's 'index'.
        match = [r for r in regions if r.get("index") == ri]
        reg = match[0] if match else (regions[ri] if 0 <= ri < len(regions) else None)
        if reg is not None:
            effs = reg["efficiencies"]
            e = [x for x in effs if ev is not None and abs(float(x["efficiency"]) - ev) <= 1e-9 * max(ev, 1e-12)]
            if e:
                return reg, e[0]
    best = None
    for r in regions:
        for e in r["efficiencies"]:
            z = finite_or_none(e.get("z"))
            if z is not None and (best is None or z > best[2]):
                best = (r, e, z)
    return (best[0], best[1]) if best else (None, None)


def eff_text(e):
    return "%g%%" % (100 * float(e)) if float(e) < 1 else "100% (no cut)"


def bumphunt_section(ctx, section, doc, path):
    edges = np.asarray(doc["mass_bins"], dtype=float)
    regions = doc["regions"]
    effs = doc.get("efficiencies") or sorted({float(e["efficiency"]) for r in regions for e in r["efficiencies"]},
                                             reverse=True)
    effs = [float(e) for e in effs]
    if not regions:
        section.add(Text("%s: no signal regions." % path, cls="warning"))
        return
    # 1. Z vs signal-region centre, one line per efficiency.
    fig, ax = plt.subplots(figsize=(8, 6.5))
    fig.subplots_adjust(left=0.14, right=0.96, top=0.97, bottom=0.13)
    cmap = plt.get_cmap("viridis")
    zmax = 0.0
    for k, eff in enumerate(effs):
        xs, zs = [], []
        for r in regions:
            for e in r["efficiencies"]:
                if abs(float(e["efficiency"]) - eff) <= 1e-9 * max(eff, 1e-12):
                    z = finite_or_none(e.get("z"))
                    xs.append(0.5 * (float(r["signal_region"][0]) + float(r["signal_region"][1])))
                    zs.append(z if z is not None else np.nan)
        if not xs:
            continue
        o = np.argsort(xs)
        col = cmap(k / max(len(effs) - 1, 1) * 0.9)
        ax.plot(np.array(xs)[o], np.array(zs)[o], color=col, marker="o", markersize=5, linewidth=2,
                label=r"$\varepsilon$ = " + eff_text(eff))
        if np.isfinite(zs).any():
            zmax = max(zmax, float(np.nanmax(zs)))
    for zref in (3.0, 5.0):
        if zmax * 1.05 > zref:
            ax.axhline(zref, color="grey", linestyle=":", linewidth=1.2)
            ax.text(0.985, zref, r"%d$\sigma$" % zref, transform=ax.get_yaxis_transform(), ha="right", va="bottom",
                    fontsize=12, color="dimgrey")
    ax.set_xlabel("Signal-region centre, " + ctx_mass_label(ctx))
    ax.set_ylabel(r"Local significance $Z$")
    ax.set_xlim(edges[0], edges[-1])
    texts = ctx.label(ax, ["CWoLa bump hunt"], lumi=ctx.spectrum_lumi)
    style.arrange_legend(ax, texts, 0.0, max(zmax, 1.0), ncol=2 if len(effs) > 4 else 1, columnspacing=1.0)
    name = ctx.save(fig, "bumphunt_significance")
    section.add(Figure(name, "%s: local significance of the observed count in each signal region after selecting "
                             "the fraction ε of events with the highest classifier output, one line per ε." %
                       os.path.basename(path)))
    # 2. The best signal region: selected spectrum with its fit.
    reg, e = _best(doc)
    if reg is not None and e is not None and e.get("selected_counts") is not None:
        fit = e.get("fit") or {}
        info = []
        if finite_or_none(fit.get("chi2")) is not None and fit.get("ndf"):
            info.append(r"%s: $\chi^2$/ndf = %.1f/%d, p = %.2g" % (fit.get("function", "?"), float(fit["chi2"]),
                                                                   int(fit["ndf"]),
                                                                   finite_or_none(fit.get("p_value")) or float("nan")))
        info.append(r"SR: obs. %s, pred. %s $\pm$ %s, $Z$ = %s" % (
            fmt_yield(finite_or_none(e.get("observed"))), fmt_yield(finite_or_none(e.get("predicted"))),
            fmt_yield(finite_or_none(e.get("predicted_error"))), fmt_fixed(finite_or_none(e.get("z")), 2)))
        sel = np.asarray(e["selected_counts"], dtype=float)
        fc = np.asarray(e["fit_counts"], dtype=float) if e.get("fit_counts") is not None else None
        sb = [tuple(map(float, s)) for s in (reg.get("sidebands") or [])]
        centres = 0.5 * (edges[1:] + edges[:-1])
        srr = tuple(map(float, reg["signal_region"]))
        # The dijet background fits every bin outside the SR; the linear one the
        # sidebands only.
        if str(doc.get("background", "dijet")) == "linear" and sb:
            in_fit = np.zeros(len(sel), dtype=bool)
            for a, b in sb:
                in_fit |= (centres > a) & (centres < b)
        else:
            in_fit = ~((centres > srr[0]) & (centres < srr[1]))
        if fc is not None:
            in_fit &= np.isfinite(fc)
        fig = spectrum_plot(ctx, edges, sel, fc, None, None, in_fit, sr=srr, sidebands=sb,
                            extra=[r"$\varepsilon$ = " + eff_text(e["efficiency"])], info=info,
                            data_label="Selected events", fit_label="Sideband fit", hatch_unfitted=False)
        name = ctx.save(fig, "bumphunt_best_fit")
        mode = "sidebands only, linear" if str(doc.get("background", "dijet")) == "linear" else \
            "every bin outside it, %s" % fit.get("function", "dijet function")
        section.add(Figure(name, "Most significant signal region (%s-%s GeV) at ε = %s: the selected spectrum and "
                                 "the background fitted outside the signal region (%s), extrapolated under it "
                                 "(dashed); red band: signal region, blue: the CWoLa sidebands; below: pulls." %
                           (fmt_g(srr[0], 5), fmt_g(srr[1], 5), eff_text(e["efficiency"]), mode)))
        # 3. All efficiencies in that signal region.
        fig, ax = plt.subplots(figsize=(8, 6.5))
        fig.subplots_adjust(left=0.14, right=0.96, top=0.97, bottom=0.13)
        ax.axvspan(srr[0], srr[1], color="#D55E00", alpha=0.18, linewidth=0, label="Signal region")
        for k, (a, b) in enumerate(sb):
            ax.axvspan(a, b, color="#56B4E9", alpha=0.12, linewidth=0, label="Sidebands (CWoLa)" if k == 0 else None)
        pos = []
        ordered = sorted(reg["efficiencies"], key=lambda x: -float(x["efficiency"]))
        for k, x in enumerate(ordered):
            if x.get("selected_counts") is None:
                continue
            col = cmap(effs.index(float(x["efficiency"])) / max(len(effs) - 1, 1) * 0.9) \
                if float(x["efficiency"]) in effs else "black"
            cts = np.asarray(x["selected_counts"], dtype=float)
            ax.stairs(cts, edges, baseline=None, color=col, linewidth=1.8, label=r"$\varepsilon$ = " + eff_text(x["efficiency"]))
            pos.append(cts[cts > 0])
            if x.get("fit_counts") is not None:
                f = np.asarray(x["fit_counts"], dtype=float)
                ax.plot(centres, np.where(f > 0, f, np.nan), color=col, linestyle="--", linewidth=1.2)
        ax.set_yscale("log")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel(ctx_mass_label(ctx))
        w = np.diff(edges)
        ax.set_ylabel("Events / %g GeV" % w[0] if np.allclose(w, w[0]) else "Events / bin")
        allp = np.concatenate(pos) if pos else np.array([1.0])
        texts = ctx.label(ax, ["dashed: sideband fits"], lumi=ctx.spectrum_lumi)
        style.arrange_legend(ax, texts, max(float(allp.min()) * 0.3, 0.1), float(allp.max()), log=True,
                             ncol=2 if len(ordered) > 4 else 1, columnspacing=1.0)
        name = ctx.save(fig, "bumphunt_best_region_all_efficiencies")
        section.add(Figure(name, "Signal region %s-%s GeV: the spectrum selected at every efficiency (solid) and "
                                 "the sideband fits (dashed); shaded: signal region (red) and sidebands (blue)." %
                           (fmt_g(srr[0], 5), fmt_g(srr[1], 5))))
    bumphunt_tables(section, doc, effs)


def bumphunt_tables(section, doc, effs):
    regions = doc["regions"]
    header = ["SR", "[GeV]"] + ["Z at ε = %s" % eff_text(e) for e in effs]
    rows = []
    for i, r in enumerate(regions):
        byeff = {float(e["efficiency"]): e for e in r["efficiencies"]}
        cells = [num(r.get("index", i), lambda x: "%d" % x),
                 Cell("%s-%s" % (fmt_g(float(r["signal_region"][0]), 6), fmt_g(float(r["signal_region"][1]), 6)))]
        for e in effs:
            x = byeff.get(e)
            cells.append(num(finite_or_none(x.get("z")) if x else None, lambda v: fmt_fixed(v, 2)))
        rows.append(cells)
    glob = {}
    for g in doc.get("global") or []:
        if isinstance(g, dict) and finite_or_none(g.get("efficiency")) is not None:
            glob[float(g["efficiency"])] = g
    if glob:
        cells = [Cell("global"), Cell("Z (toys)")]
        for e in effs:
            g = glob.get(e) or {}
            bound = g.get("z_is_lower_bound") or g.get("at_or_above") == 0  # p = 1/toys: a bound
            cells.append(num(finite_or_none(g.get("z")), (lambda v: "> " + fmt_fixed(v, 2)) if bound else
                             (lambda v: fmt_fixed(v, 2)),
                             title="p = %s from %s toys (%s failed)" % (g.get("p_value"), g.get("toys"),
                                                                        g.get("failed"))))
        rows.append({"cls": "total", "cells": cells})
    s = doc.get("summary") or {}
    b = s.get("best") or {}
    note = "Maximum Z = %s%s." % (fmt_fixed(finite_or_none(s.get("max_z")), 2),
                                  (" in signal region %s at ε = %s" % (b.get("region"), eff_text(b["efficiency"])))
                                  if b.get("efficiency") is not None else "")
    section.add(Table("bumphunt-z", "Bump hunt: local significance per signal region and efficiency", header, rows,
                      note=note))
    long = []
    for i, r in enumerate(regions):
        for e in r["efficiencies"]:
            fit = e.get("fit") or {}
            long.append([num(r.get("index", i), lambda x: "%d" % x),
                         Cell("%s-%s" % (fmt_g(float(r["signal_region"][0]), 6), fmt_g(float(r["signal_region"][1]),
                                                                                       6))),
                         num(float(e["efficiency"]), lambda v: fmt_g(v, 3)),
                         num(finite_or_none(e.get("observed"))),
                         num(finite_or_none(e.get("predicted")), error=finite_or_none(e.get("predicted_error"))),
                         num(finite_or_none(e.get("z")), lambda v: fmt_fixed(v, 2)),
                         Cell(str(fit.get("function", "–"))),
                         Cell("%s/%s" % (fmt_fixed(finite_or_none(fit.get("chi2")), 1), fit.get("ndf", "–"))),
                         num(finite_or_none(fit.get("p_value")), lambda v: fmt_g(v, 3)),
                         Cell(str(e.get("message") or "").split("\n")[0][:120],
                              title=str(e.get("message") or "") or None)])
    section.add(Table("bumphunt-summary", "Bump hunt: every signal region and efficiency",
                      ["SR", "[GeV]", "efficiency", "observed", "predicted", "Z", "fit", "χ²/ndf", "p(χ²)", "message"],
                      long,
                      collapsed=False))


# --------------------------------------------------------------------------------------
# Peak fits (bsmhunt fit --peak)

PEAK_MASS_LABEL = "Mass [GeV]"
PEAK_SHAPES = {"gauss": "Gaussian", "crystalball": "Crystal Ball", "bw": "Breit-Wigner", "voigt": "Voigtian"}


def peak_mass_label(ctx):
    return ctx.mass_label or PEAK_MASS_LABEL


def fmt_err(x, err, sig=2, pm=" ± "):
    """'x ± err' with the error to `sig` significant digits and the value to the same
    decimal place ('x' alone without a positive error)."""
    if x is None or not math.isfinite(x):
        return "–"
    if err is None or not math.isfinite(err) or err <= 0:
        return fmt_g(x, 6)
    d = min(max(0, sig - 1 - int(math.floor(math.log10(err)))), 12)
    return "%.*f%s%.*f" % (d, x, pm, d, err)


def peak_width_symbol(peak, tex=True):
    gamma = "gamma" in str(peak.get("width_is", "")).lower()
    if tex:
        return r"$\Gamma$" if gamma else r"$\sigma$"
    return "Γ" if gamma else "σ"


def peak_model_text(peak):
    return "%s on %s" % (PEAK_SHAPES.get(peak["shape"], peak["shape"]), peak["background"])


def _usable(fit):
    e = fit["_expected"]
    return bool(np.isfinite(e).any() and (np.nan_to_num(e) > 0).any())


def peak_info(doc):
    """The text box of the peak-fit plot."""
    peak, sb, bo = doc["peak"], doc["signal_plus_background"], doc["background_only"]
    pm = r" $\pm$ "
    lines = ["Fit: " + peak_model_text(peak)]
    if not peak["converged"] or peak["mass_GeV"] is None:
        lines.append("Signal + background fit did not converge")
    else:
        lines.append(r"$m$ = %s GeV" % fmt_err(peak["mass_GeV"], peak["mass_error_GeV"], pm=pm))
        lines.append(r"%s = %s GeV" % (peak_width_symbol(peak), fmt_err(peak["width_GeV"], peak["width_error_GeV"],
                                                                        pm=pm)))
        if peak.get("resolution_GeV") is not None:
            lines[-1] += r", $\sigma_{res}$ = %s GeV" % fmt_g(peak["resolution_GeV"], 3)
        lines.append(r"$N_{sig}$ = %s" % fmt_err(peak["yield"], peak["yield_error"], pm=pm))
        z = peak["local"]["z"]
        if z is not None:
            lines.append(r"$Z_{local}$ = %.2f" % z)
    if sb["chi2"] is not None:
        t = r"$\chi^2$/ndf = %.1f/%d" % (sb["chi2"], sb["ndf"])
        if bo["chi2"] is not None:
            t += " (B only: %.1f/%d)" % (bo["chi2"], bo["ndf"])
        lines.append(t)
    if peak.get("truth_mass_GeV") is not None:
        t = r"$m_{gen}$ = %s GeV" % fmt_g(peak["truth_mass_GeV"], 6)
        if peak.get("mass_pull") is not None:
            t += ", pull = %+.2f" % peak["mass_pull"]
        lines.append(t)
    return lines


def place_text_box(ax, lines, span_lo, span_hi, tops, log, avoid, gap=0.03, fontsize=13):
    """Draws the text box top right or top left, under whatever of `avoid` (the
    experiment label, the legend) lies above it, where it needs the least extra
    headroom, and raises the y range until no content reaches it. Content: the
    x intervals [span_lo, span_hi] reaching up to `tops` (data coordinates)."""
    fig = ax.figure
    r = fig.canvas.get_renderer()  # extents without drawing: see style.arrange_legend
    inv = ax.transAxes.inverted()

    def box(artist):
        return artist.get_window_extent(r).transformed(inv)

    others = [box(a) for a in avoid if not hasattr(a, "get_text") or a.get_text()]
    lo, top = ax.get_ylim()
    x0, x1 = ax.get_xlim()
    best = None
    for x, ha in ((0.96, "right"), (0.04, "left")):
        t = ax.text(x, 0.97, "\n".join(lines), transform=ax.transAxes, fontsize=fontsize, va="top", ha=ha,
                    multialignment="left", linespacing=1.35, zorder=6,
                    bbox=dict(facecolor="white", edgecolor="none", alpha=0.85, pad=2))
        b = box(t)
        above = [o.y0 for o in others if o.x0 < b.x1 and b.x0 < o.x1]
        y = min(above + [0.97 + 0.0]) - (0.015 if above else 0.0)
        t.set_y(y)
        b = box(t)
        room = b.y0 - gap
        d0, d1 = x0 + b.x0 * (x1 - x0), x0 + b.x1 * (x1 - x0)
        inside = (np.asarray(span_hi) > d0) & (np.asarray(span_lo) < d1) & np.isfinite(tops)
        need = top
        if inside.any():
            v = float(np.max(np.asarray(tops)[inside]))
            if room <= 0.2:
                need = np.inf
            elif log:
                if v > lo > 0:
                    need = max(top, 10 ** (np.log10(lo) + (np.log10(v) - np.log10(lo)) / room))
            else:
                need = max(top, lo + (v - lo) / room)
        if best is None or need < best[0]:
            if best is not None:
                best[1].remove()
            best = (need, t)
        else:
            t.remove()
    if np.isfinite(best[0]) and best[0] > top:
        ax.set_ylim(lo, best[0])
    return best[1]


def _fraction(ax, y, log):
    """The axes fraction of height y (data coordinates), within [0, 1]."""
    lo, hi = ax.get_ylim()
    if log:
        lo, hi, y = np.log10(lo), np.log10(hi), np.log10(max(y, 1e-300))
    return float(min(max((y - lo) / (hi - lo), 0.0), 1.0))


def peak_spectrum_plot(ctx, doc):
    """The spectrum over the fit range (points, sqrt(n) errors: the counts may be
    sums of weights), the signal + background fit (solid), the background-only fit
    (dashed), the pulls against the signal + background fit below and the fit
    summary in a box."""
    peak, sb, bo = doc["peak"], doc["signal_plus_background"], doc["background_only"]
    a, b = doc["_first"], doc["_end"]
    edges = doc["_edges"][a:b + 1]
    n = doc["_counts"][a:b]
    uniform, width = _per_width(edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(8, 8), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
    fig.subplots_adjust(left=0.14, right=0.96, top=0.97, bottom=0.1)
    ok = np.isfinite(n)
    weighted = bool(np.any(np.abs(n[ok] - np.round(n[ok])) > 1e-9))
    y, err = n / width, np.sqrt(np.maximum(n, 0)) / width
    eb = ax.errorbar(centres[ok], y[ok], yerr=err[ok], fmt="o", color="black", markersize=4.5, elinewidth=1.2,
                     capsize=0, zorder=5, label="Weighted events" if weighted else "Data")
    handles = [eb]
    tops = [np.where(ok, y + err, np.nan)]
    lows = [y[ok & (y > 0)]]
    fits = []
    if _usable(sb):
        fits.append((sb, "#D62728", "-", "Signal + background fit"))
    if _usable(bo):
        fits.append((bo, "#1F77B4", "--", "Background-only fit"))
    for fit, colour, ls, label in fits:
        mu = fit["_expected"] / width
        line, = ax.plot(centres, np.where(mu > 0, mu, np.nan), color=colour, linestyle=ls, linewidth=2.0, zorder=4,
                        label=label + ("" if fit["converged"] else " (not converged)"))
        handles.append(line)
        tops.append(mu)
        lows.append(mu[np.isfinite(mu) & (mu > 0)])
    truth = peak.get("truth_mass_GeV")
    truth = truth if truth is not None and edges[0] < truth < edges[-1] else None
    if truth is not None:
        rax.axvline(truth, color="#555555", linestyle=":", linewidth=1.5, zorder=1)
        handles.append(Line2D([], [], color="#555555", linestyle=":", linewidth=1.5, label="Generated mass"))
    allpos = np.concatenate(lows) if lows else np.zeros(0)
    hi = float(np.nanmax(np.concatenate(tops))) if np.isfinite(np.concatenate(tops)).any() else 1.0
    log = bool(allpos.size and allpos.min() > 0 and hi / allpos.min() > 50)
    if log:
        ax.set_yscale("log")
        lo = float(allpos.min()) * 0.3
    else:
        lo = 0.0
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylabel(("Events / %g GeV" % (edges[1] - edges[0])) if uniform else "Events / GeV")
    texts = ctx.label(ax, [], lumi=ctx.spectrum_lumi)
    leg = style.arrange_legend(ax, texts, lo, hi, log=log, handles=handles)
    span_lo, span_hi = np.tile(edges[:-1], len(tops)), np.tile(edges[1:], len(tops))
    place_text_box(ax, peak_info(doc), span_lo, span_hi, np.concatenate(tops), log, texts + [leg])
    if truth is not None:  # up to the content, clear of the label and legend
        ax.axvline(truth, ymax=_fraction(ax, hi * 1.05, log), color="#555555", linestyle=":", linewidth=1.5,
                   zorder=1)
    ref = sb if _usable(sb) else (bo if _usable(bo) else None)
    if ref is not None:
        nu = ref["_expected"]
        good = ok & np.isfinite(nu) & (nu > 0)
        pulls = np.where(good, (n - nu) / np.sqrt(np.where(good, nu, 1.0)), 0.0)
        sub = r"s+b" if ref is sb else "b"
        residual_panel(rax, edges, pulls, ylabel=r"$(n-\nu_{%s})/\sqrt{\nu_{%s}}$" % (sub, sub))
    rax.set_xlabel(peak_mass_label(ctx))
    fig.align_ylabels([ax, rax])
    return fig


def global_texts(g):
    """The global significance from the toys and the Gross-Vitells estimate, as lines."""
    out = []
    if not g:
        return out
    bound = bool(g.get("pvalue_is_upper_bound"))
    if g.get("z") is not None:
        out.append(r"Global $Z$ %s %.2f ($p$ %s %s, %d toys)" % (">" if bound else "=", g["z"],
                                                                "<" if bound else "=", fmt_g(g["pvalue"], 2),
                                                                g["toys"]))
    if g.get("z_gross_vitells") is not None:
        out.append(r"Gross-Vitells: $Z_{global}$ = %.2f" % g["z_gross_vitells"])
    return out


def peak_scan_plot(ctx, doc):
    """Local Z of the fixed-width scan vs mass, the best point marked, the global
    significance in the label."""
    peak, scan = doc["peak"], doc["scan"]
    m, z = scan["_mass"], scan["_z"]
    edges = doc["_edges"][doc["_first"]:doc["_end"] + 1]
    fig, ax = plt.subplots(figsize=(8, 6.5))
    fig.subplots_adjust(left=0.14, right=0.96, top=0.97, bottom=0.13)
    ax.axhline(0.0, color="black", linewidth=0.8)
    w = scan.get("width_GeV")
    handles = [ax.plot(m, z, color="#D62728", linewidth=2, marker="o", markersize=4.5,
                       label=r"Local $Z$%s" % ((r", fixed width %s GeV" % fmt_g(w, 3)) if w else ""))[0]]
    best = scan.get("best_mass_GeV")
    if best is not None and len(m):
        i = int(np.argmin(np.abs(m - best)))
        zb = z[i] if np.isfinite(z[i]) else scan.get("max_z")
        if zb is not None and np.isfinite(zb):
            handles.append(ax.plot([best], [zb], linestyle="none", marker="*", markersize=17, color="#E69F00",
                                   markeredgecolor="black", zorder=6,
                                   label=r"Best: %s GeV, $Z$ = %.2f" % (fmt_g(best, 5), zb))[0])
    truth = peak.get("truth_mass_GeV")
    truth = truth if truth is not None and edges[0] < truth < edges[-1] else None
    if truth is not None:
        handles.append(Line2D([], [], color="#555555", linestyle=":", linewidth=1.5, label="Generated mass"))
    zs = z[np.isfinite(z)]
    zmax = float(zs.max()) if zs.size else 1.0
    zmin = min(float(zs.min()) if zs.size else 0.0, 0.0)
    for zref in (3.0, 5.0):
        if zmax * 1.05 > zref:
            ax.axhline(zref, color="grey", linestyle=":", linewidth=1.2)
            ax.text(0.985, zref, r"%d$\sigma$" % zref, transform=ax.get_yaxis_transform(), ha="right", va="bottom",
                    fontsize=12, color="dimgrey")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(peak_mass_label(ctx))
    ax.set_ylabel(r"Local significance $Z$")
    texts = ctx.label(ax, global_texts(doc.get("global")), lumi=ctx.spectrum_lumi)
    span = max(zmax, 1.0) - zmin
    style.arrange_legend(ax, texts, zmin - 0.05 * span, max(zmax, 1.0), handles=handles)
    if truth is not None:
        ax.axvline(truth, ymax=_fraction(ax, max(zmax, 1.0) + 0.05 * span, False), color="#555555", linestyle=":",
                   linewidth=1.5, zorder=1)
    return fig


def peak_section(ctx, section, doc, path):
    """The peak-fit plots of one file; returns its row of the summary table."""
    base = os.path.splitext(os.path.basename(path))[0]
    name_ = os.path.basename(path)
    peak, scan, g = doc["peak"], doc.get("scan"), doc.get("global")
    rng = peak["fit_range_GeV"]
    fig = peak_spectrum_plot(ctx, doc)
    name = ctx.save(fig, "fit_%s_peak" % base)
    n = doc["_counts"][doc["_first"]:doc["_end"]]
    sb = doc["signal_plus_background"]
    if _usable(sb):
        fits = "the signal + background fit (solid) and the background-only fit (dashed); below: pulls " \
               "(n - nu)/sqrt(nu) against the signal + background fit."
    else:
        fits = "the background-only fit (dashed; the signal + background fit did not converge: %s); below: pulls " \
               "(n - nu)/sqrt(nu) against the background-only fit." % (sb.get("message") or "no message")
    section.add(Figure(name, "%s: peak fit (%s) in %s-%s GeV (%s events): the spectrum (error bars sqrt(n)), %s" %
                       (name_, peak_model_text(peak), fmt_g(rng[0], 6), fmt_g(rng[1], 6),
                        fmt_yield(float(np.nansum(n))), fits)))
    if scan is not None and len(scan["_mass"]):
        fig = peak_scan_plot(ctx, doc)
        name = ctx.save(fig, "fit_%s_scan" % base)
        glob = ""
        if g:
            glob = (" Global significance from %d background-only toys (%d failed), each scanned the same way: "
                    "p %s %s, Z %s %s; Gross-Vitells estimate Z = %s." %
                    (g["toys"], g["failed"], "<" if g["pvalue_is_upper_bound"] else "=", fmt_g(g["pvalue"], 3),
                     ">" if g["pvalue_is_upper_bound"] else "=", fmt_fixed(g["z"], 2),
                     fmt_fixed(g.get("z_gross_vitells"), 2)))
        section.add(Figure(name, "%s: local significance of a peak of fixed width %s GeV moved across the fit range "
                                 "in steps of %s GeV; star: the most significant point.%s" %
                           (name_, fmt_g(scan.get("width_GeV"), 3), fmt_g(scan.get("step_GeV"), 3), glob)))
    else:
        section.add(Text("%s: no mass scan in the file (so no global significance)." % name_, cls="note"))
    return peak_row(doc, path)


def peak_row(doc, path):
    peak, sb, g = doc["peak"], doc["signal_plus_background"], doc.get("global") or {}
    conv = bool(peak["converged"])
    rng = peak["fit_range_GeV"]
    bound = bool(g.get("pvalue_is_upper_bound"))
    gtitle = ("%d toys, %d failed, %d at or above the observed largest Z" %
              (g["toys"], g["failed"], g["at_or_above"]) if g else None)

    def pm(key, err_key, suffix=""):
        x = peak[key]
        return Cell(fmt_err(x, peak[err_key]) + (suffix if x is not None else ""), x, numeric=True)

    gv = g.get("z_gross_vitells")
    return [Cell(os.path.basename(path), title=path), Cell(peak_model_text(peak)),
            Cell("%s-%s" % (fmt_g(rng[0], 6), fmt_g(rng[1], 6))),
            Cell("yes" if conv else "no *", cls=None if conv else "warn",
                 title=None if conv else sb.get("message") or None),
            pm("mass_GeV", "mass_error_GeV"),
            pm("width_GeV", "width_error_GeV", " (%s)" % peak_width_symbol(peak, tex=False)),
            pm("yield", "yield_error"),
            Cell("%.1f/%d" % (sb["chi2"], sb["ndf"]) if sb["chi2"] is not None else "–"),
            num(peak["local"]["z"], lambda x: fmt_fixed(x, 2)),
            num(peak["local"]["pvalue"], lambda x: fmt_g(x, 3)),
            num(g.get("pvalue"), lambda x: ("< " if bound else "") + fmt_g(x, 3), title=gtitle),
            num(g.get("z"), lambda x: ("> " if bound else "") + fmt_fixed(x, 2), title=gtitle),
            num(gv, lambda x: fmt_fixed(x, 2),
                title=("p = %s" % fmt_g(g.get("pvalue_gross_vitells"), 3)) if gv is not None else None),
            num(peak.get("truth_mass_GeV"), lambda x: fmt_g(x, 6)),
            num(peak.get("mass_pull"), lambda x: "%+.2f" % x)]


PEAK_HEADER = ["file", "peak on background", "fit range [GeV]", "converged", "mass [GeV]", "width [GeV]", "yield",
               "χ²/ndf", "Z local", "p local", "p global", "Z global", "Z global (G-V)", "generated mass [GeV]",
               "mass pull"]


def peak_tables(section, peaks):
    """peaks: [(path, doc, row)]: the summary of every peak fit, then each file's
    fitted parameters (collapsed)."""
    if not peaks:
        return
    section.add(Table("peak-fits", "Peak fits", PEAK_HEADER, [row for _, _, row in peaks],
                      note="Yields: events over the fit range. Z local = sign(yield) sqrt(2 (nll_b - nll_s+b)). "
                           "p/Z global: fraction of background-only toys whose scan reaches the observed largest "
                           "local Z ('<'/'>': none did, p = 0.5/toys is an upper bound); G-V: Gross-Vitells "
                           "estimate from the toys' mean number of upcrossings of Z = 1. Mass pull = (fitted - "
                           "generated) / error. * the signal + background fit did not converge."))
    stems = [os.path.splitext(os.path.basename(p))[0] for p, _, _ in peaks]
    for i, (path, doc, _) in enumerate(peaks):
        sb, bo = doc["signal_plus_background"], doc["background_only"]
        byname = {}
        for which, fit in ((0, sb), (1, bo)):
            for name, v, e in fit["_parameters"]:
                byname.setdefault(name, [None, None])[which] = (v, e)
        if not byname:
            continue
        rows = []
        for name, (p_sb, p_bo) in byname.items():
            cells = [Cell(name)]
            for p in (p_sb, p_bo):
                if p is None or not np.isfinite(p[0]):
                    cells.append(num(None))
                else:
                    v, e = float(p[0]), (float(p[1]) if np.isfinite(p[1]) else None)
                    cells.append(Cell(fmt_err(v, e) + (" (fixed)" if e == 0 else ""), v, numeric=True))
            rows.append(cells)
        tag = stems[i] if stems.count(stems[i]) == 1 else "%s_%d" % (stems[i], i + 1)
        section.add(Table("peak-parameters-%s" % tag, "Fitted parameters of %s" % os.path.basename(path),
                          ["parameter", "signal + background", "background only"], rows, collapsed=True))
