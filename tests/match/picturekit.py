"""Shared by the framing tests: a benign generated picture (smooth random colour fields and a
few shapes), the same for a seed in every test file."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def picture(seed: int, size=(640, 480)) -> Image.Image:
    """A benign generated picture: smooth random colour fields and a few shapes."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    img = np.zeros((h, w, 3))
    for _ in range(6):
        fx, fy, ph = rng.uniform(0.5, 4, 2).tolist() + [rng.uniform(0, 6.3)]
        img += rng.uniform(20, 60, 3) * np.sin(2 * np.pi * (fx * x + fy * y) + ph)[..., None]
    out = Image.fromarray(np.clip(img + 128, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(out)
    for _ in range(5):
        x0, y0 = rng.integers(0, w - 60), rng.integers(0, h - 60)
        draw.ellipse((x0, y0, x0 + rng.integers(30, 200), y0 + rng.integers(30, 200)),
                     fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return out
