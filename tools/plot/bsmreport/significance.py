"""Expected significance (bsmhunt significance output): Z vs cut on the score for
selected signals, the best Z across the signal grid per theory against
cut-and-count, ROC curves per channel, classification metrics, tables."""

import fnmatch
import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from . import style
from .inputs import ReportError, finite_or_none, sig_h5_curve
from .page import Cell, Figure, Table, Text, fmt_fixed, fmt_g, fmt_yield, fmt_z, num
from .scores import roc_plot

METRIC_TEXT = {"asimov": r"Asimov $Z_{\mathrm{A}}$", "s_over_sqrt_b": r"$s/\sqrt{b}$", "ams": "AMS"}
CHANNEL_TEXT = {"ee": "$ee$ channel", "mumu": r"$\mu\mu$ channel", "emu": r"$e\mu$ channel"}
MASS_KEYS = ("m_zprime_GeV", "m_A_GeV", "m_chi_GeV")


def data_lumi_note(doc, ch):
    """' (at X fb^-1)' when the channel's data are at a luminosity other than the MC's."""
    d = ch.get("data") if isinstance(ch.get("data"), dict) else {}
    lumi, mc = finite_or_none(d.get("luminosity_ifb")), finite_or_none(doc.get("lumi_ifb"))
    return " (at %.3g fb^-1; the MC at %.3g)" % (lumi, mc) if lumi and mc and abs(lumi - mc) > 1e-9 * mc else ""

def metric_label(doc):
    m = METRIC_TEXT.get(str(doc.get("metric", "asimov")), str(doc.get("metric", "Z")))
    u = finite_or_none(doc.get("bkg_uncertainty"))
    if u:
        m += r" ($\sigma_b/b$ = %g%%)" % (100 * u)
    return "Expected significance " + m if "Z" in m or "AMS" in m else "Expected significance (%s)" % m


def signal_text(sig):
    p = sig.get("parameters") or {}
    if "m_zprime_GeV" in p:
        bits = [str(p[k]) for k in ("theory", "dark_sector") if k in p]
        t = (" ".join(bits) + ", " if bits else "") + "m(Z') = %g GeV" % float(p["m_zprime_GeV"])
        return t
    return sig["name"]


def cut_and_count_of(channel, sig):
    """The cut-and-count entry of a signal: its own 'cut_and_count' (as bsmhunt
    significance writes it) or the channel's cut_and_count.signals list."""
    own = sig.get("cut_and_count")
    if isinstance(own, dict):
        return own
    for x in ((channel.get("cut_and_count") or {}).get("signals") or []):
        if x.get("name") == sig.get("name"):
            return x
    return {}


def has_cut_and_count(channel):
    return any(finite_or_none(cut_and_count_of(channel, s).get("z")) is not None for s in channel.get("signals", []))


def has_unbiased(channel):
    """Whether the channel's signals carry the unbiased Z (significance --cut-folds)."""
    return any(finite_or_none((s.get("unbiased") or {}).get("z")) is not None for s in channel.get("signals", []))


def cut_and_count_text(doc, channel):
    return (channel.get("cut_and_count") or {}).get("cuts") or doc.get("cuts") or ""


def logit(p):
    p = np.clip(np.asarray(p, dtype=float), 1e-300, 1 - 1e-16)
    return np.log(p) - np.log1p(-p)


def scan_axis(doc, cut):
    """x values of a scan: the logit of the cut when bsmhunt significance binned in the
    logit (its /binned_edges, so cuts near 1 are spread out), else the cut itself."""
    bins = doc.get("bins") or {}
    f = doc.get("_h5")
    if bins.get("variable") == "logit" and f is not None and "binned_edges" in f:
        be = np.asarray(f["binned_edges"][()], dtype=float)
        if len(be) == len(cut):
            return be, True
    return np.asarray(cut, dtype=float), False


def z_of(sig):
    """The unbiased Z (cut chosen on other folds, significance --cut-folds) when the file
    has it, else the best Z over all counted events."""
    unbiased = sig.get("unbiased") or {}
    if finite_or_none(unbiased.get("z")) is not None:
        return finite_or_none(unbiased.get("z"))
    best = sig.get("best") or {}
    return finite_or_none(best.get("z"))


def against_cut_and_count(channel):
    """How the classifier does against the cut-and-count over a channel's signals: the
    signals where both Z are defined and positive, how many of them have the classifier's
    Z (z_of: the unbiased one where the file has it) at or above the cut-and-count's, and
    the median and smallest ratio (with the signal of the smallest). None if no signal
    has both."""
    ratios = []
    for s in channel.get("signals", []):
        z, zc = z_of(s), finite_or_none(cut_and_count_of(channel, s).get("z"))
        if z is not None and zc is not None and zc > 0:
            ratios.append((z / zc, s["name"]))
    if not ratios:
        return None
    r = np.array([x for x, _ in ratios])
    low = min(ratios)
    return {"n": len(ratios), "at_or_above": int(np.sum(r >= 1.0)), "median": float(np.median(r)),
            "smallest": low[0], "smallest_signal": low[1]}


def against_cut_and_count_text(channel):
    c = against_cut_and_count(channel)
    if c is None:
        return ""
    folds = has_unbiased(channel)
    return ("The classifier is at or above the cut-and-count for %d of %d signals (%.0f%%; Z %s, each signal at its "
            "own point where the network is parametrised); median Z / Z(c&c) %s, smallest %s (%s). " % (
                c["at_or_above"], c["n"], 100.0 * c["at_or_above"] / c["n"],
                "with the cut chosen on other folds of the events than it is evaluated on" if folds
                else "at the best cut over the counted events", fmt_fixed(c["median"], 2), fmt_fixed(c["smallest"], 2),
                c["smallest_signal"]))


def select_signals(ctx, channel, default_n=4):
    sigs = [s for s in channel.get("signals", []) if (finite_or_none(s.get("total")) or 0) > 0 or "total" not in s]
    if ctx.signal_patterns:
        out = []
        for p in ctx.signal_patterns:
            out += [s for s in sigs if fnmatch.fnmatchcase(s["name"], p) and s not in out]
        return out[:8]
    ranked = sorted([s for s in sigs if z_of(s) is not None], key=lambda s: -z_of(s))
    return ranked[:default_n]


def grid_parameter(signals):
    """The mass parameter that varies across the signals (x axis of the grid plot)."""
    for key in MASS_KEYS:
        vals = {(s.get("parameters") or {}).get(key) for s in signals}
        vals.discard(None)
        if len(vals) > 1:
            return key
    for s in signals:
        for k, v in (s.get("parameters") or {}).items():
            if k.endswith("_GeV") and isinstance(v, (int, float)):
                vals = {(x.get("parameters") or {}).get(k) for x in signals} - {None}
                if len(vals) > 1:
                    return k
    return None


def family(sig, xkey):
    """The signal's line in the grid plot: its non-mass parameters (final state aside)."""
    p = sig.get("parameters") or {}
    keys = [k for k in ("theory", "dark_sector") if k in p]
    if not keys:
        keys = [k for k, v in sorted(p.items()) if k not in (xkey, "final_state") and isinstance(v, str)]
    return " ".join(str(p[k]) for k in keys) or "signal"


def scan_plot(ctx, doc, channel, chosen):
    cname = channel["name"]
    curves = []
    for s in chosen:
        c = sig_h5_curve(doc, cname, "scan", s["name"], ("cut", "s", "b", "z"))
        if c is not None:
            curves.append((s, c))
    if not curves:
        return None
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(8, 8), sharex=True,
                                 gridspec_kw={"height_ratios": [2.2, 1], "hspace": 0.06})
    fig.subplots_adjust(left=0.14, right=0.96, top=0.97, bottom=0.1)
    zmax = 0.0
    lo, hi = np.inf, -np.inf
    is_logit = False
    for i, (s, c) in enumerate(curves):
        col = style.LINE_COLOURS[i % len(style.LINE_COLOURS)]
        x, is_logit = scan_axis(doc, c["cut"])
        z = np.where(np.isfinite(c["z"]), c["z"], np.nan)
        ax.plot(x, z, color=col, linewidth=2.2, label=signal_text(s))
        best = s.get("best") or {}
        bc, bz = finite_or_none(best.get("cut")), finite_or_none(best.get("z"))
        if bc is not None and bz is not None:
            ax.plot([float(logit(bc)) if is_logit else bc], [bz], marker="*", markersize=15, color=col,
                    markeredgecolor="black", linestyle="none")
            zmax = max(zmax, bz)
        if np.isfinite(z).any():
            zmax = max(zmax, float(np.nanmax(z)))
        bx.plot(x, np.where(c["s"] > 0, c["s"], np.nan), color=col, linewidth=1.8)
        # The interesting range: from where the cut starts to remove background to
        # the last cut that counts.
        moving = np.flatnonzero((c["b"] < c["b"][0] * (1 - 1e-3)) | (c["s"] < c["s"][0] * (1 - 1e-3)))
        fin = np.flatnonzero(np.isfinite(z))
        if moving.size and fin.size:
            lo = min(lo, x[max(moving[0] - 1, 0)])
            hi = max(hi, x[min(fin[-1] + 1, len(x) - 1)])
    b = curves[0][1]["b"]
    xb, _ = scan_axis(doc, curves[0][1]["cut"])
    bx.plot(xb, np.where(b > 0, b, np.nan), color="black", linewidth=2.2, label="Background $b$")
    bx.set_yscale("log")
    bx.set_ylabel("Yield")
    column = doc.get("score_column") or "score"
    bx.set_xlabel(r"Cut on logit(%s) = ln(p / (1 - p))" % column if is_logit else
                  "Cut on the %s (%s >= cut)" % (column, column))
    bx.legend(handles=[Line2D([], [], color="black", linewidth=2.2, label="background $b$"),
                       Line2D([], [], color="grey", linewidth=1.8, label="signal $s$ (colours as above)")],
              loc="center left", fontsize=12)
    ax.set_ylabel(metric_label(doc).replace("Expected significance ", "Expected "), fontsize=15)
    texts = ctx.label(ax, [CHANNEL_TEXT.get(cname, cname)])
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], marker="*", markersize=13, color="grey", markeredgecolor="black",
                          linestyle="none"))
    labels.append("best cut")
    style.arrange_legend(ax, texts, 0.0, zmax if zmax > 0 else 1.0, handles=handles, labels=labels)
    if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
        ax.set_xlim(lo, hi)
    else:
        xs = np.concatenate([scan_axis(doc, c["cut"])[0] for _, c in curves])
        ax.set_xlim(float(xs.min()), float(xs.max()))
    if is_logit:
        # The score itself on the top axis.
        top = ax.secondary_xaxis("top", functions=(lambda t: 1 / (1 + np.exp(-np.asarray(t, float))), logit))
        top.set_xlabel(column, fontsize=13, labelpad=2)
        a, b_ = ax.get_xlim()
        ticks = [p for p in (0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999)
                 if a <= float(logit(p)) <= b_]
        while len(ticks) > 5:
            ticks = ticks[::2]
        top.set_xticks(ticks)
        top.set_xticklabels(["%g" % p for p in ticks], fontsize=12)
        top.tick_params(which="minor", top=False)
        ax.tick_params(top=False, which="both")
    fig.align_ylabels([ax, bx])
    return fig


def grid_plot(ctx, doc, channel):
    sigs = [s for s in channel.get("signals", [])]
    xkey = grid_parameter(sigs)
    if xkey is None:
        return None, None
    fams = {}
    for s in sigs:
        x = (s.get("parameters") or {}).get(xkey)
        if x is None or (finite_or_none(s.get("total")) is not None and finite_or_none(s.get("total")) <= 0):
            continue
        fams.setdefault(family(s, xkey), []).append((float(x), z_of(s),
                                                     finite_or_none(cut_and_count_of(channel, s).get("z"))))
    if not fams:
        return None, None
    fig, ax = plt.subplots(figsize=(8, 6.5))
    fig.subplots_adjust(left=0.14, right=0.96, top=0.97, bottom=0.13)
    allz = []
    handles = []
    for i, (fam, pts) in enumerate(sorted(fams.items())):
        pts.sort()
        x = np.array([p[0] for p in pts])
        z = np.array([p[1] if p[1] is not None else np.nan for p in pts])
        zc = np.array([p[2] if p[2] is not None else np.nan for p in pts])
        col = style.LINE_COLOURS[i % len(style.LINE_COLOURS)]
        h, = ax.plot(x, np.where(z > 0, z, np.nan), color=col, linewidth=2.2, marker="o", markersize=5, label=fam)
        handles.append(h)
        if np.isfinite(zc).any():
            ax.plot(x, np.where(zc > 0, zc, np.nan), color=col, linewidth=1.8, linestyle="--", marker="o",
                    markersize=4, markerfacecolor="white")
        allz += [v for v in np.r_[z, zc] if np.isfinite(v) and v > 0]
    ax.set_yscale("log")
    lo, hi = (min(allz) * 0.5, max(allz) * 1.5) if allz else (0.1, 10.0)
    for zref, txt in ((2.0, "Z = 2"), (5.0, "Z = 5")):
        if not (lo < zref < hi):
            continue
        ax.axhline(zref, color="grey", linestyle=":", linewidth=1.3)
        ax.text(0.985, zref, txt, transform=ax.get_yaxis_transform(), ha="right", va="bottom", fontsize=12,
                color="dimgrey")
    xlabel = {"m_zprime_GeV": r"$m_{\mathit{Z'}}$ [GeV]", "m_A_GeV": r"$m_A$ [GeV]", "m_chi_GeV": r"$m_\chi$ [GeV]"}
    ax.set_xlabel(xlabel.get(xkey, xkey.replace("_GeV", "") + " [GeV]"))
    ax.set_ylabel(metric_label(doc).replace("Expected significance ", "Best expected "), fontsize=15)
    texts = ctx.label(ax, [CHANNEL_TEXT.get(channel["name"], channel["name"])])
    if has_cut_and_count(channel):
        line = "classifier, cut from other folds" if has_unbiased(channel) else "classifier, best cut"
        handles += [Line2D([], [], color="black", linewidth=2.2, marker="o", label=line),
                    Line2D([], [], color="black", linewidth=1.8, linestyle="--", marker="o", markerfacecolor="white",
                           label="cut-and-count")]
    style.arrange_legend(ax, texts, lo, hi, log=True, handles=handles, ncol=2 if len(handles) > 4 else 1,
                         columnspacing=1.0)
    return fig, xkey


def thresholds_plot(ctx, doc, channel):
    th = channel.get("thresholds") or []
    if len(th) < 2:
        return None
    t = np.array([finite_or_none(x.get("threshold")) for x in th], dtype=float)
    fig, ax = plt.subplots(figsize=(8, 6.5))
    fig.subplots_adjust(left=0.14, right=0.96, top=0.97, bottom=0.13)
    for i, key in enumerate(("precision", "recall", "f1", "accuracy")):
        v = np.array([finite_or_none(x.get(key)) if finite_or_none(x.get(key)) is not None else np.nan for x in th])
        if np.isfinite(v).any():
            ax.plot(t, v, color=style.LINE_COLOURS[i], linewidth=2.2, marker="o", markersize=4,
                    label={"f1": "F1"}.get(key, key.capitalize()))
    ax.set_xlabel("Threshold on the %s" % (doc.get("score_column") or "score"))
    ax.set_ylabel("Weighted metric")
    texts = ctx.label(ax, [CHANNEL_TEXT.get(channel["name"], channel["name"])])
    style.arrange_legend(ax, texts, 0.0, 1.0, ncol=2)
    ax.set_yticks(np.linspace(0, 1, 6))
    return fig


def significance_section(ctx, section, doc, path, tag=""):
    """tag: a prefix of the figure names and table ids when several files are shown."""
    chans = doc["channels"]
    pre = "significance_%s" % (tag + "_" if tag else "")
    if not chans:
        section.add(Text("%s: no channels." % path, cls="warning"))
        return
    if ctx.signal_patterns:
        every = [s["name"] for c in chans for s in c.get("signals", [])]
        for p in ctx.signal_patterns:
            if not any(fnmatch.fnmatchcase(n, p) for n in every):
                raise ReportError("--signals: pattern '%s' matches no signal of %s" % (p, path))
    bins = doc.get("bins") or {}
    info = "Metric %s, background uncertainty %s, score column '%s', split %s, %s score bins on [%s, %s]%s." % (
        doc.get("metric", "?"), doc.get("bkg_uncertainty", "?"), doc.get("score_column", "?"), doc.get("split", "?"),
        bins.get("n", "?"), bins.get("lo", "?"), bins.get("hi", "?"),
        "" if doc.get("_h5") is not None else "; no HDF5 file beside the JSON, so no curves")
    if doc.get("scores_file") or tag:
        info = "%s: scores %s. " % (os.path.basename(path), doc.get("scores_file", "?")) + info
    section.add(Text(info, cls="note"))
    for ch in chans:
        cname = ch["name"]
        chosen = select_signals(ctx, ch)
        if doc.get("_h5") is not None and chosen:
            fig = scan_plot(ctx, doc, ch, chosen)
            if fig is not None:
                name = ctx.save(fig, pre + "scan_%s" % cname)
                section.add(Figure(name, "%s: expected significance vs the cut on the score (star: the best cut) "
                                         "for %s; below: signal and background yields left by the cut." %
                                   (cname, "the signals matching --signals" if ctx.signal_patterns else
                                    "the %d most significant signals" % len(chosen))))
        summary = against_cut_and_count_text(ch)
        if summary:
            section.add(Text("%s: %s" % (cname, summary)))
        fig, xkey = grid_plot(ctx, doc, ch)
        if fig is not None:
            name = ctx.save(fig, pre + "grid_%s" % cname)
            section.add(Figure(name, "%s: expected significance of each signal model vs %s, one line per "
                                     "model family (solid: cut on the classifier, chosen on other folds of the "
                                     "events than it is evaluated on where the file has them; dashed: the "
                                     "cut-and-count selection%s)." %
                               (cname, xkey, (" " + cut_and_count_text(doc, ch))
                                if has_cut_and_count(ch) else ", not given")))
        if doc.get("_h5") is not None and chosen:
            curves = []
            for s in chosen:
                c = sig_h5_curve(doc, cname, "roc", s["name"], ("threshold", "signal_efficiency",
                                                                "background_efficiency"))
                if c is None:
                    continue
                order = np.argsort(c["background_efficiency"], kind="mergesort")
                eb, es = c["background_efficiency"][order], c["signal_efficiency"][order]
                auc = finite_or_none(s.get("auc"))
                if auc is None:
                    auc = float(np.sum(np.diff(eb) * (es[1:] + es[:-1]) / 2))
                curves.append((signal_text(s), {"background_efficiency": eb, "signal_efficiency": es, "auc": auc}))
            if curves:
                fig = roc_plot(ctx, curves, [CHANNEL_TEXT.get(cname, cname)])
                name = ctx.save(fig, pre + "roc_%s" % cname)
                section.add(Figure(name, "%s: ROC curves from the significance histograms (AUC from the JSON)." %
                                   cname))
        fig = thresholds_plot(ctx, doc, ch)
        if fig is not None:
            name = ctx.save(fig, pre + "thresholds_%s" % cname)
            section.add(Figure(name, "%s: weighted precision, recall, F1 and accuracy vs the threshold." % cname))
        significance_tables(section, doc, ch, tag)


def significance_tables(section, doc, ch, tag=""):
    cname = ch["name"]
    cc = ch.get("cut_and_count") or {}
    tid = (tag + "-" if tag else "") + cname
    rows = []
    skipped = 0
    # significance --cut-folds: the unbiased Z and its ratio in two more columns
    folds = has_unbiased(ch)
    for s in ch.get("signals", []):
        total = finite_or_none(s.get("total"))
        if total is not None and total <= 0:
            skipped += 1
            continue
        best = s.get("best") or {}
        z = finite_or_none(best.get("z"))
        csig = cut_and_count_of(ch, s)
        zc = finite_or_none(csig.get("z"))
        p = s.get("parameters") or {}
        rows.append([Cell(s["name"]), Cell(" ".join("%s" % p[k] for k in ("theory", "dark_sector") if k in p)),
                     num(finite_or_none(p.get("m_zprime_GeV")), lambda x: "%g" % x), num(total),
                     num(finite_or_none(s.get("auc")), lambda x: fmt_fixed(x, 4)),
                     num(finite_or_none(best.get("cut")), lambda x: fmt_g(x, 4)),
                     num(finite_or_none(best.get("s")), error=finite_or_none(best.get("s_error"))),
                     num(finite_or_none(best.get("b")), error=finite_or_none(best.get("b_error"))),
                     num(z, fmt_z),
                     num(finite_or_none(best.get("s_over_sqrt_b")), fmt_z),
                     num(finite_or_none(s.get("binned_z")), fmt_z),
                     num(finite_or_none(csig.get("after"))),
                     num(zc, fmt_z),
                     num(z / zc if (z is not None and zc) else None, lambda x: fmt_fixed(x, 2))])
        if folds:
            unbiased = s.get("unbiased") or {}
            zu = finite_or_none(unbiased.get("z"))
            rows[-1] += [num(zu, fmt_z, error=finite_or_none(unbiased.get("z_std"))),
                         num(zu / zc if (zu is not None and zc) else None, lambda x: fmt_fixed(x, 2))]
    bkg = ch.get("background") or {}
    note = "Background in the channel before any cut on the score: %s ± %s. %s%s" % (
        fmt_yield(finite_or_none(bkg.get("total"))), fmt_yield(finite_or_none(bkg.get("total_error"))),
        ("Cut-and-count (%s): background %s ± %s after the cuts. " % (
            cut_and_count_text(doc, ch) or "?", fmt_yield(finite_or_none((cc.get("background") or {}).get("after"))),
            fmt_yield(finite_or_none((cc.get("background") or {}).get("after_error")))) +
         ("data %s after the cuts%s. " % (fmt_yield(finite_or_none((cc.get("data") or {}).get("after"))),
                                         data_lumi_note(doc, ch))
          if isinstance(cc.get("data"), dict) else "")) if cc else "",
        ("%d signals without events in this channel are not listed. " % skipped) if skipped else "") + \
        ("Z (other folds): the cut chosen on the other folds of the events and evaluated on each fold in turn; "
         "the Z of the folds' mean s and b ± the spread of the folds' own Z (significance --cut-folds)."
         if folds else "")
    header = ["signal", "model", "m(Z') [GeV]", "s (no cut)", "AUC", "best cut", "s", "b", "Z", "s/√b",
              "binned Z", "s (cut & count)", "Z (cut & count)", "Z / Z(c&c)"]
    if folds:
        header += ["Z (other folds)", "Z (other folds) / Z(c&c)"]
    section.add(Table("significance-%s" % tid, "Significance, %s channel (selection: %s): best cut per signal vs "
                                                 "cut-and-count" % (cname, ch.get("selection", "?")),
                      header, rows, note=note))
    if bkg.get("samples"):
        brow = [[Cell(x.get("name", "?")), Cell(x.get("process", "")), num(finite_or_none(x.get("total"))),
                 num(finite_or_none(x.get("raw")), lambda v: "%d" % v)] for x in bkg["samples"]]
        if "data" in ch and isinstance(ch["data"], dict):
            brow.append({"cls": "data", "cells": [Cell("data" + data_lumi_note(doc, ch)), Cell(""),
                                                  num(finite_or_none(ch["data"].get("total"))),
                                                  Cell("")]})
        section.add(Table("significance-bkg-%s" % tid, "Background samples in the %s channel" % cname,
                          ["sample", "process", "yield", "MC events"], brow, collapsed=True))
    conf = ch.get("confusion")
    if isinstance(conf, dict):
        section.add(Table("confusion-%s" % tid, "Confusion matrix (weighted) at score >= %s, %s channel" %
                          (conf.get("threshold", "?"), cname), ["", "predicted signal", "predicted background"],
                          [[Cell("true signal"), num(finite_or_none(conf.get("true_positive"))),
                            num(finite_or_none(conf.get("false_negative")))],
                           [Cell("true background"), num(finite_or_none(conf.get("false_positive"))),
                            num(finite_or_none(conf.get("true_negative")))]]))
    th = ch.get("thresholds") or []
    if th:
        section.add(Table("thresholds-%s" % tid, "Classification metrics vs threshold, %s channel" % cname,
                          ["threshold", "precision", "recall", "F1", "accuracy"],
                          [[num(finite_or_none(x.get(k)), lambda v: fmt_fixed(v, 3))
                            for k in ("threshold", "precision", "recall", "f1", "accuracy")] for x in th],
                          collapsed=True))


def comparison_section(ctx, section, docs):
    """Several significance files over one grid (e.g. a network trained at one point,
    a parametrised one, a BDT): per channel, the best expected Z of each classifier
    against the mass for one model family, beside the cut-and-count. The family is the
    one of the first signal matching --signals (else the first family of the grid)."""
    for cname in [c["name"] for c in docs[0][2]["channels"]]:
        lines, cc = [], None
        xkey = None
        fam = None
        for tag, path, doc in docs:
            ch = next((c for c in doc["channels"] if c["name"] == cname), None)
            if ch is None:
                continue
            sigs = ch.get("signals", [])
            xkey = xkey or grid_parameter(sigs)
            if xkey is None:
                continue
            if fam is None:
                chosen = [s for s in sigs if any(fnmatch.fnmatchcase(s["name"], p) for p in ctx.signal_patterns)]
                fam = family((chosen or sigs)[0], xkey) if (chosen or sigs) else None
            pts = sorted(((float(s["parameters"][xkey]), z_of(s), finite_or_none(cut_and_count_of(ch, s).get("z")))
                          for s in sigs if family(s, xkey) == fam and xkey in (s.get("parameters") or {})),
                         key=lambda p: p[0])
            if not pts:
                continue
            lines.append(((tag or os.path.basename(path)).replace("_significance", ""), pts))
            if cc is None and any(p[2] is not None for p in pts):
                cc = [(p[0], p[2]) for p in pts]
        if len(lines) < 2:
            continue
        fig, ax = plt.subplots(figsize=(8, 6.5))
        fig.subplots_adjust(left=0.14, right=0.96, top=0.97, bottom=0.13)
        allz, handles = [], []
        for i, (label, pts) in enumerate(lines):
            x = np.array([p[0] for p in pts])
            z = np.array([p[1] if p[1] is not None and p[1] > 0 else np.nan for p in pts])
            h, = ax.plot(x, z, color=style.LINE_COLOURS[i % len(style.LINE_COLOURS)], linewidth=2.2, marker="o",
                         markersize=5, label=label)
            handles.append(h)
            allz += [v for v in z if np.isfinite(v)]
        if cc:
            x = np.array([p[0] for p in cc])
            z = np.array([p[1] if p[1] is not None and p[1] > 0 else np.nan for p in cc])
            h, = ax.plot(x, z, color="black", linewidth=1.8, linestyle="--", marker="o", markersize=4,
                         markerfacecolor="white", label="cut-and-count")
            handles.append(h)
            allz += [v for v in z if np.isfinite(v)]
        ax.set_yscale("log")
        lo, hi = (min(allz) * 0.5, max(allz) * 1.5) if allz else (0.1, 10.0)
        ax.set_xlabel({"m_zprime_GeV": r"$m_{\mathit{Z'}}$ [GeV]"}.get(xkey, xkey))
        ax.set_ylabel("Best expected Z")
        texts = ctx.label(ax, [CHANNEL_TEXT.get(cname, cname), fam])
        style.arrange_legend(ax, texts, lo, hi, log=True, handles=handles, ncol=1)
        name = ctx.save(fig, "significance_compare_%s" % cname)
        section.add(Figure(name, "%s, %s models: best expected significance of each classifier (one line per "
                                 "significance file; a parametrised network is judged at each model's own point) "
                                 "and of the cut-and-count, vs %s." % (cname, fam, xkey)))
