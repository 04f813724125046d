#!/usr/bin/env python3
"""Reads of a score (or feature) matrix under different chunk shapes (docs/benchmarks.md,
"Chunks of column blocks"): the first ROWS rows of the matrix are rewritten with each
shape (shuffle + deflate 1, as bsmhunt writes), then timed reading one column and all
columns in row blocks aligned and not aligned to the chunks.

Usage: chunk_shapes.py FILE [DATASET] [ROWS]   (DATASET: score, or features)"""
import os
import sys
import tempfile
import time

import h5py

SHAPES = [(512, 72), (2048, 72), (65536, 1), (4096, 18), (4096, 15), (16384, 9)]


def main():
    path = sys.argv[1]
    name = sys.argv[2] if len(sys.argv) > 2 else "score"
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 800_000
    with h5py.File(path, "r") as f:
        data = f[name][:rows]
    rows, width = data.shape
    print(f"{path}:/{name}, first {rows} rows x {width} columns")
    with tempfile.TemporaryDirectory() as tmp:
        for chunk_rows, chunk_cols in SHAPES:
            chunks = (min(chunk_rows, rows), min(chunk_cols, width))
            out = os.path.join(tmp, "m.h5")
            with h5py.File(out, "w") as f:
                f.create_dataset("m", data=data, chunks=chunks, compression="gzip", compression_opts=1, shuffle=True)
            with h5py.File(out, "r") as f:
                d = f["m"]
                t = time.perf_counter()
                d[:, min(7, width - 1)]
                one = time.perf_counter() - t
                t = time.perf_counter()
                for a in range(0, rows, 100_000):
                    d[a:a + 100_000]
                unaligned = time.perf_counter() - t
                t = time.perf_counter()
                for a in range(0, rows, 65536):
                    d[a:a + 65536]
                aligned = time.perf_counter() - t
            print(f"chunks {chunks[0]:6d} x {chunks[1]:3d}  {os.path.getsize(out) / 1e6:7.1f} MB  one column {one:6.3f} s"
                  f"  all columns in 100000-row blocks {unaligned:6.3f} s, in 65536-row blocks {aligned:6.3f} s")


if __name__ == "__main__":
    main()
