"""The seed's Keras snippet, run against candle_numpy (candle-nn underneath).

    python examples/python/train_keras.py
"""

import numpy as np

import candle_numpy as cn

tf = cn.tf  # the seed writes `import tensorflow as tf`

# Data as the seed prepares it: features in [0, 1), a label the model can learn
rng = np.random.default_rng(0)
X = rng.random((1000, 10))
y = (X[:, 0] + X[:, 1] > 1).astype(np.int64)

X_tensor = tf.convert_to_tensor(X, dtype=tf.float32)
y_tensor = tf.convert_to_tensor(y, dtype=tf.int32)

# Define a simple model
model = tf.keras.Sequential([
    tf.keras.layers.Dense(16, activation='relu', input_shape=(10,)),
    tf.keras.layers.Dense(1, activation='sigmoid')
], seed=0)

model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])

# Train the model (the seed's 5 epochs, then more to show it converge)
history = model.fit(X_tensor, y_tensor, epochs=5, batch_size=32)
print("history:", {k: [round(v, 4) for v in vs] for k, vs in history.history.items()})
history = model.fit(X_tensor, y_tensor, epochs=45, batch_size=32, verbose=0)
loss, accuracy = model.evaluate(X_tensor, y_tensor)
print(f"after 50 epochs: loss {loss:.4f}, accuracy {accuracy:.3f}")
