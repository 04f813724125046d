#!/usr/bin/env python3
"""PyTorch reference for the two CNNs of the mono-jet study (analysis E) on 60x60x10 eta-phi images.

    PYTHON tools/bench/cnn_torch.py [--model strides|maxpool] [--batch 64] [--steps 20] [--threads 1,2]
                                    [--mode eager|compile|both] [--device cpu|cuda]
                                    [--memory-format auto|nchw|channels_last]

PYTHON is a Python with torch (the benchmark virtual environment); without torch the script says so
and exits with status 3. Models (bsmhunt takes channels-last images; here NCHW tensors, stored NCHW or
channels_last):
  strides: conv3x3 10->64, conv3x3 64->128, conv3x3 128->256 stride 2, conv3x3 256->128,
           conv3x3 128->256 stride 2, conv1x1 256->128 (all relu, padding 1 for 3x3), flatten,
           dense 128*15*15 -> 128 relu, dropout 0.1, dense 128 -> 2            (60 -> 30 -> 15)
  maxpool: the same with every stride 1 and MaxPool2d(2) after the 3rd and 5th conv (60 -> 30 -> 15)
Training step: softmax cross entropy over the 2 logits (mean over the batch) + 0.01 * sum of squares of
the conv kernels (Keras kernel_regularizer l2(0.01); biases and dense layers not regularised), Adam
(lr 1e-4, eps 1e-7 as Keras and the engine). Random images and labels (fixed seed), resident on the
device; 3 warm-up steps (torch.compile compiles there), then --steps timed steps.

--mode compile compiles the forward pass + loss with torch.compile (default mode); the optimiser step
stays eager. --memory-format auto measures NCHW and channels_last and reports the faster.
Each configuration (thread count x mode) is one JSON line on stdout:
  {"model", "batch", "threads", "mode", "device", "images_per_second", "memory_format", "torch"}
progress, losses and the best configuration go to stderr.
"""
import argparse
import json
import sys
import time

CHANNELS, SIZE, CLASSES, WARMUP = 10, 60, 2, 3


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=("strides", "maxpool"), default="strides")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20, help="timed steps, after %d warm-up steps" % WARMUP)
    ap.add_argument("--threads", default="", help="torch.set_num_threads value(s), comma-separated "
                    "(default: torch's default); each is measured and the best reported")
    ap.add_argument("--mode", choices=("eager", "compile", "both"), default="eager")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--memory-format", choices=("auto", "nchw", "channels_last"), default="auto")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    try:
        a.threads = [int(s) for s in a.threads.split(",") if s.strip()] or [None]
    except ValueError:
        ap.error("--threads: a comma-separated list of integers, e.g. 1,2")
    if a.batch < 1 or a.steps < 1 or any(t is not None and t < 1 for t in a.threads):
        ap.error("--batch, --steps and --threads must be positive")
    return a


args = parse_args()  # before importing torch: --help and bad options work without it
try:
    import torch
    from torch import nn
except ImportError as e:
    print(f"cnn_torch: PyTorch is not importable from {sys.executable} ({e}). Run this script with the Python "
          "of the benchmark virtual environment that has torch, e.g. VENV/bin/python tools/bench/cnn_torch.py",
          file=sys.stderr)
    sys.exit(3)


def build_model(name):
    s = 2 if name == "strides" else 1  # the two down-sampling convolutions

    def conv(cin, cout, k=3, stride=1):
        return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2), nn.ReLU()]

    pool = [] if name == "strides" else [nn.MaxPool2d(2)]
    layers = (conv(CHANNELS, 64) + conv(64, 128) + conv(128, 256, stride=s) + pool + conv(256, 128)
              + conv(128, 256, stride=s) + pool + conv(256, 128, k=1)
              + [nn.Flatten(), nn.Linear(128 * 15 * 15, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, CLASSES)])
    return nn.Sequential(*layers)


def measure(mode, memory_format, device):
    """Images per second of training steps, warm-up seconds, and the losses of the warm-up and last steps."""
    torch.manual_seed(args.seed)
    fmt = torch.channels_last if memory_format == "channels_last" else torch.contiguous_format
    model = build_model(args.model).to(device=device, memory_format=fmt)
    kernels = [m.weight for m in model if isinstance(m, nn.Conv2d)]
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, eps=1e-7)
    g = torch.Generator().manual_seed(args.seed)
    n_batches = 4  # a few distinct random batches, cycled
    xs = [torch.randn(args.batch, CHANNELS, SIZE, SIZE, generator=g).to(device=device, memory_format=fmt)
          for _ in range(n_batches)]
    ys = [torch.randint(0, CLASSES, (args.batch,), generator=g).to(device) for _ in range(n_batches)]

    def loss_fn(x, y):
        l2 = sum((w * w).sum() for w in kernels)
        return nn.functional.cross_entropy(model(x), y) + 0.01 * l2

    if mode == "compile":  # afresh for every configuration: the CPU kernels bake in the thread count
        # "import torch.x" inside a function would make torch a local name of it.
        import torch._dynamo as dynamo
        import torch._inductor.config as inductor_config
        dynamo.reset()
        if hasattr(inductor_config, "fx_graph_cache"):
            inductor_config.fx_graph_cache = False
        loss_fn = torch.compile(loss_fn)
    model.train()

    def step(i):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(xs[i % n_batches], ys[i % n_batches])
        loss.backward()
        opt.step()
        return loss

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    warm = [step(i).item() for i in range(WARMUP)]
    sync()
    t1 = time.perf_counter()
    for i in range(args.steps):
        loss = step(WARMUP + i)
    sync()
    t2 = time.perf_counter()
    return args.batch * args.steps / (t2 - t1), t1 - t0, warm + [loss.item()]


def main():
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        print("cnn_torch: --device cuda but torch.cuda.is_available() is False", file=sys.stderr)
        return 2
    if device == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest algorithms
    modes = ["eager", "compile"] if args.mode == "both" else [args.mode]
    if "compile" in modes and not hasattr(torch, "compile"):
        print(f"cnn_torch: torch {torch.__version__} has no torch.compile (needs torch >= 2.0)", file=sys.stderr)
        modes.remove("compile")
        if not modes:
            return 2
    formats = ["nchw", "channels_last"] if args.memory_format == "auto" else [args.memory_format]
    params = sum(p.numel() for p in build_model(args.model).parameters())
    print(f"cnn_torch: torch {torch.__version__}, model {args.model} ({params} parameters), batch {args.batch}, "
          f"{WARMUP} warm-up + {args.steps} timed steps, device {device}"
          + (f" ({torch.cuda.get_device_name()}, float32, cudnn.benchmark)" if device == "cuda" else "")
          + f", default threads {torch.get_num_threads()}", file=sys.stderr)
    results = []
    for threads in args.threads:
        if threads is not None:
            torch.set_num_threads(threads)
        for mode in modes:
            best = None
            for fmt in formats:
                rate, warm_s, losses = measure(mode, fmt, device)
                print(f"  threads {torch.get_num_threads()}, {mode}, {fmt}: {rate:.4g} images/s (warm-up "
                      f"{warm_s:.2f} s); loss " + " ".join(f"{l:.4f}" for l in losses), file=sys.stderr)
                if best is None or rate > best[0]:
                    best = (rate, fmt)
            line = {"model": args.model, "batch": args.batch, "threads": torch.get_num_threads(), "mode": mode,
                    "device": device, "images_per_second": round(best[0], 3), "memory_format": best[1],
                    "torch": torch.__version__}
            results.append(line)
            print(json.dumps(line), flush=True)
    if len(results) > 1:
        for mode in modes:
            b = max((r for r in results if r["mode"] == mode), key=lambda r: r["images_per_second"])
            print(f"  best {mode}: {b['images_per_second']:.4g} images/s with {b['threads']} thread(s), "
                  f"{b['memory_format']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
