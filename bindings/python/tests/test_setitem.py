"""`t[key] = value`: in-place writes through indexing, compared with NumPy's own views.

A write either reaches exactly the elements NumPy's `a[key] = value` reaches (unit and stepped
slices, integers, None, Ellipsis), or (negative steps, refused as in torch) raises ValueError
and leaves the tensor unchanged. Writes *through a tensor made by* a stepped slice
(`y = x[::2]; y += 1`) raise: `y` is a copy, and torch's would reach `x`.
"""

import numpy as np
import pytest

import candle_numpy as cn

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def test_item_assignment_writes_in_place_and_through_shared_memory():
    a = np.zeros((3, 4), dtype=np.float32)
    t = cn.from_numpy(a)
    t[1, 2] = 5
    t[0] = cn.torch.tensor([1.0, 2.0, 3.0, 4.0])
    t[2, 1:3] = np.array([7, 8])  # an int64 array, cast to float32
    t[..., 3] = -1.5
    assert a.tolist() == [[1, 2, 3, -1.5], [0, 0, 5, -1.5], [0, 7, 8, -1.5]]
    # into a view: it writes through to the base (unit steps are views, as in torch)
    row = t[1]
    row[0] = 9
    assert a[1, 0] == 9
    b = t.clone()
    b[1][3] = 42  # the chained form of issue 17, on a tensor of its own
    assert b.numpy()[1, 3] == 42 and a[1, 3] == -1.5
    # integer tensors: Python floats truncate, as torch's
    i = cn.torch.tensor([1, 2, 3])
    i[0] = 2.9
    i[cn.torch.tensor(2)] = 7  # a 0-d integer tensor as the index
    assert i.tolist() == [2, 2, 7]


def test_item_assignment_refusals_name_the_problem():
    t = cn.torch.tensor(np.arange(6.0))
    with pytest.raises(ValueError, match="negative slice steps"):
        t[::-1] = 0
    assert t.tolist() == list(np.arange(6.0))
    with pytest.raises(IndexError, match="out of bounds"):
        t[6] = 1
    with pytest.raises(ValueError):
        t[0:2] = [1.0, 2.0, 3.0]  # cannot broadcast 3 into 2
    with pytest.raises(TypeError, match="got dict"):
        t[{0: 1}] = 1
    with pytest.raises(IndexError, match="must be long, int, byte or bool"):
        t[[0.5]] = 1
    ro = np.arange(3.0)
    ro.setflags(write=False)
    with pytest.raises(cn.ShareError):
        cn.as_tensor(ro)[0] = 5
    assert ro.tolist() == [0.0, 1.0, 2.0]
    w = cn.torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        w[0] = 3
    with cn.torch.no_grad():
        w[0] = 3
    assert w.tolist() == [3.0, 2.0]


def keys(shape):
    """A basic index for an array of `shape`: ints, slices (any step), None, one Ellipsis."""
    def axis_key(n):
        return st.one_of(
            st.integers(-n, n - 1),
            st.builds(slice, st.none() | st.integers(-n - 1, n + 1), st.none() | st.integers(-n - 1, n + 1),
                      st.none() | st.sampled_from([1, 1, 1, 2, 3, -1])),
        )

    per_axis = st.tuples(*[axis_key(n) for n in shape])
    return st.builds(
        lambda ks, cut, newaxis, ellipsis: (
            (ks[:cut] + ((Ellipsis,) if ellipsis else ()) + ((None,) if newaxis else ()))
        ),
        per_axis, st.integers(0, len(shape)), st.booleans(), st.booleans(),
    )


shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)


@settings(max_examples=400, deadline=None)
@given(shape_key=shapes.flatmap(lambda s: st.tuples(st.just(s), keys(s))), value=st.integers(-50, 50))
def test_assignment_reaches_what_numpy_reaches_or_raises(shape_key, value):
    shape, key = shape_key
    a = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    expect = a.copy()
    expect[key] = value
    t = cn.from_numpy(a)
    steps = [k.step for k in key if isinstance(k, slice) and k.step is not None and k.step < 0]
    try:
        t[key] = value
    except ValueError as e:
        # only a negative step over more than one element may be refused, and nothing moved
        assert steps, f"{key}: {e}"
        assert a.tolist() == np.arange(np.prod(shape), dtype=np.float64).reshape(shape).tolist()
        return
    assert a.tolist() == expect.tolist(), key


def test_writes_through_a_stepped_slice_raise_instead_of_reaching_only_a_copy():
    x = cn.torch.tensor(np.arange(6.0))
    y = x[::2]  # torch: a view of x; candle has no step, so a gathered copy
    assert y.tolist() == [0.0, 2.0, 4.0]
    for write in (lambda: y.__iadd__(1), lambda: y.add_(1), lambda: y.fill_(0), lambda: y.zero_(),
                  lambda: y.copy_(cn.torch.tensor([1.0, 1.0, 1.0])), lambda: y.__setitem__(0, 5)):
        with pytest.raises(ValueError, match="step above one"):
            write()
    with pytest.raises(ValueError):  # NumPy's view of it is read-only too
        y.numpy()[0] = 7
    assert x.tolist() == list(np.arange(6.0)) and y.tolist() == [0.0, 2.0, 4.0]
    # views of the copy refuse as well; fresh results and clones are ordinary tensors
    with pytest.raises(ValueError, match="step above one"):
        y[1:].add_(1)
    z = y.clone()
    z += 1
    w = y * 2
    w[0] = -1
    assert z.tolist() == [1.0, 3.0, 5.0] and w.tolist() == [-1.0, 4.0, 8.0]
    # a unit step, or a stepped slice of a single element, is a view that writes through
    x[1:3] += 10
    x[4:5:3] += 100
    assert x.tolist() == [0.0, 11.0, 12.0, 3.0, 104.0, 5.0]
    # the ways to write through a step: assignment on the original (`x[::2] = v`, written in
    # place), or NumPy's view of the original
    a = np.arange(6.0)
    t = cn.from_numpy(a)
    t.numpy()[::2] += 1
    assert a.tolist() == [1.0, 1.0, 3.0, 3.0, 5.0, 5.0]
    t[1::2] = t[1::2] * 10
    t[::3] = cn.torch.tensor([-1.0, -2.0])
    assert a.tolist() == [-1.0, 10.0, 3.0, -2.0, 5.0, 50.0]
