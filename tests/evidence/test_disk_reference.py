"""Disk images compared with The Sleuth Kit's own listing (`fls`/`icat`): every file TSK
names, orphans included, is an item with the same path, MD5 and deleted flag."""

from __future__ import annotations

import hashlib
import random
import subprocess
from pathlib import Path

from haven.evidence.base import Item, Problem
from haven.evidence.walk import walk

from disk_fixtures import orphan_fat_image, picture, run, tool, tsk_listing, write_at


def haven_listing(image: Path) -> dict[str, tuple[str, bool]]:
    """{path inside the image: (md5, deleted)} of the file items the walk yields (no carving)."""
    found = {}
    prefix = image.name + "/"
    for entry in walk([str(image)]):
        if isinstance(entry, Item) and entry.path.startswith(prefix) \
                and not entry.flags.get("carved"):
            found[entry.path[len(prefix):]] = (hashlib.md5(entry.read_all()).hexdigest(),
                                               bool(entry.flags.get("deleted")))
    return found


def test_fat16_orphan_is_found_flagged_deleted_and_matches_tsk(tmp_path):
    image = orphan_fat_image(tmp_path / "orphans.img", {"kept.jpg": picture(21)},
                             {"lost.jpg": picture(22), "lost2.png": picture(23, "PNG")})
    reference = tsk_listing(image)
    orphans = {path for path in reference if path.startswith("$OrphanFiles/")}
    assert len(orphans) == 2, reference  # the fixture really made orphans
    ours = haven_listing(image)
    assert ours == reference
    assert all(ours[path][1] for path in orphans)
    contents = {hashlib.md5(picture(22)).hexdigest(), hashlib.md5(picture(23, "PNG")).hexdigest()}
    assert {ours[path][0] for path in orphans} == contents


def _debugfs(image: Path, *commands: str) -> str:
    out = ""
    for command in commands:
        out += subprocess.run([tool("debugfs"), "-w", "-R", command, str(image)], capture_output=True,
                              text=True, check=True).stdout
    return out


def ext4_with_reused_blocks(tmp_path: Path) -> Path:
    """ext4 where deleted files meet every fate: intact, orphaned, partly and wholly overwritten.

    `d/lost.jpg` and `gone.jpg` lose their names (their directory block is zeroed / their
    entry merged into the one before): TSK lists them under `$OrphanFiles`; `old.jpg` and
    `reuse.jpg` are plain deleted files; `new.jpg`, written last, takes the lowest free
    blocks, which the orphans held (all of one, part of the other). The test checks the fates
    with TSK itself rather than trusting this description.
    """
    stage = tmp_path / "stage"
    (stage / "d").mkdir(parents=True)
    rng = random.Random(2)
    for name, data in (("keep.jpg", picture(31, size=(120, 90))), ("gone.jpg", rng.randbytes(12000)),
                       ("old.jpg", picture(32, size=(160, 120))), ("reuse.jpg", picture(33)),
                       ("d/lost.jpg", rng.randbytes(10000))):
        (stage / name).write_bytes(data)
    image = tmp_path / "ext4.img"
    with open(image, "wb") as fh:
        fh.truncate(8 * 1024 * 1024)
    run("mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0", "-d", stage, image)
    directory_block = int(subprocess.run([tool("debugfs"), "-R", "blocks /d", str(image)],
                                         capture_output=True, text=True, check=True).stdout.split()[0])
    _debugfs(image, "rm /d/lost.jpg", "rmdir /d", "rm /gone.jpg", "rm /old.jpg", "rm /reuse.jpg")
    write_at(image, directory_block * 1024, bytes(1024))
    new = tmp_path / "new.bin"
    new.write_bytes(rng.randbytes(14000))
    _debugfs(image, f"write {new} new.jpg")
    return image


def tsk_blocks(image: Path, address: str) -> set[int]:
    """The blocks `istat` lists for a metadata address."""
    text = subprocess.run([tool("istat"), str(image), address], capture_output=True, text=True,
                          check=True).stdout
    blocks = text.split("Direct Blocks:", 1)[1] if "Direct Blocks:" in text else ""
    return {int(b) for b in blocks.split() if b.isdigit()}


def tsk_fates(image: Path) -> dict[str, tuple[str, str]]:
    """{path: (fate, md5 of icat)} from TSK alone: live, deleted, partly or wholly overwritten
    (a deleted file's blocks compared with the blocks of the live files)."""
    listing = subprocess.run([tool("fls"), "-r", "-p", "-F", str(image)], capture_output=True,
                             text=True, check=True).stdout
    entries = []
    for line in listing.splitlines():
        _, _, rest = line.partition(" ")
        marker, _, name = rest.strip().partition(":")
        entries.append((name.strip("\t "), marker.strip(" *").split("-")[0], "*" in marker))
    live_blocks: set[int] = set()
    for _, address, deleted in entries:
        if not deleted:
            live_blocks |= tsk_blocks(image, address)
    fates = {}
    for name, address, deleted in entries:
        content = subprocess.run([tool("icat"), str(image), address], capture_output=True,
                                 check=True).stdout
        blocks = tsk_blocks(image, address)
        fate = "live"
        if deleted:
            taken = len(blocks & live_blocks)
            fate = "overwritten" if blocks and taken == len(blocks) else "partly" if taken else "deleted"
        fates[name] = (fate, hashlib.md5(content).hexdigest())
    return fates


def test_ext4_deleted_and_orphan_files_match_tsk_and_reused_blocks_are_reported_not_read(tmp_path):
    image = ext4_with_reused_blocks(tmp_path)
    fates = tsk_fates(image)
    kinds = {fate for fate, _ in fates.values()}
    # the fixture really made every fate, orphans among them
    assert {"live", "deleted", "partly", "overwritten"} <= kinds, fates
    assert any(p.startswith("$OrphanFiles/") for p in fates), fates
    items, problems = {}, {}
    prefix = image.name + "/"
    for entry in walk([str(image)]):
        if isinstance(entry, Item) and entry.path.startswith(prefix) and not entry.flags.get("carved"):
            items[entry.path[len(prefix):]] = (hashlib.md5(entry.read_all()).hexdigest(), entry.flags)
        elif isinstance(entry, Problem):
            problems[entry.path[len(prefix):]] = entry
    for path, (fate, md5) in fates.items():
        if fate == "overwritten":
            assert path not in items, path  # never its name with a live file's content
            assert problems[path].kind == "overwritten"
        else:
            got_md5, flags = items[path]
            assert got_md5 == md5, path
            assert bool(flags.get("deleted")) == (fate != "live"), path
            assert bool(flags.get("overwritten")) == (fate == "partly"), path
    assert set(problems) == {p for p, (fate, _) in fates.items() if fate == "overwritten"}
    assert set(items) == {p for p, (fate, _) in fates.items() if fate != "overwritten"}
