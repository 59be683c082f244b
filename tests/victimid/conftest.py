"""A small benign case indexed once for the victim-identification tests.

Evidence (all generated or from scikit-image's bundled images):
- astronaut.png, astronaut_flip.jpg, astronaut_small.jpg (NASA public-domain portrait + copies)
- coffee.png (no face)
- room_a_1..3.jpg, room_b_1..2.jpg: procedural rooms photographed differently; room_a_1/2
  carry the same camera body serial and capture times 1 s apart
- sign.png: rendered text
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from haven.victimid.synth import make_room, photograph

SIGN_TEXT = ("HOTEL BELLAVISTA ROOM 214", "Breakfast served daily")


def exif_bytes(serial: str, when: str, offset: str = "+01:00", model: str = "TestCam 1") -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "TestMaker"
    exif[0x0110] = model
    sub = exif.get_ifd(0x8769)
    sub[0xA431] = serial  # BodySerialNumber
    sub[0x9003] = when  # DateTimeOriginal
    sub[0x9011] = offset  # OffsetTimeOriginal
    return exif.tobytes()


def render_sign(path: Path) -> None:
    img = Image.new("RGB", (900, 320), (250, 250, 245))
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=44)
    d.text((30, 60), SIGN_TEXT[0], fill=(10, 10, 10), font=font)
    d.text((30, 180), SIGN_TEXT[1], fill=(30, 30, 80), font=font)
    img.save(path)


@pytest.fixture(scope="session")
def evidence_dir(tmp_path_factory) -> Path:
    import skimage.data as data

    root = tmp_path_factory.mktemp("victimid") / "seizure1"
    root.mkdir()
    astro = Image.fromarray(data.astronaut())
    astro.save(root / "astronaut.png")
    astro.transpose(Image.FLIP_LEFT_RIGHT).save(root / "astronaut_flip.jpg", quality=88)
    bright = np.clip(np.asarray(astro, dtype=np.float32) * 1.2, 0, 255).astype(np.uint8)
    Image.fromarray(bright).resize((400, 400)).save(root / "astronaut_small.jpg", quality=85)
    Image.fromarray(data.coffee()).save(root / "coffee.png")
    room_a, room_b = make_room(11), make_room(12)
    photograph(room_a, 1).save(root / "room_a_1.jpg", quality=88,
                               exif=exif_bytes("SER-42", "2022:03:04 10:00:00"))
    photograph(room_a, 2).save(root / "room_a_2.jpg", quality=88,
                               exif=exif_bytes("SER-42", "2022:03:04 10:00:01"))
    photograph(room_a, 3).save(root / "room_a_3.jpg", quality=88)
    photograph(room_b, 4).save(root / "room_b_1.jpg", quality=88)
    photograph(room_b, 5).save(root / "room_b_2.jpg", quality=88)
    render_sign(root / "sign.png")
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="session")
def indexed_case(evidence_dir, tmp_path_factory):
    """(VictimStore, {file name: media id}) after indexing every part."""
    from haven.victimid.indexer import Indexer, IndexOptions, PARTS
    from haven.victimid.store import VictimStore

    parts = PARTS if shutil.which("tesseract") else tuple(p for p in PARTS if p != "ocr")
    vs = VictimStore(tmp_path_factory.mktemp("case") / "case1", create=True)
    Indexer(vs, IndexOptions(parts=parts)).run([str(evidence_dir)])
    ids = {Path(m.path).name: m.id for m in vs.all_media()}
    yield vs, ids
    vs.close()
