"""No input reaches a Rust panic: every public entry point, called with zero, negative, huge and
mismatched arguments and every dtype, returns or raises an ``Exception`` subclass, never pyo3's
``PanicException`` (a ``BaseException``, which ``except Exception`` misses)."""

import itertools
import math

import numpy as np
import pytest

import candle_numpy as cn

DTYPES = ["uint8", "int16", "int32", "int64", "uint32", "float16", "bfloat16", "float32", "float64",
          "float8_e4m3fn"]
HUGE = [2**31, 2**40, 2**63 - 1, 2**63, 2**64]
SIZES = [0, -1, -(2**63)] + HUGE


def survives(f, *args, **kwargs):
    """Call ``f``; a result or an ``Exception`` is fine, a panic (or other BaseException) fails."""
    try:
        out = f(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - any Exception subclass is what we want
        return e
    except BaseException as e:  # PanicException lands here
        pytest.fail(f"{getattr(f, '__name__', f)}{args} {kwargs} raised {type(e).__name__}: {e}")
    # iterate loaders and datasets: batches are made lazily
    if hasattr(out, "__iter__") and not isinstance(out, (cn.Tensor, str, bytes, dict, tuple, list)):
        try:
            for _ in itertools.islice(out, 3):
                pass
        except Exception as e:  # noqa: BLE001
            return e
        except BaseException as e:
            pytest.fail(f"iterating {getattr(f, '__name__', f)}{args} raised {type(e).__name__}: {e}")
    return out


def make(dtype, shape=(2, 3)):
    return cn.tensor(np.arange(math.prod(shape)).reshape(shape) % 5, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_methods_and_reductions(dtype):
    for shape in [(2, 3), (0, 3), (), (1,)]:
        t = make(dtype, shape)
        for name in ["relu", "sigmoid", "tanh", "gelu", "exp", "log", "abs", "sqrt", "square",
                     "__neg__", "__abs__", "softmax", "log_softmax", "sum", "mean", "argmax",
                     "float", "double", "half", "bfloat16", "long", "int", "clone", "contiguous",
                     "tolist", "numpy", "__repr__", "item", "__bool__", "__len__", "numel",
                     "size", "detach", "flatten", "squeeze", "cpu"]:
            survives(getattr(t, name))
        for e in [0, 1, 2, 3, 0.5, -1, -2, 2.5, True, 2**63, -(2**63), 2**70, float("nan"), "x"]:
            survives(t.pow, e)
            survives(lambda: t ** e)
        survives(t.gelu, approximate="tanh")
        survives(t.gelu, approximate="bogus")
        for d in [0, -1, 1, 2, 5, -5] + HUGE + [-(2**63)]:
            for name in ["sum", "mean", "argmax", "softmax", "log_softmax", "size", "squeeze",
                         "unsqueeze", "flatten"]:
                survives(getattr(t, name), d)
            survives(t.sum, dim=d, keepdim=True)
            survives(t.argmax, dim=d, keepdim=True)
            survives(t.transpose, d, 0)
            survives(t.flatten, 0, d)
        survives(t.clamp)
        survives(t.clamp, min=0)
        survives(t.clamp, min=1, max=0)
        survives(t.clamp, max=float("nan"))
        for target in DTYPES:
            survives(t.to, target)
            survives(cn.tensor, t, dtype=target)
            survives(cn.as_tensor, t, dtype=target)


@pytest.mark.parametrize("left", DTYPES)
def test_arithmetic_and_comparisons_across_dtypes(left):
    a = make(left)
    others = [make(d) for d in DTYPES] + [make(d, ()) for d in DTYPES] + [
        0, 1, -1, 0.5, -0.0, float("inf"), float("nan"), True, 2**63 - 1, -(2**63), 2**64, 2**70,
        make("float32", (3, 2)), make("float32", (0,)), np.zeros((2, 3)), [1, 2, 3], "x", None]
    for b in others:
        for op in ["__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
                   "__truediv__", "__rtruediv__", "__lt__", "__le__", "__eq__", "__ne__", "__gt__",
                   "__ge__", "__matmul__", "__rmatmul__"]:
            survives(getattr(a, op), b)
        for op in ["__iadd__", "__isub__", "__imul__", "__itruediv__", "add_", "mul_", "copy_"]:
            survives(getattr(a.clone(), op), b)
    survives(a.fill_, float("nan"))
    survives(a.fill_, 1e300)
    survives(a.zero_)


def test_shapes_and_indexing():
    t = make("float32", (2, 3))
    for shape in [(-1,), (-2,), (0,), (-1, -1), (2**63, 0), (2**62, 4), (2**64,), (3, 2), (7,),
                  (2**32, 2**32)]:
        survives(t.reshape, *shape)
        survives(t.view, *shape)
        survives(make("float32", (0, 3)).reshape, *shape)
    for dims in [(0,), (0, 0), (1, 0), (2**63, 0), (-3, 0), (0, 1, 2)]:
        survives(t.permute, *dims)
    for key in [0, -1, 2, -3, 2**63, -(2**63), 2**64, slice(None, None, 0), slice(None, None, -1),
                slice(2**63, None), slice(-(2**63), 2**63, 2**62), (0, 0, 0), (..., None),
                (None, None, 5), (Ellipsis, Ellipsis), "x", 1.5, [0, 1], np.array([0])]:
        survives(t.__getitem__, key)
    survives(t.__iter__)
    survives(make("float32", ()).__iter__)
    survives(t.__dlpack__, max_version=(2**63, 0))
    survives(t.__dlpack__, max_version=(-1, -1))
    survives(t.__dlpack__, dl_device=(2**31, 2**31))
    survives(t.cuda, 2**63)
    survives(t.to, "cuda:99999999999")


def test_constructors():
    for data in [[], [[]], [[], []], [[1], []], [1, [2]], [2**70], [float("nan")], (np.zeros(2),),
                 (np.zeros(2), np.zeros(3)), np.zeros((0, 0)), [True, 2.5], "abc", None, object()]:
        for f in [cn.tensor, cn.as_tensor, cn.from_numpy, cn.torch.tensor, cn.tf.constant,
                  cn.tf.convert_to_tensor]:
            survives(f, data)
    # shapes only up to what fails before allocating: a 2**31-element broadcast is a real 8 GB
    # copy, and a 2**40 one is refused by the allocator (a MemoryError in the copy path)
    for n in [0, -1, -(2**63), 2**63, 2**64]:
        survives(cn.tf.constant, 1.0, shape=(n,))
        survives(cn.tf.constant, 1.0, shape=(n, n))
    survives(cn.to_tensor, np.zeros(3), mode="bogus")
    survives(cn.tensor, np.zeros(3), dtype="complex64")
    survives(cn.tensor, np.zeros(3), device="cuda:2147483648")


def test_cdist():
    for sa, sb in [((3, 0), (2, 0)), ((0, 3), (2, 3)), ((3, 2), (0, 2)), ((0, 0), (0, 0)),
                   ((2, 2, 0), (2, 3, 0)), ((3, 2), (2, 3)), ((3,), (3,)), ((1, 1, 1, 1), (1, 1, 1, 1)),
                   ((2, 3, 2), (3, 3, 2))]:
        for p in [0, -1, 0.5, 1, 2, 3, float("inf"), float("nan")]:
            for metric in [None, "cosine", "sqeuclidean", "bogus"]:
                survives(cn.cdist, np.zeros(sa, np.float32), np.zeros(sb, np.float32), p=p, metric=metric)
    for d in DTYPES:
        survives(cn.cdist, make(d), make(d))
    survives(cn.cdist, np.zeros((3, 2)), np.zeros((3, 2)), max_output_bytes=0)
    survives(cn.cdist, np.zeros((3, 2)), np.zeros((3, 2)), compute_mode="bogus")


def test_data_loaders_and_datasets():
    x, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    ds = cn.torch.utils.data.TensorDataset(x, y)
    for n in SIZES:
        survives(cn.torch.utils.data.DataLoader, ds, batch_size=n)
        survives(cn.torch.utils.data.DataLoader, ds, batch_size=n, shuffle=True, drop_last=True)
        survives(ds.__getitem__, n)
        base = cn.tf.data.Dataset.from_tensor_slices((x, y))
        for name in ["batch", "prefetch", "shuffle", "repeat", "take", "skip"]:
            survives(getattr(base, name), n)
        survives(base.repeat(2).batch, n)
        survives(lambda: base.repeat().prefetch(n).take(3))
        survives(base.shard, n, 0)
        survives(base.shard, 2, n)
        survives(base.batch(3).prefetch, n)
    survives(cn.torch.utils.data.TensorDataset, x, np.zeros(3))
    survives(cn.torch.utils.data.TensorDataset)
    survives(cn.tf.data.Dataset.from_tensor_slices, (x, np.zeros(3)))
    survives(cn.tf.data.Dataset.from_tensor_slices, ())


def test_keras():
    keras = cn.tf.keras
    x, y = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32), np.zeros((10, 1), np.float32)
    for n in SIZES:
        # a Dense(2**31) kernel (25 GB) could really be allocated on a large machine
        def build(units=n if n != 2**31 else 2**40):
            m = keras.Sequential([keras.layers.Dense(units, input_shape=(3,)), keras.layers.Dense(1)])
            m.compile(optimizer="sgd", loss="mse")
            return m
        survives(build)
        m = build(4)
        survives(m.fit, x, y, batch_size=n, epochs=1, verbose=0)
        survives(m.predict, x, batch_size=n)
        survives(m.evaluate, x, y, batch_size=n)
        survives(m.fit, x, y, epochs=n if n <= 0 else 0, verbose=0)
        survives(m.build, (n,))
        survives(keras.layers.Dropout, n)
    m = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    m.compile(optimizer="sgd", loss="mse")
    survives(m.fit, x, np.zeros((9, 2), np.float32), verbose=0)
    survives(m.fit, x.astype(np.int64), np.zeros((10, 2)), verbose=0)
    survives(m.predict, np.zeros((0, 3), np.float32))
    survives(m.predict, np.zeros((4, 5), np.float32))
    survives(m.fit, make("float8_e4m3fn", (10, 3)), make("float8_e4m3fn", (10, 2)), verbose=0)


def test_autograd_and_optimizers():
    w = cn.tensor(np.ones(3, np.float32), requires_grad=True)
    survives(setattr, w, "grad", cn.tensor(np.ones(3)))
    survives(setattr, w, "grad", cn.tensor(np.ones(4, np.float32)))
    survives((w * 2).backward)
    survives((w * 2).sum().backward, gradient=cn.tensor(np.ones(3)))
    survives(w.sum().backward, gradient=cn.tensor(np.ones((), np.float64)))
    for d in DTYPES:
        survives(setattr, make(d), "requires_grad", True)
    for lr in [-1.0, 0.0, float("nan"), 1e300]:
        survives(cn.torch.optim.SGD, [w], lr=lr)
        survives(cn.torch.optim.Adam, [w], lr=lr, betas=(2.0, -1.0))
    v = cn.tf.Variable(np.ones(3, np.float32))
    survives(v.assign, np.ones(4))
    survives(v.assign_add, np.ones((2, 3)))
    survives(v.assign, make("float8_e4m3fn", (3,)))


def test_files_and_foreign_objects(tmp_path):
    import struct

    good = tmp_path / "a.npy"
    np.save(good, np.arange(6.0).reshape(2, 3))
    raw = good.read_bytes()
    cases = {
        "empty.npy": b"",
        "magic.npy": raw[:8],
        "header.npy": raw[:40],
        "data.npy": raw[:-5],
        "shape.npy": raw.replace(b"(2, 3)", b"(2**63, 3)".ljust(6)[:6]),
        "huge.npy": raw.replace(b"(2, 3)", b"(9999999999999999999, 3)"[:6]),
        "neg.npy": raw.replace(b"(2, 3)", b"(-2, 3)"[:6]),
        "empty.safetensors": b"",
        "len.safetensors": struct.pack("<Q", 2**63) + b"{}",
        "json.safetensors": struct.pack("<Q", 2) + b"[]",
        "shape.safetensors": struct.pack("<Q", 60) + b'{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}'[:60],
        "empty.npz": b"",
        "junk.npz": b"PK\x03\x04" + bytes(40),
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        for loader in [cn.load_npy, cn.load_npz, cn.load_safetensors, cn.safetensors_metadata]:
            survives(loader, str(p))
        survives(cn.load_npy, str(p), mmap=True)
        survives(cn.torch.utils.data.TensorDataset.from_npy, str(p))
        survives(cn.tf.data.Dataset.from_npy, str(p))
    for obj in [None, 1, "x", object(), np.zeros(3), [1, 2]]:
        survives(cn.from_dlpack, obj)
        survives(cn.save_npy, str(tmp_path / "o.npy"), obj)
        survives(cn.save_safetensors, str(tmp_path / "o.safetensors"), {"a": obj})
    survives(cn.save_npz, str(tmp_path / "o.npz"), a=np.zeros(2), b="x")
    survives(cn.save_safetensors, str(tmp_path / "e.safetensors"), {})
    survives(cn.save_npy, str(tmp_path / "missing-dir" / "x.npy"), np.zeros(2))
