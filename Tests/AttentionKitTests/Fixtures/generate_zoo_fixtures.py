#!/usr/bin/env python3
"""Generates zoo.json: the PyTorch twins of AttentionKit's course models (LeNet5, VGG, ResNet for CIFAR with
option-B shortcuts, PreActResNet) and, for each config, its state-dict names and shapes and its parameter count;
the parts a compact convolutional transformer adds to the ViT (convolutional tokenizer, sequence pooling); for
small configs also the weights, an input, the eval and train outputs, the upstream gradient and PyTorch's
gradients. Run with torch installed: `python3 Tests/AttentionKitTests/Fixtures/generate_zoo_fixtures.py`."""
import json
import os

import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock as TVBasicBlock, Bottleneck as TVBottleneck, ResNet as TVResNet

torch.manual_seed(0)


class LeNet5(nn.Module):
    def __init__(self, in_ch=3, size=32, classes=10):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(in_ch, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        side = ((size - 4) // 2 - 4) // 2
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * side * side, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                                        nn.Linear(84, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class GlobalAvgPool(nn.Module):
    """AdaptiveAvgPool2d(1) + Flatten as one module (AttentionKit's GlobalAvgPool2d)."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


class VGG(nn.Module):
    def __init__(self, stages, in_ch=3, classes=10):
        super().__init__()
        layers, c = [], in_ch
        for stage in stages:
            for w in stage:
                layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
                c = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(GlobalAvgPool(), nn.Linear(c, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(i, o, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(o)
        self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(o)
        self.shortcut = nn.Sequential()
        if stride != 1 or i != o:   # option B: projection
            self.shortcut = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, depth=20, widths=(16, 32, 64), in_ch=3, classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_ch, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        c = widths[0]
        for s, w in enumerate(widths):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(c, w, 2 if s > 0 and i == 0 else 1))
                c = w
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.stages = len(widths)
        self.linear = nn.Linear(c, classes)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        for s in range(self.stages):
            h = getattr(self, f"layer{s + 1}")(h)
        return self.linear(h.mean(dim=(2, 3)))


class PreActBlock(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(i)
        self.conv1 = nn.Conv2d(i, o, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(o)
        self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.shortcut = nn.Sequential()
        if stride != 1 or i != o:
            self.shortcut = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False))

    def forward(self, x):
        a = torch.relu(self.bn1(x))
        skip = self.shortcut(a) if len(self.shortcut) else x
        return self.conv2(torch.relu(self.bn2(self.conv1(a)))) + skip


class PreActResNet(nn.Module):
    def __init__(self, blocks=(2, 2, 2, 2), width=64, in_ch=3, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, width, 3, 1, 1, bias=False)
        c = width
        for s, count in enumerate(blocks):
            w = width << s
            layer = []
            for i in range(count):
                layer.append(PreActBlock(c, w, 2 if s > 0 and i == 0 else 1))
                c = w
            setattr(self, f"layer{s + 1}", nn.Sequential(*layer))
        self.stages = len(blocks)
        self.bn = nn.BatchNorm2d(c)
        self.linear = nn.Linear(c, classes)

    def forward(self, x):
        h = self.conv1(x)
        for s in range(self.stages):
            h = getattr(self, f"layer{s + 1}")(h)
        return self.linear(torch.relu(self.bn(h)).mean(dim=(2, 3)))


class ConvTokenizer(nn.Module):
    """CCT's tokenizer (Hassani et al. 2021): per stage conv k×k (same padding, no bias) → ReLU → max-pool 3/2/1."""

    def __init__(self, in_ch, width, d, layers=2, k=3):
        super().__init__()
        self.convolutions = nn.ModuleList(nn.Conv2d(in_ch if i == 0 else width, d if i == layers - 1 else width, k, 1, k // 2, bias=False)
                                          for i in range(layers))
        self.pool = nn.MaxPool2d(3, 2, 1)

    def forward(self, x):
        for conv in self.convolutions:
            x = self.pool(torch.relu(conv(x)))
        return x.flatten(2).transpose(1, 2)


class SeqPool(nn.Module):
    """CCT's sequence pooling: softmax over tokens of a linear score, the weighted sum of the tokens."""

    def __init__(self, d):
        super().__init__()
        self.score = nn.Linear(d, 1)

    def forward(self, h):
        return (torch.softmax(self.score(h), dim=1) * h).sum(dim=1)


class CCTParts(nn.Module):
    """The convolutional tokenizer, sequence pooling and a head: the parts a CCT adds to AttentionKit's ViT."""

    def __init__(self, d=6, width=4, classes=3):
        super().__init__()
        self.convTokenizer = ConvTokenizer(3, width, d)
        self.attentionPool = SeqPool(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        return self.head(self.attentionPool(self.convTokenizer(x)))


class NarrowTorchVisionResNet(TVResNet):
    """torchvision's ResNet with the first stage `width` wide instead of 64 (small enough for a JSON fixture): the
    same blocks (torchvision's BasicBlock/Bottleneck), the same `_make_layer` and `forward`, only the widths scaled."""

    def __init__(self, block, layers, width=8, num_classes=3):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)


def tensor(t):
    # float32 values with 9 significant digits (exact, shorter than a double's repr); float64 values in full
    digits = 17 if t.dtype == torch.float64 else 9
    t = t.detach().to(torch.float64)
    return {"shape": list(t.shape), "data": [float(f"{v:.{digits}g}") for v in t.reshape(-1).tolist()]}


def structure(model):
    return {"parameters": sum(p.numel() for p in model.parameters()),
            "state": {k: list(v.shape) for k, v in model.state_dict().items()}}


def numeric(model, x, double=False, save=None):
    """`double`: weights, input and upstream gradient are float32 values, the computation is in float64 (for
    deep models whose float32 results differ between implementations by rounding alone)."""
    with torch.no_grad():   # non-trivial BatchNorm statistics and affine parameters
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.5, 0.5); m.running_var.uniform_(0.5, 2)
    state = {k: tensor(v) for k, v in model.state_dict().items()}
    if save:   # the state dict as a user converts torchvision's weights (int64 num_batches_tracked included)
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(os.path.dirname(os.path.abspath(__file__)), save))
    g = torch.randn(x.shape[0], model.fc.out_features) if double else None   # float32 values, drawn before the cast
    if double:
        model.double()
        x = x.double()
    model.eval()
    y_eval = model(x)
    model.train()
    x = x.clone().requires_grad_()
    y = model(x)
    g = torch.randn_like(y) if g is None else g.double()
    y.backward(g)
    return {"state_values": state, "x": tensor(x), "y_eval": tensor(y_eval), "y_train": tensor(y), "g": tensor(g),
            "dx": tensor(x.grad), "grads": {k: tensor(p.grad) for k, p in model.named_parameters()}}


cases = {
    "lenet5": structure(LeNet5()),
    "vgg11_w32": structure(VGG([[32], [64], [128, 128], [256, 256], [256, 256]])),
    "vgg11_w64": structure(VGG([[64], [128], [256, 256], [512, 512], [512, 512]])),
    "resnet20": structure(ResNet(20)),
    "resnet56": structure(ResNet(56)),
    "preact18": structure(PreActResNet()),
    "preact18_w32": structure(PreActResNet(width=32)),
    "torchvision_resnet18": structure(torchvision.models.resnet18(weights=None)),
    "torchvision_resnet50": structure(torchvision.models.resnet50(weights=None)),
}
small = {
    "resnet8_tiny": (ResNet(8, widths=(4, 8, 16), classes=3), torch.randn(2, 3, 8, 8)),
    "preact_tiny": (PreActResNet(blocks=(1, 2), width=4, classes=3), torch.randn(2, 3, 8, 8)),
    "vgg_tiny": (VGG([[4], [8, 8]], classes=3), torch.randn(2, 3, 8, 8)),
    "cct_parts": (CCTParts(), torch.randn(2, 3, 8, 8)),
    "torchvision_resnet18_w2": (NarrowTorchVisionResNet(TVBasicBlock, [2, 2, 2, 2], width=2), torch.randn(2, 3, 40, 40)),
    "torchvision_resnet50_w2": (NarrowTorchVisionResNet(TVBottleneck, [3, 4, 6, 3], width=2), torch.randn(2, 3, 36, 36)),
}
for name, (model, x) in small.items():
    cases[name] = structure(model) | numeric(model, x, double=name.startswith("torchvision_resnet50"),
                                            save="torchvision_resnet18_w2.safetensors" if name == "torchvision_resnet18_w2" else None)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zoo.json")
with open(path, "w") as fh:
    json.dump({"generator": "generate_zoo_fixtures.py", "torch": torch.__version__, "cases": cases}, fh, separators=(",", ":"))
print(f"wrote {len(cases)} cases to {path}: " + ", ".join(f"{k} {v['parameters']:,}" for k, v in cases.items()))
