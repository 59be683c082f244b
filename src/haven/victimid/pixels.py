"""Decoding an image for victim identification: the indexer's decode and a query's pixels.

Kept apart from the indexer and the search (no SQLAlchemy, no models) so a query's image can
be decoded and its features extracted on a second thread while the search code is still
being imported (`haven victimid scene`)."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image

import haven.signals.pdq  # noqa: F401 - registers the HEIF opener and sets Pillow's pixel guard
from haven.victimid.errors import VictimIdError

MAX_PIXELS = 2**28
DECODE_LONG_SIDE = 2400  # pixels kept for faces/OCR; JPEGs are DCT-scaled down to about this
_FORMATS = ["JPEG", "MPO", "PNG", "GIF", "BMP", "DIB", "TIFF", "WEBP", "HEIF", "AVIF", "PPM", "TGA"]


def formats() -> list[str]:
    """The Pillow formats opened (an allow-list: some Pillow plugins hand data to external
    programs, EPS -> Ghostscript)."""
    Image.init()
    return [f for f in _FORMATS if f in Image.OPEN]


def decode(data: bytes) -> tuple[Image.Image, np.ndarray]:
    """(header-only image for metadata, RGB pixels scaled to at most DECODE_LONG_SIDE)."""
    allowed = formats()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            head = Image.open(io.BytesIO(data), formats=allowed)
            if head.width * head.height > MAX_PIXELS:
                raise VictimIdError(f"image of {head.width}x{head.height} pixels refused (decompression bomb guard)")
            img = Image.open(io.BytesIO(data), formats=allowed)
            if img.format == "JPEG":
                img.draft("RGB", (DECODE_LONG_SIDE, DECODE_LONG_SIDE))
            img = img.convert("RGB")
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
            raise VictimIdError(f"image not decodable: {exc}") from exc
    if max(img.size) > DECODE_LONG_SIDE:
        img.thumbnail((DECODE_LONG_SIDE, DECODE_LONG_SIDE), Image.LANCZOS)
    return head, np.asarray(img)


def image_pixels(data: bytes, region: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """RGB pixels of image bytes, optionally only `region` = (x, y, width, height) in the
    image's own pixels."""
    head, rgb = decode(data)
    if region:
        f = rgb.shape[1] / head.width  # the decode may have scaled the image down
        x, y, w, h = (int(round(v * f)) for v in region)
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > rgb.shape[1] + 1 or y + h > rgb.shape[0] + 1:
            raise VictimIdError(f"region {region} lies outside the {head.width}x{head.height} image")
        rgb = np.ascontiguousarray(rgb[y:y + h, x:x + w])
    return rgb
