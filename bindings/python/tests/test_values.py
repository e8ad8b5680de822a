"""Right values: float8 conversions that return, reductions that accumulate wide, torch's type
promotion in arithmetic, and the small semantics torch users rely on (bool(t), argmax with NaN,
empty lists, lists of arrays, grad dtypes)."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import candle_numpy as cn

ml_dtypes = pytest.importorskip("ml_dtypes")


# --- float8: every conversion out of it goes through float32 and returns ---------------------

FLOAT8_SCRIPT = textwrap.dedent(
    """
    import numpy as np, ml_dtypes, candle_numpy as cn
    vals = [0.5, -1.5, 448.0, 0.001953125]
    t = cn.tensor(np.array(vals, dtype=ml_dtypes.float8_e4m3fn))
    assert t.dtype == "float8_e4m3fn", t.dtype
    assert t[0].item() == 0.5
    assert t[1].item() == -1.5
    d = t.double()
    assert d.dtype == "float64" and d.tolist() == vals, d.tolist()
    for target in ["float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "uint32", "uint8"]:
        out = t.to(target)
        assert out.dtype == target, (target, out.dtype)
        out = cn.tensor(t, dtype=target)
        assert out.dtype == target
        out = cn.as_tensor(t, dtype=target)
        assert out.dtype == target
    assert t.to("int64").tolist() == [0, -1, 448, 0]
    assert bool(t[0]) is True
    print("ok")
    """
)


def test_float8_conversions_return_with_the_right_values():
    # a hang is the bug: run in a child with a deadline rather than hang the suite
    r = subprocess.run([sys.executable, "-c", FLOAT8_SCRIPT], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_float8_math_is_refused_with_the_fix():
    t = cn.tensor(np.array([1.0, 2.0], dtype=ml_dtypes.float8_e4m3fn))
    for f in [lambda: t + 1, lambda: t * t, lambda: t.exp(), lambda: t.sum(), lambda: -t]:
        with pytest.raises(TypeError, match=r"float8_e4m3fn.*\.float\(\)"):
            f()
    assert (t.float() + 1).tolist() == [2.0, 3.0]


# --- reductions ------------------------------------------------------------------------------

def test_half_precision_sums_accumulate_in_float32():
    for dtype in ["float16", "bfloat16"]:
        t = cn.tensor(np.ones(10_000, np.float32), dtype=dtype)
        # the exact sum, rounded once to the result dtype (bfloat16 holds 9984, not 10000)
        want = float(np.array(10_000.0, np.float32).astype(getattr(ml_dtypes, dtype, dtype)))
        s = t.sum()
        assert s.dtype == dtype and s.item() == want
        m = t.mean()
        assert m.dtype == dtype and m.item() == 1.0
        rows = cn.tensor(np.ones((2, 10_000), np.float32), dtype=dtype)
        assert rows.sum(1).tolist() == [want, want]
        assert rows.sum(dim=1, keepdim=True).shape == (2, 1)


def test_integer_sums_are_int64():
    t = cn.tensor(np.full(3, 2**30, np.int32))
    assert t.sum().dtype == "int64" and t.sum().item() == 3 * 2**30
    u = cn.tensor(np.array([200, 100], np.uint8))
    assert u.sum().dtype == "int64" and u.sum().item() == 300
    assert cn.tensor(np.array([[200, 100], [255, 1]], np.uint8)).sum(0).tolist() == [455, 101]
    assert cn.tensor(np.array([4_000_000_000, 4_000_000_000], np.uint32)).sum().item() == 8_000_000_000
    # integer means (torch refuses them) are float32, computed in floating point
    m = cn.tensor(np.array([1, 2], np.int64)).mean()
    assert m.dtype == "float32" and m.item() == 1.5


def test_float_sums_keep_their_dtype():
    for dtype in ["float32", "float64"]:
        t = cn.tensor(np.arange(4.0), dtype=dtype)
        assert t.sum().dtype == dtype and t.sum().item() == 6.0


def test_half_sum_gradient_flows():
    w = cn.tensor(np.ones(3, np.float32), requires_grad=True)
    (w.half().sum().float() * 2).backward()
    assert w.grad.tolist() == [2.0, 2.0, 2.0]


# --- arithmetic without panics ---------------------------------------------------------------

def test_integer_true_division_is_float_as_torch():
    t = cn.tensor([1, 2, 3])
    q = t / 2
    assert q.dtype == "float32" and q.tolist() == [0.5, 1.0, 1.5]
    z = cn.tensor([1, 0, -1]) / 0
    assert z.dtype == "float32"
    assert z[0].item() == float("inf") and np.isnan(z[1].item()) and z[2].item() == float("-inf")
    r = 1 / cn.tensor([0, 2])
    assert r.tolist() == [float("inf"), 0.5]
    tt = cn.tensor([3, 4], dtype="int32") / cn.tensor([2, 0], dtype="int32")
    assert tt.dtype == "float32" and tt.tolist() == [1.5, float("inf")]


def test_in_place_true_division_of_an_integer_tensor_is_refused():
    t = cn.tensor([2, 4], dtype="int32")
    with pytest.raises(TypeError, match="float32.*int32.*t = t / x"):
        t /= 2
    with pytest.raises(TypeError, match="add_"):
        t.add_(0.5)
    assert t.tolist() == [2, 4]
    t += 3  # an int keeps the int dtype
    assert t.dtype == "int32" and t.tolist() == [5, 7]
    f = cn.tensor([1.0, 2.0])
    f /= 2
    assert f.tolist() == [0.5, 1.0]


def test_float_only_ops_on_integers():
    t = cn.tensor([1, 4, 9])
    for name, want in [("sqrt", [1.0, 2.0, 3.0]), ("exp", np.exp([1, 4, 9]).tolist()),
                       ("log", np.log([1, 4, 9]).tolist()), ("tanh", np.tanh([1, 4, 9]).tolist()),
                       ("sigmoid", (1 / (1 + np.exp(-np.array([1, 4, 9])))).tolist())]:
        out = getattr(t, name)()
        assert out.dtype == "float32", name
        np.testing.assert_allclose(out.tolist(), want, rtol=1e-6)
    for name in ["softmax", "log_softmax", "gelu"]:
        with pytest.raises(TypeError, match=r"int64.*\.float\(\)"):
            getattr(t, name)()
    assert t.square().tolist() == [1, 16, 81] and t.square().dtype == "int64"
    assert (-t).tolist() == [-1, -4, -9]
    assert (-cn.tensor(np.array([1, 0], np.uint8))).tolist() == [255, 0]
    assert t.relu().tolist() == [1, 4, 9] and t.abs().dtype == "int64"


def test_pow_on_integers_as_torch():
    t = cn.tensor([1, 2, 3])
    assert (t ** 2).tolist() == [1, 4, 9] and (t ** 2).dtype == "int64"
    assert (t ** 3).tolist() == [1, 8, 27]
    assert (t ** 0).tolist() == [1, 1, 1]
    h = t ** 0.5
    assert h.dtype == "float32"
    np.testing.assert_allclose(h.tolist(), np.sqrt([1, 2, 3]), rtol=1e-6)
    with pytest.raises(ValueError, match="negative integer powers"):
        t ** -1
    assert (cn.tensor(np.array([16], np.uint8)) ** 2).tolist() == [0]  # wraps, as torch
    f = cn.tensor([-2.0, 3.0])
    assert (f ** 3).tolist() == [-8.0, 27.0]
    assert (f ** -1).tolist() == np.array([-0.5, 1 / 3], np.float32).tolist()


# --- minor semantics -------------------------------------------------------------------------

def test_argmax_returns_the_first_nan():
    t = cn.tensor([1.0, float("nan"), 3.0, float("nan"), float("inf")])
    assert t.argmax().item() == np.argmax(t.numpy()) == 1
    m = cn.tensor([[1.0, 5.0, float("nan")], [2.0, 1.0, 0.0]])
    assert m.argmax(1).tolist() == [2, 0]
    assert m.argmax(dim=1, keepdim=True).tolist() == [[2], [0]]
    assert m.argmax(0).tolist() == [1, 0, 0]
    assert cn.tensor([3, 1, 3]).argmax().item() == 0


def test_bool_of_a_tensor():
    assert bool(cn.tensor([2.0])) is True and bool(cn.tensor(0)) is False
    assert bool(cn.tensor(float("nan"))) is True
    with pytest.raises(ValueError, match="ambiguous"):
        bool(cn.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(cn.tensor([]))


def test_empty_list_is_float32_and_lists_of_arrays_stack():
    assert cn.tensor([]).dtype == "float32" and cn.tensor([]).shape == (0,)
    assert cn.tensor([[]]).shape == (1, 0) and cn.tensor([[]]).dtype == "float32"
    a = np.arange(3.0)
    t = cn.tensor((a, a))
    assert t.shape == (2, 3) and t.dtype == "float64" and t.tolist() == [a.tolist()] * 2
    u = cn.tensor([cn.tensor([1, 2]), cn.tensor([3, 4])])
    assert u.dtype == "int64" and u.tolist() == [[1, 2], [3, 4]]
    with pytest.raises(ValueError):
        cn.tensor((a, np.arange(2.0)))


def test_grad_of_another_dtype_is_refused():
    w = cn.tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float64.*float32"):
        w.grad = cn.tensor(np.ones(3))
    w.grad = cn.tensor(np.ones(3, np.float32))
    assert w.grad.tolist() == [1.0, 1.0, 1.0]


# --- sizes larger than the data --------------------------------------------------------------

@pytest.mark.parametrize("n", [2**40, 2**63 - 1, 2**63])
def test_a_batch_larger_than_the_data_is_one_short_batch(n):
    x, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    ds = cn.torch.utils.data.TensorDataset(x, y)
    dl = cn.torch.utils.data.DataLoader(ds, batch_size=n, shuffle=True, seed=0)
    assert len(dl) == 1 and dl.batch_size == n
    [(xb, yb)] = list(dl)
    assert xb.shape == (10, 2) and sorted(yb.tolist()) == list(range(10))
    assert list(cn.torch.utils.data.DataLoader(ds, batch_size=n, drop_last=True)) == []
    Dataset = cn.tf.data.Dataset
    [(xb, yb)] = list(Dataset.from_tensor_slices((x, y)).batch(n).prefetch(n))
    assert xb.shape == (10, 2) and yb.tolist() == list(range(10))
    assert [e.item() for e in Dataset.from_tensor_slices(y).prefetch(n)] == list(range(10))
    assert len(list(Dataset.from_tensor_slices(y).repeat().prefetch(n).take(25))) == 25
    assert [b.shape for b in Dataset.from_tensor_slices(y).repeat(3).batch(n)] == [(30,)]
    assert len(list(Dataset.from_tensor_slices(y).shuffle(n, seed=1))) == 10


def test_keras_huge_batch_and_impossible_units():
    keras = cn.tf.keras
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(10, 3)).astype(np.float32), rng.normal(size=(10, 1)).astype(np.float32)
    m = keras.Sequential([keras.layers.Dense(4, input_shape=(3,)), keras.layers.Dense(1)], seed=0)
    m.compile(optimizer="sgd", loss="mse")
    h = m.fit(x, y, batch_size=2**40, epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2 and all(np.isfinite(h.history["loss"]))
    assert m.predict(x, batch_size=2**40).shape == (10, 1)
    big = keras.Sequential([keras.layers.Dense(2**40, input_shape=(3,))])
    with pytest.raises(ValueError, match=r"units.*fewer units"):
        big.compile(optimizer="sgd", loss="mse")  # builds the weights (input_shape is known)
        big.predict(x)


def test_cdist_with_no_features_is_zero_as_torch():
    d = cn.cdist(np.zeros((3, 0), np.float32), np.zeros((2, 0), np.float32))
    assert d.shape == (3, 2) and d.dtype == "float32" and d.tolist() == [[0.0, 0.0]] * 3
    assert cn.cdist(np.zeros((0, 4)), np.zeros((2, 4))).shape == (0, 2)


def test_keras_batch_size_arguments():
    keras = cn.tf.keras
    x, y = np.ones((4, 3), np.float32), np.ones((4, 1), np.float32)
    m = keras.Sequential([keras.layers.Dense(1, input_shape=(3,))], seed=0)
    m.compile(optimizer="sgd", loss="mse")
    for bad in [0, -1, -(2**70)]:
        for call in [lambda: m.fit(x, y, batch_size=bad, verbose=0), lambda: m.predict(x, batch_size=bad),
                     lambda: m.evaluate(x, y, batch_size=bad)]:
            with pytest.raises(ValueError, match="batch_size"):
                call()
    assert len(m.fit(x, y, batch_size=2**70, verbose=0).history["loss"]) == 1
    assert m.predict(x, batch_size=2**70).shape == (4, 1)
    assert np.isfinite(m.evaluate(x, y, batch_size=2**70))
