"""cn.torch.utils.data with torch's scope: datasets of any sample structure, samplers,
collation, IterableDataset, worker threads, seeds, and the native TensorDataset path."""

import collections
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import candle_numpy as cn
from candle_numpy.torch.utils import data as D
from candle_numpy.torch.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    StackDataset,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)

Point = collections.namedtuple("Point", "x y")


class Records(Dataset):
    """Sample i: a dict of an ndarray, an int, a float, a str and a nested tuple."""

    def __init__(self, n=5):
        self.n = n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"x": np.full(3, i, np.float32), "y": i, "w": i / 2, "name": f"s{i}", "pair": (i, -i)}

    def __len__(self):
        return self.n


class Ints(Dataset):
    """Sample i is i (a Python int): batches are int64 tensors of indices."""

    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i

    def __len__(self):
        return self.n


class Stream(IterableDataset):
    """0..n-1, split between worker threads by get_worker_info()."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


class SizedStream(Stream):
    def __len__(self):
        return self.n


def values(loader):
    return [b.tolist() for b in loader]


# --- collation -----------------------------------------------------------------------------


@pytest.mark.parametrize("num_workers", [0, 2])
def test_dict_samples_collate_field_by_field(num_workers):
    batches = list(DataLoader(Records(5), batch_size=2, num_workers=num_workers))
    assert len(batches) == 3
    b = batches[0]
    assert isinstance(b, dict) and list(b) == ["x", "y", "w", "name", "pair"]
    assert b["x"].shape == (2, 3) and b["x"].dtype == "float32"
    assert b["x"].tolist() == [[0.0] * 3, [1.0] * 3]
    assert b["y"].dtype == "int64" and b["y"].tolist() == [0, 1]
    assert b["w"].dtype == "float64" and b["w"].tolist() == [0.0, 0.5]
    assert b["name"] == ["s0", "s1"]
    # a tuple inside a sample comes back as a list of collated fields (torch's rule)
    assert isinstance(b["pair"], list) and [t.tolist() for t in b["pair"]] == [[0, 1], [0, -1]]
    assert batches[2]["y"].tolist() == [4] and batches[2]["x"].shape == (1, 3)


def test_default_collate_follows_torchs_type_rules():
    tup = default_collate([(1, 2.0), (3, 4.0)])
    assert isinstance(tup, list) and tup[0].dtype == "int64" and tup[1].dtype == "float64"
    assert [t.tolist() for t in tup] == [[1, 3], [2.0, 4.0]]
    lists = default_collate([[1, 2], [3, 4]])
    assert isinstance(lists, list) and [t.tolist() for t in lists] == [[1, 3], [2, 4]]
    p = default_collate([Point(1, np.zeros(2)), Point(2, np.ones(2))])
    assert type(p) is Point and p.x.tolist() == [1, 2] and p.y.tolist() == [[0.0, 0.0], [1.0, 1.0]]
    assert default_collate(["a", "b"]) == ["a", "b"]
    assert default_collate([b"a", b"b"]) == [b"a", b"b"]
    nested = default_collate([{"a": {"b": 1}}, {"a": {"b": 2}}])
    assert nested["a"]["b"].tolist() == [1, 2]
    # NumPy scalars keep their dtype; tensors stack on a new axis
    assert default_collate([np.float32(1), np.float32(2)]).dtype == "float32"
    t = default_collate([cn.tensor(np.arange(3)), cn.tensor(np.arange(3) + 3)])
    assert t.shape == (2, 3) and t.dtype == "int64" and t.tolist() == [[0, 1, 2], [3, 4, 5]]
    mixed = default_collate([cn.tensor(np.arange(2)), cn.tensor(np.ones(2, np.float32))])
    assert mixed.dtype == "float32", "torch.stack promotes int64 + float32 to float32"
    assert default_collate([np.arange(4).reshape(2, 2)] * 3).shape == (3, 2, 2)
    assert default_collate([np.zeros(2, np.int64), np.ones(2, np.float32)]).dtype == "float32"
    w = cn.tensor(np.ones(2, np.float32), requires_grad=True)
    stacked = default_collate([w, w * 2])
    assert stacked.requires_grad, "stacking is recorded, as torch.stack is"
    stacked.sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


def test_default_collate_errors_are_torchs():
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(
        RuntimeError, match=r"stack expects each tensor to be equal size, but got \[2\] at entry 0 and \[3\] at entry 1"
    ):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(RuntimeError, match=r"but got \[2\] at entry 0 and \[1\] at entry 2"):
        default_collate([cn.tensor(np.zeros(2)), cn.tensor(np.zeros(2)), cn.tensor(np.zeros(1))])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy arrays, numbers, "
                       "dicts or lists; found <class 'object'>"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="found <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_default_convert_turns_arrays_into_tensors_and_keeps_structure():
    out = default_convert((np.arange(2), "a", 3))
    assert isinstance(out, list) and out[0].tolist() == [0, 1] and out[1:] == ["a", 3]
    p = default_convert(Point(np.float64(1.5), np.zeros(2)))
    assert type(p) is Point and p.x.dtype == "float64" and p.y.shape == (2,)
    d = default_convert({"a": np.ones(2, np.int32)})
    assert d["a"].dtype == "int32"
    s = np.array(["x", "y"])
    assert default_convert(s) is s
    assert default_convert(7) == 7


# --- batch_size=None and map-style lengths --------------------------------------------------


def test_batch_size_none_passes_samples_through_default_convert():
    loader = DataLoader(Records(3), batch_size=None)
    assert len(loader) == 3 and loader.batch_sampler is None
    samples = list(loader)
    assert len(samples) == 3
    s = samples[2]
    assert s["x"].shape == (3,) and s["y"] == 2 and s["pair"] == [2, -2]
    # a TensorDataset's tuple samples become lists, as torch's do
    ds = TensorDataset(np.arange(6.0).reshape(3, 2), np.arange(3))
    x, y = list(DataLoader(ds, batch_size=None))[1]
    assert x.tolist() == [2.0, 3.0] and y.tolist() == 1
    with pytest.raises(ValueError, match="batch_size=None option disables auto-batching"):
        DataLoader(Records(3), batch_size=None, drop_last=True)


@pytest.mark.parametrize(
    "n, bs, drop_last, expect", [(10, 3, False, 4), (10, 3, True, 3), (9, 3, True, 3), (2, 5, True, 0)]
)
def test_map_style_length_is_ceil_or_floor(n, bs, drop_last, expect):
    loader = DataLoader(Ints(n), batch_size=bs, drop_last=drop_last)
    assert len(loader) == expect == len(list(loader)) == len(iter(loader))


def test_plain_objects_with_getitem_and_len_are_datasets():
    assert values(DataLoader([10, 11, 12], batch_size=2)) == [[10, 11], [12]]
    assert values(DataLoader(range(5), batch_size=2, drop_last=True)) == [[0, 1], [2, 3]]


# --- IterableDataset ---------------------------------------------------------------------------


def test_iterable_dataset_batches_in_order_and_drop_last():
    assert values(DataLoader(Stream(7), batch_size=3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert values(DataLoader(Stream(7), batch_size=3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert [s.tolist() if hasattr(s, "tolist") else s for s in DataLoader(Stream(3), batch_size=None)] == [0, 1, 2]


def test_iterable_dataset_length_rules():
    assert len(DataLoader(SizedStream(7), batch_size=3)) == 3
    assert len(DataLoader(SizedStream(7), batch_size=3, drop_last=True)) == 2
    assert len(DataLoader(SizedStream(7), batch_size=None)) == 7
    with pytest.raises(TypeError, match="has no len"):
        len(DataLoader(Stream(7), batch_size=3))


def test_iterable_dataset_longer_than_its_len_warns():
    class Liar(SizedStream):
        def __len__(self):
            return 2

    loader = DataLoader(Liar(4), batch_size=1)
    assert len(loader) == 2
    with pytest.warns(UserWarning, match="was reported to be 2"):
        assert len(list(loader)) == 4


def test_iterable_dataset_refuses_shuffle_sampler_and_batch_sampler():
    with pytest.raises(ValueError, match="DataLoader with IterableDataset: expected unspecified shuffle option, "
                       "but got shuffle=True"):
        DataLoader(Stream(3), shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler option"):
        DataLoader(Stream(3), sampler=[0, 1])
    with pytest.raises(ValueError, match="expected unspecified batch_sampler option"):
        DataLoader(Stream(3), batch_sampler=[[0, 1]])
    assert values(DataLoader(Stream(3), shuffle=False, batch_size=3)) == [[0, 1, 2]]


def test_chain_dataset_and_add():
    chained = Stream(2) + Stream(3)
    assert isinstance(chained, ChainDataset)
    assert values(DataLoader(chained, batch_size=2)) == [[0, 1], [0, 1], [2]]
    assert len(ChainDataset([SizedStream(2), SizedStream(3)])) == 5
    with pytest.raises(AssertionError, match="ChainDataset only supports IterableDataset"):
        list(ChainDataset([Ints(2)]))


# --- samplers --------------------------------------------------------------------------------


def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3] and len(SequentialSampler(range(4))) == 4
    perm = list(RandomSampler(range(50)))
    assert sorted(perm) == list(range(50)) and perm != list(range(50))
    twice = list(RandomSampler(range(5), num_samples=12))
    assert len(twice) == 12 and all(twice.count(i) in (2, 3) for i in range(5))
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=100))
    assert len(drawn) == 100 and set(drawn) == {0, 1, 2}
    with pytest.raises(TypeError, match="replacement should be a boolean value, but got replacement=0"):
        RandomSampler(range(3), replacement=0)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        RandomSampler(range(0))
    sub = list(SubsetRandomSampler([5, 7, 9, 11]))
    assert sorted(sub) == [5, 7, 9, 11] and len(SubsetRandomSampler([1, 2])) == 2
    weighted = list(WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], num_samples=200))
    assert set(weighted) == {1, 3} and weighted.count(3) > weighted.count(1)
    assert sorted(WeightedRandomSampler([1, 1, 1], 3, replacement=False)) == [0, 1, 2]


def test_batch_sampler():
    bs = BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=False)
    assert list(bs) == [[0, 1, 2], [3, 4, 5], [6]] and len(bs) == 3
    bs = BatchSampler(range(7), batch_size=3, drop_last=True)
    assert list(bs) == [[0, 1, 2], [3, 4, 5]] and len(bs) == 2
    for bad in (0, -1, True, 2.0):
        msg = f"batch_size should be a positive integer value, but got batch_size={bad}"
        with pytest.raises(ValueError, match=msg):
            BatchSampler(range(3), bad, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value, but got drop_last=1"):
        BatchSampler(range(3), 2, 1)


def test_sampler_and_batch_sampler_drive_the_loader():
    assert values(DataLoader(Ints(6), batch_size=2, sampler=[5, 4, 3, 2, 1, 0])) == [[5, 4], [3, 2], [1, 0]]
    loader = DataLoader(Ints(6), batch_sampler=[[0, 5], [1], [2, 3, 4]])
    assert values(loader) == [[0, 5], [1], [2, 3, 4]] and len(loader) == 3 and loader.batch_size is None
    assert values(DataLoader(Ints(4), sampler=SubsetRandomSampler([2]))) == [[2]]


def test_argument_combinations_torch_refuses():
    with pytest.raises(ValueError, match="^sampler option is mutually exclusive with shuffle$"):
        DataLoader(Ints(4), sampler=[0, 1], shuffle=True)
    msg = "^batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last$"
    for kwargs in ({"batch_size": 2}, {"shuffle": True}, {"sampler": [0]}, {"drop_last": True}):
        with pytest.raises(ValueError, match=msg):
            DataLoader(Ints(4), batch_sampler=[[0]], **kwargs)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(Ints(4), num_workers=-1)
    with pytest.raises(ValueError, match="timeout option should be non-negative"):
        DataLoader(Ints(4), timeout=-1)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified in multiprocessing"):
        DataLoader(Ints(4), prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(Ints(4), persistent_workers=True)
    loader = DataLoader(Ints(4), pin_memory=True, timeout=3, multiprocessing_context=None)
    assert values(loader) == [[0], [1], [2], [3]]
    for attr in ("batch_size", "sampler", "dataset", "drop_last"):
        with pytest.raises(ValueError, match=f"{attr} attribute should not be set after DataLoader is initialized"):
            setattr(loader, attr, None)


# --- worker threads ------------------------------------------------------------------------


class Slow(Dataset):
    """Sample i after a delay that is longest for the first indices (so later batches are
    ready first), recording the worker that fetched it."""

    def __init__(self, n):
        self.n = n
        self.workers = {}

    def __getitem__(self, i):
        time.sleep(0.002 * ((self.n - i) % 5))
        info = get_worker_info()
        self.workers[i] = (info.id, info.num_workers, info.dataset is self, info.seed) if info else None
        return {"i": i, "x": np.full(2, i, np.float64)}

    def __len__(self):
        return self.n


@pytest.mark.parametrize("shuffle", [False, True])
def test_two_workers_give_the_batches_of_zero_workers_in_order(shuffle):
    def epoch(num_workers):
        loader = DataLoader(Slow(23), batch_size=4, shuffle=shuffle, seed=11, num_workers=num_workers)
        return [(b["i"].tolist(), b["x"].tolist()) for b in loader]

    serial, threaded = epoch(0), epoch(2)
    assert threaded == serial
    assert sorted(i for ids, _ in serial for i in ids) == list(range(23))
    assert [len(ids) for ids, _ in serial] == [4] * 5 + [3]


def test_manual_seed_makes_worker_and_serial_shuffles_agree():
    def epoch(num_workers):
        cn.torch.manual_seed(5)
        return values(DataLoader(Ints(20), batch_size=5, shuffle=True, num_workers=num_workers))

    assert epoch(2) == epoch(0)


def test_get_worker_info_inside_workers_and_none_in_main_thread():
    assert get_worker_info() is None
    ds = Slow(8)
    list(DataLoader(ds, batch_size=2, num_workers=2))
    infos = set(ds.workers.values())
    assert {i[0] for i in infos} == {0, 1}
    assert all(i[1] == 2 and i[2] for i in infos)
    seeds = {i[0]: i[3] for i in infos}
    assert seeds[1] == seeds[0] + 1, "worker seed is base_seed + worker id"
    # batches go round-robin: batch k is fetched by worker k % 2
    assert all(ds.workers[i][0] == (i // 2) % 2 for i in range(8))
    list(DataLoader(ds, batch_size=2))
    assert set(ds.workers.values()) == {None}


def test_worker_info_is_read_only():
    seen = []

    class Probe(Ints):
        def __getitem__(self, i):
            info = get_worker_info()
            try:
                info.id = 5
            except RuntimeError as e:
                seen.append(str(e))
            return i

    list(DataLoader(Probe(2), num_workers=1))
    assert seen == ["Cannot assign attributes to WorkerInfo objects"] * 2


def test_worker_exception_is_raised_in_the_main_thread_with_its_batch_index():
    class Fails(Ints):
        def __getitem__(self, i):
            if i == 5:
                raise ValueError("sample 5 is corrupt")
            return i

    it = iter(DataLoader(Fails(8), batch_size=2, num_workers=2))
    assert next(it).tolist() == [0, 1] and next(it).tolist() == [2, 3]
    with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker thread 0 while fetching batch 2") as e:
        next(it)
    assert "sample 5 is corrupt" in str(e.value) and "Original Traceback" in str(e.value)
    assert isinstance(e.value.__cause__, ValueError) and str(e.value.__cause__) == "sample 5 is corrupt"
    assert next(it).tolist() == [6, 7], "the epoch goes on after a failed batch, as in torch"
    with pytest.raises(StopIteration):
        next(it)


def test_worker_exceptions_of_other_types():
    class KeyFails(Ints):
        def __getitem__(self, i):
            raise KeyError("missing")

    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker thread 0 while fetching batch 0"):
        list(DataLoader(KeyFails(2), num_workers=1))

    class Odd(Exception):
        def __init__(self, a, b):
            super().__init__(a, b)

    class OddFails(Ints):
        def __getitem__(self, i):
            raise Odd(1, 2)

    # an exception type that cannot be built from a message comes back as a RuntimeError
    with pytest.raises(RuntimeError, match="Caught Odd in DataLoader worker thread"):
        list(DataLoader(OddFails(2), num_workers=1))


def test_worker_init_fn_runs_once_per_worker_thread():
    calls = []
    lock = threading.Lock()

    def init(worker_id):
        with lock:
            calls.append((worker_id, threading.current_thread().name, get_worker_info().id))

    loader = DataLoader(Ints(10), batch_size=2, num_workers=3, worker_init_fn=init)
    assert values(loader) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert sorted(c[0] for c in calls) == [0, 1, 2]
    assert all(name == f"DataLoader worker {wid}" and info == wid for wid, name, info in calls)
    list(loader)
    assert len(calls) == 6, "a new epoch starts new workers"
    calls.clear()
    persistent = DataLoader(Ints(10), batch_size=2, num_workers=2, worker_init_fn=init, persistent_workers=True)
    assert values(persistent) == values(persistent) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert sorted(c[0] for c in calls) == [0, 1], "persistent workers start once"

    def broken(worker_id):
        raise OSError("no such device")

    with pytest.raises(OSError, match="(?s)Caught OSError in DataLoader worker thread 0.*no such device"):
        list(DataLoader(Ints(4), num_workers=2, worker_init_fn=broken))


def test_prefetch_factor_bounds_the_batches_fetched_ahead():
    fetched = []

    class Counting(Ints):
        def __getitem__(self, i):
            fetched.append(i)
            return i

    it = iter(DataLoader(Counting(40), batch_size=2, num_workers=2, prefetch_factor=3))
    deadline = time.monotonic() + 5
    while len(fetched) < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert len(fetched) == 12, "3 batches of 2 for each of 2 workers, nothing consumed yet"
    assert next(it).tolist() == [0, 1]
    assert len(list(it)) == 19


def test_timeout_raises_when_a_worker_is_too_slow():
    class Sleepy(Ints):
        def __getitem__(self, i):
            time.sleep(0.5)
            return i

    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.05 seconds"):
        next(iter(DataLoader(Sleepy(1), num_workers=1, timeout=0.05)))


def test_iterable_dataset_with_workers_interleaves_worker_streams():
    # each worker reads its share (by get_worker_info); batches alternate between workers
    assert values(DataLoader(Stream(7), batch_size=2, num_workers=2)) == [[0, 2], [1, 3], [4, 6], [5]]
    # a dataset that does not split by worker is read once per worker, as in torch
    class Whole(IterableDataset):
        def __iter__(self):
            return iter(range(3))

    assert sorted(v for b in values(DataLoader(Whole(), batch_size=2, num_workers=2)) for v in b) == [0, 0, 1, 1, 2, 2]
    persistent = DataLoader(Stream(5), batch_size=2, num_workers=2, persistent_workers=True)
    assert values(persistent) == values(persistent) == [[0, 2], [1, 3], [4]]


def test_two_epochs_at_once():
    loader = DataLoader(Ints(9), batch_size=2, num_workers=2)
    pairs = [(a.tolist(), b.tolist()) for a, b in zip(loader, loader)]
    assert pairs == [([0, 1], [0, 1]), ([2, 3], [2, 3]), ([4, 5], [4, 5]), ([6, 7], [6, 7]), ([8], [8])]
    # persistent workers serve one epoch at a time: a new epoch drops the unfinished one
    persistent = DataLoader(Ints(9), batch_size=2, num_workers=2, persistent_workers=True)
    first = iter(persistent)
    assert next(first).tolist() == [0, 1]
    assert values(persistent) == [[0, 1], [2, 3], [4, 5], [6, 7], [8]]
    assert list(first) == []


def test_an_abandoned_epoch_stops_its_threads():
    before = set(threading.enumerate())
    it = iter(DataLoader(Ints(100), batch_size=2, num_workers=3))
    next(it)
    started = set(threading.enumerate()) - before
    assert sorted(t.name for t in started) == [f"DataLoader worker {i}" for i in range(3)]
    del it
    for t in started:
        t.join(timeout=5)
    assert not any(t.is_alive() for t in started)


# --- the native TensorDataset path -----------------------------------------------------------


def test_tensor_dataset_is_a_dataset_with_torchs_surface():
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    ds = TensorDataset(X, y)
    assert isinstance(ds, Dataset) and len(ds) == 10
    assert isinstance(ds.tensors, tuple) and len(ds.tensors) == 2 and ds.tensors[0].shape == (10, 2)
    sample = ds[3]
    assert isinstance(sample, tuple) and sample[0].tolist() == [6.0, 7.0] and sample[1].tolist() == 3
    assert ds[np.int64(-1)][1].tolist() == 9
    xs, ys = ds[2:5]
    assert xs.shape == (3, 2) and ys.tolist() == [2, 3, 4]
    t = cn.tensor(np.ones(4))
    assert TensorDataset(t).tensors[0] is t


def test_tensor_dataset_batches_are_lists_from_the_native_loader():
    X = np.arange(20.0, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    loader = DataLoader(TensorDataset(X, y), batch_size=4)
    assert loader._native_loader is not None, "a plain TensorDataset takes the native path"
    batches = list(loader)
    assert len(loader) == 3 and all(type(b) is list and len(b) == 2 for b in batches)
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    np.testing.assert_array_equal(batches[1][0].numpy(), X[4:8])
    # the Python path (a collate_fn given) gives the same batches
    generic = DataLoader(TensorDataset(X, y), batch_size=4, collate_fn=default_collate)
    assert generic._native_loader is None
    assert [[t.tolist() for t in b] for b in generic] == [[t.tolist() for t in b] for b in batches]
    # drop_last, seed= and num_workers (not needed on this path) keep working
    shuffled = DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, drop_last=True, seed=3, num_workers=2)
    assert shuffled._native_loader is not None and len(shuffled) == 2
    ids = [v for _, yb in shuffled for v in yb.tolist()]
    assert len(ids) == 8 and len(set(ids)) == 8


def test_a_tensor_dataset_subclass_that_overrides_getitem_is_read_through_it():
    class Doubled(TensorDataset):
        def __getitem__(self, i):
            (v,) = super().__getitem__(i)
            return v * 2

    loader = DataLoader(Doubled(np.arange(4)), batch_size=2)
    assert loader._native_loader is None
    assert values(loader) == [[0, 2], [4, 6]]


def test_tensor_dataset_from_npy_has_no_tensors(tmp_path):
    p = tmp_path / "x.npy"
    np.save(p, np.arange(6.0).reshape(3, 2))
    ds = TensorDataset.from_npy(p)
    assert isinstance(ds, TensorDataset) and ds.tensors is None and len(ds) == 3
    assert ds[1][0].tolist() == [2.0, 3.0]
    with pytest.raises(TypeError, match="takes int indices"):
        ds[0:2]
    [[xb]] = list(DataLoader(ds, batch_size=3))
    assert xb.shape == (3, 2)


# --- seeds --------------------------------------------------------------------------------


def test_manual_seed_replays_shuffles_on_both_paths():
    X = np.arange(30)

    def run():
        cn.torch.manual_seed(123)
        native = [b[0].tolist() for b in DataLoader(TensorDataset(X), batch_size=7, shuffle=True)]
        generic = values(DataLoader(Ints(30), batch_size=7, shuffle=True))
        again = values(DataLoader(Ints(30), batch_size=7, shuffle=True))
        split = [s.indices for s in random_split(range(10), [4, 6])]
        return native, generic, again, split

    first = run()
    assert first == run()
    native, generic, again, _ = first
    assert sorted(v for b in native for v in b) == list(range(30))
    assert generic != again, "the global stream moves on between epochs"


def test_seed_and_generator_arguments():
    a = DataLoader(Ints(30), batch_size=30, shuffle=True, seed=4)
    b = DataLoader(Ints(30), batch_size=30, shuffle=True, seed=4)
    e1, e2 = values(a), values(a)
    assert e1 == values(b) and e1 != e2, "seed: epoch n is a pure function of (seed, n)"
    g1 = np.random.default_rng(9)
    g2 = np.random.default_rng(9)
    assert values(DataLoader(Ints(30), shuffle=True, generator=g1)) == values(
        DataLoader(Ints(30), shuffle=True, generator=g2)
    )

    class TorchLike:
        """Anything with initial_seed(), as torch.Generator."""

        def __init__(self, s):
            self.s = s

        def initial_seed(self):
            return self.s

    split = lambda g: [s.indices for s in random_split(range(20), [0.5, 0.5], generator=g)]  # noqa: E731
    assert split(TorchLike(1)) == split(TorchLike(1)) != split(TorchLike(2))
    sampler = RandomSampler(range(20), generator=TorchLike(3))
    assert list(sampler) != list(sampler), "the stream of one generator moves on"
    seeded = lambda s: cn.torch.Generator().manual_seed(s)  # noqa: E731
    assert split(seeded(42)) == split(seeded(42)) != split(seeded(43))
    loader = DataLoader(Ints(30), batch_size=10, shuffle=True, generator=seeded(42))
    again = DataLoader(Ints(30), batch_size=10, shuffle=True, generator=seeded(42))
    first = values(loader)
    assert first == values(again) and values(loader) != first, "one stream, moving on per epoch"
    with pytest.raises(TypeError, match="generator must be"):
        list(RandomSampler(range(3), generator="seed"))


# --- combinators ------------------------------------------------------------------------------


def test_subset_concat_stack_and_random_split():
    base = Ints(10)
    sub = Subset(base, [9, 0, 4])
    assert len(sub) == 3 and [sub[i] for i in range(3)] == [9, 0, 4]
    assert sub.__getitems__([2, 0]) == [4, 9]
    assert values(DataLoader(sub, batch_size=2)) == [[9, 0], [4]]

    cat = ConcatDataset([Ints(3), [10, 11]])
    assert len(cat) == 5 and cat.cumulative_sizes == [3, 5]
    assert [cat[i] for i in range(5)] == [0, 1, 2, 10, 11] and cat[-1] == 11
    assert values(DataLoader(Ints(2) + Ints(2), batch_size=4)) == [[0, 1, 0, 1]]
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        cat[-6]
    with pytest.raises(AssertionError, match="ConcatDataset does not support IterableDataset"):
        ConcatDataset([Stream(2)])

    stacked = StackDataset(Ints(3), np.arange(3) * 10)
    assert stacked[2][0] == 2 and stacked[2][1] == 20
    named = StackDataset(a=Ints(3), b=[5, 6, 7])
    assert named[1] == {"a": 1, "b": 6}
    [batch] = list(DataLoader(named, batch_size=3))
    assert batch["a"].tolist() == [0, 1, 2] and batch["b"].tolist() == [5, 6, 7]
    with pytest.raises(ValueError, match="Size mismatch between datasets"):
        StackDataset(Ints(2), Ints(3))

    parts = random_split(range(10), [3, 7], seed=0)
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))
    assert all(type(i) is int for p in parts for i in p.indices)
    assert [p.indices for p in random_split(range(10), [3, 7], seed=0)] == [p.indices for p in parts]
    assert [len(p) for p in random_split(range(106), [0.1, 0.2, 0.3, 0.4], seed=1)] == [11, 22, 31, 42]
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset!"):
        random_split(range(4), [1, 2])
    with pytest.raises(ValueError, match="Fraction at index 0 is not between 0 and 1"):
        random_split(range(4), [-0.5, 1.5])


def test_distributed_sampler_shards_the_epoch():
    sampler = D.distributed.DistributedSampler
    shards = [list(sampler(range(10), num_replicas=3, rank=r, shuffle=False)) for r in range(3)]
    assert shards == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
    shuffled = [set(sampler(range(10), num_replicas=2, rank=r, seed=1)) for r in range(2)]
    assert shuffled[0] | shuffled[1] == set(range(10)) and not shuffled[0] & shuffled[1]
    with pytest.raises(ValueError, match="Invalid rank 3"):
        sampler(range(10), 3, 3)
    from candle_numpy.torch.utils.data.distributed import DistributedSampler

    assert DistributedSampler is sampler


def test_device_cpu_on_the_python_path_and_unknown_devices():
    [batch] = list(DataLoader(Records(2), batch_size=2, device="cpu"))
    assert batch["x"].device == "cpu" and batch["name"] == ["s0", "s1"]
    with pytest.raises(ValueError, match="unknown device"):
        DataLoader(Records(2), device="tpu")


# --- property: any map-style configuration ----------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 40),
    batch_size=st.integers(1, 12),
    drop_last=st.booleans(),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_any_loader_covers_its_epoch_and_workers_agree(n, batch_size, drop_last, shuffle, seed):
    def epoch(num_workers):
        return values(DataLoader(Ints(n), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                                 seed=seed, num_workers=num_workers))

    serial = epoch(0)
    loader = DataLoader(Ints(n), batch_size=batch_size, drop_last=drop_last)
    assert len(serial) == len(loader) == (n // batch_size if drop_last else -(-n // batch_size))
    assert all(len(b) == batch_size for b in serial[:-1])
    flat = [v for b in serial for v in b]
    assert len(set(flat)) == len(flat) and set(flat) <= set(range(n))
    if not drop_last:
        assert sorted(flat) == list(range(n))
    if not shuffle:
        assert flat == list(range(len(flat)))
    assert epoch(2) == serial
