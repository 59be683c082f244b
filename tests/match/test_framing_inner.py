"""Inner pictures: a known picture shown inside a phone screenshot (plain margins, status
bar, app header, message bar) is found from its PDQ alone; a picture without margins gets no
inner hypothesis and pays nothing."""

import io

import numpy as np
from PIL import Image, ImageDraw

from haven.match import framing
from haven.match.framing import FramingIndex, Item
from haven.signals import pdq
from picturekit import picture as _picture


def _screenshot(picture: Image.Image, dark: bool, width: int = 540, side: float = 1.0,
                shift: float = 0.03) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """The picture shown on a 9:19.5 portrait screen `side` of its width wide (centred, moved
    down by `shift` of the height), with a status bar, an app header and a message bar, as a
    JPEG; and the picture's true margins (l, r, t, b) as fractions of the screen."""
    h = round(width * 19.5 / 9)
    bg, bar, ink = ((0, 0, 0), (28, 28, 30), (255, 255, 255)) if dark else \
        ((255, 255, 255), (246, 246, 246), (0, 0, 0))
    shot = Image.new("RGB", (width, h), bg)
    pw = round(width * side)
    ph = round(pw * picture.height / picture.width)
    x0, y0 = (width - pw) // 2, (h - ph) // 2 + round(shift * h)
    shot.paste(picture.resize((pw, ph), Image.LANCZOS), (x0, y0))
    draw = ImageDraw.Draw(shot)
    draw.rectangle((0, 0, width, round(0.1 * h)), fill=bar)
    draw.text((20, 8), "9:41", fill=ink)
    draw.text((70, round(0.05 * h)), "a friend", fill=ink)
    draw.ellipse((12, round(0.045 * h), 52, round(0.045 * h) + 40), fill=(120, 120, 200))
    draw.rectangle((0, h - round(0.08 * h), width, h), fill=bar)
    draw.rounded_rectangle((20, h - round(0.065 * h), width - 20, h - round(0.015 * h)), 12,
                           fill=(90, 90, 90) if dark else (225, 225, 225))
    buf = io.BytesIO()
    shot.save(buf, "JPEG", quality=85)
    buf.seek(0)
    return Image.open(buf).convert("RGB"), (x0 / width, 1 - (x0 + pw) / width, y0 / h,
                                             1 - (y0 + ph) / h)


def _index(known: list[str], noise: int = 300) -> FramingIndex:
    rng = np.random.default_rng(0)
    codes = np.concatenate([np.frombuffer(bytes.fromhex("".join(known)), np.uint8),
                            rng.integers(0, 256, noise * 32, dtype=np.uint8)])
    return FramingIndex(codes)


def _item(img: Image.Image) -> Item:
    return Item.from_pixels(np.asarray(img))


def test_picture_in_a_phone_screenshot_is_found_from_its_pdq_alone(monkeypatch):
    cases = [(_picture(s), s % 2 == 0, side) for s, side in ((60, 1.0), (61, 1.0), (62, 0.8))]
    cases.append((_picture(63, size=(480, 640)), False, 1.0))  # a portrait picture
    for picture, dark, side in cases:
        known = pdq.pdq_from_image(picture).hex
        shot, true = _screenshot(picture, dark, side=side)
        assert pdq.hamming(pdq.pdq_from_image(shot).hex, known) > 31  # plain PDQ misses it
        box = framing.inner_box(_item(shot).grid)
        assert box is not None and max(abs(a - b) for a, b in zip(box, true)) < 0.01
        index = _index([known])
        hits = index.search(_item(shot))
        assert [h.row for h in hits] == [0]
        assert hits[0].tag.startswith("inner-")
        assert hits[0].distance <= framing.FAMILIES["inner"]
        # without the inner hypotheses no other family finds it
        monkeypatch.setattr(framing, "INNER", False)
        assert index.search(_item(shot)) == []
        monkeypatch.setattr(framing, "INNER", True)


def test_a_screenshot_of_another_picture_is_not_matched():
    known = [pdq.pdq_from_image(_picture(seed)).hex for seed in range(70, 90)]
    index = _index(known)
    for seed in range(90, 96):
        shot, _true = _screenshot(_picture(seed), seed % 2 == 0)
        assert framing.inner_box(_item(shot).grid) is not None
        assert index.search(_item(shot)) == []


def test_plain_pictures_without_margins_get_no_inner_hypothesis():
    for seed in range(10):
        item = _item(_picture(seed, size=(640, 480) if seed % 2 else (480, 640)))
        assert framing.inner_box(item.grid) is None
        tags, _frames, codes, _masks = framing.hypotheses(item)
        assert not any(t.startswith("inner-") for t in tags)
        assert len(tags) == len(codes)


def test_inner_hypotheses_are_the_box_stretched_to_the_whole_grid():
    # the picture's box of a grid, resampled to the whole grid, hashes as the picture does
    rng = np.random.default_rng(5)
    picture = np.asarray(_picture(64).convert("L").resize((128, 64), Image.BOX), np.float32)
    grid = np.full((128, 128), 255.0, np.float32)
    grid[32:96] = picture
    grid[:8] = rng.uniform(0, 255, (8, 128))  # a busy status bar
    assert np.allclose(framing.inner_box(grid), (0.0, 0.0, 0.25, 0.25), atol=1e-3)
    tags, blocks = framing.inner_blocks(grid)
    assert len(tags) == 9 and tags[4] == "inner-l0r0t25b25"  # top and bottom edges +-half a cell
    p = framing.axis_matrix(0.0, 0.0)
    own = framing.axis_matrix(0.0, 0.0, side=64) @ picture @ p.T
    codes, _m = framing._bits_of(np.stack([blocks[4], own]))
    assert np.bitwise_count(codes[0] ^ codes[1]).sum() <= 8
