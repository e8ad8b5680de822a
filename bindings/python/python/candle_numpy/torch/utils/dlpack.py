"""``cn.torch.utils.dlpack``: ``from_dlpack``, ``to_dlpack`` and ``DLDeviceType``, as
``torch.utils.dlpack``.

``to_dlpack(t)`` is the legacy capsule (``t.__dlpack__()``: no copy, consumed once);
``from_dlpack`` takes a capsule or any object with ``__dlpack__`` and shares its memory.
"""

import enum as _enum

from ... import _native

__all__ = ["DLDeviceType", "from_dlpack", "to_dlpack"]


class DLDeviceType(_enum.IntEnum):
    """DLPack's device type numbers (``dlpack.h``)."""

    kDLCPU = 1
    kDLCUDA = 2
    kDLCUDAHost = 3
    kDLOpenCL = 4
    kDLVulkan = 7
    kDLMetal = 8
    kDLVPI = 9
    kDLROCM = 10
    kDLROCMHost = 11
    kDLExtDev = 12
    kDLCUDAManaged = 13
    kDLOneAPI = 14
    kDLWebGPU = 15
    kDLHexagon = 16
    kDLMAIA = 17


def to_dlpack(tensor):
    """A DLPack capsule over ``tensor``'s memory (``torch.utils.dlpack.to_dlpack``)."""
    return tensor.__dlpack__()


def from_dlpack(ext_tensor):
    """A tensor sharing a DLPack capsule's or producer's memory (``torch.from_dlpack``)."""
    return _native.from_dlpack(ext_tensor)
