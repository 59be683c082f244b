"""Disk images (raw, E01): files, deleted files and carved pictures found with the right paths
and digests; damaged, truncated and encrypted images end as problems, never as a crash."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from haven.evidence.base import Item, Problem
from haven.evidence.carve import carve
from haven.evidence.signatures import looks_like_disk
from haven.evidence.containers.ewf import Ewf
from haven.evidence.registry import HEAD_SIZE, find_container
from haven.evidence.walk import walk

from disk_fixtures import (MiB, e01, exfat_image, ext4_image, fat_image, ntfs_image,
                            partitioned, picture, write_at)

A, B, C, D = picture(1), picture(2), picture(3, "PNG"), picture(4)
CARVED, CARVED2, CARVED3 = picture(11, size=(160, 120)), picture(12), picture(13, "PNG")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def scan(*paths: Path) -> tuple[dict[str, tuple[str, dict]], list[Problem]]:
    """Walk like the scan does: {path: (sha256, flags)} of the items, and the problems."""
    found, problems = {}, []
    for entry in walk([str(p) for p in paths]):
        if isinstance(entry, Item):
            try:
                found[entry.path] = (sha(entry.read_all()), entry.flags)
            except Exception:  # reported by the walker as a Problem right after
                pass
        else:
            problems.append(entry)
    return found, problems


@pytest.fixture(scope="module")
def fat(tmp_path_factory) -> Path:
    """FAT16: a picture in a folder, a PNG renamed .dll, a deleted JPEG, one in free space."""
    path = tmp_path_factory.mktemp("fat") / "stick.img"
    fat_image(path, {"Users/x/Pictures/a.jpg": A, "Windows/lib.dll": C, "Gone Picture.jpg": B},
              deleted=["Gone Picture.jpg"])
    write_at(path, 3 * MiB, CARVED)  # far beyond the few clusters in use
    return path


@pytest.fixture(scope="module")
def ext4(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ext") / "root.img"
    ext4_image(path, {"home/u/a.jpg": A, "home/u/gone.jpg": D, "opt/lib.dll": C},
               deleted=["home/u/gone.jpg"])
    write_at(path, 7 * MiB, CARVED2)
    return path


@pytest.fixture(scope="module")
def mbr_disk(tmp_path_factory, fat, ext4) -> tuple[Path, list[int]]:
    """MBR disk: p1 FAT, p2 ext4, and a PNG in the unpartitioned gap between them."""
    path = tmp_path_factory.mktemp("mbr") / "disk.raw"
    offsets = partitioned(path, [fat, ext4], "dos")
    write_at(path, offsets[1] - MiB // 2, CARVED3)
    return path, offsets


# -- bare file systems ---------------------------------------------------------------------

def test_fat_image_yields_files_renamed_deleted_and_carved(fat):
    found, problems = scan(fat)
    assert problems == []
    assert found["stick.img/Users/x/Pictures/a.jpg"] == (sha(A), {})
    assert found["stick.img/Windows/lib.dll"] == (sha(C), {})  # a picture named .dll
    deleted = {p: v for p, v in found.items() if v[1].get("deleted")}
    assert len(deleted) == 1
    (path, (digest, flags)), = deleted.items()
    # FAT overwrites the first byte of a deleted name; the long name survives here.
    assert path.startswith("stick.img/") and path.endswith("one Picture.jpg")
    assert digest == sha(B) and flags == {"deleted": True}
    carved = f"stick.img/$carved/{3 * MiB:010d}.jpg"
    assert found[carved] == (sha(CARVED), {"carved": True})
    assert all(not p.startswith("stick.img/p1") for p in found)  # bare: no partition index
    # File-system metadata (volume label, TSK's $FAT1 / $MBR) is not an item.
    assert not [p for p in found if "Volume Label" in p or "$FAT" in p or "$MBR" in p]


def test_ext4_image_yields_deleted_file_and_carves_free_blocks(ext4):
    found, problems = scan(ext4)
    assert problems == []
    assert found["root.img/home/u/a.jpg"] == (sha(A), {})
    assert found["root.img/opt/lib.dll"] == (sha(C), {})
    assert found["root.img/home/u/gone.jpg"] == (sha(D), {"deleted": True})
    assert found[f"root.img/$carved/{7 * MiB:010d}.jpg"] == (sha(CARVED2), {"carved": True})
    # The deleted picture is recovered once, not carved a second time.
    assert sum(v[0] == sha(D) for v in found.values()) == 1


def test_ntfs_image_yields_files_without_its_system_files(tmp_path):
    path = ntfs_image(tmp_path / "win.img", {"a.jpg": A, "report.dll": C})
    write_at(path, 6 * MiB, CARVED)
    found, problems = scan(path)
    assert problems == []
    assert found["win.img/a.jpg"] == (sha(A), {})
    assert found["win.img/report.dll"] == (sha(C), {})
    assert found[f"win.img/$carved/{6 * MiB:010d}.jpg"] == (sha(CARVED), {"carved": True})
    assert not [p for p in found if p.startswith("win.img/$") and "$carved" not in p]  # no $MFT


def test_exfat_image_is_opened_and_its_free_space_carved(tmp_path):
    path = exfat_image(tmp_path / "card.img")
    write_at(path, 6 * MiB, CARVED3)
    found, problems = scan(path)
    assert problems == []
    assert found == {
        "card.img": (sha(path.read_bytes()), {}),
        f"card.img/$carved/{6 * MiB:010d}.png": (sha(CARVED3), {"carved": True}),
    }


# -- partitioned disks and E01 ---------------------------------------------------------------

def test_mbr_disk_names_partitions_and_carves_the_gap(mbr_disk):
    path, offsets = mbr_disk
    found, problems = scan(path)
    assert problems == []
    assert found["disk.raw/p1/Users/x/Pictures/a.jpg"] == (sha(A), {})
    assert found["disk.raw/p1/Windows/lib.dll"] == (sha(C), {})
    assert found["disk.raw/p2/home/u/a.jpg"] == (sha(A), {})
    assert found["disk.raw/p2/home/u/gone.jpg"] == (sha(D), {"deleted": True})
    assert [v for p, v in found.items() if p.startswith("disk.raw/p1/") and v[1].get("deleted")] \
        == [(sha(B), {"deleted": True})]
    # Carved names carry the byte offset in the whole image.
    assert found[f"disk.raw/p1/$carved/{offsets[0] + 3 * MiB:010d}.jpg"] == \
        (sha(CARVED), {"carved": True})
    assert found[f"disk.raw/p2/$carved/{offsets[1] + 7 * MiB:010d}.jpg"] == \
        (sha(CARVED2), {"carved": True})
    assert found[f"disk.raw/$carved/{offsets[1] - MiB // 2:010d}.png"] == \
        (sha(CARVED3), {"carved": True})


def test_gpt_disk_with_ntfs_and_exfat_partitions(tmp_path):
    ntfs = ntfs_image(tmp_path / "n.img", {"a.jpg": A})
    exfat = exfat_image(tmp_path / "x.img")
    write_at(exfat, 5 * MiB, CARVED)
    offsets = partitioned(tmp_path / "gpt.raw", [ntfs, exfat], "gpt")
    found, problems = scan(tmp_path / "gpt.raw")
    assert problems == []
    assert found["gpt.raw/p1/a.jpg"] == (sha(A), {})
    assert found[f"gpt.raw/p2/$carved/{offsets[1] + 5 * MiB:010d}.jpg"] == \
        (sha(CARVED), {"carved": True})


def test_split_e01_reads_like_the_raw_image_and_segments_stay_plain_items(tmp_path, mbr_disk):
    raw, _ = mbr_disk
    folder = tmp_path / "seizure"
    folder.mkdir()
    noisy = tmp_path / "noisy.raw"  # incompressible, so the E01 needs several segments
    noisy.write_bytes(raw.read_bytes())
    write_at(noisy, 5 * MiB, random.Random(7).randbytes(MiB))  # free space of p1
    segments = e01(noisy, folder / "disk", segment_size=MiB)
    assert len(segments) >= 2
    found, problems = scan(folder)
    assert problems == []
    inside = {p.removeprefix("seizure/disk.E01/"): v for p, v in found.items()
              if p.startswith("seizure/disk.E01/")}
    raw_found, _ = scan(noisy)
    expected = {p.removeprefix("noisy.raw/"): v for p, v in raw_found.items()
                if p.startswith("noisy.raw/")}
    assert inside == expected and "p1/Users/x/Pictures/a.jpg" in inside
    # Later segments are files of the seizure, hashed but never opened as containers.
    for segment in segments[1:]:
        assert found[f"seizure/{segment.name}"] == (sha(segment.read_bytes()), {})
        assert not [p for p in found if p.startswith(f"seizure/{segment.name}/")]
        with open(segment, "rb") as fh:
            assert not Ewf.sniff(fh.read(HEAD_SIZE), segment.stat().st_size)


def test_e01_with_a_missing_segment_is_a_problem(tmp_path, mbr_disk):
    raw, _ = mbr_disk
    noisy = tmp_path / "noisy.raw"
    noisy.write_bytes(raw.read_bytes())
    write_at(noisy, 5 * MiB, random.Random(8).randbytes(2 * MiB))
    (tmp_path / "ev").mkdir()
    segments = e01(noisy, tmp_path / "ev" / "disk", segment_size=MiB)
    segments[1].unlink()
    found, problems = scan(segments[0])
    assert "disk.E01" in found
    assert [(p.path, p.kind) for p in problems] == [("disk.E01", "truncated")]
    assert "segment file is missing" in problems[0].reason
    # What the first segment holds is still read: the partition table and p1's files.
    assert found["disk.E01/p1/Users/x/Pictures/a.jpg"] == (sha(A), {})


# -- bad input -------------------------------------------------------------------------------

def test_truncated_image_keeps_what_it_holds_and_says_what_is_missing(tmp_path, mbr_disk):
    raw, offsets = mbr_disk
    cut = tmp_path / "cut.raw"
    cut.write_bytes(raw.read_bytes()[: offsets[0] + 2 * MiB])  # p1 half there, p2 gone
    found, problems = scan(cut)
    assert found["cut.raw/p1/Users/x/Pictures/a.jpg"] == (sha(A), {})
    kinds = {(p.path, p.kind) for p in problems}
    assert ("cut.raw", "truncated") in kinds
    assert ("cut.raw/p1", "truncated") in kinds
    assert ("cut.raw/p2", "truncated") in kinds
    assert all(p.reason for p in problems)


def test_garbage_partition_table_is_corrupt_and_the_image_is_carved(tmp_path, mbr_disk):
    raw, offsets = mbr_disk
    data = bytearray(raw.read_bytes())
    data[446:510] = random.Random(5).randbytes(64)
    bad = tmp_path / "bad.raw"
    bad.write_bytes(bytes(data))
    found, problems = scan(bad)
    assert [(p.path, p.kind) for p in problems] == [("bad.raw", "corrupt")]
    assert "partition table" in problems[0].reason
    carved = {v[0] for p, v in found.items() if v[1] == {"carved": True}}
    assert {sha(A), sha(CARVED), sha(CARVED3)} <= carved  # nothing lost to the damage


def test_encrypted_partitions_are_reported_and_the_rest_still_read(tmp_path, fat):
    luks = b"LUKS\xba\xbe\x00\x02" + bytes(8184)
    bitlocker = b"\xeb\x58\x90-FVE-FS-" + bytes(500) + b"\x55\xaa"
    veracrypt = random.Random(3).randbytes(2 * MiB)  # a volume with no signature: random
    offsets = partitioned(tmp_path / "disk.raw", [luks, bitlocker, veracrypt, fat])
    found, problems = scan(tmp_path / "disk.raw")
    reasons = {p.path: (p.kind, p.reason) for p in problems}
    assert reasons["disk.raw/p1"][0] == "encrypted" and "LUKS" in reasons["disk.raw/p1"][1]
    assert reasons["disk.raw/p2"][0] == "encrypted" and "BitLocker" in reasons["disk.raw/p2"][1]
    assert reasons["disk.raw/p3"][0] == "encrypted" and "possibly" in reasons["disk.raw/p3"][1]
    assert len(problems) == 3
    assert found["disk.raw/p4/Users/x/Pictures/a.jpg"] == (sha(A), {})
    assert not [p for p in found if p.startswith(("disk.raw/p1/", "disk.raw/p2/", "disk.raw/p3/"))]


def test_unknown_file_system_is_unsupported_and_carved(tmp_path):
    volume = bytearray(2 * MiB)
    volume[:64] = b"not a file system " * 3 + bytes(10)
    volume[MiB:MiB + len(CARVED)] = CARVED
    offsets = partitioned(tmp_path / "odd.raw", [bytes(volume)])
    found, problems = scan(tmp_path / "odd.raw")
    assert [(p.path, p.kind) for p in problems] == [("odd.raw/p1", "unsupported")]
    assert found[f"odd.raw/p1/$carved/{offsets[0] + MiB:010d}.jpg"] == \
        (sha(CARVED), {"carved": True})


def test_random_and_ordinary_files_are_not_taken_for_disks():
    rng = random.Random(1)
    for _ in range(200):
        blob = rng.randbytes(HEAD_SIZE)
        assert not looks_like_disk(blob, rng.randrange(4096, 10**9) | 1)
    assert find_container(A.ljust(HEAD_SIZE, b"\0"), len(A)) is None
    assert find_container(C.ljust(HEAD_SIZE, b"\0"), len(C)) is None
    assert not looks_like_disk(bytes(HEAD_SIZE), 10 * MiB)  # zeros: no signature at all


# -- carving ---------------------------------------------------------------------------------

def _carve_all(data: bytes):
    return [(c.offset, c.length, c.extension)
            for c in carve(lambda o, n: data[o:o + n], 0, len(data))]


def test_carver_follows_structure_to_the_end_of_each_format():
    gif = picture(21, "GIF")
    blob = (b"\0" * 100 + A + b"junk" + C + random.Random(2).randbytes(5000) + gif + b"\0" * 7)
    found = _carve_all(blob)
    assert found == [(100, len(A), "jpg"), (104 + len(A), len(C), "png"),
                     (blob.index(gif), len(gif), "gif")]


def test_carver_skips_cut_and_fake_headers_and_stays_bounded():
    cut = A[: len(A) // 2]
    fake = b"\xff\xd8\xff\xe0" + b"\xff" * 10_000 + b"\x89PNG\r\n\x1a\n" + b"\0" * 5000 + b"ftyp"
    assert _carve_all(cut + b"\0" * 100) == []
    assert _carve_all(fake) == []
    noise = random.Random(4).randbytes(8 * MiB)
    assert all(length <= 64 * MiB for _, length, _ in _carve_all(noise))


# -- the whole scan --------------------------------------------------------------------------

def test_scan_pipeline_reports_disk_files_deleted_and_carved(tmp_path, mbr_disk):
    from haven.report.findings import write_reports
    from haven.scan.pipeline import ScanOptions, scan as run_scan
    from haven.store.case import CaseStore

    raw, offsets = mbr_disk
    store = CaseStore(tmp_path / "case", create=True)
    run_scan([str(raw)], store, ScanOptions(workers=1))
    write_reports(store)
    with open(tmp_path / "case" / "findings.jsonl") as fh:
        f = {row["path"]: row for row in map(json.loads, fh)}

    live = f["disk.raw/p1/Users/x/Pictures/a.jpg"]
    assert live["sha256"] == sha(A) and not live["flags"].get("deleted")
    assert f["disk.raw/p1/Windows/lib.dll"]["sha256"] == sha(C)
    gone = f["disk.raw/p2/home/u/gone.jpg"]
    assert gone["sha256"] == sha(D) and gone["flags"]["deleted"] is True
    carved = f[f"disk.raw/p1/$carved/{offsets[0] + 3 * MiB:010d}.jpg"]
    assert carved["sha256"] == sha(CARVED) and carved["flags"]["carved"] is True
    assert carved["finding"] != "error"  # a real picture, decoded and hashed
    assert not [p for p, row in f.items() if row["finding"] == "error"]


def test_disk_members_do_not_spend_the_archive_bomb_budget(tmp_path, mbr_disk):
    """A disk holding more than max_total_extracted is not a bomb; a zip of the same is."""
    import io
    import zipfile

    from haven.evidence.base import Limits

    path, _ = mbr_disk
    limits = Limits(max_total_extracted=1024)  # far below what the disk's files hold
    disk_entries = list(walk([str(path)], limits))
    assert not [e for e in disk_entries if isinstance(e, Problem) and e.kind == "bomb"]
    assert len([e for e in disk_entries if isinstance(e, Item)]) > 3
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(3):
            z.writestr(f"{i}.bin", bytes([i]) * 1000)
    (tmp_path / "many.zip").write_bytes(buf.getvalue())
    zip_entries = list(walk([str(tmp_path / "many.zip")], limits))
    assert [e.kind for e in zip_entries if isinstance(e, Problem)] == ["bomb"]
