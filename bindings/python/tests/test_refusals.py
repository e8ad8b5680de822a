"""Every refusal class raises the right exception class, naming the property and the fix."""

import numpy as np
import pytest

import candle_numpy as cn


def check(exc_info, *needles):
    msg = str(exc_info.value)
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"
    assert "cn.tensor(a)" in msg or "np." in msg or "clone()" in msg, f"no fix named in {msg!r}"


def test_negative_strides():
    a = np.arange(10.0)[::-1]
    with pytest.raises(cn.ShareError) as e:
        cn.from_numpy(a)
    assert isinstance(e.value, ValueError) and isinstance(e.value, cn.CandleNumpyError)
    check(e, "negative stride -8 on axis 0", "np.ascontiguousarray")
    assert cn.as_tensor(a).tolist() == a.tolist()


def test_misaligned_data():
    raw = np.zeros(40, dtype=np.uint8)
    a = raw[1:33].view(np.float32)  # 4-byte floats starting at an odd address
    with pytest.raises(cn.ShareError) as e:
        cn.from_numpy(a)
    check(e, "misaligned", "float32")
    assert cn.tensor(a).shape == (8,)


def test_non_native_byte_order():
    a = np.arange(4, dtype=">i4")
    with pytest.raises(cn.ShareError) as e:
        cn.from_numpy(a)
    check(e, "byte order", "big-endian int32", "newbyteorder")
    t = cn.tensor(a)
    assert t.dtype == "int32" and t.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "a, word",
    [
        (np.zeros(3, dtype=np.complex64), "complex"),
        (np.array(["a", "b"]), "strings"),
        (np.array([object(), 1], dtype=object), "object"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime"),
        (np.zeros(2, dtype=[("x", "f4"), ("y", "i4")]), "structured"),
    ],
)
def test_unsupported_dtypes(a, word):
    for convert in (cn.from_numpy, cn.tensor, cn.as_tensor):
        with pytest.raises(cn.DTypeError) as e:
            convert(a)
        assert isinstance(e.value, TypeError)
        assert word in str(e.value) and "supported:" in str(e.value)


@pytest.mark.parametrize(
    "dtype, widened",
    [(np.int8, "int16"), (np.uint16, "uint32"), (np.bool_, "uint8"), (np.uint64, "int64")],
)
def test_widening_dtypes_are_refused_for_share_and_widened_on_copy(dtype, widened):
    a = np.array([0, 1, 1], dtype=dtype)
    with pytest.raises(cn.ShareDTypeError) as e:
        cn.from_numpy(a)
    assert isinstance(e.value, TypeError) and isinstance(e.value, cn.ShareError)
    check(e, np.dtype(dtype).name, "cannot be shared")
    t = cn.tensor(a)
    assert t.dtype == widened and t.tolist() == [0, 1, 1]


def test_uint64_values_past_int64_are_refused_on_copy():
    a = np.array([1, 2**64 - 1], dtype=np.uint64)
    with pytest.raises(cn.ShapeError, match="18446744073709551615 at flat index 1"):
        cn.tensor(a)
    assert cn.tensor(a, dtype="float64").tolist() == [1.0, 2.0**64]


def test_empty_arrays():
    # no memory to share, so nothing is refused: an empty tensor in every mode (as
    # torch.from_numpy), after the dtype check
    a = np.zeros((0, 3), dtype=np.float32)
    t = cn.from_numpy(a)
    assert t.shape == (0, 3) and t.dtype == "float32"
    with pytest.raises(cn.ShareDTypeError):
        cn.from_numpy(np.zeros(0, dtype=np.int8))
    assert cn.tensor(a).shape == (0, 3)
    assert cn.as_tensor(a).shape == (0, 3)


def test_non_cpu_targets():
    a = np.ones(3, dtype=np.float32)
    with pytest.raises(cn.DeviceError) as e:
        cn.to_tensor(a, mode="share", device="cuda")
    assert isinstance(e.value, RuntimeError)
    assert "cuda" in str(e.value)
    if not cn.cuda.is_available():
        with pytest.raises(cn.DeviceError, match="--features cuda"):
            cn.tensor(a, device="cuda:0")


def test_dtype_change_is_refused_for_share():
    a = np.ones(3, dtype=np.float32)
    with pytest.raises(cn.ShareDTypeError) as e:
        cn.to_tensor(a, mode="share", dtype="float16")
    check(e, "float32 to f16")
    assert cn.to_tensor(a, mode="auto", dtype="float16").dtype == "float16"


def test_layouts_candle_cannot_view():
    a = np.arange(7.0)[::2]
    with pytest.raises(cn.ShareError) as e:
        cn.from_numpy(a)
    check(e, "past the end")
    windows = np.lib.stride_tricks.sliding_window_view(np.arange(10.0), 3)
    with pytest.raises(cn.ShareError, match="overlap"):
        cn.from_numpy(windows)
    assert cn.as_tensor(windows).numpy().tolist() == windows.tolist()


def test_read_only_in_place_write():
    a = np.arange(3.0)
    a.flags.writeable = False
    t = cn.from_numpy(a)
    for op in (lambda: t.add_(1), lambda: t.mul_(2), lambda: t.fill_(0), lambda: t.copy_(np.zeros(3))):
        with pytest.raises(cn.ShareError, match="read-only"):
            op()
    with pytest.raises(cn.ShareError):
        t += 1


def test_from_numpy_rejects_non_arrays_with_a_type_error():
    for x in ([1, 2], 3.0, np.float32(1)):
        with pytest.raises(TypeError, match="cn.tensor"):
            cn.from_numpy(x)
    with pytest.raises(TypeError, match="cannot make a tensor from"):
        cn.tensor({"a": 1})


def test_bad_mode_and_device_strings():
    with pytest.raises(ValueError, match="mode must be"):
        cn.to_tensor(np.ones(2), mode="view")
    with pytest.raises(ValueError, match="unknown device"):
        cn.tensor(np.ones(2), device="tpu")
