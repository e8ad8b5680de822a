"""cn.save_safetensors / cn.load_safetensors: every NumPy dtype round-trips with the
`safetensors` package in both directions, memory-mapped tensors are read-only views of the
file's pages, metadata round-trips, and bad input raises the right exception classes."""

import gc
import os
import struct

import numpy as np
import pytest

import candle_numpy as cn

st_np = pytest.importorskip("safetensors.numpy")

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64"]
# what candle holds: the dtype table's widening rows
LOADED_AS = {"bool": "uint8", "int8": "int16", "uint16": "uint32", "uint64": "int64"}


def sample(dtype: str, shape=(3, 4)) -> np.ndarray:
    n = int(np.prod(shape))
    if dtype == "bool":
        return (np.arange(n) % 3 == 0).reshape(shape)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else np.finfo(dtype)
    a = np.arange(n).astype(dtype).reshape(shape)
    flat = a.reshape(-1)
    flat[-1] = info.max if dtype != "uint64" else np.iinfo(np.int64).max
    flat[0] = info.min
    return a


def file_mapping_ranges(path) -> list:
    """Address ranges of this process's mappings of `path` (Linux)."""
    real = os.path.realpath(path)
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[5] == real:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                out.append((lo, hi))
    return out


def address(t: "cn.Tensor") -> int:
    return t.numpy().__array_interface__["data"][0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_ours_are_read_by_safetensors(tmp_path, dtype):
    a = sample(dtype)
    path = tmp_path / "ours.safetensors"
    # a C array, a transposed view, a strided slice and a byte-swapped copy, all written in
    # their logical C order, little-endian
    arrays = {"c": a, "t": a.T, "s": a[::2, 1::2]}
    if a.dtype.itemsize > 1:
        arrays["be"] = a.astype(a.dtype.newbyteorder(">"))
    cn.save_safetensors(path, arrays)
    back = st_np.load_file(str(path))
    assert set(back) == set(arrays)
    for name, want in arrays.items():
        got = back[name]
        assert got.dtype == np.dtype(dtype), name
        assert got.shape == want.shape, name
        np.testing.assert_array_equal(got, want, err_msg=name)


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_theirs_are_read_here(tmp_path, dtype, mmap):
    a = sample(dtype)
    path = tmp_path / "theirs.safetensors"
    st_np.save_file({"x": a, "y": a[:1]}, str(path))
    loaded = cn.load_safetensors(path, mmap=mmap)
    assert list(loaded) == ["x", "y"]  # file order
    t = loaded["x"]
    want = LOADED_AS.get(dtype, dtype)
    assert t.dtype == want
    assert t.shape == a.shape
    np.testing.assert_array_equal(t.numpy(), a.astype(want))
    exact = dtype not in LOADED_AS
    # with mmap, the exact dtypes are read-only views of the map; the rest are copies
    assert t.is_readonly == (mmap and exact)


def test_mmap_tensors_are_views_of_the_mapped_file(tmp_path):
    path = tmp_path / "w.safetensors"
    w = np.arange(4096, dtype=np.float32).reshape(64, 64)
    b = np.arange(64, dtype=np.float64)
    cn.save_safetensors(path, {"w": w, "b": b})
    loaded = cn.load_safetensors(path)
    tw, tb = loaded["w"], loaded["b"]
    ranges = file_mapping_ranges(path)
    assert ranges, "the file is mapped"
    for t in (tw, tb):
        assert t.is_readonly
        view = t.numpy()
        assert not view.flags.writeable
        assert cn.shares_memory(view, t)
        assert any(lo <= address(t) < hi for lo, hi in ranges), "data lies inside the map"
    # it is the file's pages: rewrite bytes of the file in place and the tensor sees them
    # (a shared read-only mapping is coherent with the page cache)
    base = min(lo for lo, _ in ranges)  # the map covers the file from offset 0
    with open(path, "r+b") as f:
        f.seek(address(tw) - base)
        f.write(np.float32(-7.0).tobytes())
    assert tw.numpy()[0, 0] == -7.0
    # writes through the tensor are refused
    with pytest.raises(ValueError, match="read-only"):
        tw.add_(1.0)
    # a clone is an ordinary, writable tensor
    c = tw.clone()
    c.add_(1.0)
    assert c.numpy()[0, 0] == -6.0 and tw.numpy()[0, 0] == -7.0
    del view, loaded, tw, tb, c, t
    gc.collect()
    assert not file_mapping_ranges(path), "the map is released with its last tensor"


def test_copies_without_mmap_are_writable_and_independent(tmp_path):
    path = tmp_path / "w.safetensors"
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    cn.save_safetensors(path, {"w": w})
    t = cn.load_safetensors(path, mmap=False)["w"]
    assert not t.is_readonly
    assert not file_mapping_ranges(path)
    t.add_(1.0)
    np.testing.assert_array_equal(t.numpy(), w + 1)
    np.testing.assert_array_equal(st_np.load_file(str(path))["w"], w)


def test_saving_over_a_mapped_file_leaves_its_tensors_intact(tmp_path):
    path = tmp_path / "w.safetensors"
    w = np.arange(1000, dtype=np.float64)
    cn.save_safetensors(path, {"w": w})
    old = cn.load_safetensors(path)["w"]
    cn.save_safetensors(path, {"w": w * 2, "extra": np.ones(3, np.int32)})
    np.testing.assert_array_equal(old.numpy(), w)
    new = cn.load_safetensors(path)
    np.testing.assert_array_equal(new["w"].numpy(), w * 2)
    assert new["extra"].dtype == "int32"


def test_tensors_and_path_likes(tmp_path):
    t = cn.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)).transpose(0, 1)
    cn.save_safetensors(str(tmp_path / "a.safetensors"), {"t": t, "lst": [1.5, 2.5]})
    back = st_np.load_file(str(tmp_path / "a.safetensors"))
    np.testing.assert_array_equal(back["t"], t.numpy())
    np.testing.assert_array_equal(back["lst"], [1.5, 2.5])
    assert back["lst"].dtype == np.float64


def test_metadata_round_trips_both_ways(tmp_path):
    from safetensors import safe_open

    meta = {"format": "np", "note": "ünïcode and \"quotes\""}
    ours = tmp_path / "ours.safetensors"
    cn.save_safetensors(ours, {"x": np.zeros(2, np.float32)}, metadata=meta)
    with safe_open(str(ours), framework="np") as f:
        assert f.metadata() == meta
    assert cn.safetensors_metadata(ours) == meta
    theirs = tmp_path / "theirs.safetensors"
    st_np.save_file({"x": np.zeros(2, np.float32)}, str(theirs), metadata={"a": "b"})
    assert cn.safetensors_metadata(theirs) == {"a": "b"}
    cn.save_safetensors(ours, {"x": np.zeros(2, np.float32)})
    assert cn.safetensors_metadata(ours) == {}


def test_ml_dtypes_round_trip(tmp_path):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    path = tmp_path / "ml.safetensors"
    bf = np.array([-2.5, 0.0, 1.0, 3e38], dtype=np.float32).astype(ml_dtypes.bfloat16)
    f8 = np.array([-2.5, 0.0, 1.0, 448.0], dtype=np.float32).astype(ml_dtypes.float8_e4m3fn)
    cn.save_safetensors(path, {"bf": bf, "f8": f8})
    for mmap in (True, False):
        loaded = cn.load_safetensors(path, mmap=mmap)
        assert loaded["bf"].dtype == "bfloat16" and loaded["f8"].dtype == "float8_e4m3fn"
        np.testing.assert_array_equal(loaded["bf"].numpy().astype(np.float32), bf.astype(np.float32))
        np.testing.assert_array_equal(loaded["f8"].numpy().astype(np.float32), f8.astype(np.float32))
        assert loaded["bf"].is_readonly == mmap


def test_bfloat16_interop_with_safetensors_when_supported(tmp_path):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    bf = np.array([-2.5, 0.0, 1.0, 3e38], dtype=np.float32).astype(ml_dtypes.bfloat16)
    ours = tmp_path / "ours.safetensors"
    cn.save_safetensors(ours, {"bf": bf})
    try:
        back = st_np.load_file(str(ours))["bf"]
    except Exception as e:  # the package's NumPy backend has no bfloat16
        pytest.skip(f"safetensors.numpy cannot read BF16: {e}")
    np.testing.assert_array_equal(back.view(np.uint16), bf.view(np.uint16))


def write_raw(path, header: bytes, data: bytes = b"", header_len=None):
    n = len(header) if header_len is None else header_len
    path.write_bytes(struct.pack("<Q", n) + header + data)


@pytest.mark.parametrize("mmap", [True, False])
def test_malformed_files_raise_file_format_error(tmp_path, mmap):
    ok = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    cases = {
        "short": (b"\x01\x02", None, "8-byte"),
        "huge_header": (struct.pack("<Q", 2**63), None, "100 MB"),
        "header_past_end": (struct.pack("<Q", 1000) + b"{}", None, "only 2 follow"),
        "bad_json": (struct.pack("<Q", 9) + b"{not json", None, "JSON"),
        "truncated": (struct.pack("<Q", len(ok)) + ok + b"\0" * 4, None, "truncated"),
        "trailing": (struct.pack("<Q", len(ok)) + ok + b"\0" * 12, None, "belong to no tensor"),
        "overlap": (None, b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                          b'"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', "overlaps"),
        "wrong_size": (None, b'{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}', "needs 16"),
        "missing_key": (None, b'{"a":{"dtype":"F32","shape":[2]}}', "data_offsets"),
    }
    for name, (raw, header, needle) in cases.items():
        path = tmp_path / f"{name}.safetensors"
        if raw is not None:
            path.write_bytes(raw)
        else:
            write_raw(path, header, b"\0" * 8)
        with pytest.raises(cn.FileFormatError, match=needle) as info:
            cn.load_safetensors(path, mmap=mmap)
        assert isinstance(info.value, ValueError)
        assert f"{name}.safetensors" in str(info.value)
    # the package agrees these are not safetensors files
    with pytest.raises(Exception):
        st_np.load_file(str(tmp_path / "overlap.safetensors"))


def test_unsupported_dtypes_are_dtype_errors(tmp_path):
    path = tmp_path / "c64.safetensors"
    st_np.save_file({"z": np.ones(2, np.complex64)}, str(path))
    with pytest.raises(cn.DTypeError, match=r'C64 \(tensor "z"\)') as info:
        cn.load_safetensors(path)
    assert isinstance(info.value, TypeError)
    path = tmp_path / "e5m2.safetensors"
    write_raw(path, b'{"w":{"dtype":"F8_E5M2","shape":[2],"data_offsets":[0,2]}}', b"\0\0")
    with pytest.raises(TypeError, match="F8_E5M2"):
        cn.load_safetensors(path, mmap=False)
    with pytest.raises(TypeError, match="complex"):
        cn.save_safetensors(tmp_path / "z.safetensors", {"z": np.ones(2, np.complex128)})


def test_bad_arguments_and_io_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        cn.load_safetensors(tmp_path / "missing.safetensors")
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        cn.load_safetensors(tmp_path / "missing.safetensors", mmap=False)
    with pytest.raises(FileNotFoundError):
        cn.safetensors_metadata(tmp_path / "missing.safetensors")
    with pytest.raises(OSError, match="x.safetensors"):
        cn.save_safetensors(tmp_path / "no" / "dir" / "x.safetensors", {"a": np.zeros(1)})
    with pytest.raises(TypeError, match="dict"):
        cn.save_safetensors(tmp_path / "x.safetensors", [np.zeros(1)])
    with pytest.raises(TypeError, match="names must be str"):
        cn.save_safetensors(tmp_path / "x.safetensors", {1: np.zeros(1)})
    with pytest.raises(ValueError, match="__metadata__"):
        cn.save_safetensors(tmp_path / "x.safetensors", {"__metadata__": np.zeros(1)})
    with pytest.raises(ValueError, match="unknown device"):
        cn.load_safetensors(tmp_path / "x.safetensors", device="tpu")
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        cn.save_safetensors(3, {"a": np.zeros(1)})


def test_save_takes_the_path_first_and_still_accepts_the_old_order(tmp_path):
    new, old = tmp_path / "new.safetensors", tmp_path / "old.safetensors"
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    cn.save_safetensors(new, {"w": w}, {"k": "v"})
    cn.save_safetensors(path=old, tensors={"w": w}, metadata={"k": "v"})
    assert new.read_bytes() == old.read_bytes()
    with pytest.warns(DeprecationWarning, match="old argument order"):
        cn.save_safetensors({"w": w}, old, metadata={"k": "v"})
    assert new.read_bytes() == old.read_bytes()
    assert not (tmp_path / "x.safetensors").exists()
