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

import numpy as _np
from builtins import all as _all, bool as _bool, float as _float, int as _int

from .. import _native
from .._dtypes import NAMES as _NAMES, TORCH_ALIASES as _ALIASES, dtype
from . import _random
from ._types import LEGACY as _LEGACY, finfo, iinfo, is_floating_point
from ._types import (  # noqa: F401 - torch's legacy tensor types
    BFloat16Tensor, BoolTensor, ByteTensor, DoubleTensor, FloatTensor, HalfTensor, IntTensor, LongTensor, ShortTensor,
)

__all__ = [
    "Generator",
    "Size",
    "Storage",
    "Tensor",
    "all",
    "any",
    "arange",
    "cat",
    "diag",
    "dtype",
    "eq",
    "finfo",
    "get_default_dtype",
    "get_rng_state",
    "iinfo",
    "is_floating_point",
    "logical_not",
    "narrow",
    "ne",
    "numel",
    "randint",
    "randperm",
    "set_rng_state",
    "stack",
    "t",
    "as_tensor",
    "cdist",
    "cuda",
    "device",
    "div",
    "empty",
    "empty_like",
    "enable_grad",
    "from_dlpack",
    "from_numpy",
    "full",
    "full_like",
    "is_grad_enabled",
    "is_tensor",
    "manual_seed",
    "mean",
    "mul",
    "nn",
    "no_grad",
    "ones",
    "ones_like",
    "optim",
    "rand",
    "randn",
    "set_grad_enabled",
    "tensor",
    "true_divide",
    "utils",
    "zeros",
    "zeros_like",
] + sorted(_NAMES) + sorted(_ALIASES) + _LEGACY

globals().update(_NAMES)
_native._register_random_source(_random.fill_values)
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
    return _native.as_tensor(list(data) if isinstance(data, range) else data, dtype=dtype, device=device)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """Copy ``data`` into a new tensor (``torch.tensor``; a ``range`` counts as its list)."""
    data = list(data) if isinstance(data, range) else data
    return _native.tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


class Size(tuple):
    """A shape (``torch.Size``): a tuple of ints, which ``t.shape`` also is."""

    def numel(self):
        """Product of the sizes."""
        n = 1
        for d in self:
            n *= d
        return n


Tensor = _native.Tensor


def is_tensor(obj):
    """Whether ``obj`` is a candle_numpy tensor (``torch.is_tensor``)."""
    return isinstance(obj, _native.Tensor)


# --- constructors (torch's signatures; float32 by default, as torch's default dtype) -----------
# (`int`, `bool`, `float` are dtype names and `all`, `any` functions in this module: the
# builtins are `_int`, `_bool`, `_float`, `_all`.)
# NumPy fills the memory and the tensor shares it (no second copy), or copies when a dtype or
# device asks for it; a negative or impossible size is NumPy's ValueError or MemoryError.


def _size(size):
    """``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])`` name the same shape, as in torch."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for d in size:
        if isinstance(d, _bool) or not isinstance(d, _int) and not hasattr(d, "__index__"):
            raise TypeError(f"sizes must be integers, got {d!r} in {size!r}")
    return tuple(_int(d) for d in size)


def _finish(arr, dtype, device, requires_grad):
    t = _native.as_tensor(arr, dtype=dtype, device=device)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros (``torch.zeros``)."""
    return _finish(_np.zeros(_size(size), dtype=_np.float32), dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of ones (``torch.ones``)."""
    return _finish(_np.ones(_size(size), dtype=_np.float32), dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    """``torch.empty``: here zeros (torch leaves the memory uninitialised)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor of ``fill_value`` (``torch.full``); the dtype follows the value as torch's
    does (bool -> bool as uint8, int -> int64, float -> float32)."""
    if dtype is None:
        dtype = "uint8" if isinstance(fill_value, _bool) else "int64" if isinstance(fill_value, _int) else "float32"
    arr = _np.full(_size((size,) if isinstance(size, _int) else (tuple(size),)), fill_value)
    return _finish(arr, dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """``torch.arange``: int64 when every bound is an int, else float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        dtype = "int64" if _all(isinstance(v, _int) and not isinstance(v, _bool) for v in (start, end, step)) else "float32"
    return _finish(_np.arange(start, end, step), dtype, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1) (``torch.rand``), from the generator ``manual_seed`` seeds."""
    arr = _random.generator().random(_size(size), dtype=_np.float32)
    return _finish(arr, dtype, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal (``torch.randn``), from the generator ``manual_seed`` seeds."""
    arr = _random.generator().standard_normal(_size(size), dtype=_np.float32)
    return _finish(arr, dtype, device, requires_grad)


def _t(x):
    """``x`` as a tensor (shared when it can be)."""
    return x if isinstance(x, _native.Tensor) else _native.as_tensor(x)


def _like(t, make, dtype, device, requires_grad):
    t = _t(t)
    return make(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def zeros_like(input, dtype=None, device=None, requires_grad=False):  # noqa: A002 - torch's name
    """Zeros of ``input``'s shape, dtype and device (``torch.zeros_like``)."""
    return _like(input, zeros, dtype, device, requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad=False):  # noqa: A002
    """Ones of ``input``'s shape, dtype and device (``torch.ones_like``)."""
    return _like(input, ones, dtype, device, requires_grad)


def empty_like(input, dtype=None, device=None, requires_grad=False):  # noqa: A002
    """``torch.empty_like``: here zeros."""
    return _like(input, zeros, dtype, device, requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):  # noqa: A002
    """``fill_value`` in ``input``'s shape, dtype and device (``torch.full_like``)."""
    t = _t(input)
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


# --- functional forms of tensor methods ---------------------------------------------------------


def mean(input, dim=None, keepdim=False):  # noqa: A002
    """``torch.mean``."""
    return _t(input).mean(dim=dim, keepdim=keepdim)


def mul(input, other):  # noqa: A002
    """``torch.mul``: ``input * other``."""
    return _t(input) * other


def div(input, other, *, rounding_mode=None):  # noqa: A002
    """``torch.div``: true division, ``input / other``; ``rounding_mode="trunc"`` or
    ``"floor"`` rounds the quotient (integer inputs keep their dtype, as in torch)."""
    if rounding_mode is None:
        return _t(input) / other
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}")
    a = _t(input)
    q = a / other
    integer = not a.is_floating_point() and not (isinstance(other, _native.Tensor) and other.is_floating_point()) \
        and not isinstance(other, _float)
    rounded = _native.as_tensor(_np.floor(q.numpy()) if rounding_mode == "floor" else _np.trunc(q.numpy()))
    return rounded.to(a.dtype if integer else q.dtype)


def cat(tensors, dim=0):
    """Join tensors along an existing dimension (``torch.cat``); dtypes promote as torch's."""
    return _native.cat(tensors, dim)


concat = concatenate = cat


def stack(tensors, dim=0):
    """Join tensors of one shape along a new dimension (``torch.stack``)."""
    return _native.stack(tensors, dim)


def eq(input, other):  # noqa: A002
    """``input == other`` elementwise, as a uint8 mask (``torch.eq``)."""
    return _t(input).eq(other)


def ne(input, other):  # noqa: A002
    """``input != other`` elementwise, as a uint8 mask (``torch.ne``)."""
    return _t(input).ne(other)


def all(input, dim=None, keepdim=False):  # noqa: A001,A002 - torch's names
    """Whether every element (along ``dim``) is non-zero, as uint8 (``torch.all``)."""
    return _t(input).all(dim=dim, keepdim=keepdim)


def any(input, dim=None, keepdim=False):  # noqa: A001,A002
    """Whether any element (along ``dim``) is non-zero, as uint8 (``torch.any``)."""
    return _t(input).any(dim=dim, keepdim=keepdim)


def logical_not(input):  # noqa: A002
    """``input == 0`` elementwise, as a uint8 mask (``torch.logical_not``)."""
    return _t(input).logical_not()


def diag(input, diagonal=0):  # noqa: A002
    """A vector as a diagonal matrix, or a matrix's diagonal (``torch.diag``)."""
    return _t(input).diag(diagonal)


def narrow(input, dim, start, length):  # noqa: A002
    """The view of ``length`` elements of ``dim`` from ``start`` (``torch.narrow``)."""
    return _t(input).narrow(dim, start, length)


def t(input):  # noqa: A002
    """Transpose of a matrix, as a view (``torch.t``)."""
    return _t(input).t()


def numel(input):  # noqa: A002
    """Number of elements (``torch.numel``)."""
    return _t(input).numel()


def get_default_dtype():
    """float32, the dtype of float tensors made from Python floats (fixed here)."""
    return float32  # noqa: F821 - set from _NAMES above


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    """A random permutation of ``0..n`` as int64 (``torch.randperm``), from the generator
    ``manual_seed`` seeds (or ``generator``)."""
    arr = _random.generator(generator).permutation(_int(n)).astype(_np.int64)
    return _finish(arr, dtype, device, requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform integers in ``[low, high)`` as int64 (``torch.randint(high, size)`` or
    ``torch.randint(low, high, size)``)."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint() missing the size argument, e.g. randint(10, (3,))")
    arr = _random.generator(generator).integers(low, high, size=_size((size,) if isinstance(size, _int) else (tuple(size),)))
    return _finish(arr.astype(_np.int64), dtype, device, requires_grad)


Generator = _random.Generator
get_rng_state = _random.get_rng_state
set_rng_state = _random.set_rng_state


def Storage(size):  # noqa: N802 - torch's name
    """A float32 storage of ``size`` elements (``torch.Storage(n)``): ``t.storage()`` of a
    fresh tensor."""
    return zeros(_int(size)).storage()


true_divide = div


def from_dlpack(x):
    """A tensor over a DLPack producer's memory (``torch.from_dlpack``)."""
    return _native.from_dlpack(x)


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
        self._prev = _native.set_grad_enabled(_bool(mode))

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
