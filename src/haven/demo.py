"""A small, entirely benign demo seizure and hash sets, generated on the spot.

Images are procedural (gradients, shapes, noise); nothing depicts a person. The demo shows
every finding: known (exact), near-known (a resized re-encode of a listed image), known-good,
fresh, other and error, plus an image hidden under a `.dll` name and nesting in zip, tar.gz
and an ISO.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def make_image(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A benign procedural picture: a gradient sky, a few shapes, a little noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    y = np.linspace(0, 1, h)[:, None, None]
    x = np.linspace(0, 1, w)[None, :, None]
    c1, c2, c3 = rng.uniform(0, 255, (3, 3))
    base = c1 * (1 - y) + c2 * y * (1 - x) + c3 * x * y
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(6, 14)):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(20, w // 2), y0 + rng.integers(20, h // 2)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = rng.integers(0, 3)
        if shape == 0:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        elif shape == 1:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
        else:
            draw.polygon([(x0, y0), (x1, y0), ((x0 + x1) // 2, y1)], fill=colour)
    # A faint grating gives every picture the mid-frequency detail PDQ needs to trust it.
    fx, fy, phase = rng.uniform(3, 9), rng.uniform(3, 9), rng.uniform(0, 6.3)
    grating = 25 * np.sin(2 * np.pi * (fx * x[..., 0] + fy * y[..., 0]) + phase)[..., None]
    noise = rng.normal(0, 6, (h, w, 3))
    arr = np.clip(np.asarray(img, dtype=np.float64) + grating + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


_PAGE_WORDS = "alpha beta gamma delta river stone garden window paper light market bridge".split()


def make_printed_page(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A benign 'photo of a printed page': lines of small dark text over a smooth colour field.

    Its PDQ is PDQ-unstable (it moves by more than 16 bits when the picture is moved by 1-2
    pixels: the hash rests on where PDQ's samples fall on the text), like photographed text,
    fine texture and periodic patterns (docs/hash-only.md)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    field = np.zeros((h, w, 3))
    for _ in range(4):
        fx, fy, phase = rng.uniform(0.5, 3, 2).tolist() + [rng.uniform(0, 6.3)]
        field += rng.uniform(10, 40, 3) * np.sin(2 * np.pi * (fx * x + fy * y) + phase)[..., None]
    img = Image.fromarray(np.clip(field + 150, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=int(rng.integers(9, 12)))
    top = int(rng.integers(4, 12))
    while top < h - 10:
        line = " ".join(_PAGE_WORDS[int(i)] for i in rng.integers(0, len(_PAGE_WORDS), 30))
        draw.text((int(rng.integers(2, 12)), top), line, font=font, fill=(20, 20, 30))
        top += font.size + int(rng.integers(2, 5))
    return img


def jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _iso_bytes(members: dict[str, bytes]) -> bytes:
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3)
    for i, (name, data) in enumerate(members.items()):
        iso.add_fp(io.BytesIO(data), len(data), f"/FILE{i}.;1", joliet_path="/" + name)
    buf = io.BytesIO()
    iso.write_fp(buf)
    iso.close()
    return buf.getvalue()


def build_demo(out_dir: str | Path) -> dict:
    """Write the demo evidence and hash sets under `out_dir` (replacing an earlier demo)."""
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    ev = out / "evidence" / "demo-seizure"
    for sub in ("Pictures", "Downloads", "Documents"):
        (ev / sub).mkdir(parents=True)

    fresh = [jpeg_bytes(make_image(100 + i)) for i in range(6)]
    for i, data in enumerate(fresh[:4]):
        (ev / "Pictures" / f"holiday_{i + 1:03d}.jpg").write_bytes(data)
    (ev / "Pictures" / "sunset.png").write_bytes(png_bytes(make_image(200)))
    (ev / "Downloads" / "driver.dll").write_bytes(fresh[4])  # an image under a false name

    known_exact = jpeg_bytes(make_image(1))
    known_sha1_only = png_bytes(make_image(2))
    near_original = make_image(3, (1024, 768))
    near_copy = jpeg_bytes(near_original.resize((512, 384), Image.Resampling.LANCZOS), 70)
    (ev / "Pictures" / "img_0042.jpg").write_bytes(known_exact)

    notes = b"Shopping list: bread, milk, apples.\n"
    (ev / "Documents" / "notes.txt").write_bytes(notes)
    (ev / "Documents" / "report.pdf").write_bytes(b"%PDF-1.4\n% benign demo file\n%%EOF\n")
    (ev / "Pictures" / "broken.jpg").write_bytes(fresh[5][: len(fresh[5]) // 3])

    inner = _zip_bytes({"a.jpg": near_copy, "readme.txt": b"inner archive\n"})
    (ev / "backup.zip").write_bytes(
        _zip_bytes({"old/x.dat": known_exact, "inner/pack.zip": inner, "old/y.bin": known_sha1_only})
    )
    tar_path = ev / "Documents" / "archive.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        for name, data in (("photos/beach.jpg", jpeg_bytes(make_image(300))), ("notes.txt", notes)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (ev / "cd1.iso").write_bytes(
        _iso_bytes({"scan_01.jpg": jpeg_bytes(make_image(400)), "copy.jpg": known_exact})
    )

    hs_dir = out / "hashsets"
    hs_dir.mkdir()
    from haven.signals.pdq import pdq_from_image

    known_csv = hs_dir / "demo-known.csv"
    with open(known_csv, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["md5", "sha1", "pdq", "category", "series"])  # noqa: signal-names (the demo file's header)
        w.writerow([hashlib.md5(known_exact).hexdigest(), "", "", "1", "DEMO-SERIES-A"])
        w.writerow(["", hashlib.sha1(known_sha1_only).hexdigest(), "", "2", "DEMO-SERIES-A"])
        w.writerow(["", "", pdq_from_image(near_original, fast=False).hex, "1", "DEMO-SERIES-B"])
    good_txt = hs_dir / "demo-known-good.txt"
    good_txt.write_text(hashlib.md5(notes).hexdigest() + "\n")
    return {
        "evidence": ev,
        "case": out / "case",
        "hashsets": [
            ("demo-known", known_csv, ["--scheme", "demo"]),
            ("demo-known-good", good_txt, ["--known-good"]),
        ],
    }
