"""Training benchmark: wall time of 5 epochs of the seed model (Dense 16 relu -> Dense 1
sigmoid, Adam, BCE), peers side by side.

    python bindings/python/benches/bench_train.py [--quick]

Workloads: the seed's 1000 x 10 at batch 32, and 100k x 10 at batch 256 (fewer rounds).
Contenders: candle_numpy's Keras-style ``fit`` (the loop runs in Rust), the seed's PyTorch-style
loop written against ``cn.torch`` (mini-batches from ``cn.torch.utils.data.DataLoader``), and,
when installed (``make venv-bench``), PyTorch's own loop over its DataLoader and Keras
(``tf.keras``, warm: the model is built and traced before timing). Each round runs every
contender once, interleaved; medians are reported, so a noisy neighbour slows them alike.
"""

import argparse
import importlib.util
import multiprocessing as mp
import os
import statistics
import time

import numpy as np

import candle_numpy as cn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
try:
    import torch
except ImportError:
    torch = None
# TensorFlow runs in a worker process: loaded next to torch, their bundled LLVMs clash when
# Keras compiles its step ("Option ... registered more than once").
HAVE_TF = importlib.util.find_spec("tensorflow") is not None

EPOCHS = 5


def data(n):
    rng = np.random.default_rng(0)
    X = rng.random((n, 10), dtype=np.float32)
    y = (X[:, 0] + X[:, 1] > 1).astype(np.float32)
    return X, y


def cn_keras(X, y, bs):
    keras = cn.tf.keras
    model = keras.Sequential([keras.layers.Dense(16, activation="relu", input_shape=(10,)),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return lambda: model.fit(X, y, epochs=EPOCHS, batch_size=bs, verbose=0)


def torch_style_loop(lib, X, y, bs):
    """The seed's loop, mini-batched; ``lib`` is torch or cn.torch."""
    nn = lib.nn
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())
    criterion = nn.BCELoss()
    optimizer = lib.optim.Adam(model.parameters())
    ds = lib.utils.data.TensorDataset(lib.from_numpy(X), lib.from_numpy(y))
    loader = lib.utils.data.DataLoader(ds, batch_size=bs, shuffle=True)

    def run():
        for _ in range(EPOCHS):
            for xb, yb in loader:
                outputs = model(xb).squeeze(1)
                loss = criterion(outputs, yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

    return run


def tf_keras(X, y, bs):
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.Input(shape=(10,)), tf.keras.layers.Dense(16, activation="relu"),
                                 tf.keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(X[:bs * 2], y[:bs * 2], epochs=1, batch_size=bs, verbose=0)  # build and trace
    return lambda: model.fit(X, y, epochs=EPOCHS, batch_size=bs, verbose=0)


def _tf_worker(conn, n, bs):
    X, y = data(n)
    run = tf_keras(X, y, bs)
    while conn.recv() == "run":
        s = time.perf_counter()
        run()
        conn.send(time.perf_counter() - s)


class TfKeras:
    """tf.keras fit in its own process; each call runs one round there and returns its time."""

    def __init__(self, n, bs):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_tf_worker, args=(child, n, bs), daemon=True)
        self.proc.start()

    def __call__(self):
        self.conn.send("run")
        return self.conn.recv()

    def close(self):
        self.conn.send("stop")
        self.proc.join()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    workloads = [(1000, 32, 3 if args.quick else 7), (20_000 if args.quick else 100_000, 256, 3)]
    for n, bs, rounds in workloads:
        X, y = data(n)
        cases = {"cn keras fit": cn_keras(X, y, bs), "cn.torch loop": torch_style_loop(cn.torch, X, y, bs)}
        if torch is not None:
            torch.set_num_threads(os.cpu_count() or 1)
            cases["torch loop"] = torch_style_loop(torch, X, y, bs)
        worker = TfKeras(n, bs) if HAVE_TF else None
        if worker is not None:
            cases["tf.keras fit"] = worker
        times = {k: [] for k in cases}
        for _ in range(rounds):
            for k, f in cases.items():
                s = time.perf_counter()
                inner = f()
                # the worker reports its own fit time (no pipe overhead)
                times[k].append(inner if k == "tf.keras fit" else time.perf_counter() - s)
        if worker is not None:
            worker.close()
        med = {k: statistics.median(v) for k, v in times.items()}
        steps = EPOCHS * -(-n // bs)
        print(f"{n} x 10, batch {bs}, {EPOCHS} epochs ({steps} steps); medians of {rounds} rounds")
        for k, v in med.items():
            print(f"  {k:14s} {v * 1e3:9.1f} ms  {v / steps * 1e6:7.1f} us/step")
        for peer in ("torch loop", "tf.keras fit", "cn.torch loop"):
            if peer in med:
                print(f"  cn keras fit vs {peer}: {med[peer] / med['cn keras fit']:.2f}x faster")


if __name__ == "__main__":
    main()
