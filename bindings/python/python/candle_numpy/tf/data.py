"""``cn.tf.data``: ``Dataset`` and ``AUTOTUNE`` over candle_numpy's data engine.

Ports tf.data pipelines line for line::

    ds = cn.tf.data.Dataset.from_tensor_slices((X, y)).shuffle(100).batch(32).prefetch(cn.tf.data.AUTOTUNE)
    for xb, yb in ds:
        ...

Operations chain with TF's meaning (``shuffle`` after ``batch`` shuffles whole batches; a
buffer smaller than the data is a windowed shuffle whose memory is bounded by the buffer).
Elements keep the structure they were built from: a tensor, a tuple, or a dict.
"""

from .._native import Dataset

AUTOTUNE = -1

__all__ = ["AUTOTUNE", "Dataset"]
