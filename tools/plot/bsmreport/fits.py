"""Sideband fits (bsmhunt fit) and the bump hunt (bsmhunt bumphunt): spectra with the
fitted background, signal regions shaded, pull panels, significance summaries."""

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
