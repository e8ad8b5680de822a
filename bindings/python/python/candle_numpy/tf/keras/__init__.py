"""``cn.tf.keras``: Keras's ``Sequential`` API over candle-nn, with the training loop in Rust.

The seed's snippet runs as it is::

    model = cn.tf.keras.Sequential([
        cn.tf.keras.layers.Dense(16, activation="relu", input_shape=(10,)),
        cn.tf.keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(X, y, epochs=5, batch_size=32)

``fit``, ``evaluate`` and ``predict`` take NumPy arrays (shared, not copied, where the dtype
allows), ``cn`` tensors, or a ``cn.tf.data.Dataset`` of ``(x, y)`` batches, and run without
the GIL. Losses are computed from logits where the last activation is sigmoid or softmax, so
saturated outputs give no NaN. ``seed=`` (on ``Sequential`` or ``fit``) makes runs
reproducible. ``dtype_policy="mixed_float16" | "mixed_bfloat16"`` trains with f32 master
weights (loss scaling for float16); it pays off on CUDA, not on the CPU.
"""

import json as _json

from ... import _native
from . import callbacks, layers, optimizers

# fit's `callbacks` argument shadows the module inside it
_Callback = callbacks.Callback

__all__ = ["History", "Input", "Sequential", "callbacks", "layers", "models", "optimizers"]


class History:
    """What ``fit`` returns: ``history`` maps ``"loss"``, each metric and ``"val_*"`` to one
    value per epoch; ``epoch`` lists the epochs; ``params`` says what the run covered."""

    def __init__(self, history, epoch, params, model=None):
        self.history = history
        self.epoch = epoch
        self.params = params
        self.model = model

    def __repr__(self):
        last = ", ".join(f"{k}={v[-1]:.4f}" for k, v in self.history.items() if v)
        return f"<History {len(self.epoch)} epochs: {last}>"


def Input(shape):  # noqa: N802 - Keras's spelling
    """``keras.Input(shape=(10,))`` as the first element of ``Sequential([...])``."""
    return layers._InputSpec(tuple(shape))


class Sequential:
    """A stack of layers (``keras.Sequential``). ``seed`` fixes weight initialisation and
    dropout; ``dtype_policy`` is "float32" (default), "mixed_float16" or "mixed_bfloat16"."""

    def __init__(self, layers=None, seed=None, dtype_policy=None):
        layers = list(layers or [])
        input_shape = None
        if layers and isinstance(layers[0], _layers_input()):
            input_shape = layers.pop(0).shape
        specs = [_spec(layer) for layer in layers]
        if input_shape is not None:
            if not specs:
                raise ValueError("Sequential([Input(...)]) needs at least one layer after the Input")
            input_shape = tuple(int(d) for d in input_shape if d is not None)
        self._native = _native.KerasSequential(
            specs, seed=seed, dtype_policy=dtype_policy,
            input_shape=None if input_shape is None else list(input_shape),
        )
        self.layers = layers
        self._first_shape = input_shape

    def _ensure_built(self):
        # Keras builds a model whose first layer knows its input shape as soon as it is needed;
        # layers may still be added until then
        if self._native.built:
            return
        shape = self._first_shape
        if shape is None and self.layers and getattr(self.layers[0], "input_shape", None):
            shape = self.layers[0].input_shape
        if shape is not None:
            self._native.build([d for d in shape if d is not None])

    def add(self, layer):
        """Append a layer (before the model is built)."""
        self._native.add(_spec(layer))
        self.layers.append(layer)

    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (with or without the batch axis
        as ``None``)."""
        shape = [d for d in input_shape if d is not None]
        self._native.build(shape)

    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """``optimizer``: "adam" | "sgd" | "adamw" or a ``cn.tf.keras.optimizers`` object;
        ``loss``: "binary_crossentropy" | "categorical_crossentropy" |
        "sparse_categorical_crossentropy" | "mse" | "mae"; ``metrics``: e.g. ["accuracy"]."""
        if loss is None:
            raise ValueError(
                "compile() needs a loss: binary_crossentropy, categorical_crossentropy, "
                "sparse_categorical_crossentropy, mse or mae"
            )
        if isinstance(optimizer, optimizers.Optimizer):
            optimizer = optimizer._spec()
        self._native.compile(optimizer, loss, list(metrics or []))

    def fit(self, x, y=None, epochs=1, batch_size=None, verbose="auto", callbacks=None, shuffle=True,
            validation_data=None, validation_split=0.0, seed=None, sample_weight=None, class_weight=None):
        """Train; returns a ``History``. ``verbose``: 0 silent, 1 progress bar, 2 a line per
        epoch ("auto" is 1). ``callbacks``: ``cn.tf.keras.callbacks`` objects (EarlyStopping,
        ReduceLROnPlateau, LearningRateScheduler, ModelCheckpoint, ``Callback`` subclasses).
        ``sample_weight``: one weight per sample; ``class_weight``: ``{class_index: weight}``;
        both weight the loss as Keras's (``sum(w * loss) / batch_size``), not the metrics."""
        verbose = 1 if verbose == "auto" else int(verbose)
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val)")
            validation_data = tuple(validation_data)
        specs = []
        for cb in callbacks or []:
            if not isinstance(cb, _Callback):
                raise TypeError(f"callbacks must be cn.tf.keras.callbacks.Callback objects, got {type(cb).__name__}")
            cb.set_model(self)
            specs.append(cb._spec())
        if class_weight is not None:
            if not isinstance(class_weight, dict):
                raise TypeError("class_weight must be a dict {class_index: weight}")
            class_weight = {int(k): float(v) for k, v in class_weight.items()}
        self.stop_training = False
        h, epoch, params = self._native.fit(
            x, y, epochs=int(epochs), batch_size=_batch_size(batch_size, 32),
            shuffle=bool(shuffle), validation_data=validation_data,
            validation_split=float(validation_split), verbose=verbose, seed=seed,
            callbacks=specs, sample_weight=sample_weight, class_weight=class_weight, model=self,
        )
        self.history = History(h, epoch, params, self)
        return self.history

    def evaluate(self, x, y, batch_size=None, verbose=0, return_dict=False):
        """The loss (and metrics) on ``(x, y)``: a list ``[loss, metric, ...]`` as Keras, or a
        dict with ``return_dict=True``; a single metric-free loss comes back as a float."""
        result = self._native.evaluate(x, y, _batch_size(batch_size, None))
        if return_dict:
            return result
        values = [result["loss"]] + [v for k, v in result.items() if k != "loss"]
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose=0):
        """The outputs (probabilities after sigmoid/softmax) as a NumPy array."""
        return self._native.predict(x, _batch_size(batch_size, None)).numpy()

    def train_on_batch(self, x, y):
        """One gradient step on ``(x, y)``; returns the batch's loss and metrics as a dict."""
        return self._native.train_on_batch(x, y)

    def summary(self, print_fn=print):
        """Print the layer table (output shapes, parameter counts)."""
        self._ensure_built()
        print_fn(self._native.summary())

    def count_params(self):
        """The number of weights (every element of every kernel and bias). Builds the model
        first when its input shape is known; raises ``cn.ShapeError`` when it is not."""
        self._ensure_built()
        return self._native.count_params()

    def save_weights(self, filepath):
        """Write the weights as safetensors."""
        self._ensure_built()
        self._native.save_weights(str(filepath))

    def save(self, filepath):
        """The whole model in one safetensors file: the weights, and the architecture and
        compile arguments as JSON in its metadata (``cn.tf.keras.models.load_model`` reads it
        back; any safetensors reader sees the weights). The optimizer state is not saved."""
        self._ensure_built()
        self._native.save(str(filepath))

    @classmethod
    def _from_native(cls, native):
        model = cls.__new__(cls)
        model._native = native
        model.layers = [getattr(layers, name).from_config(_json.loads(config))
                        for name, config in native.layer_configs()]
        model._first_shape = None
        return model

    def get_config(self):
        """Keras's model config: the layers' ``{"class_name", "config"}`` in order."""
        return {"layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self.layers]}

    def load_weights(self, filepath):
        """Read weights written by ``save_weights`` (names and shapes must match)."""
        self._ensure_built()
        self._native.load_weights(str(filepath))

    def get_weights(self):
        """The weights as NumPy arrays (copies), in layer order."""
        self._ensure_built()
        return [t.numpy().copy() for _, t in self._native.get_weights()]

    @property
    def weights(self):
        """``(name, tensor)`` pairs."""
        self._ensure_built()
        return self._native.get_weights()

    @property
    def input_shape(self):
        """The input shape with the batch axis as ``None``, e.g. ``(None, 784)``; ``None``
        until known (from ``Input``/``input_shape=``, ``build`` or a first ``fit``/``predict``)."""
        s = self._native.input_shape
        return None if s is None else (None, *s)

    @property
    def output_shape(self):
        """The output shape with the batch axis as ``None``, e.g. ``(None, 10)``. Needs the
        weights (see ``built``): raises ``cn.ShapeError`` before the model is built."""
        return (None, *self._native.output_shape)

    @property
    def built(self):
        """Whether the weights exist: after ``build``, a first ``fit``/``predict``/``evaluate``,
        or a call that needs them (``summary``, ``count_params``, ...) once the input shape is
        known."""
        return self._native.built

    @property
    def dtype_policy(self):
        """The dtype policy's name: "float32", "mixed_float16" or "mixed_bfloat16"."""
        return self._native.dtype_policy


def _batch_size(batch_size, default):
    """A ``batch_size`` argument: at least 1; any larger size is one batch of all the data
    (as Keras), so sizes past 2**63 are the same batch."""
    if batch_size is None:
        return default
    n = int(batch_size)
    if n < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return min(n, 2**63)


def _layers_input():
    return layers._InputSpec


def _spec(layer):
    if not isinstance(layer, layers.Layer):
        raise TypeError(
            f"Sequential takes cn.tf.keras.layers (Dense, Conv2D, ...), got {type(layer).__name__}"
        )
    return layer._spec()


from . import models  # noqa: E402  (models.load_model builds Sequential)
