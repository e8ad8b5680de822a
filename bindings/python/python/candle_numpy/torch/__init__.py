"""PyTorch-style constructors over candle_numpy, with torch's semantics.

==========================================  ======  ==========================================
``cn.torch.from_numpy(a)``                  share   shares memory, or raises (never copies)
``cn.torch.as_tensor(a, dtype, device)``    auto    shares when dtype/device/layout allow
``cn.torch.tensor(data, dtype, device, requires_grad)``  copy  always independent
``cn.torch.Tensor(data)``                   copy    float32, as ``torch.Tensor``
==========================================  ======  ==========================================

Python lists infer as torch does: float -> float32, int -> int64, bool -> uint8 (candle has no
bool). NumPy arrays keep their dtype.

Example:
    >>> import candle_numpy as cn
    >>> cn.torch.tensor([[1, 2], [3, 4]]).dtype
    'int64'
"""

from .. import _native
from .._dtypes import NAMES as _NAMES, TORCH_ALIASES as _ALIASES
from . import utils

__all__ = ["Tensor", "as_tensor", "cuda", "device", "from_numpy", "tensor", "utils"] + sorted(_NAMES) + sorted(_ALIASES)

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


def Tensor(data):  # noqa: N802 - torch's spelling
    """A float32 copy (``torch.Tensor(data)``)."""
    return _native.tensor(data, dtype="float32")


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
