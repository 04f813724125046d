#!/usr/bin/env python3
"""ROOT files in and out of bsmhunt, through uproot (no hand-written ROOT I/O).

bsmhunt runs this script; it is not meant to be called by hand (docs/import.md,
docs/export.md). Subcommands:

  stage   flat TTree(s) -> h5py column tables (one 1-D dataset per numeric branch),
          read in chunks of --step entries so memory stays bounded
  merge   the staged parts -> one table whose columns are HDF5 virtual datasets
          over the parts, in the order given (no second copy of the data)
  friend  a bsmhunt score file -> a flat TTree to attach as a friend of an ntuple

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
        self.what, self.total, self.start, self.last = what, total, time.monotonic(), 0.0

    def update(self, done, force=False):
        now = time.monotonic()
        if not force and now - self.last < 5:
            return
        self.last = now
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


def flat_numeric_branches(np, tree, path):
    """Branches with one number per entry; the others (jagged, strings, objects) are skipped."""
    keep, skipped = [], []
    for name, branch in tree.items(filter_typename=None):
        if "." in name or "/" in name:  # sub-branches of split objects
            skipped.append(name)
            continue
        try:
            dtype = branch.interpretation.to_dtype
            ok = getattr(branch.interpretation, "inner_shape", ()) == () and np.dtype(dtype).kind in "fiub"
        except AttributeError:
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
            print(f"[root] {source}: skipped {len(skipped)} branches that are not one number per entry: "
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
                branch_of[n] = ("score", k)
        for ds in ("event_number", "sample_index", "weight", "label", "mass", "split"):
            if ds in f:
                branch_of[ds] = (ds, None)
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
    p.add_argument("--step", type=int, default=100000)
    args = parser.parse_args()
    try:
        if args.command == "stage" and len(args.inputs) % 2:
            raise InputProblem("stage: inputs come in pairs ROOT_FILE PART.h5")
        {"stage": stage, "merge": merge, "friend": friend}[args.command](args)
    except InputProblem as e:
        message = str(e)
        print(f"error: {message}", file=sys.stderr)
        if args.error_file:
            with open(args.error_file, "w") as out:
                out.write(message)
        sys.exit(2)


if __name__ == "__main__":
    main()
