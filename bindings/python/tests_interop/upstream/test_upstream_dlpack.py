"""Port of the CPU tests of PyTorch's ``test/test_dlpack.py`` (class ``TestTorchDlPack``).

Every test runs against the real torch (the control) and ``cn.torch``; see conftest.py and
known_gaps.py. Written anew for this project: each test keeps the upstream name, inputs and
assertions, with torch's harness replaced by pytest and ``upstream_support``; tests sit in a
plain pytest class named as upstream's.

Changes from upstream, all forced by the harness:

* ``instantiate_device_type_tests``: CPU only; ``@dtypes(...)`` becomes
  ``pytest.mark.parametrize`` over the same dtype list. Bool and complex params are skipped
  for cn (candle has neither dtype), and so is ``test_dlpack_export_is_conj`` (complex).
  The other dtypes of upstream's lists (int8, uint16, uint64, ...) are kept: a ported
  script meets them.
* ``from torch.utils.dlpack import from_dlpack, to_dlpack, DLDeviceType`` is spelled
  ``torch.utils.dlpack.<name>`` so that the module under test is the one parametrized.
* ``make_tensor`` -> ``upstream_support.make_tensor``; ``self.assertEqual`` ->
  ``upstream_support.assert_equal``.

Not ported (CUDA/ROCm/MPS only): ``test_dlpack_conversion_with_streams`` (and
``_narrow_precision``), ``test_dlpack_conversion_with_diff_streams`` (and
``_narrow_precision``), ``test_dlpack_default_stream``, ``test_dlpack_convert_default_stream``,
``test_dlpack_cuda_per_thread_stream``, ``test_dlpack_invalid_rocm_streams``,
``test_dlpack_invalid_cuda_streams``, ``test_dlpack_tensor_on_different_device``,
``test_copy``, ``test_no_copy``, ``test_needs_copy_error``.
"""

import numpy as np
import pytest

from upstream_support import assert_equal, get_dtype, make_tensor, skip_on_cn

# all_types_and_complex_and(half, bfloat16, bool, uint16, uint32, uint64)
ALL_DTYPES = [
    "uint8", "int8", "int16", "int32", "int64", "float32", "float64", "complex64", "complex128",
    "float16", "bfloat16", "bool", "uint16", "uint32", "uint64",
]
# all_types_and_complex_and(half, bfloat16)
STREAM_DTYPES = [
    "uint8", "int8", "int16", "int32", "int64", "float32", "float64", "complex64", "complex128",
    "float16", "bfloat16",
]
# all_types_and_complex_and(half, uint16, uint32, uint64): NumPy has no bfloat16, and its
# DLPack bool support is recent
NUMPY_DTYPES = [
    "uint8", "int8", "int16", "int32", "int64", "float32", "float64", "complex64", "complex128",
    "float16", "uint16", "uint32", "uint64",
]


class OnlyDLPack:
    """Exposes nothing but the two DLPack methods of the tensor it holds, so that a
    consumer cannot take any other route (buffer protocol, ``__array__``, iteration)."""

    def __init__(self, tensor):
        self._tensor = tensor

    def __dlpack__(self, *args, **kwargs):
        return self._tensor.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self, *args, **kwargs):
        return self._tensor.__dlpack_device__(*args, **kwargs)


class TestTorchDlPack:
    # upstream: TestTorchDlPack.test_dlpack_capsule_conversion
    @pytest.mark.parametrize("dtype_name", ALL_DTYPES)
    def test_dlpack_capsule_conversion(self, torch, dtype_name):
        x = make_tensor(torch, (5,), get_dtype(torch, dtype_name))
        dlpack = torch.utils.dlpack
        z = dlpack.from_dlpack(dlpack.to_dlpack(x))
        assert_equal(z, x)

    # upstream: TestTorchDlPack.test_dlpack_protocol_conversion
    @pytest.mark.parametrize("dtype_name", ALL_DTYPES)
    def test_dlpack_protocol_conversion(self, torch, dtype_name):
        x = make_tensor(torch, (5,), get_dtype(torch, dtype_name))
        z = torch.utils.dlpack.from_dlpack(x)
        assert_equal(z, x)

    # upstream: TestTorchDlPack.test_dlpack_shared_storage
    def test_dlpack_shared_storage(self, torch):
        dlpack = torch.utils.dlpack
        x = make_tensor(torch, (5,), torch.float64)
        z = dlpack.from_dlpack(dlpack.to_dlpack(x))
        z[0] = z[0] + 20.0
        assert_equal(z, x)

    # upstream: TestTorchDlPack.test_from_dlpack
    @pytest.mark.parametrize("dtype_name", ALL_DTYPES)
    def test_from_dlpack(self, torch, dtype_name):
        x = make_tensor(torch, (5,), get_dtype(torch, dtype_name))
        y = torch.from_dlpack(x)
        assert_equal(x, y)

    # upstream: TestTorchDlPack.test_from_dlpack_noncontinguous
    @pytest.mark.parametrize("dtype_name", ALL_DTYPES)
    def test_from_dlpack_noncontinguous(self, torch, dtype_name):
        x = make_tensor(torch, (25,), get_dtype(torch, dtype_name)).reshape(5, 5)
        for view in (x[0], x[:, 0], x[1, :], x[1], x.t()):
            assert_equal(view, torch.from_dlpack(view))

    # upstream: TestTorchDlPack.test_from_dlpack_dtype
    @pytest.mark.parametrize("dtype_name", ALL_DTYPES)
    def test_from_dlpack_dtype(self, torch, dtype_name):
        x = make_tensor(torch, (5,), get_dtype(torch, dtype_name))
        y = torch.from_dlpack(x)
        assert x.dtype == y.dtype

    # upstream: TestTorchDlPack.test_dlpack_tensor_invalid_stream
    @pytest.mark.parametrize("dtype_name", STREAM_DTYPES)
    def test_dlpack_tensor_invalid_stream(self, torch, dtype_name):
        dtype = get_dtype(torch, dtype_name)
        with pytest.raises(TypeError):
            x = make_tensor(torch, (5,), dtype)
            x.__dlpack__(stream=object())

    # upstream: TestTorchDlPack.test_dlpack_invalid_cpu_stream
    def test_dlpack_invalid_cpu_stream(self, torch):
        x = make_tensor(torch, (5,), torch.float32)
        with pytest.raises(AssertionError, match=r"stream should be None on cpu."):
            x.__dlpack__(stream=0)

    # upstream: TestTorchDlPack.test_dlpack_export_requires_grad
    def test_dlpack_export_requires_grad(self, torch):
        x = torch.zeros(10, dtype=torch.float32, requires_grad=True)
        with pytest.raises(BufferError, match=r"require gradient"):
            x.__dlpack__()

    # upstream: TestTorchDlPack.test_dlpack_export_is_conj
    def test_dlpack_export_is_conj(self, torch):
        skip_on_cn(torch, "complex subject: candle has no complex dtype")
        x = torch.tensor([-1 + 1j, -2 + 2j, 3 - 3j])
        y = torch.conj(x)
        with pytest.raises(BufferError, match=r"conjugate bit"):
            y.__dlpack__()

    # upstream: TestTorchDlPack.test_dlpack_export_non_strided
    def test_dlpack_export_non_strided(self, torch):
        x = torch.sparse_coo_tensor([[0]], [1], size=(1,))
        y = torch.conj(x)
        with pytest.raises(BufferError, match=r"strided"):
            y.__dlpack__()

    # upstream: TestTorchDlPack.test_dlpack_normalize_strides
    def test_dlpack_normalize_strides(self, torch):
        x = torch.rand(16)
        y = x[::3][:1]
        assert y.shape == (1,)
        assert y.stride() == (3,)
        z = torch.utils.dlpack.from_dlpack(y)
        assert z.shape == (1,)
        # strides are carried over as they are, not normalised
        assert z.stride() == (3,)

    # upstream: TestTorchDlPack.test_automatically_select_in_creation
    def test_automatically_select_in_creation(self, torch):
        tensor = torch.rand(10)
        wrapped = OnlyDLPack(tensor)
        # torch.tensor must notice the DLPack methods and use them (not iterate elements)
        new_tensor = torch.tensor(wrapped)
        assert_equal(tensor, new_tensor)

    # upstream: TestTorchDlPack.test_max_version
    def test_max_version(self, torch):
        def expected_capsule_name(kwargs):
            versioned = "max_version" in kwargs and kwargs["max_version"][0] >= 1
            return "dltensor_versioned" if versioned else "dltensor"

        def check(**kwargs):
            inp = make_tensor(torch, (5,), torch.float32)
            capsule = inp.__dlpack__(**kwargs)
            assert f'capsule object "{expected_capsule_name(kwargs)}" at' in str(capsule)
            out = torch.from_dlpack(capsule)
            assert_equal(inp, out)

        check()  # no max_version: the 0.x (unversioned) capsule
        check(max_version=(0, 8))  # explicitly 0.x
        check(max_version=(1, 0))  # the newest version torch implements
        check(max_version=(2, 0))  # a newer consumer still takes the 1.x capsule

    # upstream: TestTorchDlPack.test_numpy_dlpack_protocol_conversion
    @pytest.mark.parametrize("dtype_name", NUMPY_DTYPES)
    def test_numpy_dlpack_protocol_conversion(self, torch, dtype_name):
        t = make_tensor(torch, (5,), get_dtype(torch, dtype_name))

        # NumPy consuming our __dlpack__
        arr = np.from_dlpack(t)
        assert_equal(t, arr)

        # and back: a writeable array from .numpy() (DLPack imports in NumPy are read-only)
        t_arr = t.numpy()
        res = torch.utils.dlpack.from_dlpack(t_arr)
        assert_equal(t, res)
        assert t.data_ptr() == res.data_ptr()

    # upstream: TestTorchDlPack.test_unsupported_device_error
    def test_unsupported_device_error(self, torch):
        inp = make_tensor(torch, (5,), torch.float32)
        hexagon = torch.utils.dlpack.DLDeviceType.kDLHexagon
        with pytest.raises(BufferError, match=f"Unsupported device_type: {int(hexagon)}"):
            inp.__dlpack__(max_version=(1, 0), dl_device=(hexagon, 0))

    # upstream: TestTorchDlPack.test_dlpack_unsupported_dtype_error
    def test_dlpack_unsupported_dtype_error(self, torch):
        inp = torch.quantize_per_tensor(torch.randn(()), 0.1, 10, torch.qint8)
        with pytest.raises(BufferError, match=".* types are not supported by dlpack"):
            torch.utils.dlpack.from_dlpack(inp)
