"""cn.cdist / cn.torch.cdist against a float64 NumPy reference, the hard cases, errors."""

import numpy as np
import pytest

import candle_numpy as cn


def reference(a, b, p):
    d = np.abs(a.astype(np.float64)[..., :, None, :] - b.astype(np.float64)[..., None, :, :])
    if np.isinf(p):
        return d.max(-1)
    return (d ** p).sum(-1) ** (1.0 / p)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, np.inf])
@pytest.mark.parametrize("dtype,rtol", [(np.float32, 3e-6), (np.float64, 1e-12), (np.float16, 2e-3)])
@pytest.mark.parametrize("batched", [False, True])
def test_matches_float64_reference(p, dtype, rtol, batched):
    rng = np.random.default_rng(0)
    shape_a, shape_b = ((3, 40, 5), (3, 30, 5)) if batched else ((40, 5), (30, 5))
    a = (rng.random(shape_a) * 20 - 5).astype(dtype)
    b = (rng.random(shape_b) * 20 - 5).astype(dtype)
    d = cn.cdist(a, b, p=p)
    assert d.shape == shape_a[:-1] + (shape_b[-2],)
    assert d.dtype == np.dtype(dtype).name
    np.testing.assert_allclose(d.numpy().astype(np.float64), reference(a, b, p), rtol=rtol)


def test_hard_cases_torch_gets_wrong_are_exact():
    x = np.array([[512695.0], [512804.0]], np.float32)
    for mode in ("use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"):
        assert cn.torch.cdist(x, x, compute_mode=mode).tolist() == [[0.0, 109.0], [109.0, 0.0]]
    X = (1e4 + np.random.default_rng(1).random((500, 8))).astype(np.float32)
    D = cn.cdist(X, X).numpy()
    assert (np.diag(D) == 0).all() and (D >= 0).all() and np.isfinite(D).all()
    np.testing.assert_array_equal(D, D.T)


def test_metrics_empty_and_tensors():
    a = cn.tensor(np.array([[1.0, 0.0], [0.0, 2.0]], np.float32))
    b = np.array([[3.0, 0.0], [0.0, 0.0]], np.float32)
    np.testing.assert_allclose(cn.cdist(a, b, metric="sqeuclidean").numpy(), [[4, 1], [13, 4]])
    np.testing.assert_allclose(cn.cdist(a, b, metric="cosine").numpy(), [[0, 1], [1, 1]])
    assert cn.cdist(np.zeros((0, 3), np.float32), np.ones((4, 3), np.float32)).shape == (0, 4)


def test_errors_name_the_problem():
    a, b = np.zeros((3, 4), np.float32), np.zeros((2, 5), np.float32)
    with pytest.raises(cn.ShapeError, match="x1 has 4 features per row.*x2 has 5"):
        cn.cdist(a, b)
    with pytest.raises(ValueError, match="p -1 is invalid.*p > 0"):
        cn.cdist(a, a, p=-1)
    with pytest.raises(ValueError, match='unknown metric "hamming"'):
        cn.cdist(a, a, metric="hamming")
    with pytest.raises(cn.DTypeError, match="floating-point"):
        cn.cdist(np.zeros((2, 2), np.int64), np.zeros((2, 2), np.int64))
    with pytest.raises(ValueError, match="4000000 bytes"):
        cn.cdist(np.zeros((1000, 2), np.float32), np.zeros((1000, 2), np.float32), max_output_bytes=1 << 20)


def test_gradient_is_zero_not_nan_at_zero_distance():
    x = cn.torch.tensor([[0.0, 0.0], [3.0, 4.0]], requires_grad=True)
    y = cn.torch.tensor([[0.0, 0.0]])
    d = cn.torch.cdist(x, y)
    assert d.requires_grad
    d.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.0], [0.6, 0.8]], rtol=1e-6)


@pytest.mark.parametrize("m,mode", [(3, "use_mm_for_euclid_dist_if_necessary"), (20, "donot_use_mm_for_euclid_dist"),
                                    (20, "use_mm_for_euclid_dist")])
@pytest.mark.parametrize("p", [1.0, 2.0, np.inf])
@pytest.mark.parametrize("same", [False, True])
def test_nan_and_inf_reach_only_their_own_pairs(m, mode, p, same):
    # Before: on the GEMM path one NaN made its whole column's mean NaN, and every distance
    # came out 0. Now every kernel gives what direct differences give (torch's answer too).
    rng = np.random.default_rng(2)
    a = rng.random((40, m)).astype(np.float32)
    a[3, 2], a[7, 1] = np.nan, np.inf
    b = a if same else rng.random((30, m)).astype(np.float32)
    if not same:
        b[5, 0] = np.nan
    d = cn.cdist(a, b, p=p, compute_mode=mode).numpy().astype(np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf in the reference, as intended
        want = reference(a, b, p)
    np.testing.assert_allclose(d, want, rtol=3e-6)  # NaN exactly where the reference has it
    assert np.isnan(d[3]).all() and np.isnan(d[:, 3 if same else 5]).all()
    assert np.isfinite(np.delete(np.delete(d, [3, 7], 0), [3, 7] if same else [5], 1)).all()


@pytest.mark.parametrize("shape_b", [None, (2999, 20)])
def test_every_entry_of_a_multi_tile_output_is_written(shape_b):
    # 3001 rows of 12 KB outputs: nine row tiles of 349 (not a multiple of the 8 x 8 mirror
    # blocks); the output is never zeroed, so a missed entry would show as garbage here
    rng = np.random.default_rng(3)
    a = rng.random((3001, 20)).astype(np.float32)
    b = a if shape_b is None else rng.random(shape_b).astype(np.float32)
    # the second call reuses the first one's freed buffer, which holds distances 3x too large
    for scale in (3.0, 1.0):
        a_s, b_s = a * np.float32(scale), b * np.float32(scale)
        d = cn.cdist(a_s, b_s).numpy()
        a64, b64 = a_s.astype(np.float64), b_s.astype(np.float64)
        sq = (a64 ** 2).sum(1)[:, None] + (b64 ** 2).sum(1)[None, :] - 2 * a64 @ b64.T
        np.testing.assert_allclose(d, np.sqrt(np.maximum(sq, 0)), rtol=2e-5, atol=2e-5)
        if shape_b is None:
            np.testing.assert_array_equal(d, d.T)
            assert (np.diag(d) == 0).all()
        del d
