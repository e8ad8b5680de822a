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
    """Every test must leave no NumPy buffer adopted once its tensors are gone.

    The garbage collector runs only when the count moved: a full collection costs 50-90 ms
    once the session holds pandas', hypothesis' and pytest's objects, and two per test were
    three of the four minutes of a lane. Every test ends at the count it started with (after
    collecting if needed), so each one starts from the clean count too."""
    before = cn._native.adopted_blocks()
    yield
    if cn._native.adopted_blocks() != before:
        gc.collect()
    assert cn._native.adopted_blocks() == before
