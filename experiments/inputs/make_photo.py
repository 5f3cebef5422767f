"""Regenerate inputs/photo.png, the Thumbnailer task's input image.

Deterministic: a 1200x800 RGB picture made of a sky-like gradient, a few
filled shapes, a sinusoidal texture and light noise from a fixed seed, so
resampling differences between implementations show up in the comparison.
Run with Debian's interpreter from experiments/: /usr/bin/python3 inputs/make_photo.py
(the committed PNG was made with Pillow 9.4 and NumPy 1.24).
"""
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H, SEED = 1200, 800, 42

y, x = np.mgrid[0:H, 0:W].astype(np.float64)
r = 40 + 150 * (x / W) + 20 * np.sin(y / 37.0)
g = 90 + 100 * (y / H) + 15 * np.sin((x + y) / 53.0)
b = 200 - 120 * (y / H) + 25 * np.cos(x / 71.0)
base = np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)

img = Image.fromarray(base, "RGB")
draw = ImageDraw.Draw(img)
draw.ellipse((120, 140, 420, 440), fill=(240, 200, 40), outline=(90, 60, 0), width=6)
draw.rectangle((560, 380, 980, 720), fill=(60, 120, 60), outline=(20, 40, 20), width=8)
draw.polygon([(700, 90), (1120, 330), (760, 360)], fill=(180, 40, 60))
for i in range(12):
    draw.line((0, 600 + 12 * i, W, 520 + 20 * i), fill=(250, 250, 250), width=2)
img = img.filter(ImageFilter.GaussianBlur(0.8))

rng = np.random.default_rng(SEED)
noise = rng.normal(0.0, 2.0, size=(H, W, 3))
pixels = np.clip(np.asarray(img, dtype=np.float64) + noise, 0, 255).astype(np.uint8)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "photo.png")
Image.fromarray(pixels, "RGB").save(out, optimize=True)
print(out, os.path.getsize(out), "bytes")
