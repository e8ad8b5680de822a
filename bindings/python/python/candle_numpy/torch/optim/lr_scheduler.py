"""``cn.torch.optim.lr_scheduler``: torch 2.x's learning-rate schedulers for ``cn.torch.optim``.

A scheduler writes ``group["lr"]`` into its optimizer's ``param_groups`` (the optimizer reads it
at the next ``step()``), as torch's do. As in torch, constructing a scheduler records
``group["initial_lr"]`` (once: a second scheduler on the same optimizer keeps the first one's)
and applies the epoch-0 learning rate; ``step()`` moves to the next epoch. Call
``optimizer.step()`` before ``scheduler.step()``, as in torch.

Differences from torch: no warnings about the call order; ``step(epoch)`` with an explicit epoch
(deprecated in torch) is not accepted, except by ``ReduceLROnPlateau``; ``CosineAnnealingLR``
uses the closed form (see its docstring).

Example:
    >>> import candle_numpy as cn
    >>> w = cn.torch.tensor([1.0], requires_grad=True)
    >>> opt = cn.torch.optim.SGD([w], lr=1.0)
    >>> sched = cn.torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(sched.get_last_lr()[0])
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25]
"""

import math as _math
from bisect import bisect_right as _bisect_right
from collections import Counter as _Counter
from types import FunctionType as _FunctionType

from . import Optimizer

__all__ = [
    "CosineAnnealingLR",
    "LRScheduler",
    "LambdaLR",
    "MultiStepLR",
    "ReduceLROnPlateau",
    "StepLR",
]


def _is_int(value):
    try:
        return not isinstance(value, bool) and int(value) == value
    except (TypeError, ValueError):
        return False


def _check_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{type(optimizer).__name__} is not an Optimizer; pass a cn.torch.optim optimizer "
            "(e.g. cn.torch.optim.SGD(model.parameters(), lr=0.1))"
        )


class LRScheduler:
    """Base class (``torch.optim.lr_scheduler.LRScheduler``): subclasses write ``get_lr()``,
    the learning rates for ``self.last_epoch``, one per parameter group.

    Args:
        optimizer: a ``cn.torch.optim`` optimizer.
        last_epoch: the index of the last epoch; -1 (the default) starts from scratch and
            records ``group["initial_lr"]``; a resumed scheduler needs ``initial_lr`` already in
            every group (``KeyError`` otherwise), and applies epoch ``last_epoch + 1``, as torch.

    Attributes:
        base_lrs: each group's ``initial_lr``.
        last_epoch: the epoch whose learning rates are in the optimizer.

    Raises:
        TypeError: ``optimizer`` is not a ``cn.torch.optim`` optimizer.
    """

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        last_epoch = int(last_epoch)
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when resuming an "
                        "optimizer; pass last_epoch=-1 to start from scratch"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()

    def get_lr(self):
        """The learning rates for ``self.last_epoch`` (one per group); subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} must define get_lr()")

    def get_last_lr(self):
        """The learning rates the last ``step()`` (or the constructor) set, one per group."""
        return self._last_lr

    def step(self):
        """Move to the next epoch and write its learning rate into every group."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """Everything but the optimizer, as a dict (``load_state_dict`` takes it back)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict()`` returned (the optimizer's lr is not touched: it is
        the optimizer's state, as in torch)."""
        self.__dict__.update(state_dict)

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs
    (``torch.optim.lr_scheduler.StepLR``): ``lr = initial_lr * gamma ** (epoch // step_size)``.

    As torch's ``step()``, the update is multiplicative on the current ``group["lr"]`` (so it
    chains with other schedulers and gives torch's values to the last bit).

    Raises:
        ValueError: ``step_size`` is not a positive integer (torch fails later, dividing by 0).
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if not _is_int(step_size) or step_size <= 0:
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        groups = self.optimizer.param_groups
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each epoch in ``milestones``
    (``torch.optim.lr_scheduler.MultiStepLR``): ``lr = initial_lr * gamma ** k`` with ``k`` the
    number of milestones ``<= epoch``. A milestone listed twice counts twice, as in torch.

    Raises:
        ValueError: a milestone is not an integer.
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        milestones = list(milestones)
        for m in milestones:
            if not _is_int(m):
                raise ValueError(f"milestones must be integers (epochs), got {m!r} in {milestones!r}")
        self.milestones = _Counter(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        groups = self.optimizer.param_groups
        hits = self.milestones.get(self.last_epoch, 0)
        if hits == 0:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma**hits for group in groups]

    def _get_closed_form_lr(self):
        passed = _bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma**passed for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from ``initial_lr`` down to ``eta_min`` over ``T_max`` epochs
    (``torch.optim.lr_scheduler.CosineAnnealingLR``), without restarts.

    The learning rate of epoch ``t`` is the closed form
    ``eta_min + (initial_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2`` (past ``T_max`` it
    rises again, as torch's). torch's ``step()`` uses an equivalent recursive form, which agrees
    with this one to rounding; unlike torch's, changes made to ``group["lr"]`` by hand or by
    another scheduler are not carried forward.

    Raises:
        ValueError: ``T_max`` is not positive (torch divides by zero at the first step).
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):  # noqa: N803 - torch's name
        if isinstance(T_max, bool) or not isinstance(T_max, (int, float)) or T_max <= 0:
            raise ValueError(f"T_max must be a positive number of epochs, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return self._get_closed_form_lr()

    def _get_closed_form_lr(self):
        cosine = (1.0 + _math.cos(_math.pi * self.last_epoch / self.T_max)) / 2.0
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(epoch)`` (``torch.optim.lr_scheduler.LambdaLR``).

    ``lr_lambda`` is a function of the epoch, or a list of them, one per parameter group.
    ``state_dict()`` keeps the state of callable objects (their ``__dict__``) but not of plain
    functions or lambdas, as torch's.

    Raises:
        ValueError: a list of ``lr_lambda`` whose length is not the number of groups.
        TypeError: an ``lr_lambda`` is not callable.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        _check_optimizer(optimizer)
        n_groups = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n_groups:
                raise ValueError(f"Expected {n_groups} lr_lambdas, but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n_groups
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"lr_lambda must be callable (epoch -> factor), got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * fn(self.last_epoch) for base, fn in zip(self.base_lrs, self.lr_lambdas)]

    def state_dict(self):
        """The scheduler's state; ``lr_lambdas`` holds each callable object's ``__dict__``
        (``None`` for functions and lambdas, whose code is not state)."""
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [
            None if _is_plain_function(fn) else dict(fn.__dict__) for fn in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict):
        """Restore ``state_dict()``'s values, and each callable object's ``__dict__``."""
        state = dict(state_dict)
        saved = state.pop("lr_lambdas", None) or []
        self.__dict__.update(state)
        for fn, attrs in zip(self.lr_lambdas, saved):
            if attrs is not None:
                fn.__dict__.update(attrs)


def _is_plain_function(fn):
    # torch saves the __dict__ of anything that is not a Python function
    return isinstance(fn, _FunctionType) or not hasattr(fn, "__dict__")


class ReduceLROnPlateau(LRScheduler):
    """Multiply the learning rate by ``factor`` when a metric stops improving
    (``torch.optim.lr_scheduler.ReduceLROnPlateau``); ``step(metric)`` once per epoch.

    The algorithm is torch's: a metric is better than the best so far when it beats it by
    ``threshold`` (``mode="min"``: below ``best * (1 - threshold)`` for ``threshold_mode="rel"``,
    below ``best - threshold`` for ``"abs"``; ``mode="max"`` mirrors it). Each epoch that is not
    better counts as bad; epochs in cooldown do not count. When more than ``patience`` epochs
    in a row are bad, every group's lr becomes ``max(lr * factor, min_lr)`` (left as is when that
    changes it by ``eps`` or less), the count restarts and ``cooldown`` epochs follow.

    Args:
        optimizer: a ``cn.torch.optim`` optimizer.
        mode: "min" (a loss) or "max" (an accuracy).
        factor: the multiplier, < 1.
        patience: bad epochs tolerated before reducing.
        threshold, threshold_mode: what counts as better ("rel" or "abs").
        cooldown: epochs after a reduction during which bad epochs are not counted.
        min_lr: a floor, one number or one per group.
        eps: the smallest change worth applying.

    Raises:
        ValueError: ``factor >= 1``, an unknown ``mode`` or ``threshold_mode``, or a list of
            ``min_lr`` whose length is not the number of groups.
        TypeError: ``optimizer`` is not a ``cn.torch.optim`` optimizer.

    Unlike the other schedulers it does not record ``initial_lr`` and does not change the lr
    when constructed, as torch's.
    """

    def __init__(
        self,
        optimizer,
        mode="min",
        factor=0.1,
        patience=10,
        threshold=1e-4,
        threshold_mode="rel",
        cooldown=0,
        min_lr=0,
        eps=1e-8,
    ):
        if factor >= 1.0:
            raise ValueError(f"Factor should be < 1.0, got {factor!r}")
        _check_optimizer(optimizer)
        self.factor = factor
        self.optimizer = optimizer
        n_groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n_groups:
                raise ValueError(f"expected {n_groups} min_lrs, got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * n_groups
        self.patience = patience
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self._check_modes()
        self._reset()

    def _check_modes(self):
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode {self.mode!r} is unknown! Use 'min' or 'max'")
        if self.threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold mode {self.threshold_mode!r} is unknown! Use 'rel' or 'abs'")
        self.mode_worse = _math.inf if self.mode == "min" else -_math.inf

    def _reset(self):
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self):
        """Whether the last reduction's cooldown is still running."""
        return self.cooldown_counter > 0

    def is_better(self, a, best):
        """Whether metric ``a`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (1.0 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics, epoch=None):
        """Record this epoch's metric (a number or a one-element tensor) and reduce the
        learning rate when it has plateaued. ``epoch`` sets ``last_epoch`` (deprecated in
        torch)."""
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self):
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict()`` returned."""
        self.__dict__.update(state_dict)
        self._check_modes()
