import numpy as np
import pytest

import tiny_model


def reference(x):
    """The same model in NumPy, with the weights the extension sets."""
    w1 = (np.arange(32, dtype=np.float32) * 0.01 - 0.02).reshape(8, 4)
    b1 = np.arange(8, dtype=np.float32) * 0.01
    w2 = (np.arange(8, dtype=np.float32) * 0.01 - 0.02).reshape(1, 8)
    b2 = np.zeros(1, dtype=np.float32)
    h = np.maximum(x @ w1.T + b1, 0)
    return 1 / (1 + np.exp(-(h @ w2.T + b2)))


def test_forward_matches_numpy():
    m = tiny_model.TinyModel()
    x = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    y = m.forward(x)
    assert isinstance(y, np.ndarray) and y.shape == (16, 1) and y.dtype == np.float32
    np.testing.assert_allclose(y, reference(x), rtol=1e-5, atol=1e-6)
    # float64 and strided inputs are copied, not refused
    np.testing.assert_allclose(m.forward(x.astype(np.float64)[::-1]), reference(x[::-1]), rtol=1e-5, atol=1e-6)


def test_shared_argument_writes_through():
    m = tiny_model.TinyModel()
    a = np.ones(5, dtype=np.float32)
    m.scale_in_place(a, 3.0)
    assert a.tolist() == [3.0] * 5
    with pytest.raises(ValueError, match="negative stride"):
        m.scale_in_place(np.ones(5, dtype=np.float32)[::-1], 2.0)


def test_weight_view():
    w = tiny_model.TinyModel().weight()
    assert w.shape == (8, 4) and abs(w[0, 0] + 0.02) < 1e-7
