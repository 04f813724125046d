#!/usr/bin/env python3
"""ROOT files in and out of bsmhunt, through uproot (no hand-written ROOT I/O).

bsmhunt runs this script; it is not meant to be called by hand (docs/import.md,
docs/export.md). Subcommands:

  stage   flat TTree(s) -> h5py column tables (one 1-D dataset per numeric branch),
          read in chunks of --step entries so memory stays bounded
  merge   the staged parts -> one table whose columns are HDF5 virtual datasets
          over the parts, in the order given (no second copy of the data)
  friend  a bsmhunt score file -> a flat TTree to attach as a friend of an ntuple
  convert object-level trees of one sample (jagged branches, a mapping file) ->
          one sample group of bsmhunt's event format (docs/formats.md)
  assemble the converted samples -> the event file (attributes, complete = 1)

Errors are one line: written to --error-file (bsmhunt puts it in its own message)
and to stderr, exit status 2.
"""
import argparse
import os
import sys
import time


class InputProblem(Exception):
    pass


def need(module):
    try:
        return __import__(module)
    except ImportError as e:
        raise InputProblem(
            f"Python module '{module}' is not installed for {sys.executable} ({e}); "
            "run tools/setup (it makes .venv with uproot) or pass --python with an interpreter that has it")


class Progress:
    """Plain lines with rate and ETA, at most one every few seconds."""

    def __init__(self, what, total):
        self.what, self.total, self.start, self.last, self.shown = what, total, time.monotonic(), 0.0, -1

    def update(self, done, force=False):
        now = time.monotonic()
        if (not force and now - self.last < 5) or done == self.shown:
            return
        self.last, self.shown = now, done
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate > 0 else 0
        print(f"[root] {self.what}: {done}/{self.total} entries, {rate:.3g}/s, ETA {eta:.0f} s", flush=True)


def open_tree(uproot, path, tree_name):
    try:
        f = uproot.open(path)
    except FileNotFoundError:
        raise InputProblem(f"{path}: no such file")
    except Exception as e:  # uproot raises ValueError & co. for files that are not ROOT
        raise InputProblem(f"{path}: not a readable ROOT file ({type(e).__name__}: {e})")
    classes = f.classnames()
    trees = sorted({k.split(";")[0] for k, c in classes.items() if c in ("TTree", "TNtuple", "TNtupleD")})
    others = sorted({f"{k.split(';')[0]} ({c})" for k, c in classes.items() if c == "ROOT::RNTuple"})
    if others and not trees:
        raise InputProblem(f"{path}: no TTree, only RNTuples: {', '.join(others)}; bsmhunt reads TTrees "
                           "(convert with ROOT, or write the file with uproot's mktree)")
    if tree_name in ("", "auto"):
        if len(trees) != 1:
            listed = ", ".join(trees) if trees else "none"
            raise InputProblem(f"{path}: {len(trees)} trees ({listed}); choose one with --tree")
        tree_name = trees[0]
    if tree_name not in trees:
        listed = ", ".join(trees) if trees else "none"
        raise InputProblem(f"{path}: no tree '{tree_name}' (--tree); the trees are: {listed}")
    return f[tree_name], tree_name


def branch_name(column):
    """A ROOT-safe branch name for a score column: a parametrised model's
    'score[m_zprime_GeV=130,theory=DH]' becomes 'score_m_zprime_GeV_130_theory_DH' (ROOT reads
    brackets as array sizes)."""
    out = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in column)
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_") or "score"


def flat_numeric_branches(np, tree, path):
    """Branches with one number per entry; the others (jagged, strings, objects) are skipped."""
    keep, skipped = [], []
    for name, branch in tree.items(filter_typename=None):
        if "." in name or "/" in name:  # sub-branches of split objects
            skipped.append(name)
            continue
        try:  # an interpretation uproot does not know raises its own exception type here
            dtype = branch.interpretation.to_dtype
            ok = getattr(branch.interpretation, "inner_shape", ()) == () and np.dtype(dtype).kind in "fiub"
        except Exception:
            ok = False
        (keep if ok else skipped).append(name)
    if not keep:
        raise InputProblem(f"{path}:{tree.name}: no branch holds one number per entry "
                           f"(jagged object-level trees go through bsmhunt convert)")
    return keep, skipped


def stage(args):
    uproot, np, h5py = need("uproot"), need("numpy"), need("h5py")
    for source, part in zip(args.inputs[0::2], args.inputs[1::2]):
        tree, tree_name = open_tree(uproot, source, args.tree)
        names, skipped = flat_numeric_branches(np, tree, source)
        if skipped:
            print(f"[root] {os.path.basename(source)}: skipped {len(skipped)} branches that are not one number per entry: "
                  f"{', '.join(skipped[:20])}{' ...' if len(skipped) > 20 else ''}", flush=True)
        total = tree.num_entries
        progress = Progress(os.path.basename(source), total)
        tmp = part + ".partial"
        with h5py.File(tmp, "w", track_order=True) as out:
            out.attrs["source_file"] = source
            out.attrs["tree"] = tree_name
            out.attrs["columns"] = names  # the tree's branch order (h5py lists names sorted)
            datasets = {}
            for n in names:
                dtype = np.dtype(tree[n].interpretation.to_dtype).newbyteorder("=")
                datasets[n] = out.create_dataset(n, shape=(total,), dtype=dtype,
                                                 chunks=(max(1, min(total, 65536)),) if total else None)
            done = 0
            for chunk in tree.iterate(names, step_size=args.step, library="np"):
                n = len(next(iter(chunk.values()))) if chunk else 0
                for name in names:
                    datasets[name][done:done + n] = chunk[name]
                done += n
                progress.update(done)
            if done != total:
                raise InputProblem(f"{source}:{tree_name}: read {done} entries, the tree has {total}")
            progress.update(done, force=True)
        os.replace(tmp, part)


def merge(args):
    h5py = need("h5py")
    parts = args.parts
    layouts, total, reference = None, 0, None
    shapes = []
    for p in parts:
        with h5py.File(p, "r") as f:
            columns = {k: (f[k].dtype, f[k].shape[0]) for k in f.keys()}
            source = f.attrs["source_file"]
        if reference is None:
            reference, reference_source = columns, source
        elif {k: v[0] for k, v in columns.items()} != {k: v[0] for k, v in reference.items()}:
            missing = sorted(set(reference) - set(columns))
            extra = sorted(set(columns) - set(reference))
            types = sorted(k for k in set(columns) & set(reference) if columns[k][0] != reference[k][0])
            raise InputProblem(
                f"{source}: its branches differ from those of {reference_source}"
                + (f"; missing: {', '.join(missing)}" if missing else "")
                + (f"; extra: {', '.join(extra)}" if extra else "")
                + (f"; other types: {', '.join(types)}" if types else ""))
        rows = next(iter(columns.values()))[1] if columns else 0
        shapes.append(rows)
        total += rows
    # Column order: the first file's branch order as stage wrote it.
    with h5py.File(parts[0], "r") as f:
        order = [c.decode() if isinstance(c, bytes) else str(c) for c in f.attrs["columns"]]
    tmp = args.output + ".partial"
    with h5py.File(tmp, "w", track_order=True) as out:
        for name in order:
            layout = h5py.VirtualLayout(shape=(total,), dtype=reference[name][0])
            begin = 0
            for p, rows in zip(parts, shapes):
                if rows:
                    layout[begin:begin + rows] = h5py.VirtualSource(os.path.abspath(p), name, shape=(rows,))
                begin += rows
            out.create_virtual_dataset(name, layout)
    os.replace(tmp, args.output)


def friend(args):
    uproot, np, h5py = need("uproot"), need("numpy"), need("h5py")
    try:
        f = h5py.File(args.scores, "r")
    except OSError as e:
        raise InputProblem(f"{args.scores}: not a readable HDF5 file ({e})")
    with f:
        if f.attrs.get("format") not in (b"bsmhunt.scores", "bsmhunt.scores"):
            raise InputProblem(f"{args.scores}: not a bsmhunt score file (attribute format = "
                               f"{f.attrs.get('format')!r}, expected 'bsmhunt.scores')")
        for need_ds in ("score", "event_number", "sample_index", "weight"):
            if need_ds not in f:
                raise InputProblem(f"{args.scores}: no dataset '{need_ds}'")
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["score_names"][:]]
        samples = [n.decode() if isinstance(n, bytes) else str(n) for n in f["sample_names"][:]]
        total = f["score"].shape[0]
        branch_of = {}  # ROOT branch -> (dataset, column or None)
        if f["score"].ndim == 1:
            branch_of[names[0] if names else "score"] = ("score", None)
        else:
            for k, n in enumerate(names):
                branch_of[branch_name(n)] = ("score", k)
        for ds in ("event_number", "sample_index", "weight", "label", "mass", "split"):
            if ds in f:
                branch_of[args.event_branch if ds == "event_number" else ds] = (ds, None)
        wanted = [names[0] if names else "score"] if f["score"].ndim == 1 else [branch_name(n) for n in names]
        wanted += [args.event_branch if ds == "event_number" else ds
                   for ds in ("event_number", "sample_index", "weight", "label", "mass", "split") if ds in f]
        if len(set(wanted)) != len(wanted):
            raise InputProblem(f"branch names collide: {', '.join(wanted)} (--event-branch or the score names)")
        types = {}
        for b, (ds, col) in branch_of.items():
            dt = np.dtype(f[ds].dtype).newbyteorder("=")
            types[b] = dt
        tmp = args.output + ".partial"
        progress = Progress(os.path.basename(args.scores), total)
        with uproot.recreate(tmp) as out:
            tree = out.mktree(args.tree, types, title="bsmhunt scores (docs/export.md)")
            for begin in range(0, total, args.step):
                end = min(total, begin + args.step)
                chunk = {}
                for b, (ds, col) in branch_of.items():
                    chunk[b] = f[ds][begin:end] if col is None else f[ds][begin:end, col]
                tree.extend(chunk)
                progress.update(end)
            progress.update(total, force=True)
            out["sample_names"] = ",".join(samples)
            out["model"] = str(f.attrs.get("model", b"").decode() if isinstance(f.attrs.get("model"), bytes)
                               else f.attrs.get("model", ""))
    os.replace(tmp, args.output)

# The event format's columns and collections (docs/formats.md): dtype, unit, description.
EVENT_COLUMNS = {
    "event_number": ("u8", "", "event number, unique within the sample"),
    "weight_mc": ("f4", "", "generator weight"),
    "met": ("f4", "GeV", "reconstructed missing transverse momentum"),
    "met_phi": ("f4", "rad", "azimuth of the missing transverse momentum"),
    "met_sumet": ("f4", "GeV", "scalar sum of transverse energy"),
    "met_truth": ("f4", "GeV", "generator-level invisible transverse momentum"),
    "met_truth_phi": ("f4", "rad", "azimuth of the generator-level invisible momentum"),
}
KINEMATICS = {"pt": ("f4", "GeV", "transverse momentum"), "eta": ("f4", "", "pseudorapidity"),
              "phi": ("f4", "rad", "azimuth")}
COLLECTIONS = {
    "electrons": dict(KINEMATICS, charge=("i1", "e", "electric charge, +1 or -1")),
    "muons": dict(KINEMATICS, charge=("i1", "e", "electric charge, +1 or -1")),
    "jets": dict(KINEMATICS, m=("f4", "GeV", "jet mass"), btag=("i1", "", "1 if b-tagged, else 0")),
    "large_jets": dict(KINEMATICS, m=("f4", "GeV", "jet mass"), tau21=("f4", "", "N-subjettiness ratio tau2/tau1")),
}
COLLECTION_DESCRIPTIONS = {"electrons": "electrons, pT-ordered", "muons": "muons, pT-ordered",
                           "jets": "anti-kt R=0.4 jets, pT-ordered", "large_jets": "large-R jets, pT-ordered"}
ENERGY_UNITS = {"GeV": 1.0, "MeV": 1e-3, "TeV": 1e3}


def read_mapping(path):
    import configparser
    parser = configparser.ConfigParser(inline_comment_prefixes=("#", ";"))
    parser.optionxform = str
    try:
        with open(path) as f:
            parser.read_file(f)
    except OSError as e:
        raise InputProblem(f"{path}: cannot read the mapping file ({e.strerror})")
    except configparser.Error as e:
        raise InputProblem(f"{path}: not an INI mapping file ({e})")
    if "event" not in parser:
        raise InputProblem(f"{path}: no [event] section (tree, energy_unit and the per-event columns)")
    event = dict(parser["event"])
    unit = event.pop("energy_unit", "GeV")
    if unit not in ENERGY_UNITS:
        raise InputProblem(f"{path}: [event] energy_unit = {unit}: expected one of {', '.join(ENERGY_UNITS)}")
    tree = event.pop("tree", "auto")
    for key in event:
        if key not in EVENT_COLUMNS:
            raise InputProblem(f"{path}: [event] {key}: not a column of the event format "
                               f"(expected {', '.join(EVENT_COLUMNS)})")
    collections = {}
    for section in parser.sections():
        if section == "event":
            continue
        if section not in COLLECTIONS:
            raise InputProblem(f"{path}: [{section}]: not a collection of the event format "
                               f"(expected {', '.join(COLLECTIONS)})")
        members = dict(parser[section])
        for key in members:
            if key not in COLLECTIONS[section]:
                raise InputProblem(f"{path}: [{section}] {key}: not a member of {section} "
                                   f"(expected {', '.join(COLLECTIONS[section])})")
        if "pt" not in members:
            raise InputProblem(f"{path}: [{section}] needs pt (objects are stored pT-ordered)")
        collections[section] = {k: parse_source(path, section, k, v) for k, v in members.items()}
    return tree, ENERGY_UNITS[unit], {k: parse_source(path, "event", k, v) for k, v in event.items()}, collections


def parse_source(path, section, key, text):
    """'BRANCH' or 'BRANCH OP NUMBER' (a 0/1 flag): (branch, op, value)."""
    parts = text.split()
    if len(parts) == 1:
        return (parts[0], None, None)
    if len(parts) == 3 and parts[1] in (">", ">=", "<", "<="):
        try:
            return (parts[0], parts[1], float(parts[2]))
        except ValueError:
            pass
    raise InputProblem(f"{path}: [{section}] {key} = {text}: expected a branch name or 'BRANCH > NUMBER' "
                       "(also >=, <, <=)")


def evaluate(np, values, source):
    _, op, cut = source
    if op is None:
        return values
    return {">": values > cut, ">=": values >= cut, "<": values < cut, "<=": values <= cut}[op]


class Appender:
    """A 1-D dataset grown chunk by chunk."""

    def __init__(self, group, name, dtype, unit, description):
        self.ds = group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(65536,))
        self.ds.attrs["unit"], self.ds.attrs["description"] = unit, description

    def append(self, values):
        n = self.ds.shape[0]
        self.ds.resize((n + len(values),))
        self.ds[n:] = values


def convert_file(np, ak, path, tree, branches, scale, event_map, collection_map, columns, groups, args, done, sum_w,
                 progress):
    """Appends one file's entries, chunk by chunk; returns the running entry count and sum of weights."""
    begin = 0
    for chunk in tree.iterate(branches, step_size=args.step, library="ak"):
        n = len(chunk)
        for key, appender in columns.items():
            if key in event_map:
                values = evaluate(np, ak.to_numpy(chunk[event_map[key][0]]), event_map[key])
                if values.ndim != 1:
                    raise InputProblem(f"{path}: branch {event_map[key][0]} ([event] {key}) is not one "
                                       "number per entry")
            elif key == "weight_mc":
                values = np.ones(n)  # data, or a sample without generator weights
            else:  # event_number: the entry within the sample
                values = np.arange(done, done + n, dtype=np.uint64)
            if key == "event_number" and np.issubdtype(values.dtype, np.signedinteger) and (values < 0).any():
                raise InputProblem(f"{path}: branch {event_map[key][0]} has negative event numbers")
            if EVENT_COLUMNS[key][1] == "GeV":
                values = np.asarray(values, dtype=np.float64) * scale
            values = values.astype(EVENT_COLUMNS[key][0])
            if key == "weight_mc":
                sum_w += float(np.sum(values, dtype=np.float64))
            appender.append(values)
        for coll, (offsets, appenders) in groups.items():
            members = collection_map[coll]
            pt = chunk[members["pt"][0]]
            counts = ak.to_numpy(ak.num(pt, axis=1))
            order = ak.argsort(pt, axis=1, ascending=False, stable=True)
            for m, appender in appenders.items():
                values = chunk[members[m][0]]
                if not np.array_equal(ak.to_numpy(ak.num(values, axis=1)), counts):
                    bad = int(np.nonzero(ak.to_numpy(ak.num(values, axis=1)) != counts)[0][0])
                    raise InputProblem(f"{path}: entry {begin + bad}: branch {members[m][0]} ([{coll}] {m}) "
                                       f"has another object count than {members['pt'][0]}")
                flat = ak.to_numpy(ak.flatten(values[order]))
                flat = evaluate(np, flat, members[m])
                if COLLECTIONS[coll][m][1] == "GeV":
                    flat = np.asarray(flat, dtype=np.float64) * scale
                appender.append(flat.astype(COLLECTIONS[coll][m][0]))
            end = offsets.shape[0]
            last = int(offsets[end - 1])
            offsets.resize((end + n,))
            offsets[end:] = last + np.cumsum(counts, dtype=np.uint64)
        done += n
        begin += n
        progress.update(done)
    return done, sum_w


def convert(args):
    import json
    uproot, np, h5py, ak = need("uproot"), need("numpy"), need("h5py"), need("awkward")
    tree_name, scale, event_map, collection_map = read_mapping(args.mapping)
    spec = json.loads(args.sample)
    name, role = spec["name"], spec.get("role", "background")
    if role == "data":  # collision data has no generator weight and no truth: weight 1, no truth columns
        for key in ("weight_mc", "met_truth", "met_truth_phi"):
            event_map.pop(key, None)
    branches = sorted({src[0] for src in event_map.values()}
                      | {src[0] for members in collection_map.values() for src in members.values()})
    # Every file checked first (a missing branch is found before anything is written),
    # each opened and closed again: thousands of grid files must not stay open together.
    entries = []
    for path in args.files:
        tree, _ = open_tree(uproot, path, tree_name)
        with tree.file:
            missing = [b for b in branches if b not in tree.keys()]
            if missing:
                raise InputProblem(f"{path}:{tree.name}: no branch {', '.join(missing)} (mapping {args.mapping})")
            entries.append(tree.num_entries)
    total = sum(entries)
    progress = Progress(f"sample {name}", total)
    tmp = args.output + ".partial"
    with h5py.File(tmp, "w", track_order=True) as out:
        g = out.create_group(f"samples/{name}", track_order=True)
        columns = {}
        for key in EVENT_COLUMNS:
            if key in event_map or (key == "weight_mc") or (key == "event_number"):
                columns[key] = Appender(g, key, *EVENT_COLUMNS[key])
        groups = {}
        for coll, members in collection_map.items():
            cg = g.create_group(coll, track_order=True)
            cg.attrs["description"] = COLLECTION_DESCRIPTIONS[coll]
            offsets = cg.create_dataset("offsets", shape=(1,), maxshape=(None,), dtype="u8", chunks=(65536,))
            offsets[0] = 0
            offsets.attrs["description"] = "objects of event i are [offsets[i], offsets[i+1])"
            groups[coll] = (offsets, {m: Appender(cg, m, *COLLECTIONS[coll][m]) for m in members})
        done, sum_w = 0, 0.0
        for path in args.files:
            tree, _ = open_tree(uproot, path, tree_name)
            with tree.file:
                done, sum_w = convert_file(np, ak, path, tree, branches, scale, event_map, collection_map, columns,
                                           groups, args, done, sum_w, progress)
        progress.update(done, force=True)
        # Event numbers key the train/validation/test split: they must be unique in a sample.
        # (8 bytes per event for this check; the conversion itself holds one chunk.)
        event_numbers = np.sort(g["event_number"][:])
        repeated = event_numbers[1:][event_numbers[1:] == event_numbers[:-1]]
        if len(repeated):
            raise InputProblem(
                f"sample {name}: event number {int(repeated[0])} (branch "
                f"{event_map.get('event_number', ('entry',))[0]}) appears more than once: event numbers must be unique "
                "in a sample (data over several runs, or merged MC campaigns, repeat them: leave event_number out "
                "of the mapping to number the entries instead)")
        attrs = {"dsid": int(spec.get("dsid", 0)), "process": str(spec.get("process", name)), "role": role,
                 "cross_section_pb": float(spec.get("cross_section_pb", 0.0)),
                 "k_factor": float(spec.get("k_factor", 1.0)),
                 "filter_efficiency": float(spec.get("filter_efficiency", 1.0)),
                 "sum_of_weights": float(spec["sum_of_weights"]) if "sum_of_weights" in spec else sum_w,
                 "n_generated": int(spec.get("n_generated", done)), "n_events": int(done),
                 "source_files": ",".join(args.files)}
        for k, v in attrs.items():
            g.attrs[k] = np.int64(v) if isinstance(v, int) else v
    os.replace(tmp, args.output)


def copy_group(source, target, step=1 << 20):
    """Group.copy across files crashes Debian's h5py 3.7: datasets are copied in slices instead."""
    for k, v in source.attrs.items():
        target.attrs[k] = v
    for name, item in source.items():
        if hasattr(item, "shape"):
            out = target.create_dataset(name, shape=item.shape, dtype=item.dtype)
            for begin in range(0, item.shape[0], step):
                out[begin:begin + step] = item[begin:begin + step]
            for k, v in item.attrs.items():
                out.attrs[k] = v
        else:
            copy_group(item, target.create_group(name, track_order=True), step)


def assemble(args):
    import json
    h5py, np = need("h5py"), need("numpy")
    attrs = json.loads(args.attributes)
    with h5py.File(args.output, "w", track_order=True) as out:
        samples = out.create_group("samples", track_order=True)
        for part in args.parts:
            with h5py.File(part, "r") as f:
                for name in f["samples"]:
                    copy_group(f["samples"][name], samples.create_group(name, track_order=True))
        for k, v in attrs.items():
            out.attrs[k] = np.int64(v) if isinstance(v, int) else v
        out.attrs["complete"] = np.int64(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--error-file", default="")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("stage")
    p.add_argument("--tree", default="auto")
    p.add_argument("--step", type=int, default=100000)
    p.add_argument("inputs", nargs="+", help="pairs: ROOT_FILE PART.h5")
    p = sub.add_parser("merge")
    p.add_argument("--output", required=True)
    p.add_argument("parts", nargs="+")
    p = sub.add_parser("friend")
    p.add_argument("--scores", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--tree", default="bsmhunt_scores")
    p.add_argument("--event-branch", default="event_number")
    p.add_argument("--step", type=int, default=100000)
    p = sub.add_parser("convert")
    p.add_argument("--mapping", required=True)
    p.add_argument("--sample", required=True, help="JSON: name, role, cross_section_pb, ...")
    p.add_argument("--output", required=True)
    p.add_argument("--step", type=int, default=100000)
    p.add_argument("files", nargs="+")
    p = sub.add_parser("assemble")
    p.add_argument("--output", required=True)
    p.add_argument("--attributes", required=True, help="JSON of the file attributes")
    p.add_argument("parts", nargs="+")
    args = parser.parse_args()
    try:
        if args.command == "stage" and len(args.inputs) % 2:
            raise InputProblem("stage: inputs come in pairs ROOT_FILE PART.h5")
        {"stage": stage, "merge": merge, "friend": friend, "convert": convert,
         "assemble": assemble}[args.command](args)
    except InputProblem as e:
        message = str(e)
        print(f"error: {message}", file=sys.stderr)
        if args.error_file:
            with open(args.error_file, "w") as out:
                out.write(message)
        sys.exit(2)


if __name__ == "__main__":
    main()
