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
