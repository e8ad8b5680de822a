"""torch's type queries: ``finfo``, ``iinfo``, ``is_floating_point`` and the legacy tensor types
(``FloatTensor``, ``LongTensor``, ...), for ``isinstance`` checks, ``t.type()`` strings and the
legacy constructors.

Limits are NumPy's (``ml_dtypes``' for bfloat16 and float8), which are IEEE's, as torch's are.
"""

import numpy as _np

from .. import _native
from .._dtypes import NAMES as _NAMES, dtype


class finfo:  # noqa: N801 - torch's spelling
    """Limits of a floating-point dtype (``torch.finfo``); float32 when none is given.

    Attributes: ``bits``, ``eps``, ``max``, ``min``, ``tiny`` (= ``smallest_normal``),
    ``resolution``, ``dtype``; the numbers are Python floats.
    """

    def __init__(self, type=None):  # noqa: A002 - torch's name
        name = dtype("float32" if type is None else str(getattr(type, "dtype", type)))
        if name not in _NAMES.values() or not name.is_floating_point:
            raise TypeError(f"finfo: {name!r} is not a floating-point dtype; use iinfo for integer types")
        np_type = name.as_numpy_dtype
        # NumPy's finfo does not know ml_dtypes' types; ml_dtypes' finfo knows all of them
        info = _np.finfo(np_type) if np_type.__module__ == "numpy" else __import__("ml_dtypes").finfo(np_type)
        self.dtype = name
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        self.resolution = float(info.resolution)

    def __repr__(self):
        return (f"finfo(resolution={self.resolution}, min={self.min}, max={self.max}, eps={self.eps}, "
                f"smallest_normal={self.smallest_normal}, tiny={self.tiny}, dtype={self.dtype})")


class iinfo:  # noqa: N801 - torch's spelling
    """Limits of an integer dtype (``torch.iinfo``): ``bits``, ``max``, ``min``, ``dtype``."""

    def __init__(self, type):  # noqa: A002 - torch's name
        name = dtype(str(getattr(type, "dtype", type)))
        if name not in _NAMES.values() or name.is_floating_point:
            raise TypeError(f"iinfo: {name!r} is not an integer dtype; use finfo for floating-point types")
        info = _np.iinfo(name)
        self.dtype = name
        self.bits = int(info.bits)
        self.max = int(info.max)
        self.min = int(info.min)

    def __repr__(self):
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


def is_floating_point(input):  # noqa: A002 - torch's name
    """Whether ``input``'s dtype is a floating-point type (``torch.is_floating_point``)."""
    return input.is_floating_point()


class _LegacyType(type):
    """``isinstance(t, FloatTensor)``: a CPU tensor of that dtype, as in torch."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, _native.Tensor) and obj.dtype == cls.dtype and obj.device == "cpu"

    def __call__(cls, *args):
        """``FloatTensor([1, 2])`` copies data as that dtype; ``FloatTensor(2, 3)`` is zeros of
        that shape (torch leaves it uninitialised)."""
        if len(args) == 1 and not isinstance(args[0], int):
            data = list(args[0]) if isinstance(args[0], range) else args[0]
            return _native.tensor(data, dtype=cls.dtype)
        return _native.Tensor(*args).to(cls.dtype)

    def __repr__(cls):
        return f"<class 'torch.{cls.__name__}'>"


def _legacy(name, dtype):
    return _LegacyType(name, (), {"dtype": dtype, "__doc__": f"torch.{name}: CPU tensors of {dtype}.",
                                  "__module__": "candle_numpy.torch"})


FloatTensor = _legacy("FloatTensor", "float32")
DoubleTensor = _legacy("DoubleTensor", "float64")
HalfTensor = _legacy("HalfTensor", "float16")
BFloat16Tensor = _legacy("BFloat16Tensor", "bfloat16")
LongTensor = _legacy("LongTensor", "int64")
IntTensor = _legacy("IntTensor", "int32")
ShortTensor = _legacy("ShortTensor", "int16")
ByteTensor = _legacy("ByteTensor", "uint8")
BoolTensor = _legacy("BoolTensor", "uint8")

LEGACY = ["BFloat16Tensor", "BoolTensor", "ByteTensor", "DoubleTensor", "FloatTensor", "HalfTensor",
          "IntTensor", "LongTensor", "ShortTensor"]
