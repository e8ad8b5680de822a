"""cn.tf.keras: the seed's Keras snippet, History, validation, reproducibility, weights files,
errors naming the valid choices."""

import numpy as np
import pytest

import candle_numpy as cn

tf = cn.tf
keras = cn.tf.keras


def task(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 10))
    y = (X[:, 0] + X[:, 1] > 1).astype(np.int64)
    return X, y


def seed_model(**kw):
    model = keras.Sequential([
        keras.layers.Dense(16, activation="relu", input_shape=(10,)),
        keras.layers.Dense(1, activation="sigmoid"),
    ], **kw)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_the_seeds_keras_snippet_learns_the_task():
    X, y = task()
    X_tensor = tf.convert_to_tensor(X, dtype=tf.float32)
    y_tensor = tf.convert_to_tensor(y, dtype=tf.int32)
    model = keras.Sequential([
        keras.layers.Dense(16, activation="relu", input_shape=(10,)),
        keras.layers.Dense(1, activation="sigmoid"),
    ], seed=0)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(X_tensor, y_tensor, epochs=30, batch_size=32, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss"]
    assert len(history.history["loss"]) == 30 and history.epoch == list(range(30))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] >= 0.9
    loss, acc = model.evaluate(X, y)
    assert acc >= 0.9 and np.isfinite(loss)
    p = model.predict(X[:5])
    assert isinstance(p, np.ndarray) and p.shape == (5, 1) and ((p > 0) & (p < 1)).all()


def test_validation_split_and_data_give_val_keys():
    X, y = task()
    model = seed_model(seed=1)
    h = model.fit(X, y, epochs=3, validation_split=0.2, verbose=0)
    assert sorted(h.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 3 for v in h.history.values())
    assert h.params["validation_samples"] == 200 and h.params["samples"] == 800
    assert h.params["steps"] == 25  # 800 / 32
    h = model.fit(X, y, epochs=2, validation_data=(X[:100], y[:100]), verbose=0)
    assert h.params["validation_samples"] == 100 and len(h.history["val_loss"]) == 2


def test_seeded_runs_are_reproducible():
    X, y = task()
    a = seed_model(seed=7).fit(X, y, epochs=2, verbose=0, seed=3).history
    b = seed_model(seed=7).fit(X, y, epochs=2, verbose=0, seed=3).history
    c = seed_model(seed=8).fit(X, y, epochs=2, verbose=0, seed=3).history
    assert a == b and a != c


def test_save_and_load_weights_round_trip(tmp_path):
    X, y = task()
    model = seed_model(seed=2)
    model.fit(X, y, epochs=2, verbose=0)
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    other = seed_model(seed=99)
    assert not np.array_equal(other.predict(X), model.predict(X))
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(X), model.predict(X))
    assert [w.shape for w in model.get_weights()] == [(10, 16), (16,), (16, 1), (1,)]
    wrong = keras.Sequential([keras.layers.Dense(8, input_shape=(10,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="w.safetensors"):
        wrong.load_weights(path)


def test_layers_can_be_added_until_the_model_is_used():
    model = keras.Sequential([keras.layers.Dense(16, activation="relu", input_shape=(10,))], seed=0)
    model.add(keras.layers.Dense(1, activation="sigmoid"))
    assert model.count_params() == 10 * 16 + 16 + 16 + 1
    assert model.output_shape == (None, 1)
    with pytest.raises(ValueError):
        model.add(keras.layers.Dense(1))


def test_dataset_input_dropout_flatten_and_softmax():
    rng = np.random.default_rng(0)
    X = rng.random((600, 2, 3)).astype(np.float32)
    y = X.reshape(600, 6)[:, :3].argmax(1)
    ds = cn.tf.data.Dataset.from_tensor_slices((X, y)).shuffle(600, seed=0).batch(32)
    model = keras.Sequential([
        keras.Input(shape=(2, 3)),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dropout(0.1),
        keras.layers.Dense(3, activation="softmax"),
    ], seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(ds, epochs=25, verbose=0)
    assert h.history["accuracy"][-1] > 0.85
    p = model.predict(X[:4])
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)
    with pytest.raises(ValueError, match="y must be None"):
        model.fit(ds, y, verbose=0)


def test_bad_arguments_name_the_valid_choices():
    X, y = task(100)
    model = keras.Sequential([keras.layers.Dense(1, activation="sigmoid", input_shape=(10,))])
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(X, y, verbose=0)
    with pytest.raises(ValueError, match="binary_crossentropy"):
        model.compile(optimizer="adam", loss="hinge")
    with pytest.raises(ValueError, match="adam.*sgd.*adamw"):
        model.compile(optimizer="rmsprop", loss="mse")
    with pytest.raises(ValueError, match="relu"):
        keras.Sequential([keras.layers.Dense(4, activation="swish", input_shape=(10,))])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    with pytest.raises(ValueError, match="100.*99|99.*100"):
        model.fit(X, y[:99], verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(X, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(X, y, validation_split=1.0, verbose=0)
    with pytest.raises(ValueError, match="rate"):
        keras.layers.Dropout(1.5) and keras.Sequential([keras.layers.Dropout(1.5)])
    unbuilt = keras.Sequential([keras.layers.Dense(4)])
    with pytest.raises(ValueError, match="input_shape"):
        unbuilt.summary()


def test_mixed_bfloat16_policy_trains_on_cpu():
    X, y = task()
    model = seed_model(seed=0, dtype_policy="mixed_bfloat16")
    assert model.dtype_policy == "mixed_bfloat16"
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    h = model.fit(X, y, epochs=20, verbose=0)
    assert h.history["accuracy"][-1] >= 0.85
    with pytest.raises(ValueError, match="mixed_float16"):
        seed_model(dtype_policy="float8")
