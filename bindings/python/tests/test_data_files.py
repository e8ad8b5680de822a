"""Datasets over `.npy` files read by rows: larger than memory, with bounded resident memory."""

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import candle_numpy as cn
from candle_numpy.tf.data import Dataset
from candle_numpy.torch.utils.data import DataLoader, TensorDataset


@pytest.fixture
def files(tmp_path):
    n = 1000
    x = np.arange(n * 6, dtype=np.float32).reshape(n, 6)
    y = np.arange(n, dtype=np.int64)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    return tmp_path / "x.npy", tmp_path / "y.npy", x, y


def test_tf_dataset_from_npy_structures(files):
    px, py, x, y = files
    ds = Dataset.from_npy(px)
    assert len(ds) == 1000
    first = next(iter(ds))
    np.testing.assert_array_equal(first.numpy(), x[0])
    ds = Dataset.from_npy((px, str(py))).shuffle(1000, seed=3).batch(128)
    seen = []
    for xb, yb in ds:
        np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])  # rows stay paired
        seen.append(yb.numpy())
    seen = np.concatenate(seen)
    assert sorted(seen) == list(range(1000)) and not np.array_equal(seen, np.arange(1000))
    ds = Dataset.from_npy({"x": px, "y": py}).batch(10).prefetch(cn.tf.data.AUTOTUNE)
    b = next(iter(ds))
    assert set(b) == {"x", "y"} and b["x"].shape == (10, 6)


def test_torch_dataset_from_npy(files):
    px, py, x, y = files
    td = TensorDataset.from_npy(px, py)
    assert len(td) == 1000
    xs, ys = td[-1]
    np.testing.assert_array_equal(xs.numpy(), x[-1])
    assert ys.numpy() == 999
    total = 0
    for xb, yb in DataLoader(td, batch_size=300, shuffle=True, seed=1):
        np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])
        total += len(yb)
    assert total == 1000


def test_from_npy_errors(files, tmp_path):
    px, _, _, _ = files
    np.save(tmp_path / "short.npy", np.zeros(7))
    with pytest.raises(cn.ShapeError, match="1000 samples"):
        Dataset.from_npy((px, tmp_path / "short.npy"))
    np.save(tmp_path / "f.npy", np.asfortranarray(np.zeros((3, 4))))
    with pytest.raises(cn.FileFormatError, match="Fortran order.*ascontiguousarray"):
        TensorDataset.from_npy(tmp_path / "f.npy")
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        Dataset.from_npy(tmp_path / "nope.npy")
    with pytest.raises(TypeError, match="paths"):
        Dataset.from_npy(3)


# A full shuffled epoch over a file much larger than the RSS budget, run in a fresh process so
# its peak resident memory (VmHWM) is the epoch's own.
EPOCH = textwrap.dedent(
    """
    import sys, numpy as np, candle_numpy as cn

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

    path, batch = sys.argv[1], int(sys.argv[2])
    before = status("VmRSS")
    ds = cn.tf.data.Dataset.from_npy(path).shuffle(1 << 40, seed=7).batch(batch).prefetch(cn.tf.data.AUTOTUNE)
    total = 0.0
    ids = 0
    first = None
    for b in ds:
        a = b.numpy()
        if first is None:
            first = a[:4, 0].copy()
        total += a.sum(dtype=np.float64)
        ids += int(a[:, 0].sum(dtype=np.int64))
    print(total, ids, status("VmHWM") - before, *first)
    """
)


def _allocate_or_skip(path, size):
    """Reserves `size` bytes of disk for `path` before it is mapped: a memory map over a sparse
    file that the disk cannot back dies of SIGBUS on the first write, taking the whole pytest
    process with it. Too little disk skips, naming the folder and what it lacks."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        free = shutil.disk_usage(os.path.dirname(path)).free
        pytest.skip(
            f"{os.path.dirname(path)} cannot hold {size >> 20} MiB ({free >> 20} MiB free, {e}); "
            "set CN_BIG_TMP to a folder with room"
        )
    finally:
        os.close(fd)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_shuffled_epoch_over_a_file_4x_the_rss_budget_keeps_rss_bounded(tmp_path):
    rows, cols = 1024 * 1024, 256  # 1 GiB of float32, 1 KiB rows
    budget = 256 << 20
    path = os.path.join(os.environ.get("CN_BIG_TMP", "/tmp"), f"cn_epoch_{os.getpid()}.npy")
    try:
        m = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, cols))
        _allocate_or_skip(path, os.path.getsize(path))  # before the first write through `m`
        expected = 0
        chunk = 1 << 16
        col = np.arange(cols, dtype=np.int64) % 8
        for s in range(0, rows, chunk):
            ids = np.arange(s, s + chunk, dtype=np.int64)
            # column 0 is the row id (exact in float32 below 2^24); the rest small integers, so
            # float64 sums are exact
            block = (ids[:, None] % 16) + col[None, :]
            block[:, 0] = ids
            m[s : s + chunk] = block
            expected += int(block.sum())
        m.flush()
        del m
        assert os.path.getsize(path) >= 4 * budget
        out = subprocess.run(
            [sys.executable, "-c", EPOCH, path, "1024"], capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, out.stderr
        total, id_sum, growth, *first = out.stdout.split()
        assert float(total) == expected
        assert int(id_sum) == rows * (rows - 1) // 2  # every row exactly once
        assert [float(v) for v in first] != [0.0, 1.0, 2.0, 3.0]  # shuffled
        print(f"peak RSS growth over the epoch: {int(growth) >> 20} MiB")
        assert int(growth) < budget, f"peak RSS grew by {int(growth) >> 20} MiB"
    finally:
        if os.path.exists(path):
            os.remove(path)
