"""Datasets with torch's semantics (``torch.utils.data.dataset``): the ``Dataset`` /
``IterableDataset`` bases, ``TensorDataset`` over the native engine, and the combinators
``StackDataset``, ``ConcatDataset``, ``ChainDataset``, ``Subset`` and ``random_split``."""

import bisect
import itertools
import math
import operator
import warnings
from typing import Generic, Iterable, TypeVar

from .... import _native
from . import seeds

_T_co = TypeVar("_T_co", covariant=True)


class Dataset(Generic[_T_co]):
    """A map-style dataset: ``dataset[i]`` is sample ``i`` (``torch.utils.data.Dataset``).

    Subclasses implement ``__getitem__`` and usually ``__len__`` (the default samplers and
    ``len(loader)`` need it); ``__getitems__(indices)`` may return a whole batch of samples at
    once. Any object with ``__getitem__``/``__len__`` works with ``DataLoader`` too; the base
    class adds ``a + b`` (a ``ConcatDataset``).

    Example:
        >>> class Squares(Dataset):
        ...     def __getitem__(self, i):
        ...         return i * i
        ...     def __len__(self):
        ...         return 4
        >>> list(DataLoader(Squares(), batch_size=2))[1].tolist()
        [4, 9]
    """

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset[_T_co], Iterable[_T_co]):
    """A dataset that is a stream: ``iter(dataset)`` yields samples
    (``torch.utils.data.IterableDataset``).

    The DataLoader batches the stream in order (no sampler, no shuffle). With
    ``num_workers=N`` each worker thread calls ``iter(dataset)`` on the same object and the
    batches come from the workers in turn, so a dataset that does not split its stream by
    ``get_worker_info()`` is read N times, as in torch. ``a + b`` is a ``ChainDataset``.

    Example:
        >>> class Count(IterableDataset):
        ...     def __iter__(self):
        ...         return iter(range(5))
        >>> [b.tolist() for b in DataLoader(Count(), batch_size=2)]
        [[0, 1], [2, 3], [4]]
    """

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other):
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Samples along the first axis of each tensor (``torch.utils.data.TensorDataset``), over
    candle_numpy's data engine.

    The tensors are shared, not copied (NumPy arrays and pandas objects convert with
    ``as_tensor``, sharing where they can). ``dataset[i]`` is a tuple of views; a slice, list or
    tensor index gives a tuple of indexed tensors, as in torch. A ``DataLoader`` over a
    ``TensorDataset`` with no custom sampler or collate_fn gathers each batch natively, one
    vectorised copy per field with the GIL released.

    Args:
        *tensors: tensors, NumPy arrays or anything ``as_tensor`` takes, all with the same first
            dimension.

    Attributes:
        tensors: the tensors, as a tuple; ``None`` for a dataset made by ``from_npy``.

    Raises:
        CandleNumpyError: no tensors, a 0-d tensor, or first dimensions that differ.

    Example:
        >>> ds = TensorDataset(np.arange(6.0).reshape(3, 2), np.arange(3))
        >>> x, y = ds[1]
        >>> x.tolist(), y.item(), len(ds)
        ([2.0, 3.0], 1, 3)
    """

    def __init__(self, *tensors):
        converted = tuple(t if isinstance(t, _native.Tensor) else _native.as_tensor(t) for t in tensors)
        self._native = _native.TensorDataset(*converted)
        self.tensors = converted

    @classmethod
    def from_npy(cls, *paths):
        """A dataset over ``.npy`` files read by rows (one field per file), for data larger
        than memory: batches are read from the files, nothing else of them is resident.

        Args:
            *paths: ``.npy`` paths (``str`` or ``os.PathLike``), one per field.

        Returns:
            A ``TensorDataset`` whose ``tensors`` is ``None``.

        Raises:
            FileFormatError: a file that is not a readable ``.npy``.
            CandleNumpyError: files with different numbers of rows.
        """
        ds = cls.__new__(cls)
        ds._native = _native.TensorDataset.from_npy(*paths)
        ds.tensors = None
        return ds

    def __getitem__(self, index):
        if not isinstance(index, _native.Tensor) and hasattr(type(index), "__index__"):
            return self._native[operator.index(index)]
        if self.tensors is None:
            raise TypeError(
                f"a TensorDataset over .npy files takes int indices, got {type(index).__name__}"
            )
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return len(self._native)


class StackDataset(Dataset):
    """Several datasets of one length, zipped (``torch.utils.data.StackDataset``): sample
    ``i`` is a tuple (positional datasets) or a dict (keyword datasets) of their samples ``i``.

    Args:
        *args: datasets whose samples form a tuple.
        **kwargs: datasets whose samples form a dict (not together with ``args``).

    Raises:
        ValueError: both or neither of ``args``/``kwargs``, or datasets of different lengths.
    """

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError(
                "Supported either ``tuple``- (via ``args``) or``dict``- (via ``kwargs``) like "
                "input/output, but both types are given."
            )
        if not args and not kwargs:
            raise ValueError("At least one dataset should be passed")
        datasets = list(args) if args else list(kwargs.values())
        self._length = len(datasets[0])
        if any(self._length != len(d) for d in datasets):
            raise ValueError("Size mismatch between datasets")
        self.datasets = args if args else kwargs

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def _column(self, dataset, indices):
        getitems = getattr(dataset, "__getitems__", None)
        if not callable(getitems):
            return [dataset[i] for i in indices]
        items = getitems(indices)
        if len(items) != len(indices):
            raise ValueError(
                f"Nested dataset's output size mismatch. Expected {len(indices)}, got {len(items)}"
            )
        return items

    def __getitems__(self, indices):
        """The samples at ``indices``, each dataset asked once (through its own
        ``__getitems__`` where it has one)."""
        if isinstance(self.datasets, dict):
            columns = {k: self._column(d, indices) for k, d in self.datasets.items()}
            return [{k: col[j] for k, col in columns.items()} for j in range(len(indices))]
        columns = [self._column(d, indices) for d in self.datasets]
        return [tuple(col[j] for col in columns) for j in range(len(indices))]

    def __len__(self):
        return self._length


class ConcatDataset(Dataset):
    """Map-style datasets one after another (``torch.utils.data.ConcatDataset``).

    Args:
        datasets: a non-empty iterable of map-style datasets (not ``IterableDataset``).

    Attributes:
        datasets: the datasets, as a list.
        cumulative_sizes: the running total of their lengths.

    Raises:
        AssertionError: no datasets, or an ``IterableDataset`` among them (torch's errors).

    Example:
        >>> ds = ConcatDataset([[0, 1], [2, 3, 4]])
        >>> len(ds), ds[2], ds[-1]
        (5, 2, 4)
    """

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    @staticmethod
    def cumsum(sequence):
        """The running total of the lengths of ``sequence``'s datasets."""
        return list(itertools.accumulate(len(d) for d in sequence))

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][idx - start]


class ChainDataset(IterableDataset):
    """Iterable datasets one after another (``torch.utils.data.ChainDataset``).

    Args:
        datasets: iterable datasets (checked when iterated, as in torch).

    Raises:
        AssertionError: (on iteration or ``len``) a member that is not an ``IterableDataset``.
    """

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self):
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            total += len(d)
        return total


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order (``torch.utils.data.Subset``).

    Args:
        dataset: a map-style dataset.
        indices: a sequence of indices into it.

    Example:
        >>> s = Subset([10, 11, 12, 13], [3, 0])
        >>> len(s), s[0], s.__getitems__([0, 1])
        (2, 13, [13, 10])
    """

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices
        if type(self).__getitem__ is not Subset.__getitem__ and type(self).__getitems__ is Subset.__getitems__:
            raise NotImplementedError(
                f"{type(self).__name__} overrides __getitem__ but not __getitems__. When "
                "subclassing Subset and overriding __getitem__, you must also override "
                "__getitems__ to ensure DataLoader works correctly with your custom logic. A "
                "simple implementation:\n\ndef __getitems__(self, indices):\n"
                "    return [self.__getitem__(idx) for idx in indices]"
            )

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        """The samples at ``indices`` (through the dataset's ``__getitems__`` where it has
        one)."""
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self):
        return len(self.indices)


def _split_lengths(n, lengths):
    """Fractions summing to 1 -> counts (floors, the remainder dealt round-robin)."""
    if not (math.isclose(sum(lengths), 1) and sum(lengths) <= 1):
        return list(lengths)
    counts = []
    for i, frac in enumerate(lengths):
        if frac < 0 or frac > 1:
            raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        counts.append(math.floor(n * frac))
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    for i, c in enumerate(counts):
        if c == 0:
            warnings.warn(
                f"Length of split at index {i} is 0. This might result in an empty dataset.",
                stacklevel=3,
            )
    return counts


def random_split(dataset, lengths, generator=None, *, seed=None):
    """Split ``dataset`` into non-overlapping random ``Subset``s
    (``torch.utils.data.random_split``).

    Args:
        dataset: a map-style dataset (anything with ``__len__`` and ``__getitem__``).
        lengths: the subset lengths, summing to ``len(dataset)``, or fractions summing to 1
            (floored, the remainder dealt one by one from the first split on).
        generator: where the permutation comes from: ``None`` (cn.torch's global generator,
            seeded by ``cn.torch.manual_seed``), a ``cn.torch.Generator``, a
            ``numpy.random.Generator``, or a generator with ``initial_seed()`` such as
            ``torch.Generator``.
        seed: (candle_numpy extension; wins over ``generator``) an int: the split is a pure
            function of it.

    Returns:
        A list of ``Subset``, one per length, whose ``indices`` are Python ints.

    Raises:
        ValueError: a fraction outside [0, 1], or lengths that do not sum to the dataset's.

    Example:
        >>> a, b = random_split(range(10), [0.3, 0.7], seed=0)
        >>> len(a), len(b), sorted(list(a) + list(b)) == list(range(10))
        (3, 7, True)
    """
    n = len(dataset)
    counts = _split_lengths(n, lengths)
    if sum(counts) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    source = seeds.seeded(seed) if seed is not None else generator
    indices = seeds.rng(source).permutation(n).tolist()
    return [
        Subset(dataset, indices[end - count : end])
        for end, count in zip(itertools.accumulate(counts), counts)
    ]
