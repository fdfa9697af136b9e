#!/usr/bin/env python3
"""Writes torch_written.safetensors with PyTorch's safetensors library: tensors whose values the Swift test
recomputes (arange-based), in F32, F64, F16 and BF16, plus metadata. Needs torch and safetensors."""
import os

import torch
from safetensors.torch import save_file

here = os.path.dirname(os.path.abspath(__file__))
save_file({
    "weight": torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4 - 0.5,
    "bias": torch.linspace(-1, 1, 5, dtype=torch.float64),
    "half": (torch.arange(4, dtype=torch.float32) * 0.5 - 1).to(torch.float16),
    "bf16": (torch.arange(3, dtype=torch.float32) * 2 - 2).to(torch.bfloat16),
    "empty": torch.zeros(0, 3),
}, os.path.join(here, "torch_written.safetensors"), metadata={"format": "pt", "note": "AttentionKit fixture"})
print("wrote torch_written.safetensors")
