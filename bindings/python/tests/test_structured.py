"""cn.from_structured: one tensor per field of a record array."""

import numpy as np
import pytest

import candle_numpy as cn


def records(n=5):
    dt = np.dtype(
        [("id", "<i8"), ("x", "<f4"), ("pos", "<f8", (3,)), ("flag", "?"), ("inner", [("u", "<i2"), ("v", "u1")])]
    )
    r = np.zeros(n, dtype=dt)
    r["id"] = np.arange(n)
    r["x"] = np.arange(n) * 0.5
    r["pos"] = np.arange(n * 3).reshape(n, 3)
    r["flag"] = np.arange(n) % 2 == 0
    r["inner"]["u"] = -np.arange(n)
    r["inner"]["v"] = np.arange(n) + 7
    return r


def test_fields_are_copied_with_their_dtypes_and_shapes():
    r = records()
    out = cn.from_structured(r)
    assert list(out) == ["id", "x", "pos", "flag", "inner.u", "inner.v"]
    assert out["id"].dtype == "int64" and out["id"].shape == (5,)
    assert out["pos"].dtype == "float64" and out["pos"].shape == (5, 3)
    assert out["flag"].dtype == "uint8"  # candle has no bool: 0/1 on copy
    assert out["inner.u"].dtype == "int16" and out["inner.v"].dtype == "uint8"
    np.testing.assert_array_equal(out["x"].numpy(), r["x"])
    np.testing.assert_array_equal(out["pos"].numpy(), r["pos"])
    np.testing.assert_array_equal(out["flag"].numpy(), r["flag"].astype(np.uint8))
    np.testing.assert_array_equal(out["inner.u"].numpy(), r["inner"]["u"])
    for t in out.values():
        assert not t.is_readonly
    # copies: the records can change afterwards
    r["x"] = 9
    assert out["x"].numpy()[1] == 0.5


def test_packed_and_sliced_records():
    # packed (unaligned) fields, a strided slice, a 2-d record array
    dt = np.dtype([("a", "u1"), ("b", "<f8"), ("c", ">i4")], align=False)
    r = np.zeros((4, 3), dtype=dt)
    r["b"] = np.arange(12).reshape(4, 3) + 0.25
    r["c"] = -np.arange(12).reshape(4, 3)
    out = cn.from_structured(r[::2, 1:])
    np.testing.assert_array_equal(out["b"].numpy(), r["b"][::2, 1:])
    np.testing.assert_array_equal(out["c"].numpy(), r["c"][::2, 1:])
    assert out["c"].dtype == "int32"


def test_non_numeric_fields_are_named_in_the_error():
    r = np.zeros(3, dtype=[("x", "f4"), ("name", "U5")])
    with pytest.raises(cn.DTypeError, match=r"field 'name'.*<U5.*integer codes") as e:
        cn.from_structured(r)
    assert isinstance(e.value, TypeError)
    r = np.zeros(3, dtype=[("when", "M8[s]")])
    with pytest.raises(TypeError, match=r"'when'.*astype\('int64'\)"):
        cn.from_structured(r)
    r = np.zeros(2, dtype=[("o", "O")])
    with pytest.raises(TypeError, match="'o'"):
        cn.from_structured(r)
    with pytest.raises(TypeError, match="structured array"):
        cn.from_structured(np.zeros(3))
    # the plain constructors still point at from_structured
    with pytest.raises(TypeError, match="from_structured"):
        cn.tensor(records())
