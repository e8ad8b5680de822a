"""True zero-copy sharing both ways, and the lifetime rules that make it safe."""

import gc
import sys
import threading
import weakref

import numpy as np
import pytest

import candle_numpy as cn
from conftest import data_ptr, rss_bytes


def test_sharing_is_available_in_the_extension():
    assert cn.sharing_available()


def test_from_numpy_shares_the_same_memory():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = cn.from_numpy(a)
    assert cn.shares_memory(a, t)
    assert data_ptr(t.numpy()) == data_ptr(a)
    np.add(a, 1, out=a)
    assert t.numpy()[0].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_in_place_tensor_ops_write_through_to_numpy():
    a = np.zeros((2, 3), dtype=np.float64)
    t = cn.from_numpy(a)
    t.add_(1)
    assert (a == 1).all()
    t += 2
    assert (a == 3).all()
    t *= 2
    assert (a == 6).all()
    t -= 1
    assert (a == 5).all()
    t /= 5
    assert (a == 1).all()
    t.mul_(cn.tensor([1.0, 2.0, 3.0]).double())
    assert a.tolist() == [[1, 2, 3], [1, 2, 3]]
    t.fill_(7)
    assert (a == 7).all()
    t.copy_(np.arange(6.0).reshape(2, 3))
    assert a.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_in_place_writes_through_strided_views():
    a = np.zeros((4, 6), dtype=np.float32)
    t = cn.from_numpy(a)
    col = t[:, 1:3]
    col.fill_(9)
    assert a[:, 1:3].tolist() == [[9, 9]] * 4 and a[:, 0].sum() == 0
    tt = cn.from_numpy(a.T)  # Fortran order: a permuted view
    tt[2].add_(1)
    assert (a[:, 2] == 10).all()


def test_fortran_arrays_share_as_permuted_views():
    a = np.asfortranarray(np.arange(12, dtype=np.int64).reshape(3, 4))
    t = cn.from_numpy(a)
    assert t.shape == (3, 4)
    assert data_ptr(t.numpy()) == data_ptr(a)
    assert t.numpy().tolist() == a.tolist()
    assert t.numpy().flags.f_contiguous


def test_views_with_offsets_and_steps_share():
    base = np.arange(48, dtype=np.float32).reshape(6, 8)
    view = base[1:, 2:7:2]
    t = cn.from_numpy(view)
    assert t.numpy().tolist() == view.tolist()
    assert data_ptr(t.numpy()) == data_ptr(view)
    view[0, 0] = -1
    assert t.numpy()[0, 0] == -1


def test_owner_lives_while_any_tensor_or_view_does():
    a = np.arange(100, dtype=np.float64)
    ref = weakref.ref(a)
    t = cn.from_numpy(a)
    v = t[10:20].reshape(2, 5)
    del a
    gc.collect()
    assert ref() is not None, "the tensor keeps the array alive"
    del t
    gc.collect()
    assert ref() is not None, "a view outliving its base tensor keeps the array alive"
    assert v.numpy().tolist() == [[10, 11, 12, 13, 14], [15, 16, 17, 18, 19]]
    del v
    gc.collect()
    assert ref() is None, "the last view released the array"


@pytest.mark.parametrize("order", ["tensor_first", "array_first", "export_last"])
def test_every_drop_order_releases_the_array(order):
    a = np.ones(1000, dtype=np.float32)
    ref = weakref.ref(a)
    t = cn.from_numpy(a)
    e = t.numpy()
    items = {"a": a, "t": t, "e": e}
    del a, t, e
    sequence = {"tensor_first": "tea", "array_first": "ate", "export_last": "ate"[::-1]}[order]
    for name in sequence:
        del items[name]
        gc.collect()
    assert ref() is None


def test_round_trip_through_our_export_shares_one_buffer():
    a = np.arange(10, dtype=np.float32)
    t = cn.from_numpy(a)
    before = cn._native.adopted_blocks()
    t2 = cn.from_numpy(t.numpy())
    t3 = cn.from_numpy(t.numpy()[2:])
    assert cn._native.adopted_blocks() == before, "no second adoption of the same memory"
    t3.fill_(5)
    assert a.tolist() == [0, 1] + [5] * 8
    assert data_ptr(t2.numpy()) == data_ptr(a)


def test_a_pure_tensor_export_round_trips_without_adoption():
    t = cn.tensor(np.arange(6, dtype=np.int32))
    before = cn._native.adopted_blocks()
    back = cn.from_numpy(t.numpy()[::2])
    assert cn._native.adopted_blocks() == before
    assert back.numpy().tolist() == [0, 2, 4]


def test_identical_memory_claimed_by_a_different_owner_is_refused():
    import ctypes

    buf = bytearray(64)
    a1 = np.frombuffer(buf, dtype=np.float32)  # root owner: the bytearray
    alias = (ctypes.c_float * 16).from_buffer(buf)  # another object owning a view of it
    a2 = np.frombuffer(alias, dtype=np.float32)  # root owner: the ctypes array
    t1 = cn.from_numpy(a1)
    with pytest.raises(cn.ShareError, match="different owner"):
        cn.from_numpy(a2)
    copy = cn.as_tensor(a2)  # Auto copies instead
    assert not cn.shares_memory(a2, copy)
    del t1


def test_sources_refcount_returns_to_baseline():
    a = np.arange(50.0)
    base = sys.getrefcount(a)
    for _ in range(1000):
        t = cn.from_numpy(a)
        del t
    gc.collect()
    assert sys.getrefcount(a) == base
    for _ in range(100):
        with pytest.raises(cn.ShareError):
            cn.from_numpy(a[::-1])
    assert sys.getrefcount(a) == base


def test_dropping_the_last_tensor_releases_its_array_at_once():
    # the wrapper's drop releases the array's owner itself (no pending call, no gc, no later
    # entry point needed), and a view keeps it until the view goes too
    a = np.arange(50.0)
    base = sys.getrefcount(a)
    t = cn.from_numpy(a)
    assert sys.getrefcount(a) == base + 1
    v = t[10:20]
    del t
    assert sys.getrefcount(a) == base + 1
    assert v.numpy()[0] == 10.0
    del v
    assert sys.getrefcount(a) == base


def test_tensors_dropped_on_other_threads_release_their_arrays():
    arrays = [np.full(1000, i, dtype=np.float32) for i in range(8)]
    refs = [weakref.ref(a) for a in arrays]
    tensors = [cn.from_numpy(a) for a in arrays]
    del arrays

    def work(ts):
        s = sum(float(t.numpy().sum()) for t in ts)
        ts.clear()
        return s

    chunks = [tensors[i::4] for i in range(4)]
    del tensors
    threads = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    gc.collect()
    assert all(r() is None for r in refs)


def test_four_threads_share_one_array_20k_times():
    a = np.arange(256, dtype=np.float64)
    errors = []

    def work():
        try:
            for _ in range(20_000):
                t = cn.from_numpy(a)
                if t.numpy()[255] != 255.0:
                    errors.append("wrong value")
                del t
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sys.getrefcount(a) == 2


def test_rss_is_flat_over_100k_round_trips():
    a = np.ones(1024, dtype=np.float32)
    for _ in range(2000):  # warm up allocator pools
        cn.from_numpy(a).numpy()
    gc.collect()
    start = rss_bytes()
    for _ in range(100_000):
        t = cn.from_numpy(a)
        e = t.numpy()
        del t, e
    gc.collect()
    grown = rss_bytes() - start
    assert grown < 8 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB"


def test_rss_is_flat_over_100k_failing_conversions():
    a = np.ones((64, 64), dtype=np.float32)[::-1]
    for _ in range(2000):
        try:
            cn.from_numpy(a)
        except cn.ShareError:
            pass
    start = rss_bytes()
    for _ in range(100_000):
        try:
            cn.from_numpy(a)
        except cn.ShareError:
            pass
    gc.collect()
    grown = rss_bytes() - start
    assert grown < 8 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB"


def test_numpy_export_is_a_writable_view_and_np_asarray_shares():
    t = cn.tensor(np.zeros(4, dtype=np.float32))
    v = t.numpy()
    assert v.flags.writeable
    v[1] = 3
    assert t.tolist() == [0, 3, 0, 0]
    assert data_ptr(np.asarray(t)) == data_ptr(v)


def test_read_only_arrays_share_as_read_only_tensors():
    a = np.arange(5.0)
    a.flags.writeable = False
    t = cn.from_numpy(a)
    assert t.is_readonly
    assert cn.shares_memory(a, t)
    assert not t.numpy().flags.writeable
    with pytest.raises(cn.ShareError, match="read-only") as e:
        t.add_(1)
    assert "clone()" in str(e.value)
    c = t.clone()
    c.add_(1)
    assert c.tolist() == [1, 2, 3, 4, 5] and a.tolist() == [0, 1, 2, 3, 4]


def test_broadcast_arrays_share_read_only():
    a = np.broadcast_to(np.arange(3.0), (4, 3))
    t = cn.from_numpy(a)
    assert t.is_readonly and t.shape == (4, 3)
    assert t.numpy().tolist() == a.tolist()
    with pytest.raises(cn.CandleNumpyError):
        t.fill_(0)
