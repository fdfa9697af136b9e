"""TrivialAugment fixture: torchvision's TrivialAugmentWide operations (torchvision.transforms.autoaugment._apply_op
on PIL images, nearest interpolation, black fill) applied to a CIFAR-10 sample image at several levels and both
signs. Writes trivialaugment.json: {"side", "images": [base64 of 3×32×32 planes], "cases": [{"image", "op", "level",
"negative", "out": base64}]}. Run: python generate_trivialaugment_fixture.py (needs torch, torchvision, numpy)."""
import base64, json, os
import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import TrivialAugmentWide, _apply_op

here = os.path.dirname(os.path.abspath(__file__))
sample = os.path.join(here, "..", "..", "..", "corpora", "cifar10-sample", "data_batch_1.bin")
raw = np.fromfile(sample, dtype=np.uint8)
planes = [raw[i * 3073 + 1:(i + 1) * 3073] for i in (7,)]  # [3, 32, 32] channel planes
space = TrivialAugmentWide()._augmentation_space(31)
ops = ["Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
       "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize"]
cases = []
for k, p in enumerate(planes):
    img = Image.fromarray(p.reshape(3, 32, 32).transpose(1, 2, 0).copy())
    for op in ops:
        mags, signed = space[op]
        for level in (8, 30):
            for negative in ((False, True) if signed else (False,)):
                m = float(mags[level].item()) if mags.ndim > 0 else 0.0
                if negative:
                    m = -m
                out = _apply_op(img, op, m, interpolation=InterpolationMode.NEAREST, fill=None)
                a = np.asarray(out, dtype=np.uint8).transpose(2, 0, 1).reshape(-1)
                cases.append({"image": k, "op": ops.index(op), "level": level, "negative": negative,
                              "out": base64.b64encode(a.tobytes()).decode()})
with open(os.path.join(here, "trivialaugment.json"), "w") as f:
    json.dump({"side": 32, "images": [base64.b64encode(p.tobytes()).decode() for p in planes], "cases": cases}, f)
print(len(cases), "cases")
