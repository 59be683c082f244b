"""XFS and APFS, which The Sleuth Kit does not read here, listed with libfsxfs / libfsapfs.

XFS images are filled without mounting (`mkfs.xfs -p` with a prototype file), so the
reference is what mkfs was told to write: every file, byte for byte. `mkapfs` (apfsprogs)
makes only empty containers, so APFS is checked for opening cleanly, for its volume folder
and for its error paths; a listing of an APFS image with files is compared with TSK's
(`fls -P apfs`) by bench/apple_images.py on public test images.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from haven.evidence.base import Item, Problem
from haven.evidence.walk import walk

from disk_fixtures import MiB, blank, fat_image, picture, run, tool, write_at, xfs_image

FILES = {"a.jpg": picture(31), "home/x/b.jpg": picture(32), "home/x/notes.txt": b"benign\n",
         "empty.dat": b""}


def listing(path: Path) -> tuple[dict[str, str], list[Problem], dict[str, dict]]:
    found, problems, stamps = {}, [], {}
    for entry in walk([str(path)]):
        if isinstance(entry, Problem):
            problems.append(entry)
        elif entry.path.count("/"):
            found[entry.path] = hashlib.md5(entry.read_all()).hexdigest()
            stamps[entry.path] = entry.stamp
    return found, problems, stamps


def test_xfs_files_are_listed_with_the_content_mkfs_wrote(tmp_path):
    image = xfs_image(tmp_path / "root.xfs", FILES)
    found, problems, stamps = listing(image)
    assert problems == []
    assert found == {f"root.xfs/{n}": hashlib.md5(d).hexdigest() for n, d in FILES.items()}
    stamp = stamps["root.xfs/home/x/b.jpg"]
    assert stamp["size"] == len(FILES["home/x/b.jpg"]) and stamp["inode"] > 0
    assert len(stamp["mtime"]) == 2


def test_xfs_partition_is_walked_under_its_partition_path(tmp_path):
    fat = fat_image(tmp_path / "boot.img", {"boot.jpg": picture(33)})
    xfs = xfs_image(tmp_path / "root.xfs", FILES)
    disk = tmp_path / "server.raw"
    offsets = (MiB, 8 * MiB)
    blank(disk, offsets[1] + xfs.stat().st_size + MiB)
    script = (f"label: gpt\n\nstart={offsets[0] // 512}, size={6 * MiB // 512}, type=linux\n"
              f"start={offsets[1] // 512}, size={xfs.stat().st_size // 512}, type=linux\n")
    subprocess.run([tool("sfdisk"), "--no-reread", "--no-tell-kernel", "-q", str(disk)],
                   input=script, text=True, check=True, capture_output=True)
    write_at(disk, offsets[0], fat.read_bytes())
    # Copied sparsely: 320 MiB of mostly nothing.
    subprocess.run(["dd", f"if={xfs}", f"of={disk}", "bs=1M", f"seek={offsets[1] // MiB}",
                    "conv=sparse,notrunc", "status=none"], check=True)
    found, problems, _ = listing(disk)
    assert problems == []
    assert found["server.raw/p1/boot.jpg"] == hashlib.md5(picture(33)).hexdigest()
    assert found["server.raw/p2/home/x/b.jpg"] == hashlib.md5(FILES["home/x/b.jpg"]).hexdigest()
    assert len([p for p in found if p.startswith("server.raw/p2/")]) == len(FILES)


def test_damaged_xfs_is_an_error_naming_xfs(tmp_path):
    image = xfs_image(tmp_path / "root.xfs", FILES)
    write_at(image, 8, bytes(64))  # block counts and geometry of the superblock
    found, problems, _ = listing(image)
    assert found == {}
    assert [(p.path, p.kind) for p in problems] == [("root.xfs", "corrupt")]
    assert "XFS" in problems[0].reason


def test_empty_apfs_container_opens_cleanly(tmp_path):
    image = blank(tmp_path / "mac.apfs", 512 * MiB)
    run("mkapfs", "-L", "Benign Volume", image)
    entries = list(walk([str(image)]))
    assert [(type(e), e.path) for e in entries] == [(Item, "mac.apfs")]


def test_apfs_signature_over_garbage_is_an_error_naming_apfs(tmp_path):
    image = tmp_path / "mac.apfs"
    image.write_bytes(bytes(range(256)) * 4096)
    write_at(image, 32, b"NXSB")
    entries = list(walk([str(image)]))
    problems = [e for e in entries if isinstance(e, Problem)]
    assert [(p.path, p.kind) for p in problems] == [("mac.apfs", "corrupt")]
    assert "APFS" in problems[0].reason
