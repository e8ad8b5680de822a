"""Structured (record) arrays: one tensor per field, copied out of the records."""

import numpy as np

from ._native import DTypeError, tensor


def _convertible(dtype: np.dtype) -> bool:
    # numeric kinds; kind 'V' without fields is an ml_dtypes type (bfloat16, float8), which the
    # core identifies exactly (and refuses with its own message when it has no candle twin)
    return dtype.kind in "biuf" or (dtype.kind == "V" and dtype.names is None and dtype.subdtype is None)


def _advice(name: str, dtype: np.dtype) -> str:
    if dtype.kind in "US":
        return f"encode the strings as integer codes first (np.unique(arr[{name!r}], return_inverse=True)[1])"
    if dtype.kind in "mM":
        return f"convert it to integers first (arr[{name!r}].astype('int64'))"
    if dtype.kind == "c":
        return f"split it into real and imaginary parts first (arr[{name!r}].real, .imag)"
    return "convert it to a numeric array first"


def _collect(arr: np.ndarray, prefix: str, out: dict) -> None:
    for name in arr.dtype.names:
        field = arr[name]
        full = prefix + name
        if field.dtype.names is not None:
            # a nested record (or a sub-array of records): its fields, with dotted names
            _collect(field, full + ".", out)
            continue
        if not _convertible(field.dtype):
            raise DTypeError(
                f"field {full!r} has dtype {field.dtype}, which has no tensor form (tensors hold numbers); "
                f"{_advice(full, field.dtype)}, or leave it out (arr[[names]] selects fields)"
            )
        # a strided view of the records (a sub-array field has its shape after the record axis)
        out[full] = tensor(field)


def from_structured(arr) -> dict:
    """Copy each field of a structured array into its own tensor.

    Args:
        arr: a structured ``numpy.ndarray`` (``np.recarray`` and memmaps too).

    Returns:
        ``{field name: Tensor}`` in field order. A sub-array field of shape ``(3,)`` gives a
        tensor of shape ``(*arr.shape, 3)``; fields of nested records are named ``"outer.inner"``.

    Raises:
        DTypeError: ``arr`` has no fields, or a field is not numeric (strings, objects,
            datetimes); the message names the field and what to do.

    Example:
        >>> rec = np.zeros(4, dtype=[("x", "f4"), ("pos", "f8", (3,))])
        >>> {k: t.shape for k, t in cn.from_structured(rec).items()}
        {'x': (4,), 'pos': (4, 3)}
    """
    arr = np.asarray(arr)
    if arr.dtype.names is None:
        raise DTypeError(
            f"from_structured takes a structured array (a dtype with fields), got dtype {arr.dtype}; "
            f"use cn.tensor(arr) for plain arrays"
        )
    out: dict = {}
    _collect(arr, "", out)
    return out
