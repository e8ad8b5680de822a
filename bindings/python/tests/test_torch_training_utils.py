"""cn.torch's training utilities, checked against torch's formulas: learning-rate schedulers
(optim.lr_scheduler), weight initialisers (nn.init), gradient clipping and safetensors state
dicts (nn.utils)."""

import math
import warnings

import numpy as np
import pytest

import candle_numpy as cn
from candle_numpy.torch.nn import init, utils
from candle_numpy.torch.optim import lr_scheduler

torch = cn.torch
nn = cn.torch.nn


def make_opt(lr=1.0, cls=None):
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    return (cls or torch.optim.SGD)([w], lr=lr)


def run(sched, n):
    """The lr in force at epochs 0..n-1 (read, then optimizer.step, then scheduler.step)."""
    out = []
    for _ in range(n):
        out.append(sched.optimizer.param_groups[0]["lr"])
        assert sched.get_last_lr() == [out[-1]]
        sched.optimizer.step()
        sched.step()
    return out


# --- schedulers ---------------------------------------------------------------------------------


def test_step_lr_over_ten_epochs():
    sched = lr_scheduler.StepLR(make_opt(0.1), step_size=3, gamma=0.5)
    assert sched.last_epoch == 0 and sched.base_lrs == [0.1]
    assert run(sched, 10) == pytest.approx([0.1 * 0.5 ** (e // 3) for e in range(10)], rel=1e-12)
    assert sched.last_epoch == 10


def test_step_lr_default_gamma_and_initial_lr():
    opt = make_opt(2.0)
    sched = lr_scheduler.StepLR(opt, step_size=1)
    assert opt.param_groups[0]["initial_lr"] == 2.0
    assert run(sched, 4) == pytest.approx([2.0, 0.2, 0.02, 0.002], rel=1e-12)
    assert opt.param_groups[0]["initial_lr"] == 2.0  # not moved by the schedule


def test_multistep_lr_counts_milestones():
    sched = lr_scheduler.MultiStepLR(make_opt(1.0), milestones=[2, 5, 5, 8], gamma=0.1)
    expected = [1.0 * 0.1 ** sum(m <= e for m in [2, 5, 5, 8]) for e in range(10)]
    assert run(sched, 10) == pytest.approx(expected, rel=1e-12)
    assert expected[5] == pytest.approx(1e-3)  # the milestone listed twice counts twice


def test_cosine_annealing_closed_form():
    base, eta_min, t_max = 0.5, 0.01, 7
    sched = lr_scheduler.CosineAnnealingLR(make_opt(base), T_max=t_max, eta_min=eta_min)
    expected = [eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / t_max)) / 2 for t in range(15)]
    got = run(sched, 15)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert got[0] == base and got[t_max] == pytest.approx(eta_min)
    assert got[2 * t_max] == pytest.approx(base)  # past T_max it rises again, as torch's


def test_cosine_annealing_matches_torchs_recursive_form_to_rounding():
    # torch's step(): lr_t = eta_min + (lr_{t-1} - eta_min) * (1 + cos(pi t/T)) / (1 + cos(pi (t-1)/T)),
    # with the special case at (t - 1 - T) % (2T) == 0
    base, eta_min, t_max = 0.1, 0.0, 10
    lr, recursive = base, [base]
    for t in range(1, 25):
        if (t - 1 - t_max) % (2 * t_max) == 0:
            lr = lr + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
        else:
            lr = eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t / t_max)) / (
                1 + math.cos(math.pi * (t - 1) / t_max))
        recursive.append(lr)
    sched = lr_scheduler.CosineAnnealingLR(make_opt(base), T_max=t_max, eta_min=eta_min)
    assert run(sched, 25) == pytest.approx(recursive, rel=1e-9, abs=1e-15)


def test_lambda_lr_single_and_per_group():
    sched = lr_scheduler.LambdaLR(make_opt(0.2), lambda e: 1.0 / (e + 1))
    assert run(sched, 5) == pytest.approx([0.2 / (e + 1) for e in range(5)], rel=1e-12)
    warmup = lr_scheduler.LambdaLR(make_opt(0.2), [lambda e: min(1.0, e / 4)])
    assert run(warmup, 6) == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2, 0.2])


def test_scheduler_lr_is_what_the_optimizer_uses():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    g = torch.tensor([0.5, -1.0])
    opt = torch.optim.SGD([w], lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    expected = np.array([1.0, 2.0], np.float32)
    for lr in (1.0, 0.5, 0.25):  # all exact in float32, so the update is exact
        assert opt.param_groups[0]["lr"] == lr
        opt.zero_grad()
        (w * g).sum().backward()
        opt.step()
        sched.step()
        expected = expected - np.float32(lr) * np.array([0.5, -1.0], np.float32)
        np.testing.assert_array_equal(w.numpy(), expected)


def test_second_scheduler_keeps_the_first_initial_lr():
    opt = make_opt(1.0)
    first = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    first.step()
    assert opt.param_groups[0]["lr"] == 0.5
    second = lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    assert second.base_lrs == [1.0] and opt.param_groups[0]["lr"] == 1.0


def test_resuming_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(make_opt(), step_size=2, last_epoch=4)
    opt = make_opt(1.0)
    opt.param_groups[0]["initial_lr"] = 1.0
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10, last_epoch=4)
    assert sched.last_epoch == 5  # as torch: the constructor steps once more
    assert opt.param_groups[0]["lr"] == pytest.approx((1 + math.cos(math.pi * 5 / 10)) / 2)


def test_scheduler_state_dict_round_trip():
    opt = make_opt(0.3)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=8, eta_min=0.01)
    run(sched, 3)
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 3 and state["T_max"] == 8
    opt2 = make_opt(0.3)
    restored = lr_scheduler.CosineAnnealingLR(opt2, T_max=100)
    restored.load_state_dict(state)
    assert restored.T_max == 8 and restored.get_last_lr() == sched.get_last_lr()
    assert opt2.param_groups[0]["lr"] == 0.3  # the optimizer's lr is the optimizer's state, as in torch
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    assert run(restored, 4) == run(sched, 4)

    step = lr_scheduler.StepLR(make_opt(1.0), step_size=2)
    run(step, 3)
    opt3 = make_opt(1.0)
    step2 = lr_scheduler.StepLR(opt3, step_size=5, gamma=0.9)
    step2.load_state_dict(step.state_dict())
    opt3.param_groups[0]["lr"] = step.optimizer.param_groups[0]["lr"]  # the optimizer's own state
    assert run(step2, 5) == pytest.approx(run(step, 5), rel=1e-12)


def test_lambda_lr_state_dict_keeps_callable_objects_not_functions():
    class Warmup:
        def __init__(self):
            self.steps = 4

        def __call__(self, epoch):
            return min(1.0, epoch / self.steps)

    fn = Warmup()
    sched = lr_scheduler.LambdaLR(make_opt(), fn)
    assert sched.state_dict()["lr_lambdas"] == [{"steps": 4}]
    fn.steps = 10
    sched.load_state_dict({**sched.state_dict(), "lr_lambdas": [{"steps": 2}]})
    assert fn.steps == 2
    assert lr_scheduler.LambdaLR(make_opt(), lambda e: 1.0).state_dict()["lr_lambdas"] == [None]


def test_reduce_on_plateau_patience_cooldown_and_min_lr():
    opt = make_opt(1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, min_lr=0.3)
    assert "initial_lr" not in opt.param_groups[0] and sched.get_last_lr() == [1.0]
    metrics = [10, 9, 9, 9, 9, 8, 8, 8, 8, 8, 8, 8, 8]
    lrs, bad = [], []
    for m in metrics:
        sched.step(m)
        lrs.append(opt.param_groups[0]["lr"])
        bad.append(sched.num_bad_epochs)
    # epoch 5: third bad epoch (> patience 2) halves the lr, one cooldown epoch follows;
    # epoch 9: halving would give 0.25 < min_lr, so 0.3; epoch 10 is cooldown (not counted);
    # epoch 13: max(0.15, 0.3) = 0.3 is no change, so the lr stays
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3]
    assert bad == [0, 0, 1, 2, 0, 0, 1, 2, 0, 0, 1, 2, 0]
    assert sched.best == 8 and sched.last_epoch == 13 and sched.get_last_lr() == [0.3]


def test_reduce_on_plateau_without_cooldown_drops_earlier():
    opt = make_opt(1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    lrs = []
    for m in [5, 5, 5, 5, 5]:
        sched.step(m)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_reduce_on_plateau_thresholds():
    # max / abs: better means above best + 0.05
    opt = make_opt(1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0, threshold=0.05,
                                           threshold_mode="abs")
    lrs = []
    for acc in [0.5, 0.6, 0.65, 0.66, 0.7]:
        sched.step(acc)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])
    # min / rel: better means below best * (1 - 0.1)
    rel = lr_scheduler.ReduceLROnPlateau(make_opt(1.0), threshold=0.1, patience=0)
    rel.step(100.0)
    assert rel.is_better(89.9, 100.0) and not rel.is_better(90.0, 100.0)
    rel_max = lr_scheduler.ReduceLROnPlateau(make_opt(1.0), mode="max", threshold=0.1)
    assert rel_max.is_better(110.1, 100.0) and not rel_max.is_better(110.0, 100.0)
    # a 0-d tensor works as the metric
    rel.step(torch.tensor(50.0))
    assert rel.best == 50.0


def test_reduce_on_plateau_eps_and_state_dict():
    opt = make_opt(1e-8)
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=0)  # 1e-8 - 1e-9 is not > eps=1e-8
    sched.step(1.0)
    sched.step(1.0)
    assert opt.param_groups[0]["lr"] == 1e-8
    sched = lr_scheduler.ReduceLROnPlateau(make_opt(1.0), patience=3, cooldown=2)
    for m in [3.0, 2.0, 2.5, 2.5]:
        sched.step(m)
    state = sched.state_dict()
    assert "optimizer" not in state
    other = lr_scheduler.ReduceLROnPlateau(make_opt(1.0))
    other.load_state_dict(state)
    assert (other.best, other.num_bad_epochs, other.patience, other.cooldown, other.last_epoch) == (2.0, 2, 3, 2, 4)


def test_scheduler_errors():
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=1)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.ReduceLROnPlateau([0.1])
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        lr_scheduler.StepLR(make_opt(), step_size=-1)
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        lr_scheduler.StepLR(make_opt(), step_size=0)
    with pytest.raises(ValueError, match="milestones must be integers"):
        lr_scheduler.MultiStepLR(make_opt(), milestones=[1.5])
    with pytest.raises(ValueError, match="T_max must be a positive"):
        lr_scheduler.CosineAnnealingLR(make_opt(), T_max=0)
    with pytest.raises(ValueError, match="Expected 1 lr_lambdas, but got 2"):
        lr_scheduler.LambdaLR(make_opt(), [lambda e: 1.0, lambda e: 1.0])
    with pytest.raises(TypeError, match="lr_lambda must be callable"):
        lr_scheduler.LambdaLR(make_opt(), 0.5)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        lr_scheduler.ReduceLROnPlateau(make_opt(), factor=1.0)
    with pytest.raises(ValueError, match="mode 'avg' is unknown"):
        lr_scheduler.ReduceLROnPlateau(make_opt(), mode="avg")
    with pytest.raises(ValueError, match="threshold mode 'pct' is unknown"):
        lr_scheduler.ReduceLROnPlateau(make_opt(), threshold_mode="pct")
    with pytest.raises(ValueError, match="expected 1 min_lrs, got 2"):
        lr_scheduler.ReduceLROnPlateau(make_opt(), min_lr=[0.0, 0.0])


def test_schedulers_work_with_adam():
    opt = make_opt(0.01, torch.optim.Adam)
    sched = lr_scheduler.MultiStepLR(opt, milestones=[1])
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.001)
    assert torch.optim.lr_scheduler is lr_scheduler


# --- nn.init ------------------------------------------------------------------------------------


def test_calculate_gain_values():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("leaky_relu", 0) == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("selu") == 0.75


def test_fans_of_linear_and_conv_weights():
    assert init._calculate_fan_in_and_fan_out(torch.zeros(8, 4, 3, 3)) == (36, 72)
    assert init._calculate_fan_in_and_fan_out(torch.zeros(5, 3)) == (3, 5)
    assert init._calculate_fan_in_and_fan_out(torch.zeros(6, 2, 7)) == (14, 42)


def test_xavier_uniform_bound_is_reached_not_exceeded():
    torch.manual_seed(0)
    w = nn.Parameter(torch.zeros(300, 200))
    assert init.xavier_uniform_(w) is w
    bound = math.sqrt(6 / (200 + 300))
    v = w.numpy()
    assert np.abs(v).max() <= bound * (1 + 1e-6)
    assert v.max() > 0.99 * bound and v.min() < -0.99 * bound
    assert w.requires_grad and w.is_leaf and w.dtype == "float32"
    init.xavier_uniform_(w, gain=init.calculate_gain("tanh"))
    assert np.abs(w.numpy()).max() > 0.99 * bound * 5 / 3


def test_xavier_normal_and_conv_fans():
    torch.manual_seed(1)
    w = init.xavier_normal_(torch.zeros(64, 32, 3, 3))
    std = math.sqrt(2 / (32 * 9 + 64 * 9))
    assert w.numpy().std() == pytest.approx(std, rel=0.05)
    assert abs(w.numpy().mean()) < 0.05 * std


def test_kaiming_normal_std_and_modes():
    torch.manual_seed(2)
    w = init.kaiming_normal_(torch.zeros(256, 256), nonlinearity="relu")
    assert w.numpy().std() == pytest.approx(math.sqrt(2) / 16, rel=0.05)
    w = init.kaiming_normal_(torch.zeros(512, 128), mode="fan_out")  # leaky_relu, a=0: gain sqrt(2)
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / 512), rel=0.05)
    w = init.kaiming_normal_(torch.zeros(16, 8, 5, 5), a=0.1, mode="fan_in")
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / 1.01) / math.sqrt(200), rel=0.05)


def test_kaiming_uniform_bound():
    torch.manual_seed(3)
    # torch's Linear default: a = sqrt(5) gives the bound 1 / sqrt(fan_in)
    w = init.kaiming_uniform_(torch.zeros(400, 100), a=math.sqrt(5))
    v = w.numpy()
    assert np.abs(v).max() <= 0.1 * (1 + 1e-6) and v.max() > 0.099 and v.min() < -0.099
    w = init.kaiming_uniform_(torch.zeros(50, 40), mode="FAN_OUT", nonlinearity="relu")
    assert np.abs(w.numpy()).max() <= math.sqrt(3) * math.sqrt(2) / math.sqrt(50) * (1 + 1e-6)


def test_simple_fills_and_float64():
    w = nn.Parameter(torch.zeros(3, 4))
    assert init.constant_(w, 0.25) is w
    np.testing.assert_array_equal(w.numpy(), np.full((3, 4), 0.25, np.float32))
    np.testing.assert_array_equal(init.ones_(w).numpy(), np.ones((3, 4), np.float32))
    np.testing.assert_array_equal(init.zeros_(w).numpy(), np.zeros((3, 4), np.float32))
    b = torch.zeros(10000, dtype="float64")
    torch.manual_seed(4)
    init.uniform_(b, -2.0, 3.0)
    assert b.dtype == "float64" and b.numpy().min() >= -2.0 and b.numpy().max() < 3.0
    assert b.numpy().mean() == pytest.approx(0.5, abs=0.05)
    init.normal_(b, mean=5.0, std=0.5)
    assert b.numpy().mean() == pytest.approx(5.0, abs=0.02)
    assert b.numpy().std() == pytest.approx(0.5, rel=0.05)


def test_manual_seed_and_generator_reproduce_values():
    torch.manual_seed(42)
    a = init.xavier_uniform_(torch.zeros(10, 20)).numpy().copy()
    torch.manual_seed(42)
    b = init.xavier_uniform_(torch.zeros(10, 20)).numpy().copy()
    torch.manual_seed(43)
    c = init.xavier_uniform_(torch.zeros(10, 20)).numpy().copy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    x = init.kaiming_normal_(torch.zeros(5, 5), generator=g1).numpy().copy()
    y = init.kaiming_normal_(torch.zeros(5, 5), generator=g2).numpy().copy()
    np.testing.assert_array_equal(x, y)


def test_init_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(torch.zeros(5))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.kaiming_normal_(torch.zeros(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(torch.zeros(2, 2), mode="fan_avg")
    with pytest.raises(ValueError, match="Unsupported nonlinearity swish"):
        init.kaiming_uniform_(torch.zeros(2, 2), nonlinearity="swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", "0.1")
    empty = torch.zeros(0, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert init.kaiming_uniform_(empty) is empty
    assert any("zero-element" in str(w.message) for w in caught)


# --- gradient clipping --------------------------------------------------------------------------


def with_grads(*grads):
    params = []
    for g in grads:
        p = torch.tensor(np.zeros(np.shape(g), np.float32), requires_grad=True)
        p.grad = torch.tensor(np.asarray(g, np.float32))
        params.append(p)
    return params


def flat(params):
    return np.concatenate([p.grad.numpy().ravel() for p in params])


def test_clip_grad_norm_total_and_scaling():
    params = with_grads(np.array([3.0, -4.0]), np.array([[1.0, 2.0], [-2.0, 0.5]]))
    before = flat(params)
    expected_total = np.linalg.norm(before)
    total = utils.clip_grad_norm_(params, max_norm=1.0)
    assert total.shape == () and total.dtype == "float32"
    assert float(total) == pytest.approx(expected_total, rel=1e-6)
    coef = 1.0 / (float(total) + 1e-6)
    np.testing.assert_allclose(flat(params), before * coef, rtol=1e-6)
    assert np.linalg.norm(flat(params)) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_below_max_leaves_grads_alone():
    params = with_grads(np.array([0.1, 0.2]), np.array([0.3]))
    before = flat(params)
    total = utils.clip_grad_norm_(iter(params), max_norm=10.0)
    assert float(total) == pytest.approx(np.linalg.norm(before), rel=1e-6)
    np.testing.assert_array_equal(flat(params), before)


def test_clip_grad_norm_inf_and_p_norms_and_single_tensor():
    params = with_grads(np.array([1.0, -7.0]), np.array([3.0]))
    before = flat(params)
    total = utils.clip_grad_norm_(params, max_norm=3.5, norm_type=float("inf"))
    assert float(total) == 7.0
    np.testing.assert_allclose(flat(params), before * (3.5 / (7.0 + 1e-6)), rtol=1e-6)
    params = with_grads(np.array([1.0, -2.0]), np.array([3.0]))
    assert float(utils.clip_grad_norm_(params, 100.0, norm_type=1)) == 6.0
    assert float(utils.clip_grad_norm_(params, 100.0, norm_type="inf")) == 3.0
    assert float(utils.clip_grad_norm_(params, 100.0, norm_type=3)) == pytest.approx(36 ** (1 / 3), rel=1e-6)
    (single,) = with_grads(np.array([6.0, 8.0]))
    assert float(utils.clip_grad_norm_(single, 5.0)) == pytest.approx(10.0)
    np.testing.assert_allclose(single.grad.numpy(), [3.0, 4.0], rtol=1e-6)


def test_clip_grad_norm_skips_missing_grads():
    (with_grad,) = with_grads(np.array([3.0, 4.0]))
    without = torch.tensor([1.0, 1.0], requires_grad=True)
    assert float(utils.clip_grad_norm_([without, with_grad], 1.0)) == pytest.approx(5.0)
    assert without.grad is None
    zero = utils.clip_grad_norm_([without], 1.0)
    assert float(zero) == 0.0 and zero.shape == ()


def test_clip_grad_norm_nonfinite():
    params = with_grads(np.array([1.0, np.inf]))
    with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
        utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert flat(params)[0] == 1.0  # untouched
    total = utils.clip_grad_norm_(params, 1.0)  # as torch: scaled by 1 / inf = 0
    assert math.isinf(float(total))
    assert flat(params)[0] == 0.0
    nan = with_grads(np.array([np.nan, 1.0]))
    with pytest.raises(RuntimeError, match="error_if_nonfinite=False"):
        utils.clip_grad_norm_(nan, 1.0, error_if_nonfinite=True)
    assert math.isnan(float(utils.clip_grad_norm_(nan, 1.0)))


def test_clip_grad_norm_after_backward_in_a_training_step():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x = torch.tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
    (model(x) ** 2).sum().backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    total = utils.clip_grad_norm_(model.parameters(), 0.5)
    norm = np.linalg.norm(np.concatenate([g.ravel() for g in grads]))
    assert float(total) == pytest.approx(norm, rel=1e-6)
    for p, g in zip(model.parameters(), grads):
        np.testing.assert_allclose(p.grad.numpy(), g * (0.5 / (float(total) + 1e-6)), rtol=1e-6)


def test_clip_grad_value():
    params = with_grads(np.array([-3.0, 0.5, 2.0]), np.array([[0.1, -0.2]]))
    assert utils.clip_grad_value_(params, 1.0) is None
    np.testing.assert_array_equal(params[0].grad.numpy(), np.array([-1.0, 0.5, 1.0], np.float32))
    np.testing.assert_array_equal(params[1].grad.numpy(), np.array([[0.1, -0.2]], np.float32))
    (single,) = with_grads(np.array([5.0]))
    utils.clip_grad_value_(single, 0.25)
    assert single.grad.tolist() == [0.25]


# --- state dicts as safetensors -----------------------------------------------------------------


def mlp(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_save_and_load_state_dict_round_trip(tmp_path):
    path = tmp_path / "mlp.safetensors"
    src, dst = mlp(0), mlp(1)
    x = torch.tensor(np.linspace(-1, 1, 15, dtype=np.float32).reshape(5, 3))
    assert not np.array_equal(src(x).numpy(), dst(x).numpy())
    utils.save_state_dict(src, path)
    loaded = utils.load_state_dict(path)
    assert list(loaded) == list(src.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    dst.load_state_dict(loaded)
    np.testing.assert_array_equal(dst(x).numpy(), src(x).numpy())
    for (k, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy(), err_msg=k)
    assert dst[0].weight.requires_grad and dst[0].weight.is_leaf


def test_saved_file_is_plain_safetensors(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "mlp.safetensors"
    model = mlp(2)
    utils.save_state_dict(model.state_dict(), str(path), metadata={"epoch": "3"})
    arrays = st.load_file(str(path))
    assert set(arrays) == set(model.state_dict())
    for k, v in model.state_dict().items():
        assert arrays[k].dtype == np.float32
        np.testing.assert_array_equal(arrays[k], v.detach().numpy())
    meta = cn.safetensors_metadata(path)
    assert meta["epoch"] == "3" and "candle_numpy.state_dict_keys" in meta


def test_load_state_dict_reads_other_writers_files(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "foreign.safetensors"
    model = mlp(3)
    st.save_file({k: v.detach().numpy().copy() for k, v in model.state_dict().items()}, str(path))
    loaded = utils.load_state_dict(path)
    assert set(loaded) == set(model.state_dict())  # file order (no recorded key order)
    fresh = mlp(4)
    fresh.load_state_dict(loaded)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k].detach().numpy(), v.detach().numpy())


def test_save_state_dict_accepts_arrays_and_rejects_bad_input(tmp_path):
    path = tmp_path / "arrays.safetensors"
    utils.save_state_dict({"b": np.arange(3, dtype=np.int64), "a": torch.ones(2, 2)}, path)
    loaded = utils.load_state_dict(path)
    assert list(loaded) == ["b", "a"]
    assert loaded["b"].tolist() == [0, 1, 2] and loaded["a"].tolist() == [[1.0, 1.0], [1.0, 1.0]]
    del loaded
    with pytest.raises(TypeError, match="Module or a state dict"):
        utils.save_state_dict(42, path)
    with pytest.raises(TypeError, match="a Tensor or NumPy array is required"):
        utils.save_state_dict({"w": [1.0, 2.0]}, path)
    with pytest.raises(TypeError, match="keys must be str"):
        utils.save_state_dict({1: np.zeros(2)}, path)
    with pytest.raises(ValueError, match="is reserved"):
        utils.save_state_dict({"w": np.zeros(2)}, path, metadata={"candle_numpy.state_dict_keys": "[]"})
    with pytest.raises(FileNotFoundError):
        utils.load_state_dict(tmp_path / "missing.safetensors")
