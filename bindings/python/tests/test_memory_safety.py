"""Memory safety of shared memory (issue 19): the exporter's buffer stays pinned while a tensor
shares it, read-only memory stays read-only through every derived tensor, saves never rewrite
a mapped file in place, and allocation failure is a MemoryError, not an abort.

Scenarios that crashed the interpreter before the fix run in a child process, so a regression
shows up as a failed assertion on the child's exit status rather than killing the test run.
"""

import gc
import mmap
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import candle_numpy as cn

# NumPy 1.x asks for legacy DLPack capsules, which cannot say "read-only": a read-only tensor
# refuses the export there (a DLPackError) instead of handing out a read-only array.
NUMPY2 = int(np.__version__.split(".")[0]) >= 2


def read_only_dlpack_view(t):
    """np.from_dlpack(t) of a read-only tensor: a read-only array (NumPy 2), or None after
    checking that the export is refused (NumPy 1)."""
    if NUMPY2:
        return np.from_dlpack(t)
    with pytest.raises(cn.DLPackError):
        np.from_dlpack(t)
    return None

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def run_child(code: str, *, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter; returns the completed process (never raises)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_child_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"child exited with {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "OK" in proc.stdout, proc.stdout + proc.stderr


# --- 1. the exporter's buffer export is held, not only the object ----------------------------


def test_bytearray_cannot_resize_while_shared():
    ba = bytearray(np.arange(16, dtype=np.float32).tobytes())
    t = cn.from_numpy(np.frombuffer(ba, dtype=np.float32))
    gc.collect()  # the ndarray (and its own memoryview) are gone: only the tensor pins ba
    with pytest.raises(BufferError):
        ba.extend(b"\0" * (1 << 24))
    assert t.numpy()[:4].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert float(t.sum().numpy()) == float(sum(range(16)))
    del t
    gc.collect()
    ba.extend(b"\0" * 16)  # released with the last tensor
    assert len(ba) == 16 * 4 + 16


def test_views_of_one_bytearray_share_one_pin():
    ba = bytearray(64)
    whole = np.frombuffer(ba, dtype=np.float32)
    t1 = cn.from_numpy(whole[2:])
    t2 = cn.from_numpy(np.frombuffer(ba, dtype=np.float32)[:3])
    del whole
    gc.collect()
    del t1
    gc.collect()
    with pytest.raises(BufferError):
        ba.extend(b"\0")
    del t2
    gc.collect()
    ba.extend(b"\0")


@pytest.mark.parametrize(
    "share",
    [
        pytest.param(cn.from_numpy, id="from_numpy"),
        pytest.param(cn.as_tensor, id="as_tensor"),
        pytest.param(cn.from_dlpack, id="from_dlpack"),
        pytest.param(lambda a: cn.tf.data.Dataset.from_tensor_slices(a[None]), id="tf_data"),
    ],
)
def test_every_import_path_pins_the_bytearray(share):
    ba = bytearray(np.arange(8, dtype=np.float32).tobytes())
    held = share(np.frombuffer(ba, dtype=np.float32))
    gc.collect()
    with pytest.raises(BufferError):
        ba.extend(b"\0" * 1024)
    del held
    gc.collect()
    ba.extend(b"\0")


def test_memoryview_root_is_pinned_through_the_view():
    ba = bytearray(32)
    mv = memoryview(ba)
    t = cn.from_numpy(np.frombuffer(mv, dtype=np.int32))
    mv.release()  # the caller's own view goes; the tensor's export stays
    with pytest.raises(BufferError):
        ba.extend(b"\0")
    t.add_(3)
    assert np.frombuffer(ba, dtype=np.int32).tolist() == [3] * 8
    del t
    gc.collect()
    ba.extend(b"\0")


def test_bytes_root_is_read_only():
    b = np.arange(6, dtype=np.float64).tobytes()
    t = cn.from_numpy(np.frombuffer(b, dtype=np.float64))
    assert t.is_readonly
    with pytest.raises(cn.ShareError):
        t += 1
    assert np.frombuffer(b, dtype=np.float64).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_mmap_close_refused_while_shared_in_process():
    m = mmap.mmap(-1, 1 << 16)
    t = cn.from_numpy(np.frombuffer(m, dtype=np.float32))
    gc.collect()
    with pytest.raises(BufferError):
        m.close()
    t.fill_(2.0)
    assert float(t.sum().numpy()) == 2.0 * (1 << 14)
    del t
    gc.collect()
    m.close()


def test_mmap_close_then_use_does_not_crash():
    proc = run_child(
        """
        import gc, mmap
        import numpy as np
        import candle_numpy as cn
        m = mmap.mmap(-1, 1 << 20)
        t = cn.from_numpy(np.frombuffer(m, dtype=np.float32))
        gc.collect()
        try:
            m.close()
        except BufferError:
            pass
        else:
            raise SystemExit("close() succeeded while a tensor shares the map")
        assert float(t.sum().numpy()) == 0.0
        print("OK")
        """
    )
    assert_child_ok(proc)


def test_bytearray_extend_then_read_is_refused_in_child():
    proc = run_child(
        """
        import gc
        import numpy as np
        import candle_numpy as cn
        ba = bytearray(np.full(1024, 5, dtype=np.float32).tobytes())
        t = cn.from_numpy(np.frombuffer(ba, dtype=np.float32))
        gc.collect()
        try:
            ba.extend(b"\\0" * (1 << 24))
        except BufferError:
            pass
        else:
            raise SystemExit("extend() succeeded while a tensor shares the bytearray")
        assert t.numpy()[:4].tolist() == [5.0] * 4
        print("OK")
        """
    )
    assert_child_ok(proc)


# --- 2. read-only is a property of the storage ------------------------------------------------


def write_npy(tmp_path, name="x.npy", n=32):
    p = tmp_path / name
    np.save(p, np.arange(n, dtype=np.float32).reshape(-1, 4))
    return p


def test_dataset_rows_over_a_mapped_npy_are_read_only(tmp_path):
    p = write_npy(tmp_path)
    proc = run_child(
        f"""
        import candle_numpy as cn
        t = cn.load_npy({str(p)!r}, mmap=True)
        ds = cn.torch.utils.data.TensorDataset(t)
        (row,) = ds[1]
        assert row.is_readonly, "a row of a read-only map must be read-only"
        try:
            row += 1
        except cn.ShareError:
            pass
        else:
            raise SystemExit("row += 1 was accepted")
        assert row.numpy().tolist() == [4.0, 5.0, 6.0, 7.0]
        print("OK")
        """
    )
    assert_child_ok(proc)


def test_tf_data_elements_of_a_read_only_array_refuse_writes():
    a = np.arange(5, dtype=np.float32)
    a.flags.writeable = False
    ds = cn.tf.data.Dataset.from_tensor_slices(a[None, :])
    (x,) = list(ds)
    assert x.is_readonly
    with pytest.raises(cn.ShareError):
        x += 1
    with pytest.raises(ValueError):
        x.numpy()[:] = 7
    assert a.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_rows_of_a_read_only_array_via_torch_dataset():
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    a.flags.writeable = False
    (row,) = cn.torch.utils.data.TensorDataset(a)[2]
    assert row.is_readonly
    for attempt in (lambda: row.add_(1), lambda: row.zero_(), lambda: row.fill_(1), lambda: row.copy_(row * 2)):
        with pytest.raises(cn.ShareError):
            attempt()
    assert a[2].tolist() == [8.0, 9.0, 10.0, 11.0]


def test_dlpack_export_of_a_read_only_row_is_read_only():
    a = np.arange(8, dtype=np.float32).reshape(2, 4)
    a.flags.writeable = False
    (row,) = cn.torch.utils.data.TensorDataset(a)[0]
    out = read_only_dlpack_view(row)
    if out is not None:
        assert not out.flags.writeable
        with pytest.raises(ValueError):
            out[0] = 9
    with pytest.raises(cn.DLPackError):
        row.__dlpack__()  # a legacy capsule cannot say read-only
    assert a[0].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_a_fresh_copy_of_read_only_memory_is_writable():
    a = np.arange(4, dtype=np.float32)
    a.flags.writeable = False
    t = cn.from_numpy(a)
    c = t.clone()
    assert not c.is_readonly
    c += 1
    assert a.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert c.numpy().tolist() == [1.0, 2.0, 3.0, 4.0]


def test_a_read_only_view_of_writable_memory_does_not_freeze_other_tensors():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = cn.from_numpy(a)
    t.copy_(np.broadcast_to(a[:1], a.shape))  # a read-only view of a's own memory as the source
    assert a.tolist() == [[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]]
    assert not t.is_readonly
    b = cn.from_numpy(np.broadcast_to(a[1], a.shape))
    assert b.is_readonly and not t.is_readonly
    with pytest.raises(cn.ShareError):
        b += 1
    t += 1
    assert a.tolist() == [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]


def test_a_read_only_view_of_writable_memory_is_read_only_storage_while_shared():
    a = np.arange(6, dtype=np.float32)
    t = cn.from_numpy(a)
    v = a.view()
    v.flags.writeable = False
    tv = cn.from_numpy(v)
    (row,) = cn.torch.utils.data.TensorDataset(tv.reshape(2, 3))[0]
    assert tv.is_readonly and row.is_readonly
    with pytest.raises(cn.ShareError):
        row += 1
    # the memory is recorded read-only while it is shared: the other tensor over it too,
    # until the last tensor over that memory is dropped (the storage cannot tell them apart)
    assert t.is_readonly
    del tv, row, t
    gc.collect()
    t = cn.from_numpy(a)
    assert not t.is_readonly
    t += 1
    assert a.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_a_read_only_root_makes_every_share_read_only():
    a = np.arange(4, dtype=np.int64)
    a.flags.writeable = False
    t = cn.from_numpy(a)
    (row,) = cn.torch.utils.data.TensorDataset(a.reshape(2, 2))[1]
    assert t.is_readonly and row.is_readonly
    with pytest.raises(cn.ShareError):
        row.fill_(0)
    assert a.tolist() == [0, 1, 2, 3]


# --- 3. saves write a new file and rename it ----------------------------------------------------


def test_save_npy_does_not_rewrite_a_live_map(tmp_path):
    p = tmp_path / "big.npy"
    np.save(p, np.arange(1 << 16, dtype=np.float32))
    t = cn.load_npy(p, mmap=True)
    before = float(t.sum().numpy())
    cn.save_npy(p, np.zeros(1 << 16, dtype=np.float32))
    assert float(t.sum().numpy()) == before
    assert np.load(p).sum() == 0
    assert sorted(os.listdir(tmp_path)) == ["big.npy"], "no temporary file is left behind"


def test_save_npy_of_a_smaller_file_does_not_kill_the_reader(tmp_path):
    p = tmp_path / "big.npy"
    np.save(p, np.ones(1 << 20, dtype=np.float32))
    proc = run_child(
        f"""
        import numpy as np
        import candle_numpy as cn
        t = cn.load_npy({str(p)!r}, mmap=True)
        cn.save_npy({str(p)!r}, np.zeros(4, dtype=np.float32))
        assert float(t.sum().numpy()) == float(1 << 20)
        assert np.load({str(p)!r}).tolist() == [0.0] * 4
        print("OK")
        """
    )
    assert_child_ok(proc)


def test_save_npz_replaces_the_file(tmp_path):
    p = tmp_path / "a.npz"
    cn.save_npz(p, x=np.arange(3, dtype=np.int64))
    inode = os.stat(p).st_ino
    with open(p, "rb") as f:
        held = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    old = bytes(held[:])
    cn.save_npz(p, x=np.zeros(1000, dtype=np.int64))
    assert os.stat(p).st_ino != inode, "a new file was renamed over the old one"
    assert bytes(held[:]) == old, "the old file's contents did not change under its map"
    held.close()
    assert np.load(p)["x"].tolist() == [0] * 1000
    assert sorted(os.listdir(tmp_path)) == ["a.npz"]


def test_failed_save_leaves_the_old_file_and_no_temporary(tmp_path):
    p = tmp_path / "x.npy"
    np.save(p, np.arange(3, dtype=np.int32))
    with pytest.raises(Exception):
        cn.save_npy(p, np.array(["not", "numbers"]))
    assert np.load(p).tolist() == [0, 1, 2]
    assert sorted(os.listdir(tmp_path)) == ["x.npy"]


# --- 4. allocation failure is MemoryError ---------------------------------------------------


def test_allocation_failure_is_memory_error_under_rlimit_as():
    proc = run_child(
        """
        import resource
        import numpy as np
        import candle_numpy as cn
        limit = 2 << 30
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        src = np.broadcast_to(np.float32(0), (800_000_000,))
        try:
            cn.tensor(src)
        except MemoryError as e:
            assert "3200000000 bytes" in str(e), str(e)
        else:
            raise SystemExit("a 3.2 GB copy succeeded under a 2 GiB address-space limit")
        # constructors that fill a huge shape, too (issue 20's sweep left these out)
        for make in (lambda: cn.tf.constant(1.0, shape=(2**40,)), lambda: cn.tf.constant(np.float32(2), shape=(2**20, 2**20))):
            try:
                make()
            except MemoryError as e:
                assert "bytes" in str(e), str(e)
            else:
                raise SystemExit("a 4 TiB constant succeeded under a 2 GiB address-space limit")
        # the interpreter is still usable
        assert cn.tensor(np.arange(4, dtype=np.float32)).numpy().tolist() == [0.0, 1.0, 2.0, 3.0]
        print("OK")
        """
    )
    assert_child_ok(proc)
    assert "memory allocation" not in proc.stderr


# --- 5. property: random view chains over read-only sources refuse every write --------------

SHAPE = (4, 3, 2)


def base_array():
    return np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("ro")
    npy = d / "x.npy"
    np.save(npy, base_array())
    st_path = d / "x.safetensors"
    cn.save_safetensors(st_path, {"x": base_array()})
    raw = d / "x.raw"
    base_array().tofile(raw)

    def ndarray():
        a = base_array()
        a.flags.writeable = False
        return a, cn.from_numpy(a)

    def memmap():
        m = np.memmap(raw, dtype=np.float32, mode="r", shape=SHAPE)
        return m, cn.from_numpy(m)

    def npy_map():
        t = cn.load_npy(npy, mmap=True)
        return t, t

    def safetensors_map():
        t = cn.load_safetensors(st_path, mmap=True)["x"]
        return t, t

    return {"ndarray": ndarray, "memmap": memmap, "load_npy": npy_map, "load_safetensors": safetensors_map}


def snapshot(keep):
    """The source's bytes, read through NumPy (a copy)."""
    if isinstance(keep, np.ndarray):
        return np.array(keep, copy=True)
    return np.array(keep.numpy(), copy=True)


# each step maps a tensor to a view of the same storage (never a copy)
VIEW_STEPS = {
    "index": lambda t, k: t[k % t.shape[0]] if t.ndim and t.shape[0] else t,
    "slice": lambda t, k: t[k % 2 :] if t.ndim and t.shape[0] > 2 else t,
    "col_slice": lambda t, k: t[:, : 1 + k % t.shape[1]] if t.ndim >= 2 else t,
    "newaxis": lambda t, k: t[None],
    "ellipsis": lambda t, k: t[...],
    "transpose": lambda t, k: t.transpose(0, -1) if t.ndim >= 2 else t,
    "T": lambda t, k: t.T,
    "permute": lambda t, k: t.permute(*reversed(range(t.ndim))),
    "unsqueeze": lambda t, k: t.unsqueeze(0),
    "squeeze": lambda t, k: t.squeeze(),
    "detach": lambda t, k: t.detach(),
    "same_dtype": lambda t, k: t.float(),
    "contiguous": lambda t, k: t.contiguous() if t.is_contiguous() else t,
}


def assert_every_write_refused(t, label):
    assert t.is_readonly, label
    attempts = {
        "+=": lambda: t.__iadd__(1),
        "-=": lambda: t.__isub__(1),
        "*=": lambda: t.__imul__(2),
        "/=": lambda: t.__itruediv__(2),
        "add_": lambda: t.add_(1),
        "mul_": lambda: t.mul_(2),
        "copy_": lambda: t.copy_(t + 1),
        "zero_": lambda: t.zero_(),
        "fill_": lambda: t.fill_(7),
    }
    for name, attempt in attempts.items():
        with pytest.raises(cn.ShareError):
            attempt()
            pytest.fail(f"{label}: {name} was accepted")
    arr = t.numpy()
    assert not arr.flags.writeable, label
    with pytest.raises(ValueError):
        arr[...] = 7
    with pytest.raises(ValueError):
        np.asarray(t)[...] = 7
    out = read_only_dlpack_view(t)
    if out is not None:
        assert not out.flags.writeable, label
        with pytest.raises(ValueError):
            out[...] = 7


def make_property(kind):
    @settings(
        max_examples=500,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(chain=st.lists(st.tuples(st.sampled_from(sorted(VIEW_STEPS)), st.integers(0, 5)), max_size=6))
    def prop(sources, chain):
        keep, t = sources[kind]()
        before = snapshot(keep)
        label = f"{kind}: {[name for name, _ in chain]}"
        for name, k in chain:
            t = VIEW_STEPS[name](t, k)
        if t.numel() > 0:
            assert_every_write_refused(t, label)
        del t
        np.testing.assert_array_equal(snapshot(keep), before, err_msg=label)

    prop.__name__ = f"test_view_chains_refuse_writes_{kind}"
    return prop


test_view_chains_refuse_writes_ndarray = make_property("ndarray")
test_view_chains_refuse_writes_memmap = make_property("memmap")
test_view_chains_refuse_writes_load_npy = make_property("load_npy")
test_view_chains_refuse_writes_load_safetensors = make_property("load_safetensors")
