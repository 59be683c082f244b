"""Benign, photo-like test images, deterministic per seed (shared by haven's benchmarks).

Each image is composed from scratch so that two seeds share no layout:
- a background of 1/f colour noise (the power spectrum of natural photos) blended with a
  random sky/ground-like gradient, so the low frequencies PDQ looks at differ per seed;
- 2-5 patches cut from scikit-image's bundled sample photos (random source, crop, mirror,
  quarter-turn, tint, size and place, some with soft oval masks);
- a handful of flat or translucent shapes, then a global tone curve and sensor-like grain.

Nothing here downloads anything: only the image files shipped inside scikit-image are read.

    from imagegen import make_photo
    make_photo(7).save("p.jpg", quality=90)            # 4000x3000, ~12 MP
    make_photo(7, 1024, 768)                            # benchmark size
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

# Bundled skimage sample files usable as photographic material (no pooch downloads).
_SOURCE_FILES = (
    "astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "coffee.png",
    "coins.png", "color.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png",
    "moon.png", "motorcycle_left.png", "motorcycle_right.png", "page.png", "retina.jpg",
    "rocket.jpg", "clock_motion.png", "microaneurysms.png", "horse.png", "text.png", "logo.png",
)


@functools.lru_cache(maxsize=1)
def _sources() -> tuple[Image.Image, ...]:
    import skimage

    data_dir = Path(skimage.__file__).parent / "data"
    out = []
    for name in _SOURCE_FILES:
        path = data_dir / name
        if not path.exists():
            continue
        with Image.open(path) as img:
            img = img.convert("RGB")
            # keep sources modest: patches are at most ~2/3 of the canvas anyway
            img.thumbnail((1024, 1024), Image.BICUBIC)
            out.append(img.copy())
    if not out:
        raise RuntimeError("no scikit-image sample images found; is scikit-image installed?")
    return tuple(out)


def _pink_noise(rng: np.random.Generator, h: int, w: int, beta: float) -> np.ndarray:
    """h x w x 3 float field in [0, 1] with a 1/f^beta power spectrum, correlated channels."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2)
    amp[0, 0] = 0.0
    base = None
    chans = []
    for _ in range(3):
        spec = amp * np.exp(2j * np.pi * rng.random(amp.shape)) * rng.standard_normal(amp.shape)
        field = np.fft.irfft2(spec, s=(h, w))
        field = (field - field.mean()) / (field.std() + 1e-9)
        if base is None:
            base = field
        # channels share most structure (like real scenes), each with its own part
        mix = rng.uniform(0.5, 0.9)
        chans.append(mix * base + (1 - mix) * field)
    out = np.stack(chans, axis=-1)
    out = (out - out.min()) / (out.max() - out.min() + 1e-9)
    return out


def _background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    sh, sw = 96, 128
    noise = _pink_noise(rng, sh, sw, rng.uniform(1.6, 2.8))
    palette = rng.uniform(0, 1, (2, 3))
    noise = palette[0] + (palette[1] - palette[0]) * noise * rng.uniform(0.6, 1.4)
    # a random-direction gradient (sky/ground, window light, vignette-like)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(ang) * xx / sw + np.sin(ang) * yy / sh)
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min() + 1e-9)
    c0, c1 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    grad = c0 + (c1 - c0) * ramp[..., None]
    w_grad = rng.uniform(0.2, 0.7)
    field = np.clip((1 - w_grad) * noise + w_grad * grad, 0, 1)
    small = Image.fromarray((field * 255).astype(np.uint8), "RGB")
    return small.resize((width, height), Image.BICUBIC)


def _patch(rng: np.random.Generator, width: int, height: int) -> tuple[Image.Image, Image.Image | None]:
    sources = _sources()
    src = sources[int(rng.integers(len(sources)))]
    sw, sh = src.size
    fw, fh = rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.0)
    cw, ch = max(8, int(sw * fw)), max(8, int(sh * fh))
    x0, y0 = int(rng.integers(0, sw - cw + 1)), int(rng.integers(0, sh - ch + 1))
    img = src.crop((x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    turns = int(rng.integers(4))
    if turns:
        img = img.transpose((Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180,
                             Image.Transpose.ROTATE_270)[turns - 1])
    target_w = int(width * rng.uniform(0.15, 0.8))
    target_h = max(8, int(target_w * img.height / img.width * rng.uniform(0.8, 1.25)))
    target_h = min(target_h, int(height * 0.8))
    img = img.resize((max(8, target_w), target_h), Image.BICUBIC)
    gains = rng.uniform(0.6, 1.3, 3)
    img = img.point([min(255, int(v * gains[c])) for c in range(3) for v in range(256)])
    mask = None
    if rng.random() < 0.4:
        mask = Image.new("L", img.size, 0)
        ImageDraw.Draw(mask).ellipse((0, 0, img.width - 1, img.height - 1), fill=255)
        mask = mask.filter(ImageFilter.GaussianBlur(max(1, img.width // 30)))
    return img, mask


def _shapes(rng: np.random.Generator, canvas: Image.Image) -> None:
    w, h = canvas.size
    overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for _ in range(int(rng.integers(2, 9))):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3)) + (int(rng.integers(90, 256)),)
        kind = int(rng.integers(3))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = w * rng.uniform(0.02, 0.25), h * rng.uniform(0.02, 0.25)
        if kind == 0:
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=colour)
        elif kind == 1:
            draw.rectangle((cx - rx, cy - ry, cx + rx, cy + ry), fill=colour)
        else:
            n = int(rng.integers(3, 7))
            ang = np.sort(rng.uniform(0, 2 * np.pi, n))
            pts = [(float(cx + rx * np.cos(a)), float(cy + ry * np.sin(a))) for a in ang]
            draw.polygon(pts, fill=colour)
    canvas.paste(overlay, (0, 0), overlay)


def make_photo(seed: int, width: int = 4000, height: int = 3000) -> Image.Image:
    """A photo-like benign RGB image, different for every seed, same for the same seed."""
    rng = np.random.default_rng([seed, 0x4A7E])
    canvas = _background(rng, width, height)
    for _ in range(int(rng.integers(2, 6))):
        img, mask = _patch(rng, width, height)
        x = int(rng.integers(-img.width // 4, width - img.width * 3 // 4))
        y = int(rng.integers(-img.height // 4, height - img.height * 3 // 4))
        canvas.paste(img, (x, y), mask)
    _shapes(rng, canvas)
    if rng.random() < 0.5:  # depth-of-field like softness on some images
        canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0) * width / 1000))
    gamma = rng.uniform(0.7, 1.4)
    canvas = canvas.point([min(255, int(255 * (v / 255) ** gamma)) for v in range(256)] * 3)
    # sensor-like grain, generated in C by Pillow
    sigma = float(rng.uniform(2, 9))
    grain = Image.effect_noise((width, height), sigma)
    grain_rgb = Image.merge("RGB", (grain, grain, grain))
    canvas = ImageChops.add(canvas, grain_rgb, scale=1.0, offset=-128)
    return canvas


def main() -> None:  # pragma: no cover - manual use
    import argparse
    import time

    ap = argparse.ArgumentParser(description="write benign photo-like JPEGs")
    ap.add_argument("out_dir")
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--quality", type=int, default=90)
    args = ap.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for i in range(args.n):
        make_photo(i, args.width, args.height).save(out / f"photo-{i:05d}.jpg", quality=args.quality)
    print(f"{args.n} images in {time.perf_counter() - t0:.1f}s -> {out}")


if __name__ == "__main__":  # pragma: no cover
    main()
