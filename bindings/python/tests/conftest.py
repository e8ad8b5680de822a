import gc

import numpy as np
import pytest

import candle_numpy as cn


def data_ptr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def rss_bytes() -> int:
    """Current resident set size (not the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.fixture(autouse=True)
def no_leaked_adoptions():
    """Every test must leave no NumPy buffer adopted once its tensors are gone."""
    gc.collect()
    before = cn._native.adopted_blocks()
    yield
    gc.collect()
    assert cn._native.adopted_blocks() == before
