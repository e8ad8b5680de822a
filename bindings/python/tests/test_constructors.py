"""cn.tensor / cn.as_tensor / cn.to_tensor over every kind of input."""

import numpy as np
import pytest

import candle_numpy as cn
from conftest import data_ptr


def test_tensor_always_copies():
    a = np.arange(6.0).reshape(2, 3)
    t = cn.tensor(a)
    assert not cn.shares_memory(a, t)
    a[0, 0] = 100
    assert t.tolist()[0][0] == 0
    assert t.dtype == "float64", "NumPy arrays keep their dtype"


def test_as_tensor_shares_when_it_can():
    a = np.arange(6, dtype=np.int32)
    t = cn.as_tensor(a)
    assert cn.shares_memory(a, t)
    t2 = cn.as_tensor(a, dtype="float32")
    assert not cn.shares_memory(a, t2) and t2.dtype == "float32"


@pytest.mark.parametrize("mode, shares", [("share", True), ("auto", True), ("copy", False)])
def test_to_tensor_modes(mode, shares):
    a = np.ones((3, 3), dtype=np.float32)
    assert cn.shares_memory(a, cn.to_tensor(a, mode=mode)) == shares


@pytest.mark.parametrize(
    "spec, name",
    [
        ("float32", "float32"),
        ("f4", "float32"),
        ("f32", "float32"),
        (np.float16, "float16"),
        (np.dtype("int64"), "int64"),
        ("int8", "int16"),
        ("bfloat16", "bfloat16"),
    ],
)
def test_dtype_arguments(spec, name):
    assert cn.tensor(np.arange(3.0), dtype=spec).dtype == name


def test_ml_dtypes_round_trip():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    a = np.arange(4, dtype=np.float32).astype(ml_dtypes.bfloat16)
    t = cn.from_numpy(a)
    assert t.dtype == "bfloat16"
    out = t.numpy()
    assert out.dtype == ml_dtypes.bfloat16 and data_ptr(out) == data_ptr(a)
    f8 = np.array([0.5, 1.0, -2.0], dtype=ml_dtypes.float8_e4m3fn)
    assert cn.tensor(f8).float().tolist() == [0.5, 1.0, -2.0]
    assert cn.tensor([1.0], dtype=ml_dtypes.bfloat16).dtype == "bfloat16"
    with pytest.raises(cn.DTypeError, match="float8_e5m2"):
        cn.tensor(np.zeros(2, dtype=ml_dtypes.float8_e5m2))


def test_python_lists_and_scalars_infer_like_torch():
    assert cn.tensor([1.5, 2]).dtype == "float32"
    assert cn.tensor([1, 2]).dtype == "int64"
    assert cn.tensor([True, False]).dtype == "uint8"
    assert cn.tensor(3.0).shape == ()
    assert cn.tensor([[1, 2], [3, 4]], dtype="float64").tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert cn.tensor([]).shape == (0,)
    assert cn.tensor(((1, 2), (3, 4))).shape == (2, 2)
    assert cn.tensor([np.float32(1.5), np.int64(2)]).tolist() == [1.5, 2.0]


@pytest.mark.parametrize(
    "data, error, where",
    [
        ([[1, 2], [3]], ValueError, "expected sequence of length 2 at dim 1 (got 1) at element [1]"),
        ([[1, 2], 3], TypeError, "not a sequence: element [1] is a int"),
        ([1, [2]], ValueError, "element [1] is a sequence of length 1 where a number belongs"),
        ([[1, 2, 3], np.zeros(2)], ValueError, "expected sequence of length 3 at dim 1 (got 2) at element [1]"),
        ([np.zeros((3, 3)), np.zeros((3, 0))], ValueError, "expected sequence of length 3 at dim 2 (got 0)"),
    ],
)
def test_ragged_lists_name_the_first_bad_index(data, error, where):
    # torch's wording ("expected sequence of length N at dim D (got M)", "not a sequence"),
    # plus where
    with pytest.raises(error) as e:
        cn.tensor(data)
    assert where in str(e.value)


def test_non_numbers_in_lists():
    with pytest.raises(TypeError, match=r"element \[1\] is a str"):
        cn.tensor([1, "x"])


def test_numpy_scalars():
    t = cn.tensor(np.float64(2.5))
    assert t.shape == () and t.dtype == "float64" and t.tolist() == 2.5


def test_array_interface_and_buffer_protocol_objects():
    class Interface:
        def __init__(self, a):
            self.a = a
            self.__array_interface__ = a.__array_interface__

    a = np.arange(5, dtype=np.int64)
    t = cn.from_numpy(np.asarray(Interface(a)))
    assert cn.shares_memory(a, t)
    t = cn.as_tensor(Interface(a))
    assert t.tolist() == [0, 1, 2, 3, 4]
    b = bytearray(b"\x01\x02\x03")
    t = cn.as_tensor(b)
    assert t.dtype == "uint8" and t.tolist() == [1, 2, 3]


def test_objects_with_dunder_array():
    class Frame:
        def __array__(self, dtype=None, copy=None):
            return np.array([[1.0, 2.0], [3.0, 4.0]])

    assert cn.tensor(Frame()).tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_tensors_as_input():
    t = cn.tensor([1.0, 2.0])
    assert cn.as_tensor(t).numpy().__array_interface__["data"][0] == data_ptr(t.numpy())
    c = cn.tensor(t)
    assert data_ptr(c.numpy()) != data_ptr(t.numpy())
    assert cn.tensor(t, dtype="float64").dtype == "float64"


class _DLPackOnly:
    """A producer that offers nothing but DLPack (as jax/cupy/torch do, among other things)."""

    def __init__(self, a):
        self._a = a

    def __dlpack__(self, **kwargs):
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


def test_dlpack_producers_share_or_copy_by_mode():
    a = np.arange(6, dtype=np.float32)
    shared = cn.from_numpy(_DLPackOnly(a))
    assert cn.shares_memory(a, shared)
    auto = cn.as_tensor(_DLPackOnly(a))
    assert cn.shares_memory(a, auto)
    copied = cn.tensor(_DLPackOnly(a), dtype="float64")
    assert not cn.shares_memory(a, copied) and copied.tolist() == a.tolist()
    with pytest.raises(cn.ShareDTypeError):
        cn.to_tensor(_DLPackOnly(a), mode="share", dtype="float16")


def test_bfloat16_export_without_ml_dtypes_is_a_clear_error(monkeypatch):
    t = cn.tensor([1.0, 2.0], dtype="bfloat16")
    import sys

    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # import ml_dtypes now fails
    with pytest.raises(cn.DTypeError, match="ml_dtypes") as e:
        t.numpy()
    assert "float32" in str(e.value)
    assert t.float().numpy().tolist() == [1.0, 2.0]
