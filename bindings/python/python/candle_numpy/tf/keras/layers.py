"""``cn.tf.keras.layers``: layer configurations (the weights live in the native model).

Dense, Dropout, Flatten, Conv1D, Conv2D, MaxPooling1D/2D, AveragePooling1D/2D,
GlobalAveragePooling1D/2D, BatchNormalization, LayerNormalization, Embedding, Reshape and
Activation, with Keras's arguments and defaults. Image layers are channels-last (Keras's
default ``data_format``): samples ``(height, width, channels)``; 1-d layers take
``(steps, channels)``. ``get_config()`` / ``from_config()`` are Keras's, and ``model.save``
stores them.
"""

import json as _json

__all__ = [
    "Activation",
    "AveragePooling1D",
    "AveragePooling2D",
    "BatchNormalization",
    "Conv1D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "Layer",
    "LayerNormalization",
    "MaxPooling1D",
    "MaxPooling2D",
    "Reshape",
]

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax", "gelu")


class Layer:
    """Base class of the layer configurations."""

    def get_config(self):
        """Keras's config: the constructor's arguments by name."""
        return dict(self._config)

    @classmethod
    def from_config(cls, config):
        """The layer a ``get_config()`` describes."""
        return cls(**config)

    def _spec(self):
        return (type(self).__name__, _json.dumps(self._config))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._config.items() if v is not None)
        return f"{type(self).__name__}({args})"


class _InputSpec:
    def __init__(self, shape):
        self.shape = shape


def _shape(input_shape):
    if input_shape is None:
        return None
    shape = [d for d in tuple(input_shape) if d is not None]
    if not shape or any(int(d) <= 0 for d in shape):
        raise ValueError(f"input_shape must be positive sizes like (10,), got {input_shape!r}")
    return [int(d) for d in shape]


def _refuse(name, kwargs):
    if kwargs:
        raise TypeError(f"{name} got unsupported arguments {sorted(kwargs)}")


def _activation(activation):
    if activation is None:
        return None
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a name, one of {ACTIVATIONS}")
    if activation.lower() not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; use one of {ACTIVATIONS}")
    return activation.lower()


def _tuple(value, n, name):
    """Keras's ``int or tuple`` arguments as a tuple of ``n`` positive ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
        out = tuple(int(v) for v in value)
    else:
        out = (int(value),) * n
    if min(out) < 1:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return out


def _padding(padding):
    p = str(padding).lower()
    if p not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return p


def _data_format(data_format, name):
    if data_format not in (None, "channels_last"):
        raise ValueError(
            f"{name}: only data_format='channels_last' (Keras's default) is supported; transpose "
            "channels-first data with np.moveaxis(x, 1, -1)"
        )


class Dense(Layer):
    """``Dense(units, activation=None, use_bias=True, input_shape=None)``:
    ``activation(x @ kernel + bias)``, kernel initialised glorot-uniform, bias zeros."""

    def __init__(self, units, activation=None, input_shape=None, **kwargs):
        _refuse("Dense", kwargs)
        self.units = int(units)
        if self.units < 1:
            raise ValueError(f"Dense needs units >= 1, got {units}")
        self.activation = _activation(activation)
        self.input_shape = _shape(input_shape)
        self._config = {"units": self.units, "activation": self.activation, "input_shape": self.input_shape}


class Dropout(Layer):
    """``Dropout(rate)``: zero a fraction ``rate`` of the inputs while training."""

    def __init__(self, rate, **kwargs):
        _refuse("Dropout", kwargs)
        self.rate = float(rate)
        self._config = {"rate": self.rate}


class Flatten(Layer):
    """``Flatten(input_shape=None)``: ``(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)``."""

    def __init__(self, input_shape=None, **kwargs):
        _refuse("Flatten", kwargs)
        self.input_shape = _shape(input_shape)
        self._config = {"input_shape": self.input_shape}


class _Conv(Layer):
    _rank = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, input_shape=None, **kwargs):
        name = type(self).__name__
        _refuse(name, kwargs)
        _data_format(data_format, name)
        self.filters = int(filters)
        if self.filters < 1:
            raise ValueError(f"{name} needs filters >= 1, got {filters}")
        n = self._rank
        self.kernel_size = _tuple(kernel_size, n, "kernel_size")
        self.strides = _tuple(strides, n, "strides")
        self.padding = _padding(padding)
        self.dilation_rate = _tuple(dilation_rate, n, "dilation_rate")
        self.activation = _activation(activation)
        self.use_bias = bool(use_bias)
        self.input_shape = _shape(input_shape)
        self._config = {
            "filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
            "padding": self.padding, "dilation_rate": self.dilation_rate, "activation": self.activation,
            "use_bias": self.use_bias, "input_shape": self.input_shape,
        }


class Conv2D(_Conv):
    """``Conv2D(filters, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
    activation=None, use_bias=True)`` on ``(height, width, channels)`` samples; kernel
    ``(kh, kw, in, filters)`` glorot-uniform, bias zeros."""

    _rank = 2


class Conv1D(_Conv):
    """``Conv1D(filters, kernel_size, strides=1, padding="valid", dilation_rate=1, ...)`` on
    ``(steps, channels)`` samples."""

    _rank = 1


class _Pool(Layer):
    _rank = 2

    def __init__(self, pool_size=None, strides=None, padding="valid", data_format=None, **kwargs):
        name = type(self).__name__
        _refuse(name, kwargs)
        _data_format(data_format, name)
        n = self._rank
        self.pool_size = _tuple(pool_size if pool_size is not None else 2, n, "pool_size")
        self.strides = self.pool_size if strides is None else _tuple(strides, n, "strides")
        self.padding = _padding(padding)
        self._config = {"pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}


class MaxPooling2D(_Pool):
    """``MaxPooling2D(pool_size=(2, 2), strides=None, padding="valid")`` (strides default to
    the pool size)."""


class AveragePooling2D(_Pool):
    """``AveragePooling2D(pool_size=(2, 2), strides=None, padding="valid")``; with "same"
    padding the padded positions are not counted, as Keras."""


class MaxPooling1D(_Pool):
    """``MaxPooling1D(pool_size=2, strides=None, padding="valid")``."""

    _rank = 1


class AveragePooling1D(_Pool):
    """``AveragePooling1D(pool_size=2, strides=None, padding="valid")``."""

    _rank = 1


class GlobalAveragePooling2D(Layer):
    """``GlobalAveragePooling2D()``: ``(height, width, channels) -> (channels,)``."""

    def __init__(self, data_format=None, **kwargs):
        _refuse(type(self).__name__, kwargs)
        _data_format(data_format, type(self).__name__)
        self._config = {}


class GlobalAveragePooling1D(GlobalAveragePooling2D):
    """``GlobalAveragePooling1D()``: ``(steps, channels) -> (channels,)``."""


class BatchNormalization(Layer):
    """``BatchNormalization(axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True)``:
    batch statistics in ``fit``, moving averages in ``evaluate``/``predict``."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True, **kwargs):
        _refuse("BatchNormalization", kwargs)
        if axis not in (-1, [-1], (-1,)):
            raise ValueError("BatchNormalization: only axis=-1 (the channels of channels-last data) is supported")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self._config = {"axis": -1, "momentum": self.momentum, "epsilon": self.epsilon,
                        "center": self.center, "scale": self.scale}


class LayerNormalization(Layer):
    """``LayerNormalization(axis=-1, epsilon=0.001, center=True, scale=True)``."""

    def __init__(self, axis=-1, epsilon=0.001, center=True, scale=True, **kwargs):
        _refuse("LayerNormalization", kwargs)
        if axis not in (-1, [-1], (-1,)):
            raise ValueError("LayerNormalization: only axis=-1 is supported")
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)
        self._config = {"axis": -1, "epsilon": self.epsilon, "center": self.center, "scale": self.scale}


class Embedding(Layer):
    """``Embedding(input_dim, output_dim, input_length=None)``: integer ids to rows of a table
    initialised uniform in [-0.05, 0.05]."""

    def __init__(self, input_dim, output_dim, input_length=None, input_shape=None, **kwargs):
        _refuse("Embedding", kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        if self.input_dim < 1 or self.output_dim < 1:
            raise ValueError(f"Embedding needs input_dim and output_dim >= 1, got {input_dim}, {output_dim}")
        if input_shape is None and input_length is not None:
            input_shape = (int(input_length),)
        self.input_shape = _shape(input_shape)
        self._config = {"input_dim": self.input_dim, "output_dim": self.output_dim, "input_shape": self.input_shape}


class Reshape(Layer):
    """``Reshape(target_shape)``: the per-sample shape; one dimension may be -1."""

    def __init__(self, target_shape, input_shape=None, **kwargs):
        _refuse("Reshape", kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1 or any(d == 0 or d < -1 for d in self.target_shape):
            raise ValueError(f"Reshape: target_shape must be positive sizes with at most one -1, got {target_shape!r}")
        self.input_shape = _shape(input_shape)
        self._config = {"target_shape": self.target_shape, "input_shape": self.input_shape}


class Activation(Layer):
    """``Activation(activation)``: "relu", "sigmoid", "tanh", "softmax", "gelu" or "linear"."""

    def __init__(self, activation, **kwargs):
        _refuse("Activation", kwargs)
        self.activation = _activation(activation) or "linear"
        self._config = {"activation": self.activation}
