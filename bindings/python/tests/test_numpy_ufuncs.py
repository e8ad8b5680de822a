"""NumPy functions and NumPy operands on the left give tensors, as torch's do (issue 17 item 1)."""

import numpy as np
import pytest

import candle_numpy as cn


def test_numpy_on_the_left_of_an_operator_is_tensor_arithmetic():
    t = cn.torch.tensor([1.0, 2.0, 3.0])
    a = np.array([10.0, 20.0, 30.0], dtype=np.float32)
    for r, expect in [(a + t, [11, 22, 33]), (a - t, [9, 18, 27]), (a * t, [10, 40, 90]),
                      (a / t, [10, 10, 10]), (np.float32(2) * t, [2, 4, 6]), (np.float64(1) - t, [0, -1, -2])]:
        assert cn.torch.is_tensor(r) and r.tolist() == expect
    # torch's promotion: a NumPy scalar is a 0-d operand (its category, not its width, counts)
    assert (np.float64(2) * t).dtype == "float32"
    assert (np.arange(3) * cn.torch.tensor([1, 2, 3])).dtype == "int64"
    # comparisons, with the operands the right way round
    eq = np.array([1.0, 0.0, 3.0]) == t
    assert cn.torch.is_tensor(eq) and eq.tolist() == [1, 0, 1]
    assert (np.array([2.0, 2.0, 2.0]) < t).tolist() == [0, 0, 1]
    assert (np.array([2.0, 2.0, 2.0]) >= t).tolist() == [1, 1, 0]
    # the gradient is kept (torch: np.float32(2) * x is a tensor in the graph)
    w = cn.torch.tensor([1.0, 2.0], requires_grad=True)
    y = np.float32(3) * w
    assert y.requires_grad
    y.sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


def test_other_numpy_functions_compute_in_numpy_and_share_the_result():
    t = cn.torch.tensor([0.0, 1.0, 4.0])
    s = np.sqrt(t)
    assert cn.torch.is_tensor(s) and s.tolist() == [0.0, 1.0, 2.0] and s.dtype == "float32"
    assert np.sin(t).tolist() == pytest.approx(np.sin(np.array([0.0, 1.0, 4.0], dtype=np.float32)).tolist())
    m = np.maximum(t, 2.0)
    assert cn.torch.is_tensor(m) and m.tolist() == [2.0, 2.0, 4.0]
    # 0-d operands and reductions give 0-d tensors, not NumPy scalars
    z = np.exp(cn.torch.tensor(0.0))
    assert cn.torch.is_tensor(z) and z.shape == () and z.item() == 1.0
    r = np.add.reduce(t)
    assert cn.torch.is_tensor(r) and r.item() == 5.0
    # several outputs: a tuple of tensors
    frac, whole = np.modf(cn.torch.tensor([1.5, -2.25]))
    assert cn.torch.is_tensor(frac) and frac.tolist() == [0.5, -0.25] and whole.tolist() == [1.0, -2.0]
    # out= writes into the tensor's own memory and returns it
    a = np.zeros(3, dtype=np.float32)
    dst = cn.from_numpy(a)
    got = np.add(t.numpy(), 1, out=dst)
    assert got is dst and a.tolist() == [1.0, 2.0, 5.0]
    got = np.multiply(t, 2, out=(dst,))
    assert got is dst and a.tolist() == [0.0, 2.0, 8.0]


def test_refusals_are_clear():
    w = cn.torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        np.sin(w)
    assert np.sin(w.detach()).tolist() == pytest.approx(np.sin([1.0, 2.0]).tolist())
    ro = np.arange(3.0)
    ro.setflags(write=False)
    with pytest.raises(cn.ShareError):
        np.add(ro, 1, out=cn.as_tensor(ro))
    with pytest.raises(ValueError, match="step above one"):
        np.add(np.ones(2), 1, out=cn.torch.tensor(np.arange(4.0))[::2])
