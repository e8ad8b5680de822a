"""``cn.torch.nn.functional``: activations and losses as candle ops (recorded for ``backward``).

The losses are written for numerical stability: ``binary_cross_entropy_with_logits`` and
``cross_entropy`` work from logits (no NaN or inf on saturated outputs), and
``binary_cross_entropy`` clamps its logarithms at -100 as torch does.
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


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _same_shape(name, input, target):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"{name}: target shape {tuple(target.shape)} differs from input shape {tuple(input.shape)}; "
            "reshape one (e.g. output.squeeze() or target.reshape(-1, 1))"
        )


def _as_float_like(target, input):
    if not isinstance(target, _native.Tensor):
        target = _native.as_tensor(target)
    return target if target.dtype == input.dtype else target.to(input.dtype)


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
    """``x @ weight.T + bias``."""
    y = x @ weight.T
    return y + bias if bias is not None else y


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

    candle would differentiate the clamped logs to ``0 * inf``; the value is therefore computed
    outside the graph and the gradient attached through ``coef * p - (coef * p).detach()``,
    which is zero in value and has exactly torch's derivative.
    """
    from .. import no_grad

    target = _as_float_like(target, input)
    _same_shape("binary_cross_entropy", input, target)
    with no_grad():
        log_p = input.log().clamp(min=-100.0)
        log_1mp = (1.0 - input).log().clamp(min=-100.0)
        value = -(target * log_p + (1.0 - target) * log_1mp)
        coef = (input - target) / (input * (1.0 - input)).clamp(min=1e-12)
    if input.requires_grad:
        surrogate = coef * input
        value = value + (surrogate - surrogate.detach())
    return _reduce(value, reduction)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """BCE on logits, computed stably as ``max(z, 0) - z*y + log(1 + exp(-|z|))``."""
    target = _as_float_like(target, input)
    _same_shape("binary_cross_entropy_with_logits", input, target)
    loss = input.relu() - input * target + ((-input.abs()).exp() + 1.0).log()
    return _reduce(loss, reduction)


def mse_loss(input, target, reduction="mean"):
    target = _as_float_like(target, input)
    _same_shape("mse_loss", input, target)
    return _reduce((input - target).square(), reduction)


def l1_loss(input, target, reduction="mean"):
    target = _as_float_like(target, input)
    _same_shape("l1_loss", input, target)
    return _reduce((input - target).abs(), reduction)


def cross_entropy(input, target, reduction="mean"):
    """Cross-entropy from logits ``(N, C)`` and class indices ``(N,)`` (``nn.CrossEntropyLoss``)."""
    if input.ndim != 2:
        raise ValueError(f"cross_entropy expects logits of shape (N, C), got {tuple(input.shape)}")
    n, c = input.shape
    idx = _np.asarray(target.numpy() if isinstance(target, _native.Tensor) else target)
    if idx.shape != (n,) or idx.dtype.kind not in "iu":
        raise ValueError(
            f"cross_entropy expects integer class indices of shape ({n},), got {idx.dtype} {idx.shape}"
        )
    if n and (idx.min() < 0 or idx.max() >= c):
        raise ValueError(f"cross_entropy: class indices must be in [0, {c}), got {idx.min()}..{idx.max()}")
    onehot = _native.tensor(_np.eye(c, dtype=_np.float32)[idx], dtype=input.dtype)
    return _reduce(-(input.log_softmax(1) * onehot).sum(1), reduction)
