"""The seed's PyTorch training loop, run against candle_numpy's torch facade.

    python examples/python/train_torch.py
"""

import numpy as np

import candle_numpy as cn

torch = cn.torch  # the seed writes `import torch`

rng = np.random.default_rng(0)
X = rng.random((1000, 10))
y = (X[:, 0] + X[:, 1] > 1).astype(np.int64)
torch.manual_seed(0)

# Convert to tensors
X_tensor = torch.from_numpy(X).float()
y_tensor = torch.from_numpy(y).float()


# Define a simple model
class SimpleNN(torch.nn.Module):
    def __init__(self):
        super(SimpleNN, self).__init__()
        self.fc1 = torch.nn.Linear(10, 16)
        self.fc2 = torch.nn.Linear(16, 1)
        self.relu = torch.nn.ReLU()
        self.sigmoid = torch.nn.Sigmoid()

    def forward(self, x):
        x = self.relu(self.fc1(x))
        x = self.sigmoid(self.fc2(x))
        return x


model = SimpleNN()
criterion = torch.nn.BCELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)  # the seed's default lr needs ~1000 epochs

# Train the model
for epoch in range(100):
    outputs = model(X_tensor).squeeze()
    loss = criterion(outputs, y_tensor)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if epoch < 5 or (epoch + 1) % 25 == 0:
        print(f"Epoch {epoch+1}, Loss: {loss.item():.4f}")

with torch.no_grad():
    accuracy = ((model(X_tensor).squeeze() > 0.5).float() == y_tensor).float().mean().item()
print(f"accuracy {accuracy:.3f}")
