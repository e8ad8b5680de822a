"""``cn.tf.keras.optimizers``: ``Adam``, ``AdamW``, ``SGD`` with Keras's defaults, run by
candle-nn's optimizers (SGD momentum added, as candle-nn has none)."""

__all__ = ["Adam", "AdamW", "Optimizer", "SGD"]


class Optimizer:
    """Base class: an optimizer configuration handed to ``compile``."""

    def __init__(self, kind, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=0.0, momentum=0.0, nesterov=False):
        self.kind = kind
        self.learning_rate = float(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.weight_decay, self.momentum, self.nesterov = float(weight_decay), float(momentum), bool(nesterov)

    def _spec(self):
        return (self.kind, self.learning_rate, self.beta_1, self.beta_2, self.epsilon,
                self.weight_decay, self.momentum, self.nesterov)

    def __repr__(self):
        return f"{type(self).__name__}(learning_rate={self.learning_rate})"


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__("adam", learning_rate, beta_1, beta_2, epsilon)


class AdamW(Optimizer):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__("adamw", learning_rate, beta_1, beta_2, epsilon, weight_decay=weight_decay)


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        super().__init__("sgd", learning_rate, momentum=momentum, nesterov=nesterov)
