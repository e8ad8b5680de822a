"""The seed's scientific example: all distances between 1000 particle positions.

    python examples/python/distances.py
"""

import numpy as np

import candle_numpy as cn

torch = cn.torch

positions = np.random.default_rng(0).random((1000, 3)).astype(np.float32)

# on the GPU when there is one (as the seed's .to('cuda')), else on the CPU
device = "cuda" if torch.cuda.is_available() else "cpu"
positions_tensor = torch.from_numpy(positions).to(device)
distances = torch.cdist(positions_tensor, positions_tensor)
print(distances.shape)  # (1000, 1000)

d = distances.numpy(force=True)
print("diagonal exactly zero:", bool((np.diag(d) == 0).all()), "| symmetric:", bool((d == d.T).all()))
# the case torch's GEMM expansion gets wrong: two f32 points 109 apart, far from the origin
far = np.array([[512695.0], [512804.0]], np.float32)
print("cdist of 512695 and 512804:", torch.cdist(torch.from_numpy(far), torch.from_numpy(far))[0, 1].item())
