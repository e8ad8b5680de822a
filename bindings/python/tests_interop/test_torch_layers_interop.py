"""cn.torch.nn's convolution, pooling, normalisation and embedding layers beside the real
PyTorch (the interop lane): identical weights in both, then forward values, the gradients of
the input and of every parameter, BatchNorm's running statistics over training steps, and
torch state dicts loaded into cn.torch models."""

import numpy as np
import pytest
import torch

import candle_numpy as cn

ct = cn.torch

RTOL, ATOL = 1e-5, 1e-5  # float32 forward values
GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-4  # float32 gradients (sums over many terms)


def ours_from_theirs(ours, theirs):
    """Load torch's parameters and buffers into our module (the NumPy state dict path)."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def theirs_from_ours(theirs, ours):
    """Copy our parameters into torch's module in place (torch.no_grad + copy_)."""
    with torch.no_grad():
        for (name, t), (oname, o) in zip(theirs.named_parameters(), ours.named_parameters()):
            assert name == oname
            t.copy_(torch.from_numpy(o.detach().numpy().copy()))


def run_both(ours, theirs, x, seed):
    """Forward ``x`` through both modules (once each: BatchNorm counts passes), backpropagate
    ``sum(y * r)`` for a random ``r``; returns ``(our y, their y, our dx, their dx)`` as NumPy
    arrays (the parameters' grads are left on the modules)."""
    xo = ct.tensor(x.copy(), requires_grad=True)
    xt = torch.tensor(x.copy(), requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    assert tuple(yo.shape) == tuple(yt.shape)
    r = np.random.default_rng(seed).standard_normal(tuple(yt.shape)).astype(np.float32)
    (yo * ct.tensor(r)).sum().backward()
    (yt * torch.from_numpy(r)).sum().backward()
    return yo.detach().numpy(), yt.detach().numpy(), xo.grad.numpy(), xt.grad.numpy()


def assert_param_grads_match(ours, theirs):
    tg = dict(theirs.named_parameters())
    og = dict(ours.named_parameters())
    assert list(og) == list(tg)
    for name in tg:
        np.testing.assert_allclose(og[name].grad.numpy(), tg[name].grad.numpy(), rtol=GRAD_RTOL,
                                   atol=GRAD_ATOL, err_msg=name)


def check_module(ours, theirs, x, seed=0):
    yo, yt, dxo, dxt = run_both(ours, theirs, x, seed)
    np.testing.assert_allclose(yo, yt, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(dxo, dxt, rtol=GRAD_RTOL, atol=GRAD_ATOL)
    assert_param_grads_match(ours, theirs)


# --- convolutions -------------------------------------------------------------------------------

CONV2D = {
    # name: (args, kwargs, input shape)
    "plain": ((3, 4, 3), {}, (2, 3, 8, 9)),
    "stride_padding": ((3, 5, 3), dict(stride=2, padding=1), (2, 3, 9, 8)),
    "asymmetric": ((3, 4, (3, 2)), dict(stride=(2, 1), padding=(1, 2)), (2, 3, 9, 7)),
    "dilation": ((2, 4, 3), dict(dilation=(2, 3), padding=2), (2, 2, 10, 11)),
    "groups": ((4, 6, 3), dict(groups=2, padding=1), (2, 4, 7, 7)),
    "depthwise": ((4, 8, (2, 3)), dict(groups=4, stride=(1, 2)), (2, 4, 6, 9)),
    "same_even_kernel": ((3, 4, (2, 4)), dict(padding="same"), (2, 3, 7, 8)),
    "same_dilated": ((3, 4, 3), dict(padding="same", dilation=(2, 1)), (2, 3, 7, 8)),
    "valid_no_bias": ((3, 4, 3), dict(padding="valid", bias=False), (2, 3, 6, 6)),
    "unbatched": ((3, 4, 3), dict(padding=1), (3, 6, 5)),
}


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("case", list(CONV2D))
def test_conv2d_matches_torch(case):
    args, kwargs, shape = CONV2D[case]
    torch.manual_seed(0)
    theirs = torch.nn.Conv2d(*args, **kwargs)
    ours = ct.nn.Conv2d(*args, **kwargs)
    ours_from_theirs(ours, theirs)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    check_module(ours, theirs, x)


CONV1D = {
    "plain": ((3, 4, 3), {}, (2, 3, 10)),
    "stride_padding": ((3, 4, 4), dict(stride=3, padding=2), (2, 3, 13)),
    "dilation": ((2, 3, 3), dict(dilation=2, padding=1), (2, 2, 11)),
    "groups": ((6, 9, 3), dict(groups=3), (2, 6, 8)),
    "same_even_kernel": ((2, 3, 4), dict(padding="same", dilation=3), (2, 2, 12)),
    "unbatched_no_bias": ((3, 2, 3), dict(bias=False), (3, 7)),
}


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("case", list(CONV1D))
def test_conv1d_matches_torch(case):
    args, kwargs, shape = CONV1D[case]
    torch.manual_seed(0)
    theirs = torch.nn.Conv1d(*args, **kwargs)
    ours = ct.nn.Conv1d(*args, **kwargs)
    theirs_from_ours(theirs, ours)  # this time the weights go the other way
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    check_module(ours, theirs, x)


def test_conv_init_distribution_matches_torch():
    """Different generators, so not the same numbers: the same bound (torch's kaiming_uniform
    with a=sqrt(5), i.e. 1/sqrt(fan_in)) for weight and bias."""
    theirs = torch.nn.Conv2d(6, 63, (3, 2), groups=3)
    ours = ct.nn.Conv2d(6, 63, (3, 2), groups=3)
    for name in ("weight", "bias"):
        t = getattr(theirs, name).detach().numpy()
        o = getattr(ours, name).detach().numpy()
        assert o.shape == t.shape and o.dtype == t.dtype
        bound = 1 / np.sqrt(2 * 3 * 2)
        assert np.abs(o).max() <= bound and np.abs(t).max() <= bound
        assert np.abs(o).max() > 0.8 * bound


# --- pooling ------------------------------------------------------------------------------------


def test_max_pool2d_3_stride_2_padding_1_with_ties():
    # small integers: ties in most windows, torch sends the gradient to the first maximum
    x = np.random.default_rng(3).integers(0, 3, (2, 3, 9, 8)).astype(np.float32)
    check_module(ct.nn.MaxPool2d(3, stride=2, padding=1), torch.nn.MaxPool2d(3, stride=2, padding=1), x)


@pytest.mark.parametrize(
    "args,kwargs", [((2,), {}), ((3,), dict(stride=1, padding=1)), (((2, 3),), dict(stride=(1, 2), dilation=(2, 1)))],
    ids=["k2", "overlapping", "rect_dilated"],
)
def test_max_pool2d_matches_torch(args, kwargs):
    x = np.random.default_rng(4).integers(0, 4, (2, 2, 7, 8)).astype(np.float32)
    check_module(ct.nn.MaxPool2d(*args, **kwargs), torch.nn.MaxPool2d(*args, **kwargs), x)


def test_max_pool1d_matches_torch():
    x = np.random.default_rng(5).integers(0, 3, (2, 3, 11)).astype(np.float32)
    check_module(ct.nn.MaxPool1d(3, stride=2, padding=1), torch.nn.MaxPool1d(3, stride=2, padding=1), x)


@pytest.mark.parametrize("include", [True, False], ids=["count_include_pad", "exclude_pad"])
@pytest.mark.parametrize(
    "args,kwargs", [((2,), {}), ((3,), dict(stride=2, padding=1)), (((3, 2),), dict(stride=(1, 2), padding=(1, 1)))],
    ids=["k2", "k3_s2_p1", "rect"],
)
def test_avg_pool2d_matches_torch(args, kwargs, include):
    x = np.random.default_rng(6).standard_normal((2, 3, 7, 8)).astype(np.float32)
    check_module(ct.nn.AvgPool2d(*args, count_include_pad=include, **kwargs),
                 torch.nn.AvgPool2d(*args, count_include_pad=include, **kwargs), x)


@pytest.mark.parametrize("include", [True, False], ids=["count_include_pad", "exclude_pad"])
def test_avg_pool1d_matches_torch(include):
    x = np.random.default_rng(7).standard_normal((2, 3, 10)).astype(np.float32)
    check_module(ct.nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=include),
                 torch.nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=include), x)


@pytest.mark.parametrize(
    "out,shape",
    [((3, 4), (2, 3, 7, 9)), (1, (2, 3, 7, 9)), ((2, 3), (2, 3, 6, 9)), ((4, None), (2, 2, 7, 5)),
     ((9, 6), (1, 2, 7, 5)), ((3, 4), (3, 7, 9))],
    ids=["non_divisible", "global", "divisible", "none", "upsampling", "unbatched"],
)
def test_adaptive_avg_pool2d_matches_torch(out, shape):
    x = np.random.default_rng(8).standard_normal(shape).astype(np.float32)
    check_module(ct.nn.AdaptiveAvgPool2d(out), torch.nn.AdaptiveAvgPool2d(out), x)


# --- normalisation ------------------------------------------------------------------------------


def random_affine(theirs, ours, rng):
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy((1 + 0.5 * rng.standard_normal(theirs.weight.shape)).astype(np.float32)))
        theirs.bias.copy_(torch.from_numpy((0.5 * rng.standard_normal(theirs.bias.shape)).astype(np.float32)))
    ours_from_theirs(ours, theirs)


def assert_buffers_match(ours, theirs):
    tb, ob = dict(theirs.named_buffers()), dict(ours.named_buffers())
    assert list(ob) == list(tb)
    for name in tb:
        if name.endswith("num_batches_tracked"):
            assert ob[name].item() == tb[name].item() and ob[name].dtype == ct.int64
        else:
            np.testing.assert_allclose(ob[name].numpy(), tb[name].numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize(
    "cls,shape,kwargs",
    [
        ("BatchNorm1d", (8, 4), {}),
        ("BatchNorm1d", (5, 4, 6), dict(momentum=0.3, eps=1e-3)),
        ("BatchNorm2d", (4, 3, 5, 6), {}),
        ("BatchNorm2d", (3, 3, 4, 4), dict(momentum=None)),
        ("BatchNorm2d", (3, 3, 4, 4), dict(affine=False)),
    ],
    ids=["1d_NC", "1d_NCL", "2d", "2d_cumulative", "2d_no_affine"],
)
def test_batchnorm_three_training_steps_then_eval_match_torch(cls, shape, kwargs):
    rng = np.random.default_rng(9)
    c = shape[1]
    theirs, ours = getattr(torch.nn, cls)(c, **kwargs), getattr(ct.nn, cls)(c, **kwargs)
    if kwargs.get("affine", True):
        random_affine(theirs, ours, rng)
    for step in range(3):
        scale = rng.uniform(0.5, 3.0, (1, c) + (1,) * (len(shape) - 2))
        x = (rng.standard_normal(shape) * scale + step).astype(np.float32)
        ours.zero_grad()
        theirs.zero_grad()
        check_module(ours, theirs, x, seed=step)
        assert_buffers_match(ours, theirs)
        assert ours.num_batches_tracked.item() == step + 1
    ours.eval()
    theirs.eval()
    ours.zero_grad()
    theirs.zero_grad()
    x = rng.standard_normal(shape).astype(np.float32)
    check_module(ours, theirs, x, seed=7)
    assert_buffers_match(ours, theirs)  # eval changes nothing
    assert ours.num_batches_tracked.item() == 3


def test_batchnorm_without_running_stats_matches_torch_in_eval():
    rng = np.random.default_rng(10)
    theirs, ours = torch.nn.BatchNorm2d(3, track_running_stats=False), ct.nn.BatchNorm2d(3, track_running_stats=False)
    random_affine(theirs, ours, rng)
    theirs.eval()
    ours.eval()
    check_module(ours, theirs, rng.standard_normal((4, 3, 3, 5)).astype(np.float32))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]


@pytest.mark.parametrize("normalized", [6, (4, 6)], ids=["last_dim", "last_two_dims"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_layer_norm_matches_torch(normalized, affine):
    rng = np.random.default_rng(11)
    theirs = torch.nn.LayerNorm(normalized, elementwise_affine=affine)
    ours = ct.nn.LayerNorm(normalized, elementwise_affine=affine)
    if affine:
        random_affine(theirs, ours, rng)
    x = (rng.standard_normal((3, 4, 6)) * 2 + 1).astype(np.float32)
    check_module(ours, theirs, x)


def test_embedding_with_padding_idx_matches_torch():
    rng = np.random.default_rng(12)
    theirs = torch.nn.Embedding(10, 4, padding_idx=2)
    ours = ct.nn.Embedding(10, 4, padding_idx=2)
    assert (ours.weight.detach().numpy()[2] == 0).all() and (theirs.weight.detach().numpy()[2] == 0).all()
    ours_from_theirs(ours, theirs)
    ids = np.array([[1, 2, 3, 3], [9, 2, 0, 1]], np.int64)
    yo, yt = ours(ct.tensor(ids)), theirs(torch.from_numpy(ids))
    np.testing.assert_array_equal(yo.detach().numpy(), yt.detach().numpy())
    r = rng.standard_normal((2, 4, 4)).astype(np.float32)
    (yo * ct.tensor(r)).sum().backward()
    (yt * torch.from_numpy(r)).sum().backward()
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-6, atol=1e-6)
    assert (ours.weight.grad.numpy()[2] == 0).all()


def test_embedding_from_pretrained_matches_torch():
    table = np.random.default_rng(13).standard_normal((5, 3)).astype(np.float32)
    theirs = torch.nn.Embedding.from_pretrained(torch.from_numpy(table.copy()), padding_idx=0)
    ours = ct.nn.Embedding.from_pretrained(table, padding_idx=0)
    assert ours.weight.requires_grad is theirs.weight.requires_grad is False
    ids = np.array([0, 4, 2])
    np.testing.assert_array_equal(ours(ct.tensor(ids)).numpy(), theirs(torch.from_numpy(ids)).numpy())


# --- state dicts and whole models ---------------------------------------------------------------


def cnn(T):
    nn = T.nn
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 6, 3, padding="same", bias=False), nn.ReLU(), nn.AdaptiveAvgPool2d((2, 2)),
        nn.Flatten(), nn.Linear(24, 5),
    )


def test_torch_state_dict_loads_into_the_cn_torch_model_and_gives_the_same_eval_outputs():
    rng = np.random.default_rng(14)
    torch.manual_seed(0)
    theirs = cnn(torch)
    # a few training-mode passes and SGD steps, so the running statistics are not the defaults
    opt = torch.optim.SGD(theirs.parameters(), lr=0.05)
    for _ in range(3):
        opt.zero_grad()
        theirs(torch.from_numpy(rng.standard_normal((6, 3, 8, 8)).astype(np.float32) * 2 + 1)).pow(2).mean().backward()
        opt.step()
    theirs.eval()
    sd = {k: v.numpy() for k, v in theirs.state_dict().items()}
    assert sd["1.num_batches_tracked"] == 3

    ours = cnn(ct)
    assert set(ours.state_dict()) == set(sd)
    ours.load_state_dict(sd)
    ours.eval()
    x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(ct.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert ours[1].num_batches_tracked.item() == 3

    # and back: our state dict, as NumPy, loads into torch
    fresh = cnn(torch)
    fresh.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    fresh.eval()
    with torch.no_grad():
        np.testing.assert_array_equal(fresh(torch.from_numpy(x)).numpy(), expected)


def test_state_dict_key_order_is_torchs():
    assert list(cnn(ct).state_dict()) == list(cnn(torch).state_dict())


def test_training_steps_match_torch():
    """The same CNN (Conv2d+ReLU pairs run fused by our Sequential, BatchNorm in training mode,
    pooling, Linear) trained 3 SGD steps with cross-entropy from the same weights: the same
    losses, parameters and running statistics."""
    rng = np.random.default_rng(15)
    torch.manual_seed(1)
    theirs = cnn(torch)
    ours = cnn(ct)
    ours_from_theirs(ours, theirs)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    opt_o = ct.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        x = rng.standard_normal((8, 3, 8, 8)).astype(np.float32)
        y = rng.integers(0, 5, 8)
        opt_t.zero_grad()
        lt = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        lt.backward()
        opt_t.step()
        opt_o.zero_grad()
        lo = ct.nn.functional.cross_entropy(ours(ct.tensor(x)), ct.tensor(y))
        lo.backward()
        opt_o.step()
        assert lo.item() == pytest.approx(lt.item(), rel=1e-5, abs=1e-6)
    for (name, t), (oname, o) in zip(theirs.named_parameters(), ours.named_parameters()):
        assert name == oname
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
    assert_buffers_match(ours, theirs)
