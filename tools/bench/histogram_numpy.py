#!/usr/bin/python3
"""numpy side of `tools/bench/bench histogram`: per-sample weighted histograms (sum w
and sum w^2) of the scores written by histogram_bench --dump, timed on one core,
plus a single np.histogram of all scores for reference."""
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

d, samples, bins = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
x = np.fromfile(os.path.join(d, "scores.f32"), dtype=np.float32)
w = np.fromfile(os.path.join(d, "weights.f64"), dtype=np.float64)
g = np.fromfile(os.path.join(d, "samples.u32"), dtype=np.uint32)
t0 = time.perf_counter()
b = np.clip((x * bins).astype(np.int64), 0, bins - 1)
key = g.astype(np.int64) * bins + b
sw = np.bincount(key, weights=w, minlength=samples * bins)
sw2 = np.bincount(key, weights=w * w, minlength=samples * bins)
t1 = time.perf_counter()
h, _ = np.histogram(x, bins=bins, range=(0.0, 1.0), weights=w)
t2 = time.perf_counter()
print(f"RESULT numpy_per_sample_s={t1 - t0:.4f} numpy_per_sample_rate={len(x) / (t1 - t0) / 1e6:.1f}M/s "
      f"numpy_histogram_s={t2 - t1:.4f} numpy_histogram_rate={len(x) / (t2 - t1) / 1e6:.1f}M/s")
