"""cdist benchmark: ms per call and ratio vs torch.cdist and scipy's cdist, same run.

    python bindings/python/benches/bench_cdist.py [--quick]

Shapes (P = R): (1000, 3), (4096, 128), (10000, 64), f32, p = 2 (and p = 1 for the first two).
Each round times every contender (several calls per sample for small shapes), interleaved;
medians are reported, with ours / peer time (below 1: faster than the peer). torch and scipy come
from `make venv-bench`; without them only candle_numpy is timed. Accuracy on the hard case
(two f32 points 512695 and 512804) is printed alongside.
"""

import argparse
import os
import statistics
import time

import numpy as np

import candle_numpy as cn

try:
    import torch
except ImportError:
    torch = None
try:
    from scipy.spatial.distance import cdist as scipy_cdist
except ImportError:
    scipy_cdist = None


def timed(f, number):
    s = time.perf_counter()
    for _ in range(number):
        f()
    return (time.perf_counter() - s) / number


def calls_per_sample(cases):
    """Enough calls that one sample takes ~20 ms for the slowest contender (a 0.2 ms call
    timed once is mostly timer and wake-up noise)."""
    slowest = max(timed(f, 1) for f in cases.values())
    return max(1, int(0.02 / max(slowest, 1e-6)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if torch is not None:
        torch.set_num_threads(os.cpu_count() or 1)
    shapes = [(1000, 3), (4096, 128)] + ([] if args.quick else [(10000, 64)])
    rng = np.random.default_rng(0)
    for (n, m) in shapes:
        for p in ((2.0, 1.0) if n < 10000 else (2.0,)):
            x = rng.random((n, m), dtype=np.float32)
            rounds = 7 if n * n * m < 1e9 else 3
            cases = {"candle_numpy": lambda: cn.cdist(x, x, p=p)}
            if torch is not None:
                tx = torch.from_numpy(x)
                cases["torch.cdist"] = lambda: torch.cdist(tx, tx, p=p)
            if scipy_cdist is not None and n * n * m < 5e9:
                metric = "euclidean" if p == 2.0 else "cityblock"
                cases["scipy cdist"] = lambda: scipy_cdist(x, x, metric)
            number = calls_per_sample(cases)
            times = {k: [] for k in cases}
            for _ in range(rounds):
                for k, f in cases.items():
                    times[k].append(timed(f, number))
            med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
            line = ", ".join(f"{k} {v:8.2f} ms" for k, v in med.items())
            # ours / peer (time): below 1 is faster than the peer
            ratios = ", ".join(f"{med['candle_numpy'] / med[k]:.2f} of {k}" for k in med if k != "candle_numpy")
            print(f"({n}, {m}) p={p:g}: {line}   [ours/peer time: {ratios}]")
    hard = np.array([[512695.0], [512804.0]], np.float32)
    print("hard case, want 109:", "candle_numpy", cn.cdist(hard, hard).tolist()[0][1], end="")
    if torch is not None:
        th = torch.from_numpy(hard)
        print(", torch", torch.cdist(th, th, compute_mode="use_mm_for_euclid_dist").tolist()[0][1], end="")
    print()


if __name__ == "__main__":
    main()
