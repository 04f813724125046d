#!/usr/bin/python3
"""PyTorch reference for tools/bench/train_bench (issue 4, "Benchmarks").

The same MLP (25 -> 64 -> 64 -> 1, relu), batch, optimiser (Adam, lr 1e-3, eps 1e-7 as
the engine) and loss (BCEWithLogits weighted per event, mean of w * l over the batch)
on the same kind of synthetic data (two Gaussian blobs, weights in (0.1, 2)), data
resident in tensors, one shuffled epoch as warm-up, then timed epochs.

    /usr/bin/python3 tools/bench/train_torch.py [--rows N] [--batch B] [--epochs E] [--threads 1,2]

Each thread setting is measured in turn in this process; the last lines are
"RESULT ..." for tools/bench/bench. Always run with Debian's /usr/bin/python3
(python3-torch 1.13).
"""
import argparse
import resource
import sys
import time

try:
    import torch
except ImportError:  # the bench command prints "torch absent" and goes on
    print("RESULT mode=torch absent=1")
    sys.exit(3)

FEATURES = 25


def make_data(rows, seed):
    g = torch.Generator().manual_seed(seed)
    signal = torch.rand(rows, generator=g) < 0.5
    mean = torch.where(signal, 0.25, -0.25).unsqueeze(1)
    x = torch.randn(rows, FEATURES, generator=g) + mean
    t = signal.float()
    w = 0.1 + 1.9 * torch.rand(rows, generator=g)
    return x.contiguous(), t, w


def flops_per_row(model):
    linear = [m for m in model if isinstance(m, torch.nn.Linear)]
    total = 0
    for i, m in enumerate(linear):
        mac = m.in_features * m.out_features
        total += 2 * mac + 2 * mac + (2 * mac if i > 0 else 0)  # forward, dW, dx (not for the input)
    return total


def run(threads, rows, batch, epochs, seed):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x, t, w = make_data(rows, seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    bce = torch.nn.BCEWithLogitsLoss(reduction="none")

    def epoch():
        perm = torch.randperm(rows)
        total = 0.0
        for start in range(0, rows, batch):
            idx = perm[start:start + batch]
            xb, tb, wb = x[idx], t[idx], w[idx]
            opt.zero_grad(set_to_none=True)
            loss = (wb * bce(model(xb).squeeze(1), tb)).mean()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        return total / rows

    t0 = time.perf_counter()
    losses = [epoch()]  # warm-up
    t1 = time.perf_counter()
    for _ in range(epochs):
        losses.append(epoch())
    t2 = time.perf_counter()
    rate = rows * epochs / (t2 - t1)
    f = flops_per_row(model)
    return {"threads": threads, "rate": rate, "gflops": rate * f / 1e9, "warmup_s": t1 - t0, "timed_s": t2 - t1,
            "losses": losses, "flops": f}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1 << 20)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", default="1,2", help="comma-separated torch.set_num_threads values")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    params = 25 * 64 + 64 + 64 * 64 + 64 + 64 + 1
    print(f"train_torch: torch {torch.__version__}, mlp 25-64-64-1 relu ({params} parameters), Adam (lr 1e-3, "
          f"eps 1e-7), weighted BCEWithLogits (mean of w*l); {a.rows} rows resident in tensors, batch {a.batch}, "
          f"1 warm-up + {a.epochs} timed epochs")
    results = []
    for n in (int(s) for s in a.threads.split(",")):
        r = run(n, a.rows, a.batch, a.epochs, a.seed)
        results.append(r)
        print(f"  {n} thread(s): {r['rate']:.4g} samples/s, {r['gflops']:.1f} GFLOP/s "
              f"({r['flops']} GEMM flop/row); warm-up {r['warmup_s']:.2f} s, timed {r['timed_s']:.2f} s; "
              f"loss per epoch " + " ".join(f"{l:.4f}" for l in r["losses"]))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    best = max(results, key=lambda r: r["rate"])
    print(f"  peak RSS {rss:.0f} MB (whole process, all settings)")
    for r in results:
        print(f"RESULT mode=torch threads={r['threads']} samples_per_s={r['rate']:.1f} gflops={r['gflops']:.3f} "
              f"final_loss={r['losses'][-1]:.5f} peak_rss_mb={rss:.0f}")
    print(f"RESULT mode=torch_best threads={best['threads']} samples_per_s={best['rate']:.1f} "
          f"version={torch.__version__}")


if __name__ == "__main__":
    main()
