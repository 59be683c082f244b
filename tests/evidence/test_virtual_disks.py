"""Virtual disks (VMDK, VHD, VHDX, QCOW, QCOW2, VDI) built with qemu-img from a raw disk read
exactly like that raw disk, on disk and nested in archives, with the chain in every path."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from haven.evidence.base import Item, Problem
from haven.evidence.walk import walk

from disk_fixtures import orphan_fat_image, partitioned, picture, qemu_image, run
from evidencekit import zip_bytes

A, B, LOST = picture(41), picture(42, "PNG"), picture(43)

FORMATS = [  # (qemu-img format, options, file name)
    ("vmdk", (), "vm.vmdk"),
    ("vmdk", ("subformat=streamOptimized",), "stream.vmdk"),
    ("vpc", (), "vm.vhd"),
    ("vhdx", (), "vm.vhdx"),
    ("qcow2", (), "vm.qcow2"),
    ("qcow", (), "vm.qcow"),
    ("vdi", (), "vm.vdi"),
]


def listing(*paths: Path) -> tuple[dict[str, tuple[str, bool]], list[Problem]]:
    found, problems = {}, []
    for entry in walk([str(p) for p in paths]):
        if isinstance(entry, Item):
            found[entry.path] = (hashlib.md5(entry.read_all()).hexdigest(),
                                 bool(entry.flags.get("deleted")))
        else:
            problems.append(entry)
    return found, problems


def files_under(found: dict, prefix: str) -> dict:
    """Files (not carved regions: a VHD's media is rounded up to its CHS geometry) under prefix."""
    return {p[len(prefix):]: v for p, v in found.items()
            if p.startswith(prefix) and "/$carved/" not in p}


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """MBR disk, one FAT16 partition: two pictures and an orphan."""
    folder = tmp_path_factory.mktemp("virtual")
    fat = orphan_fat_image(folder / "fat.img", {"a.jpg": A, "b.png": B}, {"lost.jpg": LOST})
    path = folder / "disk.raw"
    partitioned(path, [fat], "dos")
    return path


@pytest.fixture(scope="module")
def reference(raw) -> dict:
    found, problems = listing(raw)
    assert problems == []
    files = files_under(found, "disk.raw/")
    assert files["p1/a.jpg"] == (hashlib.md5(A).hexdigest(), False)
    assert (hashlib.md5(LOST).hexdigest(), True) in files.values()  # the orphan
    return files


@pytest.mark.parametrize("fmt,options,name", FORMATS, ids=[f[2] for f in FORMATS])
def test_virtual_disk_reads_like_its_raw_disk(tmp_path, raw, reference, fmt, options, name):
    image = qemu_image(raw, tmp_path / name, fmt, *options)
    found, problems = listing(image)
    assert problems == []
    assert files_under(found, f"{name}/") == reference


def test_virtual_disks_nested_in_archives_keep_the_chain(tmp_path, raw, reference):
    vmdk = qemu_image(raw, tmp_path / "vm.vmdk", "vmdk").read_bytes()
    vdi = qemu_image(raw, tmp_path / "vm.vdi", "vdi").read_bytes()
    inner = zip_bytes({"vms/vm.vmdk": vmdk, "vm.vdi": vdi})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("case/vms.zip")
        info.size = len(inner)
        tar.addfile(info, io.BytesIO(inner))
    seizure = tmp_path / "seizure.tar"
    seizure.write_bytes(buffer.getvalue())
    found, problems = listing(seizure)
    assert problems == []
    assert files_under(found, "seizure.tar/case/vms.zip/vms/vm.vmdk/") == reference
    assert files_under(found, "seizure.tar/case/vms.zip/vm.vdi/") == reference
    assert found["seizure.tar/case/vms.zip/vms/vm.vmdk/p1/a.jpg"][0] == hashlib.md5(A).hexdigest()


def test_vmdk_with_separate_extents_is_opened_from_its_descriptor(tmp_path, raw, reference):
    folder = tmp_path / "vm"
    folder.mkdir()
    qemu_image(raw, folder / "split.vmdk", "vmdk", "subformat=twoGbMaxExtentSparse")
    found, problems = listing(folder)
    assert problems == []
    assert files_under(found, "vm/split.vmdk/") == reference
    extents = [p for p in found if p.startswith("vm/split-s")]
    assert extents and all("/" not in p[3:] for p in extents)  # hashed, never opened alone


def test_vmdk_descriptor_in_an_archive_without_its_extents_says_which_is_missing(tmp_path, raw):
    qemu_image(raw, tmp_path / "flat.vmdk", "vmdk", "subformat=monolithicFlat")
    packed = tmp_path / "pack.zip"
    packed.write_bytes(zip_bytes({"flat.vmdk": (tmp_path / "flat.vmdk").read_bytes()}))
    _, problems = listing(packed)
    assert [(p.path, p.kind) for p in problems] == [("pack.zip/flat.vmdk", "unsupported")]
    assert "'flat-flat.vmdk' is not beside it" in problems[0].reason


def test_differencing_qcow2_names_its_backing_file(tmp_path, raw):
    base = qemu_image(raw, tmp_path / "base.qcow2", "qcow2")
    child = tmp_path / "child.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", base.name, "-F", "qcow2", child)
    _, problems = listing(child)
    assert [(p.path, p.kind) for p in problems] == [("child.qcow2", "unsupported")]
    assert "base.qcow2" in problems[0].reason


def test_truncated_and_garbage_virtual_disks_are_problems_not_crashes(tmp_path, raw):
    image = qemu_image(raw, tmp_path / "vm.vdi", "vdi")
    cut = tmp_path / "cut.vdi"
    cut.write_bytes(image.read_bytes()[: 600 * 1024])
    garbage = tmp_path / "garbage.qcow2"
    garbage.write_bytes(b"QFI\xfb\x00\x00\x00\x03" + bytes(range(256)) * 64)
    _, problems = listing(cut, garbage)
    kinds = {(p.path, p.kind) for p in problems}
    assert ("cut.vdi", "truncated") in kinds and ("garbage.qcow2", "corrupt") in kinds
    assert all(p.kind in ("truncated", "corrupt") for p in problems)
