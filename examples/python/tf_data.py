"""The seed's tf.data snippets, ported line for line to candle_numpy.

    python examples/python/tf_data.py
"""

import numpy as np

import candle_numpy as cn

tf = cn.tf  # the only change: `import tensorflow as tf` becomes this

# Create sample data
X = np.random.rand(100, 10)
y = np.random.randint(0, 2, 100)

# Create a Dataset
dataset = tf.data.Dataset.from_tensor_slices((X, y))
dataset = dataset.batch(32).shuffle(buffer_size=100)

# Iterate over batches
for batch_X, batch_y in dataset.take(1):
    print(batch_X.shape, batch_y.shape)  # (32, 10) (32,)

# The batch-32, shuffle-100, prefetch-AUTOTUNE pipeline
pipeline = tf.data.Dataset.from_tensor_slices((X, y)).shuffle(100).batch(32).prefetch(tf.data.AUTOTUNE)
print("batches:", len(pipeline), "| first batch shapes:", [t.shape for t in next(iter(pipeline))])
