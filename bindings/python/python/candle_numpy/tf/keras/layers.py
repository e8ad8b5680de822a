"""``cn.tf.keras.layers``: ``Dense``, ``Dropout``, ``Flatten`` (configurations; the weights live
in the native model)."""

__all__ = ["Dense", "Dropout", "Flatten", "Layer"]

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax", "gelu")


class Layer:
    """Base class of the layer configurations."""

    def _spec(self):
        raise NotImplementedError


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


class Dense(Layer):
    """``Dense(units, activation=None, input_shape=None)``: ``activation(x @ kernel + bias)``,
    kernel initialised glorot-uniform, bias zeros."""

    def __init__(self, units, activation=None, input_shape=None, **kwargs):
        if kwargs:
            raise TypeError(f"Dense got unsupported arguments {sorted(kwargs)}")
        if activation is not None and not isinstance(activation, str):
            raise TypeError(f"activation must be a name, one of {ACTIVATIONS}")
        self.units = int(units)
        self.activation = activation
        self.input_shape = _shape(input_shape)

    def _spec(self):
        return ("dense", self.units, self.activation, self.input_shape)

    def __repr__(self):
        return f"Dense({self.units}, activation={self.activation!r})"


class Dropout(Layer):
    """``Dropout(rate)``: zero a fraction ``rate`` of the inputs while training."""

    def __init__(self, rate, **kwargs):
        if kwargs:
            raise TypeError(f"Dropout got unsupported arguments {sorted(kwargs)}")
        self.rate = float(rate)

    def _spec(self):
        return ("dropout", self.rate)

    def __repr__(self):
        return f"Dropout({self.rate})"


class Flatten(Layer):
    """``Flatten(input_shape=None)``: ``(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)``."""

    def __init__(self, input_shape=None, **kwargs):
        if kwargs:
            raise TypeError(f"Flatten got unsupported arguments {sorted(kwargs)}")
        self.input_shape = _shape(input_shape)

    def _spec(self):
        return ("flatten", self.input_shape)

    def __repr__(self):
        return "Flatten()"
