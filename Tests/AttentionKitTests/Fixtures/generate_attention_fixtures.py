#!/usr/bin/env python3
"""Writes Fixtures/attention/*.safetensors: PyTorch (and timm) reference results for AttentionKit's attention layers.

Each file holds, in float32: `w.<PyTorch state-dict name>` (the module's weights, loaded on our side through
PyTorchWeights' name mapping), the inputs (`x`, `memory`, ...), masks as 0/1 floats (`kpm` = key padding, 1 = ignore),
the upstream gradient `g`, PyTorch's output `y` (and `attn` weights), input gradients `dx`/`dmemory` and parameter
gradients `grad.<PyTorch name>`. Modules run in training mode with dropout 0, so PyTorch takes its ordinary
(differentiable) path, never the inference fast path. Needs torch, safetensors and timm:
`python3 Tests/AttentionKitTests/Fixtures/generate_attention_fixtures.py`."""
import math
import os

import torch
import torch.nn as nn
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "attention")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)


def save(name, module, tensors, outputs, inputs):
    """outputs: the tensor to backprop (first) and extras; inputs: name -> leaf tensor with requires_grad."""
    y = outputs[0]
    g = torch.randn_like(y)
    y.backward(g)
    d = {"w." + k: v.detach().clone() for k, v in module.state_dict().items()}
    d.update({k: v.detach().clone().float() for k, v in tensors.items()})
    d["y"] = y.detach().clone()
    d["g"] = g
    for k, v in inputs.items():
        d["d" + k] = v.grad.detach().clone()
    for k, p in module.named_parameters():
        d["grad." + k] = p.grad.detach().clone()
    save_file({k: v.contiguous() for k, v in d.items()}, os.path.join(OUT, name + ".safetensors"))


def leaf(*shape):
    return torch.randn(*shape).requires_grad_()


def kpm(b, t, lengths):
    return torch.tensor([[j >= n for j in range(t)] for n in lengths])


# --- nn.MultiheadAttention -------------------------------------------------------------------------------
D, H = 16, 4
mha = nn.MultiheadAttention(D, H, batch_first=True)
with torch.no_grad():
    mha.in_proj_bias.uniform_(-0.3, 0.3); mha.out_proj.bias.uniform_(-0.3, 0.3)
x = leaf(2, 5, D)
pad = kpm(2, 5, [5, 3])
y, attn = mha(x, x, x, key_padding_mask=pad, need_weights=True, average_attn_weights=True)
save("mha_self_padding", mha, {"x": x, "kpm": pad, "attn": attn}, [y], {"x": x})

mha.zero_grad()
x = leaf(2, 5, D)
causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)
y, attn = mha(x, x, x, attn_mask=causal, need_weights=True, average_attn_weights=False)
save("mha_self_causal", mha, {"x": x, "attn": attn}, [y], {"x": x})

mha.zero_grad()
q = leaf(2, 4, D); mem = leaf(2, 6, D)
pad = kpm(2, 6, [6, 4])
y, _ = mha(q, mem, mem, key_padding_mask=pad, need_weights=False)
save("mha_cross", mha, {"x": q, "memory": mem, "kpm": pad}, [y], {"x": q, "memory": mem})

mha2 = nn.MultiheadAttention(D, H, batch_first=True, kdim=12, vdim=10)
with torch.no_grad():
    mha2.in_proj_bias.uniform_(-0.3, 0.3)
q = leaf(2, 4, D); k = leaf(2, 6, 12); v = leaf(2, 6, 10)
y, attn = mha2(q, k, v, need_weights=True)
save("mha_kdim_vdim", mha2, {"x": q, "key": k, "value": v, "attn": attn}, [y], {"x": q, "key": k, "value": v})

# --- encoder / decoder layers ----------------------------------------------------------------------------
for norm_first in (False, True):
    tag = "pre" if norm_first else "post"
    act = "gelu" if norm_first else "relu"
    enc = nn.TransformerEncoderLayer(D, H, 32, dropout=0.0, activation=act, batch_first=True, norm_first=norm_first)
    with torch.no_grad():
        for n, p in enc.named_parameters():
            if "norm" in n: p.uniform_(0.5, 1.5) if n.endswith("weight") else p.uniform_(-0.3, 0.3)
    enc.train()
    x = leaf(2, 5, D)
    pad = kpm(2, 5, [5, 4])
    y = enc(x, src_key_padding_mask=pad)
    save(f"encoder_layer_{tag}", enc, {"x": x, "kpm": pad}, [y], {"x": x})

    dec = nn.TransformerDecoderLayer(D, H, 32, dropout=0.0, activation=act, batch_first=True, norm_first=norm_first)
    dec.train()
    x = leaf(2, 4, D); mem = leaf(2, 5, D)
    pad = kpm(2, 5, [5, 3])
    y = dec(x, mem, tgt_mask=nn.Transformer.generate_square_subsequent_mask(4), memory_key_padding_mask=pad, tgt_is_causal=True)
    save(f"decoder_layer_{tag}", dec, {"x": x, "memory": mem, "kpm": pad}, [y], {"x": x, "memory": mem})

# --- a full nn.Transformer -------------------------------------------------------------------------------
tr = nn.Transformer(d_model=D, nhead=H, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=32, dropout=0.0, batch_first=True)
tr.train()
src = leaf(2, 6, D); tgt = leaf(2, 4, D)
pad = kpm(2, 6, [6, 5])
y = tr(src, tgt, tgt_mask=nn.Transformer.generate_square_subsequent_mask(4), src_key_padding_mask=pad,
       memory_key_padding_mask=pad, tgt_is_causal=True)
save("transformer", tr, {"x": tgt, "memory": src, "kpm": pad}, [y], {"x": tgt, "memory": src})

# --- a small timm ViT ------------------------------------------------------------------------------------
import timm

vit = timm.models.vision_transformer.VisionTransformer(img_size=16, patch_size=4, in_chans=3, num_classes=5, embed_dim=32,
                                                       depth=2, num_heads=4, mlp_ratio=2.0, qkv_bias=True, global_pool="token")
vit.train()
with torch.no_grad():
    vit.cls_token.normal_(0, 0.5); vit.pos_embed.normal_(0, 0.5); vit.head.weight.normal_(0, 0.2)
img = leaf(2, 3, 16, 16)
y = vit(img)
save("vit_timm", vit, {"x": img}, [y], {"x": img})

# --- the PyTorch tutorial's sinusoidal table -------------------------------------------------------------
max_len, d_model = 50, 16
position = torch.arange(max_len).unsqueeze(1)
div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
pe = torch.zeros(max_len, d_model)
pe[:, 0::2] = torch.sin(position * div_term)
pe[:, 1::2] = torch.cos(position * div_term)
save_file({"pe": pe}, os.path.join(OUT, "sinusoidal.safetensors"))
print("wrote", sorted(os.listdir(OUT)))
