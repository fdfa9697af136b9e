#!/usr/bin/env python3
"""Generates layers.json: PyTorch reference results for AttentionKit's layers, losses and optimizers.
Each case holds named float32 tensors: inputs, weights, the upstream gradient `g`, and PyTorch's outputs and
gradients. Run with torch installed: `python3 Tests/AttentionKitTests/Fixtures/generate_layer_fixtures.py`."""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
cases = {}


def put(case, **tensors):
    cases.setdefault(case, {})
    for name, t in tensors.items():
        t = torch.as_tensor(t).detach().to(torch.float64)
        cases[case][name] = {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1)]}


def module_case(name, module, x, train=True):
    module.train(train)
    x = x.clone().requires_grad_()
    state = {k: v.clone() for k, v in module.state_dict().items()}
    y = module(x)
    g = torch.randn_like(y)
    y.backward(g)
    put(name, x=x, g=g, y=y, dx=x.grad)
    for k, v in state.items():
        put(name, **{"param." + k: v})
    for k, p in module.named_parameters():
        put(name, **{"grad." + k: p.grad})
    for k, b in module.named_buffers():
        put(name, **{"after." + k: b})


module_case("linear", nn.Linear(5, 3), torch.randn(4, 5))
module_case("conv2d_s2_p1", nn.Conv2d(3, 4, 3, stride=2, padding=1), torch.randn(2, 3, 7, 7))
module_case("conv2d_dilated", nn.Conv2d(2, 3, (3, 2), stride=(1, 2), padding=(2, 1), dilation=2), torch.randn(2, 2, 8, 7))
module_case("maxpool_k3_s2_p1", nn.MaxPool2d(3, stride=2, padding=1), torch.randn(2, 3, 7, 6))
module_case("maxpool_k2", nn.MaxPool2d(2), torch.randn(2, 2, 6, 6))
module_case("avgpool_k3_s2_p1", nn.AvgPool2d(3, stride=2, padding=1), torch.randn(2, 3, 7, 6))
bn = nn.BatchNorm2d(3)
with torch.no_grad():
    bn.weight.uniform_(0.5, 1.5); bn.bias.uniform_(-0.5, 0.5)
module_case("batchnorm2d_train", bn, torch.randn(4, 3, 5, 5) * 2 + 1, train=True)
bn = nn.BatchNorm2d(3)
with torch.no_grad():
    bn.weight.uniform_(0.5, 1.5); bn.bias.uniform_(-0.5, 0.5)
    bn.running_mean.uniform_(-1, 1); bn.running_var.uniform_(0.5, 2)
module_case("batchnorm2d_eval", bn, torch.randn(4, 3, 5, 5), train=False)
bn = nn.BatchNorm1d(6)
with torch.no_grad():
    bn.weight.uniform_(0.5, 1.5); bn.bias.uniform_(-0.5, 0.5)
module_case("batchnorm1d_train", bn, torch.randn(8, 6), train=True)
ln = nn.LayerNorm(7)
with torch.no_grad():
    ln.weight.uniform_(0.5, 1.5); ln.bias.uniform_(-0.5, 0.5)
module_case("layernorm", ln, torch.randn(3, 4, 7) * 3)

# losses: logits/inputs, targets, loss value and gradient
def loss_case(name, fn, x, *rest):
    x = x.clone().requires_grad_()
    loss = fn(x, *rest)
    loss.backward(torch.ones_like(loss))
    put(name, x=x, loss=loss, dx=x.grad)
    for i, r in enumerate(rest):
        put(name, **{f"arg{i}": r})


logits = torch.randn(6, 5) * 2
targets = torch.tensor([0, 4, 2, 2, 1, 3])
loss_case("cross_entropy_mean", lambda x, t: F.cross_entropy(x, t), logits, targets)
loss_case("cross_entropy_smooth_ignore", lambda x, t: F.cross_entropy(x, t, ignore_index=2, label_smoothing=0.1), logits, targets)
loss_case("cross_entropy_sum", lambda x, t: F.cross_entropy(x, t, reduction="sum"), logits, targets)
loss_case("cross_entropy_none", lambda x, t: F.cross_entropy(x, t, reduction="none", label_smoothing=0.2), logits, targets)
loss_case("nll_mean", lambda x, t: F.nll_loss(x, t), F.log_softmax(logits, 1), targets)
loss_case("mse_mean", lambda x, y: F.mse_loss(x, y), torch.randn(4, 3), torch.randn(4, 3))
loss_case("bce_logits_pos_weight", lambda x, y: F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor(2.0)),
          torch.randn(10) * 4, torch.rand(10))

# optimizers: two steps from the same parameter with given gradients
p0 = torch.randn(3, 4)
g1, g2 = torch.randn(3, 4), torch.randn(3, 4)
optims = {
    "sgd_momentum_wd": lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01),
    "sgd_nesterov": lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda p: torch.optim.Adam([p], lr=0.01, weight_decay=0.1),
    "adamw": lambda p: torch.optim.AdamW([p], lr=0.01, weight_decay=0.1),
    "rmsprop": lambda p: torch.optim.RMSprop([p], lr=0.01, weight_decay=0.1),
    "adagrad": lambda p: torch.optim.Adagrad([p], lr=0.1, lr_decay=0.01, weight_decay=0.1),
}


def optim_case(name, make):
    p = p0.clone().requires_grad_()
    opt = make(p)
    p.grad = g1.clone(); opt.step()
    after1 = p.detach().clone()
    p.grad = g2.clone(); opt.step()
    put("optim_" + name, p0=p0, g1=g1, g2=g2, after1=after1, after2=p.detach())


for name, make in optims.items():
    optim_case(name, make)

# class-weighted cross-entropy (drawn last so that the cases above keep their values)
class_weight = torch.tensor([0.5, 2.0, 1.0, 3.0, 0.25])
loss_case("cross_entropy_weighted", lambda x, t: F.cross_entropy(x, t, weight=class_weight), logits, targets)
loss_case("cross_entropy_weighted_smooth_ignore",
          lambda x, t: F.cross_entropy(x, t, weight=class_weight, ignore_index=2, label_smoothing=0.1), logits, targets)
loss_case("cross_entropy_weighted_none_smooth",
          lambda x, t: F.cross_entropy(x, t, weight=class_weight, reduction="none", label_smoothing=0.2), logits, targets)

# Conv1d (drawn after the cases above so that they keep their values)
module_case("conv1d_s2_p1_d2", torch.nn.Conv1d(4, 3, kernel_size=3, stride=2, padding=1, dilation=2), torch.randn(2, 4, 11))
module_case("conv1d_plain", torch.nn.Conv1d(5, 6, kernel_size=4), torch.randn(3, 5, 9))

# The course zoo's layers (drawn after the cases above so that they keep their values)
module_case("maxpool1d_k3_s2_p1", nn.MaxPool1d(3, stride=2, padding=1), torch.randn(2, 3, 10))
module_case("maxpool1d_k2_d2", nn.MaxPool1d(2, dilation=2), torch.randn(2, 2, 9))
module_case("global_maxpool1d", nn.Sequential(nn.AdaptiveMaxPool1d(1), nn.Flatten()), torch.randn(3, 4, 7))
gn = nn.GroupNorm(2, 6)
with torch.no_grad():
    gn.weight.uniform_(0.5, 1.5); gn.bias.uniform_(-0.5, 0.5)
module_case("groupnorm_2x6", gn, torch.randn(3, 6, 4, 5) * 2 + 1)
module_case("groupnorm_1d_noaffine", nn.GroupNorm(3, 3, affine=False), torch.randn(4, 3, 7))
module_case("instancenorm2d", nn.InstanceNorm2d(3), torch.randn(2, 3, 5, 4) * 3 - 1)
inn = nn.InstanceNorm2d(3, affine=True, track_running_stats=True)
with torch.no_grad():
    inn.weight.uniform_(0.5, 1.5); inn.bias.uniform_(-0.5, 0.5)
module_case("instancenorm2d_affine_tracked_train", inn, torch.randn(4, 3, 5, 5) * 2 + 1, train=True)
inn = nn.InstanceNorm2d(3, affine=True, track_running_stats=True)
with torch.no_grad():
    inn.weight.uniform_(0.5, 1.5); inn.bias.uniform_(-0.5, 0.5)
    inn.running_mean.uniform_(-1, 1); inn.running_var.uniform_(0.5, 2)
module_case("instancenorm2d_affine_tracked_eval", inn, torch.randn(2, 3, 5, 5), train=False)

# Adadelta (Zeiler 2012; Kim 2014 trains with ρ 0.95) and the max-norm constraint (torch.renorm, p 2, along dim 0:
# each row of a Linear weight rescaled to norm ≤ 3), drawn last so that the cases above keep their values
optim_case("adadelta", lambda p: torch.optim.Adadelta([p], lr=1.0, rho=0.95, eps=1e-6, weight_decay=0.1))
w = torch.randn(5, 6) * 2
put("renorm_rows_3", x=w, y=torch.renorm(w, p=2, dim=0, maxnorm=3))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layers.json")
with open(path, "w") as fh:
    json.dump({"generator": "generate_layer_fixtures.py", "torch": torch.__version__, "cases": cases}, fh, separators=(",", ":"))
print(f"wrote {len(cases)} cases to {path}")
