"""A small CNN on a real data set, in both facades: scikit-learn's bundled digits (1,797 8x8
grey images of 0-9, shipped inside the package, no download), the same network
(Conv-ReLU-Pool x2, then a dense head) trained with cn.tf.keras's ``fit`` and with a
cn.torch training loop, on one fixed train/test split.

    python examples/python/digits_cnn.py [--epochs 15] [--export DIR]

``--export DIR`` also writes the split as .npy files (``x_train.npy``, ``y_train.npy``,
``x_test.npy``, ``y_test.npy``: float32 images in [0, 1], int64 labels) for the Rust example
``cargo run --release --example digits_cnn -- DIR``.
"""

import argparse
import pathlib
import time

import numpy as np
from sklearn.datasets import load_digits

import candle_numpy as cn


def split(seed=0, test=360):
    """The images scaled to [0, 1] (N, 8, 8) and labels, split once by a seeded permutation."""
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    train, held = order[:-test], order[-test:]
    return x[train], y[train], x[held], y[held]


def keras_cnn(x_train, y_train, x_test, y_test, epochs):
    keras = cn.tf.keras
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((8, 8, 1)),  # channels-last, as Keras
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ], seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=4, restore_best_weights=True)
    history = model.fit(x_train[..., None], y_train, epochs=epochs, batch_size=32, verbose=0,
                        validation_data=(x_test[..., None], y_test), callbacks=[stop])
    _, accuracy = model.evaluate(x_test[..., None], y_test)
    return history.history, accuracy


class TorchCNN(cn.torch.nn.Module):
    def __init__(self):
        super().__init__()
        nn = cn.torch.nn
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def torch_cnn(x_train, y_train, x_test, y_test, epochs):
    torch = cn.torch
    torch.manual_seed(0)
    model = TorchCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    loss_fn = torch.nn.CrossEntropyLoss()
    data = torch.utils.data.TensorDataset(torch.from_numpy(x_train[:, None]), torch.from_numpy(y_train))
    loader = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    x_test_t = torch.from_numpy(x_test[:, None])
    curve = {"loss": [], "val_accuracy": []}
    for _ in range(epochs):
        model.train()
        total, count = 0.0, 0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
            count += len(yb)
        scheduler.step()
        model.eval()
        with torch.no_grad():
            accuracy = float((model(x_test_t).argmax(1).numpy() == y_test).mean())
        curve["loss"].append(total / count)
        curve["val_accuracy"].append(accuracy)
    return curve, curve["val_accuracy"][-1]


def show(name, curve, accuracy, seconds):
    print(f"{name}: test accuracy {accuracy:.4f} after {len(curve['loss'])} epochs ({seconds:.1f} s)")
    acc = curve.get("val_accuracy", [])
    for epoch, loss in enumerate(curve["loss"]):
        bar = "#" * int(40 * acc[epoch]) if epoch < len(acc) else ""
        print(f"  epoch {epoch + 1:2d}  loss {loss:.4f}  val_accuracy {acc[epoch]:.4f}  {bar}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--export", type=pathlib.Path, default=None)
    args = parser.parse_args()
    x_train, y_train, x_test, y_test = split()
    print(f"digits: {len(x_train)} train / {len(x_test)} test images of 8x8")
    if args.export is not None:
        args.export.mkdir(parents=True, exist_ok=True)
        for name, a in [("x_train", x_train), ("y_train", y_train), ("x_test", x_test), ("y_test", y_test)]:
            np.save(args.export / f"{name}.npy", a)
        print(f"exported the split to {args.export}")
    start = time.perf_counter()
    curve, acc_keras = keras_cnn(x_train, y_train, x_test, y_test, args.epochs)
    show("cn.tf.keras", curve, acc_keras, time.perf_counter() - start)
    start = time.perf_counter()
    curve, acc_torch = torch_cnn(x_train, y_train, x_test, y_test, args.epochs)
    show("cn.torch", curve, acc_torch, time.perf_counter() - start)
    print(f"both >= 97%: {min(acc_keras, acc_torch) >= 0.97}")


if __name__ == "__main__":
    main()
