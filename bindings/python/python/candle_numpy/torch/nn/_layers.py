"""``cn.torch.nn``'s convolution, pooling, normalisation and embedding modules, with torch's
initialisation and defaults (the computations are the engine's: ``candle_numpy::train::conv``
and ``candle_numpy::train::norm``)."""

import math as _math

import numpy as _np

from ... import _native
from .. import _random
from . import Module, Parameter, functional

__all__ = [
    "AdaptiveAvgPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv1d",
    "Conv2d",
    "Embedding",
    "LayerNorm",
    "MaxPool1d",
    "MaxPool2d",
]


def _uniform(shape, bound):
    return Parameter(_random.generator().uniform(-bound, bound, shape).astype(_np.float32))


class _ConvNd(Module):
    _dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros"):
        super().__init__()
        name = type(self).__name__
        if padding_mode != "zeros":
            raise ValueError(f"{name}: padding_mode={padding_mode!r} is not supported; only 'zeros' is")
        in_channels, out_channels, groups = int(in_channels), int(out_channels), int(groups)
        if in_channels <= 0 or out_channels <= 0 or groups <= 0:
            raise ValueError(f"{name} needs positive in_channels, out_channels and groups")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels and out_channels must be divisible by groups ({groups})")
        fix = functional._pair if self._dims == 2 else functional._single
        kernel = fix(kernel_size, "kernel_size")
        if min(kernel) < 1:
            raise ValueError(f"{name}: kernel_size must be positive, got {kernel_size!r}")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and fix(stride, "stride") != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = kernel if self._dims == 2 else (kernel[1],)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        # torch's reset_parameters: kaiming_uniform_(a=sqrt(5)) gives bound 1/sqrt(fan_in) for
        # the weight, and the bias takes the same bound
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        fan_in = (in_channels // groups) * _math.prod(self.kernel_size)
        bound = 1.0 / _math.sqrt(fan_in)
        self.weight = _uniform(shape, bound)
        self.bias = _uniform((out_channels,), bound) if bias else None

    def forward(self, x):
        return self._forward(x, None)

    def _forward(self, x, activation):
        return functional._conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                self.groups, self._dims, activation)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding not in (0, (0, 0)):
            s += f", padding={self.padding}"
        if self.dilation not in (1, (1, 1)):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


class Conv2d(_ConvNd):
    """``nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True)`` over ``(N, C, H, W)``; padding as ints, pairs, "valid" or "same"."""

    _dims = 2


class Conv1d(_ConvNd):
    """``nn.Conv1d(in_channels, out_channels, kernel_size, ...)`` over ``(N, C, L)``."""

    _dims = 1


class _Pool(Module):
    def __init__(self, kernel_size, stride=None, padding=0, **extra):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride if stride is not None else kernel_size, padding
        for k, v in extra.items():
            setattr(self, k, v)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool):
    """``nn.MaxPool2d(kernel_size, stride=None, padding=0, dilation=1)`` (stride defaults to the
    kernel size)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation=dilation, return_indices=return_indices,
                         ceil_mode=ceil_mode)

    def forward(self, x):
        return functional.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                                     self.ceil_mode, self.return_indices)


class MaxPool1d(MaxPool2d):
    """``nn.MaxPool1d(kernel_size, stride=None, padding=0, dilation=1)``."""

    def forward(self, x):
        return functional.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                                     self.ceil_mode, self.return_indices)


class AvgPool2d(_Pool):
    """``nn.AvgPool2d(kernel_size, stride=None, padding=0, count_include_pad=True)``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                         divisor_override=divisor_override)

    def forward(self, x):
        return functional.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                     self.count_include_pad, self.divisor_override)


class AvgPool1d(_Pool):
    """``nn.AvgPool1d(kernel_size, stride=None, padding=0, count_include_pad=True)``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad)

    def forward(self, x):
        return functional.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                     self.count_include_pad)


class AdaptiveAvgPool2d(Module):
    """``nn.AdaptiveAvgPool2d(output_size)``; ``AdaptiveAvgPool2d(1)`` is global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return functional.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class _BatchNorm(Module):
    _ranks = (2, 3)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        num_features = int(num_features)
        if num_features <= 0:
            raise ValueError(f"{type(self).__name__} needs a positive num_features, got {num_features}")
        if momentum is not None and not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum}")
        self.num_features, self.eps, self.momentum = num_features, float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        if self.affine:
            self.weight = Parameter(_np.ones(num_features, _np.float32))
            self.bias = Parameter(_np.zeros(num_features, _np.float32))
        else:
            self.weight = self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", _native.tensor(_np.zeros(num_features, _np.float32)))
            self.register_buffer("running_var", _native.tensor(_np.ones(num_features, _np.float32)))
            self.register_buffer("num_batches_tracked", _native.tensor(_np.zeros((), _np.int64)))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self):
        """Running mean 0, variance 1, no batches tracked."""
        if self.track_running_stats:
            self.running_mean.fill_(0.0)
            self.running_var.fill_(1.0)
            self.num_batches_tracked.fill_(0)

    def forward(self, x):
        if x.ndim not in self._ranks:
            raise ValueError(
                f"{type(self).__name__} expects a {' or '.join(f'{r}-d' for r in self._ranks)} input, "
                f"got shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) got an input with {x.shape[1]} channels "
                f"(axis 1), shape {tuple(x.shape)}"
            )
        momentum = 0.0 if self.momentum is None else float(self.momentum)
        if self.training and self.track_running_stats:
            # torch counts the batches; momentum=None is their cumulative average
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked.item())
        use_batch = self.training or not self.track_running_stats
        return functional.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                     use_batch, momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """``nn.BatchNorm1d(num_features, eps=1e-5, momentum=0.1, affine=True,
    track_running_stats=True)`` over ``(N, C)`` or ``(N, C, L)``: batch statistics in
    ``train()``, the running estimates in ``eval()``."""

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """``nn.BatchNorm2d(num_features, ...)`` over ``(N, C, H, W)``."""

    _ranks = (4,)


class LayerNorm(Module):
    """``nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True)``."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        shape = (int(normalized_shape),) if isinstance(normalized_shape, int) else tuple(int(d) for d in normalized_shape)
        if not shape or min(shape) <= 0:
            raise ValueError(f"LayerNorm needs a positive normalized_shape, got {normalized_shape!r}")
        self.normalized_shape, self.eps, self.elementwise_affine = shape, float(eps), bool(elementwise_affine)
        if self.elementwise_affine:
            self.weight = Parameter(_np.ones(shape, _np.float32))
            self.bias = Parameter(_np.zeros(shape, _np.float32)) if bias else None
        else:
            self.weight = self.bias = None

    def forward(self, x):
        return functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class Embedding(Module):
    """``nn.Embedding(num_embeddings, embedding_dim, padding_idx=None)``: weight drawn from
    N(0, 1) as torch (the ``padding_idx`` row zeroed, and never updated)."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, _weight=None):
        super().__init__()
        n, d = int(num_embeddings), int(embedding_dim)
        if n <= 0 or d <= 0:
            raise ValueError(f"Embedding needs positive sizes, got ({num_embeddings}, {embedding_dim})")
        if padding_idx is not None:
            padding_idx = int(padding_idx)
            if not -n <= padding_idx < n:
                raise ValueError(f"padding_idx must be within num_embeddings ({n}), got {padding_idx}")
            padding_idx %= n
        self.num_embeddings, self.embedding_dim, self.padding_idx = n, d, padding_idx
        if _weight is None:
            w = _random.generator().standard_normal((n, d)).astype(_np.float32)
            if padding_idx is not None:
                w[padding_idx] = 0.0
        else:
            w = _np.asarray(_weight, _np.float32)
            if w.shape != (n, d):
                raise ValueError(f"_weight must have shape ({n}, {d}), got {w.shape}")
        self.weight = Parameter(w)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        """An embedding over a given ``(num, dim)`` table; ``freeze`` keeps it out of training."""
        e = _np.asarray(embeddings.detach().numpy() if isinstance(embeddings, _native.Tensor) else embeddings)
        if e.ndim != 2:
            raise ValueError(f"Embeddings parameter is expected to be 2-dimensional, got shape {e.shape}")
        m = cls(e.shape[0], e.shape[1], padding_idx, _weight=e)
        m.weight.requires_grad = not freeze
        return m

    def forward(self, ids):
        return functional.embedding(ids, self.weight, self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
