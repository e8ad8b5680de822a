"""cn.tf.keras beyond Dense: convolution, pooling, normalisation, embedding, reshape and
activation layers (values against NumPy formulas with the model's own weights), callbacks
(the epochs where each acts), sample and class weights, and whole-model save / load_model."""

import json

import numpy as np
import pytest

import candle_numpy as cn

keras = cn.tf.keras
L = keras.layers


def weights(model):
    return dict(model.weights)


def np_weights(model):
    return {k: v.numpy().copy() for k, v in model.weights}


def conv2d_ref(x, k, b, stride=(1, 1), pad=((0, 0), (0, 0))):
    """Channels-last cross-correlation: x (N, H, W, C), k (kh, kw, C, O)."""
    x = np.pad(x, ((0, 0), pad[0], pad[1], (0, 0)))
    kh, kw = k.shape[:2]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # N, oh, ow, C, kh, kw
    win = win[:, ::stride[0], ::stride[1]]
    return np.einsum("nyxcij,ijco->nyxo", win, k) + b


def test_conv2d_valid_and_same_match_the_definition():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7, 6, 2))
    for padding, stride, pad in [("valid", (1, 1), ((0, 0), (0, 0))),
                                 ("same", (1, 1), ((1, 1), (1, 1))),
                                 ("same", (2, 2), ((1, 1), (0, 1)))]:
        m = keras.Sequential([L.Conv2D(4, 3, strides=stride, padding=padding, input_shape=(7, 6, 2))], seed=1)
        m.compile(optimizer="adam", loss="mse")
        w = np_weights(m)
        assert w["conv2d/kernel"].shape == (3, 3, 2, 4) and w["conv2d/bias"].shape == (4,)
        # glorot-uniform: limit sqrt(6 / (fan_in + fan_out)) with fans 9*2 and 9*4
        limit = np.sqrt(6 / (18 + 36))
        assert np.abs(w["conv2d/kernel"]).max() <= limit and np.abs(w["conv2d/kernel"]).max() > 0.8 * limit
        want = conv2d_ref(x, w["conv2d/kernel"], w["conv2d/bias"], stride, pad)
        got = m.predict(x)
        assert got.shape == want.shape, padding
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        assert m.output_shape == (None, *want.shape[1:])


def test_pooling_layers_and_global_average():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 5, 3)).astype(np.float32)
    mp = keras.Sequential([keras.Input((6, 5, 3)), L.MaxPooling2D()])
    got = mp.predict(x)
    want = x[:, :6, :4].reshape(2, 3, 2, 2, 2, 3).max(axis=(2, 4))
    np.testing.assert_array_equal(got, want)
    # "same" average pooling does not count the padding (Keras)
    ap = keras.Sequential([keras.Input((6, 5, 3)), L.AveragePooling2D(pool_size=2, padding="same")])
    got = ap.predict(x)
    assert got.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(got[:, :, 2], x[:, :, 4].reshape(2, 3, 2, 3).mean(axis=2), rtol=1e-6)
    gp = keras.Sequential([keras.Input((6, 5, 3)), L.GlobalAveragePooling2D()])
    np.testing.assert_allclose(gp.predict(x), x.mean(axis=(1, 2)), rtol=1e-5)
    seq = rng.standard_normal((2, 9, 4)).astype(np.float32)
    m1 = keras.Sequential([keras.Input((9, 4)), L.MaxPooling1D(3), L.GlobalAveragePooling1D()])
    np.testing.assert_allclose(m1.predict(seq), seq.reshape(2, 3, 3, 4).max(axis=2).mean(axis=1), rtol=1e-5)


def test_conv1d_matches_the_definition():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 10, 3))
    m = keras.Sequential([L.Conv1D(5, 4, strides=2, input_shape=(10, 3))], seed=0)
    w = np_weights(m)
    assert w["conv1d/kernel"].shape == (4, 3, 5)
    win = np.lib.stride_tricks.sliding_window_view(x, 4, axis=1)[:, ::2]  # N, L', C, k
    want = np.einsum("nlck,kco->nlo", win, w["conv1d/kernel"]) + w["conv1d/bias"]
    np.testing.assert_allclose(m.predict(x), want, rtol=1e-5, atol=1e-5)


def test_batch_normalization_fit_updates_moving_statistics_and_predict_uses_them():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((64, 4)) * 3 + 5).astype(np.float32)
    y = rng.standard_normal((64, 4)).astype(np.float32)
    m = keras.Sequential([keras.Input((4,)), L.BatchNormalization(momentum=0.9)], seed=0)
    m.compile(optimizer=keras.optimizers.SGD(1e-30), loss="mse")
    names = [n for n, _ in m.weights]
    assert names == ["batch_normalization/gamma", "batch_normalization/beta",
                     "batch_normalization/moving_mean", "batch_normalization/moving_variance"]
    assert m.count_params() == 16
    # one full batch, a learning rate too small to move a weight: only the moving statistics change
    m.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
    w = np_weights(m)
    np.testing.assert_allclose(w["batch_normalization/moving_mean"], 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(w["batch_normalization/moving_variance"], 0.9 + 0.1 * x.var(0), rtol=1e-5)
    # predict normalises with the moving statistics (epsilon 1e-3), not the batch's
    want = (x - w["batch_normalization/moving_mean"]) / np.sqrt(w["batch_normalization/moving_variance"] + 1e-3)
    np.testing.assert_allclose(m.predict(x), want, rtol=1e-4, atol=1e-4)
    lines = []
    m.summary(print_fn=lines.append)
    assert "Trainable params: 8" in lines[0] and "Non-trainable params: 8" in lines[0]


def test_layer_normalization_embedding_reshape_activation():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    ln = keras.Sequential([keras.Input((6,)), L.LayerNormalization()])
    want = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(ln.predict(x), want, rtol=1e-5, atol=1e-5)
    ids = np.array([[1, 0, 3], [2, 2, 9]])
    em = keras.Sequential([L.Embedding(10, 4, input_length=3)], seed=0)
    table = np_weights(em)["embedding/embeddings"]
    assert table.shape == (10, 4) and np.abs(table).max() <= 0.05
    np.testing.assert_array_equal(em.predict(ids), table[ids])
    with pytest.raises(ValueError, match="id 10"):
        em.predict(np.array([[1, 10, 2]]))
    rs = keras.Sequential([keras.Input((6,)), L.Reshape((3, -1)), L.Activation("relu")])
    np.testing.assert_array_equal(rs.predict(x), np.maximum(x.reshape(5, 3, 2), 0))
    assert rs.output_shape == (None, 3, 2)
    with pytest.raises(cn.ShapeError, match="cannot be reshaped"):
        keras.Sequential([keras.Input((6,)), L.Reshape((4, -1))]).predict(x)


def test_softmax_activation_layer_is_fused_with_the_loss_like_a_dense_activation():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((200, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    a = keras.Sequential([keras.Input((8,)), L.Dense(3), L.Activation("softmax")], seed=3)
    b = keras.Sequential([keras.Input((8,)), L.Dense(3, activation="softmax")], seed=3)
    for m in (a, b):
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ha = a.fit(x, y, epochs=3, verbose=0, seed=1)
    hb = b.fit(x, y, epochs=3, verbose=0, seed=1)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(a.predict(x).sum(1), 1.0, rtol=1e-5)


def test_layer_errors_name_the_fix():
    with pytest.raises(cn.ShapeError, match="Conv2D takes"):
        keras.Sequential([keras.Input((8, 8)), L.Conv2D(4, 3)]).build((8, 8))
    with pytest.raises(ValueError, match="padding"):
        L.Conv2D(4, 3, padding="full")
    with pytest.raises(ValueError, match="channels_last"):
        L.Conv2D(4, 3, data_format="channels_first")
    with pytest.raises(TypeError, match="unsupported arguments"):
        L.Conv2D(4, 3, groups=2)
    with pytest.raises(ValueError, match="kernel_size"):
        L.Conv2D(4, (3, 3, 3))
    with pytest.raises(ValueError, match="axis=-1"):
        L.BatchNormalization(axis=1)


def small_task(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)
    return x, y


def small_model(seed=0):
    m = keras.Sequential([keras.Input((6,)), L.Dense(8, activation="relu"), L.Dense(1, activation="sigmoid")], seed=seed)
    m.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    return m


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append("begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"e{epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"end{epoch}:{sorted(logs)}")
        logs["custom"] = epoch * 10.0

    def on_train_end(self, logs=None):
        self.events.append("end")


def test_python_callbacks_are_called_in_order_and_can_add_logs_and_stop():
    x, y = small_task()
    m = small_model()
    r = Recorder()
    h = m.fit(x, y, epochs=2, verbose=0, callbacks=[r], validation_split=0.25)
    assert r.events == ["begin", "e0", "end0:['accuracy', 'loss', 'val_accuracy', 'val_loss']", "e1",
                        "end1:['accuracy', 'loss', 'val_accuracy', 'val_loss']", "end"]
    assert h.history["custom"] == [0.0, 10.0]
    assert r.model is m

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    h = small_model().fit(x, y, epochs=10, verbose=0, callbacks=[Stop()])
    assert h.epoch == [0, 1]

    class Batches(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_train_batch_end(self, batch, logs=None):
            self.seen.append((batch, round(logs["loss"], 6) > 0))

    b = Batches()
    small_model().fit(x, y, epochs=1, batch_size=100, verbose=0, callbacks=[b])
    assert b.seen == [(0, True), (1, True), (2, True), (3, True)]

    class OldName(keras.callbacks.Callback):  # Keras's older hook name still works
        def __init__(self):
            super().__init__()
            self.batches = []

        def on_batch_end(self, batch, logs=None):
            self.batches.append(batch)

    o = OldName()
    small_model().fit(x, y, epochs=1, batch_size=200, verbose=0, callbacks=[o])
    assert o.batches == [0, 1]


def test_a_callbacks_exception_propagates_unchanged():
    class Boom(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyError("boom at epoch end")

    x, y = small_task()
    with pytest.raises(KeyError, match="boom at epoch end"):
        small_model().fit(x, y, epochs=2, verbose=0, callbacks=[Boom()])


def test_early_stopping_stops_and_restores_the_best_weights():
    x, y = small_task()
    m = small_model()
    snapshots = []

    class Snap(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(logs["val_loss"])

    # a learning rate so large that the validation loss soon stops improving
    m.compile(optimizer=keras.optimizers.SGD(5.0), loss="binary_crossentropy")
    es = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = m.fit(x[:300], y[:300], epochs=40, verbose=0, callbacks=[Snap(), es], validation_data=(x[300:], y[300:]))
    losses = h.history["val_loss"]
    best = int(np.argmin(losses))
    assert es.best_epoch == best
    assert len(losses) == best + 3 and es.stopped_epoch == best + 2
    # the restored weights give the best epoch's validation loss
    restored = m.evaluate(x[300:], y[300:], verbose=0)
    assert restored == pytest.approx(losses[best], rel=1e-5)


def test_reduce_lr_on_plateau_and_scheduler_record_the_rate():
    x, y = small_task()
    m = small_model()
    sched = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.01 if epoch < 2 else lr * 0.5)
    h = m.fit(x, y, epochs=4, verbose=0, callbacks=[sched])
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005, 0.0025])
    m2 = small_model()
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0)
    h = m2.fit(x, y, epochs=4, verbose=0, callbacks=[plateau])
    # min_delta 10: no epoch improves on the first, so each epoch after it halves the rate
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005, 0.0025])
    with pytest.raises(ValueError, match="factor"):
        keras.callbacks.ReduceLROnPlateau(factor=1.5)
    with pytest.raises(ValueError, match="val_loss"):
        small_model().fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.EarlyStopping()])


def test_model_checkpoint_and_load_model_give_identical_predictions(tmp_path):
    x, y = small_task()
    m = small_model()
    ck = keras.callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}-{val_loss:.3f}.safetensors"),
                                         save_best_only=False)
    m.fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[ck])
    assert len(ck.saved) == 3 and all(p.startswith(str(tmp_path / "m-0")) for p in ck.saved)
    last = keras.models.load_model(ck.saved[-1])
    np.testing.assert_array_equal(last.predict(x), m.predict(x))
    assert [type(layer).__name__ for layer in last.layers] == ["Dense", "Dense"]
    # the loaded model is compiled as the original was and trains on
    assert last.evaluate(x, y, verbose=0) == pytest.approx(m.evaluate(x, y, verbose=0), rel=1e-6)
    last.fit(x, y, epochs=1, verbose=0)
    # the file is plain safetensors with the architecture in its metadata
    meta = cn.safetensors_metadata(ck.saved[-1])
    arch = json.loads(meta["candle_numpy.keras"])
    assert [layer["class_name"] for layer in arch["layers"]] == ["Dense", "Dense"]
    assert sorted(cn.load_safetensors(ck.saved[-1])) == ["dense/bias", "dense/kernel", "dense_1/bias", "dense_1/kernel"]
    # weights-only files cannot be loaded as models, and say why
    m.save_weights(tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="load_weights"):
        keras.models.load_model(tmp_path / "w.safetensors")


def test_cnn_with_batch_norm_round_trips_through_save(tmp_path):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((32, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    m = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, padding="same", activation="relu"),
                          L.BatchNormalization(), L.MaxPooling2D(), L.Flatten(), L.Dropout(0.2),
                          L.Dense(3, activation="softmax")], seed=2)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=2, verbose=0)
    m.save(tmp_path / "cnn.safetensors")
    back = keras.models.load_model(tmp_path / "cnn.safetensors")
    np.testing.assert_array_equal(back.predict(x), m.predict(x))
    assert back.get_config() == m.get_config()
    assert back.count_params() == m.count_params()


def test_sample_and_class_weights_weight_the_loss():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (rng.random(64) > 0.5).astype(np.float32)
    w = rng.random(64).astype(np.float32) * 2

    def run(**kw):
        m = keras.Sequential([keras.Input((3,)), L.Dense(1, activation="sigmoid")], seed=5)
        m.compile(optimizer=keras.optimizers.SGD(1e-30), loss="binary_crossentropy")
        p = m.predict(x)[:, 0]
        h = m.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False, **kw)
        per = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        return h.history["loss"][0], per

    plain, per = run()
    assert plain == pytest.approx(per.mean(), rel=1e-5)
    weighted, _ = run(sample_weight=w)
    assert weighted == pytest.approx((w * per).mean(), rel=1e-5)
    by_class, _ = run(class_weight={0: 1.0, 1: 3.0})
    assert by_class == pytest.approx((np.where(y == 1, 3.0, 1.0) * per).mean(), rel=1e-5)
    with pytest.raises(cn.ShapeError, match="one weight per sample"):
        run(sample_weight=w[:10])
