"""Data / MC agreement (bsmhunt datamc output): per input feature the chi2/ndf and
Kolmogorov-Smirnov comparison of the (pseudo-)data with the weighted MC, a table
sorted by p-value with the features that disagree flagged, and the distributions of
the flagged and most discrepant features (MC stacked per sample, data, ratio)."""

import numpy as np

from . import draw
from .features import axis_label
from .inputs import (ReportError, check_version, load_json, require_bool, require_edges, require_key, require_number,
                     require_numbers, require_strings)
from .page import Cell, Figure, Table, Text, fmt_count, fmt_fixed, fmt_g, fmt_yield, num

KIND = "data/MC comparison JSON of bsmhunt datamc"
MAX_PLOTS = 12
NORMALIZATIONS = ("shape", "luminosity")


def load_datamc(path):
    doc = load_json(path, KIND, "bsmhunt.datamc")
    check_version(doc, path)
    for key in ("features_file", "selection", "split"):
        require_key(doc, key, path, kind=str)
    norm = require_key(doc, "normalization", path, kind=str)
    if norm not in NORMALIZATIONS:
        raise ReportError("%s: 'normalization' is '%s', expected shape or luminosity" % (path, norm))
    require_number(doc, "flag_p_value", path)
    for key in ("data_events", "mc_yield", "data_over_mc"):
        require_number(doc, key, path, null=True)
    for key in ("data_samples", "mc_samples", "flagged"):
        require_strings(doc, key, path)
    features = require_key(doc, "features", path, kind=list)
    names = []
    for i, f in enumerate(features):
        where = "features[%d]" % i
        if not isinstance(f, dict):
            raise ReportError("%s: %s should be an object" % (path, where))
        name = require_key(f, "name", path, where, str)
        names.append(name)
        where = "features[%d] ('%s')" % (i, name)
        require_key(f, "unit", path, where, str)
        for key in ("chi2", "chi2_ndf", "p_value", "ks_distance", "ks_p_value", "data_events", "mc_yield",
                    "mc_scale", "missing_data", "missing_mc"):
            require_number(f, key, path, where, null=True)
        require_number(f, "ndf", path, where, integer=True)
        require_bool(f, "flagged", path, where)
        edges = require_edges(f, "edges", path, where)
        nb = len(edges) - 1
        per_bin = "one per bin of 'edges'"
        data = require_numbers(f, "data", path, where, nb, per_bin)
        variance = require_numbers(f, "mc_variance", path, where, nb, per_bin)
        mc = require_key(f, "mc", path, where, dict)
        if not mc:
            raise ReportError("%s: 'mc' in %s has no MC sample" % (path, where))
        hists = {s: require_numbers(mc, s, path, where + ".mc", nb, per_bin) for s in mc}
        f["_edges"], f["_data"], f["_variance"], f["_mc"] = edges, data, variance, hists
    for name in doc["flagged"]:
        if name not in names:
            raise ReportError("%s: 'flagged' names '%s', which is not one of the features" % (path, name))
    return doc


def sorted_features(doc):
    """Most discrepant first: by p-value (none last), then by chi2/ndf descending."""
    def key(f):
        p = f.get("p_value")
        return (p is None, p if p is not None else 0.0, -(f.get("chi2_ndf") or 0.0))
    return sorted(doc["features"], key=key)


def fmt_p(x):
    return fmt_g(x, 3)


def describe(doc):
    """One line for the inputs table."""
    return "%d features, %d flagged (p < %s), %s normalization, data/MC = %s" % (
        len(doc["features"]), sum(1 for f in doc["features"] if f["flagged"]), fmt_g(doc["flag_p_value"], 3),
        doc["normalization"], fmt_fixed(doc.get("data_over_mc"), 3))


def ranking(doc):
    """Each MC sample's mean yield over the features: one grouping and colour per
    sample in every plot."""
    out = {}
    for f in doc["features"]:
        for s, h in f["_mc"].items():
            out[s] = out.get(s, 0.0) + float(np.nansum(h)) / len(doc["features"])
    return out


def stat_text(f):
    chi2, ndf, p = f.get("chi2"), f["ndf"], f.get("p_value")
    if chi2 is None or ndf <= 0:
        return r"$\chi^2$: no bins to compare"
    return r"$\chi^2$/ndf = %s/%d = %s, $p$ = %s" % (fmt_fixed(chi2, 1), ndf, fmt_fixed(chi2 / ndf, 2), fmt_p(p))


def feature_plot(ctx, doc, f, rank):
    scale = f.get("mc_scale")
    scale = 1.0 if scale is None else scale
    hists = {s: h * scale for s, h in f["_mc"].items()}
    stack = draw.sample_stack(hists, rank)
    data = np.nan_to_num(f["_data"])
    extra = [stat_text(f)]
    if f.get("ks_distance") is not None:
        extra.append("KS distance %s, $p$ = %s" % (fmt_fixed(f["ks_distance"], 3), fmt_p(f.get("ks_p_value"))))
    extra.append(r"MC scaled to the data ($\times$%s)" % fmt_g(scale, 4) if doc["normalization"] == "shape"
                 else "MC at the luminosity")
    fig = draw.stack_plot(ctx, f["_edges"], stack, data=data, xlabel=axis_label(f["name"], f["unit"]),
                          ylabel="Events / bin", logy=False, extra=extra, data_label="Data",
                          data_errors=np.sqrt(np.maximum(data, 0)),
                          total_variance=np.nan_to_num(f["_variance"]) * scale ** 2)
    return fig


def summary_text(doc, path):
    feats = doc["features"]
    flagged = [f["name"] for f in sorted_features(doc) if f["flagged"]]
    norm = ("shape: each feature's MC is scaled to its data total, so only the shapes are compared"
            if doc["normalization"] == "shape" else "luminosity: the MC is taken at its cross sections and the "
                                                     "luminosity, so the totals count too")
    ratio = doc.get("data_over_mc")
    sel = doc.get("selection") or ""
    text = ("%s: %s data events (%s) against an MC prediction of %s (%d samples), data / MC = %s; %s split%s. "
            "Normalization %s. A feature disagrees when its χ² p-value is below %s: %s of %d features %s." % (
                path, fmt_count(doc.get("data_events")), ", ".join(doc["data_samples"]) or "no data sample",
                fmt_yield(doc.get("mc_yield")), len(doc["mc_samples"]), fmt_fixed(ratio, 3), doc["split"],
                (", selection '%s'" % sel) if sel else "", norm, fmt_g(doc["flag_p_value"], 3), len(flagged),
                len(feats), ("disagree (%s)" % ", ".join(flagged)) if flagged else "disagree"))
    return text


def datamc_section(ctx, section, doc, path):
    feats = sorted_features(doc)
    section.add(Text(summary_text(doc, path), cls="note"))
    if not feats:
        section.add(Text("%s: no features were compared." % path, cls="warning"))
        return
    rows = []
    for f in feats:
        flag = Cell("disagrees", cls="warn") if f["flagged"] else Cell("")
        cells = [Cell(f["name"]), num(f.get("chi2"), lambda x: fmt_fixed(x, 1)), num(f["ndf"], lambda x: "%d" % x),
                 num(f.get("chi2_ndf"), lambda x: fmt_fixed(x, 2)), num(f.get("p_value"), fmt_p),
                 num(f.get("ks_distance"), lambda x: fmt_fixed(x, 4)), num(f.get("ks_p_value"), fmt_p), flag]
        rows.append({"cls": "flagged", "cells": cells} if f["flagged"] else cells)
    missing = [f["name"] for f in feats if (f.get("missing_data") or 0) > 0 or (f.get("missing_mc") or 0) > 0]
    note = "χ²: Pearson, with the MC statistical uncertainty, over the bins of the plots; ndf: the bins that " \
           "count%s. KS: the largest distance of the cumulative distributions in fine bins." % (
               ", less one for the shape normalization" if doc["normalization"] == "shape" else "")
    if missing:
        note += " Missing values (not histogrammed) in: %s." % ", ".join(missing)
    section.add(Table("datamc", "Data / MC agreement per feature, most discrepant first (flag: p-value below %s)" %
                      fmt_g(doc["flag_p_value"], 3),
                      ["feature", "χ²", "ndf", "χ²/ndf", "p-value", "KS distance", "KS p-value", "flag"], rows,
                      note=note))
    order = [f for f in feats if f["flagged"]] + [f for f in feats if not f["flagged"]]
    shown = order[:MAX_PLOTS]
    not_shown = [f["name"] for f in order[MAX_PLOTS:] if f["flagged"]]
    rank = ranking(doc)
    for f in shown:
        fig = feature_plot(ctx, doc, f, rank)
        name = ctx.save(fig, "datamc_%s" % f["name"])
        scale = f.get("mc_scale")
        section.add(Figure(name, "%s%s: events per bin in %d bins of about equal data content (the bins differ "
                                 "in width, so the heights are counts, not densities); MC stacked per sample%s, "
                                 "hatched: its statistical uncertainty; data with √n errors; below, data / MC. "
                                 "χ²/ndf = %s/%d, p = %s." % (
                                     f["name"], " (disagrees)" if f["flagged"] else "", len(f["_data"]),
                                     (" and scaled by %s to the data" % fmt_g(scale, 4))
                                     if doc["normalization"] == "shape" and scale is not None else "",
                                     fmt_fixed(f.get("chi2"), 1), f["ndf"], fmt_p(f.get("p_value")))))
    if not_shown:
        section.add(Text("Not drawn (at most %d plots): the flagged features %s." % (MAX_PLOTS, ", ".join(not_shown)),
                         cls="note"))
