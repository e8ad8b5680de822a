"""DLPack both ways: `np.from_dlpack(t)` / `t.__dlpack__`, and `cn.from_dlpack(x)`.

Zero-copy means the same address and writes seen on both sides; capsules are consumed once;
deleters run exactly once (and unconsumed capsules release what they hold).
"""

import ctypes
import gc
import os
import weakref

import numpy as np
import pytest

import candle_numpy as cn
from conftest import data_ptr, rss_bytes

NUMPY2 = int(np.__version__.split(".")[0]) >= 2
# valgrind keeps freed blocks in quarantine (20 MB by default): RSS bounds mean nothing there
UNDER_VALGRIND = "vgpreload" in os.environ.get("LD_PRELOAD", "")
needs_numpy2 = pytest.mark.skipif(not NUMPY2, reason="np.from_dlpack passes max_version/copy from NumPy 2.0")

READ_ONLY, IS_COPIED = 1 << 0, 1 << 1


# --- ctypes mirror of dlpack.h, to inspect our capsules and to build foreign ones ----------


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class DLManagedTensorVersioned(ctypes.Structure):
    pass


DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensorVersioned))
DLManagedTensorVersioned._fields_ = [
    ("version", DLPackVersion),
    ("manager_ctx", ctypes.c_void_p),
    ("deleter", DELETER),
    ("flags", ctypes.c_uint64),
    ("dl_tensor", DLTensor),
]

# capsule names must outlive the capsule: module-level constants
VERSIONED_NAME = b"dltensor_versioned"

_api = ctypes.pythonapi
_api.PyCapsule_GetName.restype = ctypes.c_char_p
_api.PyCapsule_GetName.argtypes = [ctypes.py_object]
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


def capsule_name(capsule) -> str:
    return _api.PyCapsule_GetName(capsule).decode()


def managed(capsule) -> DLManagedTensorVersioned:
    """The DLManagedTensorVersioned inside an unconsumed versioned capsule (still owned by it)."""
    ptr = _api.PyCapsule_GetPointer(capsule, VERSIONED_NAME)
    return DLManagedTensorVersioned.from_address(ptr)


class Producer:
    """A `__dlpack__` object handing out a given capsule (e.g. a legacy one to NumPy)."""

    def __init__(self, capsule, device=(1, 0)):
        self.capsule, self.device = capsule, device

    def __dlpack__(self, **kwargs):
        return self.capsule

    def __dlpack_device__(self):
        return self.device


class CtypesProducer:
    """A foreign (non-NumPy) producer: a hand-built DLManagedTensorVersioned over `array`'s
    memory, whose deleter counts its calls. Keeps `array` alive until the deleter runs."""

    def __init__(self, array, device=(1, 0), flags=0):
        self.array, self.calls = array, 0
        nd = array.ndim
        self.shape = (ctypes.c_int64 * max(nd, 1))(*array.shape)
        self.strides = (ctypes.c_int64 * max(nd, 1))(*(s // array.itemsize for s in array.strides))
        self._deleter = DELETER(self._delete)
        code = {"f": 2, "i": 0, "u": 1}[array.dtype.kind]
        self.managed = DLManagedTensorVersioned(
            version=DLPackVersion(1, 0),
            manager_ctx=None,
            deleter=self._deleter,
            flags=flags,
            dl_tensor=DLTensor(
                data=data_ptr(array),
                device=DLDevice(*device),
                ndim=nd,
                dtype=DLDataType(code, array.itemsize * 8, 1),
                shape=self.shape,
                strides=self.strides,
                byte_offset=0,
            ),
        )

    def _delete(self, _ptr):
        self.calls += 1
        self.array = None  # what a real producer's deleter does: drop its reference

    def capsule(self):
        # no capsule destructor: these tests always consume the capsule
        return _api.PyCapsule_New(ctypes.addressof(self.managed), VERSIONED_NAME, None)


# --- export: np.from_dlpack(t) ------------------------------------------------------------


def test_np_from_dlpack_shares_memory_with_the_tensor():
    t = cn.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    a = np.from_dlpack(t)
    assert data_ptr(a) == data_ptr(t.numpy())
    # NumPy < 2 imports through legacy capsules only, and marks those arrays read-only
    assert a.flags.writeable == NUMPY2
    if NUMPY2:
        a[0, 0] = 42.0
        assert t.tolist()[0][0] == 42.0
    t.add_(1)
    assert a[0, 0] == t.tolist()[0][0] and a[2, 3] == 12.0


@pytest.mark.parametrize("view", ["T", "cols", "row"])
def test_np_from_dlpack_of_views_keeps_the_layout(view):
    base = cn.tensor(np.arange(24, dtype=np.int64).reshape(4, 6))
    t = {"T": lambda: base.T, "cols": lambda: base[:, 1:4], "row": lambda: base[2]}[view]()
    a = np.from_dlpack(t)
    assert data_ptr(a) == data_ptr(t.numpy())
    assert a.strides == t.numpy().strides
    np.testing.assert_array_equal(a, t.numpy())


def test_capsule_kinds_follow_max_version():
    t = cn.tensor(np.ones(3, dtype=np.float64))
    assert capsule_name(t.__dlpack__()) == "dltensor"
    assert capsule_name(t.__dlpack__(max_version=None)) == "dltensor"
    assert capsule_name(t.__dlpack__(max_version=(0, 8))) == "dltensor"
    assert capsule_name(t.__dlpack__(max_version=(1, 0))) == "dltensor_versioned"
    # the version reported is the lower of the consumer's and ours (1.1)
    cap = t.__dlpack__(max_version=(1, 0))
    assert (managed(cap).version.major, managed(cap).version.minor) == (1, 0)
    cap = t.__dlpack__(max_version=(1, 7))
    m = managed(cap)
    assert (m.version.major, m.version.minor, m.flags) == (1, 1, 0)
    assert m.dl_tensor.device.device_type == 1 and m.dl_tensor.byte_offset == 0
    assert t.__dlpack_device__() == (1, 0)


def test_a_legacy_capsule_is_consumed_by_numpy_and_shares():
    t = cn.tensor(np.arange(5, dtype=np.float32))
    a = np.from_dlpack(Producer(t.__dlpack__()))
    assert data_ptr(a) == data_ptr(t.numpy())
    # (NumPy 2 marks every array imported from a legacy capsule read-only, even its own)
    t.add_(1)
    assert a.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


@needs_numpy2
def test_read_only_tensor_exports_a_read_only_array():
    src = np.arange(6, dtype=np.float64)
    src.flags.writeable = False
    t = cn.from_numpy(src)
    assert t.is_readonly
    cap = t.__dlpack__(max_version=(1, 0))
    assert managed(cap).flags & READ_ONLY
    a = np.from_dlpack(t)
    assert not a.flags.writeable
    assert data_ptr(a) == data_ptr(src)


def test_read_only_tensor_refuses_a_legacy_capsule_unless_copied():
    src = np.arange(6, dtype=np.float64)
    src.flags.writeable = False
    t = cn.from_numpy(src)
    with pytest.raises(cn.DLPackError, match="read-only") as e:
        t.__dlpack__()
    assert isinstance(e.value, BufferError)
    assert "max_version" in str(e.value)
    a = np.from_dlpack(Producer(t.__dlpack__(copy=True)))
    assert data_ptr(a) != data_ptr(src)
    np.testing.assert_array_equal(a, src)


def test_copy_true_exports_an_independent_flagged_copy():
    t = cn.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    cap = t.__dlpack__(max_version=(1, 0), copy=True)
    m = managed(cap)
    assert m.flags == IS_COPIED
    assert m.dl_tensor.data != data_ptr(t.numpy())
    c = cn.from_dlpack(cap)
    assert not c.is_readonly
    c.add_(100)
    assert t.tolist()[0][0] == 0.0 and c.tolist()[0][0] == 100.0
    # copies of strided views come out C-contiguous (legacy capsules: every NumPy reads them)
    a = np.from_dlpack(Producer(t.T.__dlpack__(copy=True)))
    assert a.flags.c_contiguous and data_ptr(a) != data_ptr(t.numpy())
    np.testing.assert_array_equal(a, t.T.numpy())
    assert t.__dlpack__(max_version=(1, 0), copy=False) is not None


@needs_numpy2
def test_np_from_dlpack_copy_keyword():
    t = cn.tensor(np.ones(4, dtype=np.float64))
    a = np.from_dlpack(t, copy=True)
    a[:] = 5
    assert t.tolist() == [1.0] * 4


def test_dl_device_other_than_the_cpu_is_refused():
    t = cn.tensor(np.ones(3, dtype=np.float32))
    with pytest.raises(cn.DLPackError, match=r"dl_device=cuda:0 \(2, 0\)") as e:
        t.__dlpack__(max_version=(1, 0), dl_device=(2, 0))
    assert isinstance(e.value, BufferError)
    assert "CPU (1, 0)" in str(e.value)
    assert capsule_name(t.__dlpack__(max_version=(1, 0), dl_device=(1, 0))) == "dltensor_versioned"


def test_stream_must_be_none_on_the_cpu():
    t = cn.tensor(np.ones(3, dtype=np.float32))
    with pytest.raises(cn.DLPackError, match="stream=None"):
        t.__dlpack__(stream=1)
    assert t.__dlpack__(stream=None) is not None


def test_bad_protocol_arguments_are_type_errors():
    t = cn.tensor(np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match="max_version"):
        t.__dlpack__(max_version=1)
    with pytest.raises(TypeError):
        t.__dlpack__(None)  # keyword-only, as the array API says


# --- import: cn.from_dlpack(x) ------------------------------------------------------------


def test_cn_from_dlpack_shares_with_a_numpy_array():
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    t = cn.from_dlpack(a)
    assert cn.shares_memory(a, t)
    assert data_ptr(t.numpy()) == data_ptr(a)
    assert not t.is_readonly
    a[0, 0] = 42.0
    assert t.tolist()[0][0] == 42.0
    t.add_(1)
    assert a[0, 0] == 43.0 and a[2, 3] == 12.0


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "int64", "uint32", "float16", "float32", "float64"])
@pytest.mark.parametrize("layout", ["C", "F", "slice", "step"])
def test_cn_from_dlpack_dtypes_and_layouts(dtype, layout):
    base = np.arange(48).astype(dtype).reshape(6, 8)
    a = {"C": base, "F": np.asfortranarray(base), "slice": base[1:4, 2:7], "step": base[:, ::2]}[layout]
    t = cn.from_dlpack(a)
    assert t.dtype == dtype
    assert cn.shares_memory(a, t)
    np.testing.assert_array_equal(t.numpy(), a)


def test_cn_from_dlpack_and_from_numpy_of_one_array_share_one_adoption():
    a = np.arange(8, dtype=np.float32)
    before = cn._native.adopted_blocks()
    t1 = cn.from_numpy(a)
    t2 = cn.from_dlpack(a)
    t3 = cn.from_dlpack(a[2:])
    assert cn._native.adopted_blocks() == before + 1
    a[3] = -3.0
    assert t1.tolist()[3] == t2.tolist()[3] == t3.tolist()[1] == -3.0
    del t1, t2, t3


def test_cn_from_dlpack_keeps_the_numpy_array_alive():
    a = np.arange(1000, dtype=np.float64)
    alive = weakref.ref(a)
    t = cn.from_dlpack(a)
    del a
    gc.collect()
    assert alive() is not None, "the tensor must keep the producer alive"
    assert t.tolist()[999] == 999.0
    del t
    gc.collect()
    assert alive() is None, "and release it once the tensor is gone"


def test_cn_from_dlpack_of_a_non_numpy_producer_keeps_it_alive():
    # through a wrapper, so the capsule's own owner (not the ndarray's root) keeps the memory
    a = np.arange(64, dtype=np.float32)
    alive = weakref.ref(a)
    t = cn.from_dlpack(Producer(a.__dlpack__()))
    assert data_ptr(t.numpy()) == data_ptr(a)
    a[5] = 50.0
    assert t.tolist()[5] == 50.0
    del a
    gc.collect()
    assert alive() is not None
    assert t.tolist()[63] == 63.0
    del t
    gc.collect()
    assert alive() is None


def test_cn_from_dlpack_of_a_read_only_array_is_read_only():
    a = np.arange(4, dtype=np.float64)
    a.flags.writeable = False
    if not NUMPY2:
        with pytest.raises(BufferError):  # NumPy 1.x cannot export read-only arrays at all
            cn.from_dlpack(a)
        return
    t = cn.from_dlpack(a)
    assert t.is_readonly
    assert data_ptr(t.numpy()) == data_ptr(a)
    with pytest.raises(cn.ShareError, match="read-only"):
        t.add_(1)


def test_round_trip_of_our_own_tensor_shares_without_adopting():
    t = cn.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    before = cn._native.adopted_blocks()
    for r in (cn.from_dlpack(t), cn.from_dlpack(t.__dlpack__(max_version=(1, 0))), cn.from_dlpack(t.numpy())):
        assert data_ptr(r.numpy()) == data_ptr(t.numpy())
        r.add_(1)
    assert cn._native.adopted_blocks() == before, "our own memory maps back, it is never adopted"
    assert t.tolist()[0] == [3.0, 4.0, 5.0, 6.0]
    v = cn.from_dlpack(t.T)
    assert v.shape == (4, 3) and v.numpy().strides == t.T.numpy().strides
    assert data_ptr(v.numpy()) == data_ptr(t.T.numpy())


def test_round_trip_of_read_only_tensors_stays_read_only():
    src = np.arange(3, dtype=np.float64)
    src.flags.writeable = False
    r = cn.from_dlpack(cn.from_numpy(src))
    assert r.is_readonly and data_ptr(r.numpy()) == data_ptr(src)


def test_round_trip_of_bfloat16_needs_no_numpy_support():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    t = cn.tensor(np.arange(4, dtype=np.float32)).bfloat16()
    r = cn.from_dlpack(t)
    assert r.dtype == "bfloat16"
    assert data_ptr(r.numpy()) == data_ptr(t.numpy())
    assert r.numpy().dtype == np.dtype(ml_dtypes.bfloat16)


def test_empty_arrays_import_as_empty_tensors():
    assert cn.from_dlpack(np.zeros((0, 3), dtype=np.float32)).shape == (0, 3)
    e = cn.tensor(np.zeros((0, 2), dtype=np.float64))
    assert np.from_dlpack(e).shape == (0, 2)
    assert cn.from_dlpack(e).shape == (0, 2)


def test_sharing_refusals_are_share_errors():
    with pytest.raises(cn.ShareError, match="negative stride"):
        cn.from_dlpack(np.arange(5, dtype=np.float32)[::-1])
    with pytest.raises(cn.ShareDTypeError, match="int8"):
        cn.from_dlpack(np.arange(5, dtype=np.int8))


def test_a_cuda_producer_is_refused_before_it_exports():
    class FakeCuda:
        def __dlpack_device__(self):
            return (2, 0)

        def __dlpack__(self, **kwargs):
            raise AssertionError("must not be asked for a capsule")

    with pytest.raises(cn.DLPackError, match="cuda:0") as e:
        cn.from_dlpack(FakeCuda())
    assert isinstance(e.value, BufferError)
    assert "x.cpu()" in str(e.value)


def test_a_capsule_of_cuda_memory_is_refused_and_released():
    p = CtypesProducer(np.zeros(4, dtype=np.float32), device=(2, 1))
    with pytest.raises(cn.DLPackError, match="cuda:1"):
        cn.from_dlpack(p.capsule())
    assert p.calls == 1, "a refused import still calls the deleter exactly once"


def test_a_raw_capsule_from_a_foreign_producer_shares_and_is_released_once():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    p = CtypesProducer(a, flags=READ_ONLY)
    t = cn.from_dlpack(p.capsule())
    assert t.is_readonly
    assert data_ptr(t.numpy()) == data_ptr(a)
    a[1, 1] = -5.0
    assert t.tolist()[1][1] == -5.0
    assert p.calls == 0
    v = t[1:]  # a view keeps it alive too
    del t
    gc.collect()
    assert p.calls == 0
    del v
    gc.collect()
    assert p.calls == 1


def test_versioned_capsule_of_another_major_version_is_refused():
    p = CtypesProducer(np.zeros(4, dtype=np.float32))
    p.managed.version = DLPackVersion(2, 0)
    with pytest.raises(cn.DLPackError, match="DLPack 2.0"):
        cn.from_dlpack(p.capsule())
    assert p.calls == 1


def test_a_capsule_consumed_twice_raises():
    t = cn.tensor(np.ones(3, dtype=np.float32))
    cap = t.__dlpack__(max_version=(1, 0))
    cn.from_dlpack(cap)
    assert capsule_name(cap) == "used_dltensor_versioned"
    with pytest.raises(cn.DLPackError, match="already consumed") as e:
        cn.from_dlpack(cap)
    assert isinstance(e.value, BufferError)
    legacy = t.__dlpack__()
    np.from_dlpack(Producer(legacy))  # NumPy consumes it
    assert capsule_name(legacy) == "used_dltensor"
    with pytest.raises(cn.DLPackError, match="already consumed"):
        cn.from_dlpack(legacy)


def test_not_a_dlpack_object():
    with pytest.raises(TypeError, match="__dlpack__"):
        cn.from_dlpack([1, 2, 3])
    other = _api.PyCapsule_New(ctypes.addressof(ctypes.c_int(0)), b"something_else", None)
    with pytest.raises(cn.DLPackError, match="not a DLPack capsule"):
        cn.from_dlpack(other)


def test_old_producers_without_max_version_still_work():
    class Old:
        def __init__(self, a):
            self.a = a

        def __dlpack__(self, stream=None):
            return self.a.__dlpack__()

    a = np.arange(3, dtype=np.float64)
    t = cn.from_dlpack(Old(a))
    a[0] = 7.0
    assert t.tolist()[0] == 7.0


# --- lifetime and leaks -------------------------------------------------------------------


def test_unconsumed_capsules_release_their_tensor():
    exports = cn._native.live_dlpack_exports()
    a = np.ones(16, dtype=np.float32)
    blocks = cn._native.adopted_blocks()
    t = cn.from_numpy(a)
    cap = t.__dlpack__(max_version=(1, 0))
    del t
    assert cn._native.adopted_blocks() == blocks + 1, "the capsule holds the tensor"
    assert cn._native.live_dlpack_exports() == exports + 1
    del cap
    assert cn._native.live_dlpack_exports() == exports
    assert cn._native.adopted_blocks() == blocks


def test_10k_unconsumed_capsules_do_not_leak():
    def one(i):
        a = np.ones(4096, dtype=np.float32)
        t = cn.from_numpy(a)
        cap = t.__dlpack__(max_version=(1, 0)) if i % 2 else t.__dlpack__()
        del t, a
        return cap

    for i in range(500):  # warm up allocator pools
        one(i)
    gc.collect()
    exports = cn._native.live_dlpack_exports()
    blocks = cn._native.adopted_blocks()
    start = rss_bytes()
    for i in range(10_000):
        cap = one(i)
        assert cn._native.adopted_blocks() == blocks + 1
        del cap
    gc.collect()
    assert cn._native.adopted_blocks() == blocks
    assert cn._native.live_dlpack_exports() == exports
    grown = 0 if UNDER_VALGRIND else rss_bytes() - start
    assert grown < 4 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB over 10k capsules of 16 KiB"


def test_10k_round_trips_through_numpy_do_not_leak():
    for _ in range(500):
        np.from_dlpack(cn.from_dlpack(np.ones(1024, dtype=np.float32)))
    gc.collect()
    exports = cn._native.live_dlpack_exports()
    blocks = cn._native.adopted_blocks()
    start = rss_bytes()
    for _ in range(10_000):
        a = np.ones(1024, dtype=np.float32)
        b = np.from_dlpack(cn.from_dlpack(a))
        assert data_ptr(b) == data_ptr(a)
        del a, b
    gc.collect()
    assert cn._native.adopted_blocks() == blocks
    assert cn._native.live_dlpack_exports() == exports
    grown = 0 if UNDER_VALGRIND else rss_bytes() - start
    assert grown < 4 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB"


@pytest.mark.skipif(not NUMPY2, reason="NumPy 1.x makes arrays from DLPack read-only and refuses to export them again")
def test_round_trip_through_numpy_of_shared_memory_shares_the_tensor():
    a = np.arange(6, dtype=np.float32)
    t = cn.from_numpy(a)
    x = np.from_dlpack(t)  # NumPy holds our export in its own capsule (x.base)
    u = cn.from_dlpack(x)
    assert data_ptr(u.numpy()) == data_ptr(a)
    u += 1
    assert a.tolist() == [1, 2, 3, 4, 5, 6]
    # a legacy export (what NumPy 1.x asks for) is seen through too
    y = np.from_dlpack(cn.from_numpy(a)[2:])
    w = cn.from_dlpack(y)
    assert data_ptr(w.numpy()) == data_ptr(a) + 8


@pytest.mark.skipif(not NUMPY2, reason="NumPy 1.x makes arrays from DLPack read-only and refuses to export them again")
def test_round_trip_through_numpy_keeps_read_only():
    a = np.arange(4, dtype=np.float64)
    a.flags.writeable = False
    u = cn.from_dlpack(np.from_dlpack(cn.from_numpy(a)))
    assert u.is_readonly
    with pytest.raises(cn.ShareError):
        u += 1
    assert a.tolist() == [0, 1, 2, 3]
