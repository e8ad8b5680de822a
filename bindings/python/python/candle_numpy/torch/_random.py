"""The generator behind ``cn.torch.nn`` initialisation, dropout and the random constructors,
seeded by ``cn.torch.manual_seed`` (NumPy's PCG64: stable across releases for a given seed),
and ``cn.torch.Generator`` for a stream of one's own. The streams are not torch's: a seed
replays the same values here, not the values torch would give."""

import numpy as _np

_generator = _np.random.default_rng()
_initial_seed = None


def seed(value):
    """Reseed (``torch.manual_seed``)."""
    global _generator, _initial_seed
    _initial_seed = int(value)
    _generator = _np.random.default_rng(_initial_seed)


def get_rng_state():
    """The global stream's state (``torch.get_rng_state``): NumPy's PCG64 state, a dict, for
    ``set_rng_state`` (not torch's ByteTensor)."""
    return _generator.bit_generator.state


def set_rng_state(state):
    """Restore the global stream to a state ``get_rng_state`` returned."""
    _generator.bit_generator.state = state


class Generator:
    """A random stream of its own (``torch.Generator``): ``manual_seed(s)`` reseeds it (and
    returns it), ``initial_seed()`` tells the seed; pass it as ``generator=``."""

    def __init__(self, device="cpu"):
        self.device = device
        self._seed = int(_np.random.SeedSequence().entropy % 2**63)
        self._rng = _np.random.default_rng(self._seed)

    def manual_seed(self, seed):
        """Reseed; returns the generator, as torch's does."""
        self._seed = int(seed)
        self._rng = _np.random.default_rng(self._seed)
        return self

    def initial_seed(self):
        """The seed this stream started from."""
        return self._seed

    def seed(self):
        """Reseed from fresh entropy; returns the new seed."""
        self.manual_seed(int(_np.random.SeedSequence().entropy % 2**63))
        return self._seed


def generator(gen=None):
    """The NumPy stream to draw from: ``gen``'s if given, else the global one."""
    if gen is None:
        return _generator
    if isinstance(gen, Generator):
        return gen._rng
    if isinstance(gen, _np.random.Generator):
        return gen
    raise TypeError(f"generator must be a cn.torch.Generator or numpy.random.Generator, got {type(gen).__name__}")


def fill_values(kind, shape, a, b, gen=None):
    """The values of an in-place random fill (``t.uniform_``, ``t.normal_``, ``t.random_``),
    drawn from ``gen`` or the global stream; the native tensor methods call this."""
    rng = generator(gen)
    if kind == "uniform":
        return rng.uniform(a, b, size=shape)
    if kind == "normal":
        return rng.normal(a, b, size=shape)
    if kind == "integers":
        return rng.integers(a, b, size=shape, dtype=_np.int64)
    raise ValueError(f"unknown random fill {kind!r}")
