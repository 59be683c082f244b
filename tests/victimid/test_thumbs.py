"""Thumbnails of `haven index` (part `thumbs`) and how they are rendered for viewers."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from haven.victimid import thumbs


def _lap_var(img: Image.Image) -> float:
    g = np.asarray(img.convert("L"), dtype=np.float64)
    return float((g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]).var())


def test_make_keeps_the_aspect_and_never_enlarges():
    import skimage.data as data

    jpeg, w, h = thumbs.make(data.chelsea())            # 451 x 300
    img = Image.open(io.BytesIO(jpeg))
    assert (w, h) == img.size == (320, 213) and img.format == "JPEG"
    small = np.zeros((40, 60, 3), np.uint8)
    assert thumbs.make(small)[1:] == (60, 40)


def test_render_blurs_and_greys_unless_asked_not_to():
    import skimage.data as data

    jpeg, _, _ = thumbs.make(data.astronaut())
    clear = Image.open(io.BytesIO(thumbs.render(jpeg, blur=False, grey=False)))
    grey = Image.open(io.BytesIO(thumbs.render(jpeg, blur=False, grey=True)))
    blurred = Image.open(io.BytesIO(thumbs.render(jpeg, blur=True, grey=True)))
    assert clear.mode == "RGB" and grey.mode == "L" and blurred.mode == "L"
    assert _lap_var(grey) > 0.8 * _lap_var(clear)
    assert _lap_var(blurred) < 0.01 * _lap_var(clear)
    colour_blur = Image.open(io.BytesIO(thumbs.render(jpeg, blur=True, grey=False)))
    assert colour_blur.mode == "RGB" and _lap_var(colour_blur) < 0.01 * _lap_var(clear)


def test_the_indexer_stores_thumbnails_of_images_only(tmp_path):
    import skimage.data as data

    from haven.victimid.indexer import PARTS, Indexer, IndexOptions
    from haven.victimid.store import VictimStore

    assert "thumbs" in PARTS
    ev = tmp_path / "ev"
    ev.mkdir()
    Image.fromarray(data.coffee()).save(ev / "coffee.png")
    Image.fromarray(data.camera()).save(ev / "camera.jpg")
    (ev / "notes.txt").write_text("text")
    vs = VictimStore(tmp_path / "case", create=True)
    try:
        stats = Indexer(vs, IndexOptions(parts=("thumbs",))).run([str(ev)])
        assert stats.indexed == 2 and stats.seconds["thumbs"] > 0
        ids = {m.path.rsplit("/", 1)[1]: m.id for m in vs.all_media()}
        assert set(ids) == {"coffee.png", "camera.jpg"}
        coffee = Image.open(io.BytesIO(thumbs.thumbnail(vs, ids["coffee.png"])))
        assert coffee.size == (320, 213)
        assert thumbs.thumbnail(vs, 999) is None
        # indexed again: skipped, the thumbnail kept
        again = Indexer(vs, IndexOptions(parts=("thumbs",))).run([str(ev)])
        assert again.skipped == 3 and thumbs.thumbnail(vs, ids["camera.jpg"]) is not None
    finally:
        vs.close()


def test_index_command_default_parts_are_every_part():
    """`haven index` without --parts indexes what the library's default does (thumbnails too)."""
    import inspect

    from haven.victimid.cli import index_command
    from haven.victimid.indexer import PARTS

    default = inspect.signature(index_command).parameters["parts"].default.default
    assert tuple(default.split(",")) == PARTS
