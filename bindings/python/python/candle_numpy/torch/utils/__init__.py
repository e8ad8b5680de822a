"""``cn.torch.utils``: as ``torch.utils``, ``data`` and ``dlpack``."""

from . import data, dlpack

__all__ = ["data", "dlpack"]
