"""The tensor basics ported torch scripts meet first (issue 17 item 9-10): dtype objects,
finfo/iinfo, legacy types, memory queries, views, logical reductions, joins, random fills and
constructors, DLPack helpers. Checked against NumPy's answers here; the interop lane's
upstream ports check them against torch itself."""

import pickle

import numpy as np
import pytest

import candle_numpy as cn

T = cn.torch


def test_dtypes_are_strings_with_torch_attributes():
    t = T.tensor([1.0, 2.0])
    assert t.dtype == "float32" and t.dtype == T.float32 and isinstance(t.dtype, str)
    assert t.dtype.is_floating_point and t.dtype.itemsize == 4 and t.dtype.is_signed
    assert not T.tensor([1]).dtype.is_floating_point and T.int64.itemsize == 8
    assert not T.uint8.is_signed and not T.float32.is_complex
    assert np.dtype(t.dtype) == np.float32 and {t.dtype: 1}["float32"] == 1
    assert pickle.loads(pickle.dumps(t.dtype)) == "float32"
    assert T.bool == "uint8" and (t > 1).dtype == T.bool  # candle has no bool: masks are uint8
    assert cn.tf.float32.is_floating and cn.tf.int32.is_integer and cn.tf.Variable([1.0]).dtype.name == "float32"
    assert T.get_default_dtype() == "float32"


def test_finfo_and_iinfo_match_numpy():
    assert T.finfo(T.float16).eps == float(np.finfo(np.float16).eps)
    assert T.finfo().bits == 32 and T.finfo(T.float64).max == float(np.finfo(np.float64).max)
    assert T.finfo(T.bfloat16).bits == 16 and T.finfo(T.bfloat16).eps == 2.0**-7
    assert (T.iinfo(T.int16).min, T.iinfo(T.int16).max) == (-32768, 32767)
    assert T.iinfo(T.uint8).max == 255
    with pytest.raises(TypeError, match="not a floating-point dtype"):
        T.finfo(T.int32)
    with pytest.raises(TypeError, match="not an integer dtype"):
        T.iinfo(T.float32)


def test_legacy_types_for_isinstance_type_and_construction():
    t = T.tensor([1.0])
    assert isinstance(t, T.FloatTensor) and not isinstance(t, T.DoubleTensor) and isinstance(t, T.Tensor)
    assert t.type() == "torch.FloatTensor" and T.tensor([1]).type() == "torch.LongTensor"
    assert t.type(T.DoubleTensor).dtype == "float64" and t.type("torch.IntTensor").dtype == "int32"
    assert t.type(T.float16).dtype == "float16"
    assert T.LongTensor([1, 2]).dtype == "int64" and T.DoubleTensor(2, 3).shape == (2, 3)
    assert T.is_floating_point(t) and not T.is_floating_point(T.tensor([1]))


def test_memory_queries_agree_with_numpy():
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    t = T.from_numpy(a)
    assert t.dim() == 2 and t.stride() == (4, 1) and t.stride(-2) == 4
    assert t.element_size() == 8 == t.itemsize and t.nbytes == a.nbytes
    assert t.data_ptr() == a.ctypes.data
    col = t[:, 1:]
    assert col.storage_offset() == 1 and col.data_ptr() == a[:, 1:].ctypes.data
    assert t.t().stride() == (1, 4) and t.t().shape == (4, 3) and t.t().data_ptr() == a.ctypes.data
    s = col.storage()
    assert s.size() == 12 == len(s) and s.data_ptr() == a.ctypes.data and s.element_size() == 8
    assert T.Storage(5).size() == 5
    assert T.tensor(2.0).t().shape == () and T.arange(3).t().tolist() == [0, 1, 2]
    with pytest.raises(IndexError, match="<= 2 dimensions"):
        T.zeros(2, 2, 2).t()


def test_narrow_is_a_view_and_checks_bounds():
    a = np.arange(10.0)
    t = T.from_numpy(a)
    n = t.narrow(0, -3, 2)
    assert n.tolist() == [7.0, 8.0] and T.narrow(t, 0, 1, 2).tolist() == [1.0, 2.0]
    n += 100
    assert a[7] == 107.0  # a view: the write reaches the array
    with pytest.raises(IndexError, match="exceeds dimension 0 of size 10"):
        t.narrow(0, 9, 2)


def test_comparisons_and_logical_reductions_as_methods():
    t = T.tensor([[1.0, 0.0], [3.0, float("nan")]])
    assert t.eq(1).tolist() == [[1, 0], [0, 0]] and T.eq(t, 3).tolist() == [[0, 0], [1, 0]]
    assert t.ne(0).tolist() == [[1, 0], [1, 1]] and t.gt(T.tensor([0.0, 0.0])).tolist() == [[1, 0], [1, 0]]
    assert t.le(1).tolist() == [[1, 1], [0, 0]] and t.ge(3).tolist() == [[0, 0], [1, 0]]
    assert t.lt(1).tolist() == [[0, 1], [0, 0]]
    assert t.all().item() == 0 and t.any().item() == 1
    assert t.all(dim=1).tolist() == [0, 1]  # NaN is non-zero, as in torch
    assert t.any(dim=0, keepdim=True).tolist() == [[1, 1]]
    assert T.zeros(0).all().item() == 1 and T.zeros(0).any().item() == 0
    assert T.all(T.ones(3)).item() == 1 and T.any(T.zeros(3)).item() == 0
    assert t.logical_not().tolist() == [[0, 1], [0, 0]] and T.logical_not(T.tensor([0, 2])).tolist() == [1, 0]
    assert bool(T.tensor([1, 2]).eq(T.tensor([1, 2])).all())


def test_diag_both_ways_with_gradients():
    v = T.tensor([1.0, 2.0], requires_grad=True)
    assert v.diag().tolist() == [[1.0, 0.0], [0.0, 2.0]]
    assert v.diag(1).tolist() == np.diag([1.0, 2.0], 1).tolist()
    assert T.diag(v, -1).tolist() == np.diag([1.0, 2.0], -1).tolist()
    (v.diag() * 3).sum().backward()
    assert v.grad.tolist() == [3.0, 3.0]
    m = np.arange(12.0).reshape(3, 4)
    for k in (-2, -1, 0, 1, 3, 5):
        assert T.tensor(m).diag(k).tolist() == np.diag(m, k).tolist(), k


def test_cat_and_stack_promote_and_check():
    a, b = T.tensor([[1, 2]]), T.tensor([[0.5, 1.5]])
    c = T.cat([a, b])
    assert c.dtype == "float32" and c.tolist() == [[1.0, 2.0], [0.5, 1.5]]
    assert T.cat((a, a), dim=1).tolist() == [[1, 2, 1, 2]] and T.concat([a]).shape == (1, 2)
    s = T.stack([a[0], a[0]], dim=-1)
    assert s.shape == (2, 2) and s.tolist() == [[1, 1], [2, 2]]
    assert T.stack([np.zeros(2), np.ones(2)]).tolist() == [[0.0, 0.0], [1.0, 1.0]]
    w = T.tensor([1.0], requires_grad=True)
    (T.cat([w, w * 2]).sum()).backward()
    assert w.grad.tolist() == [3.0]
    with pytest.raises(ValueError, match="non-empty"):
        T.cat([])
    with pytest.raises(IndexError, match="out of range"):
        T.stack([a, a], dim=4)


def test_random_constructors_and_fills_follow_manual_seed():
    T.manual_seed(7)
    p1, r1, u1 = T.randperm(6), T.randint(0, 5, (4,)), T.zeros(3, dtype=T.float64).uniform_(-2, 2)
    T.manual_seed(7)
    p2, r2, u2 = T.randperm(6), T.randint(0, 5, (4,)), T.zeros(3, dtype=T.float64).uniform_(-2, 2)
    assert p1.tolist() == p2.tolist() and sorted(p1.tolist()) == list(range(6)) and p1.dtype == "int64"
    assert r1.tolist() == r2.tolist() and all(0 <= v < 5 for v in r1.tolist())
    assert u1.tolist() == u2.tolist() and all(-2 <= v < 2 for v in u1.tolist())
    assert T.randint(3, (2, 2)).shape == (2, 2)
    g = T.Generator().manual_seed(11)
    first = T.randperm(5, generator=g).tolist()
    assert T.randperm(5, generator=T.Generator().manual_seed(11)).tolist() == first and g.initial_seed() == 11
    ints = T.zeros(50, dtype=T.int64).random_(3, 6)
    assert set(ints.tolist()) <= {3, 4, 5} and ints.dtype == "int64"
    assert all(0 <= v < 4 for v in T.zeros(20).random_(4).tolist())
    n = T.zeros(1000).normal_(5.0, 0.1)
    assert abs(n.mean().item() - 5.0) < 0.05
    a = np.zeros(3)
    T.from_numpy(a).uniform_(1, 2)  # in place: through shared memory
    assert ((a >= 1) & (a < 2)).all()
    with pytest.raises(ValueError, match="less than 'to'"):
        T.zeros(2).random_(5, 5)


def test_repeat_resize_and_div_rounding():
    t = T.tensor([1, 2])
    assert t.repeat(2, 2).tolist() == np.tile([1, 2], (2, 2)).tolist()
    assert t.repeat(3).tolist() == [1, 2, 1, 2, 1, 2] and t.repeat(0, 1).shape == (0, 2)
    with pytest.raises(ValueError, match="at least one per dimension"):
        T.zeros(2, 2).repeat(2)
    with pytest.raises(RuntimeError, match="fixed size"):
        T.zeros(2).resize_(4)
    assert T.div(T.tensor([5, -5]), 2, rounding_mode="floor").tolist() == [2, -3]
    assert T.div(T.tensor([5, -5]), 2, rounding_mode="trunc").dtype == "int64"
    assert T.div(T.tensor([5.0, -5.0]), 2, rounding_mode="trunc").tolist() == [2.0, -2.0]
    with pytest.raises(ValueError, match="rounding_mode"):
        T.div(t, 2, rounding_mode="round")


def test_dlpack_helpers_and_refusals():
    x = T.tensor([1.0, 2.0])
    z = T.utils.dlpack.from_dlpack(T.utils.dlpack.to_dlpack(x))
    z[0] = 7.0
    assert x.tolist() == [7.0, 2.0]
    assert int(T.utils.dlpack.DLDeviceType.kDLCPU) == 1
    with pytest.raises(BufferError, match="require gradient"):
        T.tensor([1.0], requires_grad=True).__dlpack__()
    with pytest.raises(TypeError, match="stream must be an int"):
        x.__dlpack__(stream=object())
    with pytest.raises(BufferError, match="Unsupported device_type: 16"):
        x.__dlpack__(max_version=(1, 0), dl_device=(16, 0))


def test_split_chunk_are_views_and_match_numpy():
    a = np.arange(10.0)
    t = T.from_numpy(a)
    parts = t.split(4)
    assert [p.tolist() for p in parts] == [x.tolist() for x in np.split(a, [4, 8])]
    assert [p.shape[0] for p in t.split([2, 3, 5])] == [2, 3, 5]
    parts[1][0] = -1.0  # views: the write reaches the array
    assert a[4] == -1.0
    assert [p.shape for p in T.zeros(2, 5).chunk(2, dim=1)] == [(2, 3), (2, 2)]
    assert len(T.zeros(3).chunk(5)) == 3  # fewer pieces when the size runs out, as torch
    with pytest.raises(ValueError, match="must sum to the size of dimension 0"):
        t.split([2, 2])
    with pytest.raises(ValueError, match="positive"):
        t.split(0)


def test_new_tensor_pinning_and_rng_state():
    t = T.tensor([1.0], dtype=T.float64)
    n = t.new_tensor([[1, 2], [3, 4]])
    assert n.dtype == "float64" and n.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert t.new_tensor([1], dtype=T.int32).dtype == "int32"
    assert not t.is_pinned() and t.pin_memory() is t
    state = T.get_rng_state()
    a = T.rand(5).tolist()
    T.set_rng_state(state)
    assert T.rand(5).tolist() == a


def test_unique_matches_numpy():
    t = T.tensor([[3, 1], [3, 2]])
    u = t.unique()
    assert u.tolist() == [1, 2, 3] and u.dtype == "int64"
    u, inv, counts = t.unique(return_inverse=True, return_counts=True)
    assert inv.shape == (2, 2) and inv.tolist() == [[2, 0], [2, 1]] and counts.tolist() == [1, 1, 2]
    assert inv.dtype == "int64" and counts.dtype == "int64"
    assert T.tensor([2.5, 2.5]).unique(return_counts=True)[1].tolist() == [2]
    with pytest.raises(ValueError, match="dim"):
        t.unique(dim=0)
