"""Small stand-ins for the parts of torch's test harness the upstream ports need.

Upstream tests lean on ``torch.testing._internal`` (``TestCase.assertEqual`` with its
tolerance machinery, ``make_tensor``, the ``dtypes`` decorators). None of that exists for
``cn.torch``, so the ports use these helpers instead. They are deliberately undemanding of
the module under test: they only call ``.numpy()`` (after ``.detach()`` when the tensor
requires grad, and ``.float()`` for bfloat16, which NumPy cannot hold), ``.dtype`` and
``torch.tensor(list, dtype=...)``, so that a failure points at the behaviour the ported test
checks rather than at the harness.
"""

import numpy as np
import pytest

# dtypes candle has no exact counterpart of (bool and the complex types at all; int8, uint16
# and uint64 widen on copy to int16, uint32 and int64, and are refused by from_numpy, as the
# README's dtype table says); tests whose *subject* is one of these are skipped for cn (the
# torch control still runs them; conftest.py skips the parametrized ones).
NO_SUCH_DTYPE_IN_CANDLE = {"bool", "complex64", "complex128", "int8", "uint16", "uint64"}


def is_cn(torch) -> bool:
    return torch.__name__.startswith("candle_numpy")


def skip_on_cn(torch, reason: str) -> None:
    if is_cn(torch):
        pytest.skip(reason)


def get_dtype(torch, name: str):
    """``torch.<name>``; skipped for cn when candle has no such dtype (bool, complex)."""
    if is_cn(torch) and name in NO_SUCH_DTYPE_IN_CANDLE:
        pytest.skip(f"candle has no {name} dtype")
    return getattr(torch, name)


def dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def is_tensor_like(x) -> bool:
    return (
        not isinstance(x, (np.ndarray, np.generic, str, bytes))
        and hasattr(x, "numpy")
        and hasattr(x, "dtype")
    )


def to_numpy(x):
    """A NumPy view/copy of a tensor, array or scalar, for value comparison."""
    if is_tensor_like(x):
        if getattr(x, "requires_grad", False):
            x = x.detach()
        if dtype_name(x.dtype) == "bfloat16":
            x = x.float()
        return np.asarray(x.numpy())
    return np.asarray(x)


_FLOAT_TOL = {
    np.dtype(np.float16): (1e-3, 1e-5),
    np.dtype(np.float32): (1.3e-6, 1e-5),
    np.dtype(np.float64): (1e-7, 1e-7),
}


def assert_equal(actual, expected, msg: str = "") -> None:
    """What ``TestCase.assertEqual`` checks, for the cases the ports use.

    Tensors against tensors: same dtype, same shape, values equal (floats within torch's
    default tolerances, NaNs equal). Tensors against arrays/scalars: values equal.
    Sequences and mappings: elementwise.
    """
    if isinstance(actual, dict) or isinstance(expected, dict):
        assert isinstance(actual, dict) and isinstance(expected, dict), msg
        assert set(actual) == set(expected), msg
        for k in actual:
            assert_equal(actual[k], expected[k], msg)
        return
    if isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{msg}: lengths {len(actual)} != {len(expected)}"
        for a, e in zip(actual, expected):
            assert_equal(a, e, msg)
        return
    if isinstance(actual, str) or isinstance(expected, str):
        assert actual == expected, msg
        return
    if is_tensor_like(actual) and is_tensor_like(expected):
        assert dtype_name(actual.dtype) == dtype_name(expected.dtype), (
            f"{msg}: dtype {actual.dtype} != {expected.dtype}"
        )
    a, e = to_numpy(actual), to_numpy(expected)
    if a.ndim and e.ndim:
        assert a.shape == e.shape, f"{msg}: shape {a.shape} != {e.shape}"
    if a.dtype.kind in "fc" or e.dtype.kind in "fc":
        rtol, atol = _FLOAT_TOL.get(a.dtype, (1e-7, 1e-7))
        np.testing.assert_allclose(
            a.astype(np.float64) if a.dtype.kind != "c" else a,
            e.astype(np.float64) if e.dtype.kind != "c" else e,
            rtol=rtol,
            atol=atol,
            equal_nan=True,
            err_msg=msg,
        )
    else:
        np.testing.assert_array_equal(a, e, err_msg=msg)


def assert_not_equal(actual, expected) -> None:
    try:
        assert_equal(actual, expected)
    except AssertionError:
        return
    raise AssertionError(f"{actual!r} == {expected!r}")


_rng = np.random.default_rng(0)

_INT_RANGE = {
    "uint8": (0, 255),
    "int8": (-128, 127),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
}


def make_tensor(torch, shape, dtype, low=None, high=None):
    """Stand-in for ``torch.testing.make_tensor`` on CPU: random values in [low, high).

    Defaults as upstream: [-9, 9) clamped to the dtype's range; bool draws 0/1. Built with
    ``torch.tensor(nested_list, dtype=dtype)``, the plainest constructor both modules have.
    """
    name = dtype_name(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    low = -9 if low is None else low
    high = 9 if high is None else high
    if name == "bool":
        values = _rng.integers(0, 2, size=shape).astype(bool)
    elif name in _INT_RANGE:
        lo, hi = _INT_RANGE[name]
        values = _rng.integers(max(low, lo), min(high, hi), size=shape)
    elif name.startswith("complex"):
        values = _rng.uniform(low, high, size=shape) + 1j * _rng.uniform(low, high, size=shape)
    else:
        values = _rng.uniform(low, high, size=shape)
    return torch.tensor(values.tolist(), dtype=dtype)
