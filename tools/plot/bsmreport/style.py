"""Plot style of the bsmhunt report: ATLAS-like conventions (ticks inside on all
sides, experiment label top left, luminosity line, readable fonts) with matplotlib's
Agg backend, and atomic PNG writing."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FONT_SIZE = 14
DPI = 110

# Colour-blind-safe palette (Okabe-Ito + Tableau extras) in a fixed order: the same
# process gets the same colour in every plot of a report.
PALETTE = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
           "#999999", "#8C564B", "#17BECF", "#BCBD22", "#7F7F7F"]
LINE_COLOURS = ["#D62728", "#1F77B4", "#2CA02C", "#9467BD", "#FF7F0E", "#8C564B", "#E377C2",
                "#17BECF", "#BCBD22", "#7F7F7F"]

# Known background processes of the built-in generator: label and colour.
PROCESS_STYLE = {
    "drell_yan": (r"$Z/\gamma^{*}\to\ell\ell$", "#56B4E9"),
    "ttbar": (r"$t\bar{t}$", "#E69F00"),
    "diboson": ("Diboson", "#009E73"),
    "w_jets": (r"$W$+jets (fakes)", "#F0E442"),
    "single_top": ("Single top", "#D55E00"),
    "qcd_dijet": ("QCD multijet", "#56B4E9"),
    "qcd": ("QCD multijet", "#56B4E9"),
}


# Sample-name prefixes (before the first '_') of known processes: samples known only by
# name (data/MC and anomaly plots) take the process's colour family.
PREFIX_PROCESS = {
    "dy": "drell_yan", "zjets": "drell_yan", "zll": "drell_yan", "ttbar": "ttbar", "tt": "ttbar",
    "ww": "diboson", "wz": "diboson", "zz": "diboson", "diboson": "diboson", "vv": "diboson",
    "wjets": "w_jets", "singletop": "single_top", "st": "single_top", "qcd": "qcd",
}


def sample_family(name):
    """The colour family of a sample known only by name: its known process, else the
    prefix before the first '_'."""
    prefix = name.split("_", 1)[0]
    return PREFIX_PROCESS.get(prefix.lower(), prefix)


def setup():
    plt.rcParams.update({
        "font.size": FONT_SIZE,
        "axes.labelsize": FONT_SIZE + 2,
        "axes.titlesize": FONT_SIZE + 1,
        "xtick.labelsize": FONT_SIZE,
        "ytick.labelsize": FONT_SIZE,
        "legend.fontsize": FONT_SIZE - 1,
        "legend.frameon": False,
        "xtick.direction": "in",
        "ytick.direction": "in",
        "xtick.top": True,
        "ytick.right": True,
        "xtick.minor.visible": True,
        "ytick.minor.visible": True,
        "xtick.major.size": 7,
        "ytick.major.size": 7,
        "xtick.minor.size": 3.5,
        "ytick.minor.size": 3.5,
        "axes.linewidth": 1.1,
        "lines.linewidth": 2.0,
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
        "axes.formatter.use_mathtext": True,
        "axes.formatter.limits": (-5, 6),
        "mathtext.default": "regular",
        "hatch.linewidth": 0.6,
    })


def process_label(process):
    return PROCESS_STYLE.get(process, (process.replace("_", " "), None))[0]


def process_colours(processes):
    """One colour per process: the known ones keep theirs, others take the palette in
    order, never reusing a colour already taken."""
    used = {PROCESS_STYLE[p][1] for p in processes if p in PROCESS_STYLE}
    free = [c for c in PALETTE if c not in used]
    out = {}
    for p in processes:
        if p in PROCESS_STYLE:
            out[p] = PROCESS_STYLE[p][1]
        else:
            out[p] = free.pop(0) if free else "#AAAAAA"
    return out


def energy_text(sqrt_s_GeV):
    if sqrt_s_GeV is None:
        sqrt_s_GeV = 13000.0
    tev = sqrt_s_GeV / 1000.0
    return r"$\sqrt{s}$ = %g TeV" % tev


def lumi_text(lumi_ifb, sqrt_s_GeV=None):
    text = energy_text(sqrt_s_GeV)
    if lumi_ifb is not None:
        text += r", $L$ = %g fb$^{-1}$" % round(float(lumi_ifb), 3)
    return text


def experiment_label(ax, lumi_ifb=None, sqrt_s_GeV=None, extra=(), x=0.04, y=0.95, status="simulation",
                     energy=True):
    """'bsmhunt simulation' in ATLAS style (bold italic name), the energy/luminosity
    line and optional extra lines, top left inside the axes. Returns the texts."""
    t1 = ax.text(x, y, "bsmhunt", transform=ax.transAxes, fontsize=FONT_SIZE + 3, fontweight="bold",
                 fontstyle="italic", va="top", ha="left")
    t2 = ax.annotate(" " + status, xy=(1, 0), xycoords=t1, fontsize=FONT_SIZE + 3, va="bottom", ha="left")
    lines = ([lumi_text(lumi_ifb, sqrt_s_GeV)] if energy else []) + [e for e in extra if e]
    t3 = ax.text(x, y - 0.075, "\n".join(lines), transform=ax.transAxes, fontsize=FONT_SIZE, va="top", ha="left",
                 linespacing=1.35)
    return [t1, t2, t3]


def _axes_bbox(artist, ax, renderer):
    return artist.get_window_extent(renderer).transformed(ax.transAxes.inverted())


def arrange_legend(ax, texts, content_lo, content_hi, log=False, gap=0.03, **legend_kw):
    """Draws the legend top right; if it collides with the experiment label
    `texts`, moves it under the label in two columns. Then sets the y range so that the content
    (content_lo..content_hi) stays below both (the label and legend never cover
    data). Returns the legend.

    The extents are measured without drawing the figure: the axes' place is fixed
    (subplots_adjust, no layout engine) and the label and legend sit in axes
    coordinates, so ticks and data do not move them. Three full draws per plot were
    two thirds of the report's time."""
    fig = ax.figure
    kw = dict(loc="upper right", fontsize=FONT_SIZE - 2, labelspacing=0.3, handlelength=1.8, borderaxespad=0.5)
    kw.update(legend_kw)
    r = fig.canvas.get_renderer()
    boxes = [_axes_bbox(t, ax, r) for t in texts if t.get_text()]

    def overlaps(lb):
        return any(lb.x0 < b.x1 + 0.01 and b.x0 < lb.x1 and lb.y0 < b.y1 and b.y0 < lb.y1 for b in boxes)

    # Top right; else two columns under the label (fonts stay >= 12 pt).
    label_bottom = min((b.y0 for b in boxes), default=1.0)
    tries = [dict(), dict(loc="upper left", bbox_to_anchor=(0.025, label_bottom - 0.01),
                          ncol=max(kw.get("ncol", 1), 2), columnspacing=1.0)]
    for t in tries:
        k = dict(kw)
        k.update(t)
        leg = ax.legend(**k)
        lb = _axes_bbox(leg, ax, r)
        if not overlaps(lb):
            break
        leg.remove()
    else:
        leg = ax.legend(**k)
        lb = _axes_bbox(leg, ax, r)
    bottom = min([lb.y0] + [b.y0 for b in boxes]) - gap
    bottom = max(bottom, 0.25)
    if log:
        lo = max(content_lo, 1e-300)
        hi = max(content_hi, lo * 10)
        span = np.log10(hi) - np.log10(lo)
        ax.set_ylim(lo, 10 ** (np.log10(lo) + span / bottom))
    else:
        if not np.isfinite(content_hi) or content_hi <= content_lo:
            content_hi = content_lo + 1.0
        ax.set_ylim(content_lo, content_lo + (content_hi - content_lo) / bottom)
    return leg


def log_headroom(ax, lo, hi, fraction=0.55):
    """Log-y limits so that the content [lo, hi] fills the lower `fraction` of the
    axes, leaving room for the label and legend above."""
    lo = max(lo, 1e-300)
    hi = max(hi, lo * 10)
    span = np.log10(hi) - np.log10(lo)
    ax.set_ylim(lo, 10 ** (np.log10(lo) + span / fraction))


def linear_headroom(ax, hi, fraction=0.62, lo=0.0):
    if not np.isfinite(hi) or hi <= lo:
        hi = lo + 1.0
    ax.set_ylim(lo, lo + (hi - lo) / fraction)


def save(fig, path):
    """Writes the figure to a temporary name beside `path` and renames it, so the
    report directory never holds a half-written PNG."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, ".%s.%d.tmp.png" % (name, os.getpid()))
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
