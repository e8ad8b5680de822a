"""The large-block cache of the extension's allocator: freed buffers of 4 MiB and more are
reused by the next allocation of the same size, never with stale contents, never for shared
NumPy memory, and can be bounded, inspected and released."""

import gc
import os
import subprocess
import sys

import numpy as np
import pytest

import candle_numpy as cn

MIB = 1 << 20
N = 2 * MIB  # float32 elements: an 8 MiB buffer, above the 4 MiB threshold


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts from an empty cache with a known limit, and restores the limit."""
    limit = cn.cache_info()["limit"]
    gc.collect()
    cn.empty_cache()
    cn.set_cache_limit(256 * MIB)
    yield
    gc.collect()
    cn.set_cache_limit(limit)


def test_cache_info_reports_its_fields():
    info = cn.cache_info()
    assert set(info) == {"limit", "cached_bytes", "blocks", "hits", "misses", "min_block"}
    assert info["limit"] == 256 * MIB
    assert (info["cached_bytes"], info["blocks"]) == (0, 0)
    assert info["min_block"] == 4 * MIB


def test_a_freed_copy_is_reused_with_the_new_contents():
    a = np.arange(N, dtype=np.float32)
    b = -np.arange(N, dtype=np.float32)
    t = cn.tensor(a)
    del t
    info = cn.cache_info()
    assert info["cached_bytes"] >= N * 4 and info["blocks"] >= 1
    hits = info["hits"]
    u = cn.tensor(b)
    assert cn.cache_info()["hits"] == hits + 1
    np.testing.assert_array_equal(u.numpy(), b)  # b's values, nothing of a's left
    assert not cn.shares_memory(b, u)


def test_a_reused_block_gives_exact_results_to_an_op_that_accumulates():
    # cdist's output (1448 x 1448 float32, 8 MiB) starts zeroed and is accumulated into: a
    # reused block that kept old values would show here
    rng = np.random.default_rng(0)
    x, y = rng.random((1448, 5), dtype=np.float32), rng.random((1448, 5), dtype=np.float32)
    d = cn.cdist(x, x, p=1.0)
    del d
    hits = cn.cache_info()["hits"]
    e = cn.cdist(y, y, p=1.0).numpy()
    assert cn.cache_info()["hits"] > hits
    want = np.abs(y.astype(np.float64)[:, None, :] - y[None, :, :]).sum(-1)
    np.testing.assert_allclose(e, want, rtol=1e-6, atol=1e-6)
    assert not np.diag(e).any()


def test_small_buffers_are_not_cached():
    t = cn.tensor(np.ones(MIB // 4, dtype=np.float32))  # 1 MiB
    del t
    assert cn.cache_info()["blocks"] == 0


def test_shared_numpy_memory_never_enters_the_cache():
    a = np.arange(N, dtype=np.float32)
    t = cn.from_numpy(a)
    del t
    gc.collect()
    assert cn.cache_info()["blocks"] == 0, "NumPy's buffer went back to its owner, not to us"
    np.testing.assert_array_equal(a[:3], [0, 1, 2])
    u = cn.tensor(np.zeros(N, dtype=np.float32))  # a miss: fresh memory, not a's
    assert not cn.shares_memory(a, u)
    np.testing.assert_array_equal(a[-2:], [N - 2, N - 1])


def test_a_different_size_releases_cached_blocks_first():
    t = cn.tensor(np.ones(N, dtype=np.float32))
    del t
    assert cn.cache_info()["blocks"] == 1
    u = cn.tensor(np.ones(N + 1024, dtype=np.float32))  # a miss: the cached block is freed first
    assert cn.cache_info()["blocks"] == 0
    del u
    assert cn.cache_info()["blocks"] == 1


def test_limit_and_empty_cache():
    ts = [cn.tensor(np.ones(N, dtype=np.float32)) for _ in range(3)]
    del ts
    assert cn.cache_info()["cached_bytes"] == 3 * N * 4
    cn.set_cache_limit(N * 4)  # lowering the limit releases the oldest now
    assert cn.cache_info()["blocks"] == 1
    assert cn.empty_cache() == N * 4
    assert cn.cache_info()["cached_bytes"] == 0
    cn.set_cache_limit(0)  # off
    t = cn.tensor(np.ones(N, dtype=np.float32))
    del t
    assert cn.cache_info()["blocks"] == 0


@pytest.mark.parametrize("bad", [-1, 2**64])
def test_set_cache_limit_refuses_what_is_not_a_byte_count(bad):
    with pytest.raises(ValueError, match="set_cache_limit: .* byte count"):
        cn.set_cache_limit(bad)


def _limit_in_subprocess(value):
    env = dict(os.environ)
    env.pop("CANDLE_NUMPY_CACHE_LIMIT", None)
    if value is not None:
        env["CANDLE_NUMPY_CACHE_LIMIT"] = value
    code = "import warnings, candle_numpy as cn; print(cn.cache_info()['limit'])"
    out = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return int(out.stdout), out.stderr


def test_the_environment_sets_the_limit_at_import():
    assert _limit_in_subprocess("512M")[0] == 512 * MIB
    assert _limit_in_subprocess("0")[0] == 0
    default, _ = _limit_in_subprocess(None)
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert default == min(1 << 30, ram // 16)
    limit, err = _limit_in_subprocess("lots")
    assert limit == default
    assert "RuntimeWarning" in err and "CANDLE_NUMPY_CACHE_LIMIT=\"lots\"" in err
