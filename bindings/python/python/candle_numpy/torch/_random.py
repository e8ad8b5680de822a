"""The generator behind ``cn.torch.nn`` initialisation and dropout, seeded by
``cn.torch.manual_seed`` (NumPy's PCG64: stable across releases for a given seed)."""

import numpy as _np

_generator = _np.random.default_rng()


def seed(value):
    """Reseed (``torch.manual_seed``)."""
    global _generator
    _generator = _np.random.default_rng(int(value))


def generator():
    """The current generator."""
    return _generator
