"""Split images (`.001 .002 …`, `.aa .ab …`) read as one disk from any part; every part stays
a plain item; a missing part is reported."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from haven.evidence.base import Item, Problem
from haven.evidence.walk import walk

from disk_fixtures import MiB, fat_image, partitioned, picture
from evidencekit import zip_bytes

A, B = picture(31), picture(32, "PNG")


def listing(*paths: Path) -> tuple[dict[str, str], list[Problem]]:
    found, problems = {}, []
    for entry in walk([str(p) for p in paths]):
        if isinstance(entry, Item):
            found[entry.path] = hashlib.md5(entry.read_all()).hexdigest()
        else:
            problems.append(entry)
    return found, problems


def cut(source: Path, folder: Path, names: list[str]) -> list[Path]:
    """`source` cut into len(names) parts of equal size (the last takes the rest)."""
    data = source.read_bytes()
    step = -(-len(data) // len(names))
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for index, name in enumerate(names):
        part = folder / name
        part.write_bytes(data[index * step:(index + 1) * step])
        parts.append(part)
    return parts


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """An MBR disk whose FAT partition straddles the cuts: pictures in two folders."""
    folder = tmp_path_factory.mktemp("split")
    fat = fat_image(folder / "fat.img", {"Users/x/a.jpg": A, "Users/y/b.png": B}, size=4 * MiB)
    path = folder / "disk.raw"
    partitioned(path, [fat], "dos")
    return path


def inside(found: dict[str, str], prefix: str) -> dict[str, str]:
    return {p[len(prefix):]: v for p, v in found.items() if p.startswith(prefix)}


@pytest.mark.parametrize("names", [["disk.001", "disk.002", "disk.003"],
                                   ["disk.aa", "disk.ab", "disk.ac"],
                                   ["disk.000", "disk.001"]])
def test_split_parts_read_as_the_raw_disk_and_stay_plain_items(tmp_path, raw, names):
    reference, _ = listing(raw)
    whole = inside(reference, "disk.raw/")
    assert whole["p1/Users/x/a.jpg"] == hashlib.md5(A).hexdigest()
    parts = cut(raw, tmp_path / "seizure", names)
    found, problems = listing(tmp_path / "seizure")
    assert problems == []
    assert inside(found, f"seizure/{names[0]}/") == whole
    for part in parts:  # each part is hashed as a file of the seizure
        assert found[f"seizure/{part.name}"] == hashlib.md5(part.read_bytes()).hexdigest()
    for part in parts[1:]:  # and no later part is opened on its own
        assert not [p for p in found if p.startswith(f"seizure/{part.name}/")]


def test_a_later_part_named_alone_opens_the_whole_set(tmp_path, raw):
    whole = inside(listing(raw)[0], "disk.raw/")
    parts = cut(raw, tmp_path, ["disk.001", "disk.002", "disk.003"])
    found, problems = listing(parts[1])
    assert problems == []
    assert inside(found, "disk.002/") == whole
    # Naming the first part too: the set is opened once, from the first part.
    found, _ = listing(parts[0], parts[2])
    assert inside(found, "disk.001/") == whole
    assert not [p for p in found if p.startswith("disk.003/")]


def test_a_missing_middle_part_is_reported_and_the_rest_read_up_to_the_gap(tmp_path, raw):
    parts = cut(raw, tmp_path / "seizure", ["disk.001", "disk.002", "disk.003", "disk.004"])
    parts[2].unlink()
    found, problems = listing(tmp_path / "seizure")
    gap = [p for p in problems if p.kind == "truncated" and p.path == "seizure/disk.001"]
    assert gap and "disk.003 is missing" in gap[0].reason and "disk.004" in gap[0].reason
    assert "seizure/disk.004" in found  # still hashed as a file
    assert not [p for p in found if p.startswith("seizure/disk.004/")]


def test_a_split_archive_is_joined_too(tmp_path):
    data = zip_bytes({"x/a.jpg": A, "b.png": B})
    source = tmp_path / "whole.zip"
    source.write_bytes(data)
    cut(source, tmp_path / "seizure", ["pack.zip.001", "pack.zip.002"])
    found, problems = listing(tmp_path / "seizure")
    assert problems == []
    assert inside(found, "seizure/pack.zip.001/") == {"x/a.jpg": hashlib.md5(A).hexdigest(),
                                                        "b.png": hashlib.md5(B).hexdigest()}


def test_numbered_names_without_a_first_part_or_a_second_are_ordinary_files(tmp_path):
    (tmp_path / "report.2019").write_bytes(b"plain text")
    (tmp_path / "lone.001").write_bytes(zip_bytes({"a.jpg": A}))
    (tmp_path / "photo.ab").write_bytes(b"an Android backup, say")
    found, problems = listing(tmp_path)
    name = tmp_path.name
    assert problems == []
    assert f"{name}/lone.001/a.jpg" in found  # a lone .001 is opened as what it is
    assert set(found) == {f"{name}/report.2019", f"{name}/lone.001", f"{name}/lone.001/a.jpg",
                          f"{name}/photo.ab"}


def test_numbered_files_that_are_whole_containers_each_stay_whole(tmp_path):
    (tmp_path / "backup.01").write_bytes(zip_bytes({"a.jpg": A}))
    (tmp_path / "backup.02").write_bytes(zip_bytes({"b.png": B}))
    (tmp_path / "IMG.01").write_bytes(A)
    (tmp_path / "IMG.02").write_bytes(B)
    found, problems = listing(tmp_path)
    name = tmp_path.name
    assert problems == []
    assert found[f"{name}/backup.01/a.jpg"] == hashlib.md5(A).hexdigest()
    assert found[f"{name}/backup.02/b.png"] == hashlib.md5(B).hexdigest()
    assert len(found) == 6
