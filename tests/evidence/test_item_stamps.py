"""Every item carries a stamp: the same for the same evidence walked twice, different for a
changed member, read from the container's own records (no content read for it)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pycdlib

from haven.evidence.base import Item
from haven.evidence.walk import walk

from disk_fixtures import fat_image, picture, run  # skip when the tools are missing


def _stamps(path: Path) -> dict[str, dict]:
    return {e.path: e.stamp for e in walk([str(path)]) if isinstance(e, Item)}


def _iso(path: Path, files: dict[str, bytes]) -> Path:
    disc = pycdlib.PyCdlib()
    disc.new(joliet=3)
    for i, (name, data) in enumerate(files.items()):
        disc.add_fp(io.BytesIO(data), len(data), f"/F{i}.BIN;1", joliet_path=f"/{name}")
    disc.write(str(path))
    disc.close()
    return path


def test_every_item_has_a_stamp_and_walking_again_gives_the_same(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "a.txt").write_text("a\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("in/b.txt", "b\n")
        inner = io.BytesIO()
        with zipfile.ZipFile(inner, "w") as zz:
            zz.writestr("c.txt", "c\n")
        z.writestr("in/inner.zip", inner.getvalue())
    (ev / "p.zip").write_bytes(buffer.getvalue())
    _iso(ev / "disc.iso", {"d.txt": b"d\n"})
    (ev / "e.txt.gz").write_bytes(__import__("gzip").compress(b"e\n"))
    first = _stamps(ev)
    assert set(first) == {"ev/a.txt", "ev/p.zip", "ev/p.zip/in/b.txt", "ev/p.zip/in/inner.zip",
                          "ev/p.zip/in/inner.zip/c.txt", "ev/disc.iso", "ev/disc.iso/d.txt",
                          "ev/e.txt.gz", "ev/e.txt.gz/e.txt"}
    assert all(first.values())
    assert first == _stamps(ev)
    assert set(first["ev/a.txt"]) == {"size", "mtime_ns", "ctime_ns", "inode"}
    assert {"crc", "size", "time"} <= set(first["ev/p.zip/in/b.txt"])
    assert {"extent", "size", "date"} <= set(first["ev/disc.iso/d.txt"])
    # a single compressed file records no version of its content: the .gz's stamp stands for it
    assert first["ev/e.txt.gz/e.txt"]["within"] == first["ev/e.txt.gz"]


def test_an_iso_file_rewritten_with_other_content_gets_another_stamp(tmp_path):
    a = _stamps(_iso(tmp_path / "one.iso", {"keep.txt": b"same\n", "x.txt": b"old\n"}))
    b = _stamps(_iso(tmp_path / "two.iso", {"keep.txt": b"same\n", "x.txt": b"newer\n"}))
    assert a["one.iso/x.txt"] != b["two.iso/x.txt"]


def test_a_file_changed_inside_a_disk_image_gets_another_stamp_the_others_keep_theirs(tmp_path):
    image = fat_image(tmp_path / "stick.img", {"DCIM/a.jpg": picture(1), "DCIM/b.jpg": picture(2)})
    before = _stamps(image)
    assert {"meta", "size", "mtime"} <= set(before["stick.img/DCIM/a.jpg"])
    changed = tmp_path / "b2.jpg"
    changed.write_bytes(picture(3, size=(80, 64)))
    run("mcopy", "-o", "-i", image, changed, "::/DCIM/b.jpg")
    after = _stamps(image)
    assert after["stick.img/DCIM/a.jpg"] == before["stick.img/DCIM/a.jpg"]
    assert after["stick.img/DCIM/b.jpg"] != before["stick.img/DCIM/b.jpg"]
    assert after["stick.img"] != before["stick.img"]
