"""pandas in: a DataFrame or Series becomes its NumPy values, or an error naming what stops it.

The package registers :func:`values` with the native module at import, and the native
constructors call it for every pandas object, so ``cn.tensor``,
``cn.as_tensor``, ``cn.from_numpy``, the facades and the datasets all take frames directly.
pandas is never imported here: the objects come from a program that already has it.
"""

import numpy as np

from ._native import DTypeError, ShareError


def _numeric(dtype) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind in "biuf"


def _hint(dtype) -> str:
    if isinstance(dtype, np.dtype):
        return ""
    # pandas extension dtypes: nullable integers, categoricals, strings
    return " (a pandas extension dtype: use .to_numpy(dtype='float32', na_value=np.nan))"


def values(obj, share: bool) -> np.ndarray:
    """The NumPy values of a DataFrame (2-D, rows x columns) or Series (1-D); the index is dropped.

    Args:
        obj: a ``pandas.DataFrame`` or ``pandas.Series``.
        share: whether the caller must share memory (``cn.from_numpy``): a frame whose columns
            live in several blocks has no single array to share.

    Returns:
        The values: a view of the frame's memory when it has one block, else a copy.

    Raises:
        DTypeError: a column is not numeric, or the columns have different dtypes.
        ShareError: ``share`` and the frame's columns are stored apart.
    """
    if obj.ndim == 1:
        if not _numeric(obj.dtype):
            raise DTypeError(
                f"Series {obj.name!r} has dtype {obj.dtype}{_hint(obj.dtype)}; tensors hold numbers: "
                f"convert it with s.astype('float32') (or encode it)"
            )
        return obj.to_numpy(copy=False)
    dtypes = list(obj.dtypes.items())
    bad = [(c, d) for c, d in dtypes if not _numeric(d)]
    if bad:
        listed = ", ".join(f"{c!r} ({d}{_hint(d)})" for c, d in bad)
        raise DTypeError(
            f"DataFrame columns {listed} are not numeric; a tensor holds one numeric dtype: drop or "
            f"encode them, or select the numeric columns (df.select_dtypes('number'))"
        )
    kinds = {d for _, d in dtypes}
    if len(kinds) > 1:
        listed = ", ".join(f"{c!r} ({d})" for c, d in dtypes)
        raise DTypeError(
            f"DataFrame columns have different dtypes: {listed}; a tensor holds one dtype: convert "
            f'with df.astype("float32"), or select columns of one dtype (df[[...]])'
        )
    blocks = getattr(getattr(obj, "_mgr", None), "nblocks", 1)
    if share and blocks != 1:
        raise ShareError(
            f"the DataFrame's {obj.shape[1]} columns are stored in {blocks} separate blocks (pandas keeps "
            f"columns added later apart), so there is no single array to share; copy with cn.tensor(df), "
            f"or consolidate first with df = df.copy()"
        )
    return obj.to_numpy(copy=False)
