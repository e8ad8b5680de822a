"""``DataLoader`` with torch's semantics, over two paths.

* Native: a ``TensorDataset`` with no sampler, batch_sampler, collate_fn or worker_init_fn
  goes to the native loader: one vectorised gather per field, GIL released. Batches are
  lists of tensors, as torch's are.
* Python: everything else, as torch does it: sampler -> batch sampler -> fetch
  (``__getitems__`` or ``dataset[i]``) -> ``collate_fn``; an ``IterableDataset`` is read in
  order and cut into batches. ``num_workers > 0`` fetches on worker threads (see ``workers``).
"""

import collections
import collections.abc
import concurrent.futures
import functools
import itertools
import warnings
import weakref
from typing import Generic, TypeVar

import numpy as np

from .... import _native
from . import seeds
from .collate import default_collate, default_convert, same_mapping, same_sequence
from .datasets import IterableDataset, TensorDataset
from .samplers import BatchSampler, RandomSampler, Sampler, SequentialSampler
from .workers import Exhausted, Pool, WorkerFailure, reraise

_T_co = TypeVar("_T_co", covariant=True)

# loader attributes that torch freezes once the loader is built
_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


class _InfiniteConstantSampler(Sampler):
    """``None`` forever: the sampler of an IterableDataset (its stream decides the end)."""

    def __iter__(self):
        while True:
            yield None


def _native_dataset(dataset):
    """The native dataset behind ``dataset`` when the native loader can serve it, else None
    (a subclass that overrides ``__getitem__`` or ``__len__`` must be read through them)."""
    if isinstance(dataset, _native.TensorDataset):
        return dataset
    if (
        isinstance(dataset, TensorDataset)
        and type(dataset).__getitem__ is TensorDataset.__getitem__
        and type(dataset).__len__ is TensorDataset.__len__
    ):
        return dataset._native
    return None


def _check_device(device):
    """``device`` normalised ("cpu", "cuda:N"); a CUDA device that cannot be opened fails now
    (DeviceError), not at the first batch."""
    from .... import device as normalise

    name = normalise(device)
    if name != "cpu":
        _native.as_tensor(np.zeros(1, np.float32), device=name)
    return name


def _to_device(data, device):
    """Every tensor in ``data`` (nested in mappings and sequences) on ``device``."""
    if isinstance(data, _native.Tensor):
        return data if data.device == device else data.to(device=device)
    if isinstance(data, collections.abc.Mapping):
        return same_mapping(data, {k: _to_device(v, device) for k, v in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(_to_device(v, device) for v in data))
    if isinstance(data, (list, tuple)):
        return same_sequence(data, [_to_device(v, device) for v in data])
    return data


class DataLoader(Generic[_T_co]):
    """Batches from a dataset (``torch.utils.data.DataLoader``), with torch's arguments and
    semantics; every ``iter(loader)`` is a new epoch.

    A ``TensorDataset`` with no ``sampler``, ``batch_sampler``, ``collate_fn`` or
    ``worker_init_fn`` is served by the native loader (one vectorised gather per field, GIL
    released; ``num_workers`` is accepted and not needed there). Everything else runs torch's
    pipeline in Python: sampler -> batch sampler -> fetch -> ``collate_fn``.

    Args:
        dataset: a map-style dataset (``__getitem__``/``__len__``, optionally
            ``__getitems__``) or an ``IterableDataset``.
        batch_size: samples per batch (default 1); ``None`` turns batching off: each sample
            goes through ``default_convert`` (or ``collate_fn``) alone.
        shuffle: a new random order each epoch (map-style only).
        sampler: the order of indices (a ``Sampler`` or any iterable); not with ``shuffle``.
        batch_sampler: yields lists of indices; not with ``batch_size``, ``shuffle``,
            ``sampler`` or ``drop_last``.
        num_workers: worker *threads* fetching batches ahead (0: fetch in the calling thread).
        collate_fn: list of samples -> batch (default ``default_collate``; with
            ``batch_size=None``, ``default_convert``).
        pin_memory: accepted; a no-op (there is no pinned host memory here).
        drop_last: drop the last batch when it is short.
        timeout: seconds to wait for a worker's batch (0: forever); past it, RuntimeError.
        worker_init_fn: called as ``worker_init_fn(worker_id)`` once in each worker thread.
        multiprocessing_context: accepted and ignored (workers are threads).
        generator: the seed source for shuffling and worker seeds: ``None`` (cn.torch's
            global generator, seeded by ``cn.torch.manual_seed``), a ``cn.torch.Generator``, a
            ``numpy.random.Generator``, or one with ``initial_seed()`` (``torch.Generator``).
        prefetch_factor: batches in flight per worker (default 2 with workers).
        persistent_workers: keep the worker threads (and their ``worker_init_fn`` state)
            across epochs.
        pin_memory_device: accepted and ignored.
        in_order: accepted; batches always come in sampler order.
        seed: (candle_numpy extension; wins over ``generator``) epoch ``n``'s order is a pure
            function of ``seed`` and ``n``, in every run.
        device: (candle_numpy extension) deliver every batch's tensors on this device ("cpu",
            "cuda", "cuda:N"); torch code calls ``batch.to(device)`` in the loop instead.

    Raises:
        ValueError: the argument combinations torch refuses (with torch's messages), or an
            unknown device.
        DeviceError: a CUDA ``device`` that cannot be opened.

    Example:
        >>> ds = TensorDataset(np.arange(10.0).reshape(5, 2), np.arange(5))
        >>> [len(b[1]) for b in DataLoader(ds, batch_size=2)]
        [2, 2, 1]
        >>> batch = next(iter(DataLoader([{"x": 1.0, "y": "a"}, {"x": 2.0, "y": "b"}], batch_size=2)))
        >>> batch["x"].tolist(), batch["y"]
        ([1.0, 2.0], ['a', 'b'])
    """

    def __init__(
        self,
        dataset,
        batch_size=1,
        shuffle=None,
        sampler=None,
        batch_sampler=None,
        num_workers=0,
        collate_fn=None,
        pin_memory=False,
        drop_last=False,
        timeout=0,
        worker_init_fn=None,
        multiprocessing_context=None,
        generator=None,
        *,
        prefetch_factor=None,
        persistent_workers=False,
        pin_memory_device="",
        in_order=True,
        seed=None,
        device=None,
    ):
        if num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; use num_workers=0 to disable multiprocessing."
            )
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 "
                "to enable multiprocessing, otherwise set prefetch_factor to None."
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None and num_workers == 0:
            raise ValueError(
                "multiprocessing_context can only be used with multi-process loading (num_workers > 0), "
                f"but got num_workers={num_workers}"
            )

        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            if shuffle not in {False, None}:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified batch_sampler option, but got "
                    f"batch_sampler={batch_sampler}"
                )
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
            )

        self._random_source = seeds.seeded(seed) if seed is not None else generator
        self._device = None if device is None else _check_device(device)

        # the native path: checked first, so its errors (batch_size=0, a CUDA device that
        # cannot be opened) are the ones it has always raised
        native = _native_dataset(dataset)
        use_native = (
            native is not None
            and sampler is None
            and batch_sampler is None
            and collate_fn is None
            and worker_init_fn is None
            and isinstance(batch_size, int)
            and not isinstance(batch_size, bool)
            and isinstance(drop_last, bool)
        )
        self._native_dataset = native if use_native else None
        self._native_loader = (
            _native.DataLoader(native, batch_size, shuffle, drop_last, seed=seed, device=device)
            if use_native
            else None
        )

        if sampler is None:
            if iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=self._random_source)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert

        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self.pin_memory = pin_memory
        self.drop_last = drop_last
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.pin_memory_device = pin_memory_device
        self.in_order = in_order
        self.seed = seed
        self.device = self._device
        self._iterable = iterable
        self._iterable_len_called = None
        self._pool = None  # persistent workers only
        self._epoch = 0
        self._last_iter = None
        self._initialized = True

    def __setattr__(self, attr, val):
        if self.__dict__.get("_initialized") and attr in _FROZEN:
            raise ValueError(f"{attr} attribute should not be set after {type(self).__name__} is initialized")
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self):
        """Batches per epoch: ``ceil(n / batch_size)`` (``floor`` with ``drop_last``) for a
        map-style dataset; for an IterableDataset the same from ``len(dataset)``, and a
        TypeError when the dataset has no ``__len__``."""
        if self._native_loader is not None:
            return len(self._native_loader)
        if self._iterable:
            length = self._iterable_len_called = len(self.dataset)
            if self.batch_size is not None:
                length = length // self.batch_size if self.drop_last else -(-length // self.batch_size)
            return length
        return len(self._index_sampler)

    def __iter__(self):
        """A new epoch: an iterator over its batches (with ``__len__``)."""
        self._epoch += 1
        if self._native_loader is not None:
            return _NativeIter(self)
        if self.num_workers == 0:
            return _SingleThreadIter(self)
        return _ThreadedIter(self)

    # --- fetching, shared by both Python iterators ----------------------------------------

    def _finish(self, data):
        return data if self._device is None else _to_device(data, self._device)

    def _fetch_map(self, index):
        if self._auto_collation:
            getitems = getattr(self.dataset, "__getitems__", None)
            data = getitems(index) if callable(getitems) else [self.dataset[i] for i in index]
        else:
            data = self.dataset[index]
        return self._finish(self.collate_fn(data))

    def _pool_for(self, base_seed):
        if not self.persistent_workers:
            return Pool(self.num_workers, self.dataset, base_seed, self.worker_init_fn)
        if self._pool is None:
            self._pool = Pool(self.num_workers, self.dataset, base_seed, self.worker_init_fn)
            weakref.finalize(self, self._pool.shutdown)
        return self._pool


class _IterableFetcher:
    """Cuts one pass over an IterableDataset into batches (one per worker with workers)."""

    def __init__(self, loader):
        self._loader = loader
        self._it = iter(loader.dataset)
        self._ended = False

    def fetch(self):
        """The next batch (or sample, with ``batch_size=None``); Exhausted at the end."""
        loader = self._loader
        if self._ended:
            raise Exhausted
        if loader._auto_collation:
            data = list(itertools.islice(self._it, loader.batch_size))
            if len(data) < loader.batch_size:
                self._ended = True
                if not data or loader.drop_last:
                    raise Exhausted
        else:
            try:
                data = next(self._it)
            except StopIteration:
                self._ended = True
                raise Exhausted from None
        return loader._finish(loader.collate_fn(data))


class _LoaderIter:
    """An epoch's iterator: ``next()`` gives a batch; ``len()`` is the loader's length."""

    def __init__(self, loader):
        self._loader = loader
        self._num_yielded = 0
        self._len_called = loader._iterable_len_called

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def __next__(self):
        data = self._next_data()
        self._num_yielded += 1
        if self._loader._iterable and self._len_called is not None and self._num_yielded > self._len_called:
            warn = (
                f"Length of IterableDataset {self._loader.dataset} was reported to be {self._len_called}"
                f"(when accessing len(dataloader)), but {self._num_yielded} samples have been fetched. "
            )
            if self._loader.num_workers > 0:
                warn += (
                    "For multi-worker data-loading, this could be caused by not properly configuring the "
                    "IterableDataset replica at each worker (see get_worker_info())."
                )
            warnings.warn(warn, stacklevel=2)
        return data

    def _next_data(self):
        raise NotImplementedError


class _NativeIter(_LoaderIter):
    """The native loader's epoch, tuples turned into torch's lists."""

    def __init__(self, loader):
        super().__init__(loader)
        native = loader._native_loader
        if loader.shuffle and loader.seed is None:
            # torch draws each epoch's order from the generator when the epoch starts
            native = _native.DataLoader(
                loader._native_dataset,
                loader.batch_size,
                True,
                loader.drop_last,
                seed=seeds.draw_seed(loader._random_source),
                device=loader._device,
            )
        self._it = iter(native)

    def _next_data(self):
        return list(next(self._it))


class _SingleThreadIter(_LoaderIter):
    """Fetches each batch in the calling thread when it is asked for."""

    def __init__(self, loader):
        super().__init__(loader)
        # the worker base seed, unused here: drawn anyway (as torch does) so that a shuffle
        # after manual_seed is the same with and without workers
        seeds.draw_seed(loader._random_source)
        if loader._iterable:
            self._fetcher = _IterableFetcher(loader)
        else:
            self._sampler_iter = iter(loader._index_sampler)

    def _next_data(self):
        if self._loader._iterable:
            try:
                return self._fetcher.fetch()
            except Exhausted:
                raise StopIteration from None
        return self._loader._fetch_map(next(self._sampler_iter))


def _fetch_iterable(loader, epoch, state):
    """A worker's next batch of this epoch's stream (a new stream when the epoch changes)."""
    if state.epoch != epoch:
        state.epoch = epoch
        state.fetcher = _IterableFetcher(loader)
    return state.fetcher.fetch()


def _fetch_map(loader, index, state):
    return loader._fetch_map(index)


def _cancel(pending, pool):
    """Drop the batches nobody will read; stop the pool if this epoch owns it."""
    for _, future in pending:
        future.cancel()
    pending.clear()
    if pool is not None:
        pool.shutdown()


class _ThreadedIter(_LoaderIter):
    """Hands batches to worker threads round-robin, ``prefetch_factor`` per worker ahead, and
    yields them in sampler order."""

    def __init__(self, loader):
        super().__init__(loader)
        # persistent workers serve one epoch at a time (torch resets its one iterator): a new
        # epoch drops what the previous one had in flight
        previous = loader._last_iter() if loader._last_iter is not None else None
        if previous is not None and loader.persistent_workers:
            previous._abandon()
        self._pool = loader._pool_for(seeds.draw_seed(loader._random_source))
        self._epoch = loader._epoch
        self._pending = collections.deque()
        self._active = [True] * self._pool.num_workers
        self._next_worker = itertools.cycle(range(self._pool.num_workers))
        self._sampler_iter = None if loader._iterable else iter(loader._index_sampler)
        self._tasks_left = True
        self._batch_index = 0
        owned = None if loader.persistent_workers else self._pool
        self._finalizer = weakref.finalize(self, _cancel, self._pending, owned)
        loader._last_iter = weakref.ref(self)
        for _ in range(max(1, loader.prefetch_factor) * self._pool.num_workers):
            self._put()

    def _abandon(self):
        self._tasks_left = False
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()

    def _put(self):
        if not self._tasks_left:
            return
        for _ in range(len(self._active)):
            wid = next(self._next_worker)
            if self._active[wid]:
                break
        else:
            self._tasks_left = False
            return
        if self._sampler_iter is None:
            task = functools.partial(_fetch_iterable, self._loader, self._epoch)
        else:
            try:
                index = next(self._sampler_iter)
            except StopIteration:
                self._tasks_left = False
                return
            task = functools.partial(_fetch_map, self._loader, index)
        future = concurrent.futures.Future()
        self._pool.submit(wid, future, task)
        self._pending.append((wid, future))

    def _next_data(self):
        timeout = self._loader.timeout or None
        while self._pending:
            wid, future = self._pending.popleft()
            if timeout is not None and not concurrent.futures.wait([future], timeout=timeout).done:
                self._finalizer()
                raise RuntimeError(f"DataLoader timed out after {self._loader.timeout} seconds")
            try:
                data = future.result()
            except concurrent.futures.CancelledError:
                continue
            except Exhausted:
                self._active[wid] = False
                self._put()
                continue
            except WorkerFailure as failure:
                index = self._batch_index
                self._batch_index += 1
                self._put()
                reraise(failure, wid, index)
            self._batch_index += 1
            self._put()
            return data
        self._finalizer()
        raise StopIteration
