"""Android backups (`.ab`): members under their path on the phone, plain, compressed or
encrypted, and what the backup records about itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from haven.evidence import android
from haven.evidence.base import Extraction, Limits
from haven.evidence.keys import Keyring
from haven.evidence.walk import walk

from disk_fixtures import picture
from evidencekit import items, problems, read_walk, zip_bytes
from phonekit import android_backup, app_manifest

A, B, C = picture(61), picture(62), picture(63)
MEMBERS = {
    "apps/org.example.camera/_manifest": app_manifest("org.example.camera", 30),
    "apps/org.example.camera/f/pics/a.jpg": A,
    "apps/org.example.camera/db/gallery.db": b"SQLite format 3\x00 benign",
    "apps/org.example.camera/sp/prefs.xml": b"<map/>",
    "apps/org.example.camera/ef/cache/b.jpg": B,
    "apps/org.example.chat/_manifest": app_manifest("org.example.chat", 30),
    "apps/org.example.chat/k/key-value": b"kv",
    "apps/org.example.chat/r/app_webview/x": b"x",
    "shared/0/DCIM/Camera/c.jpg": C,
}
EXPECTED = {
    "ev/phone.ab/data/data/org.example.camera/files/pics/a.jpg": A,
    "ev/phone.ab/data/data/org.example.camera/databases/gallery.db": b"SQLite format 3\x00 benign",
    "ev/phone.ab/data/data/org.example.camera/shared_prefs/prefs.xml": b"<map/>",
    "ev/phone.ab/storage/emulated/0/Android/data/org.example.camera/files/cache/b.jpg": B,
    "ev/phone.ab/apps/org.example.chat/k/key-value": b"kv",
    "ev/phone.ab/data/data/org.example.chat/app_webview/x": b"x",
    "ev/phone.ab/storage/emulated/0/DCIM/Camera/c.jpg": C,
}


def scan(folder: Path, passwords: tuple[str, ...] = ()) -> tuple[list, list[Extraction]]:
    found: list[Extraction] = []
    limits = Limits(keys=Keyring(passwords))
    return read_walk(walk([str(folder)], limits, extractions=found)), found


@pytest.mark.parametrize("compressed", [True, False])
def test_members_are_placed_under_their_path_on_the_phone(tmp_path, compressed):
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "phone.ab").write_bytes(android_backup(MEMBERS, compressed=compressed))
    seen, found = scan(tmp_path / "ev")
    got = items(seen)
    for path, data in EXPECTED.items():
        assert got[path] == data
    assert problems(seen) == []
    [record] = found
    assert record.path == "ev/phone.ab" and record.kind == "android-backup"
    assert record.metadata["packages"] == ["org.example.camera", "org.example.chat"]
    assert record.metadata["android_api_levels"] == [30]
    assert record.metadata["compressed"] is compressed and record.metadata["encrypted"] is False


def test_a_backup_inside_a_zip_is_opened_too(tmp_path):
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "seized.zip").write_bytes(zip_bytes({"phone.ab": android_backup(MEMBERS)}))
    got = items(scan(tmp_path / "ev")[0])
    assert got["ev/seized.zip/phone.ab/storage/emulated/0/DCIM/Camera/c.jpg"] == C


@pytest.mark.parametrize("passwords", [(), ("wrong", "also wrong")])
def test_encrypted_backup_without_its_password_is_an_encrypted_problem(tmp_path, passwords):
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "phone.ab").write_bytes(android_backup(MEMBERS, password="s3cret"))
    seen, found = scan(tmp_path / "ev", passwords)
    [problem] = problems(seen)
    assert problem.kind == "encrypted" and "--passwords" in problem.reason
    assert problem.path == "ev/phone.ab"
    assert [p for p in items(seen) if p.startswith("ev/phone.ab/")] == []
    assert found[0].metadata["encrypted"] is True


def test_encrypted_backup_opens_with_the_right_password_among_several(tmp_path):
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "phone.ab").write_bytes(android_backup(MEMBERS, password="s3cret"))
    seen, _ = scan(tmp_path / "ev", passwords=("wrong", "s3cret"))
    got = items(seen)
    for path, data in EXPECTED.items():
        assert got[path] == data
    assert problems(seen) == []


def test_wrong_password_is_refused_not_garbage(tmp_path):
    header, _ = android.parse_header(__import__("io").BytesIO(
        android_backup(MEMBERS, password="s3cret")))
    with pytest.raises(android.WrongPassword):
        android.master_key(header, "not it")
    key, iv = android.master_key(header, "s3cret")
    assert len(key) == 32 and len(iv) == 16


def test_truncated_backup_keeps_members_before_the_cut_and_names_the_format(tmp_path):
    big = {f"shared/0/DCIM/{n}.jpg": picture(100 + n, size=(256, 256)) for n in range(6)}
    data = android_backup(big, compressed=True)
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "phone.ab").write_bytes(data[: len(data) * 2 // 3])
    seen, _ = scan(tmp_path / "ev")
    got = items(seen)
    assert "ev/phone.ab/storage/emulated/0/DCIM/0.jpg" in got
    assert got["ev/phone.ab/storage/emulated/0/DCIM/0.jpg"] == big["shared/0/DCIM/0.jpg"]
    bad = [p for p in problems(seen) if p.path.startswith("ev/phone.ab")]
    assert bad and all(p.kind in ("truncated", "corrupt", "read-error") for p in bad)
    assert any("Android backup" in p.reason or p.kind == "truncated" for p in bad)


def test_damaged_header_is_corrupt(tmp_path):
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "phone.ab").write_bytes(b"ANDROID BACKUP\nfive\n1\nnone\n" + b"\0" * 64)
    [problem] = problems(scan(tmp_path / "ev")[0])
    assert problem.kind == "corrupt" and "Android backup" in problem.reason


def test_logical_paths_of_backup_tokens():
    assert android.logical_path("apps/p/a/base.apk") == "data/app/p/base.apk"
    assert android.logical_path("apps/p/d_db/x.db") == "data/user_de/0/p/databases/x.db"
    assert android.logical_path("apps/p/_manifest") == "apps/p/_manifest"
    assert android.logical_path("shared/10/Pictures/a.png") == "storage/emulated/10/Pictures/a.png"


BUILD_PROP = b"""# begin build properties
ro.build.id=TP1A.220624.014
ro.build.version.release=13
ro.build.version.sdk=33
ro.build.version.security_patch=2024-05-01
ro.build.fingerprint=example/phone/phone:13/TP1A.220624.014/1:user/release-keys
ro.product.system.manufacturer=ExampleCo
ro.product.system.model=Example Phone 7
"""


@pytest.mark.parametrize("layout", ["system/build.prop", "system/system/build.prop"])
def test_full_file_system_tar_records_the_device_from_build_prop(tmp_path, layout):
    from evidencekit import tar_bytes

    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "ffs.tar").write_bytes(tar_bytes({
        layout: BUILD_PROP, "data/media/0/DCIM/Camera/c.jpg": C, "vendor/build.prop": b"ro.x=1\n"}))
    seen, found = scan(tmp_path / "ev")
    assert items(seen)["ev/ffs.tar/data/media/0/DCIM/Camera/c.jpg"] == C
    [record] = found
    assert record.path == "ev/ffs.tar" and record.kind == "android-fs"
    assert record.metadata["manufacturer"] == "ExampleCo"
    assert record.metadata["model"] == "Example Phone 7"
    assert record.metadata["android_version"] == "13"
    assert record.metadata["build_prop"] == layout


def test_unpacked_file_system_folder_records_the_device(tmp_path):
    root = tmp_path / "ev" / "phone"
    (root / "system").mkdir(parents=True)
    (root / "system" / "build.prop").write_bytes(BUILD_PROP)
    seen, found = scan(tmp_path / "ev")
    assert [(r.path, r.metadata["api_level"]) for r in found] == [("ev/phone", "33")]


def test_a_build_prop_saying_nothing_about_a_phone_is_no_extraction(tmp_path):
    (tmp_path / "ev" / "x" / "system").mkdir(parents=True)
    (tmp_path / "ev" / "x" / "system" / "build.prop").write_bytes(b"# empty\nfoo=bar\n")
    assert scan(tmp_path / "ev")[1] == []
