"""Training curves: training and validation loss per epoch (or boosting round), the
validation AUC and the learning rate when recorded."""

import os

import matplotlib.pyplot as plt
import numpy as np

from . import style
from .page import Cell, Figure, Table, fmt_fixed, fmt_g, num


def history_plot(ctx, h):
    x = np.asarray(h["x"], dtype=float)
    has_auc = "validation_auc" in h and np.isfinite(h["validation_auc"]).any()
    lr = h.get("learning_rate")
    varying_lr = lr is not None and np.isfinite(lr).all() and np.ptp(lr) > 0
    if has_auc:
        fig, (ax, bx) = plt.subplots(2, 1, figsize=(8, 8), sharex=True,
                                     gridspec_kw={"height_ratios": [2, 1], "hspace": 0.06})
        fig.subplots_adjust(left=0.14, right=0.86 if varying_lr else 0.96, top=0.97, bottom=0.1)
    else:
        fig, ax = plt.subplots(figsize=(8, 6.5))
        fig.subplots_adjust(left=0.14, right=0.86 if varying_lr else 0.96, top=0.97, bottom=0.13)
        bx = None
    vals = []
    marker = "o" if len(x) <= 40 else None
    if "train_loss" in h:
        ax.plot(x, h["train_loss"], color="#1F77B4", linewidth=2.2, marker=marker, markersize=4, label="Training")
        vals.append(h["train_loss"])
    if "validation_loss" in h:
        ax.plot(x, h["validation_loss"], color="#D62728", linewidth=2.2, linestyle="--", marker=marker,
                markersize=4, label="Validation")
        vals.append(h["validation_loss"])
        v = np.asarray(h["validation_loss"], dtype=float)
        if np.isfinite(v).any():
            best = int(np.nanargmin(v))
            ax.axvline(x[best], color="grey", linestyle=":", linewidth=1.5,
                       label="Best validation (%s %g)" % (h["x_name"], x[best]))
    if varying_lr:
        tx = ax.twinx()
        tx.plot(x, lr, color="#7F7F7F", linewidth=1.2, linestyle="-.")
        tx.set_ylabel("Learning rate (dash-dot)", color="#555555", fontsize=13)
        tx.tick_params(axis="y", colors="#555555", labelsize=12)
        tx.set_ylim(0, float(np.max(lr)) * 1.6)
        ax.tick_params(right=False, which="both")
    allv = np.concatenate([np.asarray(v, float)[np.isfinite(v)] for v in vals]) if vals else np.array([1.0])
    lo, hi = float(allv.min()), float(allv.max())
    pad = 0.05 * (hi - lo if hi > lo else max(abs(hi), 1.0))
    ax.set_ylabel("Loss (weighted)")
    (bx if bx is not None else ax).set_xlabel(h["x_name"].capitalize())
    if len(x) <= 20:
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    texts = ctx.label(ax, ["Training: %s" % h["label"]], energy=False)
    style.arrange_legend(ax, texts, lo - pad, hi + pad)
    ax.set_xlim(x.min() - 0.5 if len(x) < 50 else x.min(), x.max() + 0.5 if len(x) < 50 else x.max())
    if bx is not None:
        a = np.asarray(h["validation_auc"], dtype=float)
        bx.plot(x, a, color="#2CA02C", linewidth=2.2, marker=marker, markersize=4)
        bx.set_ylabel("Validation AUC")
        fin = a[np.isfinite(a)]
        span = max(float(fin.max() - fin.min()), 0.005)
        bx.set_ylim(float(fin.min()) - 0.15 * span, min(1.0, float(fin.max()) + 0.15 * span) + 0.0001)
        bx.yaxis.set_major_locator(plt.MaxNLocator(4))
        fig.align_ylabels([ax, bx])
    return fig


def history_section(ctx, section, histories):
    rows = []
    for h in histories:
        fig = history_plot(ctx, h)
        name = ctx.save(fig, "training_%s" % h["label"])
        section.add(Figure(name, "%s (%s): training and validation loss per %s%s." % (
            h["label"], os.path.basename(h["path"]), h["x_name"],
            ", validation AUC below" if "validation_auc" in h else "")))
        v = h.get("validation_loss")
        best = int(np.nanargmin(v)) if v is not None and np.isfinite(v).any() else None
        auc = None
        if "validation_auc" in h and np.isfinite(h["validation_auc"]).any():
            auc = float(h["validation_auc"][best if best is not None else -1])
        elif "final_validation_auc" in h:
            auc = h["final_validation_auc"]
        rows.append([Cell(h["label"]), num(len(h["x"]), lambda x: "%d" % x),
                     num(float(h["x"][best]) if best is not None else None, lambda x: "%g" % x),
                     num(float(v[best]) if best is not None else None, lambda x: fmt_g(x, 5)),
                     num(float(h["train_loss"][-1]) if "train_loss" in h else None, lambda x: fmt_g(x, 5)),
                     num(auc, lambda x: fmt_fixed(x, 4))])
    section.add(Table("training", "Training summary", ["model", "epochs / rounds", "best", "best validation loss",
                                                       "final training loss", "validation AUC"], rows))
