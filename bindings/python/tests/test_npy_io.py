"""`.npy` / `.npz` files from Python: load (read or memory-map), save, and NumPy memmaps in."""

import numpy as np
import pytest

import candle_numpy as cn
from conftest import data_ptr


@pytest.fixture
def f32_file(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    p = tmp_path / "a.npy"
    np.save(p, a)
    return p, a


def test_load_npy_reads_and_casts(f32_file):
    p, a = f32_file
    t = cn.load_npy(p)
    assert t.dtype == "float32" and t.shape == (3, 4) and not t.is_readonly
    np.testing.assert_array_equal(t.numpy(), a)
    t64 = cn.load_npy(str(p), dtype="float64")
    assert t64.dtype == "float64"
    np.testing.assert_array_equal(t64.numpy(), a)


def test_load_npy_mmap_shares_the_file_read_only(f32_file):
    p, a = f32_file
    t = cn.load_npy(p, mmap=True)
    assert t.is_readonly
    np.testing.assert_array_equal(t.numpy(), a)
    with pytest.raises(cn.ShareError, match="read-only"):
        t.add_(1)
    # the tensor reads the mapped file: a write through another map is visible
    m = np.load(p, mmap_mode="r+")
    m[0, 0] = 42.0
    m.flush()
    assert t.numpy()[0, 0] == 42.0
    del m
    # with a dtype the mapped data is copied and cast
    c = cn.load_npy(p, mmap=True, dtype="float64")
    assert c.dtype == "float64" and not c.is_readonly and c.numpy()[0, 0] == 42.0


def test_load_npy_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        cn.load_npy(tmp_path / "missing.npy")
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not a numpy file at all")
    with pytest.raises(cn.FileFormatError, match="bad magic"):
        cn.load_npy(bad, mmap=True)


def test_np_load_mmap_r_shares_read_only(f32_file):
    p, a = f32_file
    m = np.load(p, mmap_mode="r")
    t = cn.from_numpy(m)
    assert t.is_readonly and cn.shares_memory(m, t)
    assert data_ptr(t.numpy()) == data_ptr(m)
    with pytest.raises(cn.ShareError, match="read-only"):
        t.mul_(2)
    c = cn.tensor(m)
    assert not cn.shares_memory(m, c) and not c.is_readonly
    np.testing.assert_array_equal(c.numpy(), a)


@pytest.mark.parametrize("how", ["np.load", "np.memmap"])
def test_writable_memmap_share_writes_reach_the_file(tmp_path, how):
    p = tmp_path / "w.npy"
    np.save(p, np.zeros((2, 3), dtype=np.float32))
    if how == "np.load":
        m = np.load(p, mmap_mode="r+")
    else:
        offset = np.load(p, mmap_mode="r").offset
        m = np.memmap(p, dtype=np.float32, mode="r+", offset=offset, shape=(2, 3))
    t = cn.from_numpy(m)
    assert not t.is_readonly and data_ptr(t.numpy()) == data_ptr(m)
    t.add_(5.0)
    m.flush()
    del t, m
    np.testing.assert_array_equal(np.load(p), np.full((2, 3), 5.0, np.float32))


def test_save_npy_keeps_array_dtypes_and_writes_tensors(tmp_path):
    for dtype in ["int8", "bool", ">f8", "uint16"]:
        a = np.arange(6).astype(dtype).reshape(2, 3)
        p = tmp_path / f"{dtype.strip('>')}.npy"
        cn.save_npy(p, a)
        back = np.load(p)
        assert back.dtype == a.dtype.newbyteorder("=") and back.dtype.itemsize == a.dtype.itemsize
        np.testing.assert_array_equal(back, a)
    # a non-contiguous view is written in C order
    a = np.arange(12, dtype=np.int32).reshape(3, 4)[:, ::-2]
    cn.save_npy(tmp_path / "v.npy", a)
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), a)
    t = cn.tensor([[1.5, 2.5]])
    cn.save_npy(tmp_path / "t.npy", t)
    back = np.load(tmp_path / "t.npy")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, [[1.5, 2.5]])


def test_npz_round_trip_with_numpy(tmp_path):
    p = tmp_path / "z.npz"
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    cn.save_npz(p, x=x, y=cn.tensor([1, 2, 3]), flags=np.array([True, False]))
    with np.load(p) as z:
        assert sorted(z.files) == ["flags", "x", "y"]
        np.testing.assert_array_equal(z["x"], x)
        assert z["y"].dtype == np.int64 and z["flags"].dtype == np.bool_
    np.savez(tmp_path / "n.npz", a=np.arange(4, dtype=np.int16), b=np.ones((2, 2)))
    d = cn.load_npz(tmp_path / "n.npz")
    assert list(d) == ["a", "b"]
    assert d["a"].dtype == "int16" and d["b"].dtype == "float64"
    np.testing.assert_array_equal(d["a"].numpy(), np.arange(4))
