#!/usr/bin/python3
"""bsmhunt report: turns the outputs of a bsmhunt job (event, feature, image and
score files, training histories, significance scans, upper limits, classification
efficiencies, sideband fits, bump hunts, data/MC comparisons, anomaly searches) into
PNG plots and an index.html page with the plots and tables.

    /usr/bin/python3 tools/plot/report.py --output-dir report \\
        --events events.h5 --features features.h5 --cutflow features.h5.cutflow.json \\
        --scores MLP=mlp_scores.h5 --scores BDT=bdt_scores.h5 \\
        --history MLP=mlp.h5.history.csv --significance significance.json --limits limits.json \\
        --fit fit.json --bumphunt bumphunt.json --images images.h5 \\
        --efficiencies cnn_efficiencies.json --efficiencies mlp_efficiencies.json \\
        --datamc datamc.json --anomaly ae_rmm=ae_rmm_anomaly.json --anomaly ae_flat=ae_flat_anomaly.json

Every input is optional; the page shows what was given. Unreadable or mismatched
input stops the report with exit status 2 and a message naming the file.
"""

import argparse
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bsmreport import inputs, style  # noqa: E402
from bsmreport.draw import Context  # noqa: E402
from bsmreport.inputs import ReportError  # noqa: E402
from bsmreport.page import Section, Text, render  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="report.py",
        description="Plots (PNG) and an index.html page from the HDF5/JSON outputs of a bsmhunt job. "
                    "Every input is optional; the page shows what was given.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--output-dir", required=True, metavar="DIR",
                   help="directory for the PNG files and index.html (created if missing; files in it are replaced)")
    p.add_argument("--title", default="bsmhunt report", help="title of the page")
    p.add_argument("--events", metavar="EVENTS.h5", default=None,
                   help="event file of bsmhunt generate: sample table, luminosity and sqrt(s) for the labels")
    p.add_argument("--features", metavar="FEATURES.h5", default=None,
                   help="feature file of bsmhunt extract/import: stacked feature distributions and yields")
    p.add_argument("--cutflow", metavar="FEATURES.h5.cutflow.json", default=None,
                   help="cutflow JSON written by bsmhunt extract (default with --features: the feature file's "
                        "/cutflow tables)")
    p.add_argument("--scores", action="append", default=[], metavar="LABEL=SCORES.h5",
                   help="score file of bsmhunt predict with its legend label; repeatable (e.g. MLP=a.h5 BDT=b.h5)")
    p.add_argument("--history", action="append", default=[], metavar="LABEL=MODEL.history.csv",
                   help="training history (MODEL.h5.history.csv, or the model file MODEL.h5 itself, which also "
                        "holds BDT loss curves); repeatable")
    p.add_argument("--significance", action="append", default=[], metavar="SIG.json",
                   help="output of bsmhunt significance (its curves are read from SIG.h5 beside it when present); "
                        "repeatable (e.g. one per classifier)")
    p.add_argument("--limits", action="append", default=[], metavar="LIMITS.json",
                   help="output of bsmhunt limits: observed and expected upper limits with their bands vs m(Z') "
                        "per theory, dark sector and final state, the pulls and impact ranking of the model with "
                        "the best expected limit, the table of limits; repeatable")
    p.add_argument("--fit", action="append", default=[], metavar="FIT.json",
                   help="output of bsmhunt fit (sideband fits, or a peak fit of bsmhunt fit --peak); repeatable")
    p.add_argument("--bumphunt", metavar="BH.json", default=None, help="output of bsmhunt bumphunt")
    p.add_argument("--images", metavar="IMAGES.h5", default=None,
                   help="output of bsmhunt images: the raw eta-phi sum-pT image of one event per sample (up to 4, "
                        "znunu and wtaunu first) beside its four compressed 60x60 network inputs")
    p.add_argument("--efficiencies", action="append", default=[], metavar="EFF.json",
                   help="output of bsmhunt efficiencies (labelled by the file name before _efficiencies.json): "
                        "threshold, per-slice and selection tables, gains, precision and recall vs threshold; "
                        "repeatable (e.g. one per classifier, compared in a table)")
    p.add_argument("--datamc", metavar="DATAMC.json", default=None,
                   help="output of bsmhunt datamc: data/MC agreement per feature (chi2/ndf, KS), the table sorted by "
                        "p-value and the distributions of the flagged and most discrepant features")
    p.add_argument("--anomaly", action="append", default=[], metavar="LABEL=ANOMALY.json",
                   help="output of bsmhunt anomaly with its label (default: the file name before _anomaly.json); "
                        "repeatable, one per score: search table, score distributions, ROC curves and one "
                        "comparison table (labels supervised_<signal> form the supervised bound)")
    p.add_argument("--plot-features", default=None, metavar="f1,f2,...",
                   help="features to plot (default: met, mll, mt_llmet, met_significance, mt2 when present; "
                        "else mjj, mj1, mj2, tau21_j1, tau21_j2, deta_jj; else the first six)")
    p.add_argument("--signals", default=None, metavar="pattern,...",
                   help="signal samples to show, comma-separated glob patterns, one overlay per pattern (default: "
                        "features: the largest-yield signal model and the heaviest of its theory; scores: the "
                        "signals the model was trained on; significance: the four most significant per channel)")
    p.add_argument("--signal-scale", type=float, default=0.0,
                   help="factor for the signal overlays of the feature plots (0: a power of ten chosen so the "
                        "signal is visible)")
    p.add_argument("--mass-label", default=None,
                   help="x-axis label of the fitted spectra (--fit, --bumphunt); matplotlib mathtext allowed "
                        "(default: '$m_{JJ}$ [GeV]', 'Mass [GeV]' for peak fits)")
    p.add_argument("--spectrum-lumi-ifb", type=float, default=None,
                   help="luminosity (fb^-1) shown on the --fit and --bumphunt plots (default: the luminosity of the "
                        "other inputs, when any gives one; 0: none shown)")
    p.add_argument("--max-fit-regions", type=int, default=6,
                   help="signal regions drawn per fit file (the most significant; the table lists all)")
    a = p.parse_args(argv)
    if a.max_fit_regions < 1:
        p.error("--max-fit-regions must be >= 1")
    if a.signal_scale < 0:
        p.error("--signal-scale must be >= 0")
    return a


def split_list(text):
    return [t.strip() for t in text.split(",") if t.strip()] if text else []


def describe_row_file(x):
    a = x.attrs
    bits = ["%d events" % x.rows, "%d samples" % len(x.samples)]
    for k in ("feature_set", "model_kind", "model", "luminosity_ifb", "bsmhunt_version"):
        if k in a:
            bits.append("%s = %s" % (k, a[k]))
    return ", ".join(bits)


def file_tags(paths):
    """Prefixes of the figure names and table ids of several files of one kind: none
    for one file, else the file's stem (numbered when stems repeat)."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    return ["" if len(paths) == 1 else (stem if stems.count(stem) == 1 else "%s_%d" % (stem, i + 1))
            for i, stem in enumerate(stems)]


def consistent_lumi(values):
    """The luminosity all given sources agree on: [(value, path)]."""
    known = [(v, p) for v, p in values if v is not None]
    if not known:
        return None
    v0, p0 = known[0]
    for v, p in known[1:]:
        if abs(v - v0) > 1e-6 * max(abs(v0), 1.0):
            raise ReportError("%s: luminosity %g fb^-1 differs from %g fb^-1 of %s" % (p, v, v0, p0))
    return v0


def build(args):
    style.setup()
    plot_features = split_list(args.plot_features)
    patterns = split_list(args.signals)
    # 1. Open and validate every input before anything is drawn.
    ev = inputs.EventFile(args.events) if args.events else None
    ff = inputs.FeatureFile(args.features) if args.features else None
    scores = []
    for spec in args.scores:
        label, path = inputs.parse_labelled(spec, "--scores")
        sf = inputs.ScoreFile(path, label)
        if ff is not None:
            if sf.sample_names != ff.sample_names:
                diff = sorted(set(sf.sample_names) ^ set(ff.sample_names))
                raise ReportError("%s: its samples differ from those of the feature file %s (%s)" %
                                  (path, ff.path, ", ".join(diff[:5]) if diff else "same names, other order"))
            if sf.rows != ff.rows:
                raise ReportError("%s: %d events, but the feature file %s has %d: scores of another feature file" %
                                  (path, sf.rows, ff.path, ff.rows))
        scores.append(sf)
    histories = [inputs.load_history(p, l) for l, p in (inputs.parse_labelled(s, "--history") for s in args.history)]
    cutflow = inputs.load_cutflow(args.cutflow) if args.cutflow else None
    sigs = [(p, inputs.load_significance(p)) for p in args.significance]
    lims = [(p, inputs.load_limits(p)) for p in args.limits]
    fits = [(p, inputs.load_fit(p)) for p in args.fit]
    bh = inputs.load_bumphunt(args.bumphunt) if args.bumphunt else None
    from bsmreport import anomaly, datamc, efficiencies, images, limits
    imf = images.ImageFile(args.images) if args.images else None
    effs = [(label, p, efficiencies.load_efficiencies(p))
            for label, p in zip(efficiencies.unique_labels(args.efficiencies), args.efficiencies)]
    dm = datamc.load_datamc(args.datamc) if args.datamc else None
    anoms = anomaly.load_files(args.anomaly)
    if cutflow is not None and ff is not None:
        # Same samples, and the same events passing the last cut, or it is another extraction.
        from bsmreport.features import check_cutflow_matches
        check_cutflow_matches(cutflow, args.cutflow, ff)
    if patterns:
        sources = [(ff.path, [x.name for x in ff.samples if x.role == "signal"])] if ff else []
        sources += [(sf.path, [x.name for x in sf.samples if x.role == "signal"]) for sf in scores]
        for path, doc in sigs:
            sources.append((path, [x["name"] for c in doc["channels"] for x in c.get("signals", [])]))
        for path, names in sources:
            inputs.match_patterns(patterns, names, path)
    if not any([ev, ff, scores, histories, cutflow, sigs, lims, fits, bh, imf, effs, dm, anoms]):
        raise ReportError("nothing to report: give at least one input (--features, --scores, --fit, ...; see --help)")
    lumi = consistent_lumi([(ev.lumi_ifb if ev else None, args.events),
                            (ff.lumi_ifb if ff else None, args.features),
                            ] + [(inputs.finite_or_none(doc.get("lumi_ifb")), p) for p, doc in sigs] +
                           # limits set at the data's luminosity name the MC's as mc_lumi_ifb
                           [(inputs.finite_or_none(doc.get("mc_lumi_ifb", doc.get("lumi_ifb"))), p) for p, doc in lims] +
                           [(sf.lumi_ifb, sf.path + " (its feature file)") for sf in scores])
    sqrt_s = ev.sqrt_s_GeV if ev and ev.sqrt_s_GeV else None
    if sqrt_s is None:
        for _, doc in fits:
            if inputs.finite_or_none(doc.get("sqrt_s_GeV")):
                sqrt_s = float(doc["sqrt_s_GeV"])
                break

    os.makedirs(args.output_dir, exist_ok=True)
    ctx = Context(args.output_dir, lumi, sqrt_s, patterns, args.signal_scale)
    ctx.mass_label = args.mass_label
    if args.spectrum_lumi_ifb is not None:
        ctx.spectrum_lumi = args.spectrum_lumi_ifb if args.spectrum_lumi_ifb > 0 else None
    input_rows = []
    if ev:
        input_rows.append(("events", ev.path, "channel %s, %d samples, L = %s fb^-1" %
                           (ev.attrs.get("channel", "?"), len(ev.samples), ev.lumi_ifb)))
    if ff:
        input_rows.append(("features", ff.path, describe_row_file(ff)))
    if cutflow:
        input_rows.append(("cutflow", args.cutflow, "%d cuts, %d samples" % (len(cutflow["cuts"]),
                                                                            len(cutflow["samples"]))))
    if dm:
        input_rows.append(("datamc", args.datamc, datamc.describe(dm)))
    for sf in scores:
        input_rows.append(("scores: " + sf.label, sf.path, describe_row_file(sf)))
    for label, p, doc in anoms:
        input_rows.append(("anomaly: " + label, p, anomaly.describe(doc)))
    for h in histories:
        input_rows.append(("history: " + h["label"], h["path"], "%d %ss" % (len(h["x"]), h["x_name"])))
    for p, doc in sigs:
        input_rows.append(("significance", p, "%d channels, scores %s%s" % (
            len(doc["channels"]), doc.get("scores_file", "?"),
            (", curves from " + doc["_h5_path"]) if doc.get("_h5") else ", no HDF5 beside it")))
    for p, doc in lims:
        input_rows.append(("limits", p, limits.describe(doc)))
    for p, doc in fits:
        if inputs.is_peak_fit(doc):
            input_rows.append(("fit", p, inputs.describe_peak_fit(doc)))
            continue
        input_rows.append(("fit", p, "%d bins, %d signal regions" % (len(doc["spectrum"]["counts"]),
                                                                     len(doc.get("signal_regions") or []))))
    if imf:
        input_rows.append(("images", imf.path, imf.describe()))
    for label, p, doc in effs:
        input_rows.append(("efficiencies: " + label, p, "%s, threshold %s (%s), scores %s" % (
            efficiencies.reference_text(doc), efficiencies.fmt_threshold(doc["threshold"]),
            doc.get("threshold_choice", "?"), doc.get("scores_file", "?"))))
    if bh:
        input_rows.append(("bumphunt", args.bumphunt, "%d signal regions x %d efficiencies" % (
            len(bh["regions"]), len(bh.get("efficiencies") or []))))

    # 2. Sections.
    from bsmreport import features, fits as fitplots, history, scores as scoreplots, significance

    sections = []
    if ev:
        s = Section("samples", "Samples")
        features.event_samples_table(s, ev)
        sections.append(s)
    sig_groups = []
    if ff:
        s = Section("features", "Feature distributions and yields")
        yields = features.sample_yields(ff)
        sig_groups, procs = features.feature_plots(ctx, s, ff, plot_features, yields)
        features.yields_table(s, ff, yields, procs, sig_groups)
        sections.append(s)
    cf_doc, cf_path = cutflow, args.cutflow
    if cf_doc is None and ff is not None:
        cf_doc, cf_path = ff.cutflow(), ff.path + ":/cutflow"
    if cf_doc is not None:
        s = Section("cutflow", "Cutflow")
        pmap, note = features.process_map_for_cutflow(cf_doc, cf_path, ff, ev)
        src = ff if ff is not None else ev
        if src is not None and inputs.mc_to_data_lumi(src.samples, src.lumi_ifb) != 1.0:
            note = ((note + " ") if note else "") + (
                "The data are %.3g fb⁻¹; the MC yields are at %.3g fb⁻¹ (generate --data-lumi-ifb)." %
                (inputs.mc_to_data_lumi(src.samples, src.lumi_ifb) * src.lumi_ifb, src.lumi_ifb))
        names = [(lab, [ff.samples[i].name for i in members]) for lab, members in sig_groups] if ff else []
        features.cutflow_tables(s, cf_doc, cf_path, pmap, note, names)
        sections.append(s)
    if dm:
        s = Section("datamc", "Data / MC agreement")
        datamc.datamc_section(ctx, s, dm, args.datamc)
        sections.append(s)
    if imf:
        s = Section("images", "Eta-phi images")
        images.image_section(ctx, s, imf)
        sections.append(s)
    if scores:
        s = Section("scores", "Classifier scores and ROC curves")
        scoreplots.score_section(ctx, s, scores)
        sections.append(s)
    if anoms:
        s = Section("anomaly", "Anomaly search")
        anomaly.anomaly_section(ctx, s, anoms)
        sections.append(s)
    if sigs:
        s = Section("significance", "Expected significance")
        tags = file_tags([p for p, _ in sigs])
        if len(sigs) > 1:
            significance.comparison_section(ctx, s, [(t, p, doc) for t, (p, doc) in zip(tags, sigs)])
        for tag, (p, doc) in zip(tags, sigs):
            significance.significance_section(ctx, s, doc, p, tag)
        sections.append(s)
    if lims:
        s = Section("limits", "Upper limits")
        for tag, (p, doc) in zip(file_tags([p for p, _ in lims]), lims):
            limits.limits_section(ctx, s, doc, p, tag)
        sections.append(s)
    if effs:
        s = Section("efficiencies", "Classification tables")
        efficiencies.efficiencies_section(ctx, s, effs)
        sections.append(s)
    if fits:
        kinds = {inputs.is_peak_fit(doc) for _, doc in fits}
        s = Section("fits", "Fits" if len(kinds) > 1 else ("Peak fits" if True in kinds else "Sideband fits"))
        peaks = []
        for p, doc in fits:
            if inputs.is_peak_fit(doc):
                peaks.append((p, doc, fitplots.peak_section(ctx, s, doc, p)))
            else:
                fitplots.fit_section(ctx, s, doc, p, args.max_fit_regions)
        fitplots.peak_tables(s, peaks)
        sections.append(s)
    if bh:
        s = Section("bumphunt", "Bump hunt")
        fitplots.bumphunt_section(ctx, s, bh, args.bumphunt)
        sections.append(s)
    if histories:
        s = Section("training", "Training")
        history.history_section(ctx, s, histories)
        sections.append(s)
    if ctx.warnings:
        s = Section("notes", "Notes")
        for w in ctx.warnings:
            s.add(Text(w))
        sections.append(s)

    # 3. The page, written last and renamed into place.
    page = render(args.title, sections, input_rows, [])
    out = os.path.join(args.output_dir, "index.html")
    tmp = os.path.join(args.output_dir, ".index.html.%d.tmp" % os.getpid())
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(tmp, out)
    return out, ctx.written


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        out, written = build(args)
    except ReportError as e:
        print("report.py: error: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001 - an unexpected failure is a bug: show it whole
        traceback.print_exc()
        print("report.py: internal error (the traceback above); please report it with the command line",
              file=sys.stderr)
        return 1
    print("report.py: wrote %s and %d plots in %s" % (out, len(written), args.output_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
