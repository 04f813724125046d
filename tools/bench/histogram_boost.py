#!/usr/bin/env python3
"""boost-histogram side of `tools/bench/bench histogram`: per-sample weighted
histograms (sum w and sum w^2: storage Weight) of the scores written by
histogram_bench --dump, each sample's slice filled into its own histogram (the
samples are contiguous, as in feature and score files), timed on one core. The sums
are checked against numpy's bincount so the two do the same work."""
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import boost_histogram as bh  # noqa: E402
import numpy as np  # noqa: E402

d, samples, bins = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
x = np.fromfile(os.path.join(d, "scores.f32"), dtype=np.float32)
w = np.fromfile(os.path.join(d, "weights.f64"), dtype=np.float64)
g = np.fromfile(os.path.join(d, "samples.u32"), dtype=np.uint32)
# Sample runs: [start, stop) of each contiguous block of one sample.
cut = np.flatnonzero(np.diff(g)) + 1
starts, stops = np.concatenate(([0], cut)), np.concatenate((cut, [len(g)]))
hists = [bh.Histogram(bh.axis.Regular(bins, 0.0, 1.0), storage=bh.storage.Weight()) for _ in range(samples)]
t0 = time.perf_counter()
for a, b in zip(starts, stops):
    hists[g[a]].fill(x[a:b], weight=w[a:b], threads=1)
t1 = time.perf_counter()
# Same sums as numpy's; a score of exactly 1 is boost-histogram's overflow, the last
# bin for bsmhunt and numpy's clip.
b_ = np.clip(np.floor(x.astype(np.float64) * bins).astype(np.int64), 0, bins - 1)
key = g.astype(np.int64) * bins + b_
sw = np.bincount(key, weights=w, minlength=samples * bins).reshape(samples, bins)
flow = np.array([h.view(flow=True).value for h in hists])
ours = flow[:, 1:-1].copy()
ours[:, -1] += flow[:, -1]
assert not flow[:, 0].any()
assert np.allclose(ours, sw, rtol=1e-9, atol=1e-9), np.abs(ours - sw).max()
print(f"RESULT boost_s={t1 - t0:.4f} boost_rate={len(x) / (t1 - t0) / 1e6:.1f}M/s runs={len(starts)} "
      f"boost_version={bh.__version__}")
