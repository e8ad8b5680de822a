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
    "adaptive_avg_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv1d",
    "conv2d",
    "cross_entropy",
    "dropout",
    "embedding",
    "gelu",
    "l1_loss",
    "layer_norm",
    "linear",
    "log_softmax",
    "max_pool1d",
    "max_pool2d",
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


# ---- convolution, pooling, normalisation, embedding (the engine's train::conv / train::norm)


def _pair(value, name):
    """torch's ``int or (int, int)`` arguments as a pair of ints >= 0."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        pair = (int(value[0]), int(value[1]))
    else:
        pair = (int(value), int(value))
    if min(pair) < 0:
        raise ValueError(f"{name} must be non-negative, got {value!r}")
    return pair


def _single(value, name, first=1):
    """torch's ``int or (int,)`` arguments of 1-d operations as the ``(first, value)`` pair of
    a one-row 2-d operation (1 for sizes, strides and dilations; 0 for padding)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{name} must be an int or a 1-tuple for a 1-d operation, got {value!r}")
        value = value[0]
    if int(value) < 0:
        raise ValueError(f"{name} must be non-negative, got {value!r}")
    return (first, int(value))


def _padding_pair(padding, dims):
    return _pair(padding, "padding") if dims == 2 else _single(padding, "padding", 0)


def _conv_padding(padding, kernel, stride, dilation):
    """``(top, bottom, left, right)`` from torch's ``padding``: ints, "valid", or "same"
    (stride 1 only, as torch; the odd extra pad goes to the bottom and right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            total = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return (total[0] // 2, total[0] - total[0] // 2, total[1] // 2, total[1] - total[1] // 2)
        raise ValueError(f"invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
    return padding


def _check_float(x, what):
    if not x.is_floating_point():
        raise TypeError(f"{what} expects a floating-point input, got {x.dtype}; convert with .float()")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``torch.nn.functional.conv2d``: ``input`` ``(N, C, H, W)`` (or ``(C, H, W)``), ``weight``
    ``(out, C / groups, kh, kw)``; ``stride``/``padding``/``dilation`` an int or a pair,
    ``padding`` also "valid" or "same". One GEMM over the input's receptive fields
    (``candle_numpy::train::conv``)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, None)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``torch.nn.functional.conv1d``: ``input`` ``(N, C, L)`` (or ``(C, L)``), ``weight``
    ``(out, C / groups, k)``."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, None)


def _conv(input, weight, bias, stride, padding, dilation, groups, dims, activation):
    _check_float(input, f"conv{dims}d")
    unbatched = input.ndim == dims + 1
    if input.ndim not in (dims + 1, dims + 2):
        raise ValueError(
            f"conv{dims}d expects a {dims + 1}-d (unbatched) or {dims + 2}-d (batched) input, "
            f"got shape {tuple(input.shape)}"
        )
    if unbatched:
        input = input.unsqueeze(0)
    fix = _pair if dims == 2 else _single
    stride, dilation = fix(stride, "stride"), fix(dilation, "dilation")
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"stride and dilation must be at least 1, got {stride} and {dilation}")
    kernel = tuple(weight.shape[2:]) if dims == 2 else (1, weight.shape[-1])
    if isinstance(padding, str):
        pad = _conv_padding(padding, kernel, stride, dilation)
    else:
        ph, pw = _padding_pair(padding, dims)
        pad = (ph, ph, pw, pw)
    if int(groups) < 1:
        raise ValueError(f"groups must be a positive integer, got {groups}")
    out = _native.conv(input, weight, bias, stride, pad, dilation, int(groups), False, activation)
    return out.squeeze(0) if unbatched else out


def _pool(input, kind, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad, dims):
    if ceil_mode:
        raise ValueError(f"{kind}_pool{dims}d: ceil_mode=True is not supported; pad the input instead")
    _check_float(input, f"{kind}_pool{dims}d")
    if input.ndim not in (dims + 1, dims + 2):
        raise ValueError(
            f"{kind}_pool{dims}d expects a {dims + 1}-d or {dims + 2}-d input, got shape {tuple(input.shape)}"
        )
    unbatched = input.ndim == dims + 1
    if unbatched:
        input = input.unsqueeze(0)
    fix = _pair if dims == 2 else _single
    kernel = fix(kernel_size, "kernel_size")
    stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) else fix(stride, "stride")
    ph, pw = _padding_pair(padding, dims)
    out = _native.pool2d(input, kind, kernel, stride, (ph, ph, pw, pw), fix(dilation, "dilation"), count_include_pad)
    return out.squeeze(0) if unbatched else out


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """``torch.nn.functional.max_pool2d`` (stride defaults to the kernel; padding reads as
    -inf; NaN propagates; the gradient goes to each window's first maximum)."""
    if return_indices:
        raise ValueError("max_pool2d: return_indices=True is not supported")
    return _pool(input, "max", kernel_size, stride, padding, dilation, ceil_mode, True, 2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """``torch.nn.functional.max_pool1d`` over ``(N, C, L)``."""
    if return_indices:
        raise ValueError("max_pool1d: return_indices=True is not supported")
    return _pool(input, "max", kernel_size, stride, padding, dilation, ceil_mode, True, 1)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """``torch.nn.functional.avg_pool2d`` (``count_include_pad`` as torch: padded zeros count
    in the divisor by default)."""
    if divisor_override is not None:
        raise ValueError("avg_pool2d: divisor_override is not supported")
    return _pool(input, "avg", kernel_size, stride, padding, 1, ceil_mode, bool(count_include_pad), 2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """``torch.nn.functional.avg_pool1d`` over ``(N, C, L)``."""
    return _pool(input, "avg", kernel_size, stride, padding, 1, ceil_mode, bool(count_include_pad), 1)


def adaptive_avg_pool2d(input, output_size):
    """``torch.nn.functional.adaptive_avg_pool2d``: output ``(oh, ow)`` (an int, a pair, ``None``
    keeping that size); window ``i`` covers ``[floor(i * H / oh), ceil((i + 1) * H / oh))``, as
    torch. Output 1x1 is the spatial mean; sizes that divide the input are one pooling op."""
    _check_float(input, "adaptive_avg_pool2d")
    if input.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d expects a 3-d or 4-d input, got shape {tuple(input.shape)}")
    h, w = input.shape[-2:]
    if isinstance(output_size, (tuple, list)):
        oh, ow = (h if output_size[0] is None else int(output_size[0]), w if output_size[1] is None else int(output_size[1]))
    else:
        oh = ow = int(output_size)
    if oh < 1 or ow < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {output_size!r}")
    if (oh, ow) == (1, 1):
        return input.mean(-1, keepdim=True).mean(-2, keepdim=True)
    if h % oh == 0 and w % ow == 0:
        return avg_pool2d(input, (h // oh, w // ow))
    rows = []
    for i in range(oh):
        y0, y1 = (i * h) // oh, -((-(i + 1) * h) // oh)
        cols = []
        for j in range(ow):
            x0, x1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            cols.append(input[..., y0:y1, x0:x1].mean(-1).mean(-1))
        rows.append(_torch().stack(cols, -1))
    return _torch().stack(rows, -2)


def _torch():
    from ... import torch

    return torch


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """``torch.nn.functional.batch_norm`` over the channel axis 1. In training, batch statistics
    normalise and the running estimates (when given) are updated in place with the unbiased
    variance; otherwise the running estimates normalise."""
    _check_float(input, "batch_norm")
    if not training and (running_mean is None or running_var is None):
        raise ValueError(
            "batch_norm: running_mean and running_var are needed when training=False (they are what "
            "inference normalises with); pass them, or training=True for batch statistics"
        )
    if input.ndim < 2:
        raise ValueError(f"batch_norm expects an input of at least 2 dimensions (N, C, ...), got shape {tuple(input.shape)}")
    return _native.batch_norm(input, weight, bias, running_mean, running_var, bool(training),
                              float(momentum), float(eps), 1, True)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """``torch.nn.functional.layer_norm`` over the last ``len(normalized_shape)`` axes, which
    must equal ``normalized_shape``."""
    _check_float(input, "layer_norm")
    shape = (int(normalized_shape),) if isinstance(normalized_shape, int) else tuple(int(d) for d in normalized_shape)
    if tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise ValueError(
            f"layer_norm: normalized_shape {list(shape)} does not match the input's trailing "
            f"dimensions {list(input.shape)}"
        )
    return _native.layer_norm(input, len(shape), weight, bias, float(eps))


def embedding(input, weight, padding_idx=None):
    """``torch.nn.functional.embedding``: rows of ``weight`` for integer ids; the
    ``padding_idx`` row gets no gradient (negative ``padding_idx`` counts from the end)."""
    if not isinstance(input, _native.Tensor):
        input = _native.as_tensor(_np.asarray(input))
    if input.is_floating_point():
        raise TypeError(f"embedding expects integer indices (int64 or int32), got {input.dtype}; use .long()")
    if padding_idx is not None:
        padding_idx = int(padding_idx)
        if padding_idx < 0:
            padding_idx += weight.shape[0]
        if not 0 <= padding_idx < weight.shape[0]:
            raise ValueError(f"padding_idx must be within num_embeddings ({weight.shape[0]})")
    return _native.embedding(input, weight, padding_idx)
