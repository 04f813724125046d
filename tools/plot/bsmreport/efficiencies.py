"""Classification tables (bsmhunt efficiencies output): precision and recall of the
signal against the reference background vs the threshold, the fraction of each group
classified correctly per slice and after the selection, the S/sqrt(B) gains, and a
comparison of several files (one per classifier)."""

import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from . import style
from .inputs import ReportError, finite_or_none, load_json, require_key
from .page import Cell, Figure, Table, Text, fmt_count, fmt_fixed, num

KIND = "efficiencies JSON of bsmhunt efficiencies"
SUFFIX = "_efficiencies.json"


def fmt_threshold(x):
    return "%.4g" % x


def fmt_fraction(x):
    return fmt_fixed(x, 4)


def label_of(path):
    """cnn_efficiencies.json -> cnn; other.json -> other."""
    name = os.path.basename(path)
    if name.endswith(SUFFIX) and len(name) > len(SUFFIX):
        return name[:-len(SUFFIX)]
    return name[:-5] if name.endswith(".json") and len(name) > 5 else name


def unique_labels(paths):
    labels = [label_of(p) for p in paths]
    out = []
    for i, l in enumerate(labels):
        out.append(l if labels.count(l) == 1 else "%s_%d" % (l, labels[:i + 1].count(l)))
    return out


def _number_or_null(value, path, where):
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ReportError("%s: %s should be a number or null, found %r" % (path, where, value))


def _number(doc, key, path, where=""):
    value = require_key(doc, key, path, where)
    if finite_or_none(value) is None or isinstance(value, bool):
        raise ReportError("%s: '%s'%s should be a number, found %r" % (path, key, (" in " + where) if where else "",
                                                                       value))
    return float(value)


def _group_table(doc, key, path, fields, prefix=""):
    """{group: {field: number or null}} under doc[key]."""
    groups = require_key(doc, key, path, prefix.rstrip("."), dict)
    for g, entry in groups.items():
        where = "%s%s.%s" % (prefix, key, g)
        if not isinstance(entry, dict):
            raise ReportError("%s: %s should be an object" % (path, where))
        for f in fields:
            _number_or_null(require_key(entry, f, path, where), path, "%s.%s" % (where, f))
    return groups


def load_efficiencies(path):
    doc = load_json(path, KIND, "bsmhunt.efficiencies")
    table = require_key(doc, "threshold_table", path, kind=list)
    if not table:
        raise ReportError("%s: 'threshold_table' is empty" % path)
    for i, row in enumerate(table):
        where = "threshold_table[%d]" % i
        if not isinstance(row, dict):
            raise ReportError("%s: %s should be an object" % (path, where))
        _number(row, "threshold", path, where)
        for key in ("precision", "recall"):
            require_key(row, key, path, where)
        for key in ("precision", "recall", "mean", "product", "true_positive", "false_positive"):
            _number_or_null(row.get(key), path, "%s.%s" % (where, key))
    _number(doc, "threshold", path)
    for key in ("signal_group", "reference_background"):
        require_key(doc, key, path, kind=str)
    per_slice = require_key(doc, "per_slice", path, kind=dict)
    for s in per_slice:
        _group_table(per_slice, s, path, ("events", "correct"), "per_slice.")
    _group_table(doc, "selected", path, ("events", "yield", "correct"))
    given = doc.get("gain_given_yields")
    if given is not None:
        if not isinstance(given, dict):
            raise ReportError("%s: 'gain_given_yields' should be an object or null" % path)
        for key in ("s", "b", "s_after", "b_after", "gain"):
            _number_or_null(require_key(given, key, path, "gain_given_yields"), path, "gain_given_yields." + key)
    own = require_key(doc, "gain_own_yields", path, kind=dict)
    for key in ("s", "b", "s_after", "b_after", "gain"):
        _number_or_null(require_key(own, key, path, "gain_own_yields"), path, "gain_own_yields." + key)
    return doc


def chosen_row(doc):
    """Index of the threshold table's row at the chosen threshold, or None (a given
    threshold need not be in the table)."""
    t = float(doc["threshold"])
    for i, row in enumerate(doc["threshold_table"]):
        if abs(float(row["threshold"]) - t) <= 1e-9 * max(1.0, abs(t)):
            return i
    return None


def reference_text(doc):
    sl = doc.get("reference_slice")
    return "%s against %s%s" % (doc["signal_group"], doc["reference_background"], (", slice %s" % sl) if sl else "")


def gain_of(doc, key):
    g = doc.get(key)
    return finite_or_none(g.get("gain")) if isinstance(g, dict) else None


def correct_of(doc, group):
    return finite_or_none((doc["selected"].get(group) or {}).get("correct"))


def precision_recall_plot(ctx, files):
    """Precision (solid) and recall (dashed) vs threshold, one colour per file, a
    dotted line at each chosen threshold."""
    fig, ax = plt.subplots(figsize=(8, 6.5))
    fig.subplots_adjust(left=0.14, right=0.96, top=0.97, bottom=0.13)
    handles = []
    lo, hi = np.inf, -np.inf
    for i, (label, _, doc) in enumerate(files):
        col = style.LINE_COLOURS[i % len(style.LINE_COLOURS)]
        table = doc["threshold_table"]
        t = np.array([float(r["threshold"]) for r in table])
        p = np.array([np.nan if finite_or_none(r["precision"]) is None else float(r["precision"]) for r in table])
        r = np.array([np.nan if finite_or_none(r["recall"]) is None else float(r["recall"]) for r in table])
        marker = "o" if len(t) <= 40 else None
        ax.plot(t, p, color=col, linewidth=2.2, marker=marker, markersize=4)
        ax.plot(t, r, color=col, linewidth=2.2, linestyle="--", marker=marker, markersize=4, markerfacecolor="white")
        ax.vlines(doc["threshold"], 0.0, 1.0, color=col, linestyle=":", linewidth=1.8)
        handles.append(Line2D([], [], color=col, linewidth=2.2,
                              label="%s (threshold %s)" % (label, fmt_threshold(doc["threshold"]))))
        lo, hi = min(lo, t.min(), doc["threshold"]), max(hi, t.max(), doc["threshold"])
    handles += [Line2D([], [], color="black", linewidth=2.2, label="precision"),
                Line2D([], [], color="black", linewidth=2.2, linestyle="--", label="recall"),
                Line2D([], [], color="black", linewidth=1.8, linestyle=":", label="chosen threshold")]
    refs = {reference_text(doc) for _, _, doc in files}
    splits = {str(doc.get("split", "?")) for _, _, doc in files}
    extra = [refs.pop() if len(refs) == 1 else "", ("%s split, events" % splits.pop()) if len(splits) == 1 else ""]
    ax.set_xlabel("Threshold on the score")
    ax.set_ylabel("Precision, recall")
    texts = ctx.label(ax, extra, lumi=None)
    style.arrange_legend(ax, texts, 0.0, 1.0, handles=handles)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_xlim(lo, hi if hi > lo else lo + 1)
    return fig


def largest(files, key):
    """'label (gain)' of the largest gain (all labels on a tie), or None."""
    vals = [(label, gain_of(doc, key)) for label, _, doc in files if gain_of(doc, key) is not None]
    if not vals:
        return None
    best = max(v for _, v in vals)
    return "%s (%s)" % (" and ".join(l for l, v in vals if v == best), fmt_fixed(best, 4))


def comparison_table(section, files):
    rows = []
    for label, _, doc in files:
        sig, ref = doc["signal_group"], doc["reference_background"]
        rows.append([Cell(label), num(doc["threshold"], fmt_threshold),
                     Cell(sig), num(correct_of(doc, sig), fmt_fraction),
                     Cell(ref), num(correct_of(doc, ref), fmt_fraction),
                     num(gain_of(doc, "gain_given_yields"), fmt_fraction),
                     num(gain_of(doc, "gain_own_yields"), fmt_fraction)])
    given, own = largest(files, "gain_given_yields"), largest(files, "gain_own_yields")
    caption = "Comparison at the chosen thresholds: the largest S/√B gain with the given yields is %s; with " \
              "each file's own yields, %s" % (given or "not known (no file has given yields)",
                                              own or "not known (no file has one)")
    section.add(Table("efficiencies-comparison", caption,
                      ["file", "threshold", "signal", "signal correct", "reference background",
                       "background correct", "gain (given yields)", "gain (own yields)"], rows,
                      note="Fractions classified correctly after the selection (signal: score >= threshold; "
                           "backgrounds: below it), slices combined by their weights."))


def file_tables(section, label, path, doc):
    tid = label
    t = float(doc["threshold"])
    tt = fmt_threshold(t)
    section.add(Text("%s (%s): scores %s, features %s, %s split, selection '%s'; %s; threshold %s (%s)." % (
        label, os.path.basename(path), doc.get("scores_file", "?"), doc.get("features_file", "?"),
        doc.get("split", "?"), doc.get("selection", ""), reference_text(doc), tt, doc.get("threshold_choice", "?")),
        cls="note"))
    chosen = chosen_row(doc)
    rows = []
    for i, r in enumerate(doc["threshold_table"]):
        p, rc = finite_or_none(r["precision"]), finite_or_none(r["recall"])
        mean = finite_or_none(r["mean"]) if "mean" in r else (None if p is None or rc is None else (p + rc) / 2)
        prod = finite_or_none(r["product"]) if "product" in r else (None if p is None or rc is None else p * rc)
        cells = [num(r["threshold"], fmt_threshold), num(p, fmt_fraction), num(rc, fmt_fraction),
                 num(mean, fmt_fraction), num(prod, fmt_fraction),
                 num(finite_or_none(r.get("true_positive")), fmt_count),
                 num(finite_or_none(r.get("false_positive")), fmt_count)]
        rows.append({"cls": "chosen", "cells": cells} if i == chosen else cells)
    section.add(Table("efficiencies-thresholds-%s" % tid, "%s: precision and recall vs the threshold, %s (events)"
                      % (label, reference_text(doc)),
                      ["threshold", "precision", "recall", "(P+R)/2", "P x R", "true positives", "false positives"],
                      rows, note=("Highlighted: the chosen threshold %s (%s)." % (tt, doc.get("threshold_choice", "?"))
                                  if chosen is not None else
                                  "The chosen threshold %s (%s) is not one of the table's." %
                                  (tt, doc.get("threshold_choice", "?")))))
    per_slice = doc["per_slice"]
    groups = []
    for s in per_slice.values():
        groups += [g for g in s if g not in groups]
    rows = []
    for s, entry in per_slice.items():
        cells = [Cell(s)]
        for g in groups:
            e = entry.get(g) or {}
            n = finite_or_none(e.get("events"))
            cells.append(num(finite_or_none(e.get("correct")), fmt_fraction,
                             title=None if n is None else "%s events" % fmt_count(n)))
        rows.append(cells)
    section.add(Table("efficiencies-slices-%s" % tid, "%s: fraction of each group classified correctly per slice at "
                                                      "threshold %s (events)" % (label, tt), ["slice"] + groups, rows,
                      note="Signal (%s): score >= threshold; every other group: below it. A dash: no events." %
                           doc["signal_group"]))
    rows = []
    for g, e in doc["selected"].items():
        role = "signal" if g == doc["signal_group"] else (
            "reference background" if g == doc["reference_background"] else "background")
        rows.append([Cell(g), Cell(role), num(finite_or_none(e["events"]), fmt_count),
                     num(finite_or_none(e["yield"])), num(finite_or_none(e["correct"]), fmt_fraction),
                     num(finite_or_none(e.get("passing")), fmt_fraction)])
    section.add(Table("efficiencies-selected-%s" % tid, "%s: after the selection '%s', slices combined by their "
                                                        "weights, at threshold %s" %
                      (label, doc.get("selection", ""), tt),
                      ["group", "role", "events", "yield", "fraction correct", "fraction passing"], rows))
    rows = []
    for key, what in (("gain_given_yields", "given yields"), ("gain_own_yields", "this file's yields")):
        g = doc.get(key) or {}
        rows.append([Cell(what)] + [num(finite_or_none(g.get(k))) for k in ("s", "b", "s_after", "b_after")] +
                    [num(finite_or_none(g.get("gain")), fmt_fraction)])
    section.add(Table("efficiencies-gains-%s" % tid, "%s: S/√B gain = (s_after / √b_after) / (s / √b) at "
                                                     "threshold %s" % (label, tt),
                      ["yields", "s", "b", "s after", "b after", "gain"], rows,
                      note=("Given yields: the groups the classifier scales keep their fraction passing, the "
                            "others their whole yield. " if doc.get("gain_given_yields") else
                            "No yields were given to bsmhunt efficiencies, so no gain with given yields. ") +
                      "This file's yields: every group's weighted yield after the selection times its fraction "
                      "passing."))
    used = (doc.get("gain_given_yields") or {}).get("groups")
    if isinstance(used, dict) and used:
        section.add(Table("efficiencies-yields-%s" % tid, "%s: the given yields and the efficiencies applied" % label,
                          ["group", "yield", "efficiency"],
                          [[Cell(g), num(finite_or_none((e or {}).get("yield"))),
                            num(finite_or_none((e or {}).get("efficiency")), fmt_fraction)] for g, e in used.items()],
                          collapsed=True))


def efficiencies_section(ctx, section, files):
    """files: [(label, path, doc)]."""
    fig = precision_recall_plot(ctx, files)
    name = ctx.save(fig, "efficiencies_precision_recall")
    section.add(Figure(name, "Precision (solid) and recall (dashed) of the signal against the reference background "
                             "vs the threshold on the score, one colour per efficiencies file (%s); dotted: the "
                             "chosen threshold of each." % ", ".join(l for l, _, _ in files)))
    if len(files) > 1:
        comparison_table(section, files)
    for label, path, doc in files:
        file_tables(section, label, path, doc)
