"""The seed's PyTorch DataLoader snippet, ported line for line to candle_numpy.

    python examples/python/dataloader.py
"""

import numpy as np

import candle_numpy as cn

torch = cn.torch  # the only change: `import torch` becomes this

# Create sample data
X = np.random.rand(100, 10)
y = np.random.randint(0, 2, 100)

# Convert to tensors
X_tensor = torch.from_numpy(X).float()
y_tensor = torch.from_numpy(y).long()

# Create a Dataset
dataset = torch.utils.data.TensorDataset(X_tensor, y_tensor)
dataloader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True)

# Iterate over batches
for batch_X, batch_y in dataloader:
    print(batch_X.shape, batch_y.shape)  # (32, 10) (32,)
    break

print("batches per epoch:", len(dataloader))
