"""Benign procedural videos for the video tests (no real footage): frames and an H.264 encoder.

Importable from any test module (pytest puts tests/ on sys.path for the root conftest).
"""

from __future__ import annotations

import functools
from pathlib import Path

import av
import numpy as np

SIZE = (320, 180)
RATE = 5
SCENE = 2.0  # seconds per scene


@functools.lru_cache(maxsize=4)
def _grid(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return xx / w, yy / h


def render(seed: int, t: float, size=SIZE) -> np.ndarray:
    """A frame: hard-edged discs drifting over a striped gradient; a new layout every scene.
    Edges and stripes keep PDQ quality high (smooth blobs rate < 50)."""
    w, h = size
    rng = np.random.default_rng([seed, int(t // SCENE)])
    local = t % SCENE
    xx, yy = _grid(w, h)
    base = rng.uniform(0, 255, (2, 3))
    img = base[0] * (1 - xx[..., None]) + base[1] * xx[..., None]
    fx, fy, phase = rng.uniform(2, 6), rng.uniform(2, 6), rng.uniform(0, 6.3)
    img = img + 40 * np.sin(2 * np.pi * (fx * xx + fy * yy) + phase)[..., None]
    for _ in range(5):
        cx, cy = rng.uniform(0.1, 0.9, 2)
        vx, vy = rng.uniform(-0.008, 0.008, 2)
        r = rng.uniform(0.08, 0.25)
        colour = rng.uniform(0, 255, 3)
        d2 = (xx - cx - vx * local) ** 2 + ((yy - cy - vy * local) * h / w) ** 2
        a = (d2 < r * r)[..., None].astype(np.float32)
        img = img * (1 - a) + colour * a
    return np.clip(img, 0, 255).astype(np.uint8)


def encode(path: Path, frames, size=SIZE, crf: int = 20, rate: int = RATE) -> Path:
    """Write RGB frames as H.264 (yuv420p, ultrafast) at `rate` frames a second."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"crf": str(crf), "preset": "ultrafast"}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
