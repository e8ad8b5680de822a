"""Port of PyTorch's ``test/test_numpy_interop.py`` (class ``TestNumPyInterop``, CPU).

Every test runs against the real torch (the control) and ``cn.torch``; see conftest.py and
known_gaps.py. Written anew for this project: each test keeps the upstream name, inputs and
assertions, with torch's harness replaced by pytest and ``upstream_support``; tests sit in a
plain pytest class named as upstream's.

Changes from upstream, all forced by the harness or the environment:

* ``instantiate_device_type_tests``/``@onlyCPU``: CPU only, no ``device`` argument.
* ``@dtypes(...)`` and loops whose subject is a dtype become ``pytest.mark.parametrize``
  (finer-grained results; the same checks run per dtype).
* Bool and complex subjects are skipped for cn (candle has neither dtype): the bool and
  complex params of ``test_from_numpy``, ``test_numpy_scalar_cmp`` and ``test___eq__``, and
  the whole of ``test_to_numpy_bool`` and ``test_to_numpy_force_argument`` (complex data).
  Tests that merely *use* ``torch.bool`` on the way (e.g. ``test___eq__``'s expected mask)
  are kept and fail for cn where it is missing.
* ``assertWarnsOnceRegex`` turns torch's warn-once into warn-always for its block; the port
  does the same with ``torch.set_warn_always`` where the module has it, and also around
  ``test_numpy_non_writeable``'s check (upstream relies on being the first to trigger that
  warn-once warning in its process; in this lane the DataLoader port's memmap test may be).
* ``test_parse_numpy_int_overflow`` follows upstream's newer NumPy-2 branch: building
  ``np.uint64(-1)`` raises OverflowError before torch is reached (the test then says nothing
  about the module; kept for completeness).
* Where upstream revised a test for NumPy 2 (``test_numpy_array_interface``'s wrapped
  unsigned values via ``.astype``; ``test___eq__``'s ``detach().clone()``), the port follows
  the revised version.
* ``self.assertEqual`` -> ``upstream_support.assert_equal`` (dtype-exact for tensor pairs,
  torch's default float tolerances).
"""

import contextlib
import sys
import warnings
from itertools import product

import numpy as np
import pytest

from upstream_support import (
    assert_equal,
    get_dtype,
    is_cn,
    make_tensor,
    skip_on_cn,
)


@contextlib.contextmanager
def warn_always(torch):
    """What ``assertWarnsOnceRegex`` does around its block (torch's warn-once off)."""
    setter = getattr(torch, "set_warn_always", None)
    if setter is None:
        yield
        return
    before = torch.is_warn_always_enabled()
    setter(True)
    try:
        yield
    finally:
        setter(before)


_FROM_NUMPY_DTYPES = [
    "double", "float64", "float16", "complex64", "complex128", "int64", "int32", "int16",
    "int8", "uint8", "longlong", "bool_",
]


_SCALAR_CMP_DTYPES = [
    "uint8", "int8", "int16", "int32", "int64", "float32", "float64", "complex64", "complex128",
    "float16", "bfloat16", "bool",
]


_EQ_DTYPES = ["uint8", "int8", "int16", "int32", "int64", "float32", "float64", "complex64", "complex128", "float16", "bool"]


class TestNumPyInterop:
    # upstream: TestNumPyInterop.test_numpy_non_writeable
    def test_numpy_non_writeable(self, torch):
        arr = np.zeros(5)
        arr.flags["WRITEABLE"] = False
        # torch warns once per process; other tests in this lane (a read-only memmap in
        # the DataLoader port) may have used it up, so lift warn-once as assertWarnsOnce does
        with warn_always(torch), pytest.warns(UserWarning):
            torch.from_numpy(arr)

    # upstream: TestNumPyInterop.test_numpy_unresizable
    def test_numpy_unresizable(self, torch):
        x = np.zeros((2, 2))
        y = torch.from_numpy(x)  # noqa: F841 (holds a reference to x's memory)
        with pytest.raises(ValueError):
            x.resize((5, 5))

        z = torch.randn(5, 5)
        w = z.numpy()
        with pytest.raises(RuntimeError):
            z.resize_(10, 10)
        with pytest.raises(ValueError):
            w.resize((10, 10))

    # upstream: TestNumPyInterop.test_to_numpy
    @pytest.mark.parametrize("dtp_name", ["uint8", "int8", "short", "int", "half", "float", "double", "long"])
    def test_to_numpy(self, torch, dtp_name):
        dtp = getattr(torch, dtp_name)

        def castable(shape):
            # random values inside the dtype's range (bounded to +-1e10), drawn as torch does
            if dtp.is_floating_point:
                info = torch.finfo(dtp)
                lo, hi = max(info.min, -1e10), min(info.max, 1e10)
                t = torch.empty(shape, dtype=torch.float64).uniform_(lo, hi)
            else:
                info = torch.iinfo(dtp)
                lo, hi = max(info.min, int(-1e10)), min(info.max, int(1e10))
                t = torch.empty(shape, dtype=torch.int64).random_(lo, hi)
            return t.to(dtp)

        n = 10
        rows, cols = 3, 5

        def same_2d(t, a):
            for i in range(rows):
                for j in range(cols):
                    assert_equal(t[i][j], a[i][j])

        # 1-D
        x = castable(n)
        y = x.numpy()
        for i in range(n):
            assert_equal(x[i], y[i])

        # 1-D starting past the beginning of its storage
        x = castable(n * 2).narrow(0, n - 1, n)
        assert x.storage_offset() > 0
        y = x.numpy()
        for i in range(n):
            assert_equal(x[i], y[i])

        # empty
        x = torch.tensor([]).to(dtp)
        assert x.numpy().size == 0

        # contiguous 2-D
        x = castable((rows, cols))
        y = x.numpy()
        same_2d(x, y)
        assert y.flags["C_CONTIGUOUS"]

        # contiguous 2-D with a storage offset
        x = castable((rows * 2, cols)).narrow(0, rows - 1, rows)
        y = x.numpy()
        assert x.storage_offset() > 0
        same_2d(x, y)
        assert y.flags["C_CONTIGUOUS"]

        # transposed (non-contiguous) 2-D
        x = castable((cols, rows)).t()
        y = x.numpy()
        same_2d(x, y)
        assert not y.flags["C_CONTIGUOUS"]

        # transposed with a storage offset
        x = castable((cols * 2, rows)).narrow(0, cols - 1, cols).t()
        y = x.numpy()
        assert x.storage_offset() > 0
        same_2d(x, y)

        # transposed, offset, and with gaps between rows
        x = castable((cols * 2, rows * 2)).narrow(0, cols - 1, cols).narrow(1, rows - 1, rows).t()
        y = x.numpy()
        assert x.storage_offset() > 0
        same_2d(x, y)

        if dtp_name != "half":
            # the array is writeable and writes land in the tensor
            x = castable((3, 4))
            y = x.numpy()
            assert y.flags.writeable
            y[0][1] = 3
            assert x[0][1] == 3
            y = x.t().numpy()
            assert y.flags.writeable
            y[0][1] = 3
            assert x[0][1] == 3

    # upstream: TestNumPyInterop.test_to_numpy_bool
    def test_to_numpy_bool(self, torch):
        skip_on_cn(torch, "candle has no bool dtype")
        x = torch.tensor([True, False], dtype=torch.bool)
        assert x.dtype == torch.bool
        y = x.numpy()
        assert y.dtype == np.bool_
        for i in range(len(x)):
            assert_equal(x[i], y[i])

        x = torch.tensor([True], dtype=torch.bool)
        assert x.dtype == torch.bool
        y = x.numpy()
        assert y.dtype == np.bool_
        assert_equal(x[0], y[0])

    # upstream: TestNumPyInterop.test_to_numpy_force_argument
    def test_to_numpy_force_argument(self, torch):
        skip_on_cn(torch, "complex subject: candle has no complex dtype")
        for force, requires_grad, sparse, conj in product([False, True], repeat=4):
            data = [[1 + 2j, -2 + 3j], [-1 - 2j, 3 - 2j]]
            x = torch.tensor(data, requires_grad=requires_grad)
            y = x
            if sparse:
                if requires_grad:
                    continue
                x = x.to_sparse()
            if conj:
                x = x.conj()
                y = x.resolve_conj()
            refuses = requires_grad or sparse or conj
            pattern = r"Use (t|T)ensor\..*(\.numpy\(\))?"
            if not force and refuses:
                with pytest.raises((RuntimeError, TypeError), match=pattern):
                    x.numpy()
                with pytest.raises((RuntimeError, TypeError), match=pattern):
                    x.numpy(force=False)
            elif force and sparse:
                with pytest.raises(TypeError, match=pattern):
                    x.numpy(force=True)
            else:
                assert_equal(x.numpy(force=force), y)

    # upstream: TestNumPyInterop.test_from_numpy
    @pytest.mark.parametrize(
        "case",
        _FROM_NUMPY_DTYPES
        + ["unsupported_str", "storage_offset", "noncontiguous", "noncontiguous_holes", "zero_size", "bad_strides"],
    )
    def test_from_numpy(self, torch, case):
        if case in _FROM_NUMPY_DTYPES:
            np_dtype = getattr(np, case)
            if is_cn(torch) and np.dtype(np_dtype).kind in "bc":
                pytest.skip("candle has no bool or complex dtype")
            array = np.array([1, 2, 3, 4], dtype=np_dtype)
            t = torch.from_numpy(array)
            for i in range(len(array)):
                assert_equal(t[i], array[i])
            if np.dtype(np_dtype).kind != "c":  # no remainder ufunc for complex
                array2 = array % 2  # the Windows regression (pytorch#22615)
                t2 = torch.from_numpy(array2)
                for i in range(len(array2)):
                    assert_equal(t2[i], array2[i])
        elif case == "unsupported_str":
            with pytest.raises(TypeError):
                torch.from_numpy(np.array(["foo", "bar"], dtype=np.dtype(np.str_)))
        elif case == "storage_offset":
            x = np.linspace(1, 125, 125)
            x.shape = (5, 5, 5)
            x = x[1]
            expected = torch.arange(1, 126, dtype=torch.float64).view(5, 5, 5)[1]
            assert_equal(torch.from_numpy(x), expected)
        elif case == "noncontiguous":
            x = np.linspace(1, 25, 25)
            x.shape = (5, 5)
            expected = torch.arange(1, 26, dtype=torch.float64).view(5, 5).t()
            assert_equal(torch.from_numpy(x.T), expected)
        elif case == "noncontiguous_holes":
            x = np.linspace(1, 125, 125)
            x.shape = (5, 5, 5)
            x = x[:, 1]
            expected = torch.arange(1, 126, dtype=torch.float64).view(5, 5, 5)[:, 1]
            assert_equal(torch.from_numpy(x), expected)
        elif case == "zero_size":
            assert torch.from_numpy(np.zeros((0, 2))).shape == (0, 2)
            assert torch.from_numpy(np.zeros((2, 0))).shape == (2, 0)
        elif case == "bad_strides":
            x = np.array([3.0, 5.0, 8.0])
            x.strides = (3,)  # not a multiple of the item size
            with pytest.raises(ValueError):
                torch.from_numpy(x)

    # upstream: TestNumPyInterop.test_from_numpy_no_leak_on_invalid_dtype
    def test_from_numpy_no_leak_on_invalid_dtype(self, torch):
        x = np.array("value".encode("ascii"))
        for _ in range(1000):
            try:
                torch.from_numpy(x)
            except TypeError:
                pass
        assert sys.getrefcount(x) == 2

    # upstream: TestNumPyInterop.test_from_list_of_ndarray_warning
    def test_from_list_of_ndarray_warning(self, torch):
        with warn_always(torch), pytest.warns(
            UserWarning, match=r"Creating a tensor from a list of numpy.ndarrays is extremely slow"
        ):
            torch.tensor([np.array([0]), np.array([1])])

    # upstream: TestNumPyInterop.test_ctor_with_invalid_numpy_array_sequence
    def test_ctor_with_invalid_numpy_array_sequence(self, torch):
        r = np.random.random
        with pytest.raises(ValueError, match="expected sequence of length"):
            torch.tensor([r(size=(3, 3)), r(size=(3, 0))])
        with pytest.raises(ValueError, match="expected sequence of length"):
            torch.tensor([[r(size=(3, 3)), r(size=(3, 2))]])
        with pytest.raises(ValueError, match="expected sequence of length"):
            torch.tensor([[r(size=(3, 3)), r(size=(3, 3))], [r(size=(3, 3)), r(size=(3, 2))]])
        # the inferred shape is [1, 2, 3], so the 0-d array is iterated: not a sequence
        with pytest.raises(TypeError, match="not a sequence"):
            torch.tensor([[r(size=(3)), r()]])
        # a list and an array of different lengths
        with pytest.raises(ValueError, match="expected sequence of length"):
            torch.tensor([[1, 2, 3], r(size=(2,))])

    # upstream: TestNumPyInterop.test_ctor_with_numpy_scalar_ctor
    @pytest.mark.parametrize("np_dtype", ["double", "float64", "float16", "int64", "int32", "int16", "uint8", "bool_"])
    def test_ctor_with_numpy_scalar_ctor(self, torch, np_dtype):
        scalar = getattr(np, np_dtype)(42)
        assert scalar == torch.tensor(scalar).item()

    # upstream: TestNumPyInterop.test_numpy_index
    def test_numpy_index(self, torch):
        i = np.array([0, 1, 2], dtype=np.int32)
        x = torch.randn(5, 5)
        for idx in i:
            assert not isinstance(idx, int)
            assert_equal(x[idx], x[int(idx)])

    # upstream: TestNumPyInterop.test_numpy_index_multi
    def test_numpy_index_multi(self, torch):
        for dim_sz in [2, 8, 16, 32]:
            i = np.zeros((dim_sz, dim_sz, dim_sz), dtype=np.int32)
            i[: dim_sz // 2, :, :] = 1
            x = torch.randn(dim_sz, dim_sz, dim_sz)
            assert x[i == 1].numel() == np.sum(i)

    # upstream: TestNumPyInterop.test_numpy_array_interface
    def test_numpy_array_interface(self, torch):
        types = [
            torch.DoubleTensor, torch.FloatTensor, torch.HalfTensor, torch.LongTensor,
            torch.IntTensor, torch.ShortTensor, torch.ByteTensor,
        ]
        dtypes = [np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.uint8]
        for tp, dtype in zip(types, dtypes):
            if np.dtype(dtype).kind == "u":
                x = torch.tensor([1, 2, 3, 4]).type(tp)
                array = np.array([1, 2, 3, 4], dtype=dtype)
            else:
                x = torch.tensor([1, -2, 3, -4]).type(tp)
                array = np.array([1, -2, 3, -4], dtype=dtype)

            # __array__ without a dtype
            as_array = np.asarray(x)
            assert isinstance(as_array, np.ndarray)
            assert as_array.dtype == dtype
            for i in range(len(x)):
                assert_equal(as_array[i], x[i])

            # __array_wrap__ keeps the tensor type
            abs_x = np.abs(x)
            abs_array = np.abs(array)
            assert isinstance(abs_x, tp)
            for i in range(len(x)):
                assert_equal(abs_x[i], abs_array[i])

        # __array__ with a dtype
        for dtype in dtypes:
            x = torch.IntTensor([1, -2, 3, -4])
            as_array = np.asarray(x, dtype=dtype)
            assert as_array.dtype == dtype
            if np.dtype(dtype).kind == "u":
                wrapped = np.array([1, -2, 3, -4]).astype(dtype)
                for i in range(len(x)):
                    assert_equal(as_array[i], wrapped[i])
            else:
                for i in range(len(x)):
                    assert_equal(as_array[i], x[i])

        # float ufuncs come back as the same tensor type
        for tp, dtype in zip([torch.DoubleTensor, torch.FloatTensor], [np.float64, np.float32]):
            x = torch.tensor([1, 2, 3, 4]).type(tp)
            array = np.array([1, 2, 3, 4], dtype=dtype)
            for name in ["sin", "sqrt", "ceil"]:
                ufunc = getattr(np, name)
                res_x = ufunc(x)
                res_array = ufunc(array)
                assert isinstance(res_x, tp)
                for i in range(len(x)):
                    assert_equal(res_x[i], res_array[i])

        # comparison ufuncs come back as ByteTensor
        for tp, dtype in zip(types, dtypes):
            x = torch.tensor([1, 2, 3, 4]).type(tp)
            array = np.array([1, 2, 3, 4], dtype=dtype)
            geq2_x = np.greater_equal(x, 2)
            geq2_array = np.greater_equal(array, 2).astype("uint8")
            assert isinstance(geq2_x, torch.ByteTensor)
            for i in range(len(x)):
                assert_equal(geq2_x[i], geq2_array[i])

    # upstream: TestNumPyInterop.test_multiplication_numpy_scalar
    @pytest.mark.parametrize("np_dtype", ["float32", "float64", "int32", "int64", "int16", "uint8"])
    def test_multiplication_numpy_scalar(self, torch, np_dtype):
        for t_dtype in [torch.float, torch.double]:
            np_sc = getattr(np, np_dtype)(2.0)
            t = torch.ones(2, requires_grad=True, dtype=t_dtype)
            r1 = t * np_sc
            assert isinstance(r1, torch.Tensor)
            assert r1.dtype == t_dtype
            assert r1.requires_grad
            r2 = np_sc * t
            assert isinstance(r2, torch.Tensor)
            assert r2.dtype == t_dtype
            assert r2.requires_grad

    # upstream: TestNumPyInterop.test_parse_numpy_int_overflow
    def test_parse_numpy_int_overflow(self, torch):
        # Under NumPy 2 the scalar cannot even be built, and newer upstream checks exactly
        # that; under NumPy 1 it wraps and torch must refuse it.
        if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
            with pytest.raises(OverflowError, match="out of bounds"):
                torch.mean(torch.randn(1, 1), np.uint64(-1))
        else:
            with pytest.raises(RuntimeError, match="(Overflow|an integer is required)"):
                torch.mean(torch.randn(1, 1), np.uint64(-1))

    # upstream: TestNumPyInterop.test_parse_numpy_int
    @pytest.mark.parametrize("nptype", ["int16", "int8", "uint8", "int32", "int64"])
    def test_parse_numpy_int(self, torch, nptype):
        scalar = 3
        np_arr = np.array([scalar], dtype=getattr(np, nptype))
        np_val = np_arr[0]

        # a NumPy integer is accepted where native functions take an int
        assert_equal(torch.ones(5).diag(scalar), torch.ones(5).diag(np_val))
        assert_equal(torch.ones([2, 2, 2, 2]).mean(scalar), torch.ones([2, 2, 2, 2]).mean(np_val))

        # ... and in the hand-written Python bindings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # TypedStorage deprecation
            assert_equal(torch.Storage(np_val).size(), scalar)

        tensor = torch.tensor([2], dtype=torch.int)
        tensor[0] = np_val
        assert_equal(tensor[0], np_val)

        # as a Scalar operand it keeps the tensor's dtype (pytorch#29252)
        t = torch.from_numpy(np_arr)
        assert (t + np_val).dtype == t.dtype
        assert (np_val + t).dtype == t.dtype

    # upstream: TestNumPyInterop.test_has_storage_numpy
    @pytest.mark.parametrize("np_dtype", ["float32", "float64", "int64", "int32", "int16", "uint8"])
    def test_has_storage_numpy(self, torch, np_dtype):
        arr = np.array([1], dtype=getattr(np, np_dtype))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # TypedStorage deprecation
            for dtype in [torch.float32, torch.double, torch.int, torch.long, torch.uint8]:
                assert torch.tensor(arr, dtype=dtype).storage() is not None

    # upstream: TestNumPyInterop.test_numpy_scalar_cmp
    @pytest.mark.parametrize("dtype_name_", _SCALAR_CMP_DTYPES)
    def test_numpy_scalar_cmp(self, torch, dtype_name_):
        dtype = get_dtype(torch, dtype_name_)
        if dtype_name_.startswith("complex"):
            tensors = (
                torch.tensor(complex(1, 3), dtype=dtype),
                torch.tensor([complex(1, 3), 0, 2j], dtype=dtype),
                torch.tensor([[complex(3, 1), 0], [-1j, 5]], dtype=dtype),
            )
        else:
            tensors = (
                torch.tensor(3, dtype=dtype),
                torch.tensor([1, 0, -3], dtype=dtype),
                torch.tensor([[3, 0, -1], [3, 5, 4]], dtype=dtype),
            )

        for tensor in tensors:
            if dtype_name_ == "bfloat16":
                with pytest.raises(TypeError):
                    tensor.cpu().numpy()
                continue

            np_array = tensor.cpu().numpy()
            for t, a in product(
                (tensor.flatten()[0], tensor.flatten()[0].item()),
                (np_array.flatten()[0], np_array.flatten()[0].item()),
            ):
                assert_equal(t, a)
                if dtype_name_ == "complex64" and torch.is_tensor(t) and type(a) is np.complex64:
                    # upstream notes the imaginary part is dropped here (pytorch#43579)
                    assert not (t == a)
                else:
                    assert t == a

    # upstream: TestNumPyInterop.test___eq__
    @pytest.mark.parametrize("dtype_name_", _EQ_DTYPES)
    def test___eq__(self, torch, dtype_name_):
        dtype = get_dtype(torch, dtype_name_)
        is_bool = dtype_name_ == "bool"
        a = make_tensor(torch, (5, 7), dtype, low=-9, high=9)
        b = a.detach().clone()
        b_np = b.numpy()

        # all equal
        expected = torch.ones_like(a, dtype=torch.bool)
        assert_equal(a == b_np, expected)
        assert_equal(b_np == a, expected)

        # one element differs (b_np shares b's memory, so it sees the write)
        if is_bool:
            b[1][3] = not b[1][3]
        else:
            b[1][3] += 1
        expected[1][3] = False
        assert_equal(a == b_np, expected)
        assert_equal(b_np == a, expected)

        # a random set of elements differs
        rand = torch.randint(0, 2, a.shape, dtype=torch.bool)
        expected = rand.logical_not()
        b.copy_(a)
        if is_bool:
            b[rand] = b[rand].logical_not()
        else:
            b[rand] += 1
        assert_equal(a == b_np, expected)
        assert_equal(b_np == a, expected)

        # every element differs
        if is_bool:
            b.copy_(a.logical_not())
        else:
            b.copy_(a + 1)
        expected.fill_(False)
        assert_equal(a == b_np, expected)
        assert_equal(b_np == a, expected)

    # upstream: TestNumPyInterop.test_empty_tensors_interop
    def test_empty_tensors_interop(self, torch):
        x = torch.rand((), dtype=torch.float16)
        y = torch.tensor(np.random.rand(0), dtype=torch.float16)
        # pytorch#115068, #115066, #113037
        assert torch.true_divide(x, y).shape == y.shape
        assert torch.mul(x, y).shape == y.shape
        assert torch.div(x, y, rounding_mode="floor").shape == y.shape
