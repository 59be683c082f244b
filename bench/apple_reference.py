"""haven's listing of public APFS / HFS+ / DMG test images against The Sleuth Kit's.

    .venv/bin/python bench/apple_reference.py FOLDER

FOLDER holds test images other projects publish (never committed here), e.g. dfvfs's
`test_data`: `apfs.raw`, `hfsplus.raw`, `hfsplus_zlib.dmg`. Each known image present is
walked with `haven.evidence.walk` and compared file by file (path, MD5) with TSK:

- APFS: `pstat` finds each volume's superblock, `fls -r -p -P apfs -B <block>` lists it and
  `icat` reads each file (haven reads APFS with libfsapfs, so this is two readers agreeing);
- HFS+: `fls -r -p` / `icat` on the image (haven reads HFS+ with TSK too: checks the walk);
- DMG: `qemu-img convert -f dmg` to raw (qemu's own UDIF reader), then `mmls` + `fls`/`icat`
  on each partition (haven reads the DMG with libmodi).

Prints one line per image: files TSK lists, files haven lists, matching MD5s, and every
difference. Symbolic links (haven reports them, never reads them) are left out of both sides.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from haven.evidence.base import Item
from haven.evidence.walk import walk


def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def tsk_files(image: Path, *where: str) -> dict[str, str]:
    """{path: md5} of the regular files `fls -r -p` lists (skipping TSK's own `$` files)."""
    found = {}
    for line in _run("fls", "-r", "-p", *where, str(image)).splitlines():
        kind, _, rest = line.partition(" ")
        marker, _, name = rest.strip().partition(":")
        if kind != "r/r" or "*" in marker:
            continue
        name = name.strip()
        if name.startswith("$"):
            continue
        address = marker.strip().split("-")[0]
        done = subprocess.run(["icat", *where, str(image), address], capture_output=True)
        # icat fails on some empty files (an APFS file whose data is only a resource fork):
        # TSK has no content to give, which is an empty file.
        found[name] = _md5(done.stdout) if done.returncode == 0 else _md5(b"")
        if done.returncode != 0:
            ICAT_FAILED.append(f"{image.name}:{name}")
    return found


ICAT_FAILED: list[str] = []


def haven_files(image: Path, strip: int) -> dict[str, str]:
    """{path below the first `strip` parts: md5} of the items haven yields inside `image`."""
    found = {}
    for entry in walk([str(image)]):
        if isinstance(entry, Item) and entry.path.count("/") >= strip:
            path = entry.path.split("/", strip)[strip]
            # A file inside a file (an .fseventsd gzip's member): not a file-system file.
            if entry.stamp and "within" in entry.stamp:
                continue
            found[path] = _md5(entry.read_all())
    return found


def apfs(image: Path) -> tuple[dict[str, str], dict[str, str]]:
    reference: dict[str, str] = {}
    blocks = re.findall(r"APSB Block Number: (\d+)", _run("pstat", str(image)))
    names = re.findall(r"Name \(Role\): (.+?) \(", _run("pstat", str(image)))
    for block, name in zip(blocks, names):
        for path, md5 in tsk_files(image, "-P", "apfs", "-B", block).items():
            reference[f"{name}/{path}"] = md5
    return reference, haven_files(image, 1)


def hfsplus(image: Path) -> tuple[dict[str, str], dict[str, str]]:
    return tsk_files(image), haven_files(image, 1)


def dmg(image: Path) -> tuple[dict[str, str], dict[str, str]]:
    reference: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="haven-dmg-") as tmp:
        raw = Path(tmp) / "disk.raw"
        subprocess.run(["qemu-img", "convert", "-q", "-f", "dmg", "-O", "raw", str(image),
                        str(raw)], check=True)
        index = 0
        for line in _run("mmls", str(raw)).splitlines():
            fields = line.split()
            if len(fields) < 6 or not fields[0].rstrip(":").isdigit() or fields[1] == "Meta" \
                    or fields[1].startswith("---"):
                continue
            index += 1
            try:
                files = tsk_files(raw, "-o", str(int(fields[2])))
            except subprocess.CalledProcessError:
                continue  # no file system TSK reads in that partition
            reference.update({f"p{index}/{path}": md5 for path, md5 in files.items()})
    return reference, haven_files(image, 1)


IMAGES = {"apfs.raw": apfs, "hfsplus.raw": hfsplus, "hfsplus_zlib.dmg": dmg}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    failed = False
    for name, compare in IMAGES.items():
        image = args.folder / name
        if not image.exists():
            print(f"{name}: not in {args.folder}, skipped")
            continue
        reference, found = compare(image)
        same = sum(1 for path, md5 in reference.items() if found.get(path) == md5)
        print(f"{name}: TSK {len(reference)} files, haven {len(found)}, same path and MD5 {same}")
        for path in sorted(set(reference) | set(found)):
            if reference.get(path) != found.get(path):
                failed = True
                print(f"  differs: {path}: TSK {reference.get(path)} haven {found.get(path)}")
    if ICAT_FAILED:
        print(f"icat gave no content (counted as empty) for: {', '.join(ICAT_FAILED)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
