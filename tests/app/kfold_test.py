#!/usr/bin/env python3
"""k-fold training and out-of-fold scores (issue #16; docs/training.md "k-fold").

1. train --folds 3 writes one file with three complete models; model k's training
   counts equal, exactly, the events outside fold k counted here with the fold rule
   re-implemented in numpy (so model k never trained on an event of fold k).
2. predict scores each event with its fold's model: on fold k the out-of-fold score is
   predict --fold k's (to float rounding); elsewhere it is not. 1 and 2 ranks give the same
   file bit for bit, and training on 1 and 2 ranks the same loss curves (float sums).
3. Every event then has an unbiased score: the weighted AUC over all events, and
   significance --split all runs on them. BDT and autoencoder train in folds too.
4. Bad input: --folds 0, --fold 3 of a 3-fold model, --folds with the cnn, the ONNX
   export of a k-fold model.

usage: kfold_test.py BSMHUNT WORKDIR
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from cli_check import check_bad_inputs, mpirun, run, verdict, weighted_auc  # noqa: E402

K = 3
SEED = 7
M64 = (1 << 64) - 1
BACKGROUNDS = "dy_ee,dy_mumu,ttbar_dilep,ww_lvlv,zz_llvv,wjets_fake"
SIGNAL = "zp_DH_HDS_m300_*"
MLP = ["--model", "mlp", "--hidden", "32,32", "--epochs", "4", "--batch-size", "512", "--learning-rate", "0.002",
       "--sample-weights", "mc", "--class-balance", "sum", "--seed", str(SEED), "--progress-seconds", "1000"]




# The fold rule of docs/training.md, independently: FNV-1a of the sample name, SplitMix64.
def stable_hash(name):
    h = 14695981039346656037
    for b in name.encode():
        h = ((h ^ b) * 1099511628211) & M64
    return h


def mix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def mix64_np(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def folds_of(event_number, sample_index, names, seed, k):
    salt = np.array([mix64(stable_hash(n) ^ mix64(seed ^ 0x6B666F6C64)) for n in names], dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = mix64_np(event_number.astype(np.uint64) ^ salt[sample_index])
    # ((h >> 11) * k) >> 53 without overflow: h >> 11 < 2^53 and k < 2^11
    return (((h >> np.uint64(11)) * np.uint64(k)) >> np.uint64(53)).astype(np.int64)



def asimov(s, b):
    return np.sqrt(np.maximum(0.0, 2 * ((s + b) * np.log1p(s / b) - s)))


def check_unbiased_z(res, h5_path, score, w, idx, ev, names, role, folds=5, min_mc=3.0):
    """significance --cut-folds 5 (the default), independently: the events in 5 folds by
    the fold rule (seed 0); per fold k, the cut that maximises the Asimov Z of the other
    four (scaled by 5/4, counting only with b >= 1 and >= min_mc effective MC events)
    must be the reported one, and s, b at it on fold k (scaled by 5) the reported ones;
    the unbiased Z is the Asimov Z of the folds' mean s and b."""
    out = []
    with h5py.File(h5_path, "r") as h:
        edges = h["binned_edges"][:]
    with np.errstate(divide="ignore"):  # scores of exactly 0 or 1: -inf / inf, as bsmhunt bins them
        x = np.log(score.astype(np.float64) / (1 - score.astype(np.float64))).astype(np.float32).astype(np.float64)
    fold = folds_of(ev, idx, names, 0, folds)
    bkg = role[idx] == "background"
    checked = 0
    for sig in res["channels"][0]["signals"]:
        u = sig.get("unbiased")
        if u is None:
            out.append(f"{sig['name']}: no unbiased Z in the significance JSON")
            continue
        mine = idx == names.index(sig["name"])
        # Sums above every edge: [k, edge] for signal, background, background w^2.
        def above(mask):
            return np.array([[np.sum(w[mask & (fold == k) & (x >= e)]) for e in edges] for k in range(folds)])
        s_k, b_k = above(mine), above(bkg)
        b2_k = np.array([[np.sum((w ** 2)[bkg & (fold == k) & (x >= e)]) for e in edges] for k in range(folds)])
        fold_s, fold_b = [], []  # numpy's s, b on each fold at its cut
        for k in range(folds):
            others = [j for j in range(folds) if j != k]
            up = folds / (folds - 1)
            so, bo, b2o = s_k[others].sum(0) * up, b_k[others].sum(0) * up, b2_k[others].sum(0) * up * up
            ok = (bo > 0) & (bo >= 1) & ((b2o <= 0) | (bo * bo >= min_mc * b2o))
            z = np.where(ok, asimov(so, np.where(bo > 0, bo, 1)), -np.inf)
            if not np.isfinite(z).any():
                if u["cut"][k] is not None:
                    out.append(f"{sig['name']} fold {k}: no cut counts here, bsmhunt chose {u['cut'][k]}")
                continue
            i = int(np.argmax(z))
            fold_s.append(folds * s_k[k][i]), fold_b.append(folds * b_k[k][i])
            want_cut = 1 / (1 + np.exp(-edges[i]))
            if u["cut"][k] is None or not np.isclose(u["cut"][k], want_cut, rtol=1e-9, atol=1e-12):
                out.append(f"{sig['name']} fold {k}: cut {u['cut'][k]}, numpy's best on the other folds {want_cut}")
                continue
            if not (np.isclose(u["s"][k], folds * s_k[k][i], rtol=1e-9) and
                    np.isclose(u["b"][k], folds * b_k[k][i], rtol=1e-9)):
                out.append(f"{sig['name']} fold {k}: s, b = {u['s'][k]}, {u['b'][k]}; numpy "
                           f"{folds * s_k[k][i]}, {folds * b_k[k][i]}")
            checked += 1
        if fold_s and np.mean(fold_b) > 0:
            want_z = asimov(np.mean(fold_s), np.mean(fold_b))
            if u["z"] is None or not np.isclose(u["z"], want_z, rtol=1e-9):
                out.append(f"{sig['name']}: unbiased z {u['z']}, numpy's Z of the folds' mean s and b {want_z}")
        finite = [v for v in u["z_per_fold"] if v is not None]
        if len(finite) > 1 and not np.isclose(u["z_std"], np.std(finite, ddof=1), rtol=1e-9):
            out.append(f"{sig['name']}: z_std {u['z_std']} is not the spread of {finite}")
        print(f"{sig['name']}: Z over all events {sig['best']['z']:.3f}, cut chosen on other folds "
              f"{u['z']:.3f} +- {u['z_std']:.3f}")
    if checked < 5:
        out.append(f"only {checked} folds checked")
    return out


def main():
    bsmhunt, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    p = lambda name: os.path.join(work, name)  # noqa: E731
    run(mpirun(2) + [bsmhunt, "generate", "--channel", "dilepton_met", "--events", "100000", "--signal-events",
                     "4000", "--samples", BACKGROUNDS + ",zp_DH_HDS_m300_ee,zp_DH_HDS_m300_mumu", "--pseudo-data",
                     "false", "--summary", "false", "--output", p("events.h5")])
    run(mpirun(2) + [bsmhunt, "extract", "--input", p("events.h5"), "--output", p("features.h5")])
    failures = []

    # 1. Three complete models, each trained outside its fold.
    log = run(mpirun(2) + [bsmhunt, "train", "--features", p("features.h5"), "--output", p("kfold.h5"),
                           "--signal-samples", SIGNAL, "--folds", str(K)] + MLP)
    for k in range(K):
        if f"fold {k + 1}/{K}: training without the events of fold {k}" not in log:
            failures.append(f"train log does not announce fold {k}:\n{log}")
    left = [n for n in os.listdir(work) if n.startswith("kfold.h5.fold")]
    if left:
        failures.append(f"the per-fold files were not removed after the merge: {left}")
    with h5py.File(p("features.h5"), "r") as f:
        names = [n.decode() for n in f["sample_names"][:]]
        ev, idx, split = f["event_number"][:], f["sample_index"][:], f["split"][:]
        w, label = f["weight"][:], f["label"][:]
        role = np.array([(lambda r: r.decode() if isinstance(r, bytes) else r)(f["samples"][n].attrs["role"])
                         for n in names])
    fold = folds_of(ev, idx, names, SEED, K)
    used = (role[idx] == "background") | np.array([n.startswith("zp_DH_HDS_m300_") for n in names])[idx]
    print("events per fold:", np.bincount(fold, minlength=K))
    with h5py.File(p("kfold.h5"), "r") as m:
        if int(m["folds/count"][0]) != K:
            failures.append(f"folds/count = {m['folds/count'][:]}")
        for k in range(K):
            counts = m[f"folds/{k}/training/train_events"][:]  # signal, background
            rows = used & (fold != k) & (split != 1)  # train and test splits of the other folds
            want = [int(np.sum(rows & (label == 1))), int(np.sum(rows & (label == 0)))]
            print(f"fold {k}: model trained on {counts.astype(int).tolist()} (signal, background); outside fold {k}: "
                  f"{want}")
            if counts.astype(int).tolist() != want:
                failures.append(f"fold {k}: trained on {counts.tolist()}, events outside fold {k}: {want}")
            if int(m[f"folds/{k}/training/held_out_fold"][0]) != k:
                failures.append(f"fold {k}: held_out_fold = {m[f'folds/{k}/training/held_out_fold'][:]}")

    # 2. Out-of-fold scores, rank invariance.
    for n in (1, 2):
        run(mpirun(n) + [bsmhunt, "predict", "--model", p("kfold.h5"), "--features", p("features.h5"), "--output",
                         p(f"oof_{n}.h5")])
    for k in range(K):
        run(mpirun(2) + [bsmhunt, "predict", "--model", p("kfold.h5"), "--features", p("features.h5"), "--output",
                         p(f"fold{k}.h5"), "--fold", str(k)])
    with h5py.File(p("oof_1.h5"), "r") as a, h5py.File(p("oof_2.h5"), "r") as b:
        oof = a["score"][:]
        if not np.array_equal(oof, b["score"][:]):
            failures.append("out-of-fold scores: 1 and 2 ranks differ")
        if int(a.attrs["folds"]) != K or "out-of-fold" not in a.attrs["scored_by"]:
            failures.append(f"score file attributes folds/scored_by: {dict(a.attrs)}")
    for k in range(K):
        with h5py.File(p(f"fold{k}.h5"), "r") as f:
            sk = f["score"][:]
        # Equal up to float rounding: the fold's rows go through the network in other
        # batches than with --fold (3e-7 seen), while another fold's model is far off.
        same, other = np.max(np.abs(oof[fold == k] - sk[fold == k])), np.max(np.abs(oof[fold != k] - sk[fold != k]))
        print(f"fold {k}: out-of-fold vs --fold {k}: max |difference| {same:.1e} on fold {k}, {other:.2f} elsewhere")
        if not same < 1e-5:
            failures.append(f"fold {k}: out-of-fold scores are not fold {k}'s model's (differ by {same:.2e})")
        if not other > 1e-2:
            failures.append(f"fold {k}: its model gives the other folds' scores too (differ by {other:.2e})")
    run(mpirun(1) + [bsmhunt, "train", "--features", p("features.h5"), "--output", p("kfold_1rank.h5"),
                     "--signal-samples", SIGNAL, "--folds", str(K)] + MLP)
    with h5py.File(p("kfold.h5"), "r") as a, h5py.File(p("kfold_1rank.h5"), "r") as b:
        for k in range(K):
            t2, t1 = a[f"folds/{k}/history/train_loss"][:], b[f"folds/{k}/history/train_loss"][:]
            rel = float(np.max(np.abs(t2 - t1) / np.abs(t1)))
            if not rel < 2e-4:
                failures.append(f"fold {k}: 1 vs 2 ranks loss curves differ by {rel:.2e}")

    # 3. Every event scored without bias: AUC over all events, significance --split all.
    keep = used
    auc = weighted_auc(oof[keep], w[keep], (label == 1)[keep])
    print(f"out-of-fold weighted AUC over all {int(keep.sum())} events: {auc:.5f}")
    if not auc > 0.95:
        failures.append(f"out-of-fold AUC {auc:.5f}")
    out = run(mpirun(2) + [bsmhunt, "significance", "--scores", p("oof_2.h5"), "--features", p("features.h5"),
                           "--output", p("sig.json"), "--split", "all", "--min-mc-events", "3"])
    res = json.load(open(p("sig.json")))
    if res["split"] != "all" or not res["channels"][0]["signals"]:
        failures.append("significance --split all on out-of-fold scores: " + out)
    failures += check_unbiased_z(res, p("sig.h5"), oof, w, idx, ev, names, role)
    run(mpirun(2) + [bsmhunt, "train", "--features", p("features.h5"), "--output", p("kfold_bdt.h5"), "--model", "bdt",
                     "--signal-samples", SIGNAL, "--folds", "2", "--bdt-trees", "30"])
    run(mpirun(2) + [bsmhunt, "predict", "--model", p("kfold_bdt.h5"), "--features", p("features.h5"), "--output",
                     p("oof_bdt.h5")])
    with h5py.File(p("oof_bdt.h5"), "r") as f:
        auc_bdt = weighted_auc(f["score"][:][keep], w[keep], (label == 1)[keep])
    print(f"2-fold BDT, out-of-fold AUC {auc_bdt:.5f}")
    if not auc_bdt > 0.95:
        failures.append(f"2-fold BDT out-of-fold AUC {auc_bdt:.5f}")
    run(mpirun(2) + [bsmhunt, "train", "--features", p("features.h5"), "--output", p("kfold_ae.h5"), "--model",
                     "autoencoder", "--hidden", "16,4,16", "--epochs", "2", "--folds", "2", "--progress-seconds",
                     "1000"])
    run(mpirun(2) + [bsmhunt, "predict", "--model", p("kfold_ae.h5"), "--features", p("features.h5"), "--output",
                     p("oof_ae.h5")])

    # Preemption (Slurm's SIGUSR1) in the second fold: exit 75 with the first fold's model
    # and the second's checkpoint; --resume keeps the first, continues the second.
    proc = subprocess.Popen([bsmhunt, "train", "--features", p("features.h5"), "--output", p("pre.h5"),
                             "--signal-samples", SIGNAL, "--folds", str(K), "--progress-seconds", "0"]
                            + [x for x in MLP if x not in ("--epochs", "4", "--progress-seconds", "1000")]
                            + ["--epochs", "30", "--patience", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(300, proc.kill)  # never hang the test suite
    watchdog.start()
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "fold 2/3" in line:
            break
    for line in proc.stdout:  # a step of fold 2 has run
        seen.append(line)
        if "epoch 1/30" in line and "step" in line:
            proc.send_signal(signal.SIGUSR1)
            break
    rest, _ = proc.communicate()
    watchdog.cancel()
    if proc.returncode != 75 or not os.path.exists(p("pre.h5.fold0.h5")) or \
            not os.path.exists(p("pre.h5.fold1.h5.checkpoint.h5")):
        failures.append(f"SIGUSR1 in fold 2: exit {proc.returncode}, files {sorted(os.listdir(work))}\n"
                        + "".join(seen) + rest)
    else:
        log = run([bsmhunt, "train", "--features", p("features.h5"), "--output", p("pre.h5"), "--signal-samples",
                   SIGNAL, "--folds", str(K), "--resume"] + [x for x in MLP if x not in ("--epochs", "4")]
                  + ["--epochs", "30", "--patience", "30"])
        if "fold 1/3: complete" not in log or "resumed from" not in log:
            failures.append("--resume after SIGUSR1 did not keep fold 1 and continue fold 2:\n" + log)
        with h5py.File(p("pre.h5"), "r") as m:
            if int(m["folds/count"][0]) != K:
                failures.append("the resumed k-fold model lacks folds")

    # 4. Bad input: exit 2, the reason, no output.
    bad = [
        (["train", "--features", p("features.h5"), "--output", p("bad.h5"), "--folds", "0"], "--folds 0: expected 1"),
        (["predict", "--model", p("kfold.h5"), "--features", p("features.h5"), "--output", p("bad.h5"), "--fold",
          "3"], "--fold 3: " + p("kfold.h5") + " has folds 0 to 2"),
        (["train", "--features", p("features.h5"), "--output", p("bad.h5"), "--model", "cnn", "--folds", "2"],
         "the cnn is not trained in folds"),
        (["export", "--model", p("kfold.h5"), "--output", p("bad.h5"), "--format", "onnx"], "a k-fold model"),
        (["predict", "--model", p("kfold_ae.h5"), "--features", p("features.h5"), "--output", p("bad.h5"),
          "--fold", "-2"], "--fold -2"),
        (["train", "--features", p("features.h5"), "--output", p("bad.h5"), "--folds", "3", "--scan", "grid",
          "--scan-params", "learning-rate=0.001|0.002"], "--scan with --folds"),
    ]
    check_bad_inputs(bsmhunt, bad, p("bad.h5"), failures)

    return verdict(failures, "k-fold: all checks passed")


if __name__ == "__main__":
    sys.exit(main())
