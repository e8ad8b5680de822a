"""torch's type promotion in the torch facade: the result dtype of every dtype pair, of 0-d
tensors and Python scalars, true division, and in-place refusals, checked against torch itself
(the interop lane has torch; elsewhere the table part is skipped). The cases the issue names are
checked without torch too."""

import itertools

import numpy as np
import pytest

import candle_numpy as cn

DTYPES = ["uint8", "int16", "int32", "int64", "uint32", "float16", "bfloat16", "float32", "float64",
          "float8_e4m3fn"]
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}


def ours(dtype, shape=(2,)):
    return cn.tensor(np.ones(shape, np.float32), dtype=dtype)


def outcome(f):
    """The result dtype's name, or "error" when the op is refused."""
    try:
        r = f()
        return str(getattr(r, "dtype", r)).replace("torch.", "")
    except (TypeError, RuntimeError, ValueError):
        return "error"


def test_the_cases_the_issue_names():
    i = cn.tensor([1, 2, 3])
    assert (i + 0.5).dtype == "float32" and (i + 0.5).tolist() == [1.5, 2.5, 3.5]
    assert (i / 2).dtype == "float32" and (i / 2).tolist() == [0.5, 1.0, 1.5]
    f = cn.tensor(np.array([0.5, 1.0, 2.0], np.float32))
    assert (i * f).tolist() == [0.5, 2.0, 6.0] and (i * f).dtype == "float32"
    assert (f + cn.tensor(np.ones(3))).dtype == "float64"
    u = cn.tensor(np.array([250], np.uint8))
    assert (u + 300).dtype == "uint8" and (u + 300).tolist() == [38]
    assert (u + 1.5).dtype == "float32" and (u + 1.5).tolist() == [251.5]
    assert (u + cn.tensor(np.array([1], np.int16))).dtype == "int16"
    assert (ours("float16") + ours("bfloat16")).dtype == "float32"
    assert (ours("float16") + 2.5).dtype == "float16"
    # 0-d tensors count only when of a higher category
    assert (ours("float32") + cn.tensor(np.float64(1.0))).dtype == "float32"
    assert (ours("int32") + cn.tensor(np.float64(1.0))).dtype == "float64"
    assert (ours("int32") + cn.tensor(np.int64(1))).dtype == "int32"
    assert (ours("int32", ()) + ours("int64", ())).dtype == "int64"
    # comparisons compare in the promoted type
    assert (i > 1.5).tolist() == [0, 1, 1]
    assert (u == 250.0).tolist() == [1]
    with pytest.raises(TypeError, match="uint32.*int64.*long"):
        ours("uint32") + ours("int64")
    with pytest.raises(TypeError, match="float8"):
        ours("float8_e4m3fn") + ours("float32")


def test_in_place_ops_keep_the_dtype_and_refuse_a_wider_category():
    t = ours("int32")
    with pytest.raises(TypeError, match="float32.*int32"):
        t += 0.5
    with pytest.raises(TypeError, match="float64.*int32"):
        t.mul_(cn.tensor(np.ones(2)))
    t += cn.tensor(np.array([2, 3], np.int64))  # same category: computed in int64, written as int32
    assert t.dtype == "int32" and t.tolist() == [3, 4]
    h = ours("float16")
    h += cn.tensor(np.array([0.5, 0.25]))
    assert h.dtype == "float16" and h.tolist() == [1.5, 1.25]
    u = cn.tensor(np.array([250], np.uint8))
    u += 300
    assert u.tolist() == [38]


def test_tf_facade_does_no_implicit_promotion():
    tf = cn.tf
    i, f = tf.constant([1, 2]), tf.constant([0.5, 1.5])
    assert i.dtype == "int32" and f.dtype == "float32"
    with pytest.raises(TypeError, match=r"no implicit promotion between int32 and float32.*tf\.cast"):
        i + f
    with pytest.raises(TypeError, match=r"Python float 0\.5 to a int32 tensor"):
        i * 0.5
    with pytest.raises(TypeError, match="no implicit promotion"):
        f + tf.constant([1.0, 2.0], dtype=tf.float64)
    assert (i + 1).dtype == "int32" and (i + 1).tolist() == [2, 3]
    assert (f * 2).dtype == "float32" and (f * 2).tolist() == [1.0, 3.0]
    q = i / tf.constant([2, 4])
    assert q.dtype == "float64" and q.tolist() == [0.5, 0.5]  # tf.math.truediv
    assert (tf.constant([3], dtype=tf.int16) / tf.constant([2], dtype=tf.int16)).dtype == "float32"
    assert (tf.cast(i, tf.float32) + f).tolist() == [1.5, 3.5]
    # results keep the rule, and a torch-facade operand does not relax it
    with pytest.raises(TypeError, match="no implicit promotion"):
        ((i + 1) * 2) - f
    with pytest.raises(TypeError, match="no implicit promotion"):
        cn.torch.tensor([1.0, 2.0]) + i
    with pytest.raises(TypeError, match="Python float"):
        i > 0.5
    assert (i > 1).tolist() == [0, 1]
    v = tf.Variable(np.ones(2, np.float32)).value()
    with pytest.raises(TypeError, match="no implicit promotion"):
        v + i
    t = tf.constant([1, 2])
    t += 1
    assert t.tolist() == [2, 3] and t.dtype == "int32"


@pytest.fixture(scope="module")
def th():
    return pytest.importorskip("torch")


def theirs(th, dtype, shape=(2,)):
    return th.ones(shape, dtype=getattr(th, dtype))


def expected(th, result, op="+"):
    """Our result dtype for torch's ``result_type`` outcome: true division gives float32 for
    integers, and float8 results are refused (no float8 arithmetic here; torch has a few
    kernels, which this table is not about)."""
    want = outcome(result)
    if want == "float8_e4m3fn":
        return "error"
    if op == "/" and want != "error" and not getattr(th, want).is_floating_point:
        return "float32"
    return want


@pytest.mark.parametrize("op", sorted(OPS))
def test_tensor_pairs_agree_with_torch_result_type(th, op):
    f = OPS[op]
    mismatches = []
    for a, b in itertools.product(DTYPES, DTYPES):
        for sa, sb in [((2,), (2,)), ((2,), ()), ((), (2,)), ((), ())]:
            want = expected(th, lambda: th.result_type(theirs(th, a, sa), theirs(th, b, sb)), op)
            got = outcome(lambda: f(ours(a, sa), ours(b, sb)))
            if want != got:
                mismatches.append((a, sa, op, b, sb, want, got))
    assert not mismatches, mismatches


@pytest.mark.parametrize("op", sorted(OPS))
def test_python_scalars_agree_with_torch_result_type(th, op):
    f = OPS[op]
    mismatches = []
    for a, x in itertools.product(DTYPES, [True, 3, -1, 2.5]):
        for shape in [(2,), ()]:
            want = expected(th, lambda: th.result_type(theirs(th, a, shape), x), op)
            for reflected in [False, True]:
                g = (lambda t: f(x, t)) if reflected else (lambda t: f(t, x))
                got = outcome(lambda: g(ours(a, shape)))
                if want != got:
                    mismatches.append((a, shape, op, x, reflected, want, got))
    assert not mismatches, mismatches


def test_in_place_agrees_with_torch_can_cast(th):
    mismatches = []
    for a, b in itertools.product(DTYPES, DTYPES + [2, 2.5]):
        other_t = theirs(th, b) if isinstance(b, str) else b
        other_o = ours(b) if isinstance(b, str) else b
        result = expected(th, lambda: th.result_type(theirs(th, a), other_t))
        if result == "error" or a == "float8_e4m3fn":
            want = "error"
        else:
            want = a if th.can_cast(getattr(th, result), getattr(th, a)) else "error"
        for op in ["add_", "mul_"]:
            got = outcome(lambda: getattr(ours(a), op)(other_o))
            if want != got:
                mismatches.append((a, op, b, want, got))
    assert not mismatches, mismatches


def test_values_agree_with_torch(th):
    rng = np.random.default_rng(0)
    x = rng.integers(-50, 200, size=6)
    for a, b in itertools.product(["uint8", "int16", "int32", "int64", "float32", "float64"], repeat=2):
        xa = np.abs(x) if a == "uint8" else x
        xb = (np.abs(x) if b == "uint8" else x)[::-1].copy()
        for op, f in OPS.items():
            want = f(th.tensor(xa, dtype=getattr(th, a)), th.tensor(xb, dtype=getattr(th, b)))
            got = f(cn.tensor(xa, dtype=a), cn.tensor(xb, dtype=b))
            np.testing.assert_allclose(got.numpy().astype(np.float64), want.double().numpy(), rtol=1e-6,
                                       err_msg=f"{a} {op} {b}")
        for s in [300, -7, 0.5]:
            want = th.tensor(xa, dtype=getattr(th, a)) + s
            got = cn.tensor(xa, dtype=a) + s
            np.testing.assert_allclose(got.numpy().astype(np.float64), want.double().numpy(), rtol=1e-6,
                                       err_msg=f"{a} + {s}")


def test_reductions_agree_with_torch(th):
    """sum: integers give int64, half precision accumulates in float32 and keeps its dtype;
    mean of floats likewise (torch refuses integer means, which here are float32)."""
    rng = np.random.default_rng(1)
    checked = 0
    for dtype in DTYPES:
        if dtype == "float8_e4m3fn":
            continue
        x = rng.integers(0, 100, size=(7, 1500))
        for reduce, args in [("sum", ()), ("sum", (1,)), ("mean", ()), ("mean", (0,))]:
            try:
                want = getattr(th.tensor(x, dtype=getattr(th, dtype)), reduce)(*args)
            except RuntimeError:
                continue  # no torch kernel for this dtype (uint32 sums, integer means)
            got = getattr(cn.tensor(x, dtype=dtype), reduce)(*args)
            assert got.dtype == str(want.dtype).replace("torch.", ""), (dtype, reduce, args)
            np.testing.assert_allclose(got.numpy().astype(np.float64), want.double().numpy(), rtol=1e-3,
                                       err_msg=f"{dtype} {reduce}{args}")
            checked += 1
    assert checked >= 20
