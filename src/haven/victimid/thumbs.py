"""Thumbnails for the web views: made by `haven index` (part `thumbs`), shown blurred.

`make` turns the pixels the indexer already decoded into a small JPEG (long side at most
`LONG_SIDE`); `thumbnail` reads it back; `render` is what a viewer receives: by default a
Gaussian blur whose radius is a tenth of the picture's long side (shapes and colours of large
areas survive, faces, bodies and text do not) and greyscale. The clear picture is only
rendered when the caller asks for it, which the service does only after an audited request.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from haven.victimid.models import ThumbRow
from haven.victimid.store import VictimStore

LONG_SIDE = 320
QUALITY = 80
BLUR_FRACTION = 0.1  # Gaussian radius as a share of the long side


def make(rgb: np.ndarray, long_side: int = LONG_SIDE) -> tuple[bytes, int, int]:
    """(JPEG bytes, width, height) of RGB uint8 pixels scaled so the long side is <= long_side."""
    img = Image.fromarray(np.ascontiguousarray(rgb[..., :3]), "RGB")
    img.thumbnail((long_side, long_side), Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=QUALITY, optimize=True)
    return buf.getvalue(), img.width, img.height


def thumbnail(vs: VictimStore, media_id: int) -> bytes | None:
    """The stored (clear) thumbnail of a media, or None when it has none (videos, old index)."""
    with vs.session() as s:
        row = s.get(ThumbRow, media_id)
        return bytes(row.jpeg) if row is not None else None


def render(jpeg: bytes, *, blur: bool, grey: bool) -> bytes:
    """The thumbnail as a viewer gets it: blurred and/or greyscale (a one-channel JPEG),
    re-encoded as JPEG.

    Always re-encoded, even clear, so the bytes sent never depend on what was stored beyond
    the pixels."""
    img = Image.open(io.BytesIO(jpeg), formats=["JPEG"])
    img = img.convert("L") if grey else img.convert("RGB")
    if blur:
        radius = max(4.0, BLUR_FRACTION * max(img.size))
        img = img.filter(ImageFilter.GaussianBlur(radius))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=QUALITY)
    return buf.getvalue()
