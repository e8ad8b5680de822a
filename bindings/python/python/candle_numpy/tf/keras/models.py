"""``cn.tf.keras.models``: ``load_model``, and ``Sequential`` under its Keras path."""

from . import Sequential

__all__ = ["Sequential", "load_model"]


def load_model(filepath):
    """The model ``model.save(filepath)`` wrote (architecture and weights, compiled as it was)."""
    from ... import _native

    return Sequential._from_native(_native.KerasSequential.load(str(filepath)))
