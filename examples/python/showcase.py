"""The candle_numpy Python showcase: the seed articles' conversions, with candle underneath.

    make demo      (builds the wheel into .venv and runs this)
"""

import numpy as np

import candle_numpy as cn


def ptr(a):
    return a.__array_interface__["data"][0]


print("== candle_numpy showcase ==\n")

# 1. torch.from_numpy: shares memory both ways
a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
t = cn.from_numpy(a)
print("1. from_numpy:", t)
print("   shares memory:", cn.shares_memory(a, t), "| same address:", ptr(t.numpy()) == ptr(a))
np.add(a, 10, out=a)
print("   after np.add(a, 10, out=a) the tensor reads", t.numpy()[0].tolist())
t.mul_(2)
print("   after t.mul_(2) the array reads", a[0].tolist())

# 2. torch.tensor: always a copy; dtype inference as torch
c = cn.tensor(a)
a[0, 0] = -1
print("\n2. tensor(a) is independent:", c.tolist()[0][0], "!=", a[0, 0])
print("   lists infer like torch: [1.5, 2] ->", cn.tensor([1.5, 2]).dtype, "| [1, 2] ->", cn.tensor([1, 2]).dtype)

# 3. .numpy() is a view; np.asarray too
v = c.numpy()
v[1, 1] = 99
print("\n3. t.numpy() is a writable view:", c.tolist()[1][1] == 99.0)

# 4. as_tensor shares when it can, copies when it must
f = np.asfortranarray(np.arange(6.0).reshape(2, 3))
print("\n4. as_tensor(Fortran array) shares:", cn.shares_memory(f, cn.as_tensor(f)))
r = np.arange(6.0)[::-1]
print("   as_tensor(a[::-1]) copies:", not cn.shares_memory(r, cn.as_tensor(r)))

# 5. dtype handling
print("\n5. float64 stays float64:", cn.tensor(np.zeros(2)).dtype,
      "| int8 widens on copy:", cn.tensor(np.zeros(2, np.int8)).dtype,
      "| cast on request:", cn.tensor(np.zeros(2), dtype="bfloat16").dtype)

# 6. errors say what and how to fix
for label, call in [
    ("from_numpy(a[::-1])", lambda: cn.from_numpy(np.arange(4.0)[::-1])),
    ("from_numpy(int8 array)", lambda: cn.from_numpy(np.zeros(3, np.int8))),
    ("from_numpy(complex array)", lambda: cn.from_numpy(np.zeros(3, np.complex64))),
    ("tensor(ragged list)", lambda: cn.tensor([[1, 2], [3]])),
]:
    try:
        call()
    except cn.CandleNumpyError as e:
        print(f"\n6. {label} -> {type(e).__name__}: {e}")
    except (TypeError, ValueError) as e:
        print(f"\n6. {label} -> {type(e).__name__}: {e}")

# 7. the seed's Keras training snippet on candle-nn (the loop runs in Rust, without the GIL)
rng = np.random.default_rng(0)
X = rng.random((1000, 10))
y = (X[:, 0] + X[:, 1] > 1).astype(np.int64)
tf = cn.tf
model = tf.keras.Sequential([
    tf.keras.layers.Dense(16, activation="relu", input_shape=(10,)),
    tf.keras.layers.Dense(1, activation="sigmoid"),
], seed=0)
model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
              metrics=["accuracy"])
history = model.fit(tf.convert_to_tensor(X, dtype=tf.float32), y, epochs=10, batch_size=32, verbose=0)
print("\n7. Keras-style fit, 10 epochs of the seed's model; history:")
for key, values in history.history.items():
    print(f"   {key:9s}", " ".join(f"{v:.3f}" for v in values))

# 8. pairwise distances, exact where torch's cancel
far = np.array([[512695.0], [512804.0]], np.float32)
print("\n8. cdist of 512695 and 512804 (float32):", cn.cdist(far, far)[0, 1].item(), "(torch 2.15 gives 0.0 on its matmul path, which it takes above 25 rows)")

print("\nDone.")
