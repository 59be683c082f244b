"""Benign synthetic scenes and "photographs" of them, for tests and benchmarks.

`make_room(seed)` paints an empty procedural room (wallpaper, floor, window, furniture,
posters, a shelf of books); `photograph(scene, seed)` shoots it again the way a second
camera would: a different crop, a perspective (viewpoint) warp, other lighting, and objects
pasted in front. Only generated pixels and scikit-image's bundled sample images are used.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _colour(rng: np.random.Generator, lo: int = 30, hi: int = 230) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _texture(rng: np.random.Generator, w: int, h: int, kind: int | None = None) -> Image.Image:
    """A random fabric/wood/wallpaper-like patch (kind 3: smooth, plaster-like)."""
    kind = int(rng.integers(0, 4)) if kind is None else kind
    base, other = _colour(rng), _colour(rng)
    img = Image.new("RGB", (w, h), base)
    d = ImageDraw.Draw(img)
    step = int(rng.integers(6, 24))
    if kind == 0:  # stripes
        for x in range(0, w + h, step * 2):
            d.line([(x, 0), (x - h * rng.uniform(0, 1), h)], fill=other, width=max(1, step // 2))
    elif kind == 1:  # dots
        for y in range(0, h, step):
            for x in range((y // step % 2) * step // 2, w, step):
                r = step // 4 + 1
                d.ellipse([x - r, y - r, x + r, y + r], fill=other)
    elif kind == 2:  # checks
        for y in range(0, h, step):
            for x in range(0, w, step):
                if (x // step + y // step) % 2:
                    d.rectangle([x, y, x + step, y + step], fill=other)
    else:  # smooth noise (wood / fabric)
        step *= 5
        noise = rng.random((max(2, h // step), max(2, w // step), 3))
        small = Image.fromarray((noise * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
        img = Image.blend(img, small, 0.25)
    return img


def make_room(seed: int, width: int = 960, height: int = 720) -> Image.Image:
    """An empty procedural room; every seed gives a different room."""
    rng = np.random.default_rng(seed)
    img = _texture(rng, width, height, kind=3 if rng.random() < 0.6 else None)  # back wall
    d = ImageDraw.Draw(img)
    horizon = int(height * rng.uniform(0.55, 0.7))
    floor = _texture(rng, width, height - horizon, kind=3 if rng.random() < 0.5 else None)
    img.paste(floor, (0, horizon))
    d.line([(0, horizon), (width, horizon)], fill=_colour(rng, 0, 80), width=4)
    # window with frame
    wx, wy = int(rng.integers(20, width // 2)), int(rng.integers(20, horizon // 3))
    ww, wh = int(rng.integers(120, 260)), int(rng.integers(100, 200))
    d.rectangle([wx, wy, wx + ww, wy + wh], fill=_colour(rng, 150, 255), outline=_colour(rng, 0, 90), width=8)
    d.line([(wx + ww // 2, wy), (wx + ww // 2, wy + wh)], fill=_colour(rng, 0, 90), width=6)
    # posters / pictures with shapes and words
    for _ in range(int(rng.integers(2, 5))):
        pw, ph = int(rng.integers(60, 180)), int(rng.integers(60, 180))
        px, py = int(rng.integers(0, width - pw)), int(rng.integers(0, max(1, horizon - ph)))
        poster = _texture(rng, pw, ph)
        pd = ImageDraw.Draw(poster)
        for _ in range(int(rng.integers(3, 9))):
            x0, y0 = int(rng.integers(0, pw)), int(rng.integers(0, ph))
            x1, y1 = x0 + int(rng.integers(5, 60)), y0 + int(rng.integers(5, 60))
            (pd.ellipse if rng.random() < 0.5 else pd.rectangle)([x0, y0, x1, y1], fill=_colour(rng))
        pd.text((4, ph // 2), "".join(chr(int(c)) for c in rng.integers(65, 91, 6)), fill=_colour(rng, 0, 60))
        img.paste(poster, (px, py))
        d.rectangle([px, py, px + pw, py + ph], outline=_colour(rng, 0, 60), width=4)
    # furniture: bed/sofa, table, shelf of books
    for _ in range(int(rng.integers(2, 4))):
        fw, fh = int(rng.integers(150, 400)), int(rng.integers(80, 220))
        fx = int(rng.integers(0, width - fw))
        fy = int(rng.integers(horizon - fh // 2, max(horizon - fh // 2 + 1, height - fh)))
        img.paste(_texture(rng, fw, fh), (fx, fy))
        d.rectangle([fx, fy, fx + fw, fy + fh], outline=_colour(rng, 0, 70), width=5)
    sx, sy = int(rng.integers(0, width - 220)), int(rng.integers(horizon // 3, horizon - 60))
    x = sx
    while x < sx + 200:
        bw = int(rng.integers(8, 22))
        bh = int(rng.integers(35, 60))
        d.rectangle([x, sy + 60 - bh, x + bw, sy + 60], fill=_colour(rng), outline=(20, 20, 20))
        x += bw + 1
    d.rectangle([sx - 6, sy + 60, sx + 206, sy + 68], fill=_colour(rng, 60, 140))
    return img.filter(ImageFilter.GaussianBlur(0.6))


def _occluder(rng: np.random.Generator, size: int) -> tuple[Image.Image, Image.Image]:
    obj = _texture(rng, size, int(size * rng.uniform(0.6, 1.4)))
    mask = Image.new("L", obj.size, 0)
    md = ImageDraw.Draw(mask)
    (md.ellipse if rng.random() < 0.5 else md.rectangle)([0, 0, obj.size[0] - 1, obj.size[1] - 1], fill=255)
    return obj, mask


def photograph(scene: Image.Image, seed: int, *, crop: float = 0.75, warp: float = 0.10,
               occlusion: float = 0.15, out_width: int = 800) -> Image.Image:
    """Another photo of `scene`: a random crop keeping about `crop` of each side, corners
    moved by up to `warp` of the size (viewpoint), new exposure/gamma/tint, and objects
    covering about `occlusion` of the frame."""
    rng = np.random.default_rng(seed)
    src = np.asarray(scene.convert("RGB"))
    h, w = src.shape[:2]
    fw, fh = w * rng.uniform(crop, min(1.0, crop + 0.15)), h * rng.uniform(crop, min(1.0, crop + 0.15))
    x0, y0 = rng.uniform(0, w - fw), rng.uniform(0, h - fh)
    corners = np.float32([[x0, y0], [x0 + fw, y0], [x0 + fw, y0 + fh], [x0, y0 + fh]])
    corners += rng.uniform(-warp, warp, (4, 2)).astype(np.float32) * np.float32([fw, fh])
    out_h = int(out_width * fh / fw)
    target = np.float32([[0, 0], [out_width, 0], [out_width, out_h], [0, out_h]])
    m = cv2.getPerspectiveTransform(corners, target)
    img = cv2.warpPerspective(src, m, (out_width, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # lighting: gain, gamma, colour cast
    f = img.astype(np.float32) / 255
    f = np.clip(f * rng.uniform(0.7, 1.3) * rng.uniform(0.9, 1.1, 3), 0, 1) ** rng.uniform(0.7, 1.4)
    out = Image.fromarray((f * 255).astype(np.uint8))
    covered, target_area = 0.0, occlusion * out_width * out_h
    while covered < target_area:
        size = int(rng.uniform(0.12, 0.3) * out_width)
        obj, mask = _occluder(rng, size)
        out.paste(obj, (int(rng.integers(-size // 3, out_width - size // 2)),
                        int(rng.integers(-size // 3, out_h - size // 2))), mask)
        covered += obj.size[0] * obj.size[1] * 0.7
    return out
