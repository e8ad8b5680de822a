"""``cn.torch.nn``: torch's module API over candle ops, enough for the classic training loop.

A ``Module`` registers, like torch's, the parameters and submodules assigned to its
attributes; ``parameters()`` feeds ``cn.torch.optim``. Parameters are candle ``Var``s (leaf
tensors with ``requires_grad=True``); ``Linear`` initialises them as torch does
(uniform in ``±1/sqrt(in_features)``) from the generator seeded by ``cn.torch.manual_seed``.

Example:
    >>> import numpy as np, candle_numpy as cn
    >>> nn = cn.torch.nn
    >>> model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())
    >>> model(cn.torch.from_numpy(np.zeros((4, 10), np.float32))).shape
    (4, 1)
"""

import math as _math
from collections import OrderedDict as _OrderedDict

import numpy as _np

from ... import _native
from .. import _random
from . import functional

__all__ = [
    "AdaptiveAvgPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv1d",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Flatten",
    "GELU",
    "Identity",
    "L1Loss",
    "LayerNorm",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MaxPool1d",
    "MaxPool2d",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "functional",
    "init",
    "utils",
]


def Parameter(data, requires_grad=True):  # noqa: N802 - torch's spelling
    """A leaf tensor holding a copy of ``data`` as a candle ``Var`` (``nn.Parameter``)."""
    if isinstance(data, _native.Tensor):
        data = data.detach().numpy()
    return _native.tensor(data, requires_grad=requires_grad)


def _is_param(value):
    return isinstance(value, _native.Tensor) and value.requires_grad and value.is_leaf


class Module:
    """Base class of layers and models (``torch.nn.Module``): subclass, assign layers and
    parameters in ``__init__`` and write ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", _OrderedDict())
        object.__setattr__(self, "_buffers", _OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", _OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() call; call super().__init__() first"
            )
        if name in self._buffers:
            # assigning to a registered buffer replaces it (None unregisters its value only)
            if value is not None and not isinstance(value, _native.Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} (a Tensor or None is required)")
            self._buffers[name] = value
            object.__setattr__(self, name, value)
            return
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Module):
            self._modules[name] = value
        elif _is_param(value):
            self._parameters[name] = value
        object.__setattr__(self, name, value)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def named_parameters(self, prefix=""):
        """``(name, parameter)`` pairs, depth first, each parameter once."""
        seen = set()
        for name, mod in self.named_modules(prefix):
            for pname, p in mod._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{name}.{pname}" if name else pname), p

    def parameters(self):
        """Every parameter (what an optimizer takes)."""
        for _, p in self.named_parameters():
            yield p

    def register_buffer(self, name, tensor, persistent=True):
        """A tensor that is state but not a parameter (BatchNorm's running statistics): in
        ``state_dict`` when ``persistent``, never in ``parameters()``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"buffer name must be a non-empty string without '.', got {name!r}")
        if tensor is not None and not isinstance(tensor, _native.Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} as buffer {name!r} (a Tensor or None is required)")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)

    def named_buffers(self, prefix=""):
        """``(name, buffer)`` pairs, depth first (buffers set to ``None`` are skipped)."""
        for name, mod in self.named_modules(prefix):
            for bname, b in mod._buffers.items():
                if b is not None:
                    yield (f"{name}.{bname}" if name else bname), b

    def buffers(self):
        """Every buffer."""
        for _, b in self.named_buffers():
            yield b

    def _state_items(self):
        # torch's order: module by module (depth first), each module's parameters, then its
        # persistent buffers; a parameter shared by two modules appears once
        seen = set()
        for name, mod in self.named_modules():
            prefix = f"{name}." if name else ""
            for pname, p in mod._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield prefix + pname, p
            for bname, b in mod._buffers.items():
                if b is not None and bname not in mod._non_persistent:
                    yield prefix + bname, b

    def named_modules(self, prefix=""):
        """``(name, module)`` pairs: this module (named ``prefix``) and then every submodule,
        depth first, with dotted names ("0", "block.fc1"). Unlike torch, a module reachable
        twice is yielded twice."""
        yield prefix, self
        for name, mod in self._modules.items():
            yield from mod.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        """This module and every submodule, depth first (``named_modules`` without names)."""
        for _, m in self.named_modules():
            yield m

    def children(self):
        """An iterator over the direct submodules, in the order they were assigned."""
        return iter(self._modules.values())

    def train(self, mode=True):
        """Training mode (dropout active, batch statistics in BatchNorm); returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode (dropout off, running statistics in BatchNorm); returns self."""
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Clear every parameter's ``.grad``: set it to ``None`` (the default, as torch), or
        with ``set_to_none=False`` zero it in place (a missing grad stays ``None``)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.zero_()

    def state_dict(self):
        """``name -> tensor``: the parameters and persistent buffers themselves, as torch
        (``.numpy()`` views them). Save it without pickle with
        ``cn.torch.nn.utils.save_state_dict`` (safetensors)."""
        return _OrderedDict(self._state_items())

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into the parameters and persistent buffers (names and shapes must
        match; with ``strict=False`` missing and unexpected keys are skipped)."""
        own = dict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        from .. import no_grad

        with no_grad():
            for k, p in own.items():
                if k in state_dict:
                    v = _np.asarray(state_dict[k])
                    if tuple(v.shape) != tuple(p.shape):
                        raise ValueError(
                            f"load_state_dict: {k} has shape {tuple(v.shape)} in the state dict but "
                            f"{tuple(p.shape)} in the model"
                        )
                    p.copy_(v)

    def extra_repr(self):
        """The text inside ``repr(module)``'s parentheses (empty here); subclasses override it,
        e.g. ``Linear``'s "in_features=2, out_features=3, bias=True"."""
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, mod in self._modules.items():
            sub = repr(mod).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return "\n".join(lines) + ("\n)" if self._modules else ")")


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` of shape ``(out_features, in_features)``."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        if int(in_features) <= 0 or int(out_features) <= 0:
            raise ValueError(f"Linear needs positive sizes, got in={in_features}, out={out_features}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        bound = 1.0 / _math.sqrt(self.in_features)
        rng = _random.generator()
        w = rng.uniform(-bound, bound, (self.out_features, self.in_features)).astype(_np.float32)
        self.weight = Parameter(w)
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, (self.out_features,)).astype(_np.float32))
        else:
            self.bias = None

    def forward(self, x):
        return self._forward(x, None)

    def _forward(self, x, activation):
        # `activation="relu"`: the ReLU that follows in a Sequential, fused into the same op
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear expects inputs with {self.in_features} features in the last dimension, "
                f"got shape {tuple(x.shape)}"
            )
        return _native.linear(x, self.weight, self.bias, activation)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class _Activation(Module):
    _fn = None

    def forward(self, x):
        return type(self)._fn(x)


class ReLU(_Activation):
    _fn = staticmethod(functional.relu)


class Sigmoid(_Activation):
    _fn = staticmethod(functional.sigmoid)


class Tanh(_Activation):
    _fn = staticmethod(functional.tanh)


class Identity(Module):
    def forward(self, x):
        return x


class GELU(Module):
    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return functional.gelu(x, self.approximate)


class Softmax(Module):
    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.softmax(self.dim)


class LogSoftmax(Softmax):
    def forward(self, x):
        return x.log_softmax(self.dim)


class Dropout(Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability has to be in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        return functional.dropout(x, self.p, self.training)


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)


class Sequential(Module):
    """Modules applied in order: ``Sequential(Linear(10, 16), ReLU(), ...)``."""

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], _OrderedDict):
            layers = list(layers[0].items())
        else:
            layers = [(str(i), m) for i, m in enumerate(layers)]
        for name, m in layers:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential takes Modules, got {type(m).__name__} at {name}")
            setattr(self, name, m)

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def forward(self, x):
        """Apply the modules in order, each to the previous one's output; returns the last
        output (``x`` itself for an empty ``Sequential``). A ``Linear``, ``Conv1d`` or ``Conv2d``
        followed by a ``ReLU`` (the classes themselves, not subclasses) runs as one fused op, with
        the same values and gradients."""
        mods = list(self._modules.values())
        i = 0
        while i < len(mods):
            m = mods[i]
            if type(m) in _FUSES_RELU and i + 1 < len(mods) and type(mods[i + 1]) is ReLU:
                x = m._forward(x, "relu")
                i += 2
            else:
                x = m(x)
                i += 1
        return x


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in functional._REDUCTIONS:
            raise ValueError(f"reduction must be one of {functional._REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction


class BCELoss(_Loss):
    def forward(self, input, target):
        return functional.binary_cross_entropy(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    def forward(self, input, target):
        return functional.binary_cross_entropy_with_logits(input, target, self.reduction)


class MSELoss(_Loss):
    def forward(self, input, target):
        return functional.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    def forward(self, input, target):
        return functional.l1_loss(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    def forward(self, input, target):
        return functional.cross_entropy(input, target, self.reduction)


from ._layers import (  # noqa: E402  (they subclass Module)
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    Embedding,
    LayerNorm,
    MaxPool1d,
    MaxPool2d,
)

# the layers whose op takes the ReLU after them in a Sequential
_FUSES_RELU = (Linear, Conv1d, Conv2d)

from . import init, utils  # noqa: E402  (init and utils use Module and the layers above)
