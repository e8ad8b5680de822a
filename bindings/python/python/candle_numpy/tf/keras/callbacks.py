"""``cn.tf.keras.callbacks``: hooks ``fit`` calls from its Rust loop.

The built-ins are the engine's (``candle_numpy::train::callbacks``), with Keras 3's semantics
and defaults: ``EarlyStopping``, ``ReduceLROnPlateau``, ``LearningRateScheduler``,
``ModelCheckpoint`` (safetensors files). Subclass ``Callback`` for your own: ``fit`` calls its
``on_train_begin``, ``on_epoch_begin``, ``on_train_batch_end`` (or its older name
``on_batch_end``; only when overridden: the batch's running loss and metrics are then computed
every step), ``on_epoch_end`` (entries added
to ``logs`` go into the History) and ``on_train_end``; setting ``self.model.stop_training =
True`` stops after the current epoch. During ``fit`` the model's own methods (``predict``,
``get_weights``, ...) are busy and raise ``RuntimeError``; read what you need from ``logs``.
"""

import json as _json

__all__ = ["Callback", "EarlyStopping", "LearningRateScheduler", "ModelCheckpoint", "ReduceLROnPlateau"]


class Callback:
    """Base class of callbacks (``keras.callbacks.Callback``); every hook does nothing."""

    def __init__(self):
        self.model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_batch_end(self, batch, logs=None):
        """Keras's older name of ``on_train_batch_end`` (which calls it)."""

    def _spec(self):
        cls = type(self)
        overrides = (cls.on_train_batch_end is not Callback.on_train_batch_end
                     or cls.on_batch_end is not Callback.on_batch_end)
        return ("Callback", _json.dumps({"on_train_batch_end": overrides}), self)


def _mode(mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


class _Builtin(Callback):
    _kind = None

    def _spec(self):
        return (self._kind, _json.dumps(self._config), self)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._config.items())})"


class EarlyStopping(_Builtin):
    """``EarlyStopping(monitor="val_loss", min_delta=0, patience=0, mode="auto",
    baseline=None, restore_best_weights=False, start_from_epoch=0)``. After ``fit``,
    ``stopped_epoch`` (0 when it did not stop) and ``best_epoch`` are set, as Keras's."""

    _kind = "EarlyStopping"

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        if int(patience) < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        self._config = {
            "monitor": str(monitor), "min_delta": abs(float(min_delta)), "patience": int(patience),
            "mode": _mode(mode), "baseline": None if baseline is None else float(baseline),
            "restore_best_weights": bool(restore_best_weights), "start_from_epoch": int(start_from_epoch),
        }
        self.monitor, self.patience = self._config["monitor"], self._config["patience"]
        self.restore_best_weights = self._config["restore_best_weights"]
        self.verbose = verbose
        self.stopped_epoch = 0
        self.best_epoch = 0


class ReduceLROnPlateau(_Builtin):
    """``ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=10, mode="auto",
    min_delta=1e-4, cooldown=0, min_lr=0.0)``; adds ``learning_rate`` to the logs."""

    _kind = "ReduceLROnPlateau"

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if not 0.0 <= float(factor) < 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0, got {factor}")
        self._config = {
            "monitor": str(monitor), "factor": float(factor), "patience": int(patience), "mode": _mode(mode),
            "min_delta": float(min_delta), "cooldown": int(cooldown), "min_lr": float(min_lr),
        }
        self.verbose = verbose


class LearningRateScheduler(_Builtin):
    """``LearningRateScheduler(schedule)``: ``schedule(epoch, lr)`` (or ``schedule(epoch)``)
    gives each epoch's learning rate; adds ``learning_rate`` to the logs."""

    _kind = "LearningRateScheduler"

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule must be callable, got {type(schedule).__name__}")
        self.schedule = schedule
        self.verbose = verbose
        self._config = {}


class ModelCheckpoint(_Builtin):
    """``ModelCheckpoint(filepath, monitor="val_loss", save_best_only=False,
    save_weights_only=False, mode="auto")``: ``filepath`` may use ``{epoch:02d}`` and log
    entries (``{val_loss:.4f}``); files are safetensors (``model.save`` /
    ``model.save_weights``), readable by ``cn.tf.keras.models.load_model``. After ``fit``,
    ``saved`` lists the files written."""

    _kind = "ModelCheckpoint"

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch"):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError("ModelCheckpoint: only save_freq='epoch' is supported")
        self.filepath = str(filepath)
        self._config = {
            "filepath": self.filepath, "monitor": str(monitor), "save_best_only": bool(save_best_only),
            "save_weights_only": bool(save_weights_only), "mode": _mode(mode),
        }
        self.verbose = verbose
        self.saved = []
