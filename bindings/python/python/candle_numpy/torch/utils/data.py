"""``cn.torch.utils.data``: torch's data loading API, over candle_numpy's data engine.

Ports ``from torch.utils.data import ...`` line for line::

    dataset = TensorDataset(cn.torch.from_numpy(X), cn.torch.from_numpy(y))
    loader = DataLoader(dataset, batch_size=32, shuffle=True)
    for xb, yb in loader:
        ...

What is covered, with torch's semantics and error messages:

======================================  ==================================================
datasets                                ``Dataset`` (map-style: any object with
                                        ``__getitem__``/``__len__`` works), ``IterableDataset``,
                                        ``TensorDataset``, ``StackDataset``, ``ConcatDataset``,
                                        ``ChainDataset``, ``Subset``, ``random_split``
samplers                                ``Sampler``, ``SequentialSampler``, ``RandomSampler``,
                                        ``SubsetRandomSampler``, ``WeightedRandomSampler``,
                                        ``BatchSampler``, ``distributed.DistributedSampler``
collation                               ``default_collate``, ``default_convert``
``DataLoader``                          every torch argument; ``len(loader)``; batches as
                                        lists for tuple samples, as torch's
workers                                 ``get_worker_info``, ``WorkerInfo``
======================================  ==================================================

Two paths. A ``TensorDataset`` with no ``sampler``, ``batch_sampler``, ``collate_fn`` or
``worker_init_fn`` is served by the native loader: the dataset shares its arrays (no copy)
and each batch is one vectorised gather per field, made with the GIL released. Everything
else runs torch's pipeline in Python: sampler -> batch sampler -> fetch -> ``collate_fn``.

Workers are threads, not processes: ``num_workers=N`` starts N threads that fetch batches
ahead (``prefetch_factor`` each) and the batches come back in sampler order. Threads share
the dataset object and the interpreter, so they help datasets that wait (files, network,
decoders that release the GIL) and not pure-Python work; ``worker_init_fn`` and
``get_worker_info()`` work as in torch, but nothing is reseeded per worker
(``WorkerInfo.seed`` is there for datasets that seed their own generators).

Random numbers: ``shuffle``, the random samplers and ``random_split`` draw from cn.torch's
global generator unless given a ``generator`` (a ``cn.torch.Generator``, a
``numpy.random.Generator``, or one with ``initial_seed()`` such as ``torch.Generator``), so
``cn.torch.manual_seed(s)`` replays them; the streams are NumPy's, not torch's, so the orders differ from torch's. Two
candle_numpy extensions: ``seed=`` (``DataLoader``, ``random_split``), where epoch ``n``'s
order is a pure function of the seed, and ``DataLoader(device=)``, which delivers batches on
a device.

Not covered: worker processes (``multiprocessing_context`` is accepted and ignored),
pinned memory (``pin_memory`` is a no-op; ``in_order=False`` still yields in order),
datapipes, and torch's random streams (a ``torch.Generator`` seeds ours, it does not
reproduce torch's order).
"""

import sys as _sys
import types as _types

from ._data.collate import default_collate, default_convert
from ._data.datasets import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
)
from ._data.loader import DataLoader
from ._data.samplers import (
    BatchSampler,
    DistributedSampler as _DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from ._data.workers import WorkerInfo, get_worker_info

# torch's submodule ``torch.utils.data.distributed``, importable by that dotted name too
distributed = _types.ModuleType(__name__ + ".distributed", "``torch.utils.data.distributed``: ``DistributedSampler``.")
distributed.DistributedSampler = _DistributedSampler
distributed.__all__ = ["DistributedSampler"]
_sys.modules[distributed.__name__] = distributed

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "StackDataset",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "WorkerInfo",
    "default_collate",
    "default_convert",
    "distributed",
    "get_worker_info",
    "random_split",
]
