"""Virtual disks nested in archives: multi-extent VMDKs (descriptor + extents) inside zips and
tars read like their raw disk, and chains (a VMDK inside a tar inside a zip) keep every link
in the item path down to the partition: `outer.zip/vms.tar/vm.vmdk/p2/...`."""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
from pathlib import Path

import pytest

from haven.evidence.base import Item, Problem
from haven.evidence.walk import walk

from disk_fixtures import fat_image, partitioned, picture, qemu_image
from evidencekit import zip_bytes

A, B, C = picture(141), picture(142, "PNG"), picture(143)


def listing(*paths: Path) -> tuple[dict[str, str], list[Problem]]:
    found, problems = {}, []
    for entry in walk([str(p) for p in paths]):
        if isinstance(entry, Item):
            found[entry.path] = hashlib.md5(entry.read_all()).hexdigest()
        else:
            problems.append(entry)
    return found, problems


def under(found: dict, prefix: str) -> dict:
    return {p[len(prefix):]: v for p, v in found.items()
            if p.startswith(prefix) and "/$carved/" not in p and "/$" not in p[len(prefix):]}


def tar_of(members: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """MBR disk, two FAT partitions: a.jpg on the first, b.png, c.jpg (and filler) on the second."""
    folder = tmp_path_factory.mktemp("chains")
    first = fat_image(folder / "p1.img", {"a.jpg": A})
    # random filler keeps the mostly empty disk from compressing past the archive-bomb ratio
    filler = random.Random(144).randbytes(512 * 1024)
    second = fat_image(folder / "p2.img", {"b.png": B, "Users/x/c.jpg": C, "fill.bin": filler})
    path = folder / "disk.raw"
    partitioned(path, [first, second], "dos")
    return path


@pytest.fixture(scope="module")
def reference(raw) -> dict:
    found, problems = listing(raw)
    assert problems == []
    files = under(found, "disk.raw/")
    assert files["p2/Users/x/c.jpg"] == hashlib.md5(C).hexdigest()
    return files


def extent_set(raw: Path, folder: Path, subformat: str) -> dict[str, bytes]:
    """The files qemu-img writes for a VMDK of `subformat`: descriptor and extents."""
    folder.mkdir()
    qemu_image(raw, folder / "vm.vmdk", "vmdk", f"subformat={subformat}")
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    assert len(files) >= 2  # a descriptor and at least one extent
    return files


@pytest.mark.parametrize("subformat", ["monolithicFlat", "twoGbMaxExtentSparse"])
@pytest.mark.parametrize("packing", ["zip", "tar", "tar.gz"])
def test_multi_extent_vmdk_in_an_archive_reads_like_its_raw_disk(tmp_path, raw, reference,
                                                                  subformat, packing):
    files = {f"vms/{name}": data for name, data in
             extent_set(raw, tmp_path / "set", subformat).items()}
    archive = tmp_path / f"pack.{packing}"
    archive.write_bytes(zip_bytes(files) if packing == "zip"
                        else tar_of(files, "w:gz" if packing == "tar.gz" else "w"))
    found, problems = listing(archive)
    assert problems == []
    assert under(found, f"pack.{packing}/vms/vm.vmdk/") == reference


def test_vmdk_in_a_tar_in_a_zip_keeps_the_chain_to_the_second_partition(tmp_path, raw, reference):
    vmdk = qemu_image(raw, tmp_path / "vm.vmdk", "vmdk").read_bytes()
    outer = tmp_path / "seized.zip"
    outer.write_bytes(zip_bytes({"backups/vms.tar": tar_of({"vm.vmdk": vmdk})}))
    found, problems = listing(outer)
    assert problems == []
    chain = "seized.zip/backups/vms.tar/vm.vmdk/"
    assert under(found, chain) == reference
    assert found[chain + "p2/Users/x/c.jpg"] == hashlib.md5(C).hexdigest()
    assert found[chain + "p1/a.jpg"] == hashlib.md5(A).hexdigest()


def test_split_vmdk_in_a_tar_in_a_zip_keeps_the_chain(tmp_path, raw, reference):
    files = extent_set(raw, tmp_path / "set", "twoGbMaxExtentSparse")
    outer = tmp_path / "seized.zip"
    outer.write_bytes(zip_bytes({"vms.tar": tar_of(files)}))
    found, problems = listing(outer)
    assert problems == []
    assert under(found, "seized.zip/vms.tar/vm.vmdk/") == reference
