"""Weighted histograms (sum w, sum w^2 per group, flows folded into the edge bins),
binning choices and Poisson intervals."""

import math

import numpy as np

try:
    from scipy.stats import chi2 as _chi2
except ImportError:  # pragma: no cover - scipy is optional
    _chi2 = None


class GroupHist:
    """sum w and sum w^2 of `groups` histograms with the same edges. Values below the
    first edge go to the first bin, above the last to the last bin (so every event
    is counted and the plot's total is the yield); NaN values are not counted."""

    def __init__(self, edges, groups):
        self.edges = np.asarray(edges, dtype=np.float64)
        self.nb = len(self.edges) - 1
        self.groups = groups
        self.sw = np.zeros((groups, self.nb))
        self.sw2 = np.zeros((groups, self.nb))
        self.n = np.zeros((groups, self.nb))

    def bin_index(self, x):
        x = np.asarray(x, dtype=np.float64)
        idx = np.searchsorted(self.edges, x, side="right") - 1
        return np.clip(idx, 0, self.nb - 1), np.isfinite(x)

    def fill(self, x, w, group):
        idx, ok = self.bin_index(x)
        w = np.asarray(w, dtype=np.float64)
        if np.isscalar(group) or np.ndim(group) == 0:
            g = int(group)
            idx, w = idx[ok], w[ok]
            self.sw[g] += np.bincount(idx, weights=w, minlength=self.nb)
            self.sw2[g] += np.bincount(idx, weights=w * w, minlength=self.nb)
            self.n[g] += np.bincount(idx, minlength=self.nb)
            return
        group = np.asarray(group)
        keep = ok & (group >= 0)
        flat = group[keep].astype(np.int64) * self.nb + idx[keep]
        size = self.groups * self.nb
        w = w[keep]
        self.sw += np.bincount(flat, weights=w, minlength=size).reshape(self.groups, self.nb)
        self.sw2 += np.bincount(flat, weights=w * w, minlength=size).reshape(self.groups, self.nb)
        self.n += np.bincount(flat, minlength=size).reshape(self.groups, self.nb)


def nice_width(span, target_bins=40):
    if not span > 0:
        return 1.0
    raw = span / target_bins
    exp = math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        w = m * 10 ** exp
        if w >= raw:
            return w
    return 10 ** (exp + 1)


# Binning of known features: (lo, hi, width); None: from the distribution.
KNOWN_BINS = {
    "met": (None, None, None),
    "mll": (0.0, None, None),
    "lep1_eta": (-2.5, 2.5, 0.2), "lep2_eta": (-2.5, 2.5, 0.2),
    "dphi_ll": (0.0, math.pi, math.pi / 32), "dphi_ll_met": (0.0, math.pi, math.pi / 32),
    "dr_ll": (0.0, 5.0, 0.125),
    "tau21_j1": (0.0, 1.0, 0.025), "tau21_j2": (0.0, 1.0, 0.025),
    "deta_jj": (0.0, 1.3, 0.05),
}


def choose_edges(name, unit, values, lo_hint=None, signal_values=None):
    """Edges for one feature from samples of its simulated background values (and
    optionally of the signals shown): integer-valued features get one bin per
    integer; others ~40 bins of a round width from the 0.1% quantile (or the
    selection threshold `lo_hint`) to the 99.8% quantile of the background or the
    90% quantile of the signals, whichever is higher."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    sv = np.asarray(signal_values if signal_values is not None else [], dtype=np.float64)
    sv = sv[np.isfinite(sv)]
    if name in KNOWN_BINS and KNOWN_BINS[name][2] is not None:
        lo, hi, w = KNOWN_BINS[name]
        return np.linspace(lo, hi, int(round((hi - lo) / w)) + 1)
    if v.size == 0:
        v = sv
    if v.size == 0:
        return np.linspace(0.0, 1.0, 21)
    both = np.concatenate([v[:200000], sv[:200000]])
    distinct = np.unique(both)
    if distinct.size <= 25 and np.all(distinct == np.round(distinct)):
        lo, hi = float(distinct.min()), float(distinct.max())
        return np.arange(lo - 0.5, hi + 1.5, 1.0)
    if unit == "rad" or name.endswith("_phi"):
        return np.linspace(-math.pi, math.pi, 33)
    qlo, qhi = np.quantile(v, [0.001, 0.998])
    if sv.size:
        qlo = min(qlo, float(np.quantile(sv, 0.001)))
        qhi = max(qhi, float(np.quantile(sv, 0.9)))
    lo = float(qlo)
    if lo_hint is not None:
        lo = float(lo_hint)
    elif KNOWN_BINS.get(name, (None,))[0] is not None:
        lo = KNOWN_BINS[name][0]
    elif qlo >= 0 and qlo < 0.15 * qhi:
        lo = 0.0
    hi = float(qhi)
    if not hi > lo:
        hi = lo + 1.0
    w = nice_width(hi - lo, 40)
    lo = math.floor(lo / w + 1e-9) * w if lo_hint is None else lo
    hi = lo + math.ceil((hi - lo) / w - 1e-9) * w
    return np.linspace(lo, hi, int(round((hi - lo) / w)) + 1)


def poisson_interval(n):
    """68.3% central (Garwood) interval of Poisson counts n: (lower error, upper
    error). Without scipy: sqrt(n) (and 1.84 upward for n = 0)."""
    n = np.asarray(n, dtype=np.float64)
    if _chi2 is not None:
        alpha = 1 - 0.682689492
        lo = np.where(n > 0, _chi2.ppf(alpha / 2, 2 * np.maximum(n, 1e-300)) / 2, 0.0)
        hi = _chi2.ppf(1 - alpha / 2, 2 * (n + 1)) / 2
        return n - lo, hi - n
    s = np.sqrt(n)
    return s, np.where(n > 0, s, 1.84)


def weighted_roc(score_sig, w_sig, score_bkg, w_bkg):
    """Signal and background efficiencies of the cut 'score >= t' for every distinct
    score t (descending), from weighted events, and the AUC (trapezoid rule over
    (eps_b, eps_s), starting at (0, 0)). Ties are cut together."""
    s = np.concatenate([score_sig, score_bkg]).astype(np.float64)
    ws = np.concatenate([w_sig, np.zeros(len(score_bkg))])
    wb = np.concatenate([np.zeros(len(score_sig)), w_bkg])
    order = np.argsort(-s, kind="mergesort")
    s, ws, wb = s[order], ws[order], wb[order]
    cs, cb = np.cumsum(ws), np.cumsum(wb)
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1] if len(s) else np.array([], dtype=int)
    ts, tb = cs[-1] if len(cs) else 0.0, cb[-1] if len(cb) else 0.0
    if not (ts > 0 and tb > 0):
        return None
    eff_s = np.r_[0.0, cs[last] / ts]
    eff_b = np.r_[0.0, cb[last] / tb]
    thr = np.r_[np.inf, s[last]]
    auc = float(np.sum(np.diff(eff_b) * (eff_s[1:] + eff_s[:-1]) / 2))
    return {"threshold": thr, "signal_efficiency": eff_s, "background_efficiency": eff_b, "auc": auc}


def interp_at(x, xp, fp):
    """fp at x along a non-decreasing xp (first crossing)."""
    xp, fp = np.asarray(xp), np.asarray(fp)
    i = np.searchsorted(xp, x)
    if i <= 0:
        return float(fp[0])
    if i >= len(xp):
        return float(fp[-1])
    x0, x1 = xp[i - 1], xp[i]
    if x1 == x0:
        return float(fp[i])
    return float(fp[i - 1] + (fp[i] - fp[i - 1]) * (x - x0) / (x1 - x0))
