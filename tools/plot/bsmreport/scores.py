"""Classifier scores: normalised shapes per class (test split, with the training split
as an overtraining check), the stacked distribution at the luminosity with data, and
ROC curves of several score files overlaid."""

import fnmatch
import math
import os

import matplotlib.pyplot as plt
import numpy as np

from . import draw, style
from .features import model_label, processes_of, strip_tex
from .hists import GroupHist, choose_edges, interp_at, weighted_roc
from .inputs import ReportError, data_lumi_text, signal_model_name, stack_lumi
from .page import Cell, Figure, Table, Text, fmt_count, fmt_fixed, fmt_g, fmt_yield, num

TRAIN, VALIDATION, TEST = 0, 1, 2


def signal_groups(ctx, sf):
    """[(label, [sample indices])] and a sentence saying where they come from."""
    signals = [s for s in sf.samples if s.role == "signal"]
    if ctx.signal_patterns:
        groups = []
        for p in ctx.signal_patterns:
            hit = [s for s in signals if fnmatch.fnmatchcase(s.name, p)]
            if not hit:
                raise ReportError("--signals: pattern '%s' matches no signal sample of %s" % (p, sf.path))
            label = model_label(hit) if len({signal_model_name(s) for s in hit}) == 1 else p.rstrip("_*")
            groups.append((label, [s.index for s in hit]))
        return groups, "signal: the samples matching --signals"
    trained = sf.training_signals()
    if trained:
        hit = [s for s in signals if s.name in trained]
        label = model_label(hit) if len({signal_model_name(s) for s in hit}) == 1 else "signal (training samples)"
        return [(label, [s.index for s in hit])], \
            "signal: the samples the model was trained on (%s)" % ", ".join(trained)
    hit = [s for s in signals]
    if not hit:
        return [], "no signal samples in the file"
    return [("all signal samples", [s.index for s in hit])], "signal: all %d samples with label 1" % len(hit)


class ScoreData:
    """The simulated test/train events of one score file (score, weight, split,
    sample) and the data histogram."""

    def __init__(self, sf, groups):
        self.sf = sf
        self.groups = groups
        samples = sf.samples
        wanted = {s.index for s in samples if s.role == "background"}
        for _, members in groups:
            wanted.update(members)
        parts = {k: [] for k in ("score", "weight", "split", "sample", "mass")}
        self.has_mass = "mass" in sf.f
        for a, b, s in sf.iter_chunks([r for r in sf.runs() if r[2] in wanted]):
            x = np.asarray(sf.read_scores(a, b), dtype=np.float64)
            parts["score"].append(x)
            if self.has_mass:
                parts["mass"].append(sf.f["mass"][a:b].astype(np.float64))
            parts["weight"].append(sf.f["weight"][a:b].astype(np.float64))
            parts["split"].append(sf.f["split"][a:b])
            parts["sample"].append(np.full(b - a, s, dtype=np.int32))
        for k, v in parts.items():
            setattr(self, k, np.concatenate(v) if v else np.array([]))
        bad = ~np.isfinite(self.score)
        if bad.any():
            raise ReportError("%s: %d simulated events have a non-finite score" % (sf.path, int(bad.sum())))
        self.rows = sf.rows_per_sample()
        # Per sample: all rows / test rows, to scale the test split to the full yield.
        test_rows = np.bincount(self.sample[self.split == TEST], minlength=len(samples)) if self.sample.size else \
            np.zeros(len(samples))
        self.test_scale = np.where(test_rows > 0, self.rows / np.maximum(test_rows, 1), 0.0)
        self.is_bkg = np.isin(self.sample, [s.index for s in samples if s.role == "background"])

    def edges(self):
        sf = self.sf
        x = self.score
        if x.size and not sf.is_anomaly and x.min() >= 0 and x.max() <= 1:
            return np.linspace(0, 1, 41), False
        pos = x[x > 0]
        if sf.is_anomaly and pos.size:
            lo, hi = np.quantile(pos, [0.001, 0.999])
            lo = 10 ** math.floor(math.log10(lo))
            hi = 10 ** math.ceil(math.log10(hi))
            return np.logspace(math.log10(lo), math.log10(hi), 41), True
        lo, hi = (np.quantile(x, [0.001, 0.999]) if x.size else (0.0, 1.0))
        if not hi > lo:
            hi = lo + 1
        return np.linspace(lo, hi, 41), False

    def signal_mask(self, members):
        return np.isin(self.sample, members)

    def data_hist(self, edges):
        sf = self.sf
        data = [s.index for s in sf.samples if s.role == "data"]
        if not data or self.rows[data].sum() == 0:
            return None
        h = GroupHist(edges, 1)
        for a, b, s in sf.iter_chunks([r for r in sf.runs() if r[2] in data]):
            h.fill(sf.read_scores(a, b), np.ones(b - a), 0)
        return h.n[0]

    def data_mass_above(self, threshold, edges):
        """Counts of data events with score >= threshold in mass bins, or None."""
        sf = self.sf
        data = [s.index for s in sf.samples if s.role == "data"]
        if not data or self.rows[data].sum() == 0 or not self.has_mass:
            return None
        n = np.zeros(len(edges) - 1)
        for a, b, s in sf.iter_chunks([r for r in sf.runs() if r[2] in data]):
            keep = np.asarray(sf.read_scores(a, b)) >= threshold
            m = sf.f["mass"][a:b][keep]
            n += np.histogram(np.clip(m, edges[0], edges[-1]), edges)[0]
        return n


# The resonant mass the feature set carries (the column the classifiers never see).
MASS_LABELS = {"mll": r"$m_{\ell\ell}$ [GeV]", "dilepton_met": r"$m_{\ell\ell}$ [GeV]", "dijet": r"$m_{JJ}$ [GeV]",
               "mjj": r"$m_{JJ}$ [GeV]"}


def mass_axis_label(sf):
    """From the feature file the scores were predicted from: its mass column or feature set."""
    try:
        import h5py
        with h5py.File(sf.f.attrs["features_file"], "r") as f:
            for key in ("mass_column", "feature_set"):
                v = f.attrs.get(key)
                v = v.decode() if isinstance(v, bytes) else v
                if v in MASS_LABELS:
                    return MASS_LABELS[v]
                if key == "mass_column" and v:
                    return "%s [GeV]" % v
    except (OSError, KeyError):
        pass
    return "Mass [GeV]"


def selected_mass_plot(ctx, d, threshold):
    """The mass spectrum of the events a cut on the score selects (test split scaled
    to the full yield, stacked by process; data above the cut as points): the view
    of analysis C, where the mass is held out of training so a signal shows as a bump."""
    sf = d.sf
    test = (d.split == TEST) & (d.score >= threshold) & np.isfinite(d.mass)
    if not test.any():
        return None, 0.0
    sig_values = d.mass[test & ~d.is_bkg]
    edges = choose_edges("mass", "GeV", d.mass[test & d.is_bkg], signal_values=sig_values)
    data = d.data_mass_above(threshold, edges)
    # Beside data smaller than the MC's luminosity, the MC is drawn at the data's.
    mc_scale, label_lumi = stack_lumi(sf.samples, sf.lumi_ifb, data is not None)
    w = d.weight * d.test_scale[d.sample] * mc_scale
    stack, btotal, sigs = stack_components(ctx, d, d.mass, test, w, edges)
    fig = draw.stack_plot(ctx, edges, stack, data=data, signals=sigs, xlabel=mass_axis_label(sf),
                          ylabel=draw.bin_width_text(edges, "GeV"), logy=True,
                          lumi=label_lumi,
                          extra=["%s output >= %g" % (score_axis_label(sf).split(" output")[0], threshold)])
    return fig, float(btotal.sum())


def score_axis_label(sf):
    if sf.is_anomaly:
        return "Anomaly score (reconstruction MSE)"
    kind = {"mlp": "MLP", "bdt": "BDT"}.get(sf.model_kind, sf.model_kind or "classifier")
    return "%s output (%s)" % (kind, sf.label) if sf.label and sf.label.upper() != kind else "%s output" % kind


def shapes_plot(ctx, d, edges, logx):
    sf = d.sf
    fig, ax = plt.subplots(figsize=(8, 6.5))
    fig.subplots_adjust(left=0.14, right=0.96, top=0.97, bottom=0.13)
    colours = style.LINE_COLOURS
    handles = []
    drawn = []
    for split, ls, alpha, tag in ((TEST, "-", 1.0, "test"), (TRAIN, "none", 1.0, "train")):
        sel = d.split == split
        b = sel & d.is_bkg
        hb = np.histogram(np.clip(d.score[b], edges[0], edges[-1]), edges, weights=d.weight[b])[0]
        tb = hb.sum()
        if tb != 0:
            hb = hb / tb / (np.diff(edges) if not logx else 1.0)
        centres = np.sqrt(edges[1:] * edges[:-1]) if logx else 0.5 * (edges[1:] + edges[:-1])
        drawn.append(hb)
        if split == TEST:
            handles.append(ax.stairs(hb, edges, fill=True, color="#9ecae1", alpha=0.8, label="Background (test)"))
            ax.stairs(hb, edges, color="#2171b5", linewidth=1.2)
        else:
            handles.append(ax.plot(centres, hb, "o", color="#2171b5", markersize=4, label="Background (train)")[0])
        for gi, (label, members) in enumerate(d.groups):
            m = sel & d.signal_mask(members)
            hs = np.histogram(np.clip(d.score[m], edges[0], edges[-1]), edges, weights=d.weight[m])[0]
            ts = hs.sum()
            if ts != 0:
                hs = hs / ts / (np.diff(edges) if not logx else 1.0)
            c = colours[gi % len(colours)]
            drawn.append(hs)
            if split == TEST:
                handles.append(ax.stairs(hs, edges, color=c, linewidth=2.2, label="%s (test)" % label))
            elif gi == 0:
                handles.append(ax.plot(centres, hs, "s", color=c, markersize=4, label="%s (train)" % label)[0])
    ax.set_yscale("log")
    allv = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in drawn]) if drawn else np.array([])
    ymax = float(allv.max()) if allv.size else 1.0
    ymin = max(float(allv.min()) * 0.5, ymax * 1e-6) if allv.size else 1e-3
    if logx:
        ax.set_xscale("log")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(score_axis_label(sf))
    ax.set_ylabel("(1/N) dN / d(output)" if not logx else "Fraction of events / bin")
    texts = ctx.label(ax, ["Test split, weighted"])
    style.arrange_legend(ax, texts, ymin, ymax, log=True, handles=handles)
    return fig


def stack_components(ctx, d, values, keep, w, edges):
    """The simulated events of `keep`, histogrammed in `values`: backgrounds by process
    (smallest yield at the bottom), the signal groups as overlays (scaled), and the
    total background. Values outside the edges go to the first/last bin."""
    samples = d.sf.samples
    procs = processes_of(samples)
    colours = style.process_colours(procs)
    stack = []
    for p in procs:
        members = [s.index for s in samples if s.role == "background" and s.process == p]
        m = keep & np.isin(d.sample, members)
        x = np.clip(values[m], edges[0], edges[-1])
        stack.append({"label": style.process_label(p), "colour": colours[p],
                      "sw": np.histogram(x, edges, weights=w[m])[0], "sw2": np.histogram(x, edges, weights=w[m] ** 2)[0]})
    stack.sort(key=lambda c: c["sw"].sum())
    btotal = np.sum([c["sw"] for c in stack], axis=0) if stack else np.zeros(len(edges) - 1)
    sigs = []
    for gi, (label, members) in enumerate(d.groups):
        m = keep & d.signal_mask(members)
        sw = np.histogram(np.clip(values[m], edges[0], edges[-1]), edges, weights=w[m])[0]
        sc = ctx.signal_scale if ctx.signal_scale > 0 else draw.auto_signal_scale(sw, btotal)
        sigs.append({"label": label, "sw": sw, "colour": ["#D62728", "#7B2CBF", "#1F77B4"][gi % 3], "scale": sc})
    return stack, btotal, sigs


def stacked_plot(ctx, d, edges, logx):
    sf = d.sf
    test = d.split == TEST
    data = d.data_hist(edges)
    # Beside data smaller than the MC's luminosity, the MC is drawn at the data's.
    mc_scale, label_lumi = stack_lumi(sf.samples, sf.lumi_ifb, data is not None)
    w = d.weight * d.test_scale[d.sample] * mc_scale
    stack, btotal, sigs = stack_components(ctx, d, d.score, test, w, edges)
    fig = draw.stack_plot(ctx, edges, stack, data=data, signals=sigs, xlabel=score_axis_label(sf),
                          ylabel="Events / bin" if logx else draw.bin_width_text(edges, ""), logy=True, logx=logx,
                          lumi=label_lumi,
                          extra=["MC: test split"])
    return fig, float(btotal.sum()), (None if data is None else float(data.sum()))


def roc_plot(ctx, curves, title_extra=()):
    """curves: [(label, roc dict)] -> signal efficiency vs background efficiency
    (log x), AUC in the legend."""
    fig, ax = plt.subplots(figsize=(8, 6.5))
    fig.subplots_adjust(left=0.14, right=0.96, top=0.97, bottom=0.13)
    xmin = 1.0
    for i, (label, roc) in enumerate(curves):
        eb, es = np.asarray(roc["background_efficiency"]), np.asarray(roc["signal_efficiency"])
        m = eb > 0
        useful = m & (es >= 0.01)
        if useful.any():
            xmin = min(xmin, float(eb[useful].min()))
        ls = ["-", "--", "-.", ":"][(i // len(style.LINE_COLOURS)) % 4]
        ax.plot(eb[m], es[m], color=style.LINE_COLOURS[i % len(style.LINE_COLOURS)], linestyle=ls, linewidth=2.2,
                label="%s (AUC = %.4f)" % (label, roc["auc"]))
    lo = 10 ** math.floor(math.log10(max(xmin, 1e-6)))
    grid = np.logspace(math.log10(lo), 0, 200)
    ax.plot(grid, grid, color="grey", linestyle=":", linewidth=1.5, label="Random (AUC = 0.5)")
    ax.set_xscale("log")
    ax.set_xlim(lo, 1.0)
    ax.set_xlabel(r"Background efficiency $\varepsilon_{\mathrm{B}}$")
    ax.set_ylabel(r"Signal efficiency $\varepsilon_{\mathrm{S}}$")
    ax.axhline(1.0, color="black", linewidth=0.6, linestyle="-", alpha=0.4)
    texts = ctx.label(ax, list(title_extra))
    style.arrange_legend(ax, texts, 0.0, 1.0)
    ax.set_yticks(np.linspace(0, 1, 6))
    return fig


def working_points(roc):
    es, eb = np.asarray(roc["signal_efficiency"]), np.asarray(roc["background_efficiency"])
    out = {}
    for target in (0.5, 0.8):
        b = interp_at(target, np.maximum.accumulate(es), eb)
        out["rej%d" % int(target * 100)] = (1.0 / b) if b > 0 else None
    out["sig_at_b1"] = interp_at(0.01, np.maximum.accumulate(eb), es)
    return out


def score_section(ctx, section, score_files):
    curves = []
    table = []
    for sf in score_files:
        groups, where = signal_groups(ctx, sf)
        d = ScoreData(sf, groups)
        edges, logx = d.edges()
        if not groups:
            section.add(Text("%s (%s): no signal samples, so no signal shapes and no ROC curve." %
                             (sf.label, sf.path), cls="warning"))
        n_test = int(np.sum(d.split == TEST))
        if n_test == 0:
            ctx.warnings.append("%s: no simulated events in the test split (split == 2): score shapes and ROC "
                                "curves are empty" % sf.path)
            continue
        fig = shapes_plot(ctx, d, edges, logx)
        name = ctx.save(fig, "scores_shapes_%s" % sf.label)
        section.add(Figure(name, "%s (%s): normalised score distributions of the test split (split = 2, "
                                 "analysis weights) for the background (all simulated background samples) and "
                                 "the signal; markers: the training split, to spot overtraining. %s." %
                           (sf.label, os.path.basename(sf.path), where)))
        fig, btot, dtot = stacked_plot(ctx, d, edges, logx)
        name = ctx.save(fig, "scores_stacked_%s" % sf.label)
        section.add(Figure(name, "%s: score distribution at the luminosity: simulated backgrounds of the test split, "
                                 "each sample scaled by (all its events) / (its test events), stacked by process; "
                                 "pseudo-data (all events) as points. Total background %s%s%s." %
                           (sf.label, fmt_yield(btot), "" if dtot is None else ", data %s" % fmt_count(dtot),
                            "" if dtot is None else data_lumi_text(sf.samples, sf.lumi_ifb))))
        if d.has_mass and not sf.is_anomaly and groups and np.isfinite(d.mass).any():
            fig, bsel = selected_mass_plot(ctx, d, 0.5)
            if fig is not None:
                name = ctx.save(fig, "mass_selected_%s" % sf.label)
                section.add(Figure(name, "%s: the mass spectrum of the events with score >= 0.5 (the mass is not a "
                                         "training input), simulated backgrounds of the test split scaled to the "
                                         "full yield and stacked by process (total %s), pseudo-data above the same "
                                         "cut as points%s." % (sf.label, fmt_yield(bsel),
                                                              data_lumi_text(sf.samples, sf.lumi_ifb))))
        bkg = d.is_bkg & (d.split == TEST)
        for label, members in groups:
            s = (d.split == TEST) & d.signal_mask(members)
            roc = weighted_roc(d.score[s], d.weight[s], d.score[bkg], d.weight[bkg])
            if roc is None:
                ctx.warnings.append("%s: no ROC curve for %s (no weighted signal or background in the test split)" %
                                    (sf.path, strip_tex(label)))
                continue
            curve_label = sf.label if len(groups) == 1 else "%s, %s" % (sf.label, label)
            curves.append((curve_label, roc))
            wp = working_points(roc)
            table.append([Cell(sf.label), Cell(strip_tex(label)), num(int(s.sum()), lambda x: "%d" % x),
                          num(int(bkg.sum()), lambda x: "%d" % x), num(roc["auc"], lambda x: fmt_fixed(x, 4)),
                          num(wp["rej50"], lambda x: fmt_g(x, 4)), num(wp["rej80"], lambda x: fmt_g(x, 4)),
                          num(wp["sig_at_b1"], lambda x: fmt_fixed(x, 3))])
    if curves:
        fig = roc_plot(ctx, curves, ["Test split, weighted"])
        name = ctx.save(fig, "roc")
        section.add(Figure(name, "ROC curves from the score files (test split, analysis weights; signal: see the "
                                 "table; background: all samples with role background, data excluded). The "
                                 "dotted line is a random classifier."))
        section.add(Table("roc", "ROC summary (test split, weighted): AUC, background rejection 1/εB at a signal "
                                 "efficiency of 50% and 80%, and the signal efficiency at εB = 1%",
                          ["scores", "signal", "signal events", "background events", "AUC", "1/εB at εS = 0.5",
                           "1/εB at εS = 0.8", "εS at εB = 0.01"], table))
