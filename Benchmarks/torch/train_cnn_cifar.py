#!/usr/bin/env python3
"""PyTorch twin of `attn train cnn`: the same model, recipe and train/validation split (read from the split.json that
`attn train cnn` writes), for an accuracy and time comparison on this machine.

Usage: python3 Benchmarks/torch/train_cnn_cifar.py --split runs/cnn/split.json [--data DIR] [--epochs 40] [--seed 0]
Recipe: SGD (Nesterov momentum 0.9, lr 0.05, weight decay 5e-4 on conv/linear weights only), 1 epoch linear warmup
then cosine to 0 per step, batch 128 (last partial batch dropped), random crop (pad 4) + horizontal flip,
normalisation by the training images' channel mean/std."""
import argparse
import glob
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--data", default="../shared/data/cifar-10-batches-bin")
p.add_argument("--split", required=True)
p.add_argument("--epochs", type=int, default=40)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--threads", type=int, default=2)
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
rng = np.random.default_rng(args.seed)

files = sorted(glob.glob(os.path.join(args.data, "data_batch_*.bin")), key=lambda f: int(f.rsplit("_", 1)[1].split(".")[0]))
raw = np.concatenate([np.fromfile(f, dtype=np.uint8).reshape(-1, 3073) for f in files])
labels, images = raw[:, 0].astype(np.int64), raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255
split = json.load(open(args.split))
tr, va = np.array(split["train"]), np.array(split["validation"])
mean = images[tr].mean(axis=(0, 2, 3), keepdims=True)
std = images[tr].std(axis=(0, 2, 3), keepdims=True)
xtr, ytr = torch.from_numpy(images[tr]), torch.from_numpy(labels[tr])
xva, yva = torch.from_numpy((images[va] - mean) / std), torch.from_numpy(labels[va])
mean_t, std_t = torch.from_numpy(mean), torch.from_numpy(std)

layers, c = [], 3
for out in (32, 64, 128):
    layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(), nn.MaxPool2d(2)]
    c = out
model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(2048, 256), nn.ReLU(), nn.Linear(256, 10))
decay = [q for q in model.parameters() if q.dim() >= 2]
no_decay = [q for q in model.parameters() if q.dim() < 2]
opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0}],
                      lr=0.05, momentum=0.9, nesterov=True)
bs = 128
steps_per_epoch = len(tr) // bs
total, warmup = args.epochs * steps_per_epoch, steps_per_epoch


def factor(step):
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / (total - warmup))))


def augment(x):
    n = x.shape[0]
    padded = F.pad(x, (4, 4, 4, 4))
    dy, dx = rng.integers(0, 9, n), rng.integers(0, 9, n)
    flip = rng.random(n) < 0.5
    out = torch.stack([padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32] for i in range(n)])
    out[flip] = out[flip].flip(-1)
    return (out - mean_t) / std_t


step, best, start = 0, 0.0, time.perf_counter()
for epoch in range(args.epochs):
    model.train()
    order = rng.permutation(len(tr))
    t0 = time.perf_counter()
    for k in range(steps_per_epoch):
        idx = order[k * bs:(k + 1) * bs]
        for g in opt.param_groups:
            g["lr"] = 0.05 * factor(step)
        loss = F.cross_entropy(model(augment(xtr[idx])), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
    model.eval()
    with torch.no_grad():
        acc = (model(xva).argmax(1) == yva).float().mean().item()
    best = max(best, acc)
    print(json.dumps({"epoch": epoch + 1, "train_loss_last": round(loss.item(), 4), "val_accuracy": round(acc, 4),
                      "epoch_seconds": round(time.perf_counter() - t0, 2)}), flush=True)
print(json.dumps({"best_val_accuracy": round(best, 4), "seconds": round(time.perf_counter() - start, 1)}))
