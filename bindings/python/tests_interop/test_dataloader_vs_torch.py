"""cn.torch.utils.data beside torch.utils.data (the interop lane): the same datasets through
both loaders give the same batches (structure, container types, dtypes, values), the same
lengths and the same error messages. Random orders are not compared (the streams differ)."""

import collections

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import candle_numpy as cn  # noqa: E402

Point = collections.namedtuple("Point", "x y")


def plain(obj):
    """A batch as comparable Python data: tensors become ("tensor", dtype, values)."""
    if isinstance(obj, (torch.Tensor, cn.Tensor)):
        return ("tensor", str(obj.dtype).replace("torch.", ""), obj.tolist())
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return (type(obj).__name__,) + tuple(plain(v) for v in obj)
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [plain(v) for v in obj])
    return obj


def both(make):
    """``make(torch_module)`` for torch and for cn.torch."""
    return make(torch), make(cn.torch)


def sample(i):
    return {
        "x": np.full(3, i, np.float32),
        "y": i,
        "w": i / 4,
        "name": f"s{i}",
        "pair": (i, np.int32(-i)),
        "p": Point(i, [i, i + 1]),
    }


def records(T, n=5):
    class Records(T.utils.data.Dataset):
        def __getitem__(self, i):
            if not 0 <= i < n:
                raise IndexError(i)
            return sample(i)

        def __len__(self):
            return n

    return Records()


def stream(T, n=7, sized=False):
    class Stream(T.utils.data.IterableDataset):
        def __iter__(self):
            info = T.utils.data.get_worker_info()
            if info is None:
                return iter(range(n))
            return iter(range(info.id, n, info.num_workers))

    if sized:
        Stream.__len__ = lambda self: n
    return Stream()


@pytest.mark.parametrize("batch_size, drop_last", [(1, False), (2, False), (2, True), (None, False), (9, False)])
def test_map_style_batches_match(batch_size, drop_last):
    got = both(lambda T: T.utils.data.DataLoader(records(T), batch_size=batch_size, drop_last=drop_last))
    assert len(got[1]) == len(got[0])
    assert [plain(b) for b in got[1]] == [plain(b) for b in got[0]]


@pytest.mark.parametrize(
    "batch",
    [
        [(1, 2.0), (3, 4.0)],
        [[1, 2], [3, 4]],
        [Point(1, 2.5), Point(3, 4.5)],
        [{"a": {"b": np.float64(1)}}, {"a": {"b": np.float64(2)}}],
        [np.arange(4, dtype=np.int32).reshape(2, 2)] * 2,
        [np.float32(1), np.float32(2)],
        ["a", "b"],
    ],
    ids=["tuple", "list", "namedtuple", "nested-dict", "ndarray", "np-scalar", "str"],
)
def test_default_collate_and_convert_match(batch):
    collated = both(lambda T: T.utils.data.default_collate(batch))
    assert plain(collated[1]) == plain(collated[0])
    converted = both(lambda T: T.utils.data.default_convert(batch[0]))
    assert plain(converted[1]) == plain(converted[0])


def test_tensor_dataset_batches_match():
    X = np.arange(14.0, dtype=np.float32).reshape(7, 2)
    y = np.arange(7)

    def loader(T, **kw):
        return T.utils.data.DataLoader(T.utils.data.TensorDataset(T.from_numpy(X), T.from_numpy(y)), **kw)

    for kw in ({"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": None}):
        got = both(lambda T: loader(T, **kw))  # noqa: B023
        assert len(got[1]) == len(got[0])
        assert [plain(b) for b in got[1]] == [plain(b) for b in got[0]]
    ds = both(lambda T: T.utils.data.TensorDataset(T.from_numpy(X), T.from_numpy(y)))
    assert plain(ds[1][2:4]) == plain(ds[0][2:4])


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("batch_size, drop_last", [(2, False), (2, True), (None, False)])
def test_iterable_dataset_batches_match(num_workers, batch_size, drop_last):
    got = both(
        lambda T: T.utils.data.DataLoader(
            stream(T), batch_size=batch_size, drop_last=drop_last, num_workers=num_workers
        )
    )
    assert [plain(b) for b in got[1]] == [plain(b) for b in got[0]]


def test_lengths_match():
    for kw in ({"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": None}):
        got = both(lambda T: len(T.utils.data.DataLoader(stream(T, sized=True), **kw)))  # noqa: B023
        assert got[1] == got[0]
        got = both(lambda T: len(T.utils.data.DataLoader(records(T, 10), **kw)))  # noqa: B023
        assert got[1] == got[0]
    errors = []
    for T in (torch, cn.torch):
        with pytest.raises(TypeError) as e:
            len(T.utils.data.DataLoader(stream(T), batch_size=2))
        errors.append(str(e.value))
    assert errors[1] == errors[0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sampler": [0, 1], "shuffle": True},
        {"batch_sampler": [[0]], "batch_size": 2},
        {"batch_sampler": [[0]], "drop_last": True},
        {"batch_size": None, "drop_last": True},
        {"num_workers": -1},
        {"timeout": -1},
        {"prefetch_factor": 2},
        {"persistent_workers": True},
        {"batch_size": 0},
        {"batch_size": True},
    ],
)
def test_refusals_match(kwargs):
    errors = []
    for T in (torch, cn.torch):
        with pytest.raises(ValueError) as e:
            T.utils.data.DataLoader(records(T), **kwargs)
        errors.append(str(e.value))
    assert errors[1] == errors[0]


def test_iterable_refusals_match():
    for kwargs in ({"shuffle": True}, {"sampler": [0]}, {"batch_sampler": [[0]]}):
        errors = []
        for T in (torch, cn.torch):
            with pytest.raises(ValueError) as e:
                T.utils.data.DataLoader(stream(T), **kwargs)
            errors.append(str(e.value).split(" option, but got")[0])
        assert errors[1] == errors[0]


def test_collate_errors_match():
    for batch, exc in (([[1, 2], [3]], RuntimeError), ([np.zeros(2), np.zeros(3)], RuntimeError),
                       ([object()], TypeError)):
        errors = []
        for T in (torch, cn.torch):
            with pytest.raises(exc) as e:
                T.utils.data.default_collate(batch)
            errors.append(str(e.value))
        assert errors[1] == errors[0]


def test_samplers_and_splits_match_where_deterministic():
    def det(T):
        D = T.utils.data
        return (
            list(D.BatchSampler(D.SequentialSampler(range(7)), 3, False)),
            list(D.BatchSampler(range(7), 3, True)),
            len(D.BatchSampler(range(7), 3, True)),
            [len(s) for s in D.random_split(range(106), [0.1, 0.2, 0.3, 0.4])],
            len(D.RandomSampler(range(5), num_samples=12)),
            sorted(D.SubsetRandomSampler([3, 1, 2])),
            list(D.distributed.DistributedSampler(range(10), 3, 1, shuffle=False)),
            D.ConcatDataset([[1, 2], [3]]).cumulative_sizes,
        )

    got = both(det)
    assert got[1] == got[0]
