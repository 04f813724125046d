"""Readers of the bsmhunt outputs the report shows, with validation: every problem
raises ReportError naming the file and what is wrong (docs/formats.md,
docs/training.md, docs/fit.md)."""

import csv
import fnmatch
import json
import math
import os

import numpy as np

try:
    import h5py
except ImportError as e:  # pragma: no cover
    raise SystemExit("report.py: error: h5py is required (apt-get install python3-h5py): %s" % e)

# Rows per read when streaming large files (features: ~100 MB per chunk at 26 columns).
CHUNK_ROWS = 1 << 20


class ReportError(Exception):
    """An input the report cannot use; the message names the file."""


def text(value):
    """An HDF5 attribute or string element as str."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return text(value[()])
    return str(value)


def plain(value):
    """An HDF5 attribute as a plain Python value (str, int, float, list)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.shape == ():
            return plain(value[()])
        return [plain(v) for v in value.tolist()]
    return value


def strings(dataset):
    return [text(v) for v in dataset[()]]


def finite_or_none(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def parse_labelled(spec, option):
    """'LABEL=FILE' (or just FILE: the label is the file's stem)."""
    if "=" in spec and not os.path.exists(spec):
        label, path = spec.split("=", 1)
        if not label or not path:
            raise ReportError("%s: expected LABEL=FILE, got '%s'" % (option, spec))
        return label, path
    stem = os.path.basename(spec)
    for suffix in (".history.csv", ".csv", ".h5", ".hdf5"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return stem, spec


def check_readable(path, what):
    if not os.path.exists(path):
        raise ReportError("%s: no such file (the %s)" % (path, what))
    if os.path.isdir(path):
        raise ReportError("%s: is a directory, expected the %s" % (path, what))
    if not os.access(path, os.R_OK):
        raise ReportError("%s: not readable (the %s)" % (path, what))


def open_h5(path, what):
    check_readable(path, what)
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise ReportError("%s: not an HDF5 file, expected the %s (%s)" % (path, what, str(e).split("(")[0].strip()))


def check_format(f, path, expected, what):
    fmt = text(f.attrs["format"]) if "format" in f.attrs else None
    if fmt != expected:
        found = "no 'format' attribute" if fmt is None else "format is '%s'" % fmt
        raise ReportError("%s: %s, expected '%s' (%s)" % (path, found, expected, what))
    if "complete" in f.attrs and int(f.attrs["complete"]) != 1:
        raise ReportError("%s: complete = %s: the job that wrote it was cut off" % (path, plain(f.attrs["complete"])))
    if "version" in f.attrs and int(f.attrs["version"]) > 1:
        raise ReportError("%s: format version %s is newer than this report understands (1)" %
                          (path, plain(f.attrs["version"])))


def load_json(path, what, expected_format=None):
    check_readable(path, what)
    try:
        with open(path, "r", encoding="utf-8") as fh:
            doc = json.load(fh)
    except UnicodeDecodeError:
        raise ReportError("%s: not a text file, expected the %s (JSON)" % (path, what))
    except json.JSONDecodeError as e:
        raise ReportError("%s: not valid JSON, expected the %s (line %d column %d: %s)" %
                          (path, what, e.lineno, e.colno, e.msg))
    if not isinstance(doc, dict):
        raise ReportError("%s: expected a JSON object (the %s), found %s" % (path, what, type(doc).__name__))
    if expected_format is not None:
        fmt = doc.get("format")
        accepted = expected_format if isinstance(expected_format, (list, tuple)) else [expected_format]
        if fmt not in accepted:
            found = "no 'format' key" if fmt is None else "format is '%s'" % fmt
            raise ReportError("%s: %s, expected '%s' (%s)" % (path, found, accepted[0], what))
    return doc


def require_key(doc, key, path, where="", kind=None):
    if not isinstance(doc, dict) or key not in doc:
        raise ReportError("%s: missing key '%s'%s" % (path, key, (" in " + where) if where else ""))
    value = doc[key]
    if kind is not None and not isinstance(value, kind):
        raise ReportError("%s: '%s'%s should be a %s" % (path, key, (" in " + where) if where else "",
                                                       kind.__name__ if isinstance(kind, type) else "list"))
    return value


def _at(key, where):
    return "'%s'%s" % (key, (" in " + where) if where else "")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_version(doc, path, understood=1):
    """A JSON output's 'version', when given, must be one this report reads."""
    v = doc.get("version")
    if v is not None and (not _is_number(v) or v > understood):
        raise ReportError("%s: format version %r is newer than this report understands (%d)" % (path, v, understood))


def require_number(doc, key, path, where="", null=False, integer=False):
    """doc[key] as a float (an int with integer=True); None for null when null=True."""
    value = require_key(doc, key, path, where)
    if value is None and null:
        return None
    if not _is_number(value) or (integer and not float(value).is_integer()):
        what = "an integer" if integer else "a number"
        raise ReportError("%s: %s should be %s%s, found %s" % (path, _at(key, where), what, " or null" if null else "",
                                                              json.dumps(value)[:40]))
    return int(value) if integer else float(value)


def require_bool(doc, key, path, where=""):
    value = require_key(doc, key, path, where)
    if not isinstance(value, bool):
        raise ReportError("%s: %s should be true or false, found %s" % (path, _at(key, where), json.dumps(value)[:40]))
    return value


def require_strings(doc, key, path, where=""):
    value = require_key(doc, key, path, where, list)
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise ReportError("%s: %s[%d] should be a string, found %s" % (path, _at(key, where), i,
                                                                          json.dumps(v)[:40]))
    return value


def numbers_of(value, path, what, length=None, length_text="", null=False):
    """A JSON list of numbers (nulls as NaN when null=True) as a float array."""
    if not isinstance(value, list):
        raise ReportError("%s: %s should be a list of numbers" % (path, what))
    if length is not None and len(value) != length:
        raise ReportError("%s: %s has %d values, expected %d%s" % (path, what, len(value), length,
                                                                  (" (%s)" % length_text) if length_text else ""))
    for i, v in enumerate(value):
        if not (_is_number(v) or (null and v is None)):
            raise ReportError("%s: %s[%d] should be a number%s, found %s" % (path, what, i, " or null" if null else "",
                                                                            json.dumps(v)[:40]))
    return np.array([np.nan if v is None else float(v) for v in value], dtype=np.float64)


def require_numbers(doc, key, path, where="", length=None, length_text="", null=False):
    value = require_key(doc, key, path, where, list)
    return numbers_of(value, path, _at(key, where), length, length_text, null)


def require_edges(doc, key, path, where=""):
    """Bin edges: at least two, strictly increasing."""
    edges = require_numbers(doc, key, path, where)
    if len(edges) < 2:
        raise ReportError("%s: %s needs at least two bin edges, found %d" % (path, _at(key, where), len(edges)))
    bad = np.flatnonzero(np.diff(edges) <= 0)
    if bad.size:
        i = int(bad[0])
        raise ReportError("%s: %s should increase, but edge %d (%g) is not above edge %d (%g)" %
                          (path, _at(key, where), i + 1, edges[i + 1], i, edges[i]))
    return edges


# --------------------------------------------------------------------------------------
# Sample tables


class Sample:
    __slots__ = ("name", "index", "role", "process", "attrs")

    def __init__(self, name, index, role, process, attrs):
        self.name, self.index, self.role, self.process, self.attrs = name, index, role, process, attrs

    @property
    def parameters(self):
        skip = {"dsid", "process", "role", "cross_section_pb", "k_factor", "filter_efficiency", "sum_of_weights",
                "n_generated", "n_events", "sample_index", "negative_weight_fraction"}
        return {k: v for k, v in self.attrs.items() if k not in skip}


def read_samples(f, path, names):
    """The /samples/<name> attributes in the order of `names`."""
    if "samples" not in f or not isinstance(f["samples"], h5py.Group):
        raise ReportError("%s: no /samples group" % path)
    group = f["samples"]
    out = []
    for i, name in enumerate(names):
        if name not in group:
            raise ReportError("%s: sample '%s' of sample_names has no /samples/%s group" % (path, name, name))
        attrs = {k: plain(v) for k, v in group[name].attrs.items()}
        role = attrs.get("role")
        if role not in ("background", "signal", "data"):
            raise ReportError("%s: /samples/%s has role %r, expected background, signal or data" % (path, name, role))
        process = attrs.get("process") or name
        if role == "data":
            process = "data"
        out.append(Sample(name, i, role, str(process), attrs))
    return out


def mc_to_data_lumi(samples, file_lumi):
    """Data luminosity / MC luminosity: below 1 when the pseudo-data hold less than the
    MC is normalised to (generate --data-lumi-ifb); 1 without data or luminosities."""
    lumis = [finite_or_none(s.attrs.get("luminosity_ifb")) for s in samples if s.role == "data"]
    lumis = [x for x in lumis if x and x > 0]
    if not lumis or not file_lumi or file_lumi <= 0:
        return 1.0
    return lumis[0] / file_lumi


def stack_lumi(samples, file_lumi, has_data):
    """(MC weight factor, luminosity for the plot label) of a stack drawn beside data:
    the data's luminosity when they are smaller than the MC's, else (1, "default")."""
    s = mc_to_data_lumi(samples, file_lumi) if has_data else 1.0
    return s, (s * file_lumi if s != 1.0 else "default")


def data_lumi_text(samples, file_lumi):
    """' (MC scaled to the data's X fb^-1)' when the data are smaller, else ''."""
    s = mc_to_data_lumi(samples, file_lumi)
    return "" if s == 1.0 else " (MC scaled to the data's %.3g fb^-1 of the MC's %.3g)" % (s * file_lumi, file_lumi)


def signal_model_name(sample):
    """A signal sample's model without its final state: zp_DH_HDS_m130_ee -> zp_DH_HDS_m130."""
    fs = sample.attrs.get("final_state")
    if fs and sample.name.endswith("_" + str(fs)):
        return sample.name[: -len(str(fs)) - 1]
    return sample.name


# --------------------------------------------------------------------------------------
# Row files: feature and score files (one row per selected event)


class RowFile:
    kind = "row file"
    expected_format = None
    value_dataset = None

    def __init__(self, path, label=None):
        self.path = path
        self.label = label
        self.f = open_h5(path, self.kind)
        check_format(self.f, path, self.expected_format, self.kind)
        f = self.f
        for name in (self.value_dataset, "weight", "label", "sample_index", "sample_names", "split"):
            if name not in f or not isinstance(f[name], h5py.Dataset):
                raise ReportError("%s: missing dataset '%s' (%s)" % (path, name, self.kind))
        self.values = f[self.value_dataset]
        self.rows = self.values.shape[0]
        for name in ("weight", "label", "sample_index", "split"):
            if f[name].shape != (self.rows,):
                raise ReportError("%s: '%s' has shape %s, expected (%d,) like '%s'" %
                                  (path, name, f[name].shape, self.rows, self.value_dataset))
        self.sample_names = strings(f["sample_names"])
        self.samples = read_samples(f, path, self.sample_names)
        self.attrs = {k: plain(v) for k, v in f.attrs.items()}
        self._runs = None

    def close(self):
        self.f.close()

    def by_role(self, role):
        return [s for s in self.samples if s.role == role]

    def runs(self):
        """Contiguous row ranges of one sample each, [(start, stop, sample_index)];
        files are written sample by sample, so there are about as many runs as
        samples. Validates the sample indices on the way."""
        if self._runs is not None:
            return self._runs
        runs = []
        nsamples = len(self.samples)
        ds = self.f["sample_index"]
        for start in range(0, self.rows, CHUNK_ROWS):
            idx = ds[start:start + CHUNK_ROWS]
            bad = (idx < 0) | (idx >= nsamples)
            if bad.any():
                row = start + int(np.argmax(bad))
                raise ReportError("%s: sample_index[%d] = %d is outside the %d samples of sample_names" %
                                  (self.path, row, int(idx[row - start]), nsamples))
            cut = np.flatnonzero(np.diff(idx)) + 1
            bounds = np.concatenate([[0], cut, [len(idx)]])
            for a, b in zip(bounds[:-1], bounds[1:]):
                s = int(idx[a])
                if runs and runs[-1][2] == s and runs[-1][1] == start + a:
                    runs[-1] = (runs[-1][0], start + int(b), s)
                else:
                    runs.append((start + int(a), start + int(b), s))
        self._runs = runs
        return runs

    def rows_per_sample(self):
        counts = np.zeros(len(self.samples), dtype=np.int64)
        for a, b, s in self.runs():
            counts[s] += b - a
        return counts

    def iter_chunks(self, runs, max_rows=CHUNK_ROWS):
        """(start, stop, sample_index) pieces of the given runs, at most max_rows long."""
        for a, b, s in runs:
            for start in range(a, b, max_rows):
                yield start, min(b, start + max_rows), s


class FeatureFile(RowFile):
    kind = "feature file (bsmhunt extract / import)"
    expected_format = "bsmhunt.features"
    value_dataset = "features"

    def __init__(self, path, label=None):
        super().__init__(path, label)
        f = self.f
        if self.values.ndim != 2:
            raise ReportError("%s: 'features' has shape %s, expected [events, features]" % (path, self.values.shape))
        if "feature_names" not in f:
            raise ReportError("%s: missing dataset 'feature_names'" % path)
        self.feature_names = strings(f["feature_names"])
        if len(self.feature_names) != self.values.shape[1]:
            raise ReportError("%s: %d feature_names for %d feature columns" %
                              (path, len(self.feature_names), self.values.shape[1]))
        self.feature_units = strings(f["feature_units"]) if "feature_units" in f else [""] * len(self.feature_names)
        if len(self.feature_units) != len(self.feature_names):
            self.feature_units = [""] * len(self.feature_names)
        self.lumi_ifb = finite_or_none(self.attrs.get("luminosity_ifb"))

    def cutflow(self):
        """The /cutflow tables, or None."""
        f = self.f
        if "cutflow" not in f:
            return None
        g = f["cutflow"]
        try:
            cuts = strings(g["cuts"])
            raw = np.asarray(g["raw"][()], dtype=np.float64)
            weighted = np.asarray(g["weighted"][()], dtype=np.float64)
        except KeyError as e:
            raise ReportError("%s: /cutflow lacks %s" % (self.path, e))
        if raw.shape != (len(self.samples), len(cuts)) or weighted.shape != raw.shape:
            raise ReportError("%s: /cutflow tables have shape %s, expected (%d samples, %d cuts)" %
                              (self.path, raw.shape, len(self.samples), len(cuts)))
        return {"cuts": cuts, "samples": [{"name": s.name, "role": s.role, "raw": raw[i].tolist(),
                                           "weighted": weighted[i].tolist()} for i, s in enumerate(self.samples)]}


class ScoreFile(RowFile):
    kind = "score file (bsmhunt predict)"
    expected_format = "bsmhunt.scores"
    value_dataset = "score"

    def __init__(self, path, label=None):
        super().__init__(path, label)
        f = self.f
        if self.values.ndim not in (1, 2):
            raise ReportError("%s: 'score' has shape %s, expected [events] or [events, classes]" %
                              (path, self.values.shape))
        self.score_names = strings(f["score_names"]) if "score_names" in f else ["score"]
        self.model_kind = str(self.attrs.get("model_kind", ""))
        self.column = None
        if self.values.ndim == 2:
            # Multi-class: the last column is taken as the discriminant (the signal
            # class of a binary softmax).
            self.column = self.values.shape[1] - 1
        self.is_anomaly = self.model_kind == "autoencoder" or (
            self.score_names and self.score_names[-1] == "reconstruction_mse")
        self.lumi_ifb = self._features_lumi()

    def _beside(self, name):
        """A file named in an attribute: beside this file, else as given."""
        here = os.path.dirname(os.path.abspath(self.path))
        for c in (os.path.join(here, os.path.basename(str(name))), os.path.join(here, str(name)), str(name)):
            if os.path.isfile(c):
                return c
        return None

    def _features_lumi(self):
        """The luminosity of the feature file the scores were computed from, if found."""
        ref = self.attrs.get("features_file")
        path = self._beside(ref) if ref else None
        if path is None:
            return None
        try:
            with h5py.File(path, "r") as f:
                return finite_or_none(plain(f.attrs.get("luminosity_ifb")))
        except OSError:
            return None

    def read_scores(self, a, b):
        if self.column is None:
            return self.values[a:b]
        return self.values[a:b, self.column]

    def training_signals(self):
        """Names of the signal samples the model was trained on, from the model file
        named in the 'model' attribute (resolved beside the score file, then as
        given), or None when it cannot be found."""
        model = self.attrs.get("model")
        path = self._beside(model) if model else None
        if path is None:
            return None
        try:
            with h5py.File(path, "r") as m:
                if "training/samples" not in m:
                    return None
                used = set(strings(m["training/samples"]))
        except OSError:
            return None
        names = [s.name for s in self.samples if s.role == "signal" and s.name in used]
        return names or None


class EventFile:
    kind = "event file (bsmhunt generate)"

    def __init__(self, path):
        self.path = path
        f = self.f = open_h5(path, self.kind)
        check_format(f, path, "bsmhunt.events", self.kind)
        self.attrs = {k: plain(v) for k, v in f.attrs.items()}
        if "samples" not in f:
            raise ReportError("%s: no /samples group" % path)
        names = list(f["samples"].keys())
        samples = read_samples(f, path, names)
        # h5py lists groups by name; show them as generate wrote them: backgrounds,
        # signals, data, each by dataset id.
        rank = {"background": 0, "signal": 1, "data": 2}
        samples.sort(key=lambda s: (rank[s.role], int(s.attrs.get("dsid", 0) or 0), s.name))
        self.sample_names = [s.name for s in samples]
        self.samples = samples
        self.lumi_ifb = finite_or_none(self.attrs.get("luminosity_ifb"))
        self.sqrt_s_GeV = finite_or_none(self.attrs.get("sqrt_s_GeV"))

    def expected_yields(self):
        """Per sample: (stored events, expected yield, its MC error) from weight_mc."""
        f = self.f
        lumi_pb = (self.lumi_ifb or 0.0) * 1e3
        out = []
        for s in self.samples:
            g = f["samples"][s.name]
            n = int(s.attrs.get("n_events", g["event_number"].shape[0] if "event_number" in g else 0))
            if s.role == "data":
                out.append((n, float(n), math.sqrt(n)))
                continue
            if "weight_mc" not in g:
                raise ReportError("%s: /samples/%s has no weight_mc" % (self.path, s.name))
            sw = float(s.attrs.get("sum_of_weights", 0.0))
            if not sw > 0:
                raise ReportError("%s: /samples/%s has sum_of_weights = %s" % (self.path, s.name, sw))
            scale = (float(s.attrs.get("cross_section_pb", 0.0)) * float(s.attrs.get("k_factor", 1.0)) *
                     float(s.attrs.get("filter_efficiency", 1.0)) * lumi_pb / sw)
            total, total2 = 0.0, 0.0
            ds = g["weight_mc"]
            for a in range(0, ds.shape[0], CHUNK_ROWS):
                w = ds[a:a + CHUNK_ROWS].astype(np.float64) * scale
                total += float(w.sum())
                total2 += float((w * w).sum())
            out.append((n, total, math.sqrt(total2)))
        return out


# --------------------------------------------------------------------------------------
# JSON and CSV outputs


def load_cutflow(path):
    doc = load_json(path, "cutflow JSON of bsmhunt extract")
    cuts = require_key(doc, "cuts", path, kind=list)
    samples = require_key(doc, "samples", path, kind=list)
    if not cuts:
        raise ReportError("%s: 'cuts' is empty" % path)
    for i, s in enumerate(samples):
        for key in ("name", "role", "raw", "weighted"):
            require_key(s, key, path, "samples[%d]" % i)
        for key in ("raw", "weighted"):
            if not isinstance(s[key], list) or len(s[key]) != len(cuts):
                raise ReportError("%s: samples[%d] ('%s') has %s values in '%s' for %d cuts" %
                                  (path, i, s["name"], len(s[key]) if isinstance(s[key], list) else "no list of",
                                   key, len(cuts)))
            if not all(isinstance(v, (int, float)) for v in s[key]):
                raise ReportError("%s: samples[%d] ('%s'): '%s' holds a non-number" % (path, i, s["name"], key))
    return doc


HISTORY_ALIASES = {
    "train_loss": ("train_loss", "loss", "train_logloss"),
    "validation_loss": ("validation_loss", "val_loss", "validation_logloss"),
    "validation_auc": ("validation_auc", "val_auc", "auc"),
    "learning_rate": ("learning_rate", "lr"),
}


def load_history(path, label):
    """A training history: the CSV bsmhunt train writes (MODEL.h5.history.csv) or the
    history/ group of a model file (MLP epochs, or BDT per-tree logloss).
    Returns {'label', 'path', 'x', 'x_name', columns...}."""
    check_readable(path, "training history (MODEL.h5.history.csv or MODEL.h5)")
    columns = {}
    x_name = "epoch"
    # h5py.is_hdf5 finds the signature after a user block too: bsmhunt seals its model
    # files in a 512-byte user block (docs/training.md), so they do not start with it.
    if h5py.is_hdf5(path):
        with open_h5(path, "model file") as f:
            check_format(f, path, "bsmhunt.model", "model file with a history/ group")
            if "history" not in f:
                raise ReportError("%s: the model file has no history/ group" % path)
            for k, ds in f["history"].items():
                columns[k] = np.asarray(ds[()], dtype=np.float64)
            if "validation_auc" not in columns and "training/validation_auc" in f:
                columns["final_validation_auc"] = np.asarray(f["training/validation_auc"][()], dtype=np.float64)
            kind = text(f["model"].attrs.get("kind", "")) if "model" in f else ""
        if "epoch" not in columns:
            n = max((len(v) for k, v in columns.items() if k != "final_validation_auc"), default=0)
            columns["epoch"] = np.arange(1, n + 1, dtype=np.float64)
            x_name = "boosting round" if kind == "bdt" or "train_logloss" in columns else "epoch"
    else:
        try:
            with open(path, "r", encoding="utf-8", newline="") as fh:
                lines = [l for l in fh if l.strip() and not l.lstrip().startswith("#")]
        except UnicodeDecodeError:
            raise ReportError("%s: not a text file, expected a training history CSV" % path)
        if not lines:
            raise ReportError("%s: empty, expected a training history CSV with a header line" % path)
        reader = csv.reader(lines)
        header = [h.strip() for h in next(reader)]
        if "epoch" not in header:
            shown = ",".join(header)
            raise ReportError("%s: no 'epoch' column in the header '%s' (expected epoch,train_loss,validation_loss,"
                              "...: MODEL.h5.history.csv of bsmhunt train)" %
                              (path, shown if len(shown) <= 60 else shown[:57] + "..."))
        data = {h: [] for h in header}
        for lineno, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise ReportError("%s:%d: %d fields, the header has %d" % (path, lineno, len(row), len(header)))
            for h, v in zip(header, row):
                try:
                    data[h].append(float(v))
                except ValueError:
                    raise ReportError("%s:%d: column '%s': '%s' is not a number" % (path, lineno, h, v.strip()))
        columns = {h: np.asarray(v, dtype=np.float64) for h, v in data.items()}
    out = {"label": label, "path": path, "x_name": x_name, "x": columns["epoch"]}
    for canonical, aliases in HISTORY_ALIASES.items():
        for a in aliases:
            if a in columns and len(columns[a]) == len(out["x"]):
                out[canonical] = columns[a]
                break
    if "final_validation_auc" in columns:
        out["final_validation_auc"] = float(columns["final_validation_auc"][0])
    if "train_loss" not in out and "validation_loss" not in out:
        raise ReportError("%s: no loss column (expected train_loss and/or validation_loss)" % path)
    if len(out["x"]) == 0:
        raise ReportError("%s: the history has no epochs" % path)
    return out


def load_significance(path):
    doc = load_json(path, "significance JSON of bsmhunt significance", "bsmhunt.significance")
    channels = require_key(doc, "channels", path, kind=list)
    for i, ch in enumerate(channels):
        require_key(ch, "name", path, "channels[%d]" % i)
        sigs = ch.get("signals", [])
        if not isinstance(sigs, list):
            raise ReportError("%s: channels[%d].signals should be a list" % (path, i))
        for j, s in enumerate(sigs):
            require_key(s, "name", path, "channels[%d].signals[%d]" % (i, j))
    stem = os.path.splitext(path)[0]
    h5path = stem + ".h5"
    doc["_h5"] = None
    if os.path.exists(h5path):
        f = open_h5(h5path, "significance histograms beside %s" % path)
        doc["_h5"] = f
        doc["_h5_path"] = h5path
    return doc


def sig_h5_curve(doc, channel, group, signal, keys):
    """Arrays /channels/<ch>/<group>/<signal>/<key> of the significance HDF5, or None."""
    f = doc.get("_h5")
    if f is None:
        return None
    base = "channels/%s/%s/%s" % (channel, group, signal)
    if base not in f:
        return None
    g = f[base]
    out = {}
    for k in keys:
        if k not in g:
            return None
        out[k] = np.asarray(g[k][()], dtype=np.float64)
    n = {len(v) for v in out.values()}
    if len(n) != 1:
        raise ReportError("%s: the arrays of /%s differ in length (%s)" %
                          (doc.get("_h5_path"), base, ", ".join("%s %d" % (k, len(v)) for k, v in out.items())))
    return out


def load_fit(path):
    """The output of bsmhunt fit: the sideband fits (no 'mode') or, with "mode":
    "peak", a peak fit (load_peak_fit)."""
    doc = load_json(path, "result of bsmhunt fit", ("bsmhunt-fit", "bsmhunt.fit"))
    mode = doc.get("mode")
    if mode == "peak":
        return load_peak_fit(path, doc)
    if mode is not None:
        raise ReportError("%s: 'mode' is %s, expected \"peak\" (bsmhunt fit --peak) or no 'mode' (the sideband "
                          "fits)" % (path, json.dumps(mode)[:40]))
    spec = require_key(doc, "spectrum", path, kind=dict)
    edges = require_key(spec, "edges", path, "spectrum", list)
    counts = require_key(spec, "counts", path, "spectrum", list)
    if len(edges) != len(counts) + 1 or len(counts) == 0:
        raise ReportError("%s: spectrum has %d edges for %d counts (expected counts + 1)" %
                          (path, len(edges), len(counts)))
    nb = len(counts)
    regions = doc.get("signal_regions") or []
    fits = [("background_only", doc.get("background_only"))] + \
           [("signal_regions[%d].fit" % i, r.get("fit")) for i, r in enumerate(regions)]
    for where, fit in fits:
        if fit is None:
            continue
        for key in ("expected",):
            arr = require_key(fit, key, path, where, list)
            if len(arr) != nb:
                raise ReportError("%s: %s.%s has %d values for %d bins" % (path, where, key, len(arr), nb))
    return doc


def is_peak_fit(doc):
    return doc.get("mode") == "peak"


def _null_number(doc, key, path, where, required=True):
    """A number or null; with required=False a missing key also gives None."""
    if not required and (not isinstance(doc, dict) or key not in doc):
        return None
    return require_number(doc, key, path, where, null=True)


def _fit_range_index(edges, value, path, which):
    """The index of the bin edge at value (the fit range lies on bin edges)."""
    i = int(np.argmin(np.abs(edges - value)))
    tol = max(1e-9 * max(abs(value), 1.0), 1e-3 * float(np.min(np.diff(edges))))
    if abs(edges[i] - value) > tol:
        raise ReportError("%s: 'fit_range_GeV' in peak: %s %g GeV is not a bin edge of the spectrum (%g-%g GeV)" %
                          (path, which, value, edges[0], edges[-1]))
    return i


def _peak_fit_result(doc, key, path, bins):
    """signal_plus_background / background_only: converged, chi2, ndf and the
    expected counts of the fit range's bins (nulls as NaN)."""
    fit = _require_object(doc, key, path)
    fit["converged"] = require_bool(fit, "converged", path, key)
    fit["message"] = str(fit.get("message") or "")
    fit["chi2"] = require_number(fit, "chi2", path, key, null=True)
    fit["ndf"] = require_number(fit, "ndf", path, key, integer=True)
    fit["_expected"] = require_numbers(fit, "expected", path, key, bins,
                                       "one per bin of the fit range, peak.bins", null=True)
    names = require_strings(fit, "parameter_names", path, key) if "parameter_names" in fit else []
    values = require_numbers(fit, "parameters", path, key, null=True) if "parameters" in fit else np.zeros(0)
    errors = require_numbers(fit, "errors", path, key, len(values), "one per parameter", null=True) \
        if "errors" in fit else np.full(len(values), np.nan)
    if len(values) > len(names) and names:
        raise ReportError("%s: 'parameters' in %s has %d values for %d parameter_names" %
                          (path, key, len(values), len(names)))
    fit["_parameters"] = [(names[i] if i < len(names) else "p%d" % i, values[i], errors[i])
                          for i in range(len(values))]
    return fit


def load_peak_fit(path, doc):
    """The output of bsmhunt fit --peak (docs/fit.md, "Peak fits"), validated: the
    spectrum, the peak summary, both fits' expected counts over the fit range, the
    scan and the global significance (each may be null). Adds '_edges', '_counts'
    (the whole spectrum), '_first', '_end' (the fit range's bins)."""
    check_version(doc, path)
    spec = _require_object(doc, "spectrum", path)
    edges = require_edges(spec, "edges", path, "spectrum")
    counts = require_numbers(spec, "counts", path, "spectrum", len(edges) - 1, "one per bin: edges - 1", null=True)
    peak = _require_object(doc, "peak", path)
    for key in ("shape", "background", "width_is"):
        require_key(peak, key, path, "peak", str)
    rng = require_numbers(peak, "fit_range_GeV", path, "peak", 2, "[lo, hi]")
    bins = require_number(peak, "bins", path, "peak", integer=True)
    first = _fit_range_index(edges, rng[0], path, "lo")
    end = _fit_range_index(edges, rng[1], path, "hi")
    if end - first != bins or bins < 1:
        raise ReportError("%s: 'bins' in peak is %d, but the fit range %g-%g GeV holds %d bins of the spectrum" %
                          (path, bins, rng[0], rng[1], end - first))
    peak["converged"] = require_bool(peak, "converged", path, "peak")
    for key in ("mass_GeV", "mass_error_GeV", "width_GeV", "width_error_GeV", "yield", "yield_error"):
        peak[key] = _null_number(peak, key, path, "peak")
    local = _require_object(peak, "local", path, "peak")
    for key in ("q0", "z", "pvalue"):
        local[key] = _null_number(local, key, path, "peak.local")
    for key in ("truth_mass_GeV", "mass_pull", "resolution_GeV"):
        peak[key] = _null_number(peak, key, path, "peak", required=False)
    if peak.get("cb_tails") is not None:
        peak["cb_tails"] = list(require_numbers(peak, "cb_tails", path, "peak", 4,
                                                "alpha_low, n_low, alpha_high, n_high"))
    for key in ("signal_plus_background", "background_only"):
        _peak_fit_result(doc, key, path, bins)
    scan = doc.get("scan")
    if scan is not None:
        scan = _require_object(doc, "scan", path)
        for key in ("width_GeV", "step_GeV"):
            scan[key] = _null_number(scan, key, path, "scan")
        scan["_mass"] = require_numbers(scan, "mass_GeV", path, "scan")
        n = len(scan["_mass"])
        scan["_z"] = require_numbers(scan, "z", path, "scan", n, "one per mass_GeV", null=True)
        if "yield" in scan:
            scan["_yield"] = require_numbers(scan, "yield", path, "scan", n, "one per mass_GeV", null=True)
        for key in ("best_mass_GeV", "max_z"):
            scan[key] = _null_number(scan, key, path, "scan")
    g = doc.get("global")
    if g is not None:
        g = _require_object(doc, "global", path)
        for key in ("toys", "failed", "at_or_above"):
            g[key] = require_number(g, key, path, "global", integer=True)
        g["pvalue_is_upper_bound"] = require_bool(g, "pvalue_is_upper_bound", path, "global")
        for key in ("pvalue", "z"):
            g[key] = _null_number(g, key, path, "global")
        for key in ("observed_max_z", "upcrossings_z1", "pvalue_gross_vitells", "z_gross_vitells"):
            g[key] = _null_number(g, key, path, "global", required=False)
    doc["scan"], doc["global"] = scan, g
    doc["_edges"], doc["_counts"], doc["_first"], doc["_end"] = edges, counts, first, end
    return doc


def describe_peak_fit(doc):
    """One line for the page's table of inputs."""
    peak, scan, g = doc["peak"], doc.get("scan"), doc.get("global")
    text = "peak fit: %s on %s, %d bins in %g-%g GeV" % (peak["shape"], peak["background"], peak["bins"],
                                                          peak["fit_range_GeV"][0], peak["fit_range_GeV"][1])
    if scan is not None:
        text += ", scan of %d masses" % len(scan["_mass"])
    if g is not None:
        text += ", %d toys" % g["toys"]
    return text


def load_bumphunt(path):
    doc = load_json(path, "result of bsmhunt bumphunt", "bsmhunt.bumphunt")
    edges = require_key(doc, "mass_bins", path, kind=list)
    if len(edges) < 2:
        raise ReportError("%s: 'mass_bins' needs at least two edges" % path)
    nb = len(edges) - 1
    regions = require_key(doc, "regions", path, kind=list)
    for i, r in enumerate(regions):
        sr = require_key(r, "signal_region", path, "regions[%d]" % i, list)
        if len(sr) != 2:
            raise ReportError("%s: regions[%d].signal_region should be [lo, hi]" % (path, i))
        effs = require_key(r, "efficiencies", path, "regions[%d]" % i, list)
        for j, e in enumerate(effs):
            require_key(e, "efficiency", path, "regions[%d].efficiencies[%d]" % (i, j))
            for key in ("selected_counts", "fit_counts"):
                # A failed fit leaves fit_counts empty (or null): no fit to draw.
                if isinstance(e.get(key), list) and len(e[key]) == 0:
                    e[key] = None
                if e.get(key) is not None and (not isinstance(e[key], list) or len(e[key]) != nb):
                    raise ReportError("%s: regions[%d].efficiencies[%d].%s has %s values for %d mass bins" %
                                      (path, i, j, key, len(e[key]) if isinstance(e[key], list) else "no list of",
                                       nb))
                if e.get(key) is not None:
                    e[key] = [float("nan") if v is None else v for v in e[key]]
    return doc


LIMITS_KIND = "limits JSON of bsmhunt limits"
LIMIT_BANDS_TEXT = "-2, -1, 0, +1, +2 sigma"


def _optional(doc, key, path, where, check):
    """check(doc, key, path, where) when the key is there and not null, else None."""
    if not isinstance(doc, dict) or doc.get(key) is None:
        return None
    return check(doc, key, path, where)


def _require_object(doc, key, path, where="", null=False):
    value = require_key(doc, key, path, where)
    if value is None and null:
        return None
    if not isinstance(value, dict):
        raise ReportError("%s: %s should be an object%s, found %s" % (path, _at(key, where), " or null" if null else "",
                                                                      json.dumps(value)[:40]))
    return value


def _limit_bands(doc, key, path, where, null):
    """{'observed': float, 'expected': [5 floats]} (increasing; a value bsmhunt
    could not compute, null, as NaN) or None for null."""
    block = _require_object(doc, key, path, where, null)
    if block is None:
        return None
    w = "%s.%s" % (where, key) if where else key
    observed = require_number(block, "observed", path, w, null=True)
    expected = require_numbers(block, "expected", path, w, 5, LIMIT_BANDS_TEXT, null=True)
    known = expected[np.isfinite(expected)]
    scale = max(float(np.max(np.abs(known))), 1e-300) if known.size else 1.0
    if np.any(np.diff(known) < -1e-9 * scale):
        raise ReportError("%s: 'expected' in %s should increase (%s), found %s" %
                          (path, w, LIMIT_BANDS_TEXT, ", ".join("%g" % x for x in expected)))
    return {"observed": math.nan if observed is None else observed, "expected": expected}


def _entries(doc, key, path, where, fields):
    """A list of objects, each with a string 'parameter' and the numeric (or null) fields."""
    items = require_key(doc, key, path, where, list)
    for j, item in enumerate(items):
        w = "%s.%s[%d]" % (where, key, j)
        if not isinstance(item, dict):
            raise ReportError("%s: %s should be an object" % (path, w))
        require_key(item, "parameter", path, w, str)
        for f in fields:
            item[f] = require_number(item, f, path, w, null=True)
    return items


def _discovery(m, path, where):
    """The model's 'discovery' object ({} for null): p0, z and z_expected, numbers or null."""
    disc = _require_object(m, "discovery", path, where, null=True) or {}
    for k in ("p0", "z", "z_expected") if disc else ():
        disc[k] = require_number(disc, k, path, where + ".discovery", null=True)
    return disc


PULL_FIELDS = ("value", "error", "pull", "constraint")
IMPACT_FIELDS = ("postfit_up", "postfit_down", "prefit_up", "prefit_down")


def load_limits(path):
    """The output of bsmhunt limits, validated (docs/report.md). Each model gains
    '_mu' and '_xs' ({'observed', 'expected' [5]} or None), '_parameters' and a
    'status' when it has none."""
    doc = load_json(path, LIMITS_KIND, "bsmhunt.limits")
    check_version(doc, path)
    cl = require_number(doc, "cl", path)
    if not 0 < cl < 1:
        raise ReportError("%s: 'cl' should be between 0 and 1 (e.g. 0.95), found %g" % (path, cl))
    require_key(doc, "data", path, kind=str)
    doc["lumi_ifb"] = require_number(doc, "lumi_ifb", path, null=True)
    require_strings(doc, "channels", path)
    for key in ("source", "calculator", "test_statistic"):
        _optional(doc, key, path, "", lambda d, k, p, w: require_key(d, k, p, w, str))
    for key in ("failed", "above_mu_max", "ranks"):
        _optional(doc, key, path, "", lambda d, k, p, w: require_number(d, k, p, w, integer=True))
    _optional(doc, "seconds", path, "", require_number)
    models = require_key(doc, "models", path, kind=list)
    seen = {}
    for i, m in enumerate(models):
        where = "models[%d]" % i
        if not isinstance(m, dict):
            raise ReportError("%s: %s should be an object" % (path, where))
        name = require_key(m, "name", path, where, str)
        where = "models[%d] ('%s')" % (i, name)
        if name in seen:
            raise ReportError("%s: %s has the name of models[%d]" % (path, where, seen[name]))
        seen[name] = i
        ok = require_bool(m, "ok", path, where)
        # 'ok', 'failed' or 'above mu-max' (CLs above 1 - cl up to the largest mu tried).
        m["status"] = _optional(m, "status", path, where, lambda d, k, p, w: require_key(d, k, p, w, str)) or \
            ("ok" if ok else "failed")
        params = _optional(m, "parameters", path, where, _require_object) or {}
        for k in ("m_zprime_GeV", "m_chi_GeV"):
            if k in params:
                require_number(params, k, path, where + ".parameters")
        m["_parameters"] = params
        m["cross_section_pb"] = _optional(m, "cross_section_pb", path, where, require_number)
        if not ok:
            # A model without a limit: why, and what was fitted before it failed (when anything was).
            m["message"] = str(require_key(m, "message", path, where) or "")
            m["_mu"] = m["_xs"] = None
            m["pulls"], m["impacts"] = [], []
            for k in ("mu_hat", "mu_hat_error"):
                m[k] = _optional(m, k, path, where, require_number)
            m["discovery"] = _discovery(m, path, where) if m.get("discovery") is not None else {}
            continue
        _optional(m, "message", path, where, lambda d, k, p, w: require_key(d, k, p, w, str))
        m["_mu"] = _limit_bands(m, "limit", path, where, False)
        m["_xs"] = _limit_bands(m, "cross_section_limit_pb", path, where, True)
        if m["cross_section_pb"] is not None and m["_xs"] is None:
            raise ReportError("%s: %s has a cross_section_pb but cross_section_limit_pb is null" % (path, where))
        m["mu_hat"] = require_number(m, "mu_hat", path, where, null=True)
        m["mu_hat_error"] = require_number(m, "mu_hat_error", path, where, null=True)
        m["discovery"] = _discovery(m, path, where)
        m["pulls"] = _entries(m, "pulls", path, where, PULL_FIELDS)
        m["impacts"] = _entries(m, "impacts", path, where, IMPACT_FIELDS)
        for k in ("poi_upper_bound", "seconds"):
            m[k] = _optional(m, k, path, where, require_number)
        m["evaluations"] = _optional(m, "evaluations", path, where,
                                     lambda d, k, p, w: require_number(d, k, p, w, integer=True))
    return doc


# --------------------------------------------------------------------------------------
# Signal selection


def match_patterns(patterns, names, path_hint):
    """Names matching each glob pattern; a pattern matching nothing is an error."""
    out = []
    for p in patterns:
        hit = [n for n in names if fnmatch.fnmatchcase(n, p)]
        if not hit:
            close = [n for n in names if p.strip("*").split("*")[0] in n][:5] or names[:5]
            raise ReportError("--signals: pattern '%s' matches no signal sample of %s (e.g. %s)" %
                              (p, path_hint, ", ".join(close) or "it has no signal samples"))
        out.append((p, hit))
    return out
