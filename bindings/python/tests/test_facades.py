"""cn.torch and cn.tf constructors: each framework's semantics, ported line for line."""

import numpy as np
import pytest

import candle_numpy as cn


def test_torch_constructors_share_or_copy_as_torch_does():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    assert cn.shares_memory(a, cn.torch.from_numpy(a))
    assert cn.shares_memory(a, cn.torch.as_tensor(a))
    assert not cn.shares_memory(a, cn.torch.as_tensor(a, dtype=cn.torch.float32))
    t = cn.torch.tensor(a, dtype=cn.torch.float32, requires_grad=True)
    assert not cn.shares_memory(a, t) and t.dtype == "float32" and t.requires_grad
    T = cn.torch.Tensor([[1, 2], [3, 4]])
    assert T.dtype == "float32" and T.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(cn.ShareError):
        cn.torch.from_numpy(a[::-1])


def test_torch_inference_and_names():
    assert cn.torch.tensor([1, 2]).dtype == "int64"
    assert cn.torch.tensor([1.0, 2]).dtype == "float32"
    assert cn.torch.tensor([True]).dtype == "uint8"
    for name in ("float16", "bfloat16", "float32", "float64", "int16", "int32", "int64", "uint8"):
        assert getattr(cn.torch, name) == name
    assert cn.torch.long == "int64" and cn.torch.half == "float16" and cn.torch.double == "float64"
    assert cn.torch.device("CUDA") == "cuda:0" and cn.torch.device("cpu") == "cpu"
    assert cn.torch.cuda.is_available() == cn.cuda.is_available()


def test_tf_constructors_always_copy():
    a = np.ones((2, 2), dtype=np.float32)
    for t in (cn.tf.convert_to_tensor(a), cn.tf.constant(a)):
        assert not cn.shares_memory(a, t) and t.dtype == "float32"
    assert cn.tf.convert_to_tensor(a, dtype=cn.tf.float64).dtype == "float64"


def test_tf_inference_and_dtype_hint():
    assert cn.tf.constant([1, 2]).dtype == "int32"
    assert cn.tf.constant([1.5]).dtype == "float32"
    assert cn.tf.convert_to_tensor([1, 2], dtype_hint=cn.tf.float32).dtype == "float32"
    # dtype_hint never overrides an array's own dtype
    assert cn.tf.convert_to_tensor(np.zeros(2, np.int64), dtype_hint="float32").dtype == "int64"
    assert cn.tf.convert_to_tensor(np.arange(3)).dtype == "int64"


def test_tf_constant_shape_broadcasts_a_scalar():
    c = cn.tf.constant(0.5, shape=(2, 3))
    assert c.shape == (2, 3) and c.tolist() == [[0.5] * 3] * 2
    assert cn.tf.constant([1, 2, 3, 4], shape=[2, 2]).tolist() == [[1, 2], [3, 4]]
    assert cn.tf.constant(7, shape=()).shape == ()
    with pytest.raises(ValueError, match="cannot fill shape"):
        cn.tf.constant([1, 2, 3], shape=(2, 2))


def test_tf_variable_copies_and_assigns_in_place():
    a = np.ones((2, 2), dtype=np.float32)
    v = cn.tf.Variable(a)
    assert v.trainable and v.shape == (2, 2) and v.dtype == "float32"
    a[0, 0] = 5
    assert v.numpy()[0, 0] == 1, "the initial value was copied"
    view = v.value()
    v.assign(np.full((2, 2), 3.0))
    assert view.tolist() == [[3.0, 3.0], [3.0, 3.0]], "value() shares the variable's memory"
    snapshot = v.read_value()
    v.assign_add(1)
    assert np.asarray(v).tolist() == [[4.0, 4.0]] * 2 and snapshot.tolist() == [[3.0, 3.0]] * 2
    assert cn.tf.Variable([1, 2], trainable=False).dtype == "int32"
    assert not cn.tf.Variable(0.5, trainable=False).trainable
    assert cn.tf.Variable([1, 2], dtype="float64").dtype == "float64"
    with pytest.raises(cn.CandleNumpyError):
        v.assign(np.ones((3, 3)))


def test_torch_tensor_is_the_class_and_the_legacy_constructor():
    t = cn.torch.tensor([1.0, 2.0])
    assert cn.torch.Tensor is cn.Tensor
    assert isinstance(t, cn.torch.Tensor) and cn.torch.is_tensor(t)
    assert not cn.torch.is_tensor(np.zeros(2)) and not isinstance([1.0], cn.torch.Tensor)
    # data: a float32 copy, whatever the source dtype
    a = np.arange(4, dtype=np.int64)
    T = cn.torch.Tensor(a)
    assert T.dtype == "float32" and T.tolist() == [0.0, 1.0, 2.0, 3.0] and not cn.shares_memory(a, T)
    assert cn.torch.Tensor((2, 3)).tolist() == [2.0, 3.0]  # a tuple is data, as in torch
    # integer sizes: a float32 tensor of that shape, zeros
    z = cn.torch.Tensor(2, 3)
    assert z.shape == (2, 3) and z.dtype == "float32" and z.tolist() == [[0.0] * 3] * 2
    z += 1  # writable, and its own memory
    assert z.sum().item() == 6.0 and cn.torch.Tensor(2, 3).sum().item() == 0.0
    e = cn.torch.Tensor()
    assert e.shape == (0,) and e.dtype == "float32"
    assert cn.torch.Tensor(0, 4).shape == (0, 4)
    with pytest.raises(ValueError, match="negative"):
        cn.torch.Tensor(-1, 2)
    with pytest.raises(TypeError, match="takes one data argument"):
        cn.torch.Tensor([1.0], 2)
    with pytest.raises(TypeError, match="takes one data argument"):
        cn.torch.Tensor(2, 3.0)


def test_number_conversions_of_one_element_tensors():
    f = cn.torch.tensor([2.75])
    assert float(f) == 2.75 and isinstance(float(f), float)
    assert int(f) == 2 and int(cn.torch.tensor(-2.75)) == -2 and isinstance(int(f), int)
    i = cn.torch.tensor(7)
    assert float(i) == 7.0 and int(i) == 7
    assert int(cn.torch.tensor(2**40)) == 2**40
    assert float(cn.torch.tensor([[1.5]], dtype="float16")) == 1.5
    # as an index: integer tensors of one element only
    xs = [10, 11, 12, 13]
    assert xs[cn.torch.tensor(2)] == 12 and xs[cn.torch.tensor([3])] == 13
    assert list(range(cn.torch.tensor(3))) == [0, 1, 2]
    assert np.arange(5)[cn.torch.tensor(4)] == 4
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        xs[cn.torch.tensor(1.0)]
    with pytest.raises(TypeError, match=r"shape \[2\]"):
        xs[cn.torch.tensor([1, 2])]
    # several elements: a ValueError naming the shape, as item() gives
    for conv in (float, int):
        with pytest.raises(ValueError, match=r"shape \[2\]"):
            conv(cn.torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="NaN"):
        int(cn.torch.tensor(float("nan")))
    with pytest.raises(OverflowError):
        int(cn.torch.tensor(float("inf")))
    # a tensor that requires grad converts too (as torch's float(x))
    w = cn.torch.tensor([0.5], requires_grad=True)
    assert float(w) == 0.5
    # arithmetic with a one-element tensor on the right stays tensor arithmetic
    r = cn.torch.tensor([1, 2]) + cn.torch.tensor(3)
    assert cn.torch.is_tensor(r) and r.dtype == "int64" and r.tolist() == [4, 5]
    assert (cn.torch.tensor([1.0, 2.0]) * cn.torch.tensor([2.0])).tolist() == [2.0, 4.0]


def test_torch_constructors_and_functional_forms():
    t = cn.torch
    z = t.zeros(2, 3)
    assert z.shape == (2, 3) and z.dtype == "float32" and z.tolist() == [[0.0] * 3] * 2
    assert t.zeros((2, 3)).shape == t.zeros([2, 3]).shape == (2, 3)
    assert t.ones(3, dtype=t.int64).tolist() == [1, 1, 1]
    assert t.empty(0, 2).shape == (0, 2)
    assert t.full((2,), 7).dtype == "int64" and t.full((2,), 1.5).dtype == "float32"
    assert t.full(2, True).tolist() == [1, 1]
    assert t.arange(4).tolist() == [0, 1, 2, 3] and t.arange(4).dtype == "int64"
    assert t.arange(1, 2, 0.25).tolist() == [1.0, 1.25, 1.5, 1.75] and t.arange(1, 2, 0.25).dtype == "float32"
    x = t.tensor([[1, 2], [3, 4]])
    assert t.zeros_like(x).dtype == "int64" and t.ones_like(x, dtype="float64").tolist() == [[1.0, 1.0]] * 2
    assert t.full_like(x, 9).tolist() == [[9, 9], [9, 9]] and t.empty_like(x).shape == (2, 2)
    t.manual_seed(3)
    a = t.randn(4, 5)
    t.manual_seed(3)
    assert a.tolist() == t.randn(4, 5).tolist() and a.dtype == "float32"
    r = t.rand(1000)
    assert 0.0 <= np.min(r.numpy()) and np.max(r.numpy()) < 1.0 and r.dtype == "float32"
    w = t.zeros(2, requires_grad=True)
    assert w.requires_grad
    assert t.mean(t.tensor([1.0, 2.0])).item() == 1.5 and t.mean(x.float(), dim=0).tolist() == [2.0, 3.0]
    assert t.mul(x, 2).tolist() == [[2, 4], [6, 8]] and t.div(x, 2).tolist() == [[0.5, 1.0], [1.5, 2.0]]
    assert t.true_divide is t.div
    a = np.arange(3.0)
    assert cn.shares_memory(a, t.from_dlpack(a))
    with pytest.raises(ValueError, match="negative"):
        t.zeros(-1)
    with pytest.raises(TypeError, match="sizes must be integers"):
        t.ones(2.5)
    with pytest.raises(ValueError, match="step must be nonzero"):
        t.arange(0, 3, 0)
