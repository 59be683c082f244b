"""Builders for small, real disk images made on the fly with Debian's file-system tools.

Nothing is mounted: FAT is filled with mtools, ext4 with `mkfs.ext4 -d` and `debugfs`, NTFS
with `ntfscp`; partition tables with `sfdisk`; E01 with `ewfacquire`. A test needing a tool
that is missing is skipped with the Debian package to install (`scripts/test-deps.sh`
installs them all).
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

MiB = 1024 * 1024
_SBIN = ("/usr/sbin", "/sbin")

PACKAGES = {
    "mkfs.vfat": "dosfstools", "mmd": "mtools", "mcopy": "mtools", "mdel": "mtools",
    "sfdisk": "fdisk", "mkfs.ext4": "e2fsprogs", "debugfs": "e2fsprogs",
    "mkntfs": "ntfs-3g", "ntfscp": "ntfs-3g", "mkfs.exfat": "exfatprogs",
    "ewfacquire": "ewf-tools", "mrd": "mtools", "fls": "sleuthkit", "icat": "sleuthkit",
    "qemu-img": "qemu-utils", "mkfs.xfs": "xfsprogs", "mkfs.btrfs": "btrfs-progs",
    "cryptsetup": "cryptsetup-bin", "7z": "p7zip-full", "mkapfs": "apfsprogs",
}


def tool(name: str) -> str:
    """Full path of a build tool, or skip the test naming the package that provides it."""
    found = shutil.which(name) or next(
        (f"{d}/{name}" for d in _SBIN if os.access(f"{d}/{name}", os.X_OK)), None)
    if found is None:
        pytest.skip(f"needs `{name}` from the Debian package {PACKAGES.get(name, '?')} "
                    "(run scripts/test-deps.sh)")
    return found


def run(*args: str | Path) -> None:
    command = [tool(str(args[0])), *map(str, args[1:])]
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr or done.stdout}")


def picture(seed: int, fmt: str = "JPEG", size: tuple[int, int] = (96, 64)) -> bytes:
    """A small benign picture of coloured noise; the seed makes each one distinct."""
    rng = random.Random(seed)
    image = Image.new("RGB", size)
    image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256))
                   for _ in range(size[0] * size[1])])
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def blank(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def write_at(path: Path, offset: int, data: bytes) -> None:
    """Write raw bytes into an image without changing its size (as into free space)."""
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def _staged(tmp: Path, files: dict[str, bytes]) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        target = tmp / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return tmp


def fat_image(path: Path, files: dict[str, bytes], deleted: list[str] = (),
              size: int = 4 * MiB, fat: int | None = None) -> Path:
    """A FAT file system holding `files` (path -> bytes), then `deleted` removed again."""
    blank(path, size)
    run("mkfs.vfat", *(["-F", str(fat)] if fat else []), "-n", "HAVEN", path)
    stage = _staged(path.parent / (path.name + ".stage"), files)
    made: set[str] = set()
    for name in files:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            directory = "/".join(parts[:depth])
            if directory not in made:
                run("mmd", "-i", path, f"::/{directory}")
                made.add(directory)
        run("mcopy", "-i", path, stage / name, f"::/{name}")
    for name in deleted:
        run("mdel", "-i", path, f"::/{name}")
    shutil.rmtree(stage)
    return path


def orphan_fat_image(path: Path, files: dict[str, bytes], orphans: dict[str, bytes]) -> Path:
    """FAT16 holding `files` in its root and `orphans` (plain names) that no directory names.

    Each orphan is copied into a folder, deleted, the folder removed, and its root entry then
    taken by an empty file, so nothing reachable names the orphan's entry any more: TSK
    lists it under `$OrphanFiles` (its first letter lost, as FAT does on deletion).
    """
    fat_image(path, {**files, **{f"gone/{name}": data for name, data in orphans.items()}},
              size=16 * MiB, fat=16)
    for name in orphans:
        run("mdel", "-i", path, f"::/gone/{name}")
    run("mrd", "-i", path, "::/gone")
    empty = path.parent / (path.name + ".empty")
    empty.write_bytes(b"")
    run("mcopy", "-i", path, empty, "::/new.txt")  # reuses the folder's root entry
    empty.unlink()
    return path


def tsk_listing(image: Path) -> dict[str, tuple[str, bool]]:
    """The Sleuth Kit's own view of a bare file system: {path: (md5, deleted)} of its files.

    `fls -r -p` names every regular file (orphans under `$OrphanFiles/`), `icat` reads each by
    metadata address; the reference the walk is compared with.
    """
    listing = subprocess.run([tool("fls"), "-r", "-p", "-F", str(image)], capture_output=True,
                             text=True, check=True).stdout
    found = {}
    for line in listing.splitlines():
        kind, _, rest = line.partition(" ")
        marker, _, rest = rest.strip().partition(":")
        address, name = marker.strip(" *").split("-")[0], rest.strip("\t ")
        if not kind.endswith("r") or "(Volume Label Entry)" in name:
            continue
        content = subprocess.run([tool("icat"), str(image), address], capture_output=True,
                                 check=True).stdout
        found[name] = (hashlib.md5(content).hexdigest(), "*" in marker)
    return found


def ext4_image(path: Path, files: dict[str, bytes], deleted: list[str] = (),
               size: int = 8 * MiB, block_size: int | None = None) -> Path:
    """An ext4 file system made from `files` with `mkfs.ext4 -d`, then `deleted` removed."""
    stage = _staged(path.parent / (path.name + ".stage"), files)
    blank(path, size)
    run("mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0",
        *(["-b", str(block_size)] if block_size else []), "-d", stage, path)
    for name in deleted:
        run("debugfs", "-w", "-R", f"rm /{name}", path)
    shutil.rmtree(stage)
    return path


def xfs_image(path: Path, files: dict[str, bytes], size: int = 320 * MiB) -> Path:
    """An XFS file system holding `files`, written by mkfs.xfs from a prototype file."""
    stage = path.parent / (path.name + ".stage")
    tree: dict = {}
    for name, data in files.items():
        target = stage / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        node = tree
        for part in name.split("/")[:-1]:
            node = node.setdefault(part, {})
        node[name.split("/")[-1]] = target

    def lines(node: dict, depth: int) -> list[str]:
        out = []
        for name, value in sorted(node.items()):
            if isinstance(value, dict):
                out += [f"{' ' * depth}{name} d--755 0 0", *lines(value, depth + 1), "$"]
            else:
                out.append(f"{' ' * depth}{name} ---644 0 0 {value}")
        return out

    proto = path.parent / (path.name + ".proto")
    proto.write_text("\n".join(["/dev/null", "0 0", "d--755 0 0", *lines(tree, 1), "$", ""]))
    blank(path, size)
    run("mkfs.xfs", "-q", "-f", "-p", proto, path)
    proto.unlink()
    shutil.rmtree(stage)
    return path


def ntfs_image(path: Path, files: dict[str, bytes], size: int = 8 * MiB) -> Path:
    """An NTFS file system holding `files` in its root directory (ntfscp needs no mount)."""
    blank(path, size)
    run("mkntfs", "-F", "-q", "-Q", "-L", "HAVEN", path)
    stage = _staged(path.parent / (path.name + ".stage"), files)
    for name in files:
        run("ntfscp", "-q", path, stage / name, f"/{name}")
    shutil.rmtree(stage)
    return path


def exfat_image(path: Path, size: int = 8 * MiB) -> Path:
    """An empty exFAT file system (exfatprogs has no tool to add files without mounting)."""
    blank(path, size)
    run("mkfs.exfat", path)
    return path


def partitioned(path: Path, volumes: list[Path | bytes | None], label: str = "dos",
                gap: int = 1 * MiB) -> list[int]:
    """A disk image with one partition per volume image, each written at its start.

    A `bytes` volume is written as is, `None` leaves the partition blank. Returns the byte
    offset of each partition. Partitions are 1 MiB aligned with `gap` bytes after each.
    """
    sizes = [v.stat().st_size if isinstance(v, Path) else (len(v) if v else MiB) for v in volumes]
    offsets, pos = [], MiB
    for size in sizes:
        offsets.append(pos)
        pos += -(-size // MiB) * MiB + gap
    blank(path, pos + MiB)  # room for the GPT backup at the end
    script = [f"label: {label}", ""]
    for offset, size in zip(offsets, sizes):
        script.append(f"start={offset // 512}, size={size // 512}, "
                      f"type={'linux' if label == 'gpt' else '83'}")
    command = [tool("sfdisk"), "--no-reread", "--no-tell-kernel", "-q", str(path)]
    done = subprocess.run(command, input="\n".join(script) + "\n", capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"sfdisk failed: {done.stderr}")
    for offset, volume in zip(offsets, volumes):
        if volume is not None:
            write_at(path, offset, volume.read_bytes() if isinstance(volume, Path) else volume)
    return offsets


def e01(raw: Path, target: Path, segment_size: int = 20 * MiB) -> list[Path]:
    """An EnCase image of `raw` at `target`.E01 (+ .E02... when larger than `segment_size`)."""
    run("ewfacquire", "-u", "-q", "-t", target, "-c", "fast", "-S", str(segment_size), raw)
    return sorted(target.parent.glob(target.name + ".E*"))


def qemu_image(raw: Path, target: Path, fmt: str, *options: str) -> Path:
    """`raw` converted by qemu-img to `fmt` (vmdk, vpc, vhdx, vdi, qcow, qcow2) at `target`."""
    extra = [arg for option in options for arg in ("-o", option)]
    run("qemu-img", "convert", "-q", "-O", fmt, *extra, raw, target)
    return target
