"""Read-only memory stays unwritten through every Python write path.

The native side shares a read-only array only into a tensor marked read-only (the ``unsafe``
``Options::allow_readonly`` opt-in is justified by this), and memory-mapped files are mapped
copy-on-write. Each case below tries one write path on a tensor over read-only memory and checks
that it is refused and that the memory still holds its values. A path that slipped through would
change the bytes (or, for a ``PROT_READ`` map such as ``np.memmap(mode="r")``, crash the process).
"""

import numpy as np
import pytest

import candle_numpy as cn

VALUES = np.arange(12, dtype=np.float32)

# NumPy 1.x's DLPack has no read-only flag: it refuses to export a read-only array, and the
# arrays np.from_dlpack makes are always read-only
NUMPY1 = np.lib.NumpyVersion(np.__version__) < "2.0.0"


def _bytes_array():
    return np.frombuffer(VALUES.tobytes(), dtype=np.float32)


def _memmap_r(tmp_path):
    path = tmp_path / "ro.bin"
    VALUES.tofile(path)
    return np.memmap(path, dtype=np.float32, mode="r", shape=(12,))


def _flag_false():
    a = VALUES.copy()
    a.flags.writeable = False
    return a


SOURCES = {
    "bytes": lambda tmp_path: _bytes_array(),
    "memmap_r": _memmap_r,
    "writeable_false": lambda tmp_path: _flag_false(),
}


def _shared(source, how):
    if how == "from_numpy":
        return cn.from_numpy(source)
    if how == "as_tensor":
        return cn.as_tensor(source)
    if how == "from_dlpack":
        return cn.from_dlpack(source)
    if how == "torch.from_numpy":
        return cn.torch.from_numpy(source)
    raise AssertionError(how)


WRITES = {
    "iadd": lambda t: t.__iadd__(1),
    "add_": lambda t: t.add_(1),
    "mul_": lambda t: t.mul_(2),
    "fill_": lambda t: t.fill_(0),
    "zero_": lambda t: t.zero_(),
    "copy_": lambda t: t.copy_(cn.torch.zeros(12)),
    "setitem_int": lambda t: t.__setitem__(0, 5.0),
    "setitem_slice": lambda t: t.__setitem__(slice(2, 4), 5.0),
    "setitem_step": lambda t: t.__setitem__(slice(None, None, 2), 5.0),
    "setitem_mask": lambda t: t.__setitem__(np.arange(12) % 3 == 0, 5.0),
    "setitem_list": lambda t: t.__setitem__([0, 1, 5], 5.0),
    "view_then_add_": lambda t: t[3:].add_(1),
    "reshape_then_fill_": lambda t: t.reshape(3, 4).fill_(1),
    "uniform_": lambda t: t.uniform_(),
    "numpy_write": lambda t: t.numpy().__setitem__(0, 9.0),
    "dlpack_numpy_write": lambda t: np.from_dlpack(t).__setitem__(0, 9.0),
}


@pytest.mark.parametrize("source_name", sorted(SOURCES))
@pytest.mark.parametrize("how", ["from_numpy", "as_tensor", "from_dlpack", "torch.from_numpy"])
@pytest.mark.parametrize("write", sorted(WRITES))
def test_every_write_path_is_refused_and_memory_unchanged(tmp_path, source_name, how, write):
    source = SOURCES[source_name](tmp_path)
    if NUMPY1 and how == "from_dlpack":
        with pytest.raises(BufferError):
            _shared(source, how)
        return
    t = _shared(source, how)
    assert t.is_readonly, "a read-only source must give a read-only tensor"
    assert np.shares_memory(t.numpy(), source), "shared, not copied"
    with pytest.raises((ValueError, TypeError, RuntimeError, BufferError)):
        WRITES[write](t)
    np.testing.assert_array_equal(np.asarray(source), VALUES)
    np.testing.assert_array_equal(t.numpy(), VALUES)


def test_training_a_read_only_tensor_copies_it_first(tmp_path):
    source = _memmap_r(tmp_path)
    w = cn.torch.from_numpy(source)
    w.requires_grad_(True)  # a variable owns fresh memory
    opt = cn.torch.optim.SGD([w], lr=0.5)
    (w * w).sum().backward()
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), VALUES * 0.0)
    np.testing.assert_array_equal(np.asarray(source), VALUES)
    assert not np.shares_memory(w.detach().numpy(), source)


@pytest.mark.parametrize("write", sorted(WRITES))
def test_mapped_npy_and_safetensors_refuse_writes(tmp_path, write):
    npy = tmp_path / "w.npy"
    np.save(npy, VALUES)
    st = tmp_path / "w.safetensors"
    cn.save_safetensors(st, {"w": cn.tensor(VALUES)})
    before = (npy.read_bytes(), st.read_bytes())
    for t in (cn.load_npy(npy, mmap=True), cn.load_safetensors(st, mmap=True)["w"]):
        assert t.is_readonly
        with pytest.raises((ValueError, TypeError, RuntimeError, BufferError)):
            WRITES[write](t)
        np.testing.assert_array_equal(t.numpy(), VALUES)
    assert (npy.read_bytes(), st.read_bytes()) == before


@pytest.mark.parametrize("write", sorted(WRITES))
def test_control_every_write_path_writes_a_writable_array(write):
    """The same calls on a writable array succeed and change its memory, so each refusal
    above is the read-only check, not a call that fails for another reason."""
    if NUMPY1 and write == "dlpack_numpy_write":
        pytest.skip("NumPy 1.x's np.from_dlpack arrays are always read-only")
    a = VALUES.copy()
    t = cn.from_numpy(a)
    WRITES[write](t)
    assert not np.array_equal(a, VALUES), f"{write} did not write through"
