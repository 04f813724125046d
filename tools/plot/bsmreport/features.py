"""Feature distributions (stacked backgrounds by process, pseudo-data, data/MC ratio,
signal overlays), yields, cutflow and sample tables."""

import fnmatch
import math
import os

import numpy as np

from . import draw, style
from .hists import GroupHist, choose_edges
from .inputs import ReportError, data_lumi_text, mc_to_data_lumi, signal_model_name, stack_lumi
from .page import Cell, Figure, Table, Text, fmt_count, fmt_g, fmt_yield, num

FEATURE_LABELS = {
    "met": r"$E_{\mathrm{T}}^{\mathrm{miss}}$",
    "met_phi": r"$\phi(E_{\mathrm{T}}^{\mathrm{miss}})$",
    "mll": r"$m_{\ell\ell}$",
    "ptll": r"$p_{\mathrm{T}}^{\ell\ell}$",
    "mt_llmet": r"$m_{\mathrm{T}}(\ell\ell, E_{\mathrm{T}}^{\mathrm{miss}})$",
    "met_significance": r"$E_{\mathrm{T}}^{\mathrm{miss}}$ significance",
    "mt2": r"$m_{\mathrm{T2}}$",
    "lep1_pt": r"Leading lepton $p_{\mathrm{T}}$",
    "lep2_pt": r"Subleading lepton $p_{\mathrm{T}}$",
    "lep1_eta": r"Leading lepton $\eta$",
    "lep2_eta": r"Subleading lepton $\eta$",
    "lep1_phi": r"Leading lepton $\phi$",
    "lep2_phi": r"Subleading lepton $\phi$",
    "dphi_ll": r"$|\Delta\phi_{\ell\ell}|$",
    "dphi_ll_met": r"$|\Delta\phi(\ell\ell, E_{\mathrm{T}}^{\mathrm{miss}})|$",
    "dr_ll": r"$\Delta R_{\ell\ell}$",
    "n_jets": "Number of jets",
    "n_bjets": "Number of $b$-tagged jets",
    "ht": r"$H_{\mathrm{T}}$",
    "jet1_pt": r"Leading jet $p_{\mathrm{T}}$",
    "jet2_pt": r"Subleading jet $p_{\mathrm{T}}$",
    "jet1_eta": r"Leading jet $\eta$",
    "jet2_eta": r"Subleading jet $\eta$",
    "channel_flag": r"Channel (0: $ee$, 1: $\mu\mu$, 2: $e\mu$)",
    "mjj": r"$m_{JJ}$",
    "mj1": r"$m_{J_1}$ (heavier jet)",
    "mj2": r"$m_{J_2}$ (lighter jet)",
    "tau21_j1": r"$\tau_{21}$ of $J_1$",
    "tau21_j2": r"$\tau_{21}$ of $J_2$",
    "deta_jj": r"$|\Delta\eta_{JJ}|$",
}

DEFAULT_FEATURES = [["met", "mll", "mt_llmet", "met_significance", "mt2"],
                    ["mjj", "mj1", "mj2", "tau21_j1", "tau21_j2", "deta_jj"]]

# Selection thresholds stored as feature-file attributes: the first bin starts there.
THRESHOLD_ATTRS = {"met": "met_min_GeV", "mjj": "mjj_min_GeV"}


def axis_label(name, unit):
    base = FEATURE_LABELS.get(name, name.replace("_", " "))
    return "%s [%s]" % (base, unit) if unit else base


SELECTION_TEXT = {"dilepton_met": r"$\ell\ell + E_{\mathrm{T}}^{\mathrm{miss}}$ selection",
                  "dijet": "Dijet selection"}


def selection_text(feature_set):
    if not feature_set:
        return ""
    return SELECTION_TEXT.get(str(feature_set), "%s selection" % str(feature_set).replace("_", " "))


def default_features(names):
    for candidates in DEFAULT_FEATURES:
        chosen = [n for n in candidates if n in names]
        if chosen:
            return chosen
    return names[:6]


def model_label(samples):
    """A readable name of a signal model from its samples' parameters."""
    a = samples[0].attrs
    if all(s.attrs.get("m_zprime_GeV") == a.get("m_zprime_GeV") for s in samples) and "m_zprime_GeV" in a:
        parts = []
        for k in ("theory", "dark_sector"):
            if k in a:
                parts.append(str(a[k]))
        text = (" ".join(parts) + ", " if parts else "") + "m(Z') = %g GeV" % float(a["m_zprime_GeV"])
        states = sorted({str(s.attrs.get("final_state")) for s in samples if s.attrs.get("final_state")})
        if len(states) == 1:
            text += " (%s)" % {"ee": "$ee$", "mumu": r"$\mu\mu$"}.get(states[0], states[0])
        return text
    if len(samples) == 1:
        return samples[0].name
    return signal_model_name(samples[0])


def select_signal_groups(samples, patterns, yields, what):
    """[(label, [sample indices])] of the signals to overlay: one group per --signals
    pattern, or by default the signal model with the largest yield and the heaviest
    model of the same theory (ee and mumu summed)."""
    signals = [s for s in samples if s.role == "signal"]
    if not signals:
        return []
    if patterns:
        groups = []
        for p in patterns:
            hit = [s for s in signals if fnmatch.fnmatchcase(s.name, p)]
            if not hit:
                raise ReportError("--signals: pattern '%s' matches no signal sample of %s (signals: %s%s)" %
                                  (p, what, ", ".join(s.name for s in signals[:6]),
                                   ", ..." if len(signals) > 6 else ""))
            groups.append((model_label(hit) if len({signal_model_name(s) for s in hit}) == 1 else p.rstrip("_*"),
                           [s.index for s in hit]))
        return groups
    models = {}
    for s in signals:
        models.setdefault(signal_model_name(s), []).append(s)
    total = {m: sum(yields[s.index] for s in ss) for m, ss in models.items()}
    first = max(total, key=lambda m: (total[m], m))
    chosen = [first]
    a = models[first][0].attrs
    if "m_zprime_GeV" in a:
        same = [m for m, ss in models.items() if m != first and
                all(ss[0].attrs.get(k) == a.get(k) for k in ("theory", "dark_sector"))]
        if same:
            chosen.append(max(same, key=lambda m: (float(models[m][0].attrs.get("m_zprime_GeV", 0)), m)))
    if len(chosen) == 1:
        rest = sorted((m for m in total if m != first), key=lambda m: -total[m])
        chosen += rest[:1]
    return [(model_label(models[m]), [s.index for s in models[m]]) for m in chosen]


def processes_of(samples):
    """Background processes in order of first appearance."""
    out = []
    for s in samples:
        if s.role == "background" and s.process not in out:
            out.append(s.process)
    return out


def sample_yields(ff):
    """Per sample: rows, sum of weights and sum of squared weights (all splits)."""
    n = len(ff.samples)
    sw, sw2 = np.zeros(n), np.zeros(n)
    rows = np.zeros(n, dtype=np.int64)
    wds = ff.f["weight"]
    for a, b, s in ff.iter_chunks(ff.runs()):
        w = wds[a:b].astype(np.float64)
        if not np.all(np.isfinite(w)):
            bad = a + int(np.argmax(~np.isfinite(w)))
            raise ReportError("%s: weight[%d] is not finite" % (ff.path, bad))
        sw[s] += w.sum()
        sw2[s] += (w * w).sum()
        rows[s] += b - a
    return rows, sw, sw2


def feature_plots(ctx, section, ff, requested, yields):
    names = ff.feature_names
    if requested:
        missing = [r for r in requested if r not in names]
        if missing:
            raise ReportError("--plot-features: %s not in %s (features: %s)" %
                              (", ".join(missing), ff.path, ", ".join(names)))
        chosen = requested
    else:
        chosen = default_features(names)
    cols = [names.index(c) for c in chosen]
    rows, sw, sw2 = yields
    samples = ff.samples
    procs = processes_of(samples)
    sig_groups = select_signal_groups(samples, ctx.signal_patterns, sw, ff.path)
    # Group of every sample: processes 0..P-1, data P, signal groups P+1...
    P = len(procs)
    group = np.full(len(samples), -1, dtype=np.int64)
    for s in samples:
        if s.role == "background":
            group[s.index] = procs.index(s.process)
        elif s.role == "data":
            group[s.index] = P
    for gi, (_, members) in enumerate(sig_groups):
        for i in members:
            if group[i] < 0:
                group[i] = P + 1 + gi
    ngroups = P + 1 + len(sig_groups)
    runs = [r for r in ff.runs() if group[r[2]] >= 0]
    # Binning from the simulated events (up to 100k rows per sample).
    bkg_vals = [[] for _ in cols]
    sig_vals = [[] for _ in cols]
    for a, b, s in runs:
        if samples[s].role == "data":
            continue
        X = ff.values[a:min(b, a + 100000)]
        target = bkg_vals if samples[s].role == "background" else sig_vals
        for k, c in enumerate(cols):
            target[k].append(X[:, c])
    edges = []
    for k, name in enumerate(chosen):
        v = np.concatenate(bkg_vals[k]) if bkg_vals[k] else np.array([])
        sv = np.concatenate(sig_vals[k]) if sig_vals[k] else np.array([])
        hint = ff.attrs.get(THRESHOLD_ATTRS.get(name, ""), None)
        if hint is not None and (not np.isfinite(float(hint)) or float(hint) <= 0):
            hint = None
        edges.append(choose_edges(name, ff.feature_units[cols[k]], v, lo_hint=hint, signal_values=sv))
    hists = [GroupHist(e, ngroups) for e in edges]
    wds = ff.f["weight"]
    # Beside data smaller than the MC's luminosity, the MC is drawn at the data's.
    mc_scale, label_lumi = stack_lumi(samples, ff.lumi_ifb, any(s.role == "data" for s in samples))
    for a, b, s in ff.iter_chunks(runs):
        X = ff.values[a:b]
        w = wds[a:b] if samples[s].role == "data" else wds[a:b] * mc_scale
        g = int(group[s])
        for k, c in enumerate(cols):
            hists[k].fill(X[:, c], w, g)
    # Background processes stacked smallest first (bottom), by total yield.
    proc_yield = np.zeros(P)
    for s in samples:
        if s.role == "background":
            proc_yield[procs.index(s.process)] += sw[s.index]
    order = sorted(range(P), key=lambda p: proc_yield[p])
    colours = style.process_colours(procs)
    has_data = any(s.role == "data" and rows[s.index] > 0 for s in samples)
    # One scale per signal model for all features (the best S/B over the features).
    scales = []
    for gi in range(len(sig_groups)):
        if ctx.signal_scale > 0:
            scales.append(ctx.signal_scale)
            continue
        need = [draw.auto_signal_scale(h.sw[P + 1 + gi], h.sw[:P].sum(axis=0)) for h in hists]
        scales.append(min(need) if need else 1.0)
    sig_colours = ["#D62728", "#7B2CBF", "#1F77B4", "#2CA02C", "#8C564B", "#E377C2"]
    for k, name in enumerate(chosen):
        h = hists[k]
        unit = ff.feature_units[cols[k]]
        stack = [{"label": style.process_label(procs[p]), "colour": colours[procs[p]], "sw": h.sw[p], "sw2": h.sw2[p]}
                 for p in order]
        sigs = [{"label": lab, "sw": h.sw[P + 1 + gi], "colour": sig_colours[gi % len(sig_colours)],
                 "scale": scales[gi]} for gi, (lab, _) in enumerate(sig_groups)]
        integer = np.allclose(np.diff(h.edges), 1.0) and np.allclose(h.edges[0] % 1, 0.5)
        fig = draw.stack_plot(ctx, h.edges, stack, data=h.n[P] if has_data else None, signals=sigs,
                              xlabel=axis_label(name, unit), ylabel=draw.bin_width_text(h.edges, unit),
                              logy=True, extra=[selection_text(ff.attrs.get("feature_set"))],
                              integer_ticks=integer,
                              lumi=label_lumi)
        fname = ctx.save(fig, "feature_%s" % name)
        tot_b = float(h.sw[:P].sum())
        tot_d = float(h.n[P].sum()) if has_data else None
        cap = ("%s: simulated backgrounds stacked by process (weighted to the luminosity), %s; hatched: MC "
               "statistical uncertainty; dashed: signal models, scaled as labelled. First and last bins include "
               "the under- and overflow. Total background %s%s%s." %
               (name, "pseudo-data as points with Poisson (Garwood) errors and the data/MC ratio below"
                if has_data else "no data in the file", fmt_yield(tot_b),
                (", data %s" % fmt_count(tot_d)) if tot_d is not None else "",
                data_lumi_text(samples, ff.lumi_ifb) if has_data else ""))
        section.add(Figure(fname, cap))
    return sig_groups, procs


def yields_table(section, ff, yields, procs, sig_groups):
    rows, sw, sw2 = yields
    samples = ff.samples
    out = []
    bt, bt2, bn = 0.0, 0.0, 0
    for p in procs:
        members = [s.index for s in samples if s.role == "background" and s.process == p]
        y, y2, n = sw[members].sum(), sw2[members].sum(), int(rows[members].sum())
        bt, bt2, bn = bt + y, bt2 + y2, bn + n
        out.append({"cls": "bkg", "cells": [Cell(p), Cell(", ".join(samples[i].name for i in members)),
                                            num(n, fmt_count), num(y, error=math.sqrt(y2))]})
    out.append({"cls": "total", "cells": [Cell("total background"), Cell(""), num(bn, fmt_count),
                                          num(bt, error=math.sqrt(bt2))]})
    data = [s.index for s in samples if s.role == "data"]
    mcs = mc_to_data_lumi(samples, ff.lumi_ifb)
    if data:
        nd = int(rows[data].sum())
        out.append({"cls": "data", "cells": [Cell("data"), Cell(", ".join(samples[i].name for i in data)),
                                             num(nd, fmt_count), num(float(sw[data].sum()), error=math.sqrt(nd))]})
        ratio = nd / (bt * mcs) if bt else None  # data / background at the data's luminosity
        rerr = ratio * math.sqrt(1 / max(nd, 1) + bt2 / bt ** 2) if ratio else None
        out.append({"cls": "ratio", "cells": [Cell("data / background"), Cell(""), Cell(""),
                                              num(ratio, lambda x: "%.4f" % x, error=rerr)]})
    for lab, members in sig_groups:
        y, y2 = sw[members].sum(), sw2[members].sum()
        out.append({"cls": "signal", "cells": [Cell("signal: " + strip_tex(lab)),
                                               Cell(", ".join(samples[i].name for i in members)),
                                               num(int(rows[members].sum()), fmt_count), num(y, error=math.sqrt(y2))]})
    section.add(Table("yields", "Yields after the selection of %s (weighted to the luminosity; ± MC statistical "
                                "uncertainty; data: ± sqrt(N))%s" %
                      (os.path.basename(ff.path),
                       "" if not data or mcs == 1.0 else
                       "; the data are %.3g fb^-1, the data / background ratio compares them with the background "
                       "at that luminosity" % (mcs * ff.lumi_ifb)),
                      ["process", "samples", "MC events", "yield"], out))
    sig = [s for s in samples if s.role == "signal"]
    if sig:
        srows = [[Cell(s.name), Cell(", ".join("%s=%s" % (k, v) for k, v in s.parameters.items()
                                                if k in ("theory", "dark_sector", "m_zprime_GeV", "m_chi_GeV",
                                                         "final_state", "m_A_GeV", "m_B_GeV", "m_C_GeV"))),
                  num(int(rows[s.index]), fmt_count), num(sw[s.index], error=math.sqrt(sw2[s.index]))] for s in sig]
        section.add(Table("signal-yields", "Yields of all %d signal samples after the selection" % len(sig),
                          ["sample", "parameters", "MC events", "yield"], srows, collapsed=True))


def strip_tex(label):
    return (label.replace("$ee$", "ee").replace(r"$\mu\mu$", "mumu")
            .replace("$", "").replace("\\", ""))


def process_map_for_cutflow(doc, path, ff=None, ev=None):
    """name -> process for the cutflow samples: from the feature file (which must list
    the same samples), else the event file, else the feature file named in the JSON,
    else the sample names themselves."""
    names = [s["name"] for s in doc["samples"]]
    if ff is not None:
        if names != ff.sample_names:
            diff = sorted(set(names) ^ set(ff.sample_names))
            raise ReportError("%s: its samples differ from those of the feature file %s (%s)" %
                              (path, ff.path, ", ".join(diff[:5]) if diff else "same names, other order"))
        return {s.name: s.process for s in ff.samples}, None
    if ev is not None:
        m = {s.name: s.process for s in ev.samples}
        if all(n in m for n in names):
            return m, None
    ref = doc.get("feature_file")
    if ref:
        cand = os.path.join(os.path.dirname(os.path.abspath(path)), os.path.basename(str(ref)))
        if os.path.isfile(cand):
            try:
                import h5py
                from .inputs import plain
                with h5py.File(cand, "r") as f:
                    g = f["samples"]
                    m = {n: str(plain(g[n].attrs.get("process", n))) for n in names if n in g}
                if len(m) == len(names):
                    return m, None
            except Exception:  # noqa: BLE001 - best effort: fall back to the sample names
                pass
    return {n: n for n in names}, "process attributes unknown (no feature or event file given): one row per sample"


def check_cutflow_matches(doc, path, ff):
    """The cutflow must list the feature file's samples, with as many events passing
    the last cut as the file has rows, or it belongs to another extraction."""
    names = [s["name"] for s in doc["samples"]]
    if names != ff.sample_names:
        diff = sorted(set(names) ^ set(ff.sample_names))
        raise ReportError("%s: its samples differ from those of the feature file %s (%s)" %
                          (path, ff.path, ", ".join(diff[:5]) if diff else "same names, other order"))
    rows = ff.rows_per_sample()
    for i, s in enumerate(doc["samples"]):
        if int(s["raw"][-1]) != int(rows[i]):
            raise ReportError("%s: sample '%s' passes the last cut with %d events here but has %d rows in the "
                              "feature file %s: the cutflow belongs to another extraction" %
                              (path, s["name"], int(s["raw"][-1]), int(rows[i]), ff.path))


def cutflow_tables(section, doc, path, process_of, note, sig_groups_names):
    cuts = doc["cuts"]
    samples = doc["samples"]
    procs = []
    for s in samples:
        if s["role"] == "background" and process_of[s["name"]] not in procs:
            procs.append(process_of[s["name"]])
    rows = []
    total = np.zeros(len(cuts))
    for p in procs:
        v = np.sum([s["weighted"] for s in samples if s["role"] == "background" and process_of[s["name"]] == p],
                   axis=0)
        total += v
        rows.append({"cells": [Cell(p)] + [num(x) for x in v]})
    rows.append({"cls": "total", "cells": [Cell("total background")] + [num(x) for x in total]})
    data = [s for s in samples if s["role"] == "data"]
    if data:
        v = np.sum([s["raw"] for s in data], axis=0)
        rows.append({"cls": "data", "cells": [Cell("data")] + [num(x, fmt_count) for x in v]})
    for label, names in sig_groups_names:
        v = np.sum([s["weighted"] for s in samples if s["name"] in names], axis=0)
        rows.append({"cls": "signal", "cells": [Cell("signal: " + strip_tex(label))] + [num(x) for x in v]})
    sigs = [s for s in samples if s["role"] == "signal"]
    if sigs:
        v = np.sum([s["weighted"] for s in sigs], axis=0)
        rows.append({"cls": "signal", "cells": [Cell("all %d signal samples" % len(sigs))] + [num(x) for x in v]})
    eff = [Cell("background efficiency (cumulative)")] + [
        num(total[i] / total[0] if total[0] else None, lambda x: "%.4f" % x) for i in range(len(cuts))]
    rows.append({"cls": "eff", "cells": eff})
    section.add(Table("cutflow", "Cutflow (%s): weighted yields per process after each cut; data: events" %
                      os.path.basename(path), ["process"] + list(cuts), rows, note=note))
    detail = [[Cell(s["name"]), Cell(s["role"])] + [num(x, fmt_count) for x in s["raw"]] + [num(s["weighted"][-1])]
              for s in samples]
    section.add(Table("cutflow-raw", "Cutflow per sample: raw events after each cut and the final weighted yield",
                      ["sample", "role"] + list(cuts) + ["yield (last cut)"], detail, collapsed=True))


def event_samples_table(section, ev):
    ys = ev.expected_yields()
    rows = []
    for s, (n, y, e) in zip(ev.samples, ys):
        a = s.attrs
        cls = {"data": "data", "signal": "signal"}.get(s.role)
        rows.append({"cls": cls, "cells": [
            Cell(s.name), Cell(s.role), Cell(str(a.get("process", s.process))),
            num(a.get("dsid"), lambda x: "%d" % x) if s.role != "data" else Cell(""),
            num(a.get("cross_section_pb"), lambda x: fmt_g(x, 4)) if s.role != "data" else Cell(""),
            num(a.get("k_factor"), lambda x: fmt_g(x, 3)) if s.role != "data" else Cell(""),
            num(a.get("filter_efficiency"), lambda x: fmt_g(x, 3)) if s.role != "data" else Cell(""),
            num(a.get("n_generated"), fmt_count), num(n, fmt_count), num(y, error=e)]})
    bkg = [r for r, s in zip(rows, ev.samples) if s.role != "signal"]
    sig = [r for r, s in zip(rows, ev.samples) if s.role == "signal"]
    header = ["sample", "role", "process", "DSID", "σ × BR [pb]", "k-factor", "filter eff.", "generated", "stored",
              "expected yield"]
    tb = sum(y for (n, y, e), s in zip(ys, ev.samples) if s.role == "background")
    data_lumi = mc_to_data_lumi(ev.samples, ev.lumi_ifb) * (ev.lumi_ifb or 0)
    section.add(Table("event-samples", "Samples of the event file %s (expected yield at %g fb⁻¹ after the "
                                       "preselection; total background %s%s)" %
                      (os.path.basename(ev.path), ev.lumi_ifb or 0, fmt_yield(tb),
                       "; the data are %.3g fb⁻¹" % data_lumi if data_lumi and data_lumi != ev.lumi_ifb else ""),
                      header, bkg))
    if sig:
        section.add(Table("event-signals", "The %d signal samples of the event file" % len(sig), header, sig,
                          collapsed=True))
    info = ", ".join("%s = %s" % (k, ev.attrs[k]) for k in ("channel", "description", "seed", "preselection",
                                                            "generator", "bsmhunt_version") if k in ev.attrs)
    section.add(Text(info, cls="note"))
