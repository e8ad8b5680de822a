"""candle_numpy: NumPy arrays and candle tensors as one world.

Conversions say whether they share memory or copy:

==========================  ======  =================================================
``cn.from_numpy(a)``        share   a view of ``a``'s memory, or an error saying why not
``cn.as_tensor(a)``         auto    shares when it can, else copies
``cn.tensor(a)``            copy    always independent
``cn.to_tensor(a, mode=)``  any     the explicit form ("share", "copy", "auto")
``t.numpy()``               share   a NumPy view of the tensor (CPU); ``force=True`` copies from CUDA
==========================  ======  =================================================

``cn.shares_memory(a, t)`` tells whether two objects share memory. Files: ``cn.load_npy(p,
mmap=True)`` shares a memory-mapped ``.npy`` (read-only, O(1)); ``cn.save_npy``, ``cn.load_npz``,
``cn.save_npz``; ``cn.load_safetensors(path)`` maps a ``.safetensors`` file and shares it
(read-only tensors), ``cn.save_safetensors(path, dict)`` writes one. Record arrays:
``cn.from_structured(arr)``. pandas frames and series convert directly.

Freed buffers of 4 MiB and more are kept for the next copy of the same size (fresh memory costs
page faults; a warm buffer does not): ``cn.cache_info()`` shows the cache, ``cn.empty_cache()``
gives it back to the system, ``cn.set_cache_limit(bytes)`` bounds it (0 turns it off; the
default, a sixteenth of RAM and at most 1 GiB, can be set with ``CANDLE_NUMPY_CACHE_LIMIT``).
"""

from . import _native
from ._native import (
    CandleNumpyError,
    DeviceError,
    DLPackError,
    DTypeError,
    FileFormatError,
    ShapeError,
    ShareDTypeError,
    ShareError,
    Tensor,
    as_tensor,
    cache_info,
    cdist,
    empty_cache,
    from_dlpack,
    from_numpy,
    load_safetensors,
    safetensors_metadata,
    save_safetensors,
    load_npy,
    load_npz,
    save_npy,
    save_npz,
    load_url,
    set_cache_limit,
    shares_memory,
    sharing_available,
    tensor,
    to_tensor,
)

from ._dtypes import dtype as _dtype  # noqa: E402

_native._register_dtype_class(_dtype)

from ._pandas import values as _pandas_values  # noqa: E402

_native._register_pandas_values(_pandas_values)

from ._structured import from_structured  # noqa: E402
from . import tf, torch  # noqa: E402  (the facades build on the names above)

__version__ = "0.1.0"

__all__ = [
    "CandleNumpyError",
    "DeviceError",
    "DLPackError",
    "DTypeError",
    "FileFormatError",
    "ShapeError",
    "ShareDTypeError",
    "ShareError",
    "Tensor",
    "as_tensor",
    "cache_info",
    "cdist",
    "cuda",
    "device",
    "empty_cache",
    "from_dlpack",
    "from_numpy",
    "load_safetensors",
    "safetensors_metadata",
    "save_safetensors",
    "from_structured",
    "load_npy",
    "load_npz",
    "save_npy",
    "save_npz",
    "load_url",
    "set_cache_limit",
    "shares_memory",
    "sharing_available",
    "tensor",
    "tf",
    "to_tensor",
    "torch",
]


class _Cuda:
    """``cn.cuda.is_available()``, as ``torch.cuda``."""

    @staticmethod
    def is_available() -> bool:
        """Whether this build has CUDA support and a CUDA device can be opened."""
        return _native.cuda_is_available()


cuda = _Cuda()


def device(spec: str) -> str:
    """Normalise a device name ("cpu", "cuda", "gpu", "cuda:N", any case); raises ValueError
    (``cn.ShapeError``) on anything else. The parsing is the core's (``device::parse_location``).

    Example:
        >>> cn.device("CUDA")
        'cuda:0'
    """
    return _native.device_name(str(spec))
