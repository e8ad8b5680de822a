"""The Tensor class: properties, views, casts, indexing, arithmetic, exports."""

import numpy as np
import pytest

import candle_numpy as cn
from conftest import data_ptr


@pytest.fixture
def t():
    return cn.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))


def test_properties(t):
    assert t.shape == (2, 3, 4) and t.ndim == 3 and len(t) == 2
    assert t.dtype == "float32" and t.device == "cpu"
    assert not t.requires_grad
    t.requires_grad = True
    assert t.requires_grad and "requires_grad=True" in repr(t)
    with pytest.raises(TypeError):
        len(cn.tensor(1.0))


def test_casts(t):
    assert t.double().dtype == "float64"
    assert t.half().dtype == "float16"
    assert t.bfloat16().dtype == "bfloat16"
    assert t.long().dtype == "int64"
    assert t.int().dtype == "int32"
    assert t.float().dtype == "float32"
    assert t.to("float64").dtype == "float64"
    assert t.to(np.int16).dtype == "int16"
    assert t.to("cpu").device == "cpu"
    assert t.cpu().tolist() == t.tolist()
    if not cn.cuda.is_available():
        with pytest.raises(cn.DeviceError):
            t.cuda()


def test_views_share_memory(t):
    base = data_ptr(t.numpy())
    p = t.permute(2, 0, 1)
    assert p.shape == (4, 2, 3)
    assert p.numpy().tolist() == np.transpose(t.numpy(), (2, 0, 1)).tolist()
    assert t.transpose(0, 2).shape == (4, 3, 2)
    assert t.permute((1, 0, 2)).shape == (3, 2, 4)
    r = t.reshape(6, -1)
    assert r.shape == (6, 4) and data_ptr(r.numpy()) == base
    assert t.reshape((24,)).shape == (24,)
    with pytest.raises(ValueError, match="cannot reshape"):
        t.reshape(5, -1)
    assert t[0].T.shape == (4, 3)


def test_contiguous_and_clone(t):
    p = t.permute(2, 1, 0)
    assert not p.is_contiguous()
    c = p.contiguous()
    assert c.is_contiguous() and c.tolist() == p.tolist()
    assert t.contiguous() is t
    k = t.clone()
    k.fill_(0)
    assert t.numpy().sum() == 276


def test_indexing(t):
    assert t[1].shape == (3, 4)
    assert t[-1, 2].tolist() == [20, 21, 22, 23]
    assert t[:, 1:3].shape == (2, 2, 4)
    assert t[..., 0].tolist() == [[0, 4, 8], [12, 16, 20]]
    assert t[None].shape == (1, 2, 3, 4)
    assert t[:, None, :, ::2].shape == (2, 1, 3, 2)
    assert t[0, :, ::3].tolist() == [[0, 3], [4, 7], [8, 11]]
    v = t[1, 1:]
    v.fill_(-1)
    assert (t.numpy()[1, 1:] == -1).all(), "basic slices are views"
    with pytest.raises(IndexError, match="out of bounds"):
        t[5]
    with pytest.raises(IndexError, match="too many"):
        t[0, 0, 0, 0]
    with pytest.raises(ValueError, match="negative slice steps"):
        t[::-1]
    with pytest.raises(TypeError, match="got str"):
        t["a"]
    assert t[[0, 1]].shape == (2,) + t.shape[1:]  # advanced indexing: see test_indexing.py


def test_arithmetic():
    a = cn.tensor([1.0, 2.0, 3.0])
    assert (a + 1).tolist() == [2, 3, 4]
    assert (1 + a).tolist() == [2, 3, 4]
    assert (a - 1).tolist() == [0, 1, 2]
    assert (10 - a).tolist() == [9, 8, 7]
    assert (a * a).tolist() == [1, 4, 9]
    assert (a / 2).tolist() == [0.5, 1, 1.5]
    assert (6 / a).tolist() == [6, 3, 2]
    assert (-a).tolist() == [-1, -2, -3]
    m = cn.tensor(np.ones((2, 3), dtype=np.float32))
    assert (m + a).shape == (2, 3), "broadcasting"
    assert (m * np.array([1.0, 2.0, 3.0], dtype=np.float32)).tolist()[0] == [1, 2, 3]
    with pytest.raises(cn.ShapeError):
        m + cn.tensor([1.0, 2.0])


def test_in_place_shape_mismatch_is_refused():
    a = cn.tensor([1.0, 2.0, 3.0])
    with pytest.raises(cn.ShapeError, match="in place"):
        a += cn.tensor(np.ones((2, 3), dtype=np.float32))


def test_exports(t):
    arr = np.asarray(t)
    assert arr.shape == (2, 3, 4) and data_ptr(arr) == data_ptr(t.numpy())
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert t.tolist()[1][2][3] == 23.0
    assert isinstance(t.tolist()[0][0][0], float)
    r = repr(cn.tensor([[1, 2], [3, 4]]))
    assert r.startswith("tensor([[1 2]") and "dtype=int64" in r


def test_iteration():
    rows = list(cn.tensor([[1, 2], [3, 4]]))
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4]]


def test_empty_tensors_are_writable_not_broadcasts():
    e = cn.tensor(np.zeros((2, 0), dtype=np.float32))
    assert not e.is_readonly
    assert e.numpy().flags.writeable and e.shape == (2, 0)
