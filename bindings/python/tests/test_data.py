"""cn.torch.utils.data and cn.tf.data over the one data engine."""

import numpy as np
import pytest

import candle_numpy as cn
from candle_numpy.tf.data import AUTOTUNE, Dataset
from candle_numpy.torch.utils.data import DataLoader, TensorDataset


def make(n=100):
    rng = np.random.default_rng(0)
    X = rng.random((n, 10), dtype=np.float32)
    y = np.arange(n, dtype=np.int64)  # y is the sample's own index: coverage checks are exact
    return X, y


def test_tensor_dataset_shares_and_indexes():
    X, y = make()
    ds = TensorDataset(cn.torch.from_numpy(X), cn.torch.from_numpy(y))
    assert len(ds) == 100
    x5, y5 = ds[5]
    assert x5.shape == (10,) and y5.tolist() == 5
    assert ds[-1][1].tolist() == 99
    with pytest.raises(IndexError):
        ds[100]
    with pytest.raises(cn.CandleNumpyError, match="100"):
        TensorDataset(cn.tensor(X), cn.tensor(y[:50]))


@pytest.mark.parametrize("drop_last, batches, last", [(False, 4, 4), (True, 3, 32)])
def test_dataloader_epoch_covers_every_sample_once(drop_last, batches, last):
    X, y = make()
    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, drop_last=drop_last, seed=7)
    assert len(loader) == batches
    seen = []
    shapes = []
    for xb, yb in loader:
        assert xb.dtype == "float32" and yb.dtype == "int64"
        shapes.append(xb.shape)
        seen.extend(yb.tolist())
        np.testing.assert_array_equal(xb.numpy(), X[yb.numpy()])
    assert len(shapes) == batches and shapes[0] == (32, 10) and shapes[-1] == (last, 10)
    if drop_last:
        assert len(set(seen)) == 96
    else:
        assert sorted(seen) == list(range(100))


def test_dataloader_is_deterministic_per_seed_and_reshuffles_per_epoch():
    X, y = make()
    order = lambda loader: [v for _, yb in loader for v in yb.tolist()]  # noqa: E731
    a = DataLoader(TensorDataset(X, y), batch_size=10, shuffle=True, seed=3)
    b = DataLoader(TensorDataset(X, y), batch_size=10, shuffle=True, seed=3)
    e1, e2 = order(a), order(a)
    assert e1 == order(b), "same seed, same first epoch"
    assert e1 != e2, "each epoch reshuffles"
    assert order(DataLoader(TensorDataset(X, y), batch_size=10)) == list(range(100))
    with pytest.raises(cn.CandleNumpyError, match="batch_size"):
        DataLoader(TensorDataset(X, y), batch_size=0)


def test_tf_pipeline_structures_and_counts():
    X, y = make()
    ds = Dataset.from_tensor_slices((X, y)).shuffle(100, seed=1).batch(32).prefetch(AUTOTUNE)
    assert ds.cardinality() == 4 and len(ds) == 4
    seen = [v for _, yb in ds for v in yb.tolist()]
    assert sorted(seen) == list(range(100))
    d = Dataset.from_tensor_slices({"x": X, "y": y}).batch(50)
    first = next(iter(d))
    assert isinstance(first, dict) and list(first) == ["x", "y"] and first["x"].shape == (50, 10)
    single = Dataset.from_tensor_slices(y).batch(7, drop_remainder=True)
    assert len(single) == 14 and all(b.shape == (7,) for b in single)
    assert [e.tolist() for e in Dataset.from_tensor_slices(y).skip(95)] == [95, 96, 97, 98, 99]
    assert len(Dataset.from_tensor_slices(y).take(10).repeat(3)) == 30
    assert Dataset.from_tensor_slices(y).repeat().cardinality() == -1
    with pytest.raises(TypeError, match="infinite"):
        len(Dataset.from_tensor_slices(y).repeat())


def test_tf_windowed_shuffle_stays_in_its_buffer():
    y = np.arange(1000, dtype=np.int64)
    out = [e.tolist() for e in Dataset.from_tensor_slices(y).shuffle(10, seed=5)]
    assert sorted(out) == list(range(1000))
    # an element can only be emitted once it has entered the 10-element window
    assert all(v <= pos + 9 for pos, v in enumerate(out))


def test_tf_shards_partition_the_data():
    y = np.arange(10, dtype=np.int64)
    shards = [[e.tolist() for e in Dataset.from_tensor_slices(y).shard(3, i)] for i in range(3)]
    assert shards[0] == [0, 3, 6, 9] and sorted(sum(shards, [])) == list(range(10))
    with pytest.raises(cn.CandleNumpyError, match="index"):
        Dataset.from_tensor_slices(y).shard(3, 3)
    with pytest.raises(ValueError, match=">= 0"):
        Dataset.from_tensor_slices(y).batch(-1)
