"""PDQ perceptual hash of images, with one pinned pre-processing recorded beside every hash.

Two paths, both hashing what the file stores (EXIF orientation is ignored, as the reference
implementations do; rotated copies are caught by dihedral matching):

- full (`PREPROCESS_FULL`): decode at full size, convert to RGB, `pdqhash.compute`. Bit-identical
  to pdqhash 0.2.8 / the Java and python-threatexchange reference hashes.
- fast (`PREPROCESS`, the default): the picture is taken as luma only, PDQ's input. JPEGs are
  decoded straight to their Y plane with libjpeg DCT scaling (`Image.draft("L", ...)`: no chroma
  IDCT, upsampling or colour conversion), other formats are converted to luma and area-reduced
  (`Image.reduce`) by the largest integer factor that keeps the short side at least
  `FAST_SHORT_SIDE` pixels; the hashes are computed from that plane by
  `haven.signals.pdqluma` (pdqhash's arithmetic without its RGB step). 512 is measured, not
  guessed: at ~256 px (1/8 DCT scale of a 12 MP photo) PDQ drifts up to 12 bits from the
  full-size hash on the reference photos; at >= 512 px it stays within 6 (docs/benchmarks.md).

Hashes made by an earlier fast path (`PREPROCESS_RGB_V1`: the same scaling, but RGB pixels and
pdqhash) stay valid where they are stored; the two fast paths differ by the luma rounding only
(a few bits at most, measured in docs/benchmarks.md).

Hashes are 64 lowercase hex digits, bit order as `numpy.packbits` of pdqhash's 256-bit vector,
which is the reference hex encoding.
"""

from __future__ import annotations

import importlib.util
import io
import math
import os
import warnings
from dataclasses import dataclass
from typing import BinaryIO, Union

import numpy as np
import pdqhash
import PIL
from PIL import Image, UnidentifiedImageError

from haven.errors import DecodeError
from haven.signals import pdqluma
from haven.signals import MIN_TRUSTED_QUALITY  # noqa: F401 - also imported from here


# HEIC/HEIF (phones) when pillow-heif is installed. Pillow gets a stand-in under the HEIF name
# that imports pillow-heif at the first file in an ISO-BMFF box (`ftyp`) and hands over to its
# opener from then on: importing it cost every scan ~0.03 CPU-s before its workers could
# start, for evidence that mostly holds no HEIF at all.
def _register_heif() -> None:
    """Put pillow-heif's own opener in place of the stand-in."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


def _heif_accept(prefix: bytes) -> bool:
    if prefix[4:8] != b"ftyp":
        return False
    _register_heif()
    return Image.OPEN["HEIF"][1](prefix)


def _heif_open(fp, filename):
    if Image.OPEN["HEIF"][0] is _heif_open:
        _register_heif()
    return Image.OPEN["HEIF"][0](fp, filename)


if importlib.util.find_spec("pillow_heif") is not None:
    Image.register_open("HEIF", _heif_open, _heif_accept)
    Image.register_mime("HEIF", "image/heif")
    Image.register_extensions("HEIF", [".heic", ".heics", ".heif", ".heifs", ".hif"])

_PIL_MAJOR = PIL.__version__.split(".")[0]

#: Short side (pixels) the fast path keeps at least; see the module docstring.
FAST_SHORT_SIDE = 512
#: The pre-processing of the fast path: Pillow major version, luma (a JPEG's own Y plane, other
#: formats Pillow's L conversion), JPEG DCT-scaled decode / integer box reduction keeping the
#: short side >= 512, then PDQ of that plane (`haven.signals.pdqluma`).
PREPROCESS = f"pil{_PIL_MAJOR}:luma:dct-or-reduce-short{FAST_SHORT_SIDE}:pdqluma:v1"
#: The fast path before luma decoding (RGB pixels, pdqhash): what older stored hashes record.
PREPROCESS_RGB_V1 = f"pil{_PIL_MAJOR}:rgb:dct-or-reduce-short{FAST_SHORT_SIDE}:pdqhash:v1"
#: The pre-processing of the full-resolution path (reference-identical hashes).
PREPROCESS_FULL = f"pil{_PIL_MAJOR}:rgb:full:pdqhash:v1"


#: Images larger than this many pixels are refused as decompression bombs. 2**28 (268 MP) lets
#: the largest phone photos (200 MP) through; a full decode at this size needs ~800 MB of RGB.
MAX_PIXELS = 2**28

# Pillow's own guard must not fire below ours (it raises above 2x its limit and warns above it).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# Formats haven decodes. An allow-list, because some Pillow plugins hand the file to external
# programs (EPS runs Ghostscript) — never acceptable on seized material.
_FORMATS = (
    "JPEG", "MPO", "PNG", "GIF", "BMP", "DIB", "TIFF", "WEBP", "HEIF", "AVIF", "PPM", "ICO", "TGA",
    "JPEG2000",
)

#: Crop windows enrolled for KNOWN images, as fractions of the image (see `enrolment_hexes`).
#: A copy cropped by 3-8 % per side (independently) keeps 84-94 % of each side and moves its
#: centre by up to 2.5 %; PDQ tolerates about 0.5 % of shift and 1.5 % of scale per axis
#: (measured, docs/benchmarks.md), so the grid steps 4 % in size and 1 % in centre per axis.
ENROL_WINDOW_SIZES = (0.85, 0.89, 0.93)
ENROL_WINDOW_SHIFTS = (-0.02, -0.01, 0.0, 0.01, 0.02)
#: Central crop hashed on BOTH sides: drops banners/captions along the edges.
CENTRAL_CROP = 0.84
#: Central windows the query side hashes (each with its 8 dihedral versions). 0.89 and 0.93 are
#: also grid windows of the enrolment, so they cost nothing there; they lift recall on copies
#: with a caption near an edge from 98.8 % to 99.4 % (bench/recall.py).
QUERY_WINDOWS = (CENTRAL_CROP, 0.89, 0.93)
#: Windows are area-resampled to PDQ's own working size before hashing (fast, sub-pixel exact).
WINDOW_SIDE = 64

class ImageDecodeError(DecodeError):
    """An image could not be decoded (unknown format, truncated, corrupt, or a decompression bomb)."""


@dataclass(frozen=True)
class PdqSignal:
    hex: str
    quality: int
    preprocess: str
    trusted: bool  # quality >= 50: usable for near matching


@dataclass(frozen=True)
class PreparedImage:
    """The pixels PDQ is computed on, with the pre-processing that produced them: H x W luma,
    uint8 or float32 (fast path, hashed by `pdqluma`) or H x W x 3 uint8 RGB (full path, hashed
    by pdqhash itself)."""

    pixels: np.ndarray
    preprocess: str


ImageSource = Union[Image.Image, bytes, str, os.PathLike, PreparedImage]


def _hex(bits) -> str:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def hamming(a_hex: str, b_hex: str) -> int:
    """Number of differing bits between two 64-hex PDQ hashes."""
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()


def _allowed_formats() -> list[str]:
    Image.init()
    return [f for f in _FORMATS if f in Image.OPEN]


def _open(fp: BinaryIO | str | os.PathLike) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(fp, formats=_allowed_formats())
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError("decompression bomb", str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise ImageDecodeError("not an image format haven decodes") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageDecodeError("corrupt image header", str(exc)) from exc
    _check_size(img)
    return img


def _check_size(img: Image.Image) -> None:
    w, h = img.size
    if w <= 0 or h <= 0:
        raise ImageDecodeError("corrupt image header", f"size {w}x{h}")
    if w * h > MAX_PIXELS:
        raise ImageDecodeError("decompression bomb", f"{w}x{h} pixels is over the {MAX_PIXELS} limit")


def prepare(img: Image.Image, *, fast: bool = True) -> PreparedImage:
    """Decode (reduced when `fast`) to the pixels PDQ hashes: luma when `fast`, else RGB.

    Call on a freshly opened, not yet loaded image for the JPEG DCT scaling and the luma-only
    decode to take effect.
    """
    _check_size(img)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # palette-transparency and bomb warnings
            if fast:
                pixels, preprocess = _fast_luma(img), PREPROCESS
            else:
                pixels, preprocess = np.asarray(_rgb(img)), PREPROCESS_FULL
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError("decompression bomb", str(exc)) from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        reason = "truncated image" if "truncated" in str(exc) else "corrupt image data"
        raise ImageDecodeError(reason, str(exc)) from exc
    return PreparedImage(pixels, preprocess)


def _fast_luma(img: Image.Image) -> np.ndarray:
    """The fast path's luma plane: H x W, short side kept >= `FAST_SHORT_SIDE` when larger.

    A JPEG large enough for DCT scaling (short side >= 2 x 512) is decoded at that scale
    straight to luma: libjpeg hands over its Y plane (uint8), skipping the chroma IDCT, the
    upsampling and the colour conversion. Anything else is decoded to RGB and area-reduced as
    before, and its luma is pdqhash's own (float32 of 0.299 R + 0.587 G + 0.114 B), so small
    JPEGs and other formats hash as they did with pdqhash. A JPEG's Y differs from the luma of
    its decoded RGB by the RGB rounding and clamping (mostly < 1 level), hence the new id.
    """
    w, h = img.size
    if img.format in ("JPEG", "MPO") and min(w, h) >= 2 * FAST_SHORT_SIDE:
        scale = FAST_SHORT_SIDE / min(w, h)
        # draft picks the strongest DCT scaling whose size is still >= the request; a colour
        # (YCbCr) or grey JPEG is then decoded to luma, others (CMYK) keep their mode
        img.draft("L", (math.ceil(w * scale), math.ceil(h * scale)))
        img.load()
        if img.mode == "L":
            return np.asarray(img)
    rgb = _rgb(img)
    factor = min(rgb.size) // FAST_SHORT_SIDE
    if factor >= 2:
        rgb = rgb.reduce(factor)
    return pdqluma.luma_of_rgb(np.asarray(rgb))


def _rgb(img: Image.Image) -> Image.Image:
    """`img` decoded, as RGB: itself when it already is (a JPEG drafted to RGB), which spares
    the copy `convert` makes of an image already in the mode asked for (same pixels)."""
    img.load()  # as `convert` does first: a mode may change while loading
    return img if img.mode == "RGB" else img.convert("RGB")


# The last bytes decoded and their pixels: the scan calls `pdq_from_bytes(data)` then
# `query_hexes(data, ...)` on the same object, which must not decode the image twice.
_last_decoded: tuple[bytes, bool, PreparedImage] | None = None


def _prepared(source: ImageSource, fast: bool) -> PreparedImage:
    global _last_decoded
    if isinstance(source, PreparedImage):
        return source
    if isinstance(source, Image.Image):
        return prepare(source, fast=fast)
    if isinstance(source, bytes):
        last = _last_decoded
        if last is not None and last[0] is source and last[1] == fast:
            return last[2]
        with _open(io.BytesIO(source)) as img:
            prep = prepare(img, fast=fast)
        _last_decoded = (source, fast, prep)
        return prep
    if isinstance(source, (bytearray, memoryview)):
        with _open(io.BytesIO(source)) as img:
            return prepare(img, fast=fast)
    with _open(source) as img:
        return prepare(img, fast=fast)


def _pdq(pixels: np.ndarray) -> tuple[str, int]:
    """(hex, quality) of luma (`pdqluma`) or RGB pixels (pdqhash)."""
    if pixels.ndim == 2:
        return pdqluma.pdq_hex(pixels)
    bits, quality = pdqhash.compute(pixels)
    return _hex(bits), int(quality)


def _dihedral(pixels: np.ndarray) -> tuple[list[str], int]:
    """The 8 dihedral hashes and the quality of luma (`pdqluma`) or RGB pixels (pdqhash)."""
    if pixels.ndim == 2:
        return pdqluma.dihedral_hexes(pixels)
    bits_list, quality = pdqhash.compute_dihedral(pixels)
    return [_hex(b) for b in bits_list], int(quality)


def pdq_from_prepared(prep: PreparedImage) -> PdqSignal:
    """PDQ of already prepared pixels."""
    hex_, quality = _pdq(prep.pixels)
    return PdqSignal(hex_, quality, prep.preprocess, quality >= MIN_TRUSTED_QUALITY)


def pdq_from_image(img: Image.Image, *, fast: bool = True) -> PdqSignal:
    """PDQ of a PIL image (fast: reduced decode when the image is not loaded yet)."""
    return pdq_from_prepared(prepare(img, fast=fast))


def pdq_from_bytes(data: bytes, *, fast: bool = True) -> PdqSignal:
    """PDQ of an encoded image; raises `ImageDecodeError` with the reason when it cannot."""
    return pdq_from_prepared(_prepared(data, fast))


def pdq_from_path(path: str | os.PathLike, *, fast: bool = True) -> PdqSignal:
    """PDQ of an image file; raises `ImageDecodeError` with the reason when it cannot."""
    return pdq_from_prepared(_prepared(path, fast))


def dihedral_hexes(source: ImageSource, *, fast: bool = True) -> list[str]:
    """The 8 dihedral PDQ hashes (rotations and mirrors) of the same prepared pixels.

    Order as pdqhash: original, rot90, rot180, rot270, flip-x, flip-y, flip+1, flip-1.
    Accepts a PIL image, encoded bytes, a path or a `PreparedImage`.
    """
    return _dihedral(_prepared(source, fast).pixels)[0]


def window_box(width: int, height: int, fw: float, fh: float, cx: float = 0.0, cy: float = 0.0
               ) -> tuple[float, float, float, float]:
    """Pixel box of a window keeping fractions fw x fh of the image, centre moved by (cx, cy)."""
    return (width * (0.5 + cx - fw / 2), height * (0.5 + cy - fh / 2),
            width * (0.5 + cx + fw / 2), height * (0.5 + cy + fh / 2))


def _window_pixels(img: Image.Image, box: tuple[float, float, float, float]) -> np.ndarray:
    return np.asarray(img.resize((WINDOW_SIDE, WINDOW_SIDE), Image.BOX, box=box))


def _window_image(pixels: np.ndarray) -> Image.Image:
    """The image windows are cut from: RGB as it is; luma as float (mode F), so the 64 x 64
    area averages are not rounded to whole levels."""
    img = Image.fromarray(pixels)
    return img.convert("F") if img.mode == "L" else img


def enrol_windows() -> list[tuple[str, tuple[float, float, float, float]]]:
    """(name, (fw, fh, cx, cy)) of every crop window enrolled besides the full image."""
    out = [(f"pdq-c{round(CENTRAL_CROP * 100)}", (CENTRAL_CROP, CENTRAL_CROP, 0.0, 0.0))]
    for fw in ENROL_WINDOW_SIZES:
        for fh in ENROL_WINDOW_SIZES:
            for cx in ENROL_WINDOW_SHIFTS:
                for cy in ENROL_WINDOW_SHIFTS:
                    if abs(cx) + fw / 2 <= 0.5 and abs(cy) + fh / 2 <= 0.5:
                        name = f"pdq-w{round(fw * 100)}x{round(fh * 100)}{round(cx * 100):+d}{round(cy * 100):+d}"
                        out.append((name, (fw, fh, cx, cy)))
    return out


def enrolment_hexes(source: ImageSource, *, fast: bool = True) -> dict[str, str]:
    """Hashes to enrol for a KNOWN image: `pdq` plus crop-window hashes (`pdq-c84`, `pdq-w85x89+1-2`, ...).

    The windows (`enrol_windows`) cover copies cropped by 3-8 % per side and the central crop
    that the query side also hashes (banners, captions). Only possible where the known image
    itself is at hand; hash-only sets get `pdq` alone. ~0.25 s per image.
    """
    prep = _prepared(source, fast)
    out = {"pdq": pdq_from_prepared(prep).hex}
    img = _window_image(prep.pixels)
    w, h = img.size
    for name, (fw, fh, cx, cy) in enrol_windows():
        out[name] = _pdq(_window_pixels(img, window_box(w, h, fw, fh, cx, cy)))[0]
    return out


def _window_query_hexes(prep: PreparedImage) -> list[str]:
    """The 8 dihedral hashes of each central window in `QUERY_WINDOWS`."""
    img = _window_image(prep.pixels)
    out: list[str] = []
    for fraction in QUERY_WINDOWS:
        box = window_box(img.width, img.height, fraction, fraction)
        out.extend(_dihedral(_window_pixels(img, box))[0])
    return out


def query_hexes(source: ImageSource, sig: PdqSignal | None = None, *, fast: bool = True) -> list[str]:
    """What near matching searches with for one item: 32 hashes.

    The 8 dihedral hashes of the image, then the 8 dihedral hashes of each central window in
    `QUERY_WINDOWS` (they line up with enrolled windows through banners and edge captions).
    `sig` is accepted for the scan's call site; when `source` is the very bytes object just
    given to `pdq_from_bytes`, its decoded pixels are reused instead of decoding again.
    """
    prep = _prepared(source, fast)
    return dihedral_hexes(prep) + _window_query_hexes(prep)


def pdq_and_query_from_bytes(data: bytes, *, fast: bool = True) -> tuple[PdqSignal, list[str]]:
    """The item's PDQ signal and its `query_hexes`, from one decode and one dihedral pass.

    The first dihedral hash and its quality are exactly the single hash's (pdqhash's: checked
    on the reference images in tests/signals/test_pdq.py), so the signal costs nothing extra.
    """
    prep = _prepared(data, fast)
    dihedral, quality = _dihedral(prep.pixels)
    sig = PdqSignal(dihedral[0], quality, prep.preprocess, quality >= MIN_TRUSTED_QUALITY)
    return sig, dihedral + _window_query_hexes(prep)
