"""Advanced indexing (issue 17 item 6): integer lists, arrays and tensors, boolean masks, mixed
with basic items, read and written, compared with NumPy's own results.

Reads give copies (as in torch and NumPy); writes (`t[mask] = v`, `t[idx] += 1`) reach the
tensor's memory and every array that shares it. A tensor that records gradients is gathered by
candle, so the gradient reaches the selected elements.
"""

import numpy as np
import pytest

import candle_numpy as cn

T = cn.torch
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def test_integer_lists_arrays_and_tensors_select_rows_as_numpy_does():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = T.from_numpy(a)
    for key in ([2, 0], np.array([2, 0]), T.tensor([2, 0]), [[0, 1], [2, 2]], (slice(None), [3, 1]), ([0, 2], [1, 3]),
                (1, [0, 0, 3]), (Ellipsis, [True, False, True, False])):
        got = t[key]
        np_key = tuple(k.numpy() if isinstance(k, T.Tensor) else k for k in key) if isinstance(key, tuple) else (
            key.numpy() if isinstance(key, T.Tensor) else key)
        assert got.shape == a[np_key].shape and got.dtype == "float32", key
        assert got.numpy().tolist() == a[np_key].tolist(), key
    # an empty list is an empty integer index (torch's t[[]]), not a float array
    assert t[[]].shape == (0, 4)
    assert T.tensor([1, 2, 3])[[]].tolist() == []


def test_masks_from_comparisons_numpy_and_lists_select_the_true_elements():
    a = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]])
    t = T.from_numpy(a)
    assert (t > 0).dtype == "uint8"  # candle has no bool: a uint8 tensor is a mask
    assert t[t > 0].tolist() == [1.0, 3.0, 5.0]
    assert t[a < 0].tolist() == [-2.0, -4.0, -6.0]
    assert t[np.array([False, True])].tolist() == [[-4.0, 5.0, -6.0]]
    assert t[[True, False]].tolist() == [[1.0, -2.0, 3.0]]
    assert t[:, [True, False, True]].tolist() == [[1.0, 3.0], [-4.0, -6.0]]
    assert t[t > 100].shape == (0,)


def test_advanced_results_are_copies_with_the_tensor_dtype_and_rules():
    a = np.arange(6, dtype=np.int32)
    t = T.from_numpy(a)
    picked = t[[1, 3]]
    assert picked.dtype == "int32" and not cn.shares_memory(a, picked)
    picked += 100  # a copy, as in torch: the original keeps its values
    assert a.tolist() == [0, 1, 2, 3, 4, 5] and picked.tolist() == [101, 103]
    # a tf-facade tensor keeps TF's arithmetic rule through a gather
    tf_t = cn.tf.constant([1.0, 2.0, 3.0])
    with pytest.raises(TypeError):
        tf_t[[0, 1]] + cn.tf.constant([1, 2])


def test_writes_through_masks_and_index_lists_reach_shared_memory():
    a = np.arange(8, dtype=np.float64)
    t = T.from_numpy(a)
    t[t > 5] = 0
    t[[0, 1]] += 10  # get (a copy), add, then assignment writes it back
    t[np.array([2, 2])] = T.tensor([7.0, 8.0])  # repeated index: NumPy's rule, last write wins
    t[T.tensor([3])] *= 2
    assert a.tolist() == [10.0, 11.0, 8.0, 6.0, 4.0, 5.0, 0.0, 0.0]
    m = np.zeros((2, 3), dtype=np.int64)
    tm = T.from_numpy(m)
    tm[:, [0, 2]] = 1.9  # cast as torch casts: truncated
    tm[tm == 0] = -1
    assert m.tolist() == [[1, -1, 1], [1, -1, 1]]


def test_gradients_flow_through_an_advanced_gather():
    w = T.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    (w[[0, 0, 3]] * T.tensor([1.0, 2.0, 5.0])).sum().backward()
    assert w.grad.tolist() == [3.0, 0.0, 0.0, 5.0]
    m = T.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    sel = m[m.detach() > 1.5]
    assert sel.tolist() == [2.0, 3.0, 4.0]
    sel.sum().backward()
    assert m.grad.tolist() == [[0.0, 1.0], [1.0, 1.0]]


def test_bad_advanced_indexes_raise_what_torch_raises():
    t = T.zeros(3, 2)
    with pytest.raises(IndexError, match="must be long, int, byte or bool tensors, got float"):
        t[[0.5, 1.0]]
    with pytest.raises(IndexError, match="must be long, int, byte or bool"):
        t[T.tensor([0.0])]
    with pytest.raises(IndexError):
        t[[3]]  # out of range
    with pytest.raises(IndexError):
        t[np.array([True, False])]  # mask of the wrong length
    ro = np.zeros(3)
    ro.setflags(write=False)
    with pytest.raises(cn.ShareError):
        cn.as_tensor(ro)[[0]] = 1
    assert ro.tolist() == [0.0, 0.0, 0.0]
    w = T.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        w[[0]] = 3


def advanced_keys(shape):
    """A key for an array of `shape`: per axis an int, a slice, an index list or a mask."""
    def axis_key(n):
        return st.one_of(
            st.integers(-n, n - 1),
            st.builds(slice, st.none() | st.integers(-n, n), st.none() | st.integers(-n, n),
                      st.none() | st.sampled_from([1, 2, 3])),
            st.lists(st.integers(-n, n - 1), min_size=0, max_size=4),
            st.lists(st.booleans(), min_size=n, max_size=n),
        )

    return st.tuples(*[axis_key(n) for n in shape]).flatmap(
        lambda ks: st.integers(1, len(ks)).map(lambda cut: ks[:cut]))


def np_key(key, as_tensor):
    """The key with its lists as NumPy arrays, or as tensors (masks as uint8 tensors)."""
    out = []
    for k in key:
        if isinstance(k, list):
            arr = np.array(k, dtype=bool if k and isinstance(k[0], bool) else np.int64)
            out.append(T.tensor(arr.astype(np.uint8) if arr.dtype == bool else arr) if as_tensor else arr)
        else:
            out.append(k)
    return tuple(out)


shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@settings(max_examples=300, deadline=None)
@given(shape_key=shapes.flatmap(lambda s: st.tuples(st.just(s), advanced_keys(s))), as_tensor=st.booleans(),
       value=st.integers(-50, 50))
def test_reads_and_writes_match_numpy(shape_key, as_tensor, value):
    shape, key = shape_key
    a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    nk = np_key(key, False)
    try:
        want = a[nk]
    except IndexError:
        # NumPy refuses (index lists that do not broadcast together): so must we, nothing written
        with pytest.raises(IndexError):
            T.from_numpy(a)[np_key(key, as_tensor)]
        return
    t = T.from_numpy(a)
    got = t[np_key(key, as_tensor)]
    assert got.shape == np.shape(want) and got.numpy().tolist() == np.asarray(want).tolist(), key
    expect = a.copy()
    expect[nk] = value
    t[np_key(key, as_tensor)] = value
    assert a.tolist() == expect.tolist(), key


@pytest.mark.parametrize(
    "key",
    [
        (slice(1, 0, 2), 3, slice(None, None, 2)),  # found by the property test above: a panic
        (slice(1, None), slice(None, None, 2)),
        (slice(1, None), 2, slice(1, None, 2)),
        (slice(1, None), [0, 2]),
    ],
)
@pytest.mark.parametrize("requires_grad", [False, True])
def test_stepped_and_gathered_selections_of_empty_views_are_empty(key, requires_grad):
    """An empty view may start past the end of its storage (a[1:] of a one-row array); the
    gathers that follow must give an empty result of NumPy's shape, not read from there."""
    a = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    t = T.tensor(a, requires_grad=True) if requires_grad else T.from_numpy(a)
    got = t[key]
    assert tuple(got.shape) == a[key].shape
    assert got.numpy().size == 0 if not requires_grad else got.detach().numpy().size == 0


def test_diag_of_empty_views():
    m = T.from_numpy(np.arange(6, dtype=np.float32).reshape(2, 3))[2:]
    assert tuple(m.diag().shape) == (0,)
    v = T.from_numpy(np.arange(3, dtype=np.float32))[3:]
    assert tuple(v.diag().shape) == (0, 0)
    assert v.diag(1).tolist() == [[0.0]]
