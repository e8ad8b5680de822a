"""cn.torch.nn's convolution, pooling, normalisation and embedding layers (and their
``nn.functional`` forms) checked against NumPy references written here: values and gradients,
buffers and ``state_dict``, initialisation, errors, and a small CNN trained end to end.

The references work in float64: convolution and pooling gather windows with
``sliding_window_view`` and contract them with ``einsum``; their gradients are the adjoints
written out (a convolution is linear, so the finite differences of a float64 convolution agree
with them to rounding)."""

import math

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import candle_numpy as cn

torch = cn.torch
nn = cn.torch.nn
F = cn.torch.nn.functional


# --- NumPy references ---------------------------------------------------------------------------


def pad4(x, pad, value=0.0):
    """Pad the last two axes of ``x`` by ``(top, bottom, left, right)``."""
    t, b, left, right = pad
    return np.pad(x, ((0, 0), (0, 0), (t, b), (left, right)), constant_values=value)


def windows(xp, kernel, stride, dilation):
    """``(N, C, OH, OW, kh, kw)``: the dilated receptive field of each output position."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    v = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    return v[:, :, ::sh, ::sw, ::dh, ::dw]


def same_pad(kernel, dilation):
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    # torch: the odd extra pad goes to the bottom and the right
    return (total[0] // 2, total[0] - total[0] // 2, total[1] // 2, total[1] - total[1] // 2)


def ref_conv2d(x, w, b=None, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    win = windows(pad4(x, pad), w.shape[2:], stride, dilation)
    cg, og = x.shape[1] // groups, w.shape[0] // groups
    y = np.concatenate(
        [
            np.einsum("nchwij,ocij->nohw", win[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og])
            for g in range(groups)
        ],
        axis=1,
    )
    return y if b is None else y + b[None, :, None, None]


def ref_conv2d_grads(x, w, r, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Gradients of ``sum(conv2d(x, w, b) * r)`` with respect to x, w and b."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    (sh, sw), (dh, dw) = stride, dilation
    t, bt, left, right = pad
    oh, ow = r.shape[2:]
    win = windows(pad4(x, pad), (kh, kw), stride, dilation)
    dxp = np.zeros((n, c, h + t + bt, wd + left + right))
    dw_ = np.zeros_like(w)
    for g in range(groups):
        ci, oi = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
        dw_[oi] = np.einsum("nchwij,nohw->ocij", win[:, ci], r[:, oi])
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
                cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
                dxp[:, ci, rows, cols] += np.einsum("nohw,oc->nchw", r[:, oi], w[oi, :, i, j])
    return dxp[:, :, t:t + h, left:left + wd], dw_, r.sum(axis=(0, 2, 3))


def ref_max_pool2d(x, kernel, stride, pad=(0, 0), dilation=(1, 1)):
    win = windows(pad4(x, (pad[0], pad[0], pad[1], pad[1]), -np.inf), kernel, stride, dilation)
    return win.max(axis=(-2, -1))


def ref_max_pool2d_grad(x, r, kernel, stride, pad=(0, 0), dilation=(1, 1)):
    """Each window's gradient to its first maximum (row-major order within the window)."""
    kh, kw = kernel
    win = windows(pad4(x, (pad[0], pad[0], pad[1], pad[1]), -np.inf), kernel, stride, dilation)
    first = win.reshape(*win.shape[:4], kh * kw).argmax(-1)
    n, c, oh, ow = np.indices(first.shape)
    rows = oh * stride[0] + (first // kw) * dilation[0] - pad[0]
    cols = ow * stride[1] + (first % kw) * dilation[1] - pad[1]
    dx = np.zeros_like(x)
    np.add.at(dx, (n, c, rows, cols), r)
    return dx


def ref_avg_pool2d(x, kernel, stride, pad=(0, 0), count_include_pad=True):
    p4 = (pad[0], pad[0], pad[1], pad[1])
    total = windows(pad4(x, p4), kernel, stride, (1, 1)).sum(axis=(-2, -1))
    return total / avg_divisor(x.shape, kernel, stride, pad, count_include_pad)


def avg_divisor(shape, kernel, stride, pad, count_include_pad):
    if count_include_pad:
        return float(kernel[0] * kernel[1])
    ones = np.ones((1, 1, *shape[2:]))
    return windows(pad4(ones, (pad[0], pad[0], pad[1], pad[1])), kernel, stride, (1, 1)).sum(axis=(-2, -1))


def ref_avg_pool2d_grad(x, r, kernel, stride, pad=(0, 0), count_include_pad=True):
    n, c, h, w = x.shape
    g = r / avg_divisor(x.shape, kernel, stride, pad, count_include_pad)
    oh, ow = r.shape[2:]
    dxp = np.zeros((n, c, h + 2 * pad[0], w + 2 * pad[1]))
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            dxp[:, :, i:i + stride[0] * (oh - 1) + 1:stride[0], j:j + stride[1] * (ow - 1) + 1:stride[1]] += g
    return dxp[:, :, pad[0]:pad[0] + h, pad[1]:pad[1] + w]


def adaptive_bounds(size, out):
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def ref_adaptive_avg_pool2d(x, out):
    oh, ow = out
    y = np.zeros((*x.shape[:-2], oh, ow))
    for i, (y0, y1) in enumerate(adaptive_bounds(x.shape[-2], oh)):
        for j, (x0, x1) in enumerate(adaptive_bounds(x.shape[-1], ow)):
            y[..., i, j] = x[..., y0:y1, x0:x1].mean(axis=(-2, -1))
    return y


def ref_batch_norm_train(x, w, b, eps=1e-5):
    """Output, batch mean and UNBIASED batch variance (what the running estimate takes)."""
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if w is not None:
        y = y * w.reshape(shape) + b.reshape(shape)
    n = x.size // x.shape[1]
    return y, mean, var * n / (n - 1)


def ref_batch_norm_train_grads(x, w, g, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    xhat = (x - mean) / np.sqrt(var + eps)
    gw = g * w.reshape(shape)
    dx = (gw - gw.mean(axis=axes, keepdims=True) - xhat * (gw * xhat).mean(axis=axes, keepdims=True)) / np.sqrt(
        var + eps
    )
    return dx, (g * xhat).sum(axis=axes), g.sum(axis=axes)


def ref_batch_norm_eval(x, rm, rv, w, b, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - rm.reshape(shape)) / np.sqrt(rv.reshape(shape) + eps)
    return y if w is None else y * w.reshape(shape) + b.reshape(shape)


def ref_layer_norm(x, ndims, w=None, b=None, eps=1e-5):
    axes = tuple(range(x.ndim - ndims, x.ndim))
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    if w is not None:
        y = y * w
    return y if b is None else y + b


def ref_layer_norm_grads(x, ndims, w, g, eps=1e-5):
    axes = tuple(range(x.ndim - ndims, x.ndim))
    lead = tuple(range(x.ndim - ndims))
    sigma = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xhat = (x - x.mean(axis=axes, keepdims=True)) / sigma
    gw = g * w
    dx = (gw - gw.mean(axis=axes, keepdims=True) - xhat * (gw * xhat).mean(axis=axes, keepdims=True)) / sigma
    return dx, (g * xhat).sum(axis=lead), g.sum(axis=lead)


# --- helpers ------------------------------------------------------------------------------------


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def single(v):
    return v[0] if isinstance(v, tuple) else v


def leaf(a):
    return torch.tensor(np.asarray(a), requires_grad=True)


def npy(t):
    return t.detach().numpy()


def f64(t):
    return npy(t).astype(np.float64)


def backward_with(y, r):
    """Backpropagate ``sum(y * r)`` (so the gradient flowing into ``y`` is ``r``)."""
    (y * torch.tensor(r.astype(npy(y).dtype))).sum().backward()


# --- conv2d / conv1d values and gradients -------------------------------------------------------

CONV2D_CASES = {
    # name: (x shape, w shape, kwargs for conv2d)
    "plain": ((2, 3, 7, 8), (4, 3, 3, 3), {}),
    "stride2_pad1": ((2, 3, 7, 8), (4, 3, 3, 3), dict(stride=2, padding=1)),
    "tuples": ((2, 3, 9, 8), (5, 3, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1))),
    "same_even_kernel": ((2, 3, 7, 8), (4, 3, 3, 4), dict(padding="same")),
    "same_odd_total": ((1, 2, 7, 8), (3, 2, 2, 3), dict(padding="same", dilation=(3, 1))),
    "same_dilated": ((1, 2, 9, 9), (3, 2, 3, 3), dict(padding="same", dilation=2)),
    "valid": ((2, 3, 6, 5), (2, 3, 2, 3), dict(padding="valid")),
    "groups2": ((2, 4, 6, 7), (6, 2, 2, 3), dict(groups=2, stride=(1, 2), padding=1)),
    "depthwise": ((2, 4, 6, 6), (8, 1, 3, 3), dict(groups=4, padding=(0, 1))),
    "dilation_stride": ((1, 3, 11, 10), (4, 3, 3, 3), dict(stride=3, dilation=2, padding=2)),
}


def conv2d_ref_args(wshape, kw):
    stride, dilation = pair(kw.get("stride", 1)), pair(kw.get("dilation", 1))
    padding = kw.get("padding", 0)
    if padding == "same":
        pad = same_pad(wshape[2:], dilation)
    elif padding == "valid":
        pad = (0, 0, 0, 0)
    else:
        ph, pw = pair(padding)
        pad = (ph, ph, pw, pw)
    return dict(stride=stride, pad=pad, dilation=dilation, groups=kw.get("groups", 1))


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("case", list(CONV2D_CASES))
def test_conv2d_values_and_gradients_match_numpy(case, bias):
    xs, ws, kw = CONV2D_CASES[case]
    rng = np.random.default_rng(sum(map(ord, case)))
    xn, wn, bn = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    x, w = leaf(xn), leaf(wn)
    b = leaf(bn) if bias else None
    y = F.conv2d(x, w, b, **kw)
    args = conv2d_ref_args(ws, kw)
    expected = ref_conv2d(xn, wn, bn if bias else None, **args)
    assert y.shape == expected.shape and y.dtype == torch.float64
    np.testing.assert_allclose(npy(y), expected, rtol=1e-10, atol=1e-12)

    r = rng.standard_normal(expected.shape)
    backward_with(y, r)
    dx, dw, db = ref_conv2d_grads(xn, wn, r, **args)
    np.testing.assert_allclose(npy(x.grad), dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(npy(w.grad), dw, rtol=1e-10, atol=1e-12)
    if bias:
        np.testing.assert_allclose(npy(b.grad), db, rtol=1e-10, atol=1e-12)


def test_conv2d_input_gradient_equals_finite_differences():
    """A convolution is linear in its input: in float64, d/dx_k sum(y * r) equals
    sum((f(x + e_k) - f(x)) * r) for every k (a check of the gradient not resting on the
    reference's adjoint)."""
    rng = np.random.default_rng(5)
    xn, wn, bn = rng.standard_normal((1, 2, 5, 6)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    kw = dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2))
    w, b = torch.tensor(wn), torch.tensor(bn)
    x = leaf(xn)
    y = F.conv2d(x, w, b, **kw)
    r = rng.standard_normal(tuple(y.shape))
    backward_with(y, r)
    base = npy(y)
    for k in [(0, 0, 0, 0), (0, 1, 2, 3), (0, 0, 4, 5), (0, 1, 4, 0), (0, 1, 1, 1)]:
        e = np.zeros_like(xn)
        e[k] = 1.0
        moved = npy(F.conv2d(torch.tensor(xn + e), w, b, **kw))
        assert ((moved - base) * r).sum() == pytest.approx(npy(x.grad)[k], rel=1e-9, abs=1e-12)


CONV1D_CASES = {
    "plain": ((2, 3, 10), (4, 3, 3), {}),
    "stride_pad": ((2, 3, 11), (4, 3, 4), dict(stride=2, padding=2)),
    "tuple_args": ((2, 3, 11), (4, 3, 3), dict(stride=(3,), padding=(1,), dilation=(2,))),
    "same_even": ((2, 2, 9), (3, 2, 4), dict(padding="same", dilation=3)),
    "valid": ((1, 2, 7), (3, 2, 5), dict(padding="valid")),
    "groups": ((2, 6, 9), (9, 2, 3), dict(groups=3, padding=1)),
}


@pytest.mark.parametrize("case", list(CONV1D_CASES))
def test_conv1d_values_and_gradients_match_numpy(case):
    xs, ws, kw = CONV1D_CASES[case]
    rng = np.random.default_rng(100 + len(case))
    xn, wn, bn = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    x, w, b = leaf(xn), leaf(wn), leaf(bn)
    y = F.conv1d(x, w, b, **kw)

    s, d, p = (single(kw.get(k, v)) for k, v in (("stride", 1), ("dilation", 1), ("padding", 0)))
    if p == "same":
        total = d * (ws[2] - 1)
        pad = (0, 0, total // 2, total - total // 2)
    elif p == "valid":
        pad = (0, 0, 0, 0)
    else:
        pad = (0, 0, p, p)
    args = dict(stride=(1, s), pad=pad, dilation=(1, d), groups=kw.get("groups", 1))
    expected = ref_conv2d(xn[:, :, None], wn[:, :, None], bn, **args)[:, :, 0]
    assert y.shape == expected.shape
    np.testing.assert_allclose(npy(y), expected, rtol=1e-10, atol=1e-12)

    r = rng.standard_normal(expected.shape)
    backward_with(y, r)
    dx, dw, db = ref_conv2d_grads(xn[:, :, None], wn[:, :, None], r[:, :, None], **args)
    np.testing.assert_allclose(npy(x.grad), dx[:, :, 0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(npy(w.grad), dw[:, :, 0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(npy(b.grad), db, rtol=1e-10, atol=1e-12)


def test_conv2d_module_matches_numpy_and_takes_unbatched_input():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2))
    assert conv.weight.shape == (4, 3, 3, 2) and conv.bias.shape == (4,)
    assert conv.weight.dtype == torch.float32
    xn = np.random.default_rng(1).standard_normal((2, 3, 8, 9)).astype(np.float32)
    y = conv(torch.tensor(xn))
    expected = ref_conv2d(xn.astype(np.float64), f64(conv.weight), f64(conv.bias), (2, 1), (1, 1, 1, 1), (1, 2))
    assert y.dtype == torch.float32
    np.testing.assert_allclose(npy(y), expected, rtol=1e-5, atol=1e-5)
    # (C, H, W) in, (O, OH, OW) out, the batched result's first item
    y0 = conv(torch.tensor(xn[0]))
    assert y0.shape == expected.shape[1:]
    np.testing.assert_allclose(npy(y0), npy(y)[0], rtol=1e-6, atol=1e-6)


def test_conv1d_module_unbatched_and_bias_false():
    torch.manual_seed(1)
    conv = nn.Conv1d(2, 3, 3, padding="same", bias=False)
    assert conv.bias is None
    assert [name for name, _ in conv.named_parameters()] == ["weight"]
    assert list(conv.state_dict()) == ["weight"]
    xn = np.random.default_rng(2).standard_normal((2, 7)).astype(np.float32)
    y = conv(torch.tensor(xn))
    assert y.shape == (3, 7)
    expected = ref_conv2d(xn[None, :, None].astype(np.float64), f64(conv.weight)[:, :, None], None,
                          pad=(0, 0, 1, 1))[0, :, 0]
    np.testing.assert_allclose(npy(y), expected, rtol=1e-5, atol=1e-5)


def test_conv2d_module_bias_false_gradients():
    torch.manual_seed(2)
    conv = nn.Conv2d(2, 3, 3, bias=False, groups=1)
    xn = np.random.default_rng(3).standard_normal((2, 2, 5, 5)).astype(np.float32)
    x = leaf(xn)
    y = conv(x)
    r = np.random.default_rng(4).standard_normal(tuple(y.shape))
    backward_with(y, r)
    dx, dw, _ = ref_conv2d_grads(xn.astype(np.float64), f64(conv.weight), r)
    np.testing.assert_allclose(npy(x.grad), dx, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(npy(conv.weight.grad), dw, rtol=1e-4, atol=1e-5)


# --- pooling ------------------------------------------------------------------------------------

MAXPOOL_CASES = {
    "k2": (2, None, 0, 1),
    "k3_s2_p1": (3, 2, 1, 1),
    "k3_s1_p1_overlap": (3, 1, 1, 1),
    "rect": ((2, 3), (1, 2), (1, 1), 1),
    "dilated": (2, 1, 1, 2),
}


@pytest.mark.parametrize("case", list(MAXPOOL_CASES))
def test_max_pool2d_values_and_gradient_to_first_maximum(case):
    k, s, p, d = MAXPOOL_CASES[case]
    rng = np.random.default_rng(7)
    # small integers: many ties, so "first maximum" decides where the gradient goes
    xn = rng.integers(0, 3, (2, 3, 7, 8)).astype(np.float64)
    x = leaf(xn)
    y = F.max_pool2d(x, k, s, p, d)
    ks, ss = pair(k), pair(s if s is not None else k)
    expected = ref_max_pool2d(xn, ks, ss, pair(p), pair(d))
    assert y.shape == expected.shape
    np.testing.assert_array_equal(npy(y), expected)
    r = rng.standard_normal(expected.shape)
    backward_with(y, r)
    np.testing.assert_allclose(npy(x.grad), ref_max_pool2d_grad(xn, r, ks, ss, pair(p), pair(d)), rtol=1e-12)


def test_max_pool2d_ties_go_to_the_first_position_in_row_major_order():
    x = leaf(np.ones((1, 1, 2, 2)))
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(npy(x.grad), [[[[1.0, 0.0], [0.0, 0.0]]]])
    x = leaf(np.array([[[[0.0, 5.0], [5.0, 5.0]]]]))
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(npy(x.grad), [[[[0.0, 1.0], [0.0, 0.0]]]])


def test_max_pool_modules_and_1d():
    rng = np.random.default_rng(8)
    xn = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    m = nn.MaxPool2d(3, stride=2, padding=1)
    np.testing.assert_array_equal(npy(m(torch.tensor(xn))), ref_max_pool2d(xn, (3, 3), (2, 2), (1, 1)))
    # unbatched
    np.testing.assert_array_equal(npy(m(torch.tensor(xn[0]))), ref_max_pool2d(xn[:1], (3, 3), (2, 2), (1, 1))[0])
    x1 = rng.integers(0, 4, (2, 3, 11)).astype(np.float64)
    x = leaf(x1)
    y = nn.MaxPool1d(3, stride=2, padding=1)(x)
    expected = ref_max_pool2d(x1[:, :, None], (1, 3), (1, 2), (0, 1))[:, :, 0]
    np.testing.assert_array_equal(npy(y), expected)
    r = rng.standard_normal(expected.shape)
    backward_with(y, r)
    dx = ref_max_pool2d_grad(x1[:, :, None], r[:, :, None], (1, 3), (1, 2), (0, 1))[:, :, 0]
    np.testing.assert_allclose(npy(x.grad), dx, rtol=1e-12)


AVGPOOL_CASES = {
    "k2": (2, None, 0),
    "k3_s2_p1": (3, 2, 1),
    "k3_s1_p1": (3, 1, 1),
    "rect": ((2, 3), (2, 1), (1, 1)),
}


@pytest.mark.parametrize("include", [True, False], ids=["include_pad", "exclude_pad"])
@pytest.mark.parametrize("case", list(AVGPOOL_CASES))
def test_avg_pool2d_values_and_gradients(case, include):
    k, s, p = AVGPOOL_CASES[case]
    rng = np.random.default_rng(9)
    xn = rng.standard_normal((2, 3, 7, 6))
    x = leaf(xn)
    y = F.avg_pool2d(x, k, s, p, count_include_pad=include)
    ks, ss = pair(k), pair(s if s is not None else k)
    expected = ref_avg_pool2d(xn, ks, ss, pair(p), include)
    np.testing.assert_allclose(npy(y), expected, rtol=1e-12, atol=1e-14)
    r = rng.standard_normal(expected.shape)
    backward_with(y, r)
    np.testing.assert_allclose(npy(x.grad), ref_avg_pool2d_grad(xn, r, ks, ss, pair(p), include), rtol=1e-12,
                               atol=1e-14)


def test_avg_pool_count_include_pad_on_a_corner():
    """A 3x3 window at the corner of a padded all-ones image covers 4 real pixels: 4/9 counting
    the padding, 1 without."""
    x = torch.tensor(np.ones((1, 1, 4, 4), np.float32))
    assert npy(nn.AvgPool2d(3, 1, 1)(x))[0, 0, 0, 0] == pytest.approx(4 / 9)
    assert npy(nn.AvgPool2d(3, 1, 1, count_include_pad=False)(x))[0, 0, 0, 0] == pytest.approx(1.0)
    assert npy(nn.AvgPool2d(3, 1, 1, count_include_pad=False)(x)) == pytest.approx(1.0)


def test_avg_pool1d():
    xn = np.random.default_rng(10).standard_normal((2, 3, 9))
    for include in (True, False):
        y = nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=include)(torch.tensor(xn))
        expected = ref_avg_pool2d(xn[:, :, None], (1, 3), (1, 2), (0, 1), include)[:, :, 0]
        np.testing.assert_allclose(npy(y), expected, rtol=1e-12)
    y = F.avg_pool1d(torch.tensor(xn), 2)
    np.testing.assert_allclose(npy(y), (xn[..., 0:8:2] + xn[..., 1:9:2]) / 2, rtol=1e-12)


@pytest.mark.parametrize(
    "shape,out",
    [((2, 3, 7, 9), (3, 4)), ((2, 3, 7, 9), 1), ((2, 3, 6, 8), (3, 4)), ((3, 5, 5), (2, 3)), ((1, 2, 5, 7), (None, 3))],
    ids=["non_divisible", "global", "divisible", "unbatched", "none_keeps_height"],
)
def test_adaptive_avg_pool2d_values_and_gradients(shape, out):
    rng = np.random.default_rng(11)
    xn = rng.standard_normal(shape)
    x = leaf(xn)
    y = nn.AdaptiveAvgPool2d(out)(x)
    if isinstance(out, int):
        oshape = (out, out)
    else:
        oshape = (shape[-2] if out[0] is None else out[0], shape[-1] if out[1] is None else out[1])
    expected = ref_adaptive_avg_pool2d(xn, oshape)
    assert y.shape == expected.shape
    np.testing.assert_allclose(npy(y), expected, rtol=1e-12, atol=1e-14)
    # the gradient: each output spreads r / window size over its window
    r = rng.standard_normal(expected.shape)
    backward_with(y, r)
    dx = np.zeros_like(xn)
    for i, (y0, y1) in enumerate(adaptive_bounds(shape[-2], oshape[0])):
        for j, (x0, x1) in enumerate(adaptive_bounds(shape[-1], oshape[1])):
            dx[..., y0:y1, x0:x1] += r[..., i:i + 1, j:j + 1] / ((y1 - y0) * (x1 - x0))
    np.testing.assert_allclose(npy(x.grad), dx, rtol=1e-12, atol=1e-14)


def test_adaptive_windows_overlap_as_torch():
    # H=7 to 3 outputs: rows [0, 3), [2, 5), [4, 7)
    assert adaptive_bounds(7, 3) == [(0, 3), (2, 5), (4, 7)]
    x = np.arange(7.0)[None, None, :, None] * np.ones((1, 1, 1, 2))
    y = npy(F.adaptive_avg_pool2d(torch.tensor(x), (3, 1)))
    np.testing.assert_allclose(y[0, 0, :, 0], [1.0, 3.0, 5.0])


# --- batch norm ---------------------------------------------------------------------------------


def test_batchnorm2d_initial_state():
    bn = nn.BatchNorm2d(3)
    assert npy(bn.weight).tolist() == [1, 1, 1] and npy(bn.bias).tolist() == [0, 0, 0]
    assert npy(bn.running_mean).tolist() == [0, 0, 0] and npy(bn.running_var).tolist() == [1, 1, 1]
    assert bn.num_batches_tracked.item() == 0 and bn.num_batches_tracked.dtype == torch.int64
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert bn.training


def test_batchnorm2d_three_training_steps_then_eval():
    rng = np.random.default_rng(12)
    bn = nn.BatchNorm2d(3, momentum=0.1)
    with torch.no_grad():
        bn.weight.copy_(np.array([1.5, 0.5, -1.0], np.float32))
        bn.bias.copy_(np.array([0.1, -0.2, 0.3], np.float32))
    w, b = f64(bn.weight), f64(bn.bias)
    rm, rv = np.zeros(3), np.ones(3)
    for step in range(3):
        xn = (rng.standard_normal((4, 3, 5, 6)) * [[[[2.0]], [[0.5]], [[1.0]]]] + step).astype(np.float32)
        x = leaf(xn)
        y = bn(x)
        expected, mean, uvar = ref_batch_norm_train(xn.astype(np.float64), w, b)
        np.testing.assert_allclose(npy(y), expected, rtol=1e-4, atol=1e-5)
        rm, rv = 0.9 * rm + 0.1 * mean, 0.9 * rv + 0.1 * uvar
        np.testing.assert_allclose(npy(bn.running_mean), rm, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(npy(bn.running_var), rv, rtol=1e-5, atol=1e-6)
        assert bn.num_batches_tracked.item() == step + 1
        g = rng.standard_normal(expected.shape)
        bn.zero_grad()
        backward_with(y, g)
        dx, dw, db = ref_batch_norm_train_grads(xn.astype(np.float64), w, g)
        np.testing.assert_allclose(npy(x.grad), dx, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(npy(bn.weight.grad), dw, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(npy(bn.bias.grad), db, rtol=1e-4, atol=1e-4)

    bn.eval()
    assert not bn.training
    xn = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    x = leaf(xn)
    y = bn(x)
    np.testing.assert_allclose(npy(y), ref_batch_norm_eval(xn.astype(np.float64), rm, rv, w, b), rtol=1e-4,
                               atol=1e-5)
    # eval leaves the running statistics and the counter alone
    np.testing.assert_allclose(npy(bn.running_mean), rm, rtol=1e-5, atol=1e-6)
    assert bn.num_batches_tracked.item() == 3
    g = rng.standard_normal(xn.shape)
    backward_with(y, g)
    np.testing.assert_allclose(npy(x.grad), g * (w / np.sqrt(rv + 1e-5))[None, :, None, None], rtol=1e-4,
                               atol=1e-5)
    # train and eval outputs differ on the same input
    y_eval = npy(bn(torch.tensor(xn)))
    bn.train()
    y_train = npy(bn(torch.tensor(xn)))
    assert np.abs(y_eval - y_train).max() > 0.1
    assert bn.num_batches_tracked.item() == 4


@pytest.mark.parametrize("shape", [(8, 4), (5, 4, 6)], ids=["NC", "NCL"])
def test_batchnorm1d_training_and_eval(shape):
    rng = np.random.default_rng(13)
    bn = nn.BatchNorm1d(4, momentum=0.3, eps=1e-3)
    rm, rv = np.zeros(4), np.ones(4)
    for _ in range(3):
        xn = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
        y = bn(torch.tensor(xn))
        expected, mean, uvar = ref_batch_norm_train(xn.astype(np.float64), np.ones(4), np.zeros(4), eps=1e-3)
        np.testing.assert_allclose(npy(y), expected, rtol=1e-4, atol=1e-5)
        rm, rv = 0.7 * rm + 0.3 * mean, 0.7 * rv + 0.3 * uvar
    np.testing.assert_allclose(npy(bn.running_mean), rm, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(npy(bn.running_var), rv, rtol=1e-5, atol=1e-6)
    bn.eval()
    xn = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(npy(bn(torch.tensor(xn))),
                               ref_batch_norm_eval(xn.astype(np.float64), rm, rv, None, None, eps=1e-3),
                               rtol=1e-4, atol=1e-5)


def test_batchnorm_momentum_none_is_the_cumulative_average():
    rng = np.random.default_rng(14)
    bn = nn.BatchNorm2d(2, momentum=None)
    means, uvars = [], []
    for step in range(4):
        xn = (rng.standard_normal((3, 2, 4, 4)) * (step + 1) + step).astype(np.float32)
        bn(torch.tensor(xn))
        _, mean, uvar = ref_batch_norm_train(xn.astype(np.float64), None, None)
        means.append(mean)
        uvars.append(uvar)
        assert bn.num_batches_tracked.item() == step + 1
        # momentum 1/n: the initial 0 and 1 drop out at n = 1, then the plain average
        np.testing.assert_allclose(npy(bn.running_mean), np.mean(means, axis=0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(npy(bn.running_var), np.mean(uvars, axis=0), rtol=1e-5, atol=1e-6)


def test_batchnorm_affine_false_and_no_running_stats():
    bn = nn.BatchNorm2d(3, affine=False)
    assert bn.weight is None and bn.bias is None
    assert list(bn.parameters()) == []
    assert list(bn.state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]
    xn = np.random.default_rng(15).standard_normal((2, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(npy(bn(torch.tensor(xn))), ref_batch_norm_train(xn.astype(np.float64), None, None)[0],
                               rtol=1e-4, atol=1e-5)

    bn = nn.BatchNorm2d(3, track_running_stats=False)
    assert bn.running_mean is None and bn.running_var is None and bn.num_batches_tracked is None
    assert list(bn.buffers()) == []
    assert list(bn.state_dict()) == ["weight", "bias"]
    bn.eval()
    # no running statistics: eval normalises with the batch's own
    expected = ref_batch_norm_train(xn.astype(np.float64), np.ones(3), np.zeros(3))[0]
    np.testing.assert_allclose(npy(bn(torch.tensor(xn))), expected, rtol=1e-4, atol=1e-5)


def test_num_batches_tracked_counts_only_in_training():
    bn = nn.BatchNorm1d(2)
    x = torch.tensor(np.random.default_rng(16).standard_normal((6, 2)).astype(np.float32))
    bn(x)
    bn(x)
    bn.eval()
    bn(x)
    assert bn.num_batches_tracked.item() == 2
    bn.train()
    bn(x)
    assert bn.num_batches_tracked.item() == 3
    bn.reset_running_stats()
    assert bn.num_batches_tracked.item() == 0 and npy(bn.running_var).tolist() == [1, 1]


def test_batchnorm_errors():
    with pytest.raises(ValueError, match="4-d"):
        nn.BatchNorm2d(3)(torch.tensor(np.zeros((2, 3, 4), np.float32)))
    with pytest.raises(ValueError, match="3 channels"):
        nn.BatchNorm2d(4)(torch.tensor(np.zeros((2, 3, 4, 4), np.float32)))
    with pytest.raises(ValueError, match="2-d or 3-d"):
        nn.BatchNorm1d(4)(torch.tensor(np.zeros((2, 4, 4, 4), np.float32)))
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm2d(3, momentum=1.5)


# torch's state_dict of Sequential(Conv2d, BatchNorm2d, ReLU, Flatten, Linear): module by module,
# each module's parameters and then its buffers
TORCH_KEYS = ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
              "1.num_batches_tracked", "4.weight", "4.bias"]


def bn_model():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 5 * 5, 2))


def test_state_dict_key_order_is_torchs():
    assert list(bn_model().state_dict()) == TORCH_KEYS


def test_batchnorm_state_dict_round_trip_reproduces_eval_outputs():
    torch.manual_seed(3)
    make = bn_model
    model = make()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(17)
    for _ in range(3):
        x = torch.tensor(rng.standard_normal((6, 1, 5, 5)).astype(np.float32))
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    sd = model.state_dict()
    assert set(sd) == set(TORCH_KEYS)  # the order: test_state_dict_key_order_is_torchs
    assert sd["1.num_batches_tracked"].item() == 3
    xe = torch.tensor(rng.standard_normal((3, 1, 5, 5)).astype(np.float32))
    model.eval()
    expected = npy(model(xe))

    torch.manual_seed(99)
    fresh = make()
    fresh.load_state_dict({k: npy(v) for k, v in sd.items()})
    fresh.eval()
    np.testing.assert_array_equal(npy(fresh(xe)), expected)
    assert fresh[1].num_batches_tracked.item() == 3
    np.testing.assert_array_equal(npy(fresh[1].running_var), npy(model[1].running_var))
    # the tensors themselves load too
    other = make()
    other.load_state_dict(model.state_dict())
    other.eval()
    np.testing.assert_array_equal(npy(other(xe)), expected)


# --- layer norm ---------------------------------------------------------------------------------


@pytest.mark.parametrize("normalized", [(6,), (4, 6)], ids=["last_dim", "last_two_dims"])
def test_layer_norm_values_and_gradients(normalized):
    rng = np.random.default_rng(18)
    ln = nn.LayerNorm(normalized if len(normalized) > 1 else normalized[0], eps=1e-5)
    assert ln.weight.shape == normalized and ln.bias.shape == normalized
    with torch.no_grad():
        ln.weight.copy_((1 + 0.5 * rng.standard_normal(normalized)).astype(np.float32))
        ln.bias.copy_((0.5 * rng.standard_normal(normalized)).astype(np.float32))
    xn = (rng.standard_normal((3, 4, 6)) * 2 + 1).astype(np.float32)
    x = leaf(xn)
    y = ln(x)
    w, b = f64(ln.weight), f64(ln.bias)
    expected = ref_layer_norm(xn.astype(np.float64), len(normalized), w, b)
    np.testing.assert_allclose(npy(y), expected, rtol=1e-4, atol=1e-5)
    g = rng.standard_normal(expected.shape)
    backward_with(y, g)
    dx, dw, db = ref_layer_norm_grads(xn.astype(np.float64), len(normalized), w, g)
    np.testing.assert_allclose(npy(x.grad), dx, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(npy(ln.weight.grad), dw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(npy(ln.bias.grad), db, rtol=1e-4, atol=1e-4)


def test_layer_norm_without_affine_and_functional():
    xn = np.random.default_rng(19).standard_normal((5, 8))
    ln = nn.LayerNorm(8, elementwise_affine=False)
    assert ln.weight is None and list(ln.parameters()) == []
    np.testing.assert_allclose(npy(ln(torch.tensor(xn.astype(np.float32)))), ref_layer_norm(xn, 1), rtol=1e-4,
                               atol=1e-5)
    assert len(list(nn.LayerNorm(8, bias=False).parameters())) == 1
    y = F.layer_norm(torch.tensor(xn), (8,), eps=1e-3)
    np.testing.assert_allclose(npy(y), ref_layer_norm(xn, 1, eps=1e-3), rtol=1e-10)
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(torch.tensor(xn), (5,))


# --- embedding ----------------------------------------------------------------------------------


def test_embedding_lookup_and_gradient_with_padding_idx():
    torch.manual_seed(4)
    emb = nn.Embedding(10, 3, padding_idx=2)
    table = npy(emb.weight).copy()
    assert table.shape == (10, 3) and (table[2] == 0).all() and (np.delete(table, 2, 0) != 0).all()
    ids = np.array([[1, 2, 3], [3, 9, 2]], np.int64)
    y = emb(torch.tensor(ids))
    assert y.shape == (2, 3, 3)
    np.testing.assert_array_equal(npy(y), table[ids])
    g = np.random.default_rng(20).standard_normal((2, 3, 3)).astype(np.float32)
    backward_with(y, g)
    expected = np.zeros((10, 3), np.float32)
    np.add.at(expected, ids, g)
    expected[2] = 0.0  # the padding row is never updated
    np.testing.assert_allclose(npy(emb.weight.grad), expected, rtol=1e-6)
    assert emb.weight.grad.numpy()[3].any()  # id 3, seen twice, accumulates both


def test_embedding_negative_padding_idx_int32_ids_and_init():
    torch.manual_seed(5)
    emb = nn.Embedding(6, 4, padding_idx=-1)
    assert emb.padding_idx == 5 and (npy(emb.weight)[5] == 0).all()
    y = emb(torch.tensor(np.array([5, 0], np.int32)))
    np.testing.assert_array_equal(npy(y), npy(emb.weight)[[5, 0]])
    big = nn.Embedding(500, 40)
    w = npy(big.weight)
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1.0) < 0.02  # N(0, 1), as torch


def test_embedding_from_pretrained_freeze():
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    frozen = nn.Embedding.from_pretrained(torch.tensor(table))
    assert frozen.weight.requires_grad is False
    np.testing.assert_array_equal(npy(frozen(torch.tensor(np.array([3, 1])))), table[[3, 1]])
    trainable = nn.Embedding.from_pretrained(table, freeze=False)
    assert trainable.weight.requires_grad is True
    np.testing.assert_array_equal(npy(trainable.weight), table)


def test_embedding_from_pretrained_frozen_weight_stays_in_parameters_and_state_dict():
    # as torch: a frozen weight is still a parameter (requires_grad False), and in state_dict
    frozen = nn.Embedding.from_pretrained(np.ones((4, 3), np.float32))
    assert [n for n, _ in frozen.named_parameters()] == ["weight"]
    assert list(frozen.state_dict()) == ["weight"]
    y = frozen(torch.tensor(np.array([0, 1])))
    assert not y.requires_grad


def test_embedding_errors():
    emb = nn.Embedding(5, 2)
    with pytest.raises(ValueError, match=r"\b7\b") as info:
        emb(torch.tensor(np.array([1, 7])))
    assert isinstance(info.value, cn.ShapeError)  # torch raises IndexError
    with pytest.raises(ValueError, match=r"-1\b"):
        emb(torch.tensor(np.array([-1])))
    with pytest.raises(TypeError, match="integer"):
        emb(torch.tensor(np.array([1.0, 2.0])))
    with pytest.raises(TypeError, match="integer"):
        F.embedding(torch.tensor(np.array([0.0], np.float32)), emb.weight)
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(5, 2, padding_idx=5)


# --- Sequential's fused Conv + ReLU -------------------------------------------------------------


@pytest.mark.parametrize("dims", [1, 2])
def test_sequential_fused_conv_relu_matches_the_separate_ops(dims):
    torch.manual_seed(6)
    conv = nn.Conv2d(3, 4, 3, padding=1, stride=(1, 2)) if dims == 2 else nn.Conv1d(3, 4, 3, padding=1, stride=2)
    with torch.no_grad():
        # channel 3 pre-activates to exactly 0 everywhere: relu's gradient there is 0 (as torch)
        w = npy(conv.weight).copy()
        w[3] = 0.0
        conv.weight.copy_(w)
        b = npy(conv.bias).copy()
        b[3] = 0.0
        conv.bias.copy_(b)
    model = nn.Sequential(conv, nn.ReLU())
    shape = (2, 3, 6, 7) if dims == 2 else (2, 3, 9)
    xn = np.random.default_rng(21).standard_normal(shape).astype(np.float32)
    fn = F.conv2d if dims == 2 else F.conv1d
    stride = (1, 2) if dims == 2 else 2

    x1 = leaf(xn)
    fused = model(x1)
    r = np.random.default_rng(22).standard_normal(tuple(fused.shape)).astype(np.float32)
    backward_with(fused, r)
    grads_fused = [npy(x1.grad), npy(conv.weight.grad).copy(), npy(conv.bias.grad).copy()]

    conv.zero_grad()
    x2 = leaf(xn)
    plain = fn(x2, conv.weight, conv.bias, stride=stride, padding=1).relu()
    backward_with(plain, r)
    grads_plain = [npy(x2.grad), npy(conv.weight.grad), npy(conv.bias.grad)]

    np.testing.assert_allclose(npy(fused), npy(plain), rtol=1e-6, atol=1e-6)
    assert (npy(fused)[:, 3] == 0).all()
    for a, b in zip(grads_fused, grads_plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert grads_fused[2][3] == 0.0 and (grads_fused[1][3] == 0).all()


# --- initialisation -----------------------------------------------------------------------------


def test_conv2d_init_bounds_follow_fan_in():
    torch.manual_seed(7)
    conv = nn.Conv2d(4, 64, (3, 2), groups=2)
    fan_in = 4 // 2 * 3 * 2
    bound = 1 / math.sqrt(fan_in)
    w, b = npy(conv.weight), npy(conv.bias)
    assert w.shape == (64, 2, 3, 2)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert w.max() > 0.95 * bound and w.min() < -0.95 * bound
    assert b.max() > 0.7 * bound and b.min() < -0.7 * bound
    # and not the bound for groups=1 (fan_in 24): values beyond 1/sqrt(24) appear
    assert np.abs(w).max() > 1 / math.sqrt(24)
    conv1 = nn.Conv1d(3, 50, 5)
    bound1 = 1 / math.sqrt(15)
    assert np.abs(npy(conv1.weight)).max() <= bound1 and np.abs(npy(conv1.weight)).max() > 0.95 * bound1


def test_manual_seed_makes_conv_init_reproducible():
    torch.manual_seed(123)
    a = nn.Conv2d(3, 8, 3)
    torch.manual_seed(123)
    b = nn.Conv2d(3, 8, 3)
    c = nn.Conv2d(3, 8, 3)
    np.testing.assert_array_equal(npy(a.weight), npy(b.weight))
    np.testing.assert_array_equal(npy(a.bias), npy(b.bias))
    assert not np.array_equal(npy(a.weight), npy(c.weight))


# --- errors and unsupported options -------------------------------------------------------------


def test_conv_errors():
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="groups"):
        nn.Conv1d(4, 6, 3, groups=4)
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match="channels"):
        conv(torch.tensor(np.zeros((1, 5, 6, 6), np.float32)))
    with pytest.raises(ValueError, match="channels"):
        nn.Conv1d(2, 4, 3)(torch.tensor(np.zeros((1, 3, 6), np.float32)))
    with pytest.raises(TypeError, match="floating-point"):
        conv(torch.tensor(np.zeros((1, 3, 6, 6), np.int64)))
    with pytest.raises(ValueError, match="4-d"):
        conv(torch.tensor(np.zeros((6, 6), np.float32)))
    with pytest.raises(ValueError, match="3-d"):
        nn.Conv1d(3, 4, 3)(torch.tensor(np.zeros((1, 1, 3, 6), np.float32)))
    with pytest.raises(ValueError, match="kernel"):
        conv(torch.tensor(np.zeros((1, 3, 2, 2), np.float32)))
    with pytest.raises(ValueError, match="padding"):
        nn.Conv2d(3, 4, 3, padding="full")
    with pytest.raises(ValueError, match="stride"):
        F.conv2d(torch.tensor(np.zeros((1, 1, 4, 4))), torch.tensor(np.zeros((1, 1, 2, 2))), stride=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Conv2d(3, 4, 3, padding_mode="reflect"),
        lambda: nn.Conv1d(3, 4, 3, padding_mode="circular"),
        lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"),
        lambda: nn.Conv1d(3, 4, 3, stride=2, padding="same"),
        lambda: F.conv2d(torch.tensor(np.zeros((1, 3, 5, 5), np.float32)),
                         torch.tensor(np.zeros((4, 3, 3, 3), np.float32)), stride=(1, 2), padding="same"),
        lambda: nn.MaxPool2d(2, ceil_mode=True)(torch.tensor(np.zeros((1, 1, 5, 5), np.float32))),
        lambda: nn.MaxPool1d(2, ceil_mode=True)(torch.tensor(np.zeros((1, 1, 5), np.float32))),
        lambda: nn.AvgPool2d(2, ceil_mode=True)(torch.tensor(np.zeros((1, 1, 5, 5), np.float32))),
        lambda: nn.AvgPool1d(2, ceil_mode=True)(torch.tensor(np.zeros((1, 1, 5), np.float32))),
        lambda: nn.MaxPool2d(2, return_indices=True)(torch.tensor(np.zeros((1, 1, 4, 4), np.float32))),
        lambda: F.max_pool1d(torch.tensor(np.zeros((1, 1, 4), np.float32)), 2, return_indices=True),
        lambda: nn.AvgPool2d(2, divisor_override=3)(torch.tensor(np.zeros((1, 1, 4, 4), np.float32))),
    ],
    ids=["reflect", "circular", "same_strided_2d", "same_strided_1d", "same_strided_functional",
         "ceil_max2d", "ceil_max1d", "ceil_avg2d", "ceil_avg1d", "return_indices", "return_indices_1d",
         "divisor_override"],
)
def test_unsupported_options_raise_value_error(make):
    with pytest.raises(ValueError, match="padding_mode|same|ceil_mode|return_indices|divisor_override"):
        make()


def test_pool_errors():
    with pytest.raises(TypeError, match="floating-point"):
        nn.MaxPool2d(2)(torch.tensor(np.zeros((1, 1, 4, 4), np.int64)))
    with pytest.raises(ValueError, match="4-d"):
        nn.AvgPool2d(2)(torch.tensor(np.zeros((4, 4), np.float32)))
    with pytest.raises(ValueError, match="positive"):
        nn.AdaptiveAvgPool2d(0)(torch.tensor(np.zeros((1, 1, 4, 4), np.float32)))


# --- end to end ---------------------------------------------------------------------------------


def test_small_cnn_learns_bright_top_versus_bright_bottom():
    rng = np.random.default_rng(0)
    n = 64
    y = rng.integers(0, 2, n)
    x = rng.uniform(0.0, 0.6, (n, 1, 8, 8)).astype(np.float32)
    for i in range(n):
        half = slice(0, 4) if y[i] == 0 else slice(4, 8)
        x[i, 0, half] += 0.4
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.tensor(x), torch.tensor(y.astype(np.int64))
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    accuracy = (npy(model(xt)).argmax(1) == y).mean()
    assert accuracy >= 0.95, (accuracy, losses)
    assert losses[-1] < losses[0]


def test_functional_batch_norm_in_inference_needs_running_statistics():
    x = torch.tensor(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="running_mean and running_var are needed when training=False"):
        F.batch_norm(x, None, None, training=False)
    # training=True normalises with the batch's statistics without them, as torch
    assert F.batch_norm(x, None, None, training=True).shape == (4, 3)
