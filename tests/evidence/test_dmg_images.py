"""Apple UDIF disk images (.dmg): recognised by their `koly` trailer and read with libmodi.

Images are written by udif_fixtures (no open tool makes a DMG) and checked against
qemu-img's own DMG reader first; haven's listing of the DMG must then equal its listing of
the raw disk the DMG was made from, whose reference test against TSK lives in
test_disk_reference.py.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from haven.evidence.base import Item, Problem
from haven.evidence.walk import walk

from disk_fixtures import fat_image, partitioned, picture, tool
from udif_fixtures import udif

FILES = {"a.jpg": picture(21), "photos/b.jpg": picture(22), "photos/c.png": picture(23, "PNG")}


def listing(path: Path, prefix: str) -> tuple[dict[str, str], list[Problem]]:
    """{path below `prefix`: md5} of every item under it, and every problem."""
    found, problems = {}, []
    for entry in walk([str(path)]):
        if isinstance(entry, Problem):
            problems.append(entry)
        elif entry.path.startswith(prefix + "/"):
            found[entry.path[len(prefix) + 1:]] = hashlib.md5(entry.read_all()).hexdigest()
    return found, problems


@pytest.fixture(scope="module")
def disk(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("dmg")
    fat = fat_image(work / "fat.img", FILES)
    raw = work / "mac.raw"
    partitioned(raw, [fat], "gpt")
    return raw


def _qemu_reads_back(dmg: Path, raw: Path) -> None:
    back = dmg.parent / (dmg.name + ".back")
    subprocess.run([tool("qemu-img"), "convert", "-q", "-f", "dmg", "-O", "raw", str(dmg),
                    str(back)], check=True, capture_output=True)
    assert back.read_bytes() == raw.read_bytes()
    back.unlink()


@pytest.mark.parametrize("compression", ["zlib", "bzip2", "raw"])
def test_dmg_lists_the_same_files_as_its_raw_disk(tmp_path, disk, compression):
    dmg = udif(disk, tmp_path / "mac.dmg", compression)
    if compression != "bzip2":  # qemu's bzip2 DMG support is a separate module (qemu-block-extra)
        _qemu_reads_back(dmg, disk)
    raw_files, raw_problems = listing(disk, "mac.raw")
    dmg_files, problems = listing(dmg, "mac.dmg")
    assert problems == raw_problems == []
    assert dmg_files == raw_files
    assert dmg_files["p1/photos/b.jpg"] == hashlib.md5(FILES["photos/b.jpg"]).hexdigest()


def test_dmg_inside_a_zip_is_opened(tmp_path, disk):
    dmg = udif(disk, tmp_path / "mac.dmg", "zlib")
    pack = tmp_path / "pack.zip"
    with zipfile.ZipFile(pack, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(dmg, "backup/mac.dmg")
    found, problems = listing(pack, "pack.zip/backup/mac.dmg")
    assert problems == []
    assert found["p1/a.jpg"] == hashlib.md5(FILES["a.jpg"]).hexdigest()


def test_damaged_dmg_is_an_error_naming_dmg(tmp_path, disk):
    dmg = udif(disk, tmp_path / "mac.dmg", "zlib")
    data = bytearray(dmg.read_bytes())
    xml_at = int.from_bytes(data[-512 + 0xD8:-512 + 0xE0], "big")
    data[xml_at:xml_at + 64] = b"\x00" * 64  # the property list that maps the chunks
    damaged = tmp_path / "damaged.dmg"
    damaged.write_bytes(bytes(data))
    found, problems = listing(damaged, "damaged.dmg")
    assert found == {}
    assert [(p.path, p.kind) for p in problems] == [("damaged.dmg", "corrupt")]
    assert "DMG (UDIF)" in problems[0].reason


def test_a_file_ending_in_koly_text_but_no_trailer_is_not_a_dmg(tmp_path):
    plain = tmp_path / "notes.txt"
    plain.write_bytes(b"benign text " * 100 + b"koly")
    entries = list(walk([str(plain)]))
    assert [(type(e), e.path) for e in entries] == [(Item, "notes.txt")]
