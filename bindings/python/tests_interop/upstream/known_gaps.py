"""The upstream tests that still fail on ``cn.torch``: test node -> one-line reason.

conftest.py marks each entry ``xfail(strict=True)`` on the cn run only, so a fix shows as
XPASS and its entry must be removed here (and from README.md). Keys are
``<file>::<Class>::<test>[cn...]``. Each reason starts with its category:

* ``[gap]``: a gap to fix (a missing name or a behaviour that should match torch);
* ``[contract]``: a documented contract difference (candle has no such dtype/layout, or
  candle_numpy deliberately behaves otherwise; see README.md here and the project README).

Where the first failure hides others, "behind it" names what the test meets next (found
by stubbing the first missing names in a throwaway diagnostic run).
"""

KNOWN_GAPS = {
    'test_upstream_dataloader.py::TestDataLoader::test_numpy_scalars[cn]': '[contract] cn.torch.CharTensor missing: candle has no int8 dtype',
    'test_upstream_dataloader.py::TestDatasetRandomSplit::test_splits_reproducibility[cn]': "[contract] expects torch's exact permutation; cn's streams are NumPy's PCG64, reproducible but not torch's numbers",
    'test_upstream_dlpack.py::TestTorchDlPack::test_dlpack_export_non_strided[cn]': '[contract] cn.torch.sparse_coo_tensor missing: no sparse layouts in candle',
    'test_upstream_dlpack.py::TestTorchDlPack::test_dlpack_invalid_cpu_stream[cn]': "[contract] __dlpack__(stream=0) on CPU raises DLPackError(BufferError) 'DLPack export refused: stream=0 ...', torch raises AssertionError 'stream should be None on cpu.'",
    'test_upstream_dlpack.py::TestTorchDlPack::test_dlpack_normalize_strides[cn]': '[contract] x[::3] is a copy (candle views have no step; README: stepped slices), so its stride is (1,), not (3,)',
    'test_upstream_dlpack.py::TestTorchDlPack::test_dlpack_unsupported_dtype_error[cn]': '[contract] cn.torch.quantize_per_tensor missing: no quantized dtypes in candle',
    'test_upstream_numpy_interop.py::TestNumPyInterop::test_from_list_of_ndarray_warning[cn]': "[contract] no 'Creating a tensor from a list of numpy.ndarrays is extremely slow' UserWarning (a torch performance hint)",
    'test_upstream_numpy_interop.py::TestNumPyInterop::test_numpy_non_writeable[cn]': "[contract] from_numpy of a read-only array shares it read-only (README: read-only) instead of torch's UserWarning",
    'test_upstream_numpy_interop.py::TestNumPyInterop::test_numpy_scalar_cmp[cn-bfloat16]': '[contract] bfloat16 .numpy() succeeds (ml_dtypes.bfloat16 array) where torch raises TypeError',
}
