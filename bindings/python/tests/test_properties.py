"""Property tests (hypothesis) over dtype x shape x layout.

- cn.tensor(a).numpy() equals np.asarray(a), with the dtype the table gives;
- cn.from_numpy(a) either shares memory (same values) or raises a documented ShareError.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import candle_numpy as cn

WIDENED = {"int8": "int16", "uint16": "uint32", "bool": "uint8", "uint64": "int64"}
DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64"]


@st.composite
def layouts(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    base = draw(hnp.arrays(dtype, shape))
    a = base
    # basic slicing with steps (positive and negative) on each axis
    if a.ndim:
        key = tuple(
            slice(draw(st.integers(0, 2)), None, draw(st.sampled_from([1, 1, 2, -1, -2])))
            for _ in range(a.ndim)
        )
        a = a[key]
    if a.ndim > 1 and draw(st.booleans()):
        a = np.transpose(a, draw(st.permutations(range(a.ndim))))
    if dtype.itemsize > 1 and draw(st.integers(0, 4)) == 0:
        a = a.byteswap().view(a.dtype.newbyteorder())  # same values, foreign byte order
    if draw(st.integers(0, 5)) == 0:
        a = a.copy()
        a.flags.writeable = False
    return a


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_copy_equals_numpy(a):
    name = a.dtype.name
    if name == "uint64" and a.size and a.max() > np.iinfo(np.int64).max:
        with pytest.raises(cn.ShapeError, match="does not fit"):
            cn.tensor(a)
        return
    t = cn.tensor(a)
    out = t.numpy()
    assert out.dtype.name == WIDENED.get(name, name)
    assert out.shape == a.shape
    np.testing.assert_array_equal(out, np.asarray(a).astype(out.dtype))
    assert not cn.shares_memory(a, t)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_share_shares_or_refuses_as_documented(a):
    try:
        t = cn.from_numpy(a)
    except cn.ShareDTypeError:
        assert a.dtype.name in WIDENED
        return
    except cn.ShareError as e:
        msg = str(e)
        native = a.dtype.isnative or a.dtype.itemsize == 1
        documented = (
            (not native and "byte order" in msg)
            or ("negative stride" in msg and any(s < 0 for n, s in zip(a.shape, a.strides) if n > 1))
            or "cannot be expressed as a candle view" in msg
        )
        assert documented, msg
        return
    if a.size == 0:
        # no memory to share: an empty tensor of the array's shape (as torch.from_numpy)
        assert t.shape == a.shape and t.numel() == 0
        return
    assert a.dtype.name not in WIDENED and a.size > 0 and (a.dtype.isnative or a.dtype.itemsize == 1)
    assert cn.shares_memory(a, t)
    out = t.numpy()
    assert out.__array_interface__["data"][0] == a.__array_interface__["data"][0]
    np.testing.assert_array_equal(out, a)
    assert out.flags.writeable == a.flags.writeable
