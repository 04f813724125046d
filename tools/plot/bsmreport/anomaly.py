"""Anomaly search (bsmhunt anomaly output, one file per score): thresholds at fixed
Standard Model efficiencies with the (pseudo-)data above each against the expected
background, the score distributions and ROC curves, and one table comparing the
methods' signal efficiencies and expected significances at the search threshold,
with the supervised classifiers (labels supervised_<signal>) as a bound."""

import os

import numpy as np

from . import draw, style
from .inputs import (ReportError, check_version, load_json, numbers_of, parse_labelled, require_bool, require_edges,
                     require_key, require_number, require_numbers, require_strings)
from .page import Cell, Figure, Table, Text, fmt_count, fmt_fixed, fmt_g, fmt_yield, fmt_z, num

KIND = "anomaly-search JSON of bsmhunt anomaly"
SUPERVISED = "supervised_"
ROLES = ("background", "signal", "data")
MAX_SIGNAL_LINES = 4
MAX_ROC_CURVES = 6
THRESHOLD_FIELDS = ("threshold", "sm_efficiency", "expected_background", "background_uncertainty", "data", "excess",
                    "z_local", "p_value")


def label_of(path):
    """ae_rmm_anomaly.json / ae_rmm.anomaly.json / ae_rmm.json -> ae_rmm."""
    name = os.path.basename(path)
    for suffix in ("_anomaly.json", ".anomaly.json", ".json"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return name


def parse_specs(specs):
    """[(label, path)] of the --anomaly LABEL=FILE options; labels must differ."""
    out = []
    for spec in specs:
        label, path = parse_labelled(spec, "--anomaly")
        if path == spec:
            label = label_of(path)
        if any(label == l for l, _ in out):
            raise ReportError("--anomaly: the label '%s' is given twice (%s and %s); give LABEL=FILE" %
                              (label, dict(out)[label], path))
        out.append((label, path))
    return out


def load_anomaly(path):
    doc = load_json(path, KIND, "bsmhunt.anomaly")
    check_version(doc, path)
    for key in ("scores_file", "score", "mc_split", "data_split"):
        require_key(doc, key, path, kind=str)
    for key in ("data_fraction", "background_total", "data_total", "background_uncertainty",
                "reference_significance", "search_efficiency"):
        require_number(doc, key, path)
    effs = require_numbers(doc, "sm_efficiencies", path)
    if len(effs) == 0:
        raise ReportError("%s: 'sm_efficiencies' is empty" % path)
    thresholds = require_key(doc, "thresholds", path, kind=list)
    if len(thresholds) != len(effs):
        raise ReportError("%s: %d thresholds for %d sm_efficiencies (expected one each)" %
                          (path, len(thresholds), len(effs)))
    for i, t in enumerate(thresholds):
        where = "thresholds[%d]" % i
        if not isinstance(t, dict):
            raise ReportError("%s: %s should be an object" % (path, where))
        require_number(t, "sm_efficiency_target", path, where)
        for key in THRESHOLD_FIELDS:
            require_number(t, key, path, where, null=True)
        require_bool(t, "search", path, where)
    nth = len(thresholds)
    signals = require_key(doc, "signals", path, kind=list)
    for i, s in enumerate(signals):
        where = "signals[%d]" % i
        if not isinstance(s, dict):
            raise ReportError("%s: %s should be an object" % (path, where))
        name = require_key(s, "name", path, where, str)
        where = "signals[%d] ('%s')" % (i, name)
        require_number(s, "yield", path, where, null=True)
        require_number(s, "auc", path, where, null=True)
        for key in ("efficiency", "z_reference", "z_nominal"):
            s["_" + key] = require_numbers(s, key, path, where, nth, "one per threshold", null=True)
    dist = require_key(doc, "distributions", path, kind=dict)
    edges = require_edges(dist, "edges", path, "distributions")
    samples = require_key(dist, "samples", path, "distributions", dict)
    for name, entry in samples.items():
        where = "distributions.samples.%s" % name
        if not isinstance(entry, dict):
            raise ReportError("%s: %s should be an object" % (path, where))
        role = require_key(entry, "role", path, where, str)
        if role not in ROLES:
            raise ReportError("%s: 'role' in %s is '%s', expected background, signal or data" % (path, where, role))
        entry["_values"] = np.nan_to_num(require_numbers(entry, "values", path, where, len(edges) - 1,
                                                         "one per bin of distributions.edges", null=True))
    dist["_edges"] = edges
    roc = require_key(doc, "roc", path, kind=dict)
    eb = require_numbers(roc, "background_efficiency", path, "roc", null=True)
    curves = require_key(roc, "signal_efficiency", path, "roc", dict)
    roc["_background"] = eb
    roc["_signal"] = {name: numbers_of(v, path, "'%s' in roc.signal_efficiency" % name, len(eb),
                                       "one per roc.background_efficiency", null=True) for name, v in curves.items()}
    return doc


def load_files(specs):
    """[(label, path, doc)] of the --anomaly options."""
    return [(label, path, load_anomaly(path)) for label, path in parse_specs(specs)]


def search_index(doc):
    """(index of the search threshold, whether the file marks it): the row marked
    'search', else the one whose target is closest to search_efficiency."""
    for i, t in enumerate(doc["thresholds"]):
        if t["search"]:
            return i, True
    target = doc["search_efficiency"]
    return min(range(len(doc["thresholds"])),
               key=lambda i: abs(doc["thresholds"][i]["sm_efficiency_target"] - target)), False


def fmt_eff(x):
    """Efficiencies: 4 decimals, 3 significant digits below 0.001."""
    if x is None or not np.isfinite(x):
        return "–"
    return "%.4f" % x if x == 0 or abs(x) >= 1e-3 else "%.3g" % x


def fmt_percent(x):
    return ("%g%%" % float("%.3g" % (100 * x))) if x is not None else "–"


def describe(doc):
    i, _ = search_index(doc)
    t = doc["thresholds"][i]
    return "score %s of %s, %d signals, search at SM efficiency %s: data %s, expected %s, Z = %s" % (
        doc["score"], doc["scores_file"], len(doc["signals"]), fmt_g(t["sm_efficiency_target"], 3),
        fmt_count(t.get("data")), fmt_yield(t.get("expected_background")), fmt_z(t.get("z_local")))


def value(x):
    return None if x is None or not np.isfinite(x) else float(x)


def ranking(doc):
    return {n: float(np.sum(e["_values"])) for n, e in doc["distributions"]["samples"].items()
            if e["role"] == "background"}


def distribution_plot(ctx, label, doc):
    dist = doc["distributions"]
    edges = dist["_edges"]
    logx = bool(edges[0] > 0 and edges[-1] / edges[0] > 10)
    frac = doc["data_fraction"]
    samples = dist["samples"]
    bkg = {n: e["_values"] * frac for n, e in samples.items() if e["role"] == "background"}
    stack = draw.sample_stack(bkg, ranking(doc))
    btotal = np.sum([c["sw"] for c in stack], axis=0) if stack else np.zeros(len(edges) - 1)
    data_parts = [e["_values"] for e in samples.values() if e["role"] == "data"]
    data = np.sum(data_parts, axis=0) if data_parts else None
    if data is not None and not data.sum() > 0:
        data = None
    names = [s["name"] for s in doc["signals"] if s["name"] in samples and samples[s["name"]]["role"] == "signal"
             and np.sum(samples[s["name"]]["_values"]) > 0]
    sigs = []
    for k, name in enumerate(draw.spread(names, MAX_SIGNAL_LINES)):
        sw = samples[name]["_values"] * frac
        sc = ctx.signal_scale if ctx.signal_scale > 0 else draw.auto_signal_scale(sw, btotal)
        sigs.append({"label": name, "sw": sw, "colour": style.LINE_COLOURS[k % len(style.LINE_COLOURS)], "scale": sc})
    extra = ["MC: %s split, data: %s split" % (doc["mc_split"], doc["data_split"])]
    fig = draw.stack_plot(ctx, edges, stack, data=data, signals=sigs, xlabel="Anomaly score (%s)" % doc["score"],
                          ylabel="Events / bin", logy=True, logx=logx, extra=extra, mc_label=None, data_label="Data",
                          ratio=data is not None, log_floor=0.05)
    threshold_lines(fig.axes, [(t.get("threshold"), "$\\varepsilon_{SM}$ = %s" % fmt_percent(t["sm_efficiency_target"]))
                               for t in doc["thresholds"]], edges[0], edges[-1])
    return fig, float(btotal.sum()), [s["label"] for s in sigs]


def threshold_lines(axes, lines, lo, hi):
    """Vertical dotted lines with their labels along them (on the first axes)."""
    for x, text in lines:
        if x is None or not lo <= x <= hi:
            continue
        for k, ax in enumerate(axes):
            ax.axvline(x, color="#555555", linestyle=":", linewidth=1.6, zorder=6)
            if k == 0:
                ax.text(x, 0.03, " " + text, transform=ax.get_xaxis_transform(), rotation=90, ha="right",
                        va="bottom", fontsize=style.FONT_SIZE - 3, color="#333333", zorder=7)


def roc_plot(ctx, label, doc):
    from .scores import roc_plot as draw_roc
    roc = doc["roc"]
    aucs = {s["name"]: s.get("auc") for s in doc["signals"]}
    names = [s["name"] for s in doc["signals"] if s["name"] in roc["_signal"]]
    names += [n for n in roc["_signal"] if n not in names]
    curves = []
    for name in draw.spread(names, MAX_ROC_CURVES):
        auc = aucs.get(name)
        curves.append((name, {"background_efficiency": roc["_background"], "signal_efficiency": roc["_signal"][name],
                              "auc": float("nan") if auc is None else auc}))
    if not curves:
        return None, []
    fig = draw_roc(ctx, curves, ["%s, MC %s split" % (label, doc["mc_split"])])
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    threshold_lines([ax], [(t.get("sm_efficiency"), "$\\varepsilon_{SM}$ = %s" % fmt_percent(t["sm_efficiency_target"]))
                           for t in doc["thresholds"]], lo, hi)
    return fig, [n for n, _ in curves]


def search_table(section, label, doc):
    idx, marked = search_index(doc)
    rows = []
    for i, t in enumerate(doc["thresholds"]):
        cells = [num(t["sm_efficiency_target"], fmt_eff), num(t.get("sm_efficiency"), fmt_eff),
                 num(t.get("threshold"), lambda x: fmt_g(x, 4)),
                 num(t.get("expected_background"), error=t.get("background_uncertainty")),
                 num(t.get("data"), fmt_count), num(t.get("excess"), fmt_yield), num(t.get("z_local"), fmt_z),
                 num(t.get("p_value"), lambda x: fmt_g(x, 3))]
        rows.append({"cls": "chosen", "cells": cells} if i == idx else cells)
    search = doc["thresholds"][idx]["sm_efficiency_target"]
    note = ("Highlighted: the search, at SM efficiency %s%s. " % (
        fmt_g(search, 3), "" if marked else " (no row is marked 'search': the target closest to search_efficiency "
                                            "%s)" % fmt_g(doc["search_efficiency"], 3)) +
        "Expected background: the weighted MC above the threshold times the data fraction %s, ± its statistical "
        "uncertainty%s; Z local: the significance of the excess with that uncertainty (0 without an excess)." % (
            fmt_fixed(doc["data_fraction"], 4),
            (" and a %s relative systematic" % fmt_percent(doc["background_uncertainty"]))
            if doc["background_uncertainty"] else ""))
    section.add(Table("anomaly-search-%s" % label, "%s: data above thresholds at fixed Standard Model efficiency "
                                                   "against the expected background" % label,
                      ["SM efficiency target", "SM efficiency", "threshold", "expected background", "data", "excess",
                       "Z local", "p-value"], rows, note=note))


def signals_table(section, label, doc):
    if not doc["signals"]:
        return
    ths = doc["thresholds"]
    header = [["signal", "yield", "AUC"] + [("εSM = %s" % fmt_g(t["sm_efficiency_target"], 3), 3) for t in ths],
              ["", "", ""] + ["efficiency", "Z (reference)", "Z (yield)"] * len(ths)]
    rows = []
    for s in doc["signals"]:
        cells = [Cell(s["name"]), num(s.get("yield")), num(s.get("auc"), lambda x: fmt_fixed(x, 4))]
        for k in range(len(ths)):
            cells += [num(value(s["_efficiency"][k]), fmt_eff), num(value(s["_z_reference"][k]), fmt_z),
                      num(value(s["_z_nominal"][k]), fmt_z)]
        rows.append(cells)
    section.add(Table("anomaly-signals-%s" % label, "%s: every signal's efficiency and expected significance at "
                                                    "each threshold (%d signals)" % (label, len(doc["signals"])),
                      header, rows, collapsed=True,
                      note="Z (reference): injected with inclusive S/√B = %s; Z (yield): at the sample's own yield." %
                           fmt_g(doc["reference_significance"], 3)))


def label_section(ctx, section, label, path, doc):
    section.add(Text("%s (%s): score '%s' of %s; MC from the %s split scaled to full yields, background total %s; "
                     "data from the %s split, %s events (fraction %s of the data rows)." % (
                         label, os.path.basename(path), doc["score"], doc["scores_file"], doc["mc_split"],
                         fmt_yield(doc["background_total"]), doc["data_split"], fmt_count(doc["data_total"]),
                         fmt_fixed(doc["data_fraction"], 4)), cls="note"))
    search_table(section, label, doc)
    fig, btot, shown = distribution_plot(ctx, label, doc)
    name = ctx.save(fig, "anomaly_scores_%s" % label)
    section.add(Figure(name, "%s: distribution of the score '%s': MC backgrounds stacked per sample (times the data "
                             "fraction %s; total %s), data as points%s; dashed: %s, at their yield times the factor "
                             "in the legend; dotted: the thresholds at fixed SM efficiency. No MC statistical "
                             "uncertainty is drawn (the file has none)." % (
                                 label, doc["score"], fmt_fixed(doc["data_fraction"], 4), fmt_yield(btot),
                                 ", below them data / MC" if any(e["role"] == "data" and np.sum(e["_values"]) > 0
                                                                 for e in doc["distributions"]["samples"].values())
                                 else "",
                                 ("signals " + ", ".join(shown)) if shown else "no signal")))
    fig, shown = roc_plot(ctx, label, doc)
    if fig is not None:
        name = ctx.save(fig, "anomaly_roc_%s" % label)
        section.add(Figure(name, "%s: signal efficiency vs SM (background) efficiency of cuts on the score for %s; "
                                 "dotted: the SM efficiencies of the thresholds." % (label, ", ".join(shown))))
    signals_table(section, label, doc)


def at_search(doc, name):
    """(efficiency, z_reference) of signal `name` at the search threshold, or None."""
    idx, _ = search_index(doc)
    for s in doc["signals"]:
        if s["name"] == name:
            return value(s["_efficiency"][idx]), value(s["_z_reference"][idx])
    return None


def comparison_table(section, files):
    methods = [(l, doc) for l, _, doc in files if not l.startswith(SUPERVISED)]
    supervised = {l[len(SUPERVISED):]: doc for l, _, doc in files if l.startswith(SUPERVISED)}
    names = []
    for _, _, doc in files:
        names += [s["name"] for s in doc["signals"] if s["name"] not in names]
    if not names:
        return
    header = [["signal"] + [(l, 2) for l, _ in methods] + ([("supervised bound", 2)] if supervised else []) +
              ["best"],
              [""] + ["efficiency", "Z"] * (len(methods) + (1 if supervised else 0)) + [""]]
    rows = []
    wins = {}
    for name in names:
        vals = [at_search(doc, name) for _, doc in methods]
        zs = [v[1] for v in vals if v is not None and v[1] is not None]
        best_z = max(zs) if zs else None
        best = [l for (l, _), v in zip(methods, vals) if v is not None and v[1] is not None and v[1] == best_z]
        cells = [Cell(name)]
        for v in vals:
            if v is None:
                cells += [Cell(""), Cell("")]
            else:
                cells += [num(v[0], fmt_eff),
                          num(v[1], fmt_z, cls="best" if best and v[1] == best_z and len(methods) > 1 else None)]
        if supervised:
            v = at_search(supervised[name], name) if name in supervised else None
            cells += [Cell(""), Cell("")] if v is None else [num(v[0], fmt_eff), num(v[1], fmt_z)]
        cells.append(Cell(" and ".join(best)))
        for l in best:
            wins[l] = wins.get(l, 0) + 1
        rows.append(cells)
    refs = sorted({doc["reference_significance"] for _, _, doc in files})
    searches = sorted({doc["thresholds"][search_index(doc)[0]]["sm_efficiency_target"] for _, _, doc in files})
    caption = "Anomaly search methods compared at their search threshold (SM efficiency %s)" % \
              " / ".join(fmt_g(x, 3) for x in searches)
    note = ("Efficiency: the signal's efficiency at the threshold; Z: the expected local significance after the cut "
            "for a signal injected with an inclusive S/√B = %s before it. " % " / ".join(fmt_g(r, 3) for r in refs))
    if supervised:
        unmatched = sorted(s for s in supervised if s not in names)
        note += ("Supervised bound: for each signal S, the classifier trained on S (label supervised_S), a bound on "
                 "what a dedicated search reaches; blank where there is none%s. " %
                 ("; supervised labels matching no signal: " + ", ".join(SUPERVISED + s for s in unmatched)
                  if unmatched else ""))
    if methods:
        note += "Bold and in the last column: the best Z among %s. " % ", ".join(l for l, _ in methods)
        if wins:
            note += "Best most often: %s." % ", ".join(
                "%s (%d of %d signals)" % (l, n, len(names))
                for l, n in sorted(wins.items(), key=lambda x: (-x[1], x[0])))
    section.add(Table("anomaly-comparison", caption, header, rows, note=note.strip()))


def anomaly_section(ctx, section, files):
    """files: [(label, path, doc)]."""
    for label, path, doc in files:
        label_section(ctx, section, label, path, doc)
    comparison_table(section, files)
