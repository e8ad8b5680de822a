"""dtype names shared by the torch- and tf-style facades (``cn.torch.float32``, ``cn.tf.int32``).

Each name is the NumPy-style string the core accepts, so ``dtype=cn.torch.float16`` and
``dtype="float16"`` mean the same thing.
"""

_ITEMSIZE = {"uint8": 1, "int16": 2, "int32": 4, "int64": 8, "uint32": 4, "float16": 2, "bfloat16": 2,
             "float32": 4, "float64": 8, "float8_e4m3fn": 1}
_FLOATS = frozenset({"float16", "bfloat16", "float32", "float64", "float8_e4m3fn"})


class dtype(str):  # noqa: N801 - torch's and TF's spelling
    """A dtype: its NumPy-style name (``"float32"``), so it compares, hashes and passes as that
    string does (``t.dtype == "float32"``, ``np.dtype(t.dtype)``), with the attributes torch's
    and TF's dtypes have.

    ``Tensor.dtype`` answers with these, and ``cn.torch.float32``, ``cn.tf.int64``, ... are
    these.
    """

    __slots__ = ()

    @property
    def is_floating_point(self):
        """Whether it is a floating-point type (torch's ``dtype.is_floating_point``)."""
        return str(self) in _FLOATS

    @property
    def is_floating(self):
        """Whether it is a floating-point type (TF's ``DType.is_floating``)."""
        return str(self) in _FLOATS

    @property
    def is_integer(self):
        """Whether it is an integer type (TF's ``DType.is_integer``)."""
        return str(self) not in _FLOATS

    @property
    def is_complex(self):
        """Always False: candle has no complex dtypes."""
        return False

    @property
    def is_signed(self):
        """Whether it holds negative values (torch's ``dtype.is_signed``)."""
        return str(self) not in ("uint8", "uint32")

    @property
    def itemsize(self):
        """Bytes per element (torch's ``dtype.itemsize``)."""
        return _ITEMSIZE[str(self)]

    size = itemsize  # TF's spelling

    @property
    def name(self):
        """The name as a plain string (TF's ``DType.name``)."""
        return str(self)

    @property
    def as_numpy_dtype(self):
        """The NumPy scalar type (TF's ``DType.as_numpy_dtype``; ml_dtypes' for bfloat16 and
        float8)."""
        import numpy as np

        if str(self) in ("bfloat16", "float8_e4m3fn"):
            import ml_dtypes

            return getattr(ml_dtypes, str(self))
        return getattr(np, str(self))

    def __reduce__(self):
        return (dtype, (str(self),))


NAMES = {
    "uint8": "uint8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint32": "uint32",
    "float16": "float16",
    "bfloat16": "bfloat16",
    "float32": "float32",
    "float64": "float64",
    "float8_e4m3fn": "float8_e4m3fn",
}
NAMES = {k: dtype(v) for k, v in NAMES.items()}

# the aliases each framework also spells
# (candle has no bool: torch.bool is uint8, the dtype comparisons give)
TORCH_ALIASES = {"bool": "uint8", "half": "float16", "float": "float32", "double": "float64", "short": "int16",
                 "int": "int32", "long": "int64", "float8_e4m3fn": "float8_e4m3fn"}
TF_ALIASES = {"half": "float16", "double": "float64"}


def is_python_data(value) -> bool:
    """Python scalars and (nested) lists/tuples: the inputs whose dtype each framework infers."""
    return isinstance(value, (bool, int, float, list, tuple))
