"""Disk images compared with The Sleuth Kit's own listing (`fls`/`icat`): every file TSK
names, orphans included, is an item with the same path, MD5 and deleted flag."""

from __future__ import annotations

import hashlib
from pathlib import Path

from haven.evidence.base import Item
from haven.evidence.walk import walk

from disk_fixtures import orphan_fat_image, picture, tsk_listing


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
