"""Nothing silent: a folder holding one file of every image, archive and file-system format
is walked, and each file is either opened (items inside it) or reported (a problem naming
its format and what would open it)."""

from __future__ import annotations

import gzip
import io
import os
import random
import re
from pathlib import Path

import py7zr
import pycdlib
import pytest

from haven.evidence.base import Item, Problem
from haven.evidence.walk import walk

from crypt_fixtures import luks2_image, luks_image, seven_zip
from disk_fixtures import (MiB, blank, e01, fat_image, partitioned, picture, qemu_image, run, tool,
                           write_at, xfs_image)
from evidencekit import tar_bytes, zip_bytes
from udif_fixtures import udif
from phonekit import android_backup

A = picture(51)


def magic_file(path: Path, offset: int, magic: bytes, size: int = 128 * 1024) -> Path:
    """A file of random bytes with `magic` at `offset`: the signature alone, nothing behind it."""
    data = bytearray(random.Random(path.name).randbytes(size))
    data[offset:offset + len(magic)] = magic
    path.write_bytes(bytes(data))
    return path


# name -> (offset, magic, words the problem's reason must hold)
SIGNATURE_ONLY = {
    "mac.apfs": (32, b"NXSB", "APFS"),
    "phone.f2fs": (1024, b"\x10\x20\xf5\xf2", "F2FS"),
    "box.squashfs": (0, b"hsqs", "SquashFS"),
    "server.refs": (3, b"ReFS\x00\x00\x00\x00", "ReFS"),
    "pv.lvm": (0x218, b"LVM2 001", "LVM2"),
    "raid.md": (0x1000, b"\xfc\x4e\x2b\xa9", "RAID"),
    "esx.vmdk": (0, b"COWD", "COWD"),
    "case.Ex01": (0, b"EVF2\r\n\x81\x00", "Ex01"),
    "case.L01": (0, b"LVF\x09\x0d\x0a\xff\x00", "L01"),
    "case.Lx01": (0, b"LEF2\r\n\x81\x00", "Lx01"),
    "case.aff": (0, b"AFF10\r\n", "AFF"),
    "case.ad1": (0, b"ADSEGMENTEDFILE", "AD1"),
    "locked.dmg": (0, b"encrcdsa", "encrypted DMG"),
    "grow.sparseimage": (0, b"sprs", "sparse DMG"),
    "pack.rar": (0, b"Rar!\x1a\x07\x01\x00", "RAR"),
    "secret.luks": (0, b"LUKS\xba\xbe\x00\x02", "LUKS"),
}


@pytest.fixture(scope="module")
def seizure(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """Every format in one folder; returns it and {file name: words its problem must hold}."""
    work = tmp_path_factory.mktemp("formats")
    folder = work / "seizure"
    folder.mkdir()
    expect: dict[str, str] = {}
    for name, (offset, magic, words) in SIGNATURE_ONLY.items():
        magic_file(folder / name, offset, magic)
        expect[name] = words
    bitlocker = magic_file(folder / "laptop.bitlocker", 3, b"-FVE-FS-")
    write_at(bitlocker, 510, b"\x55\xaa")
    expect["laptop.bitlocker"] = "BitLocker"
    if tool_present("mkfs.btrfs"):
        blank(folder / "home.btrfs", 128 * MiB)
        run("mkfs.btrfs", "-q", "-f", folder / "home.btrfs")
        expect["home.btrfs"] = "Btrfs"
    # Readable formats, each must be opened.
    fat = fat_image(work / "fat.img", {"a.jpg": A})
    (folder / "stick.img").write_bytes(fat.read_bytes())
    raw = work / "disk.raw"
    partitioned(raw, [fat], "dos")
    for fmt, name in (("vmdk", "vm.vmdk"), ("qcow2", "vm.qcow2"), ("vdi", "vm.vdi"),
                      ("vhdx", "vm.vhdx"), ("vpc", "vm.vhd")):
        qemu_image(raw, folder / name, fmt)
    data = raw.read_bytes()
    (folder / "split.001").write_bytes(data[: len(data) // 2])
    (folder / "split.002").write_bytes(data[len(data) // 2:])
    udif(raw, folder / "mac.dmg", "zlib")
    if tool_present("mkfs.xfs"):
        xfs_image(folder / "root.xfs", {"a.jpg": A})
    # Encrypted: opened with the key (test_unlocking.py), reported without it.
    if tool_present("cryptsetup"):
        luks_image(folder / "secret.luks1", fat, "benign-passphrase")
        expect["secret.luks1"] = "LUKS volume; give its passphrase in `--passwords`"
        luks2_image(folder / "secret.luks2", fat, "benign-passphrase")
        expect["secret.luks2"] = "LUKS volume; give its passphrase in `--passwords`"
    if tool_present("7z"):
        seven_zip(folder / "locked.zip", {"a.jpg": A}, "benign-passphrase", "-mem=AES256")
        expect["locked.zip"] = "zip member (AES); give its password in `--passwords`"
        seven_zip(folder / "locked.7z", {"a.jpg": A}, "benign-passphrase", "-mhe=on")
        expect["locked.7z"] = "7z archive with encrypted names; give its password"
    (folder / "pack.zip").write_bytes(zip_bytes({"a.jpg": A}))
    (folder / "pack.tar").write_bytes(tar_bytes({"a.jpg": A}))
    (folder / "pack.tgz").write_bytes(tar_bytes({"a.jpg": A}, "w:gz"))
    (folder / "a.jpg.gz").write_bytes(gzip.compress(A))
    with py7zr.SevenZipFile(folder / "pack.7z", "w") as archive:
        archive.writestr(A, "a.jpg")
    disc = pycdlib.PyCdlib()
    disc.new(joliet=3, vol_ident="BENIGN")
    disc.add_fp(io.BytesIO(A), len(A), "/A.JPG;1", joliet_path="/a.jpg")
    disc.write(str(folder / "disc.iso"))
    disc.close()
    if tool_present("ewfacquire"):
        e01(raw, folder / "laptop", segment_size=MiB)  # laptop.E01, .E02 ...
    (folder / "phone.ab").write_bytes(android_backup({"shared/0/DCIM/a.jpg": A}))
    if "home.btrfs" in expect:  # an unreadable partition inside a readable disk
        mixed = folder / "mixed.raw"
        partitioned(mixed, [fat, folder / "home.btrfs"], "gpt")
        expect["mixed.raw"] = "Btrfs"
    return folder, expect


def tool_present(name: str) -> bool:
    try:
        tool(name)
    except pytest.skip.Exception:
        return False
    return True


def test_every_format_is_opened_or_reported_by_name(seizure):
    folder, expect = seizure
    opened: set[str] = set()
    reported: dict[str, list[Problem]] = {}
    for entry in walk([str(folder)]):
        top = entry.path.split("/")[1]
        if isinstance(entry, Item):
            if entry.path.count("/") > 1:
                opened.add(top)
            entry.read_all()
        else:
            reported.setdefault(top, []).append(entry)
    names = sorted(os.listdir(folder))
    # Later parts are opened through their first part (split.001, laptop.E01).
    later = {"split.002"} | {n for n in names if re.fullmatch(r"laptop\.E0[2-9]", n)}
    silent = [n for n in names if n not in opened and n not in reported and n not in later]
    assert silent == []
    for name, words in expect.items():
        problems = reported.get(name, [])
        assert problems, f"{name} is not reported"
        # A signature over garbage in a format haven reads (APFS) is "corrupt", naming it.
        assert any(words in p.reason and p.kind in ("unsupported", "encrypted", "corrupt")
                   for p in problems), (name, problems)
    for name in ("stick.img", "vm.vmdk", "vm.qcow2", "vm.vdi", "vm.vhdx", "vm.vhd", "mac.dmg",
                 "root.xfs", "split.001", "pack.zip", "pack.tar", "pack.tgz", "a.jpg.gz", "pack.7z",
                 "disc.iso", "laptop.E01", "phone.ab", "mixed.raw"):
        if (folder / name).exists():
            assert name in opened, name
    assert "split.002" not in opened
