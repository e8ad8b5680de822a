"""``cn.torch.nn.functional``: activations and losses as candle ops (recorded for ``backward``).

The losses are the engine's (``candle_numpy::train::loss``, shared with Keras's), written for
numerical stability: ``binary_cross_entropy_with_logits`` and ``cross_entropy`` work from logits
(no NaN or inf on saturated outputs), and ``binary_cross_entropy`` clamps its logarithms at -100
as torch does.
"""

import numpy as _np

from ... import _native
from .. import _random

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "dropout",
    "gelu",
    "l1_loss",
    "linear",
    "log_softmax",
    "mse_loss",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]

_REDUCTIONS = ("mean", "sum", "none")


def _as_tensor(target):
    # the engine casts the target to the input's dtype (labels often arrive as integers)
    return target if isinstance(target, _native.Tensor) else _native.as_tensor(target)


def relu(x):
    return x.relu()


def sigmoid(x):
    return x.sigmoid()


def tanh(x):
    return x.tanh()


def gelu(x, approximate="none"):
    return x.gelu(approximate)


def softmax(x, dim=-1):
    return x.softmax(dim)


def log_softmax(x, dim=-1):
    return x.log_softmax(dim)


def linear(x, weight, bias=None):
    """``x @ weight.T + bias``, as one engine op (``candle_numpy::train::linear``) whose
    backward computes no gradient for an input that needs none (the data batch)."""
    return _native.linear(x, weight, bias)


def dropout(x, p=0.5, training=True):
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (training
    only); the mask comes from the generator seeded by ``cn.torch.manual_seed``."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability has to be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    keep = (_random.generator().random(tuple(x.shape)) >= p).astype(_np.float32) / (1.0 - p)
    return x * _native.tensor(keep, dtype=x.dtype)


def binary_cross_entropy(input, target, reduction="mean"):
    """BCE on probabilities (``nn.BCELoss``), with torch's numerics: the logs are clamped at
    -100 and the gradient is ``(p - y) / max(p (1 - p), 1e-12)``, so a saturated sigmoid
    (p exactly 0 or 1) still gives a finite loss and a gradient that pushes back, not NaN.
    Computed by the engine (``candle_numpy::train::loss``), as Keras's losses are."""
    return _native.loss("binary_cross_entropy", input, _as_tensor(target), reduction)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """BCE on logits, computed stably as ``max(z, 0) - z*y + log(1 + exp(-|z|))``."""
    return _native.loss("binary_cross_entropy_with_logits", input, _as_tensor(target), reduction)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error (``nn.MSELoss``)."""
    return _native.loss("mse_loss", input, _as_tensor(target), reduction)


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error (``nn.L1Loss``)."""
    return _native.loss("l1_loss", input, _as_tensor(target), reduction)


def cross_entropy(input, target, reduction="mean"):
    """Cross-entropy from logits ``(N, C)`` and class indices ``(N,)`` (``nn.CrossEntropyLoss``)."""
    return _native.loss("cross_entropy", input, _as_tensor(target), reduction)
