#!/usr/bin/env python3
"""PyTorch's side of the MLP-step benchmark (bench/deep.sh mlp): one training step of a
256 -> 512 -> 256 -> 1 ReLU MLP on a batch (forward, BCEWithLogits, backward, AdamW),
`--steps` times after 3 warm-up steps; prints the median step in ms."""
import argparse, statistics, time

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--batch", type=int, default=4096)
ap.add_argument("--steps", type=int, default=50)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
net = torch.nn.Sequential(
    torch.nn.Linear(256, 512), torch.nn.ReLU(),
    torch.nn.Linear(512, 256), torch.nn.ReLU(),
    torch.nn.Linear(256, 1),
)
opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
x = torch.rand(a.batch, 256) - 0.5
y = (torch.arange(a.batch) % 3 == 0).float()
lossf = torch.nn.BCEWithLogitsLoss()
times = []
for s in range(a.steps + 3):
    t = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = lossf(net(x).squeeze(1), y)
    loss.backward()
    opt.step()
    if s >= 3:
        times.append((time.perf_counter() - t) * 1e3)
print("%.3f" % statistics.median(times))
