"""Data pipeline benchmark: samples/s over one shuffled epoch, peers side by side.

    python bindings/python/benches/bench_data.py [--quick]

X = rand(1_000_000, 10) float32, y int64. Contenders: the candle_numpy DataLoader, the tf.data
facade (shuffle over the whole data, batch, prefetch AUTOTUNE), the plain NumPy floor
(a permutation plus fancy indexing per batch), and torch's DataLoader(TensorDataset) and
tf.data when installed (`make venv-bench` makes a venv with both). Each
round runs every contender once; medians over the rounds are reported, so a noisy neighbour
slows all of them alike.
"""

import argparse
import statistics
import time

import numpy as np

import candle_numpy as cn

try:
    import torch
except ImportError:
    torch = None

try:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
except ImportError:
    tf = None


def epoch_numpy(X, y, bs, rng):
    perm = rng.permutation(len(X))
    for i in range(0, len(X), bs):
        idx = perm[i:i + bs]
        X[idx], y[idx]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    n = 200_000 if args.quick else 1_000_000
    rounds = 3 if args.quick else 5
    rng = np.random.default_rng(0)
    X = rng.random((n, 10), dtype=np.float32)
    y = rng.integers(0, 2, n).astype(np.int64)
    print(f"{n} samples x 10 features; medians of {rounds} rounds (samples/s)")
    for bs in (32, 1024):
        loader = cn.torch.utils.data.DataLoader(cn.torch.utils.data.TensorDataset(X, y), batch_size=bs, shuffle=True, seed=0)
        ds = cn.tf.data.Dataset.from_tensor_slices((X, y)).shuffle(n, seed=0).batch(bs).prefetch(cn.tf.data.AUTOTUNE)
        cases = {
            "cn DataLoader": lambda: [None for _ in loader],
            "cn tf.data": lambda: [None for _ in ds],
            "NumPy floor": lambda: epoch_numpy(X, y, bs, rng),
        }
        if torch is not None:
            tl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), batch_size=bs, shuffle=True)
            cases["torch DataLoader"] = lambda: [None for _ in tl]
        if tf is not None:
            tds = tf.data.Dataset.from_tensor_slices((X, y)).shuffle(n).batch(bs).prefetch(tf.data.AUTOTUNE)
            cases["tf.data"] = lambda: [None for _ in tds]
        samples = {k: [] for k in cases}
        for _ in range(rounds):
            for k, f in cases.items():
                s = time.perf_counter()
                f()
                samples[k].append(n / (time.perf_counter() - s))
        med = {k: statistics.median(v) for k, v in samples.items()}
        floor = med["NumPy floor"]
        print(f"batch {bs}:")
        for k, v in med.items():
            print(f"  {k:18s} {v / 1e6:7.2f} M/s   vs NumPy floor {v / floor:5.2f}x")
        for ours, peer in (("cn DataLoader", "torch DataLoader"), ("cn tf.data", "tf.data")):
            if peer in med:
                print(f"  {ours} / {peer}: {med[ours] / med[peer]:.1f}x")


if __name__ == "__main__":
    main()
