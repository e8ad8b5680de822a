"""``cn.torch.utils``: as ``torch.utils``, only ``data`` so far."""

from . import data

__all__ = ["data"]
