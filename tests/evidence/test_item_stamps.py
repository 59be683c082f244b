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


def test_the_modified_time_is_read_from_every_kind_of_stamp(tmp_path):
    import os
    import tarfile
    from datetime import datetime

    from haven.evidence.base import stamp_modified

    when = datetime(2021, 6, 5, 4, 3, 2).timestamp()  # local time, as a user's clock says
    loose = tmp_path / "ev" / "a.txt"
    loose.parent.mkdir()
    loose.write_bytes(b"a")
    os.utime(loose, (when, when))
    with tarfile.open(tmp_path / "ev" / "t.tar", "w") as tar:
        info = tarfile.TarInfo("in/b.txt")
        info.size, info.mtime = 1, 1_600_000_000
        tar.addfile(info, io.BytesIO(b"b"))
    with zipfile.ZipFile(tmp_path / "ev" / "z.zip", "w") as z:
        z.writestr(zipfile.ZipInfo("c.txt", date_time=(2019, 1, 2, 3, 4, 6)), b"c")
    got = {p.rsplit("/", 1)[-1]: stamp_modified(s) for p, s in _stamps(tmp_path / "ev").items()}
    utc = datetime.utcfromtimestamp(when).isoformat(timespec="seconds") + "Z"
    assert got["a.txt"] == utc
    assert got["b.txt"] == "2020-09-13T12:26:40Z"
    assert got["c.txt"] == "2019-01-02T03:04:06"  # zip: the writer's local time, no zone
    # disk images: [seconds, nanoseconds]; ISO 9660: local time and a 15-minute offset
    assert stamp_modified({"mtime": [1_600_000_000, 5]}) == "2020-09-13T12:26:40Z"
    assert stamp_modified({"date": [120, 9, 13, 14, 26, 40, 8]}) == "2020-09-13T12:26:40Z"
    # no time of its own, "never set", or damaged: None, never an exception
    for bad in (None, {}, {"size": 3, "within": {"mtime": 5}}, {"mtime": 0},
                {"time": [2019, 13, 40, 0, 0, 0]}, {"date": ["x"]}, {"mtime_ns": 10**30}):
        assert stamp_modified(bad) is None
