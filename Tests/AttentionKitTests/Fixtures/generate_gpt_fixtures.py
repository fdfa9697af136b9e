#!/usr/bin/env python3
"""Generates gpt.json: a PyTorch twin of AttentionKit's `GPT` (nanoGPT's model.py layout — pre-norm blocks of causal
self-attention with one packed q/k/v projection and a 4x GELU MLP, final layer norm, head tied to the token
embedding — with AttentionKit's parameter names), its weights, a batch of ids and targets, the logits, the mean
next-token cross-entropy and the gradient of every parameter. Run with torch installed:
`python3 Tests/AttentionKitTests/Fixtures/generate_gpt_fixtures.py`."""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
V, T, L, H, D = 13, 8, 2, 2, 16


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(D)
        self.inProjection = nn.Linear(D, 3 * D)
        self.outProjection = nn.Linear(D, D)
        self.norm2 = nn.LayerNorm(D)
        self.linear1 = nn.Linear(D, 4 * D)
        self.linear2 = nn.Linear(4 * D, D)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.inProjection(self.norm1(x)).split(D, dim=2)
        q, k, v = (z.view(b, t, H, D // H).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, D)
        x = x + self.outProjection(y)
        return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, D)
        self.wpe = nn.Embedding(T, D)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.norm = nn.LayerNorm(D)
        for name, p in self.named_parameters():   # GPT-2 init, randomised norms so that they are tested too
            if name.endswith("bias"):
                nn.init.normal_(p, std=0.02)
            elif "norm" in name:
                nn.init.normal_(p, mean=1.0, std=0.1)
            else:
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * L) if name.endswith(("outProjection.weight", "linear2.weight")) else 0.02)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for b in self.blocks:
            x = b(x)
        return self.norm(x) @ self.wte.weight.T   # tied head


def ours(name):
    name = name.replace("wte.weight", "embedding.embedding.weight").replace("wpe.weight", "embedding.positions.weight")
    name = name.replace("blocks.", "blocks.layers.", 1) if name.startswith("blocks.") else name
    name = name.replace(".inProjection", ".selfAttention.inProjection").replace(".outProjection", ".selfAttention.outProjection")
    return "blocks.norm." + name[len("norm."):] if name.startswith("norm.") else name


model = GPT().double()
ids = torch.randint(0, V, (3, T))
targets = torch.randint(0, V, (3, T))
logits = model(ids)
loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
loss.backward()


def dump(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


weights = {ours(n): dump(p) for n, p in model.named_parameters()}
weights["head.weight"] = weights["embedding.embedding.weight"]
grads = {ours(n): dump(p.grad) for n, p in model.named_parameters()}
out = {"config": {"vocabulary": V, "blockSize": T, "layers": L, "heads": H, "dModel": D},
       "weights": weights, "ids": ids.tolist(), "targets": targets.tolist(), "logits": dump(logits), "loss": float(loss),
       "grads": grads, "torch": torch.__version__}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpt.json")
with open(path, "w") as f:
    json.dump(out, f)
print(f"wrote {path}: loss {float(loss):.6f}")
