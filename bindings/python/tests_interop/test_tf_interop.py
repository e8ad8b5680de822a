"""candle_numpy beside the real TensorFlow in one process (the interop lane).

DLPack both ways with `tf.experimental.dlpack`, and the seeds' TensorFlow snippets run with
TensorFlow and with `cn.tf`, comparing values.
"""

import numpy as np
import pytest
import tensorflow as tf

import candle_numpy as cn


def ptr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_tf_from_dlpack_of_our_tensor_has_our_values():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = cn.from_numpy(a)
    tt = tf.experimental.dlpack.from_dlpack(t.__dlpack__())
    assert tt.shape == (3, 4) and tt.dtype == tf.float32
    np.testing.assert_array_equal(tt.numpy(), a)


def test_tf_from_dlpack_shares_aligned_memory_and_sees_our_writes():
    # TensorFlow shares a DLPack tensor's memory when it is 64-byte aligned (else it copies):
    # share an aligned slice of a NumPy buffer, then write through our tensor
    buf = np.zeros(1024 + 64, dtype=np.float32)
    start = (-ptr(buf) % 64) // 4
    a = buf[start : start + 1024]
    t = cn.from_numpy(a)
    tt = tf.experimental.dlpack.from_dlpack(t.__dlpack__())
    t += 3.0
    assert tt.numpy()[:3].tolist() == [3.0, 3.0, 3.0]
    a[5] = -2.0
    assert tt.numpy()[5] == -2.0


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64, tf.float16, tf.bfloat16, tf.int32, tf.int64, tf.uint8])
def test_cn_from_dlpack_of_tf_tensors(dtype):
    tt = tf.cast(tf.reshape(tf.range(20) % 7, (4, 5)), dtype)
    t = cn.from_dlpack(tf.experimental.dlpack.to_dlpack(tt))
    assert t.shape == (4, 5)
    np.testing.assert_array_equal(t.float().numpy(), tf.cast(tt, tf.float32).numpy())


def test_cn_from_dlpack_of_a_tf_tensor_shares_its_buffer():
    tt = tf.constant(np.arange(256, dtype=np.float32))
    t = cn.from_dlpack(tf.experimental.dlpack.to_dlpack(tt))
    u = cn.from_dlpack(tf.experimental.dlpack.to_dlpack(tt))
    # both share TensorFlow's one buffer (TF's own .numpy() copies, so compare ours)
    assert ptr(t.numpy()) == ptr(u.numpy())
    del tt, u
    import gc

    gc.collect()
    assert t.sum().item() == float(np.arange(256).sum())


# -- the seeds' snippets, with tf and cn.tf side by side -----------------------------------


def test_seed_convert_to_tensor_and_constant_copy():
    array = np.array([[1, 2], [3, 4]], dtype=np.float64)
    theirs = tf.convert_to_tensor(array, dtype=tf.float32)
    ours = cn.tf.convert_to_tensor(array, dtype=cn.tf.float32)
    const_t, const_o = tf.constant(array), cn.tf.constant(array)
    array[0, 0] = 100
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_array_equal(const_o.numpy(), const_t.numpy())
    assert str(ours.dtype).split(".")[-1].strip("'>") in ("float32",)


def test_seed_dataset_from_tensor_slices_batches():
    X = np.random.rand(100, 10).astype(np.float32)
    y = np.random.randint(0, 2, 100)
    theirs = [(tuple(bx.shape), tuple(by.shape)) for bx, by in tf.data.Dataset.from_tensor_slices((X, y)).batch(32)]
    ours = [(tuple(bx.shape), tuple(by.shape)) for bx, by in cn.tf.data.Dataset.from_tensor_slices((X, y)).batch(32)]
    assert ours == theirs
    first_t = next(iter(tf.data.Dataset.from_tensor_slices((X, y)).batch(32)))
    first_o = next(iter(cn.tf.data.Dataset.from_tensor_slices((X, y)).batch(32)))
    np.testing.assert_array_equal(first_o[0].numpy(), first_t[0].numpy())
    np.testing.assert_array_equal(first_o[1].numpy(), first_t[1].numpy())


def test_seed_keras_model_same_weights_same_predictions(tmp_path):
    """The seed's Keras model with the same weights predicts the same in both."""
    rng = np.random.default_rng(0)
    X = rng.random((32, 10)).astype(np.float32)

    def build(K):
        m = K.Sequential([K.layers.Dense(16, activation="relu", input_shape=(10,)), K.layers.Dense(1, activation="sigmoid")])
        m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        return m

    theirs, ours = build(tf.keras), build(cn.tf.keras)
    names = [name for name, _ in ours.weights]
    assert [tuple(w.shape) for _, w in ours.weights] == [w.shape for w in theirs.get_weights()]
    cn.save_safetensors(tmp_path / "w.safetensors", dict(zip(names, theirs.get_weights())))
    ours.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), rtol=1e-5, atol=1e-6)


TF_DTYPES = ["uint8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


def _outcome(f):
    try:
        r = f()
    except (TypeError, ValueError, tf.errors.InvalidArgumentError, tf.errors.NotFoundError):
        return "error"
    return r.dtype.name if hasattr(r.dtype, "name") else str(r.dtype)


def test_the_tf_facade_promotes_as_tensorflow_does():
    """cn.tf tensors do no implicit promotion, as TensorFlow: every dtype pair and Python
    scalar kind under + - * / gives TensorFlow's dtype, or an error where TensorFlow raises."""
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
           "/": lambda a, b: a / b}
    mismatches = []
    for (name, f), a in [(o, a) for o in ops.items() for a in TF_DTYPES]:
        for b in TF_DTYPES + [2, 2.5]:
            def theirs():
                other = tf.constant([1, 2], dtype=b) if isinstance(b, str) else b
                return f(tf.constant([1, 2], dtype=a), other)

            def ours():
                other = cn.tf.constant([1, 2], dtype=b) if isinstance(b, str) else b
                return f(cn.tf.constant([1, 2], dtype=a), other)

            want, got = _outcome(theirs), _outcome(ours)
            if want != got:
                mismatches.append((a, name, b, want, got))
    assert not mismatches, mismatches
