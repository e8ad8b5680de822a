"""``cn.torch.utils.data``: ``TensorDataset`` and ``DataLoader`` over candle_numpy's data engine.

Ports ``from torch.utils.data import TensorDataset, DataLoader`` line for line::

    dataset = TensorDataset(cn.torch.from_numpy(X), cn.torch.from_numpy(y))
    loader = DataLoader(dataset, batch_size=32, shuffle=True, seed=0)
    for xb, yb in loader:
        ...

The dataset shares its arrays (no copy); each batch is one vectorised gather per field, made
with the GIL released. ``seed`` makes the order reproducible (a pure function of seed and
epoch); every iteration over the loader is a new epoch.
"""

from ..._native import DataLoader, TensorDataset

__all__ = ["DataLoader", "TensorDataset"]
