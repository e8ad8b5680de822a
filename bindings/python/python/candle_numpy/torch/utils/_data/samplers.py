"""Samplers with torch's semantics (``torch.utils.data.sampler``): the order in which a
map-style dataset is read, and ``BatchSampler``, which groups that order into batches.

Random samplers draw one seed per pass from their ``generator`` (see ``seeds``): ``None`` is
cn.torch's global generator, so ``cn.torch.manual_seed(s)`` replays every shuffle.
"""

import itertools
from typing import Generic, TypeVar

import numpy as np

from . import seeds

_T_co = TypeVar("_T_co", covariant=True)


class Sampler(Generic[_T_co]):
    """The base of samplers (``torch.utils.data.Sampler``): ``iter(sampler)`` yields dataset
    indices (or, for a batch sampler, lists of them); ``__len__`` is optional.

    Args:
        data_source: accepted and ignored, as in torch.
    """

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler[int]):
    """``0, 1, ..., len(data_source) - 1`` (``torch.utils.data.SequentialSampler``).

    Args:
        data_source: anything with ``__len__``.

    Example:
        >>> list(SequentialSampler(range(3)))
        [0, 1, 2]
    """

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """A random order (``torch.utils.data.RandomSampler``): a permutation per pass, or
    ``num_samples`` draws with replacement.

    Args:
        data_source: anything with ``__len__``.
        replacement: draw with replacement.
        num_samples: indices per pass (default ``len(data_source)``); without replacement,
            more than the length chains permutations.
        generator: the seed source (``None``: cn.torch's global generator; a
            ``cn.torch.Generator``; a ``numpy.random.Generator``; or one with
            ``initial_seed()``, such as ``torch.Generator``). Each pass draws one seed from it.

    Raises:
        TypeError: ``replacement`` is not a bool.
        ValueError: ``num_samples`` is not a positive int.

    Example:
        >>> sorted(RandomSampler(range(4)))
        [0, 1, 2, 3]
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={self.replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={self.num_samples}"
            )

    @property
    def num_samples(self):
        """Indices per pass."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        rng = seeds.rng(self.generator)
        if self.replacement:
            yield from rng.integers(n, size=self.num_samples).tolist()
            return
        for _ in range(self.num_samples // n):
            yield from rng.permutation(n).tolist()
        yield from rng.permutation(n)[: self.num_samples % n].tolist()

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """``indices`` in a random order, a new one per pass
    (``torch.utils.data.SubsetRandomSampler``).

    Args:
        indices: a sequence of dataset indices.
        generator: the seed source, as for ``RandomSampler``.

    Example:
        >>> sorted(SubsetRandomSampler([5, 7, 9]))
        [5, 7, 9]
    """

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        for i in seeds.rng(self.generator).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """``num_samples`` indices drawn with probability proportional to ``weights``
    (``torch.utils.data.WeightedRandomSampler``).

    Args:
        weights: a 1-d sequence of non-negative weights, one per index.
        num_samples: how many indices per pass.
        replacement: draw with replacement (without it, ``num_samples`` must not exceed the
            number of non-zero weights).
        generator: the seed source, as for ``RandomSampler``.

    Raises:
        ValueError: ``num_samples`` not a positive int, ``replacement`` not a bool, or
            ``weights`` not 1-d.
    """

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}")
        self.weights = w
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self):
        p = self.weights / self.weights.sum()
        rng = seeds.rng(self.generator)
        yield from rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p).tolist()

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler[list]):
    """Groups another sampler's indices into lists of ``batch_size``
    (``torch.utils.data.BatchSampler``).

    Args:
        sampler: a sampler or any iterable of indices.
        batch_size: indices per batch, a positive int.
        drop_last: drop the last batch when it is short.

    Raises:
        ValueError: ``batch_size`` not a positive int, or ``drop_last`` not a bool.

    Example:
        >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
        [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        it = iter(self.sampler)
        while True:
            batch = list(itertools.islice(it, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield batch

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size


class DistributedSampler(Sampler[int]):
    """This rank's share of a dataset (``torch.utils.data.distributed.DistributedSampler``):
    indices ``rank, rank + num_replicas, ...`` of the (optionally shuffled) order, padded by
    repeating from the start so every rank gets the same count (or trimmed with
    ``drop_last``).

    Args:
        dataset: anything with ``__len__``.
        num_replicas: the number of ranks (default: the ``WORLD_SIZE`` environment variable
            that launchers such as torchrun set, else 1).
        rank: this rank (default: ``RANK``, else 0).
        shuffle: shuffle, the same order on every rank for a given ``seed`` and epoch.
        seed: the shuffle seed, shared by all ranks.
        drop_last: trim to a multiple of ``num_replicas`` instead of padding.

    Raises:
        ValueError: ``rank`` outside ``[0, num_replicas - 1]``.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        import os

        if num_replicas is None:
            num_replicas = int(os.environ.get("WORLD_SIZE", 1))
        if rank is None:
            rank = int(os.environ.get("RANK", 0))
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = -(-(n - num_replicas) // num_replicas)
        else:
            self.num_samples = -(-n // num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng([self.seed, self.epoch]).permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad <= len(indices):
                indices += indices[:pad]
            else:
                indices += (indices * -(-pad // len(indices)))[:pad]
        else:
            indices = indices[: self.total_size]
        return iter(indices[self.rank : self.total_size : self.num_replicas])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Set the epoch, so shuffling gives each epoch its own order (same on every rank)."""
        self.epoch = epoch
