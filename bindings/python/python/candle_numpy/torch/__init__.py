"""PyTorch-style constructors over candle_numpy, with torch's semantics.

==========================================  ======  ==========================================
``cn.torch.from_numpy(a)``                  share   shares memory, or raises (never copies)
``cn.torch.as_tensor(a, dtype, device)``    auto    shares when dtype/device/layout allow
``cn.torch.tensor(data, dtype, device, requires_grad)``  copy  always independent
``cn.torch.Tensor(data)``                   copy    float32, as ``torch.Tensor``
==========================================  ======  ==========================================

``cn.torch.Tensor`` is the tensor class itself (``isinstance(x, cn.torch.Tensor)``,
``cn.torch.is_tensor(x)``); ``Tensor(2, 3)`` is a float32 tensor of that shape (zeros, where
torch leaves the memory uninitialised).

Python lists infer as torch does: float -> float32, int -> int64, bool -> uint8 (candle has no
bool). NumPy arrays keep their dtype.

Example:
    >>> import candle_numpy as cn
    >>> cn.torch.tensor([[1, 2], [3, 4]]).dtype
    'int64'
"""

import contextlib as _contextlib

from .. import _native
from .._dtypes import NAMES as _NAMES, TORCH_ALIASES as _ALIASES
from . import _random

__all__ = [
    "Tensor",
    "as_tensor",
    "cdist",
    "cuda",
    "device",
    "enable_grad",
    "from_numpy",
    "is_grad_enabled",
    "is_tensor",
    "manual_seed",
    "nn",
    "no_grad",
    "optim",
    "set_grad_enabled",
    "tensor",
    "utils",
] + sorted(_NAMES) + sorted(_ALIASES)

globals().update(_NAMES)
globals().update({alias: _NAMES[target] for alias, target in _ALIASES.items()})


def from_numpy(a):
    """Share ``a``'s memory (``torch.from_numpy``).

    Raises:
        ShareError: the array cannot be shared (the message says why and what to do).
        TypeError: ``a`` is not an array.
    """
    return _native.from_numpy(a)


def as_tensor(data, dtype=None, device=None):
    """Share when dtype, device and layout allow, else copy (``torch.as_tensor``)."""
    return _native.as_tensor(data, dtype=dtype, device=device)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """Copy ``data`` into a new tensor (``torch.tensor``)."""
    return _native.tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


Tensor = _native.Tensor


def is_tensor(obj):
    """Whether ``obj`` is a candle_numpy tensor (``torch.is_tensor``)."""
    return isinstance(obj, _native.Tensor)


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """Pairwise p-norm distances (``torch.cdist``): ``(P, M) x (R, M) -> (P, R)``, batched
    ``(B, P, M) x (B, R, M) -> (B, P, R)``.

    Unlike torch's, the Euclidean distances are exact where torch's GEMM expansion cancels
    (close pairs, duplicates, the diagonal of ``cdist(X, X)`` is exactly 0) and the gradient at
    zero distance is 0, not NaN. ``cn.cdist`` adds ``metric="sqeuclidean" | "cosine"``.
    """
    return _native.cdist(x1, x2, p=p, compute_mode=compute_mode)


def device(spec):
    """Normalise a device name as ``torch.device`` does ("cpu", "cuda" -> "cuda:0", "cuda:N")."""
    from .. import device as _device

    return _device(spec)


class _Cuda:
    @staticmethod
    def is_available():
        """Whether this build has CUDA and a device opens (``torch.cuda.is_available``)."""
        return _native.cuda_is_available()


cuda = _Cuda()


def manual_seed(seed):
    """Seed the generator behind ``nn`` initialisation and dropout (``torch.manual_seed``)."""
    _random.seed(seed)


def is_grad_enabled():
    """Whether operations are recorded for ``backward()`` on this thread."""
    return _native.is_grad_enabled()


class set_grad_enabled(_contextlib.ContextDecorator):  # noqa: N801 - torch's spelling
    """Turn recording on or off; as a context manager or decorator it restores the old mode."""

    def __init__(self, mode):
        self._prev = _native.set_grad_enabled(bool(mode))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _native.set_grad_enabled(self._prev)
        return False


class no_grad(_contextlib.ContextDecorator):  # noqa: N801 - torch's spelling
    """Do not record operations (``torch.no_grad()``): results do not require grad, and leaf
    parameters may be updated in place."""

    def __enter__(self):
        self._prev = _native.set_grad_enabled(False)
        return self

    def __exit__(self, *exc):
        _native.set_grad_enabled(self._prev)
        return False


class enable_grad(_contextlib.ContextDecorator):  # noqa: N801 - torch's spelling
    """Record operations again inside a ``no_grad()`` block."""

    def __enter__(self):
        self._prev = _native.set_grad_enabled(True)
        return self

    def __exit__(self, *exc):
        _native.set_grad_enabled(self._prev)
        return False


from . import nn, optim, utils  # noqa: E402  (they build on the names above)
