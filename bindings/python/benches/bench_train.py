"""Training benchmark: wall time of training, peers side by side.

    python bindings/python/benches/bench_train.py [--quick] [--model seed|mlp|cnn|all]

Workloads:

* ``seed``: 5 epochs of the seed model (Dense 16 relu -> Dense 1 sigmoid, Adam, BCE) on the
  seed's 1000 x 10 at batch 32, and on 100k x 10 at batch 256 (fewer rounds);
* ``mlp``: one epoch (after a warm-up epoch) of the MLP 784-256-256-10 (ReLU, softmax
  cross-entropy, Adam lr 1e-3) on 20,000 samples at batch 32, 128 and 512, a model whose
  arithmetic dominates; then a per-phase breakdown (forward, loss, backward, step; medians of
  100 steps) of the torch-style loops at each batch size;
* ``cnn``: the digits CNN of ``examples/python/digits_cnn.py`` (Conv 16 3x3 same, ReLU, MaxPool
  2, Conv 32, ReLU, MaxPool 2, Dense 10; Adam lr 3e-3) on scikit-learn's digits (1,437 train /
  360 test images of 8x8, the example's split) at batch 32: one epoch's time after a warm-up
  epoch, and the test accuracy after all the rounds' epochs; then the per-phase breakdown.

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


MLP_TEST = 2000


def data_mlp(n):
    """``n`` training samples and ``MLP_TEST`` held out: centred uniform features, labels from
    a fixed random linear teacher (learnable, so the contenders' test accuracies can be
    compared; with uncentred inputs Adam at lr 1e-3 trains erratically in every library)."""
    rng = np.random.default_rng(0)
    X = rng.random((n + MLP_TEST, 784), dtype=np.float32) - np.float32(0.5)
    teacher = rng.standard_normal((784, 10)).astype(np.float32)
    y = (X @ teacher).argmax(1).astype(np.int64)
    return X[:n], y[:n], X[n:], y[n:]


def data_cnn():
    """The digits split of examples/python/digits_cnn.py, channels-last ``(N, 8, 8, 1)``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    return x[order[:-360]], y[order[:-360]], x[order[-360:]], y[order[-360:]]


def data_for(kind, n):
    if kind == "seed":
        return data(n)
    return data_cnn() if kind == "cnn" else data_mlp(n)


def keras_layers(keras, kind):
    """The model as Keras layers (``keras`` is cn.tf.keras or tf.keras)."""
    if kind == "cnn":
        L = keras.layers
        return [L.Conv2D(16, 3, padding="same", activation="relu"), L.MaxPooling2D(),
                L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D(), L.Flatten(),
                L.Dense(10, activation="softmax")]
    if kind == "seed":
        return [keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1, activation="sigmoid")]
    return [keras.layers.Dense(256, activation="relu"), keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10, activation="softmax")]


def keras_compile(model, kind):
    if kind == "seed":
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    elif kind == "cnn":
        model.compile(optimizer=_adam(model, 3e-3), loss="sparse_categorical_crossentropy")
    else:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")


def _adam(model, lr):
    """An Adam optimizer of the model's own library (cn.tf.keras or tf.keras)."""
    keras = cn.tf.keras if isinstance(model, cn.tf.keras.Sequential) else __import__("tensorflow").keras
    return keras.optimizers.Adam(lr)


class Contender:
    """A timed training run (``__call__``) and, for the MLP, the trained model's test accuracy."""

    def __init__(self, run, accuracy=None):
        self.run, self.accuracy = run, accuracy

    def __call__(self):
        return self.run()


def cn_keras(X, y, bs, kind="seed", epochs=EPOCHS):
    keras = cn.tf.keras
    model = keras.Sequential([keras.Input(shape=X.shape[1:])] + keras_layers(keras, kind))
    keras_compile(model, kind)
    return Contender(
        lambda: model.fit(X, y, epochs=epochs, batch_size=bs, verbose=0),
        lambda Xt, yt: float((np.asarray(model.predict(Xt, verbose=0)).argmax(1) == yt).mean()),
    )


def torch_model(lib, kind):
    """The model, its loss and its optimizer in torch's API (``lib`` is torch or cn.torch)."""
    nn = lib.nn
    if kind == "cnn":
        model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(128, 10))
        return model, nn.CrossEntropyLoss(), lib.optim.Adam(model.parameters(), lr=3e-3)
    if kind == "seed":
        model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())
        return model, nn.BCELoss(), lib.optim.Adam(model.parameters())
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    return model, nn.CrossEntropyLoss(), lib.optim.Adam(model.parameters(), lr=1e-3)


def torch_style_loop(lib, X, y, bs, kind="seed", epochs=EPOCHS):
    """The seed's loop, mini-batched; ``lib`` is torch or cn.torch."""
    model, criterion, optimizer = torch_model(lib, kind)
    if kind == "cnn":
        X = np.ascontiguousarray(X.transpose(0, 3, 1, 2))  # torch's channels-first
    ds = lib.utils.data.TensorDataset(lib.from_numpy(X), lib.from_numpy(y))
    loader = lib.utils.data.DataLoader(ds, batch_size=bs, shuffle=True)

    def run():
        for _ in range(epochs):
            for xb, yb in loader:
                outputs = model(xb)
                if kind == "seed":
                    outputs = outputs.squeeze(1)
                loss = criterion(outputs, yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

    def accuracy(Xt, yt):
        if kind == "cnn":
            Xt = np.ascontiguousarray(Xt.transpose(0, 3, 1, 2))
        model.eval()
        with lib.no_grad():
            out = float((model(lib.from_numpy(Xt)).numpy().argmax(1) == yt).mean())
        model.train()
        return out

    return Contender(run, accuracy)


def phases(lib, X, y, bs, steps=100, warmup=10, kind="mlp"):
    """Median ms of each phase of a torch-style step on one fixed batch of the MLP (or CNN)."""
    model, criterion, optimizer = torch_model(lib, kind)
    if kind == "cnn":
        X = np.ascontiguousarray(X.transpose(0, 3, 1, 2))
    xb, yb = lib.from_numpy(X[:bs]), lib.from_numpy(y[:bs])
    t = {"forward": [], "loss": [], "backward": [], "step": []}
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        out = model(xb)
        t1 = time.perf_counter()
        loss = criterion(out, yb)
        t2 = time.perf_counter()
        optimizer.zero_grad()
        loss.backward()
        t3 = time.perf_counter()
        optimizer.step()
        t4 = time.perf_counter()
        if i >= warmup:
            for k, a, b in (("forward", t0, t1), ("loss", t1, t2), ("backward", t2, t3), ("step", t3, t4)):
                t[k].append((b - a) * 1e3)
    return {k: statistics.median(v) for k, v in t.items()}


def tf_keras(X, y, bs, kind="seed", epochs=EPOCHS):
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.Input(shape=X.shape[1:])] + keras_layers(tf.keras, kind))
    keras_compile(model, kind)
    model.fit(X[:bs * 2], y[:bs * 2], epochs=1, batch_size=bs, verbose=0)  # build and trace
    return Contender(
        lambda: model.fit(X, y, epochs=epochs, batch_size=bs, verbose=0),
        lambda Xt, yt: float((model.predict(Xt, verbose=0).argmax(1) == yt).mean()),
    )


def _tf_worker(conn, n, bs, kind, epochs):
    X, y, *test = data_for(kind, n)
    run = tf_keras(X, y, bs, kind, epochs)
    while (msg := conn.recv()) != "stop":
        if msg == "accuracy":
            conn.send(run.accuracy(*test))
            continue
        s = time.perf_counter()
        run()
        conn.send(time.perf_counter() - s)


class TfKeras:
    """tf.keras fit in its own process; each call runs one round there and returns its time."""

    def __init__(self, n, bs, kind="seed", epochs=EPOCHS):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_tf_worker, args=(child, n, bs, kind, epochs), daemon=True)
        self.proc.start()

    def __call__(self):
        self.conn.send("run")
        return self.conn.recv()

    def accuracy(self, Xt, yt):
        self.conn.send("accuracy")  # the worker holds the same held-out split
        return self.conn.recv()

    def close(self):
        self.conn.send("stop")
        self.proc.join()


def compare(cases, rounds, warmup=False):
    """Medians of interleaved rounds; ``warmup`` runs every contender once first."""
    if warmup:
        for f in cases.values():
            f()
    times = {k: [] for k in cases}
    for _ in range(rounds):
        for k, f in cases.items():
            s = time.perf_counter()
            inner = f()
            # the worker reports its own fit time (no pipe overhead)
            times[k].append(inner if k == "tf.keras fit" else time.perf_counter() - s)
    return {k: statistics.median(v) for k, v in times.items()}


def run_seed(quick):
    workloads = [(1000, 32, 3 if quick else 7), (20_000 if quick else 100_000, 256, 3)]
    for n, bs, rounds in workloads:
        X, y = data(n)
        cases = {"cn keras fit": cn_keras(X, y, bs), "cn.torch loop": torch_style_loop(cn.torch, X, y, bs)}
        if torch is not None:
            cases["torch loop"] = torch_style_loop(torch, X, y, bs)
        worker = TfKeras(n, bs) if HAVE_TF else None
        if worker is not None:
            cases["tf.keras fit"] = worker
        med = compare(cases, rounds)
        if worker is not None:
            worker.close()
        steps = EPOCHS * -(-n // bs)
        print(f"{n} x 10, batch {bs}, {EPOCHS} epochs ({steps} steps); medians of {rounds} rounds")
        for k, v in med.items():
            print(f"  {k:14s} {v * 1e3:9.1f} ms  {v / steps * 1e6:7.1f} us/step")
        for peer in ("torch loop", "tf.keras fit", "cn.torch loop"):
            if peer in med:
                print(f"  cn keras fit vs {peer}: {med[peer] / med['cn keras fit']:.2f}x faster")


def epoch_race(kind, X, y, Xt, yt, bs, rounds, title):
    """One epoch per round of each contender on ``kind`` (after a warm-up epoch), interleaved;
    prints ms per epoch, the ratio to torch's loop and each one's held-out accuracy."""
    cases = {
        "cn keras fit": cn_keras(X, y, bs, kind, 1),
        "cn.torch loop": torch_style_loop(cn.torch, X, y, bs, kind, 1),
    }
    if torch is not None:
        cases["torch loop"] = torch_style_loop(torch, X, y, bs, kind, 1)
    worker = TfKeras(len(X), bs, kind, 1) if HAVE_TF else None
    if worker is not None:
        cases["tf.keras fit"] = worker
    med = compare(cases, rounds, warmup=True)
    acc = {k: f.accuracy(Xt, yt) for k, f in cases.items()}
    if worker is not None:
        worker.close()
    print(f"{title}: ms per epoch, medians of {rounds} rounds; test accuracy on {len(Xt)} held-out "
          f"samples after {rounds + 1} epochs")
    base = med.get("torch loop")
    for k, v in med.items():
        ratio = f"  {v / base:.2f}x torch's time" if base else ""
        print(f"  {k:14s} {v * 1e3:9.1f} ms{ratio}  accuracy {acc[k]:.3f}")


def phase_table(kind, X, y, batch_sizes, steps, title):
    """The per-phase breakdown of the torch-style loops (cn.torch, and torch when installed)."""
    print(f"{title} per-phase breakdown (ms per step, medians of {steps} steps on one batch)")
    libs = [("cn.torch", cn.torch)] + ([("torch", torch)] if torch is not None else [])
    for bs in batch_sizes:
        for name, lib in libs:
            ph = phases(lib, X, y, bs, steps=steps, kind=kind)
            cells = "  ".join(f"{k} {v:6.3f}" for k, v in ph.items())
            print(f"  batch {bs:3d} {name:9s} {cells}  total {sum(ph.values()):6.3f}")


def run_mlp(quick):
    n, rounds = (4000, 2) if quick else (20_000, 3)
    X, y, Xt, yt = data_mlp(n)
    for bs in (32, 128, 512):
        epoch_race("mlp", X, y, Xt, yt, bs, rounds, f"MLP 784-256-256-10, {n} samples, batch {bs}")
    phase_table("mlp", X, y, (32, 128, 512), 30 if quick else 100, "MLP")


def run_cnn(quick):
    X, y, Xt, yt = data_cnn()
    epoch_race("cnn", X, y, Xt, yt, 32, 3 if quick else 7, f"digits CNN, {len(X)} images 8x8, batch 32")
    phase_table("cnn", X, y, (32,), 30 if quick else 100, "CNN")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--model", choices=["seed", "mlp", "cnn", "all"], default="all")
    args = p.parse_args()
    if torch is not None:
        torch.set_num_threads(os.cpu_count() or 1)
    if args.model in ("seed", "all"):
        run_seed(args.quick)
    if args.model in ("mlp", "all"):
        run_mlp(args.quick)
    if args.model in ("cnn", "all"):
        run_cnn(args.quick)


if __name__ == "__main__":
    main()
