"""``cn.torch.optim``: torch's optimizer classes over the engine's optimizer stepper.

The update itself is ``candle_numpy::train::Stepper``'s (the one Keras's ``fit`` uses too, with
torch's conventions selected) and runs natively without the GIL; these
classes keep torch's signatures, ``param_groups`` (so the schedulers of
``cn.torch.optim.lr_scheduler``, which write ``group["lr"]``, work) and ``zero_grad``.

Example:
    >>> import candle_numpy as cn
    >>> w = cn.torch.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = cn.torch.optim.SGD([w], lr=0.5)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w.tolist()
    [0.0, 0.0]
"""

from ... import _native

__all__ = ["Adam", "AdamW", "Optimizer", "SGD", "lr_scheduler"]


class Optimizer:
    """Base class: one parameter group holding every parameter."""

    def __init__(self, params, kind, defaults):
        params = list(params)
        if params and isinstance(params[0], dict):
            raise TypeError(
                "per-parameter option dicts are not supported; pass one iterable of tensors "
                "(e.g. model.parameters())"
            )
        self.defaults = dict(defaults)
        betas = self.defaults.get("betas", (0.9, 0.999))
        self._native = _native.Optimizer(
            kind,
            params,
            lr=float(self.defaults["lr"]),
            beta1=float(betas[0]),
            beta2=float(betas[1]),
            eps=float(self.defaults.get("eps", 1e-8)),
            weight_decay=float(self.defaults.get("weight_decay", 0.0)),
            momentum=float(self.defaults.get("momentum", 0.0)),
            nesterov=bool(self.defaults.get("nesterov", False)),
        )
        self.param_groups = [dict(self.defaults, params=params)]

    def step(self, closure=None):
        """Update every parameter that has a ``.grad``. ``closure`` (re-evaluates the loss) is
        called first when given, and its loss returned."""
        loss = closure() if closure is not None else None
        lr = float(self.param_groups[0]["lr"])
        if lr != self._native.lr:
            self._native.lr = lr
        self._native.step()
        return loss

    def zero_grad(self, set_to_none=True):
        """Clear the gradients (``None``), or zero them with ``set_to_none=False``."""
        self._native.zero_grad(set_to_none)

    def __repr__(self):
        opts = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({opts})"


class SGD(Optimizer):
    """``torch.optim.SGD(params, lr=1e-3, momentum=0, weight_decay=0, nesterov=False)`` (torch's
    momentum buffer ``b = momentum * b + g``; weight decay as an L2 term on the gradient)."""

    def __init__(self, params, lr=1e-3, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(
            params,
            "sgd",
            {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "nesterov": nesterov},
        )


class Adam(Optimizer):
    """``torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)``
    (weight decay as an L2 term on the gradient, as torch's Adam)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, "adam", {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})


class AdamW(Optimizer):
    """``torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)``
    (decoupled weight decay)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, "adamw", {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})


from . import lr_scheduler  # noqa: E402  (it builds on Optimizer)
