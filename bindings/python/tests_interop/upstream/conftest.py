"""Runs every upstream port twice: against the real ``torch`` (the control) and ``cn.torch``.

Each test takes a ``torch`` argument, parametrized with ids ``torch`` and ``cn``. The real
torch run must pass. For ``cn``, the tests listed in ``known_gaps.KNOWN_GAPS`` are marked
``xfail(strict=True)``: a fix shows as XPASS (a failure), and its entry must then be removed.
An entry naming a test that no longer exists is an error too, so the table cannot go stale.
"""

import pytest

from known_gaps import KNOWN_GAPS
from upstream_support import NO_SUCH_DTYPE_IN_CANDLE


@pytest.fixture(params=["torch", "cn"])
def torch(request):
    if request.param == "torch":
        import torch as real_torch

        return real_torch
    import candle_numpy as cn

    return cn.torch


def _key(item) -> str:
    """``file.py::Class::test[cn-...]``: the node id without its directory."""
    return f"{item.path.name}::{item.nodeid.split('::', 1)[1]}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    seen_files = set()
    seen_keys = set()
    for item in items:
        seen_files.add(item.path.name)
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("torch") != "cn":
            continue
        key = _key(item)
        seen_keys.add(key)
        subject = next((v for v in callspec.params.values() if isinstance(v, str) and v in NO_SUCH_DTYPE_IN_CANDLE), None)
        if subject is not None:
            item.add_marker(pytest.mark.skip(reason=f"candle has no {subject} dtype"))
            continue
        reason = KNOWN_GAPS.get(key)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
    stale = sorted(
        k for k in KNOWN_GAPS if k.split("::", 1)[0] in seen_files and k not in seen_keys
    )
    if stale:
        raise pytest.UsageError(
            "known_gaps.py names tests that were not collected:\n  " + "\n  ".join(stale)
        )
