"""Where the data module's random numbers come from.

Every random choice (a shuffle, a split, a worker seed) starts from one 64-bit seed drawn
from a *source*, then runs on NumPy's PCG64 seeded with it:

==================================  ==========================================================
source                              a draw
==================================  ==========================================================
``None``                            the next value of cn.torch's global generator, so
                                    ``cn.torch.manual_seed(s)`` makes every shuffle replay
``cn.torch.Generator``              the next value of its stream
``numpy.random.Generator``          the next value of that generator
a ``torch.Generator``               the next value of that generator (drawn through torch,
                                    so its state advances as torch's own sampling would)
any object with ``initial_seed()``  the next value of a stream seeded by ``initial_seed()``,
                                    kept per object and restarted when the seed changes
==================================  ==========================================================

The streams are not torch's (torch uses Mersenne Twister / Philox): a given seed replays the
same order here, not the order torch would give.
"""

import weakref

import numpy as np

from ... import _random as _global

_SEED_BOUND = 2**63

# initial_seed() objects -> (seed, numpy stream); weak so a dropped generator frees its stream
_streams = weakref.WeakKeyDictionary()


def draw_seed(source=None):
    """One 64-bit seed from ``source`` (see the module table).

    Args:
        source: ``None``, a ``cn.torch.Generator``, a ``numpy.random.Generator``, a
            ``torch.Generator`` or any object with ``initial_seed()``.

    Returns:
        An int in ``[0, 2**63)``.

    Raises:
        TypeError: ``source`` is none of the above.
    """
    if source is None:
        return int(_global.generator().integers(_SEED_BOUND))
    if isinstance(source, np.random.Generator):
        return int(source.integers(_SEED_BOUND))
    if isinstance(source, _global.Generator):
        return int(_global.generator(source).integers(_SEED_BOUND))
    if type(source).__module__ == "torch" and type(source).__name__ == "Generator":
        import torch  # only reachable when the caller already has torch

        return int(torch.randint(0, _SEED_BOUND - 1, (), generator=source).item())
    if callable(getattr(source, "initial_seed", None)):
        return int(_stream(source).integers(_SEED_BOUND))
    raise TypeError(
        "generator must be None, a cn.torch.Generator, a numpy.random.Generator or a generator with "
        f"initial_seed() (torch.Generator), got {type(source).__name__}"
    )


def _stream(source):
    seed = int(source.initial_seed())
    try:
        known = _streams.get(source)
    except TypeError:  # not weak-referenceable: a fresh stream per draw, still reproducible
        return np.random.default_rng(seed)
    if known is None or known[0] != seed:
        known = (seed, np.random.default_rng(seed))
        _streams[source] = known
    return known[1]


def rng(source=None):
    """A NumPy generator for one random choice, seeded by one draw from ``source``."""
    return np.random.default_rng(draw_seed(source))


def seeded(seed):
    """The source behind ``seed=``: a stream that is a pure function of ``seed``, so the
    n-th epoch of a loader with that seed is the same in every run."""
    return np.random.default_rng(int(seed))
