"""torch-style autograd and optimizers over candle's: requires_grad makes a candle Var,
backward() fills .grad, cn.torch.optim steps with candle-nn, and the seed's training loop runs."""

import numpy as np
import pytest

import candle_numpy as cn

torch = cn.torch
nn = cn.torch.nn


def test_requires_grad_tensor_is_a_leaf_var_and_backward_fills_grad():
    w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    assert w.requires_grad and w.is_leaf and w.grad is None
    x = torch.tensor([4.0, 5.0, 6.0])
    assert not x.requires_grad and x.is_leaf
    loss = (w * x).sum() + (w * w).sum()
    assert loss.requires_grad and not loss.is_leaf and loss.grad is None
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), [4 + 2, 5 - 4, 6 + 6])
    assert x.grad is None
    # gradients accumulate until cleared, as in torch
    (w.sum() * 2.0).backward()
    np.testing.assert_allclose(w.grad.numpy(), [8, 3, 14])
    w.grad = None
    assert w.grad is None


def test_backward_needs_a_scalar_or_a_gradient():
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = w * 3.0
    with pytest.raises(RuntimeError, match="only for scalar outputs.*shape \\[2, 2\\]"):
        y.backward()
    y.backward(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    np.testing.assert_allclose(w.grad.numpy(), [[3, 0], [0, 6]])
    with pytest.raises(RuntimeError, match="does not require grad"):
        torch.tensor([1.0]).sum().backward()


def test_no_grad_stops_recording_and_allows_in_place_updates():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place operation.*no_grad"):
        w.add_(1.0)
    with torch.no_grad():
        assert not torch.is_grad_enabled()
        y = w * 2.0
        w -= 0.5
    assert torch.is_grad_enabled()
    assert not y.requires_grad
    np.testing.assert_allclose(w.numpy(), [0.5, 1.5])


def test_setting_requires_grad_on_an_existing_tensor():
    a = np.array([1.0, 2.0], dtype=np.float32)
    t = torch.from_numpy(a)
    t.requires_grad = True  # candle marks Vars at creation: this copies, documented
    assert t.requires_grad and t.is_leaf and not cn.shares_memory(a, t)
    (t * t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), [2, 4])
    d = t.detach()
    assert not d.requires_grad and cn.shares_memory(d.numpy(), t)
    with pytest.raises(RuntimeError, match="leaf"):
        (t * 2.0).requires_grad = False
    with pytest.raises(TypeError, match="floating-point.*int64"):
        torch.tensor([1, 2]).requires_grad_()


def test_matmul_reductions_and_activations_have_torch_gradients():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 2)).astype(np.float32)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out = (ta @ tb).sigmoid().mean()
    out.backward()
    s = 1 / (1 + np.exp(-(a @ b)))
    g = s * (1 - s) / s.size
    np.testing.assert_allclose(out.item(), s.mean(), rtol=1e-6)
    np.testing.assert_allclose(ta.grad.numpy(), g @ b.T, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(tb.grad.numpy(), a.T @ g, rtol=1e-5, atol=1e-7)
    assert (torch.tensor(a) @ torch.tensor(np.ones(4, np.float32))).shape == (3,)
    assert torch.tensor(a).sum(1, keepdim=True).shape == (3, 1)
    assert torch.tensor(a).argmax(1).tolist() == a.argmax(1).tolist()
    np.testing.assert_allclose(torch.tensor(a).softmax(1).numpy().sum(1), 1, rtol=1e-6)
    assert ((torch.tensor(a) > 0).numpy() == (a > 0)).all()


def test_sgd_adam_adamw_match_torch_formulas():
    g = np.array([0.5, -1.0], np.float32)

    def one_step(opt_cls, **kw):
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        opt = opt_cls([w], **kw)
        (w * torch.tensor(g)).sum().backward()
        opt.step()
        return w.numpy().copy(), opt

    w, _ = one_step(torch.optim.SGD, lr=0.1)
    np.testing.assert_allclose(w, [1 - 0.05, 2 + 0.1], rtol=1e-6)
    w, _ = one_step(torch.optim.SGD, lr=0.1, weight_decay=0.5)  # g + 0.5 * w
    np.testing.assert_allclose(w, [1 - 0.1 * (0.5 + 0.5), 2 - 0.1 * (-1 + 1.0)], rtol=1e-6)
    # Adam's first step moves each weight by lr * sign(g) (bias-corrected m / sqrt(v))
    w, _ = one_step(torch.optim.Adam, lr=0.01)
    np.testing.assert_allclose(w, [1 - 0.01, 2 + 0.01], rtol=1e-5)
    w, _ = one_step(torch.optim.AdamW, lr=0.01, weight_decay=0.1)  # decoupled: w * (1 - lr * wd) first
    np.testing.assert_allclose(w, [1 * (1 - 0.001) - 0.01, 2 * (1 - 0.001) + 0.01], rtol=1e-5)


def test_sgd_momentum_accumulates_and_lr_follows_param_groups():
    w = torch.tensor([0.0], requires_grad=True)
    opt = torch.optim.SGD([w], lr=1.0, momentum=0.5)
    for _ in range(2):
        opt.zero_grad()
        (w * torch.tensor([1.0])).sum().backward()
        opt.step()
    np.testing.assert_allclose(w.numpy(), [-(1 + 1.5)])  # buffers 1, then 0.5 * 1 + 1
    opt.param_groups[0]["lr"] = 0.0
    opt.zero_grad()
    (w * 1.0).sum().backward()
    opt.step()
    np.testing.assert_allclose(w.numpy(), [-2.5])


def test_optimizer_rejects_bad_parameters_and_settings():
    with pytest.raises(ValueError, match="not a leaf tensor with requires_grad=True"):
        torch.optim.Adam([torch.tensor([1.0])])
    with pytest.raises(TypeError, match="not a candle_numpy Tensor"):
        torch.optim.SGD([np.zeros(2)])
    with pytest.raises(ValueError, match="empty parameter list"):
        torch.optim.SGD([])
    with pytest.raises(ValueError, match="learning rate"):
        torch.optim.SGD([torch.tensor([1.0], requires_grad=True)], lr=-1)
    with pytest.raises(ValueError, match="beta1"):
        torch.optim.Adam([torch.tensor([1.0], requires_grad=True)], betas=(1.0, 0.9))


def test_bce_is_finite_and_pushes_back_on_saturated_probabilities():
    p = torch.tensor([1.0, 0.0, 0.5], requires_grad=True)
    y = torch.tensor([0.0, 1.0, 1.0])
    loss = nn.BCELoss(reduction="sum")(p, y)
    np.testing.assert_allclose(loss.item(), 100 + 100 + np.log(2), rtol=1e-6)
    loss.backward()
    grad = p.grad.numpy()
    assert np.isfinite(grad).all()
    assert grad[0] > 1e6 and grad[1] < -1e6  # torch: (p - y) / max(p (1 - p), 1e-12)
    np.testing.assert_allclose(grad[2], -2.0, rtol=1e-6)
    z = torch.tensor([1e4, -1e4, 0.0], requires_grad=True)
    loss = nn.BCEWithLogitsLoss(reduction="sum")(z, torch.tensor([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(loss.item(), 1e4 + np.log(2), rtol=1e-6)
    loss.backward()
    np.testing.assert_allclose(z.grad.numpy(), [1.0, 0.0, -0.5], atol=1e-6)
    with pytest.raises(ValueError, match="target shape \\(3, 1\\) differs from input shape \\(3,\\)"):
        nn.BCELoss()(p, torch.tensor([[0.0], [1.0], [1.0]]))


def test_cross_entropy_matches_numpy_reference():
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]], np.float32)
    target = np.array([0, 2])
    z = torch.tensor(logits, requires_grad=True)
    loss = nn.CrossEntropyLoss()(z, torch.from_numpy(target))
    lse = np.log(np.exp(logits).sum(1))
    np.testing.assert_allclose(loss.item(), (lse - logits[[0, 1], target]).mean(), rtol=1e-6)
    loss.backward()
    sm = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(z.grad.numpy(), (sm - np.eye(3)[target]) / 2, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="class indices must be in \\[0, 3\\)"):
        nn.CrossEntropyLoss()(z, np.array([0, 3]))


def test_module_registers_parameters_and_state_dict_round_trips():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1), nn.Sigmoid())
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert [tuple(p.shape) for p in model.parameters()] == [(16, 10), (16,), (1, 16), (1,)]
    w = model[0].weight.numpy()
    assert np.abs(w).max() <= 1 / np.sqrt(10) and w.std() > 0.1
    torch.manual_seed(0)
    again = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1), nn.Sigmoid())
    np.testing.assert_array_equal(again[0].weight.numpy(), w)
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    other = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1), nn.Sigmoid())
    other.load_state_dict(state)
    x = torch.tensor(np.random.default_rng(0).random((5, 10)), dtype="float32")
    model.eval(), other.eval()
    np.testing.assert_array_equal(model(x).numpy(), other(x).numpy())
    with pytest.raises(ValueError, match="expects inputs with 10 features.*\\(5, 3\\)"):
        model(torch.tensor(np.zeros((5, 3), np.float32)))
    with pytest.raises(KeyError, match="missing keys"):
        other.load_state_dict({})


def test_the_seeds_pytorch_loop_learns_the_separable_task():
    # the seed's loop as shipped in examples/python/train_torch.py (100 full-batch Adam steps)
    import pathlib
    import runpy

    example = pathlib.Path(__file__).resolve().parents[3] / "examples" / "python" / "train_torch.py"
    g = runpy.run_path(str(example), run_name="__main__")
    assert np.isfinite(g["loss"].item()) and g["loss"].item() < 0.2
    assert g["accuracy"] >= 0.95
    names = [n for n, _ in g["model"].named_parameters()]
    assert names == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert all(p.grad is not None and p.grad.shape == p.shape for p in g["model"].parameters())


def _mlp_reference(x, w1, b1, w2, b2, r):
    """NumPy forward and gradients of sum(r * (relu(x w1.T + b1) w2.T + b2))."""
    z1 = x @ w1.T + b1
    h = np.where(z1 > 0, z1, 0)
    y = h @ w2.T + b2
    gh = r @ w2
    gz = np.where(z1 > 0, gh, 0)  # torch's ReLU: no gradient where the output is 0
    return y, {"w2": r.T @ h, "b2": r.sum(0), "w1": gz.T @ x, "b1": gz.sum(0), "x": gz @ w1}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(1, 7, 5, 3), (33, 13, 64, 2), (128, 300, 96, 10)])
@pytest.mark.parametrize("fused", [True, False])
def test_linear_relu_values_and_gradients_match_numpy(dtype, shape, fused):
    """Sequential(Linear, ReLU, Linear) runs Linear+ReLU as one engine op; the modules called
    one by one take the unfused path. Both give NumPy's values and gradients, and the data
    batch gets no gradient (the engine skips computing it)."""
    batch, d_in, hidden, d_out = shape
    rng = np.random.default_rng(sum(shape))
    # multiples of 1/8 and 1/64: every product and sum below is exact in float32, so the
    # pre-activations, and with them ReLU's mask, are NumPy's bit for bit (a value within
    # rounding of 0 could otherwise fall on the other side of the kink)
    q = lambda a, step: np.round(a / step) * step  # noqa: E731
    x = q(rng.standard_normal((batch, d_in)), 1 / 8).astype(dtype)
    x[0, :] = 0  # with a zero bias entry below, an exact 0 before ReLU
    r = q(rng.standard_normal((batch, d_out)), 1 / 8).astype(dtype)
    model = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))
    w1, w2 = q(rng.uniform(-0.3, 0.3, (hidden, d_in)), 1 / 64), q(rng.uniform(-0.3, 0.3, (d_out, hidden)), 1 / 64)
    b1, b2 = q(rng.uniform(-0.3, 0.3, hidden), 1 / 64), q(rng.uniform(-0.3, 0.3, d_out), 1 / 64)
    b1[0] = 0.0
    w1, w2, b1, b2 = (v.astype(dtype) for v in (w1, w2, b1, b2))
    model[0].weight, model[0].bias = nn.Parameter(w1), nn.Parameter(b1)
    model[2].weight, model[2].bias = nn.Parameter(w2), nn.Parameter(b2)
    tx = torch.tensor(x)
    y = model(tx) if fused else model[2](model[1](model[0](tx)))
    (y * torch.tensor(r)).sum().backward()
    want, grads = _mlp_reference(x.astype(np.float64), w1, b1, w2, b2, r)
    tol = dict(rtol=0, atol=0)  # exact data: exact results
    assert y.dtype == dtype
    np.testing.assert_allclose(y.detach().numpy(), want, **tol)
    for name, p in [("w1", model[0].weight), ("b1", model[0].bias), ("w2", model[2].weight), ("b2", model[2].bias)]:
        np.testing.assert_allclose(p.grad.numpy(), grads[name], **tol, err_msg=name)
    assert tx.grad is None
    # an input that asks for its gradient gets it
    tx = torch.tensor(x, requires_grad=True)
    (model(tx) * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(tx.grad.numpy(), grads["x"], **tol)


def test_relu_keeps_nan_and_passes_no_gradient_at_zero_as_torch():
    t = torch.tensor([-1.0, 0.0, float("nan"), 2.0], requires_grad=True)
    y = t.relu()
    out = y.detach().numpy()
    assert out[0] == 0 and out[1] == 0 and np.isnan(out[2]) and out[3] == 2
    (y * torch.tensor([1.0, 1.0, 0.0, 1.0])).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [0, 0, 0, 1])
    assert torch.tensor([-3, 4]).relu().tolist() == [0, 4]  # integers too


def test_linear_checks_shapes_and_activation():
    lin = nn.Linear(4, 3)
    with pytest.raises(ValueError, match="4 features"):
        lin(torch.zeros((2, 5)))
    with pytest.raises(ValueError, match='unknown activation "gelu"'):
        cn._native.linear(torch.zeros((2, 4)), lin.weight, lin.bias, "gelu")
    with pytest.raises(cn.ShapeError, match="bias must have shape \\[3\\]"):
        nn.functional.linear(torch.zeros((2, 4)), lin.weight, torch.zeros(2))
    # leading dimensions and vectors, as torch
    assert lin(torch.zeros((2, 6, 4))).shape == (2, 6, 3)
    assert lin(torch.zeros(4)).shape == (3,)
