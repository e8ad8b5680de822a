"""TensorFlow-style constructors over candle_numpy, with TF's semantics: they always copy.

``cn.tf.convert_to_tensor(value, dtype=None, dtype_hint=None, name=None)`` and
``cn.tf.constant(value, dtype=None, shape=None)`` return independent tensors, as TensorFlow's do.
Python lists infer as TF does: float -> float32, int -> int32, bool -> uint8 (candle has no bool).
``constant(value, shape=...)`` broadcasts a scalar (or reshapes a matching list), as in TF.

Arithmetic on these tensors (and on results computed from them) follows TensorFlow's rule: no
implicit promotion. Mixed dtypes, or a Python float with an integer tensor, raise ``TypeError``;
``cast(x, dtype)`` converts explicitly. True division of integers gives float64 (float32 for 8-
and 16-bit integers), as ``tf.math.truediv``. Tensors from ``cn.torch`` / ``cn.tensor`` follow
torch's promotion instead; an operation mixing the two follows TensorFlow's.

Example:
    >>> import candle_numpy as cn
    >>> cn.tf.constant(0.5, shape=(2, 3)).shape
    (2, 3)
"""


from .. import _native
from .._dtypes import NAMES as _NAMES, TF_ALIASES as _ALIASES, is_python_data as _is_python_data
from . import data, keras

__all__ = ["Variable", "cast", "constant", "convert_to_tensor", "data", "keras"] + sorted(_NAMES) + sorted(_ALIASES)

globals().update(_NAMES)
globals().update({alias: _NAMES[target] for alias, target in _ALIASES.items()})


def _infer(value, dtype):
    t = _native.tensor(value, dtype=dtype)
    # TF infers int32 for Python ints (the core infers torch's int64)
    if dtype is None and _is_python_data(value) and t.dtype == "int64":
        t = t.int()
    return _tf_rules(t)


def _tf_rules(t):
    """Mark ``t`` as a TensorFlow tensor: its arithmetic (and that of results computed from
    it) does no implicit promotion, as TensorFlow: mixed dtypes and a Python float with an
    integer tensor raise ``TypeError`` naming ``tf.cast``."""
    t._tf_rules = True
    return t


def convert_to_tensor(value, dtype=None, dtype_hint=None, name=None):
    """Copy ``value`` into a new tensor (``tf.convert_to_tensor``).

    Args:
        value: an array, tensor, Python scalar or nested list.
        dtype: the dtype to produce (a cast).
        dtype_hint: the dtype to use for Python data when ``dtype`` is None (ignored for arrays
            and tensors, which keep theirs).
        name: accepted for compatibility; unused.
    """
    del name
    if dtype is None and dtype_hint is not None and _is_python_data(value):
        dtype = dtype_hint
    return _infer(value, dtype)


def constant(value, dtype=None, shape=None):
    """A new tensor holding ``value`` (``tf.constant``); ``shape`` broadcasts a scalar.

    Raises:
        ValueError: ``value`` has neither one element nor ``prod(shape)`` elements.
    """
    t = _infer(value, dtype)
    if shape is None:
        return t
    shape = tuple(int(d) for d in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    # the Rust facade's tf::constant: reshape, fill from one element, or a ShapeError
    return _tf_rules(_native.tf_constant(t, shape))


class Variable(_native.Variable):
    """``tf.Variable(initial_value, trainable=True, dtype=None)``: a trainable variable holding
    its own copy of ``initial_value`` (inferred as ``constant`` does: Python ints are int32).

    The native base is the Rust facade's ``tf::Variable``; ``assign``/``assign_add`` cast to the
    variable's dtype and broadcast to its shape.
    """

    __slots__ = ()

    def __new__(cls, initial_value, trainable=True, dtype=None):
        return super().__new__(cls, constant(initial_value, dtype), trainable)


def cast(x, dtype, name=None):
    """``x`` as ``dtype`` (``tf.cast``): a view when the dtype already matches, else a copy.

    Args:
        x: a tensor, array, Python scalar or nested list.
        dtype: the dtype to produce (``cn.tf.float32``, ``"int32"``, ...).
        name: accepted for compatibility; unused.
    """
    del name
    return _tf_rules(_native.as_tensor(x, dtype=dtype))
