"""A second generator of edited copies, written apart from the first (bench/recall.py and
bench/recall_hashonly.py make their variants with Pillow): issue 17's rule that a capability
is measured on variants a second, independent generator made.

Every variant is planned first (crop box, overlays, resampling, JPEG settings drawn from the
rng, in fractions of the picture) and then rendered by one of two tools that share nothing
with Pillow's drawing, resampling or encoding:

- ``magick``: ImageMagick's ``convert`` command (one process per variant, the picture piped
  in and out as JPEG): its own resize filters (Lanczos, Triangle, Catrom, Mitchell, ``-sample``
  point sampling), its JPEG writer with explicit chroma subsampling (4:2:0, 4:2:2, 4:4:4) and
  sometimes progressive, text in the Liberation fonts (FreeType through ImageMagick), RGBA
  fills for semi-transparent overlays;
- ``cv2``: OpenCV: ``cv2.resize`` (area, bilinear without antialiasing, bicubic, Lanczos-4,
  nearest), ``cv2.imencode`` (its bundled libjpeg, chroma subsampling, optimised Huffman),
  the Hershey stroke fonts of ``cv2.putText``, alpha blending by ``cv2.addWeighted``.

Kinds (names as the bench prints them): crop 3-8 %/side and 8-15 %/side (each side drawn
independently; half of them also rescaled, to 50-90 % or 110-150 %, as a share
or a platform's fixed width would), opaque banners
6-12 % of the height at top or bottom in colours other than white, the same banners
semi-transparent (alpha 0.45-0.8), captions (text without a box, 4-9 % of the height, other
fonts, positions and colours, often outlined), corner logos 10-20 % of the width (badge,
round emblem or wordmark), the same logos as semi-transparent watermarks (alpha 0.25-0.6),
plain JPEG re-encodes (q30-85) and downscales to 25-60 %.

ImageMagick is a Debian package (scripts/bench-deps.sh); without it every variant is made
with OpenCV and `tools()` says so.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

#: Edits beyond issue 17's list (measured, no target): what phone editors and apps also do.
EXTRA_KINDS = ("aspect crop 1:1/4:5", "straighten 1-4 deg", "colour filter", "sticker mid-picture",
               "phone screenshot")
KINDS = ("crop 3-8%/side", "crop 8-15%/side", "banner 6-12%", "banner 6-12% translucent",
         "caption", "corner logo 10-20%", "corner logo translucent", "jpeg q30-85",
         "resize 25-60%")

#: Liberation fonts for ImageMagick's text (fonts-liberation); DejaVu when they are missing.
_FONT_DIRS = (Path("/usr/share/fonts/truetype/liberation"),
              Path("/usr/share/fonts/truetype/dejavu"))
_FONT_NAMES = ("LiberationSans-Bold.ttf", "LiberationSerif-Bold.ttf", "LiberationSans-Regular.ttf",
               "LiberationMono-Bold.ttf", "LiberationSansNarrow-Bold.ttf",
               "LiberationSerif-Italic.ttf")
_HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
            cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_PLAIN)
_MAGICK_FILTERS = ("Lanczos", "Triangle", "Catrom", "Mitchell", "Point")
_CV2_FILTERS = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC,
                "lanczos4": cv2.INTER_LANCZOS4, "nearest": cv2.INTER_NEAREST}
_SAMPLING = ("4:2:0", "4:2:2", "4:4:4")
_CV2_SAMPLING = {"4:2:0": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
                 "4:2:2": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
                 "4:4:4": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444}
_MAGICK_SAMPLING = {"4:2:0": "2x2,1x1,1x1", "4:2:2": "2x1,1x1,1x1", "4:4:4": "1x1,1x1,1x1"}

#: Banner / logo colours (RGB): none of them white.
_COLOURS = ((0, 0, 0), (20, 30, 80), (200, 20, 30), (250, 210, 0), (230, 80, 160),
            (20, 140, 60), (90, 90, 90), (250, 120, 0), (0, 150, 200))
_TEXT_COLOURS = ((255, 255, 255), (255, 230, 0), (0, 0, 0), (230, 30, 30), (120, 220, 255))
_PHRASES = ("@sunset_lens", "dm for more", "(c) 2021 JPHOTO", "tag a friend", "NEW", "vol. 3",
            "like & share", "#tbt", "summer vibes", "exclusive", "part 2", "omg", "full set",
            "link in bio", "no repost", "weekend mood", "best of 2020", "free", "HD", "sub now")
_WORDMARKS = ("PIXL", "SNAP", "KLIK", "FOTO", "VIBE", "ZOOM", "LENS", "GRAM")


def magick_path() -> str | None:
    """The real ImageMagick `convert` (not a stand-in that only converts PNG), or None."""
    for cand in ("/usr/bin/convert", shutil.which("magick"), shutil.which("convert")):
        if not cand:
            continue
        try:
            out = subprocess.run([cand, "-version"], capture_output=True, text=True,
                                 timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        if out.startswith("Version: ImageMagick"):
            return cand
    return None


def tools(wanted: str = "auto") -> tuple[list[str], str]:
    """The tools to render with and a line saying which (and why one is missing)."""
    mg = magick_path()
    if wanted == "cv2" or (wanted == "auto" and mg is None):
        note = ("" if wanted == "cv2" else
                "ImageMagick not found (scripts/bench-deps.sh installs it): every variant "
                "made with OpenCV only")
        return ["cv2"], note or "OpenCV only (--tool cv2)"
    if wanted == "magick":
        if mg is None:
            raise SystemExit("--tool magick: ImageMagick's convert is not installed "
                             "(scripts/bench-deps.sh)")
        return ["magick"], f"ImageMagick only ({mg})"
    return ["magick", "cv2"], f"ImageMagick ({mg}) and OpenCV {cv2.__version__}, alternating"


def _fonts() -> list[str]:
    out = [str(d / n) for d in _FONT_DIRS[:1] for n in _FONT_NAMES if (d / n).exists()]
    if not out:
        out = [str(p) for p in sorted(_FONT_DIRS[1].glob("DejaVu*Bold.ttf"))]
    return out


# -- plans ------------------------------------------------------------------------------------
@dataclass
class Shape:
    """An overlay element in fractions of the (cropped) picture: 'rect', 'round' (rounded
    rectangle), 'circle' or 'text' (box = where the text's top, height and left edge go)."""
    kind: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of width/height
    rgb: tuple[int, int, int]
    alpha: float = 1.0
    text: str = ""
    font: int = 0
    outline: bool = False
    fit: bool = False  # text: also fit the box's width (inside a logo)


@dataclass
class Logo:
    """A corner logo: `w` of the picture's width at its left edge `x0` (fractions), `hw` its
    height over its width (1 for an emblem), `my` the margin from the top or bottom edge as
    a fraction of the height."""
    style: str  # badge, emblem, wordmark, text
    x0: float
    w: float
    hw: float
    bottom: bool
    my: float
    rgb: tuple[int, int, int]
    alpha: float
    letters: str
    font: int


@dataclass
class Plan:
    crop: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # left, right, top, bottom
    shapes: list[Shape] = field(default_factory=list)
    logo: Logo | None = None
    scale: float = 1.0
    filt: int = 0  # index into the tool's filter list
    quality: int = 90
    sampling: str = "4:2:0"
    progressive: bool = False
    rotate: float = 0.0  # degrees, then the largest centred frame of the same aspect
    aspect: float = 0.0  # crop to this width / height (the cut split by `aspect_split`)
    aspect_split: float = 0.5
    width_to: int = 0  # final width in pixels (instead of `scale`)
    tone: tuple | None = None  # brightness %, contrast, saturation, tint rgb, tint, vignette
    screen: tuple | None = None  # (dark, name): the picture shown in a phone screenshot

    def describe(self, tool: str) -> str:
        parts = [tool]
        if any(self.crop):
            parts.append("crop l{:.1f} r{:.1f} t{:.1f} b{:.1f}".format(
                *(100 * c for c in self.crop)))
        for s in self.shapes:
            parts.append(f"{s.kind}{'(' + s.text + ')' if s.text else ''} "
                         f"[{s.box[0]:.2f},{s.box[1]:.2f},{s.box[2]:.2f},{s.box[3]:.2f}]"
                         f" a{s.alpha:.2f}")
        if self.logo:
            g = self.logo
            parts.append(f"logo {g.style}({g.letters}) x{g.x0:.2f} w{g.w:.2f} "
                         f"{'bottom' if g.bottom else 'top'} a{g.alpha:.2f}")
        if self.rotate:
            parts.append(f"rotate {self.rotate:+.2f}")
        if self.aspect:
            parts.append(f"aspect {self.aspect:.2f} split {self.aspect_split:.2f}")
        if self.tone:
            parts.append("tone b{:+.0f} c{:.2f} s{:.2f} tint{} {:.2f} vignette {:.2f}".format(
                *self.tone))
        if self.screen:
            parts.append(f"screenshot {'dark' if self.screen[0] else 'light'}")
        if self.width_to:
            names = _MAGICK_FILTERS if tool == "magick" else list(_CV2_FILTERS)
            parts.append(f"width {self.width_to} {names[self.filt % len(names)]}")
        if self.scale != 1.0:
            names = _MAGICK_FILTERS if tool == "magick" else list(_CV2_FILTERS)
            parts.append(f"scale {self.scale:.2f} {names[self.filt % len(names)]}")
        parts.append(f"q{self.quality} {self.sampling}"
                     f"{' progressive' if self.progressive else ''}")
        return "; ".join(parts)


def _encode(plan: Plan, rng: np.random.Generator, lo: int = 70, hi: int = 95) -> None:
    plan.quality = int(rng.integers(lo, hi + 1))
    plan.sampling = _SAMPLING[int(rng.choice(3, p=(0.6, 0.2, 0.2)))]
    plan.progressive = bool(rng.random() < 0.25)


def _text_shape(rng, x0: float, y_top: float, height: float, colour, alpha: float = 1.0,
                outline: bool = False) -> Shape:
    words = _PHRASES[int(rng.integers(len(_PHRASES)))]
    return Shape("text", (x0, y_top, x0, y_top + height), colour, alpha, words,
                 int(rng.integers(0, 64)), outline)


def plan_variant(kind: str, rng: np.random.Generator) -> Plan:
    """The edit of one variant of `kind`, drawn from rng (tool-independent)."""
    plan = Plan()
    if kind.startswith("crop"):
        lo, hi = (0.03, 0.08) if "3-8" in kind else (0.08, 0.15)
        plan.crop = tuple(float(v) for v in rng.uniform(lo, hi, 4))
        if rng.random() < 0.5:  # shared on: rescaled too, down (2/3) or up to a width
            plan.scale = float(rng.uniform(0.5, 0.9) if rng.random() < 2 / 3
                               else rng.uniform(1.1, 1.5))
        plan.filt = int(rng.integers(0, 5))
        _encode(plan, rng)
    elif kind.startswith("banner"):
        h = float(rng.uniform(0.06, 0.12))
        top = bool(rng.random() < 0.5)
        y0, y1 = (0.0, h) if top else (1.0 - h, 1.0)
        if rng.random() < 0.75:
            x0, x1 = 0.0, 1.0
        else:  # part of the width, from one side or centred
            w = float(rng.uniform(0.6, 0.95))
            x0 = float(rng.choice([0.0, 1.0 - w, (1.0 - w) / 2]))
            x1 = x0 + w
        colour = _COLOURS[int(rng.integers(len(_COLOURS)))]
        alpha = 1.0 if "translucent" not in kind else float(rng.uniform(0.45, 0.8))
        plan.shapes.append(Shape("rect", (x0, y0, x1, y1), colour, alpha))
        text_rgb = (0, 0, 0) if sum(colour) > 400 else (255, 255, 255)
        plan.shapes.append(_text_shape(rng, x0 + float(rng.uniform(0.02, 0.2)) * (x1 - x0),
                                       y0 + 0.2 * h, 0.55 * h, text_rgb))
        _encode(plan, rng)
    elif kind == "caption":
        for _ in range(1 if rng.random() < 0.7 else 2):
            height = float(rng.uniform(0.04, 0.09))
            where = str(rng.choice(["top", "bottom", "middle", "anywhere"]))
            y = {"top": float(rng.uniform(0.02, 0.08)),
                 "bottom": 1.0 - height - float(rng.uniform(0.02, 0.08)),
                 "middle": 0.5 - height / 2 + float(rng.uniform(-0.08, 0.08)),
                 "anywhere": float(rng.uniform(0.02, 0.9 - height))}[where]
            colour = _TEXT_COLOURS[int(rng.integers(len(_TEXT_COLOURS)))]
            plan.shapes.append(_text_shape(rng, float(rng.uniform(0.03, 0.35)), y, height,
                                           colour, outline=bool(rng.random() < 0.6)))
        _encode(plan, rng)
    elif kind.startswith("corner logo"):
        translucent = "translucent" in kind
        w = float(rng.uniform(0.10, 0.20))
        mx, my = (float(v) for v in rng.uniform(0.01, 0.04, 2))
        right, bottom = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
        styles = ["badge", "emblem", "wordmark"] + (["text"] if translucent else [])
        style = str(rng.choice(styles))
        plan.logo = Logo(style, 1.0 - mx - w if right else mx, w,
                         1.0 if style == "emblem" else float(rng.uniform(0.35, 0.5)), bottom, my,
                         _COLOURS[int(rng.integers(len(_COLOURS)))],
                         float(rng.uniform(0.25, 0.6)) if translucent else 1.0,
                         _WORDMARKS[int(rng.integers(len(_WORDMARKS)))], int(rng.integers(0, 64)))
        _encode(plan, rng)
    elif kind.startswith("jpeg"):
        _encode(plan, rng, 30, 85)
    elif kind.startswith("resize"):
        plan.scale = float(rng.uniform(0.25, 0.6))
        plan.filt = int(rng.integers(0, 5))
        _encode(plan, rng, 75, 92)
    elif kind.startswith("aspect crop"):
        plan.aspect = float(rng.choice([1.0, 0.8]))
        plan.aspect_split = float(rng.uniform(0.2, 0.8))
        plan.width_to = 1080 if rng.random() < 0.5 else 0
        plan.filt = int(rng.integers(0, 5))
        _encode(plan, rng)
    elif kind.startswith("straighten"):
        plan.rotate = float(rng.uniform(1.0, 4.0) * rng.choice([-1, 1]))
        plan.filt = int(rng.integers(0, 5))
        _encode(plan, rng)
    elif kind == "colour filter":
        tint = _COLOURS[int(rng.integers(len(_COLOURS)))]
        plan.tone = (float(rng.uniform(-15, 15)), float(rng.uniform(0.8, 1.3)),
                     float(rng.uniform(0.5, 1.5)), tint, float(rng.uniform(0.0, 0.15)),
                     float(rng.uniform(0.2, 0.5)) if rng.random() < 0.5 else 0.0)
        _encode(plan, rng)
    elif kind == "sticker mid-picture":
        for _ in range(1 if rng.random() < 0.7 else 2):
            plan.shapes.append(Shape("sticker", (float(rng.uniform(0.25, 0.75)),
                                                 float(rng.uniform(0.25, 0.75)),
                                                 float(rng.uniform(0.10, 0.20)), 0.0),
                                     (250, 200, 30) if rng.random() < 0.7 else
                                     _COLOURS[int(rng.integers(len(_COLOURS)))]))
        _encode(plan, rng)
    elif kind == "phone screenshot":
        plan.screen = (bool(rng.random() < 0.5), _PHRASES[int(rng.integers(len(_PHRASES)))])
        plan.filt = int(rng.integers(0, 5))
        _encode(plan, rng)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return plan


# -- pixel geometry shared by both renderers ---------------------------------------------------
def _pixel_shapes(plan: Plan, w: int, h: int) -> list[tuple[Shape, tuple[int, int, int, int]]]:
    """Every overlay element with its pixel box (x0, y0, x1, y1) on a w x h picture."""
    out = []
    for s in plan.shapes:
        if s.kind == "sticker":  # box = centre x, centre y, diameter as a fraction of w
            d = max(8, round(s.box[2] * w))
            x0, y0 = round(s.box[0] * w) - d // 2, round(s.box[1] * h) - d // 2
            out.append((s, (x0, y0, x0 + d, y0 + d)))
        else:
            out.append((s, (round(s.box[0] * w), round(s.box[1] * h), round(s.box[2] * w),
                            round(s.box[3] * h))))
    g = plan.logo
    if g is None:
        return out
    x0 = round(g.x0 * w)
    lw = max(8, round(g.w * w))
    lh = max(6, round(g.hw * lw))
    y0 = h - round(g.my * h) - lh if g.bottom else round(g.my * h)
    box = (x0, y0, x0 + lw, y0 + lh)
    white = (255, 255, 255)
    if g.style == "badge":
        out.append((Shape("round", (0, 0, 0, 0), g.rgb, g.alpha), box))
        ih = round(0.5 * lh)
        out.append((Shape("text", (0, 0, 0, 0), white, g.alpha, g.letters, g.font, fit=True),
                    (x0 + round(0.12 * lw), y0 + (lh - ih) // 2, x0 + lw - round(0.12 * lw),
                     y0 + (lh - ih) // 2 + ih)))
    elif g.style == "emblem":
        out.append((Shape("circle", (0, 0, 0, 0), g.rgb, g.alpha), box))
        ih = round(0.4 * lh)
        out.append((Shape("text", (0, 0, 0, 0), white, g.alpha, g.letters[0], g.font, fit=True),
                    (x0 + round(0.3 * lw), y0 + (lh - ih) // 2, x0 + lw - round(0.3 * lw),
                     y0 + (lh - ih) // 2 + ih)))
    else:  # wordmark (coloured, outlined) or a plain white text watermark
        text = g.letters if g.style == "wordmark" else "(c) " + g.letters.lower() + ".net"
        ih = round(0.7 * lh)
        out.append((Shape("text", (0, 0, 0, 0), g.rgb if g.style == "wordmark" else white,
                          g.alpha, text, g.font, g.style == "wordmark", fit=True),
                    (x0, y0 + (lh - ih) // 2, x0 + lw, y0 + (lh - ih) // 2 + ih)))
    return out


def _crop_box(plan: Plan, w: int, h: int) -> tuple[int, int, int, int]:
    if plan.aspect:
        if w / h > plan.aspect:
            nw = round(h * plan.aspect)
            x0 = round((w - nw) * plan.aspect_split)
            return x0, 0, x0 + nw, h
        nh = round(w / plan.aspect)
        y0 = round((h - nh) * plan.aspect_split)
        return 0, y0, w, y0 + nh
    l, r, t, b = plan.crop
    return round(l * w), round(t * h), w - round(r * w), h - round(b * h)


def _inner(w: int, h: int, degrees: float) -> tuple[int, int]:
    """The largest centred w:h frame inside a w x h picture rotated by `degrees`."""
    a = np.radians(abs(degrees))
    c, s = np.cos(a), np.sin(a)
    f = min(w / (w * c + h * s), h / (w * s + h * c))
    return int(w * f), int(h * f)


def _screen_layout(plan: Plan, pw: int, ph: int):
    """Canvas size, the picture's box on it and the interface elements of a phone
    screenshot (status bar, app header with a name, message bar) for a pw x ph picture."""
    cw = max(360, pw)
    ch = round(cw * 19.5 / 9)
    sw, sh = cw, round(cw * ph / pw)
    if sh > 0.7 * ch:
        sh = round(0.7 * ch)
        sw = round(sh * pw / ph)
    dark, name = plan.screen
    bar = (28, 28, 30) if dark else (246, 246, 246)
    ink = (255, 255, 255) if dark else (0, 0, 0)
    x0, y0 = (cw - sw) // 2, (ch - sh) // 2 + round(0.02 * ch)
    sb, hb, mb = round(0.035 * ch), round(0.07 * ch), round(0.08 * ch)
    ui = [(Shape("rect", (0, 0, 0, 0), bar), (0, 0, cw, sb + hb)),
          (Shape("text", (0, 0, 0, 0), ink, text="9:41"),
           (round(0.05 * cw), round(0.2 * sb), cw, round(0.8 * sb))),
          (Shape("rect", (0, 0, 0, 0), ink), (cw - round(0.1 * cw), round(0.3 * sb),
                                               cw - round(0.04 * cw), round(0.7 * sb))),
          (Shape("circle", (0, 0, 0, 0), (120, 120, 200)),
           (round(0.04 * cw), sb + round(0.15 * hb), round(0.04 * cw) + round(0.7 * hb),
            sb + round(0.85 * hb))),
          (Shape("text", (0, 0, 0, 0), ink, text=name),
           (round(0.04 * cw) + hb, sb + round(0.3 * hb), cw, sb + round(0.7 * hb))),
          (Shape("rect", (0, 0, 0, 0), bar), (0, ch - mb, cw, ch)),
          (Shape("round", (0, 0, 0, 0), (90, 90, 90) if dark else (225, 225, 225)),
           (round(0.04 * cw), ch - mb + round(0.2 * mb), cw - round(0.04 * cw),
            ch - round(0.2 * mb)))]
    return (cw, ch), (x0, y0, x0 + sw, y0 + sh), (0, 0, 0) if dark else (255, 255, 255), ui


# -- ImageMagick --------------------------------------------------------------------------------
def _magick_draw(s: Shape, box: tuple[int, int, int, int], fonts: list[str]) -> list[str]:
    """convert options drawing one element in its pixel box."""
    a, b, c, d = box
    fill = f"rgba({s.rgb[0]},{s.rgb[1]},{s.rgb[2]},{s.alpha:.3f})"
    if s.kind == "rect":
        return ["-stroke", "none", "-fill", fill, "-draw", f"rectangle {a},{b} {c - 1},{d - 1}"]
    if s.kind == "round":
        rr = max(2, (d - b) // 4)
        return ["-stroke", "none", "-fill", fill,
                "-draw", f"roundrectangle {a},{b} {c - 1},{d - 1} {rr},{rr}"]
    if s.kind == "circle":
        cx, cy, rad = (a + c) // 2, (b + d) // 2, (c - a) // 2
        ring = f"rgba(255,255,255,{s.alpha:.3f})"
        return ["-fill", fill, "-stroke", ring, "-strokewidth", str(max(1, rad // 10)),
                "-draw", f"circle {cx},{cy} {cx + rad - rad // 10},{cy}"]
    if s.kind == "sticker":  # a round face: disc, two eyes, a smile
        cx, cy, rad = (a + c) // 2, (b + d) // 2, (c - a) // 2
        e = max(1, rad // 7)
        return ["-stroke", "rgb(60,40,0)", "-strokewidth", str(max(1, rad // 15)), "-fill", fill,
                "-draw", f"circle {cx},{cy} {cx + rad},{cy}",
                "-fill", "rgb(60,40,0)", "-stroke", "none",
                "-draw", f"circle {cx - rad // 3},{cy - rad // 4} {cx - rad // 3 + e},"
                         f"{cy - rad // 4}",
                "-draw", f"circle {cx + rad // 3},{cy - rad // 4} {cx + rad // 3 + e},"
                         f"{cy - rad // 4}",
                "-fill", "none", "-stroke", "rgb(60,40,0)", "-strokewidth", str(max(1, rad // 9)),
                "-draw", f"ellipse {cx},{cy + rad // 8} {rad // 2},{rad // 3} 20,160"]
    # text: pointsize so the glyph height ~ box height; left edge a, top b
    pt = max(6, round((d - b) * 1.3))
    if s.fit:  # inside a logo: fit the width too (~0.62 em per glyph)
        pt = max(6, min(pt, round((c - a) / (0.62 * max(1, len(s.text))))))
    out = ["-font", fonts[s.font % len(fonts)], "-pointsize", str(pt), "-gravity", "NorthWest"]
    if s.outline:
        out += ["-stroke", f"rgba(0,0,0,{s.alpha:.3f})", "-strokewidth", str(max(1, pt // 14))]
    else:
        out += ["-stroke", "none"]
    return out + ["-fill", fill, "-annotate", f"+{a}+{max(0, b - pt // 5)}", s.text]


def _magick_resize(plan: Plan, nw: int, nh: int) -> list[str]:
    filt = _MAGICK_FILTERS[plan.filt % len(_MAGICK_FILTERS)]
    if filt == "Point":
        return ["-sample", f"{nw}x{nh}!"]
    return ["-filter", filt, "-resize", f"{nw}x{nh}!"]


def _magick_args(plan: Plan, w: int, h: int, fonts: list[str]) -> list[str]:
    args: list[str] = []
    if plan.rotate:  # straighten: rotate about the centre, keep the largest inner frame
        iw, ih = _inner(w, h, plan.rotate)
        args += ["-virtual-pixel", "edge", "-distort", "SRT", f"{plan.rotate:.3f}",
                 "-gravity", "center", "-crop", f"{iw}x{ih}+0+0", "+repage",
                 "-gravity", "NorthWest"]
        w, h = iw, ih
    x0, y0, x1, y1 = _crop_box(plan, w, h)
    if (x0, y0, x1, y1) != (0, 0, w, h):
        args += ["-crop", f"{x1 - x0}x{y1 - y0}+{x0}+{y0}", "+repage"]
    cw, ch = x1 - x0, y1 - y0
    if plan.tone:
        bright, contrast, sat, tint, amount, vig = plan.tone
        args += ["-modulate", f"{100 + bright:.0f},{100 * sat:.0f},100",
                 "-brightness-contrast", f"0x{100 * (contrast - 1):.0f}"]
        if amount > 0:
            args += ["-fill", f"rgb({tint[0]},{tint[1]},{tint[2]})", "-colorize",
                     f"{100 * amount:.0f}%"]
        if vig > 0:
            args += ["-background", "black", "-vignette",
                     f"0x{0.5 * vig * min(cw, ch):.0f}-{round(0.08 * cw)}-{round(0.08 * ch)}"]
    for s, box in _pixel_shapes(plan, cw, ch):
        args += _magick_draw(s, box, fonts)
    if plan.screen:
        (sw, sh), (px0, py0, px1, py1), bg, ui = _screen_layout(plan, cw, ch)
        args += _magick_resize(plan, px1 - px0, py1 - py0)
        args += ["-background", f"rgb{bg}", "-gravity", "NorthWest",
                 "-extent", f"{sw}x{sh}-{px0}-{py0}"]
        for s, box in ui:
            args += _magick_draw(s, box, fonts)
        cw, ch = sw, sh
    if plan.width_to:
        args += _magick_resize(plan, plan.width_to, max(8, round(ch * plan.width_to / cw)))
    elif plan.scale != 1.0:
        args += _magick_resize(plan, max(8, round(cw * plan.scale)),
                               max(8, round(ch * plan.scale)))
    args += ["-strip", "-quality", str(plan.quality),
             "-sampling-factor", _MAGICK_SAMPLING[plan.sampling]]
    if plan.progressive:
        args += ["-interlace", "Plane"]
    return args


def render_magick(plan: Plan, src: bytes, size: tuple[int, int], exe: str,
                  fonts: list[str]) -> bytes:
    args = [exe, "jpg:-"] + _magick_args(plan, size[0], size[1], fonts) + ["jpg:-"]
    out = subprocess.run(args, input=src, capture_output=True, timeout=120)
    if out.returncode != 0 or not out.stdout:
        raise RuntimeError(f"convert failed ({out.returncode}): {out.stderr[:300]!r}")
    return out.stdout


# -- OpenCV ---------------------------------------------------------------------------------------
def _blend(img: np.ndarray, layer: np.ndarray, alpha: float) -> np.ndarray:
    if alpha >= 0.999:
        return layer
    return cv2.addWeighted(layer, alpha, img, 1.0 - alpha, 0.0)


def _cv2_draw(img: np.ndarray, s: Shape, box: tuple[int, int, int, int]) -> np.ndarray:
    """img with one element drawn in its pixel box (blended by its alpha)."""
    a, b, c, d = box
    bgr = (int(s.rgb[2]), int(s.rgb[1]), int(s.rgb[0]))
    layer = img.copy()
    if s.kind == "rect":
        cv2.rectangle(layer, (a, b), (c - 1, d - 1), bgr, -1)
    elif s.kind == "round":
        rr = max(2, (d - b) // 4)
        cv2.rectangle(layer, (a + rr, b), (c - 1 - rr, d - 1), bgr, -1)
        cv2.rectangle(layer, (a, b + rr), (c - 1, d - 1 - rr), bgr, -1)
        for cx, cy in ((a + rr, b + rr), (c - 1 - rr, b + rr), (a + rr, d - 1 - rr),
                       (c - 1 - rr, d - 1 - rr)):
            cv2.circle(layer, (cx, cy), rr, bgr, -1, cv2.LINE_AA)
    elif s.kind == "circle":
        rad = (c - a) // 2
        centre = ((a + c) // 2, (b + d) // 2)
        cv2.circle(layer, centre, rad, bgr, -1, cv2.LINE_AA)
        cv2.circle(layer, centre, rad - max(1, rad // 10), (255, 255, 255),
                   max(1, rad // 10), cv2.LINE_AA)
    elif s.kind == "sticker":
        rad = (c - a) // 2
        cx, cy = (a + c) // 2, (b + d) // 2
        ink = (0, 40, 60)
        cv2.circle(layer, (cx, cy), rad, bgr, -1, cv2.LINE_AA)
        cv2.circle(layer, (cx, cy), rad, ink, max(1, rad // 15), cv2.LINE_AA)
        for ex in (cx - rad // 3, cx + rad // 3):
            cv2.circle(layer, (ex, cy - rad // 4), max(1, rad // 7), ink, -1, cv2.LINE_AA)
        cv2.ellipse(layer, (cx, cy + rad // 8), (rad // 2, rad // 3), 0, 20, 160, ink,
                    max(1, rad // 9), cv2.LINE_AA)
    else:
        font = _HERSHEY[s.font % len(_HERSHEY)]
        th = max(1, (d - b) // 8)
        (tw, tph), _base = cv2.getTextSize(s.text, font, 1.0, th)
        scale = max(0.2, (d - b) / max(1, tph))
        if s.fit:  # inside a logo: fit the width too
            scale = min(scale, (c - a) / max(1, tw))
        org = (a, b + round(tph * scale))
        if s.outline:
            cv2.putText(layer, s.text, org, font, scale, (0, 0, 0), th + 2 * max(1, th // 2),
                        cv2.LINE_AA)
        cv2.putText(layer, s.text, org, font, scale, bgr, th, cv2.LINE_AA)
    return _blend(img, layer, s.alpha)


def _cv2_resize(plan: Plan, img: np.ndarray, nw: int, nh: int) -> np.ndarray:
    interp = list(_CV2_FILTERS.values())[plan.filt % len(_CV2_FILTERS)]
    return cv2.resize(img, (nw, nh), interpolation=interp)


def _cv2_tone(img: np.ndarray, tone: tuple) -> np.ndarray:
    bright, contrast, sat, tint, amount, vig = tone
    f = img.astype(np.float32)
    f = (f - f.mean()) * contrast + f.mean() + 2.55 * bright
    hsv = cv2.cvtColor(np.clip(f, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 1] = np.clip(hsv[..., 1] * sat, 0, 255)
    f = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    if amount > 0:
        f = f * (1 - amount) + np.array(tint[::-1], np.float32) * amount
    if vig > 0:
        h, w = f.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
        f = f * (1 - vig * np.clip(r2 / 2, 0, 1))[..., None]
    return np.clip(np.rint(f), 0, 255).astype(np.uint8)


def render_cv2(plan: Plan, src: bytes) -> bytes:
    img = cv2.imdecode(np.frombuffer(src, np.uint8), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    if plan.rotate:  # straighten: rotate about the centre, keep the largest inner frame
        interp = list(_CV2_FILTERS.values())[plan.filt % len(_CV2_FILTERS)]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), plan.rotate, 1.0)
        img = cv2.warpAffine(img, m, (w, h), flags=interp, borderMode=cv2.BORDER_REPLICATE)
        iw, ih = _inner(w, h, plan.rotate)
        x0, y0 = (w - iw) // 2, (h - ih) // 2
        img = np.ascontiguousarray(img[y0:y0 + ih, x0:x0 + iw])
        h, w = ih, iw
    x0, y0, x1, y1 = _crop_box(plan, w, h)
    img = np.ascontiguousarray(img[y0:y1, x0:x1])
    ch, cw = img.shape[:2]
    if plan.tone:
        img = _cv2_tone(img, plan.tone)
    for s, box in _pixel_shapes(plan, cw, ch):
        img = _cv2_draw(img, s, box)
    if plan.screen:
        (sw, sh), (px0, py0, px1, py1), bg, ui = _screen_layout(plan, cw, ch)
        canvas = np.empty((sh, sw, 3), np.uint8)
        canvas[:] = bg[::-1]
        canvas[py0:py1, px0:px1] = _cv2_resize(plan, img, px1 - px0, py1 - py0)
        for s, box in ui:
            canvas = _cv2_draw(canvas, s, box)
        img, cw, ch = canvas, sw, sh
    if plan.width_to:
        img = _cv2_resize(plan, img, plan.width_to, max(8, round(ch * plan.width_to / cw)))
    elif plan.scale != 1.0:
        img = _cv2_resize(plan, img, max(8, round(cw * plan.scale)),
                          max(8, round(ch * plan.scale)))
    params = [cv2.IMWRITE_JPEG_QUALITY, plan.quality,
              cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _CV2_SAMPLING[plan.sampling],
              cv2.IMWRITE_JPEG_OPTIMIZE, 1,
              cv2.IMWRITE_JPEG_PROGRESSIVE, int(plan.progressive)]
    ok, buf = cv2.imencode(".jpg", img, params)
    if not ok:
        raise RuntimeError("cv2.imencode failed")
    return buf.tobytes()


class Generator:
    """Renders planned variants with the available tools (`tools`)."""

    def __init__(self, wanted: str = "auto") -> None:
        self.tools, self.note = tools(wanted)
        self.exe = magick_path() if "magick" in self.tools else None
        self.fonts = _fonts()

    def make(self, kind: str, src: bytes, size: tuple[int, int], rng: np.random.Generator,
             pick: int) -> tuple[bytes, str, str]:
        """(JPEG bytes, tool, description) of one variant of the picture `src` (its JPEG
        bytes, `size` = (width, height)); `pick` chooses the tool when there are two."""
        plan = plan_variant(kind, rng)
        tool = self.tools[pick % len(self.tools)]
        if tool == "magick":
            data = render_magick(plan, src, size, self.exe, self.fonts)
        else:
            data = render_cv2(plan, src)
        return data, tool, plan.describe(tool)


def sample_sheet(path: str, seed: int = 1_000_000, thumb: int = 200) -> None:
    """A PNG of every kind made by each tool from one generated collage (bench/imagegen.py,
    no photograph): what the variants look like (docs/figures/variants2-sample.png)."""
    import io
    import sys

    from PIL import Image, ImageDraw

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from imagegen import make_photo

    gen = Generator()
    img = make_photo(seed, 640, 480)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    src = buf.getvalue()
    cols = len(gen.tools)
    th = round(thumb * 3 / 4)
    kinds = KINDS + EXTRA_KINDS
    sheet = Image.new("RGB", (cols * thumb, len(kinds) * (th + 16)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, kind in enumerate(kinds):
        for c in range(cols):
            rng = np.random.default_rng([seed, r, c])
            data, tool, _desc = gen.make(kind, src, img.size, rng, c)
            with Image.open(io.BytesIO(data)) as v:
                v = v.convert("RGB")
                v.thumbnail((thumb - 4, th))
                x, y = c * thumb, r * (th + 16)
                sheet.paste(v, (x, y))
                draw.text((x + 2, y + th + 2), f"{kind} ({tool})", fill="black")
    sheet.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Second variant generator (issue 17): "
                                 "draw a sample sheet of every kind.")
    ap.add_argument("--sheet", required=True, help="PNG to write")
    sample_sheet(ap.parse_args().sheet)
