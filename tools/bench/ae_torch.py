#!/usr/bin/python3
"""PyTorch reference for `tools/bench/bench ae` (issue 14, "Benchmarks"): the
autoencoder of `bsmhunt train --model autoencoder` with the same architecture
(D -> hidden... -> latent -> mirrored -> D, the activation between layers, linear
output), loss (per-event MSE averaged over the batch), optimiser (Adam, lr 1e-3,
eps 1e-7 as the engine) and batch size, on the same rows: the training split of the
background samples of a bsmhunt feature file, z-scored, the columns named by
--columns-from (bsmhunt's model file: its preprocessing/feature_names). Data resident
in tensors; one warm-up epoch, then timed epochs.

    .bench-venv/bin/python tools/bench/ae_torch.py FEATURES.h5 --columns-from MODEL.h5 \
        [--hidden 64,32] [--latent 6] [--batch 4096] [--epochs 3] [--threads 1]

Prints "RESULT mode=torch ..." lines for tools/bench/bench.
"""
import argparse
import resource
import sys
import time

import h5py
import numpy as np

try:
    import torch
except ImportError:
    print("RESULT mode=torch absent=1")
    sys.exit(3)


def load(path, model_path):
    m = h5py.File(model_path, "r")
    wanted = [n.decode() for n in m["preprocessing/feature_names"][:]]
    f = h5py.File(path, "r")
    names = [n.decode() for n in f["feature_names"][:]]
    cols = [names.index(n) for n in wanted]
    samples = [n.decode() for n in f["sample_names"][:]]
    background = np.array([f["samples"][s].attrs["role"] in ("background", b"background") for s in samples])
    rows = background[f["sample_index"][:]] & (f["split"][:] == 0)
    x = f["features"][:][rows][:, cols].astype(np.float32)
    x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
    return torch.from_numpy(np.ascontiguousarray(x))


def build(d, hidden, latent, activation):
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[activation]
    widths = [d] + hidden + [latent] + hidden[::-1]
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [torch.nn.Linear(a, b), act()]
    layers.append(torch.nn.Linear(widths[-1], d))
    return torch.nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("features")
    p.add_argument("--columns-from", required=True)
    p.add_argument("--hidden", default="64,32")
    p.add_argument("--latent", type=int, default=6)
    p.add_argument("--activation", default="relu")
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    x = load(a.features, a.columns_from)
    model = build(x.shape[1], [int(h) for h in a.hidden.split(",")], a.latent, a.activation)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    n = x.shape[0]

    def epoch():
        perm = torch.randperm(n)
        total = 0.0
        for s in range(0, n, a.batch):
            xb = x[perm[s:s + a.batch]]
            opt.zero_grad(set_to_none=True)
            loss = ((model(xb) - xb) ** 2).mean()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(xb)
        return total / n

    epoch()  # warm-up
    t0 = time.perf_counter()
    for _ in range(a.epochs):
        last = epoch()
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    params = sum(p.numel() for p in model.parameters())
    print(f"RESULT mode=torch threads={a.threads} rows={n} inputs={x.shape[1]} params={params} "
          f"samples_per_s={n * a.epochs / dt:.1f} epoch_s={dt / a.epochs:.3f} final_loss={last:.5f} "
          f"peak_rss_mb={rss:.0f} torch={torch.__version__}")


if __name__ == "__main__":
    main()
