"""iOS backup folders: files under their logical domain/relativePath, everything else in the
folder under its own name, the device's record, encrypted backups reported."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from haven.evidence.base import Extraction
from haven.evidence.walk import walk

from disk_fixtures import picture
from evidencekit import items, problems, read_walk, zip_bytes
from phonekit import ios_backup

A, B, C = picture(81), picture(82), picture(83)
FILES = {
    ("CameraRollDomain", "Media/DCIM/100APPLE/IMG_0001.JPG"): A,
    ("AppDomain-org.example.chat", "Documents/media/b.jpg"): B,
    ("HomeDomain", "Library/SMS/sms.db"): b"SQLite format 3\x00 benign",
    ("AppDomain-org.example.chat", "Documents/pack.zip"): zip_bytes({"c.jpg": C}),
}


def scan(folder: Path):
    found: list[Extraction] = []
    return read_walk(walk([str(folder)], extractions=found)), found


def file_id(domain: str, relative: str) -> str:
    return hashlib.sha1(f"{domain}-{relative}".encode()).hexdigest()


@pytest.mark.parametrize("flat", [False, True])
def test_files_are_items_under_their_logical_path(tmp_path, flat):
    backup = ios_backup(tmp_path / "ev" / "00008110-001A2B3C4D5E", FILES, flat=flat)
    seen, found = scan(tmp_path / "ev")
    got = items(seen)
    root = "ev/00008110-001A2B3C4D5E"
    assert got[f"{root}/CameraRollDomain/Media/DCIM/100APPLE/IMG_0001.JPG"] == A
    assert got[f"{root}/AppDomain-org.example.chat/Documents/media/b.jpg"] == B
    assert got[f"{root}/HomeDomain/Library/SMS/sms.db"] == b"SQLite format 3\x00 benign"
    # containers inside keep opening, under the logical path
    assert got[f"{root}/AppDomain-org.example.chat/Documents/pack.zip/c.jpg"] == C
    # the backup's own files are items under their names; no hashed name is left over
    for name in ("Info.plist", "Manifest.plist", "Status.plist", "Manifest.db"):
        assert f"{root}/{name}" in got
    stored = {file_id(*k) for k in FILES}
    assert not [p for p in got if p.rsplit("/", 1)[-1] in stored]
    assert problems(seen) == []
    # the evidence is untouched: no journal or wal file beside Manifest.db
    assert sorted(n for n in os.listdir(backup) if n.startswith("Manifest")) == [
        "Manifest.db", "Manifest.plist"]
    [record] = found
    assert record.kind == "ios-backup" and record.path == root
    meta = record.metadata
    assert meta["device_name"].endswith("'s iPhone") and meta["product_type"] == "iPhone14,2"
    assert meta["ios_version"] == "17.4.1" and meta["encrypted"] is False
    assert meta["last_backup_date"] == "2025-03-14T09:26:53Z"
    assert meta["full_backup"] is False


def test_a_file_listed_but_missing_is_reported_and_strays_are_kept(tmp_path):
    backup = ios_backup(tmp_path / "ev" / "bk", FILES,
                        extra_rows=[("ab" * 20, "MediaDomain", "Media/gone.jpg", 1)])
    (backup / "ff").mkdir(exist_ok=True)
    (backup / "ff" / "stray").write_bytes(b"not in the index")
    seen, _ = scan(tmp_path / "ev")
    [missing] = problems(seen)
    assert missing.path == "ev/bk/MediaDomain/Media/gone.jpg" and missing.kind == "unreadable"
    assert items(seen)["ev/bk/ff/stray"] == b"not in the index"


def test_encrypted_backup_is_reported_and_its_files_still_listed(tmp_path):
    backup = ios_backup(tmp_path / "ev" / "bk", FILES, encrypted=True)
    seen, found = scan(tmp_path / "ev")
    [problem] = problems(seen)
    assert problem.kind == "encrypted" and problem.path == "ev/bk"
    assert "encrypted iOS backup; give --passwords" in problem.reason
    got = items(seen)
    key = file_id("CameraRollDomain", "Media/DCIM/100APPLE/IMG_0001.JPG")
    assert got[f"ev/bk/{key[:2]}/{key}"] == (backup / key[:2] / key).read_bytes()
    assert found[0].metadata["encrypted"] is True


def test_damaged_manifest_db_is_corrupt_and_files_are_listed_by_stored_name(tmp_path):
    backup = ios_backup(tmp_path / "ev" / "bk", FILES)
    (backup / "Manifest.db").write_bytes(b"this is not a database" * 100)
    seen, _ = scan(tmp_path / "ev")
    [problem] = problems(seen)
    assert problem.kind == "corrupt" and problem.path == "ev/bk/Manifest.db"
    key = file_id("AppDomain-org.example.chat", "Documents/media/b.jpg")
    assert items(seen)[f"ev/bk/{key[:2]}/{key}"] == B


def test_the_backup_folder_given_as_the_evidence_path_itself(tmp_path):
    ios_backup(tmp_path / "bk", FILES)
    got = items(scan(tmp_path / "bk")[0])
    assert got["bk/CameraRollDomain/Media/DCIM/100APPLE/IMG_0001.JPG"] == A


def test_a_plain_folder_with_a_file_named_manifest_db_is_not_a_backup(tmp_path):
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "Manifest.db").write_bytes(b"x")
    (tmp_path / "ev" / "a.jpg").write_bytes(A)
    seen, found = scan(tmp_path / "ev")
    assert set(items(seen)) == {"ev/Manifest.db", "ev/a.jpg"} and found == []


def scan_with(folder: Path, passwords: tuple[str, ...]):
    from haven.evidence.base import Limits
    from haven.evidence.keys import Keyring

    found: list[Extraction] = []
    return read_walk(walk([str(folder)], Limits(keys=Keyring(passwords)), extractions=found)), found


def test_encrypted_backup_is_decrypted_with_the_right_password_among_several(tmp_path):
    backup = ios_backup(tmp_path / "ev" / "bk", FILES, password="hunter2 backup")
    raw = (backup / "Manifest.db").read_bytes()
    assert not raw.startswith(b"SQLite format 3")  # really encrypted on disk
    seen, found = scan_with(tmp_path / "ev", ("wrong", "hunter2 backup"))
    got = items(seen)
    assert got["ev/bk/CameraRollDomain/Media/DCIM/100APPLE/IMG_0001.JPG"] == A
    assert got["ev/bk/AppDomain-org.example.chat/Documents/media/b.jpg"] == B
    assert got["ev/bk/AppDomain-org.example.chat/Documents/pack.zip/c.jpg"] == C
    assert problems(seen) == []
    assert found[0].metadata["encrypted"] is True and found[0].metadata["decrypted"] is True
    assert (backup / "Manifest.db").read_bytes() == raw  # nothing written into the evidence
    assert not [n for n in os.listdir(backup) if n.startswith("Manifest.db-")]


def test_encrypted_backup_with_only_wrong_passwords_is_reported(tmp_path):
    ios_backup(tmp_path / "ev" / "bk", FILES, password="hunter2 backup")
    seen, found = scan_with(tmp_path / "ev", ("wrong", "also wrong"))
    [problem] = problems(seen)
    assert problem.kind == "encrypted" and "none of the given passwords" in problem.reason
    assert "wrong" not in problem.reason.replace("none of the given", "")
    assert not [p for p in items(seen) if "CameraRollDomain" in p]
    assert found[0].metadata["decrypted"] is False


def test_decrypted_file_reads_the_same_from_any_offset(tmp_path):
    from haven.evidence.base import Item, Limits
    from haven.evidence.keys import Keyring

    data = os.urandom(5000)
    ios_backup(tmp_path / "bk", {("HomeDomain", "x.bin"): data}, password="pw")
    for entry in walk([str(tmp_path / "bk")], Limits(keys=Keyring(("pw",)))):
        if isinstance(entry, Item) and entry.path == "bk/HomeDomain/x.bin":
            assert entry.flags == {"unlocked": True} and entry.size == 5000
            with entry.open() as fh:
                for offset, length in ((1234, 100), (0, 16), (16 * 10, 32), (4990, 50), (15, 17)):
                    fh.seek(offset)
                    assert fh.read(length) == data[offset:offset + length], (offset, length)
            break
    else:
        raise AssertionError("the decrypted file was not walked")


def test_a_partial_copy_with_info_plist_but_no_manifest_plist_is_still_a_backup(tmp_path):
    backup = ios_backup(tmp_path / "ev" / "bk", FILES)
    (backup / "Manifest.plist").unlink()
    (backup / "Status.plist").unlink()
    seen, found = scan(tmp_path / "ev")
    assert items(seen)["ev/bk/HomeDomain/Library/SMS/sms.db"] == b"SQLite format 3\x00 benign"
    assert found[0].metadata["device_name"].endswith("'s iPhone")


def test_a_zipped_backup_folder_is_placed_like_the_folder(tmp_path):
    backup = ios_backup(tmp_path / "made" / "00008110-001A", FILES)
    members = {f"Backup/00008110-001A/{p.relative_to(backup).as_posix()}": p.read_bytes()
               for p in sorted(backup.rglob("*")) if p.is_file()}
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "phone.zip").write_bytes(zip_bytes(members))
    seen, found = scan(tmp_path / "ev")
    got = items(seen)
    root = "ev/phone.zip/Backup/00008110-001A"
    assert got[f"{root}/CameraRollDomain/Media/DCIM/100APPLE/IMG_0001.JPG"] == A
    assert got[f"{root}/AppDomain-org.example.chat/Documents/pack.zip/c.jpg"] == C
    assert f"{root}/Info.plist" in got and problems(seen) == []
    stored = {file_id(*k) for k in FILES}
    assert not [p for p in got if p.rsplit("/", 1)[-1] in stored]
    [record] = found
    assert record.path == root and record.metadata["product_type"] == "iPhone14,2"


def test_a_zipped_encrypted_backup_is_reported(tmp_path):
    backup = ios_backup(tmp_path / "made" / "bk", FILES, password="pw")
    members = {f"bk/{p.relative_to(backup).as_posix()}": p.read_bytes()
               for p in sorted(backup.rglob("*")) if p.is_file()}
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "phone.zip").write_bytes(zip_bytes(members))
    seen, found = scan(tmp_path / "ev")
    [problem] = problems(seen)
    assert problem.kind == "encrypted" and problem.path == "ev/phone.zip/bk"
    assert found[0].metadata["encrypted"] is True
