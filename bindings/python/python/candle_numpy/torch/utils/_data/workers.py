"""The worker pool behind ``DataLoader(num_workers=N)``: N threads, not processes.

Each worker thread has its own task queue; the loader hands out batches round-robin, keeps
``prefetch_factor`` batches per worker in flight and yields results in sampler order. A
worker calls ``worker_init_fn(worker_id)`` once, when it starts, and sees its
``get_worker_info()``. An exception while fetching is re-raised in the main thread, with the
worker id, the batch index and the worker's traceback.

Threads share the process: the dataset object is the same in every worker (not a copy), and
there is no per-worker reseeding of Python's ``random`` or cn.torch's generator
(``WorkerInfo.seed`` is given for datasets that seed their own generators). Threads speed up
datasets that wait (files, network, decoders that release the GIL); pure-Python work is still
serialised by the GIL.
"""

import queue
import threading
import traceback

_local = threading.local()


class WorkerInfo:
    """What a worker knows about itself (``torch.utils.data.get_worker_info()``).

    Attributes:
        id: this worker's index, in ``[0, num_workers)``.
        num_workers: the loader's ``num_workers``.
        seed: ``base_seed + id``, where the base seed is drawn per epoch (per loader with
            ``persistent_workers``) from the loader's generator.
        dataset: the loader's dataset (the same object in every worker: they are threads).
    """

    __slots__ = ("id", "num_workers", "seed", "dataset", "_frozen")

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self, k, v)
        self._frozen = True

    def __setattr__(self, key, val):
        if getattr(self, "_frozen", False):
            raise RuntimeError(f"Cannot assign attributes to {type(self).__name__} objects")
        object.__setattr__(self, key, val)

    def __repr__(self):
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in ("id", "num_workers", "seed", "dataset"))
        return f"{type(self).__name__}({fields})"


def get_worker_info():
    """This worker's ``WorkerInfo`` inside a DataLoader worker thread, ``None`` elsewhere
    (``torch.utils.data.get_worker_info``).

    Returns:
        A ``WorkerInfo`` (``id``, ``num_workers``, ``seed``, ``dataset``) or ``None``.

    Example:
        >>> get_worker_info() is None  # the main thread
        True
    """
    return getattr(_local, "info", None)


class Exhausted(Exception):
    """A worker's stream (an IterableDataset's) has ended: no batch for this task."""


class WorkerFailure(Exception):
    """What a worker hands back for an exception: the exception and its traceback, formatted
    in the worker (where it still shows only the worker's frames)."""

    def __init__(self, exc):
        super().__init__(exc)
        self.exc = exc
        self.traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class _KeyErrorMessage(str):
    """A KeyError's message shown as written, not repr()-quoted (torch does the same)."""

    def __repr__(self):
        return self


def reraise(failure, worker_id, batch_index):
    """Raise a worker's exception in the calling thread: the same exception type (a
    RuntimeError when that type cannot be built from a message), saying where it happened and
    carrying the worker's traceback, chained to the original.

    Args:
        failure: the ``WorkerFailure`` a worker handed back.
        worker_id: that worker's id.
        batch_index: the batch (its position in the epoch) being fetched.

    Raises:
        The rebuilt exception, always.
    """
    exc, original = failure.exc, failure.traceback
    msg = (
        f"Caught {type(exc).__name__} in DataLoader worker thread {worker_id} while fetching "
        f"batch {batch_index}.\nOriginal {original}"
    )
    if isinstance(exc, KeyError):
        msg = _KeyErrorMessage(msg)
    try:
        new = type(exc)(msg)
    except Exception:  # noqa: BLE001 - any constructor that wants more than a message
        new = RuntimeError(msg)
    raise new from exc


class Pool:
    """``num_workers`` daemon threads, each with its own task queue.

    A task is ``(future, fn)``; the worker runs ``fn(state)`` with a per-worker ``state``
    object (where an IterableDataset's iterator lives) and settles the future.
    """

    def __init__(self, num_workers, dataset, base_seed, worker_init_fn):
        self._queues = [queue.SimpleQueue() for _ in range(num_workers)]
        self._threads = []
        for wid in range(num_workers):
            info = WorkerInfo(id=wid, num_workers=num_workers, seed=base_seed + wid, dataset=dataset)
            t = threading.Thread(
                target=_work,
                args=(self._queues[wid], info, worker_init_fn),
                name=f"DataLoader worker {wid}",
                daemon=True,
            )
            t.start()
            self._threads.append(t)

    @property
    def num_workers(self):
        return len(self._queues)

    def submit(self, worker_id, future, fn):
        """Queue ``fn`` on worker ``worker_id``; ``future`` gets its result or exception."""
        self._queues[worker_id].put((future, fn))

    def shutdown(self):
        """Stop every worker once its queued tasks are done or cancelled (does not wait)."""
        for q in self._queues:
            q.put(None)


class _State:
    """A worker's private state: the fetcher of the epoch it is serving."""

    def __init__(self):
        self.epoch = None
        self.fetcher = None


def _work(tasks, info, worker_init_fn):
    _local.info = info
    init_error = None
    if worker_init_fn is not None:
        try:
            worker_init_fn(info.id)
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            init_error = WorkerFailure(e)
    state = _State()
    while True:
        task = tasks.get()
        if task is None:
            return
        future, fn = task
        if not future.set_running_or_notify_cancel():
            continue
        if init_error is not None:
            future.set_exception(init_error)
            continue
        try:
            future.set_result(fn(state))
        except Exhausted as e:
            future.set_exception(e)
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            future.set_exception(WorkerFailure(e))
