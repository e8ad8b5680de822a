"""Port of the CPU, single-process tests of PyTorch's ``test/test_dataloader.py``.

Every test runs against the real torch (the control) and ``cn.torch``; see conftest.py and
known_gaps.py. Written anew for this project: each test keeps the upstream name, inputs and
assertions, with torch's harness replaced by pytest and ``upstream_support``; tests sit
in plain pytest classes named as upstream's.

Ported classes: ``TestDatasetRandomSplit``, ``TestTensorDataset``, ``TestStackDataset``,
``TestConcatDataset``, ``TestDataLoader`` (its single-process tests), ``TestDictDataLoader``
(``test_sequential_batch``), ``TestNamedTupleDataLoader``.

Changes from upstream, all forced by the harness or by the single-process scope:

* ``setUp`` becomes a ``setup`` helper returning the same data, labels and dataset.
* ``TestDataLoader._get_data_loader`` only exists to add ``persistent_workers`` (False
  without workers): the port calls ``DataLoader`` directly.
* Tests that loop over ``num_workers``/multiprocessing contexts keep only their
  ``num_workers=0`` (single-process) part: ``test_error_in_init``,
  ``test_builtin_collection_conversion``, ``test_iterable_style_dataset``,
  ``test_chain_iterable_style_dataset``, ``test_shuffle_reproducibility``,
  ``test_sampler``, ``test_batch_sampler``, ``test_bulk_loading_nobatch``,
  ``TestDictDataLoader.test_sequential_batch`` (its ``persistent_workers=False`` loop
  iteration, which passes ``persistent_workers=False`` explicitly, as upstream does).
* ``test_bulk_loading_nobatch`` drops its check of the private ``dl._auto_collation``.
* ``test_invalid_ctor_args_combinations`` drops its three ``multiprocessing_context``
  checks (they need ``torch.multiprocessing`` and are about worker start methods).
* ``_utils.collate.default_collate``/``default_convert`` are spelled with their public
  names ``torch.utils.data.default_collate``/``default_convert`` (same functions).
* ``pin_memory=TEST_CUDA`` is ``pin_memory=False`` (CPU only), so ``is_pinned()`` is
  expected False, as upstream expects on a CPU-only machine.
* ``self.assertEqual`` -> ``upstream_support.assert_equal``.

Not ported, and why:

* Worker processes (excluded by the issue): ``test_sequential_workers``,
  ``test_seqential_batch_workers``, ``test_seqential_batch_workers_prefetch``,
  ``test_shuffle_workers``, ``test_shuffle_batch_workers``,
  ``test_shuffle_batch_workers_prefetch``, ``test_error_workers``, ``test_partial_workers``,
  ``test_multiple_dataloaders``, ``test_multiprocessing_contexts``,
  ``test_multiprocessing_iterdatapipe`` (and ``_with_dill``), ``test_worker_seed``,
  ``test_worker_seed_reproducibility``, ``test_multi_epochs_reproducibility``,
  ``test_worker_init_fn``, ``test_get_worker_info``, ``test_excessive_thread_creation_warning``,
  ``test_default_collate_shared_tensor`` (shared memory for workers, via a private hack),
  ``test_numpy_gen_state`` (private worker seeding), the whole of
  ``TestDataLoaderPersistentWorkers``, ``TestIndividualWorkerQueue``, ``TestSetAffinity``,
  ``TestConvAfterFork``, ``TestDataLoaderDeviceType`` (nested tensors in workers),
  ``IntegrationTestDataLoaderDataPipe`` (datapipes in workers).
* Subprocess/signal/timeout: ``test_fd_limit_exceeded``, ``test_segfault``,
  ``test_no_segfault``, ``test_timeout``, ``test_large_sampler_indices``,
  ``test_proper_exit``.
* CUDA / pin_memory only: ``test_sequential_pin_memory``, ``test_shuffle_pin_memory``,
  ``TestStringDataLoader``, ``TestDictDataLoader.test_pin_memory*``, ``TestCustomPinFn``.
"""

import collections
import math
import tempfile
from collections import Counter
from typing import List

import numpy as np
import pytest

from upstream_support import assert_equal, assert_not_equal


# --- datasets used by several tests (built per module under test) -------------------------


def counting_dataset(torch, n):
    class CountingDataset(torch.utils.data.Dataset):
        def __getitem__(self, i):
            return i

        def __len__(self):
            return n

    return CountingDataset()


def counting_iterable_dataset(torch, n):
    class CountingIterableDataset(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(n))

        def __len__(self):
            return n

    return CountingIterableDataset()


def error_dataset(torch, size):
    # no __getitem__: the Dataset base class raises NotImplementedError
    class ErrorDataset(torch.utils.data.Dataset):
        def __len__(self):
            return size

    return ErrorDataset()


class CustomList(list):
    pass


class CustomDict(dict):
    pass


def setup(torch):
    """TestDataLoader.setUp: 100 samples of (2, 3, 5) and labels 0..49 twice."""
    data = torch.randn(100, 2, 3, 5)
    labels = torch.randperm(50).repeat(2)
    dataset = torch.utils.data.TensorDataset(data, labels)
    return data, labels, dataset


def check_sequential(loader, data, labels, dataset):
    bs = loader.batch_size
    if bs is None:
        for idx, (sample, target) in enumerate(loader):
            assert_equal(sample, data[idx])
            assert_equal(target, labels[idx])
        assert idx == len(dataset) - 1
    else:
        for i, (sample, target) in enumerate(loader):
            start = i * bs
            assert_equal(sample, data[start : start + bs])
            assert_equal(target, labels[start : start + bs])
        assert i == math.floor((len(dataset) - 1) / bs)


def check_shuffle(loader, data, labels, dataset):
    """Each sample appears exactly once, with its own label, whatever the order."""
    seen_data = dict.fromkeys(range(data.size(0)), 0)
    seen_labels = dict.fromkeys(range(labels.size(0)), 0)

    def find(sample, target):
        for k, point in enumerate(data):
            if point.eq(sample).all():
                assert not seen_data[k]
                seen_data[k] += 1
                break
        assert_equal(target, labels[k])
        seen_labels[k] += 1

    bs = loader.batch_size
    if bs is None:
        for i, (sample, target) in enumerate(loader):
            find(sample, target)
            assert sum(seen_data.values()) == i + 1
            assert sum(seen_labels.values()) == i + 1
        assert i == len(dataset) - 1
    else:
        for i, (samples, targets) in enumerate(loader):
            for sample, target in zip(samples, targets):
                find(sample, target)
            assert sum(seen_data.values()) == (i + 1) * bs
            assert sum(seen_labels.values()) == (i + 1) * bs
        assert i == math.floor((len(dataset) - 1) / bs)


def check_error(loader):
    """Every batch raises NotImplementedError and the iterator carries on to the end."""
    it = iter(loader)
    errors = 0
    while True:
        try:
            next(it)
        except NotImplementedError:
            errors += 1
        except StopIteration:
            assert errors == math.ceil(float(len(loader.dataset)) / loader.batch_size)
            return


# --- TestDatasetRandomSplit ------------------------------------------------------------------


class TestDatasetRandomSplit:
    # upstream: TestDatasetRandomSplit.test_lengths_must_equal_dataset_size
    def test_lengths_must_equal_dataset_size(self, torch):
        with pytest.raises(ValueError):
            torch.utils.data.random_split([1, 2, 3, 4], [1, 2])

    # upstream: TestDatasetRandomSplit.test_splits_have_correct_size
    def test_splits_have_correct_size(self, torch):
        random_split = torch.utils.data.random_split
        splits = random_split([1, 2, 3, 4, 5, 6], [2, 4])
        assert len(splits) == 2
        assert len(splits[0]) == 2
        assert len(splits[1]) == 4

        splits = random_split([1, 2, 3, 4, 5, 6], [0.5, 0.5])
        assert len(splits) == 2
        assert len(splits[0]) == 3
        assert len(splits[1]) == 3

        # an odd length split in halves
        assert len(random_split(range(3), [0.5, 0.5], generator=torch.Generator().manual_seed(1))) == 2

        # the remainder of fractional splits is dealt round-robin
        splits = random_split(range(106), [0.1, 0.2, 0.3, 0.4], generator=torch.Generator().manual_seed(1))
        assert [len(s) for s in splits] == [11, 22, 31, 42]

    # upstream: TestDatasetRandomSplit.test_splits_are_mutually_exclusive
    def test_splits_are_mutually_exclusive(self, torch):
        random_split = torch.utils.data.random_split
        for data, lengths in (
            ([5, 2, 3, 4, 1, 6], [2, 4]),
            ([5, 2, 3, 4, 1, 6], [0.33, 0.67]),
            ([1, 2, 3, 4], [0.25, 0.75]),
        ):
            splits = random_split(data, lengths)
            values = list(splits[0]) + list(splits[1])
            assert sorted(values) == sorted(data)

    # upstream: TestDatasetRandomSplit.test_splits_indexing_type
    def test_splits_indexing_type(self, torch):
        class CustomDataset:
            def __init__(self, items):
                self.items = items

            def __getitem__(self, key):
                assert type(key) is int  # random_split must hand out Python ints
                return self.items[key]

            def __len__(self):
                return len(self.items)

        x = [1, 2, 3, 4, 5]
        for lengths in ([5], [1.0]):
            subset = torch.utils.data.random_split(CustomDataset(x), lengths)[0]
            for _batch in torch.utils.data.DataLoader(subset):
                pass

    # upstream: TestDatasetRandomSplit.test_splits_reproducibility
    def test_splits_reproducibility(self, torch):
        random_split = torch.utils.data.random_split

        def seeded(seed):
            return torch.Generator().manual_seed(seed)

        got = [list(s) for s in random_split(range(10), [3, 7], generator=seeded(1))]
        assert got == [[5, 6, 1], [2, 0, 8, 9, 3, 7, 4]]
        for lengths in ([60, 40], [0.5, 0.5], [0.33, 0.33, 0.34]):
            a = random_split(range(100), lengths, generator=seeded(42))
            b = random_split(range(100), lengths, generator=seeded(42))
            assert [list(s) for s in a] == [list(s) for s in b]

    # upstream: TestDatasetRandomSplit.test_incomplete_fractional_splits
    def test_incomplete_fractional_splits(self, torch):
        with pytest.raises(ValueError):
            torch.utils.data.random_split([1, 2, 3, 4], [0.1])  # fractions do not sum to 1
        with pytest.raises(ValueError):
            torch.utils.data.random_split([1, 2, 3, 4], [1.1])  # a fraction above 1

    # upstream: TestDatasetRandomSplit.test_splits_generator
    def test_splits_generator(self, torch):
        random_split = torch.utils.data.random_split
        # without a generator, random_split draws from the default one
        state = torch.get_rng_state()
        a = torch.rand(10)
        torch.set_rng_state(state)
        random_split(range(10), [5, 5])
        b = torch.rand(10)
        assert_not_equal(a, b)

        # with its own generator it leaves the default one alone
        state = torch.get_rng_state()
        a = torch.rand(10)
        torch.set_rng_state(state)
        random_split(range(10), [5, 5], generator=torch.Generator().manual_seed(42))
        b = torch.rand(10)
        assert_equal(a, b)

    # upstream: TestDatasetRandomSplit.test_slicing_of_subset_of_dataset
    def test_slicing_of_subset_of_dataset(self, torch):
        data = torch.utils.data
        dataset = data.TensorDataset(torch.tensor([1, 2, 3, 4, 5]))
        subset = data.Subset(dataset, [0, 1, 2, 3, 4])
        assert_equal(subset[:], dataset[:])
        assert_equal(subset[1:2], dataset[1:2])
        assert_equal(subset[0:-1:2], dataset[0:-1:2])
        # subsets from random_split slice through their indices
        subset1, _subset2 = data.random_split(dataset, [3, 2])
        assert_equal(subset1[:], dataset[subset1.indices[:]])
        assert_equal(subset1[0:2], dataset[subset1.indices[0:2]])
        assert_equal(subset1[0:-1:2], dataset[subset1.indices[0:-1:2]])

    # upstream: TestDatasetRandomSplit.test_slicing_of_subset_of_subset
    def test_slicing_of_subset_of_subset(self, torch):
        data = torch.utils.data
        dataset = data.TensorDataset(torch.tensor([1, 2, 3, 4, 5]))
        subset = data.Subset(dataset, [0, 1, 2, 3, 4])
        subset_of_subset = data.Subset(subset, [0, 1, 2, 3, 4])
        assert_equal(subset_of_subset[:], dataset[:])
        assert_equal(subset_of_subset[0:2], dataset[0:2])
        assert_equal(subset_of_subset[0:-1:2], dataset[0:-1:2])
        # nested random splits compose their indices
        subset1, _ = data.random_split(dataset, [4, 1])
        sub_sub1, _ = data.random_split(subset1, [3, 1])
        idx = [subset1.indices[i] for i in sub_sub1.indices]
        assert_equal(sub_sub1[:], dataset[idx.copy()])
        assert_equal(sub_sub1[0:2], dataset[idx[0:2]])
        assert_equal(sub_sub1[0:-1:2], dataset[idx[0:-1:2]])


# --- TestTensorDataset -----------------------------------------------------------------------


class TestTensorDataset:
    # upstream: TestTensorDataset.test_len
    def test_len(self, torch):
        source = torch.utils.data.TensorDataset(torch.randn(15, 10, 2, 3, 4, 5), torch.randperm(15))
        assert len(source) == 15

    # upstream: TestTensorDataset.test_getitem
    def test_getitem(self, torch):
        t = torch.randn(15, 10, 2, 3, 4, 5)
        l = torch.randn(15, 10)  # noqa: E741 (upstream's name)
        source = torch.utils.data.TensorDataset(t, l)
        for i in range(15):
            assert_equal(t[i], source[i][0])
            assert_equal(l[i], source[i][1])

    # upstream: TestTensorDataset.test_getitem_1d
    def test_getitem_1d(self, torch):
        t = torch.randn(15)
        l = torch.randn(15)  # noqa: E741
        source = torch.utils.data.TensorDataset(t, l)
        for i in range(15):
            assert_equal(t[i], source[i][0])
            assert_equal(l[i], source[i][1])

    # upstream: TestTensorDataset.test_single_tensor
    def test_single_tensor(self, torch):
        t = torch.randn(5, 10)
        source = torch.utils.data.TensorDataset(t)
        assert len(source) == 5
        for i in range(5):
            assert_equal(t[i], source[i][0])

    # upstream: TestTensorDataset.test_many_tensors
    def test_many_tensors(self, torch):
        ts = [torch.randn(5, 10, 2, 3, 4, 5), torch.randn(5, 10), torch.randn(5, 10, 2, 5), torch.randn(5, 10, 3, 7)]
        source = torch.utils.data.TensorDataset(*ts)
        assert len(source) == 5
        for i in range(5):
            for k, t in enumerate(ts):
                assert_equal(t[i], source[i][k])


# --- TestStackDataset ------------------------------------------------------------------------


def tensor_ds(torch, *shape):
    return torch.utils.data.TensorDataset(torch.randn(*shape))


def getitems_dataset(torch, drop_last_item=False):
    class GetItemsDataset(torch.utils.data.Dataset):
        def __init__(self):
            self.data = torch.randn(4)

        def __getitem__(self, item):
            return self.data[item]

        def __getitems__(self, items):
            out = self.data[items]
            return out[:-1] if drop_last_item else out

        def __len__(self):
            return 4

    return GetItemsDataset()


class TestStackDataset:
    # upstream: TestStackDataset.test_empty
    def test_empty(self, torch):
        with pytest.raises(ValueError, match="At least one dataset should be passed"):
            torch.utils.data.StackDataset()

    # upstream: TestStackDataset.test_mixed
    def test_mixed(self, torch):
        with pytest.raises(ValueError, match="Supported either"):
            torch.utils.data.StackDataset(tensor_ds(torch, 15, 10), a=tensor_ds(torch, 10, 15))

    # upstream: TestStackDataset.test_size_mismatch
    def test_size_mismatch(self, torch):
        StackDataset = torch.utils.data.StackDataset
        with pytest.raises(ValueError, match="Size mismatch between datasets"):
            StackDataset(tensor_ds(torch, 15, 10), tensor_ds(torch, 10, 15))
        with pytest.raises(ValueError, match="Size mismatch between datasets"):
            StackDataset(a=tensor_ds(torch, 15, 10), b=tensor_ds(torch, 10, 15))

    # upstream: TestStackDataset.test_len
    def test_len(self, torch):
        StackDataset = torch.utils.data.StackDataset
        assert len(StackDataset(tensor_ds(torch, 15, 10), tensor_ds(torch, 15))) == 15
        assert len(StackDataset(tensor_ds(torch, 15, 10))) == 15
        assert len(StackDataset(a=tensor_ds(torch, 15, 10), b=tensor_ds(torch, 15))) == 15
        assert len(StackDataset(a=tensor_ds(torch, 15, 10))) == 15

    # upstream: TestStackDataset.test_single
    def test_single(self, torch):
        StackDataset = torch.utils.data.StackDataset
        t = tensor_ds(torch, 15, 10)
        source = StackDataset(t)
        for i in range(15):
            assert_equal(t[i], source[i][0])
        source = StackDataset(a=t)
        for i in range(15):
            assert_equal(t[i], source[i]["a"])

    # upstream: TestStackDataset.test_getitem
    def test_getitem(self, torch):
        StackDataset = torch.utils.data.StackDataset
        t = tensor_ds(torch, 15, 10)
        l = tensor_ds(torch, 15, 5, 4)  # noqa: E741
        source = StackDataset(t, l)
        for i in range(15):
            assert_equal(t[i], source[i][0])
            assert_equal(l[i], source[i][1])
        source = StackDataset(a=t, b=l)
        for i in range(15):
            assert_equal(t[i], source[i]["a"])
            assert_equal(l[i], source[i]["b"])

    # upstream: TestStackDataset.test_getitems
    def test_getitems(self, torch):
        t = getitems_dataset(torch)
        l = [1, 2, 3, 4]  # noqa: E741
        batch = torch.utils.data.StackDataset(t, l).__getitems__([0, 1, 2, 3])
        for i in range(4):
            assert_equal(t[i], batch[i][0])
            assert_equal(l[i], batch[i][1])
        batch = torch.utils.data.StackDataset(t=t, l=l).__getitems__([0, 1, 2, 3])
        for i in range(4):
            assert_equal(t[i], batch[i]["t"])
            assert_equal(l[i], batch[i]["l"])

    # upstream: TestStackDataset.test_getitems_raises_index_error
    def test_getitems_raises_index_error(self, torch):
        source = torch.utils.data.StackDataset(getitems_dataset(torch), [1, 2, 3, 4])
        with pytest.raises(IndexError):
            source.__getitems__([0, 4])

    # upstream: TestStackDataset.test_getitems_value_error
    def test_getitems_value_error(self, torch):
        source = torch.utils.data.StackDataset(getitems_dataset(torch, drop_last_item=True), [1, 2, 3, 4])
        with pytest.raises(ValueError, match="Nested dataset's output size mismatch. Expected 4, got 3"):
            source.__getitems__([0, 1, 2, 3])


# --- TestConcatDataset -----------------------------------------------------------------------


class TestConcatDataset:
    # upstream: TestConcatDataset.test_concat_two_singletons
    def test_concat_two_singletons(self, torch):
        result = torch.utils.data.ConcatDataset([[0], [1]])
        assert len(result) == 2
        assert result[0] == 0
        assert result[1] == 1

    # upstream: TestConcatDataset.test_concat_two_non_singletons
    def test_concat_two_non_singletons(self, torch):
        result = torch.utils.data.ConcatDataset([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
        assert len(result) == 10
        assert result[0] == 0
        assert result[5] == 5

    # upstream: TestConcatDataset.test_concat_two_non_singletons_with_empty
    def test_concat_two_non_singletons_with_empty(self, torch):
        result = torch.utils.data.ConcatDataset([[0, 1, 2, 3, 4], [], [5, 6, 7, 8, 9]])
        assert len(result) == 10
        assert result[0] == 0
        assert result[5] == 5

    # upstream: TestConcatDataset.test_concat_raises_index_error
    def test_concat_raises_index_error(self, torch):
        result = torch.utils.data.ConcatDataset([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
        with pytest.raises(IndexError):
            result[11]

    # upstream: TestConcatDataset.test_add_dataset
    def test_add_dataset(self, torch):
        TensorDataset = torch.utils.data.TensorDataset
        d1, d2, d3 = (TensorDataset(torch.rand(7, 3, 28, 28), torch.rand(7)) for _ in range(3))
        result = d1 + d2 + d3
        assert len(result) == 21
        assert_equal(0, (d1[0][0] - result[0][0]).abs().sum())
        assert_equal(0, (d2[0][0] - result[7][0]).abs().sum())
        assert_equal(0, (d3[0][0] - result[14][0]).abs().sum())

    # upstream: TestConcatDataset.test_iterable_dataset_err
    def test_iterable_dataset_err(self, torch):
        ConcatDataset = torch.utils.data.ConcatDataset
        d1 = torch.utils.data.TensorDataset(torch.rand(7, 3, 28, 28), torch.rand(7))
        it1 = counting_iterable_dataset(torch, 5)
        it2 = counting_iterable_dataset(torch, 10)
        for parts in ([d1, it2, it1], [it2], [it1, d1]):
            with pytest.raises(AssertionError, match="does not support IterableDataset"):
                ConcatDataset(parts)


# --- TestDataLoader (single process) ---------------------------------------------------------


def _check_random_sampler_len(torch, replacement, expected_for_6):
    _, _, dataset = setup(torch)
    num_samples = len(dataset) + 5
    sampler = torch.utils.data.RandomSampler(dataset, replacement=replacement, num_samples=num_samples)
    assert len(sampler) == num_samples
    assert sum(1 for _ in sampler) == num_samples
    assert len(torch.utils.data.DataLoader(dataset, batch_size=1, sampler=sampler)) == num_samples
    assert len(torch.utils.data.DataLoader(dataset, batch_size=6, sampler=sampler)) == expected_for_6(num_samples)


class TestDataLoader:
    # upstream: TestDataLoader.test_error_in_init
    def test_error_in_init(self, torch):
        class ErrorIterableDataset(torch.utils.data.IterableDataset):
            def __iter__(self):
                raise RuntimeError("Error in __iter__")

        loader = torch.utils.data.DataLoader(ErrorIterableDataset(), num_workers=0)
        with pytest.raises(RuntimeError, match="Error in __iter__"):
            list(iter(loader))

    # upstream: TestDataLoader.test_typing
    def test_typing(self, torch):
        # subscripting Dataset and DataLoader for type hints must not raise TypeError
        class SomeDatasetClass(torch.utils.data.Dataset[List[torch.Tensor]]):
            pass

        def _create_dataloader(is_train: bool) -> torch.utils.data.DataLoader[List[torch.Tensor]]:
            pass

    # upstream: TestDataLoader.test_invalid_assign_after_init
    def test_invalid_assign_after_init(self, torch):
        _, _, dataset = setup(torch)
        dl = torch.utils.data.DataLoader(dataset)
        for attr in ("batch_size", "sampler", "batch_sampler", "drop_last", "dataset"):
            with pytest.raises(ValueError):
                setattr(dl, attr, {})

    # upstream: TestDataLoader.test_sequential_nonbatch
    def test_sequential_nonbatch(self, torch):
        data, labels, dataset = setup(torch)
        check_sequential(torch.utils.data.DataLoader(dataset, batch_size=None), data, labels, dataset)

    # upstream: TestDataLoader.test_sequential_batch
    def test_sequential_batch(self, torch):
        data, labels, dataset = setup(torch)
        check_sequential(torch.utils.data.DataLoader(dataset), data, labels, dataset)
        check_sequential(torch.utils.data.DataLoader(dataset, batch_size=2), data, labels, dataset)

    # upstream: TestDataLoader.test_bulk_loading_nobatch
    def test_bulk_loading_nobatch(self, torch):
        n, bs = 35, 4

        class BulkLoadingDataset(torch.utils.data.Dataset):
            def __getitem__(self, indices):
                assert isinstance(indices, (list, tuple))
                return torch.as_tensor(indices)

            def __len__(self):
                return n

        class BulkLoadingSampler(torch.utils.data.Sampler):
            def __init__(self, dataset, batch_size):
                self.dataset = dataset
                self.batch_size = batch_size

            def __iter__(self):
                for x in torch.randperm(len(self.dataset)).split(self.batch_size):
                    yield x.tolist()

            def __len__(self):
                return int(math.ceil(len(self.dataset) / float(self.batch_size)))

        ds = BulkLoadingDataset()
        sampler = BulkLoadingSampler(ds, batch_size=bs)
        dl = torch.utils.data.DataLoader(ds, num_workers=0, batch_size=None, sampler=sampler, pin_memory=False)
        samples = list(dl)
        assert samples[0].is_pinned() == False  # noqa: E712 (assertEqual)
        assert set(torch.cat(samples, 0).tolist()) == set(range(n))

    # upstream: TestDataLoader.test_growing_dataset
    def test_growing_dataset(self, torch):
        dataset = [torch.ones(4) for _ in range(4)]
        seq = torch.utils.data.DataLoader(dataset, shuffle=False)
        shuffled = torch.utils.data.DataLoader(dataset, shuffle=True)
        dataset.append(torch.ones(4))
        assert len(seq) == 5
        assert len(shuffled) == 5

    # upstream: TestDataLoader.test_invalid_ctor_args_combinations
    def test_invalid_ctor_args_combinations(self, torch):
        DataLoader = torch.utils.data.DataLoader
        _, _, dataset = setup(torch)
        # general
        with pytest.raises(ValueError, match="num_workers option should be non-negative"):
            DataLoader(dataset, num_workers=-1)
        with pytest.raises(ValueError, match="timeout option should be non-negative"):
            DataLoader(dataset, timeout=-1)
        # batch_size=None turns auto-batching off
        with pytest.raises(ValueError, match="batch_size=None option disables auto-batching and is mutually exclusive"):
            DataLoader(dataset, batch_size=None, drop_last=True)

        # map-style
        sampler = torch.utils.data.SequentialSampler(dataset)
        batch_sampler = torch.utils.data.BatchSampler(sampler, 3, False)
        for kwargs in (
            dict(batch_size=11, sampler=sampler, shuffle=True),
            dict(batch_sampler=batch_sampler, sampler=sampler, shuffle=True),
            dict(batch_sampler=batch_sampler, sampler=sampler, shuffle=3),
        ):
            with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
                DataLoader(dataset, **kwargs)
        for kwargs in (
            dict(batch_size=11, batch_sampler=batch_sampler),
            dict(shuffle=True, batch_sampler=batch_sampler),
            dict(drop_last=True, batch_sampler=batch_sampler),
            dict(drop_last=3, batch_sampler=batch_sampler),
        ):
            with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive with"):
                DataLoader(dataset, **kwargs)

        # iterable-style
        it_ds = counting_iterable_dataset(torch, 20)
        for kwargs, what in (
            (dict(shuffle=True), "shuffle"),
            (dict(shuffle=3), "shuffle"),
            (dict(sampler=torch.utils.data.SequentialSampler(it_ds)), "sampler"),
            (dict(sampler=3), "sampler"),
            (
                dict(batch_sampler=torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(it_ds), 3, False)),
                "batch_sampler",
            ),
            (dict(batch_sampler=3), "batch_sampler"),
        ):
            with pytest.raises(ValueError, match=f"DataLoader with IterableDataset: expected unspecified {what}"):
                DataLoader(it_ds, **kwargs)

    # upstream: TestDataLoader.test_builtin_collection_conversion
    def test_builtin_collection_conversion(self, torch):
        DataLoader = torch.utils.data.DataLoader
        for coll_ty in (list, tuple):
            for make in (counting_dataset, counting_iterable_dataset):  # map-style, iterable-style
                # no auto-batching: the ints come through as they are
                fetched = coll_ty(DataLoader(make(torch, 20), batch_size=None, num_workers=0))
                assert fetched == coll_ty(range(20))
                # auto-batching: pairs collated into int64 tensors
                fetched = coll_ty(DataLoader(make(torch, 20), batch_size=2, num_workers=0))
                assert_equal(fetched, coll_ty(torch.tensor([i, i + 1]) for i in range(0, 20, 2)))

    # upstream: TestDataLoader.test_iterable_style_dataset
    def test_iterable_style_dataset(self, torch):
        DataLoader = torch.utils.data.DataLoader
        # [no auto-batching] single process
        dataset = counting_iterable_dataset(torch, 20)
        dataloader = DataLoader(dataset, batch_size=None)
        fetched = list(dataloader)
        assert len(fetched) == 20
        for i, d in enumerate(fetched):
            assert isinstance(d, int)  # without batching, ints stay ints
            assert d == i
        assert len(dataloader) == len(dataset)

        # [auto-batching] single process
        fetched = list(DataLoader(counting_iterable_dataset(torch, 20), batch_size=7))
        assert len(fetched) == 3
        assert fetched[0].tolist() == list(range(7))
        assert fetched[1].tolist() == list(range(7, 14))
        assert fetched[2].tolist() == list(range(14, 20))

        # [auto-batching & drop_last] single process
        fetched = list(DataLoader(counting_iterable_dataset(torch, 20), batch_size=7, drop_last=True))
        assert len(fetched) == 2
        assert fetched[0].tolist() == list(range(7))
        assert fetched[1].tolist() == list(range(7, 14))

    # upstream: TestDataLoader.test_chain_iterable_style_dataset
    def test_chain_iterable_style_dataset(self, torch):
        data = torch.utils.data
        dataset1 = counting_iterable_dataset(torch, 20)
        dataset2 = counting_iterable_dataset(torch, 15)
        expected = list(range(20)) + list(range(15))
        for chained in (dataset1 + dataset2, data.ChainDataset([dataset1, dataset2])):
            fetched = list(data.DataLoader(chained, num_workers=0))
            assert len(fetched) == len(expected)
            for e, d in zip(expected, fetched):
                assert isinstance(d, torch.Tensor)
                assert_equal(e, d)

        _, _, map_ds = setup(torch)
        with pytest.raises(AssertionError, match="ChainDataset only supports IterableDataset"):
            list(iter(dataset1 + map_ds))
        with pytest.raises(AssertionError, match="ChainDataset only supports IterableDataset"):
            list(iter(data.ChainDataset([dataset1, map_ds])))

    # upstream: TestDataLoader.test_shuffle
    def test_shuffle(self, torch):
        data, labels, dataset = setup(torch)
        check_shuffle(torch.utils.data.DataLoader(dataset, shuffle=True), data, labels, dataset)

    # upstream: TestDataLoader.test_shuffle_batch_none
    def test_shuffle_batch_none(self, torch):
        data, labels, dataset = setup(torch)
        check_shuffle(torch.utils.data.DataLoader(dataset, batch_size=None, shuffle=True), data, labels, dataset)

    # upstream: TestDataLoader.test_shuffle_batch
    def test_shuffle_batch(self, torch):
        data, labels, dataset = setup(torch)
        check_shuffle(torch.utils.data.DataLoader(dataset, batch_size=2, shuffle=True), data, labels, dataset)

    # upstream: TestDataLoader.test_shuffle_reproducibility
    def test_shuffle_reproducibility(self, torch):
        _, _, dataset = setup(torch)

        def make():
            return torch.utils.data.DataLoader(
                dataset, shuffle=True, num_workers=0, generator=torch.Generator().manual_seed(42)
            )

        assert_equal(list(make()), list(make()))

    # upstream: TestDataLoader.test_random_sampler
    def test_random_sampler(self, torch):
        RandomSampler = torch.utils.data.RandomSampler
        _, _, dataset = setup(torch)
        n_ds = len(dataset)

        def stats(sampler):
            counts = Counter(sampler)
            repeated = sum(v > 1 for v in counts.values())
            return repeated, min(counts), max(counts), sum(counts.values())

        # with replacement, one more draw than samples: something repeats
        n = n_ds + 1
        repeated, lo, hi, total = stats(RandomSampler(dataset, replacement=True, num_samples=n))
        assert repeated > 0 and lo >= 0 and hi < n_ds and total == n

        # without replacement, default length: a permutation
        repeated, lo, hi, total = stats(RandomSampler(dataset))
        assert repeated == 0 and lo == 0 and hi == n_ds - 1 and total == n_ds

        # without replacement, twice the length: two permutations
        n = n_ds * 2
        repeated, lo, hi, total = stats(RandomSampler(dataset, num_samples=n))
        assert repeated == n_ds and lo == 0 and hi == n_ds - 1 and total == n

        # without replacement, one short
        n = n_ds - 1
        repeated, lo, hi, total = stats(RandomSampler(dataset, num_samples=n))
        assert repeated == 0 and lo >= 0 and hi < n_ds and total == n

        # without replacement, one over
        n = n_ds + 1
        repeated, lo, hi, total = stats(RandomSampler(dataset, num_samples=n))
        assert repeated == 1 and lo == 0 and hi == n_ds - 1 and total == n

        with pytest.raises(TypeError, match="replacement should be a boolean value, but got replacement=0"):
            RandomSampler(dataset, replacement=0)

    # upstream: TestDataLoader.test_random_sampler_len_with_replacement
    def test_random_sampler_len_with_replacement(self, torch):
        _check_random_sampler_len(torch, True, lambda n: int(math.ceil(float(n) / 6)))

    # upstream: TestDataLoader.test_random_sampler_len_without_replacement
    def test_random_sampler_len_without_replacement(self, torch):
        _check_random_sampler_len(torch, False, lambda n: n // 6 + (n % 6 > 0))

    # upstream: TestDataLoader.test_distributed_sampler_invalid_rank
    def test_distributed_sampler_invalid_rank(self, torch):
        DistributedSampler = torch.utils.data.distributed.DistributedSampler
        dataset = torch.IntTensor(range(10))
        with pytest.raises(ValueError, match="Invalid rank"):
            DistributedSampler(dataset, 3, 3)
        with pytest.raises(ValueError, match="Invalid rank"):
            DistributedSampler(dataset, 3, -1)

    # upstream: TestDataLoader.test_duplicating_data_with_drop_last
    def test_duplicating_data_with_drop_last(self, torch):
        DistributedSampler = torch.utils.data.distributed.DistributedSampler
        num_processes, num_batches = 4, 9
        data_set = torch.IntTensor(range(num_batches))
        scanned = torch.IntTensor([])
        for rank in range(num_processes):
            s = DistributedSampler(data_set, num_processes, rank)
            loader = torch.utils.data.DataLoader(
                data_set, batch_size=int(num_batches / num_processes), drop_last=True, sampler=s
            )
            for batch in loader:
                scanned = torch.cat((scanned, batch), 0)
        assert scanned.size() == scanned.unique().size()

    # upstream: TestDataLoader.test_sampler_reproducibility
    def test_sampler_reproducibility(self, torch):
        data = torch.utils.data
        _, _, dataset = setup(torch)
        weights = [0.1, 0.9, 0.4, 0.7, 3.0, 0.6]

        def gen():
            return torch.Generator().manual_seed(42)

        for make in (
            lambda: data.RandomSampler(dataset, num_samples=5, replacement=True, generator=gen()),
            lambda: data.RandomSampler(dataset, replacement=False, generator=gen()),
            lambda: data.WeightedRandomSampler(weights, num_samples=5, replacement=True, generator=gen()),
            lambda: data.WeightedRandomSampler(weights, num_samples=5, replacement=False, generator=gen()),
            lambda: data.SubsetRandomSampler(range(10), generator=gen()),
        ):
            assert_equal(list(make()), list(make()))

        for sampler in (
            data.RandomSampler(dataset, num_samples=5, replacement=True),
            data.RandomSampler(dataset, replacement=False),
            data.WeightedRandomSampler(weights, num_samples=5, replacement=True),
            data.WeightedRandomSampler(weights, num_samples=5, replacement=False),
            data.SubsetRandomSampler(range(10)),
        ):
            # the global seed drives samplers built without a generator
            torch.manual_seed(0)
            l1 = list(sampler) + list(sampler)
            torch.manual_seed(0)
            l2 = list(sampler) + list(sampler)
            assert_equal(l1, l2)

            # two iterators started under the same seed walk the same sequence
            its = (iter(sampler), iter(sampler))
            ls = ([], [])
            for idx in range(len(sampler)):
                for i in range(2):
                    if idx == 0:
                        torch.manual_seed(0)
                    ls[i].append(next(its[i]))
            assert_equal(ls[0], ls[1])

    # upstream: TestDataLoader.test_sampler
    def test_sampler(self, torch):
        data, _, dataset = setup(torch)
        dl = torch.utils.data.DataLoader(dataset, sampler=range(2, 12), batch_size=2)  # a plain iterable
        assert len(dl) == 5
        for i, (inp, _target) in enumerate(dl):
            assert len(inp) == 2
            assert_equal(inp, data[i * 2 + 2 : i * 2 + 4])

    # upstream: TestDataLoader.test_batch_sampler
    def test_batch_sampler(self, torch):
        data, _, dataset = setup(torch)
        # [(0, 1), (2, 3, 4), (5, 6), (7, 8, 9), ...] as a plain list
        batches = []
        for i in range(0, 20, 5):
            batches.append(tuple(range(i, i + 2)))
            batches.append(tuple(range(i + 2, i + 5)))
        dl = torch.utils.data.DataLoader(dataset, batch_sampler=batches)
        assert len(dl) == 8
        for i, (inp, _target) in enumerate(dl):
            offset = i * 5 // 2
            size = 2 if i % 2 == 0 else 3
            assert len(inp) == size
            assert_equal(inp, data[offset : offset + size])

    # upstream: TestDataLoader.test_numpy
    def test_numpy(self, torch):
        class TestDataset(torch.utils.data.Dataset):
            def __getitem__(self, i):
                return np.ones((2, 3, 4)) * i

            def __len__(self):
                return 1000

        batch = next(iter(torch.utils.data.DataLoader(TestDataset(), batch_size=12)))
        assert isinstance(batch, torch.DoubleTensor)
        assert batch.size() == torch.Size([12, 2, 3, 4])

    # upstream: TestDataLoader.test_error
    def test_error(self, torch):
        check_error(torch.utils.data.DataLoader(error_dataset(torch, 100), batch_size=2, shuffle=True))

    # upstream: TestDataLoader.test_len
    def test_len(self, torch):
        _, _, dataset = setup(torch)

        def check_len(dl, expected):
            assert len(dl) == expected
            assert sum(1 for _ in dl) == expected

        check_len(dataset, 100)
        check_len(torch.utils.data.DataLoader(dataset, batch_size=2), 50)
        check_len(torch.utils.data.DataLoader(dataset, batch_size=3), 34)

    # upstream: TestDataLoader.test_iterabledataset_len
    def test_iterabledataset_len(self, torch):
        class IterableDataset(torch.utils.data.IterableDataset):
            def __len__(self):
                return 10

            def __iter__(self):
                return iter(range(10))

        DataLoader = torch.utils.data.DataLoader
        for batch_size, drop_last, expected in (
            (1, False, 10), (1, True, 10), (2, False, 5), (2, True, 5), (3, False, 4), (3, True, 3),
        ):
            assert len(DataLoader(IterableDataset(), batch_size=batch_size, drop_last=drop_last)) == expected

    # upstream: TestDataLoader.test_numpy_scalars
    def test_numpy_scalars(self, torch):
        class ScalarDataset(torch.utils.data.Dataset):
            def __init__(self, dtype):
                self.dtype = dtype

            def __getitem__(self, i):
                return self.dtype()

            def __len__(self):
                return 4

        expected = {
            np.float64: torch.DoubleTensor,
            np.float32: torch.FloatTensor,
            np.float16: torch.HalfTensor,
            np.int64: torch.LongTensor,
            np.int32: torch.IntTensor,
            np.int16: torch.ShortTensor,
            np.int8: torch.CharTensor,
            np.uint8: torch.ByteTensor,
        }
        for dt, tt in expected.items():
            batch = next(iter(torch.utils.data.DataLoader(ScalarDataset(dt), batch_size=2)))
            assert isinstance(batch, tt)

    # upstream: TestDataLoader.test_default_convert_mapping_keep_type
    def test_default_convert_mapping_keep_type(self, torch):
        data = CustomDict({"a": 1, "b": 2})
        converted = torch.utils.data.default_convert(data)
        assert converted == data

    # upstream: TestDataLoader.test_default_convert_sequence_keep_type
    def test_default_convert_sequence_keep_type(self, torch):
        data = CustomList([1, 2, 3])
        converted = torch.utils.data.default_convert(data)
        assert converted == data

    # upstream: TestDataLoader.test_default_convert_sequence_dont_keep_type
    def test_default_convert_sequence_dont_keep_type(self, torch):
        converted = torch.utils.data.default_convert(range(2))
        assert converted == [0, 1]

    # upstream: TestDataLoader.test_default_collate_dtype
    def test_default_collate_dtype(self, torch):
        default_collate = torch.utils.data.default_collate
        arr = [1, 2, -1]
        collated = default_collate(arr)
        assert_equal(collated, torch.tensor(arr))
        assert collated.dtype == torch.int64

        arr = [1.1, 2.3, -0.9]
        collated = default_collate(arr)
        assert_equal(collated, torch.tensor(arr, dtype=torch.float64))

        arr = [True, False]
        collated = default_collate(arr)
        assert_equal(collated, torch.tensor(arr))
        assert collated.dtype == torch.bool

        # strings pass through untouched
        arr = ["a", "b", "c"]
        assert arr == default_collate(arr)

    # upstream: TestDataLoader.test_default_collate_mapping_keep_type
    def test_default_collate_mapping_keep_type(self, torch):
        batch = [CustomDict({"a": 1, "b": 2}), CustomDict({"a": 3, "b": 4})]
        collated = torch.utils.data.default_collate(batch)
        expected = CustomDict({"a": torch.tensor([1, 3]), "b": torch.tensor([2, 4])})
        assert type(collated) is CustomDict
        assert_equal(collated, expected)

    # upstream: TestDataLoader.test_default_collate_sequence_keep_type
    def test_default_collate_sequence_keep_type(self, torch):
        batch = [CustomList([1, 2, 3]), CustomList([4, 5, 6])]
        collated = torch.utils.data.default_collate(batch)
        expected = CustomList([torch.tensor([1, 4]), torch.tensor([2, 5]), torch.tensor([3, 6])])
        assert type(collated) is CustomList
        assert_equal(collated, expected)

    # upstream: TestDataLoader.test_default_collate_sequence_dont_keep_type
    def test_default_collate_sequence_dont_keep_type(self, torch):
        collated = torch.utils.data.default_collate([range(2), range(2)])
        assert_equal(collated, [torch.tensor([0, 0]), torch.tensor([1, 1])])

    # upstream: TestDataLoader.test_default_collate_bad_numpy_types
    def test_default_collate_bad_numpy_types(self, torch):
        default_collate = torch.utils.data.default_collate
        # a 1-d string array passes through
        arr = np.array(["a", "b", "c"])
        np.testing.assert_array_equal(arr, default_collate(arr))
        for bad in (
            np.array([[["a", "b", "c"]]]),
            np.array([object(), object(), object()]),
            np.array([[[object(), object(), object()]]]),
        ):
            with pytest.raises(TypeError):
                default_collate(bad)

    # upstream: TestDataLoader.test_default_collate_numpy_memmap
    def test_default_collate_numpy_memmap(self, torch):
        with tempfile.TemporaryFile() as f:
            arr = np.array([[0, 1], [2, 3], [4, 5], [6, 7]])
            writer = np.memmap(f, dtype=arr.dtype, mode="w+", shape=arr.shape)
            writer[:] = arr[:]
            reader = np.memmap(f, dtype=arr.dtype, mode="r", shape=arr.shape)
            tensor = torch.utils.data.default_collate(list(reader))
        assert (tensor == tensor.new_tensor([[0, 1], [2, 3], [4, 5], [6, 7]])).all().item()

    # upstream: TestDataLoader.test_default_collate_bad_sequence_type
    def test_default_collate_bad_sequence_type(self, torch):
        batch = [["X"], ["X", "X"]]
        with pytest.raises(RuntimeError):
            torch.utils.data.default_collate(batch)
        with pytest.raises(RuntimeError):
            torch.utils.data.default_collate(batch[::-1])


# --- TestDictDataLoader ----------------------------------------------------------------------


class TestDictDataLoader:
    # upstream: TestDictDataLoader.test_sequential_batch
    def test_sequential_batch(self, torch):
        class DictDataset(torch.utils.data.Dataset):
            def __len__(self):
                return 4

            def __getitem__(self, ndx):
                return {"a_tensor": torch.empty(4, 2).fill_(ndx), "another_dict": {"a_number": ndx}}

        loader = torch.utils.data.DataLoader(DictDataset(), batch_size=2, shuffle=False, persistent_workers=False)
        bs = loader.batch_size
        for i, sample in enumerate(loader):
            idx = i * bs
            assert set(sample.keys()) == {"a_tensor", "another_dict"}
            assert set(sample["another_dict"].keys()) == {"a_number"}

            t = sample["a_tensor"]
            assert t.size() == torch.Size([bs, 4, 2])
            assert (t[0] == idx).all()
            assert (t[1] == idx + 1).all()

            n = sample["another_dict"]["a_number"]
            assert n.size() == torch.Size([bs])
            assert_equal(n[0], idx)
            assert_equal(n[1], idx + 1)


# --- TestNamedTupleDataLoader ----------------------------------------------------------------

Batch = collections.namedtuple("Batch", ["data", "label", "random_tensor"])
Data = collections.namedtuple("Data", ["positive", "negative"])


class TestNamedTupleDataLoader:
    # upstream: TestNamedTupleDataLoader.test_dataloader_with_namedtuple
    def test_dataloader_with_namedtuple(self, torch):
        class NamedTupleDataset(torch.utils.data.Dataset):
            def __len__(self):
                return 4

            def __getitem__(self, ndx):
                return Batch(data=Data(positive=ndx, negative=-ndx), label=str(ndx), random_tensor=torch.randn(3))

        dataset = NamedTupleDataset()
        # auto-collation keeps the namedtuple types and collates the ints into tensors
        for batch in torch.utils.data.DataLoader(dataset, batch_size=2, pin_memory=False):
            assert isinstance(batch, Batch)
            assert batch.random_tensor.is_pinned() == False  # noqa: E712
            assert isinstance(batch.data, Data)
            assert isinstance(batch.data.positive, torch.Tensor)
            assert batch.data.positive.is_pinned() == False  # noqa: E712
        # without auto-collation the ints stay ints
        for batch in torch.utils.data.DataLoader(dataset, batch_size=None, pin_memory=False):
            assert isinstance(batch, Batch)
            assert batch.random_tensor.is_pinned() == False  # noqa: E712
            assert isinstance(batch.data, Data)
            assert not isinstance(batch.data.positive, torch.Tensor)
