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


def _same_weights(theirs, ours, tmp_path):
    """Copy tf.keras's weights (kernel, bias, gamma, beta, moving statistics, in layer order)
    into our model through a safetensors file, names in our order."""
    names = [name for name, _ in ours.weights]
    got = theirs.get_weights()
    assert [tuple(w.shape) for _, w in ours.weights] == [w.shape for w in got]
    cn.save_safetensors(tmp_path / "w.safetensors", dict(zip(names, got)))
    ours.load_weights(tmp_path / "w.safetensors")


def test_cnn_layers_same_weights_same_outputs_as_tf_keras(tmp_path):
    """Conv2D ("same", strided, dilated), pooling, BatchNormalization (inference), Conv1D,
    LayerNormalization, GlobalAveragePooling, Embedding: with tf.keras's weights copied in,
    our predictions equal tf.keras's."""
    rng = np.random.default_rng(1)
    img = rng.standard_normal((6, 19, 17, 3)).astype(np.float32)

    def image_model(K):
        L = K.layers
        return K.Sequential([
            K.Input((19, 17, 3)),
            L.Conv2D(8, 3, padding="same", activation="relu"),
            L.BatchNormalization(),
            L.MaxPooling2D(pool_size=3, strides=2, padding="same"),
            L.Conv2D(6, (2, 3), strides=(2, 1), padding="same"),
            L.Conv2D(5, 3, dilation_rate=2, padding="valid", activation="tanh"),
            L.AveragePooling2D(pool_size=2, padding="same"),
            L.LayerNormalization(),
            L.GlobalAveragePooling2D(),
            L.Dense(4, activation="softmax"),
        ])

    theirs, ours = image_model(tf.keras), image_model(cn.tf.keras)
    # non-trivial moving statistics: one training step in tf.keras first
    theirs.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    theirs.fit(img, rng.integers(0, 4, 6), epochs=1, verbose=0)
    _same_weights(theirs, ours, tmp_path)
    np.testing.assert_allclose(ours.predict(img, verbose=0), theirs.predict(img, verbose=0), rtol=1e-4, atol=1e-5)
    assert ours.output_shape == tuple(theirs.output_shape)

    seq = rng.standard_normal((4, 12, 3)).astype(np.float32)

    def seq_model(K):
        L = K.layers
        return K.Sequential([K.Input((12, 3)), L.Conv1D(5, 3, strides=2, padding="same", activation="relu"),
                             L.MaxPooling1D(2), L.Flatten(), L.Dense(2)])

    theirs, ours = seq_model(tf.keras), seq_model(cn.tf.keras)
    _same_weights(theirs, ours, tmp_path)
    np.testing.assert_allclose(ours.predict(seq, verbose=0), theirs.predict(seq, verbose=0), rtol=1e-4, atol=1e-5)

    ids = rng.integers(0, 20, (5, 7))

    def text_model(K):
        L = K.layers
        return K.Sequential([K.Input((7,)), L.Embedding(20, 4), L.GlobalAveragePooling1D(), L.Dense(1)])

    theirs, ours = text_model(tf.keras), text_model(cn.tf.keras)
    _same_weights(theirs, ours, tmp_path)
    np.testing.assert_allclose(ours.predict(ids, verbose=0), theirs.predict(ids, verbose=0), rtol=1e-5, atol=1e-6)


def test_batch_normalization_training_step_matches_tf_keras(tmp_path):
    """One fit step with BatchNormalization: the moving statistics (momentum 0.99, biased
    variance) and the loss agree with tf.keras's."""
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((32, 5)) * 2 + 1).astype(np.float32)
    y = rng.standard_normal((32, 1)).astype(np.float32)

    def model(K):
        m = K.Sequential([K.Input((5,)), K.layers.Dense(4), K.layers.BatchNormalization(), K.layers.Dense(1)])
        m.compile(optimizer=K.optimizers.SGD(0.1), loss="mse")
        return m

    theirs, ours = model(tf.keras), model(cn.tf.keras)
    _same_weights(theirs, ours, tmp_path)
    h_t = theirs.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    h_o = ours.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    assert h_o.history["loss"][0] == pytest.approx(h_t.history["loss"][0], rel=1e-5)
    for (name, w), t in zip(ours.weights, theirs.get_weights()):
        np.testing.assert_allclose(w.numpy(), t, rtol=1e-4, atol=1e-6, err_msg=name)


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
