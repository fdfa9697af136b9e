"""Image-decoding fixtures: a CIFAR-10 record from corpora/cifar10-sample saved as PNG (RGB and gray+alpha) and
JPEG at 96×96, and what Pillow decodes and resizes them to (Pillow uses libpng and libjpeg-turbo too).

Run from the repository root: python Tests/AttentionKitTests/Fixtures/generate_image_fixtures.py
"""
import json
import numpy as np
from PIL import Image

raw = open("corpora/cifar10-sample/data_batch_1.bin", "rb").read()
rec = np.frombuffer(raw[1:3073], dtype=np.uint8).reshape(3, 32, 32).transpose(1, 2, 0)
label = raw[0]
out = "Tests/AttentionKitTests/Fixtures/images/"
big = Image.fromarray(rec).resize((96, 80), Image.NEAREST)
big.save(out + "record0.png")
big.save(out + "record0.jpg", quality=92)
# Gray + alpha: left half opaque mid-gray, right half fully transparent (composited onto white by our reader).
la = np.zeros((10, 12, 2), dtype=np.uint8)
la[:, :, 0] = 100
la[:, :6, 1] = 255
Image.fromarray(la, mode="LA").save(out + "gray_alpha.png")
jpeg = np.asarray(Image.open(out + "record0.jpg").convert("RGB"))
small = np.asarray(Image.open(out + "record0.png").convert("RGB").resize((32, 32), Image.BILINEAR))
json.dump({
    "label": int(label),
    "record0_png_first_pixels": np.asarray(big)[0, :4].reshape(-1).tolist(),
    "record0_jpg_sum": int(jpeg.astype(np.int64).sum()),
    "record0_jpg_first_pixels": jpeg[0, :4].reshape(-1).tolist(),
    "record0_png_resized_32": small.reshape(-1).tolist(),
}, open(out + "expected.json", "w"))
