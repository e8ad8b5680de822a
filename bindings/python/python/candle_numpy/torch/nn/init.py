"""``cn.torch.nn.init``: torch's weight initialisers, with torch's formulas and defaults.

Each function fills its tensor in place (under ``no_grad``, so parameters may be passed) and
returns it. The values come from the generator ``cn.torch.manual_seed`` seeds (or from
``generator=``): a seed replays the same values here, not the values torch would draw.

Fans follow torch: for a weight of shape ``(out, in, *kernel)`` (``Linear``'s ``(out, in)``,
a convolution's ``(out, in / groups, kh, kw)``), ``fan_in = in * prod(kernel)`` and
``fan_out = out * prod(kernel)``.

Example:
    >>> import candle_numpy as cn
    >>> w = cn.torch.nn.Parameter(cn.torch.zeros(64, 32))
    >>> _ = cn.torch.nn.init.xavier_uniform_(w)
    >>> bool(abs(w.numpy()).max() <= (6 / (64 + 32)) ** 0.5)
    True
"""

import math as _math
import warnings as _warnings

import numpy as _np

from .. import _random

__all__ = [
    "calculate_gain",
    "constant_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

_LINEAR = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)


def _write(tensor, values):
    """Copy ``values`` (NumPy, any float dtype) into ``tensor`` in place; returns ``tensor``."""
    from .. import no_grad

    with no_grad():
        tensor.copy_(values)
    return tensor


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (``torch.nn.init.calculate_gain``).

    ============================  ======================================
    linear, conv*, sigmoid        1
    tanh                          5 / 3
    relu                          sqrt(2)
    leaky_relu                    sqrt(2 / (1 + negative_slope ** 2))
    selu                          3 / 4
    ============================  ======================================

    Args:
        nonlinearity: the function's name, as above.
        param: ``leaky_relu``'s negative slope (0.01 when ``None``).

    Raises:
        ValueError: an unknown nonlinearity, or a slope that is not a number.

    Example:
        >>> cn.torch.nn.init.calculate_gain("leaky_relu", 0.2)  # doctest: +ELLIPSIS
        1.3867...
    """
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return _math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return _math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    """``(fan_in, fan_out)`` of a weight of shape ``(out, in, *kernel)``, as torch's.

    Raises:
        ValueError: the tensor has fewer than 2 dimensions.
    """
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive_field = 1
    for d in shape[2:]:
        receptive_field *= d
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower() if isinstance(mode, str) else mode
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with values uniform on ``[a, b)`` (``torch.nn.init.uniform_``)."""
    return _write(tensor, _random.generator(generator).uniform(a, b, size=tuple(tensor.shape)))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with values from ``N(mean, std**2)`` (``torch.nn.init.normal_``)."""
    return _write(tensor, _random.generator(generator).normal(mean, std, size=tuple(tensor.shape)))


def constant_(tensor, val):
    """Fill with ``val`` (``torch.nn.init.constant_``)."""
    return _write(tensor, _np.full(tuple(tensor.shape), val))


def zeros_(tensor):
    """Fill with 0 (``torch.nn.init.zeros_``)."""
    return constant_(tensor, 0.0)


def ones_(tensor):
    """Fill with 1 (``torch.nn.init.ones_``)."""
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot uniform (``torch.nn.init.xavier_uniform_``): uniform on ``[-a, a]`` with
    ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Raises:
        ValueError: the tensor has fewer than 2 dimensions.
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * _math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot normal (``torch.nn.init.xavier_normal_``): ``N(0, std**2)`` with
    ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Raises:
        ValueError: the tensor has fewer than 2 dimensions.
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * _math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / _math.sqrt(fan)


def _is_empty(tensor):
    if 0 in tuple(tensor.shape):
        _warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He uniform (``torch.nn.init.kaiming_uniform_``): uniform on ``[-b, b]`` with
    ``b = sqrt(3) * gain / sqrt(fan)``, ``gain = calculate_gain(nonlinearity, a)`` and ``fan``
    the fan in or out (``mode``). ``a`` is the negative slope of the leaky ReLU that follows.

    A tensor with no elements is returned unchanged, with a warning, as torch's.

    Raises:
        ValueError: ``mode`` is not "fan_in" or "fan_out", an unknown nonlinearity, or a tensor
            with fewer than 2 dimensions.
    """
    if _is_empty(tensor):
        return tensor
    bound = _math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He normal (``torch.nn.init.kaiming_normal_``): ``N(0, std**2)`` with
    ``std = gain / sqrt(fan)`` (see ``kaiming_uniform_``).

    Raises:
        ValueError: as ``kaiming_uniform_``.
    """
    if _is_empty(tensor):
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)
