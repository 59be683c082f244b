"""Walk throughput of one file system in the clear and inside LUKS2; ratio to the clear one.

    PATH=$PATH:/usr/sbin .venv/bin/python bench/unlock_throughput.py [--size-mb 256] [--rounds 2]

Builds an ext4 file system (4 KiB blocks, `mkfs.ext4 -d`) filled to ~80% with benign random
files, then encrypts a copy with cryptsetup itself (`cryptsetup reencrypt --encrypt`,
LUKS2, aes-xts-plain64, 512- and 4096-byte sectors; offline, no device-mapper). Each image
is walked with `haven.evidence.walk` with the passphrase in the keyring and every item read
in full (MD5), as the scan reads them; best of `--rounds`. Baseline: the unencrypted image,
measured in the same run. LUKS2 is decrypted by haven's own reader (`haven.evidence.luks2`);
the unlock itself (PBKDF2, 1000 iterations here) is part of each walk. No target is set.
Needs e2fsprogs and cryptsetup-bin (`scripts/test-deps.sh`).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from haven.evidence.base import Item, Limits
from haven.evidence.keys import Keyring
from haven.evidence.walk import walk

MiB = 1024 * 1024
PASSPHRASE = "benign-bench-passphrase"


def build(work: Path, size_mb: int) -> Path:
    stage = work / "stage"
    stage.mkdir()
    rng = random.Random(14)
    left, index = int(size_mb * MiB * 0.8), 0
    while left > MiB:
        size = min(rng.randrange(1, 9) * MiB, left)
        (stage / f"f{index:05d}.bin").write_bytes(rng.randbytes(size))
        left -= size
        index += 1
    raw = work / "fs.raw"
    with open(raw, "wb") as fh:
        fh.truncate(size_mb * MiB)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-d", str(stage), str(raw)], check=True)
    shutil.rmtree(stage)
    return raw


def encrypt(raw: Path, sector_size: int) -> Path:
    target = raw.with_name(f"luks2-{sector_size}.img")
    shutil.copyfile(raw, target)
    with open(target, "ab") as fh:
        fh.truncate(raw.stat().st_size + 32 * MiB)
    secret = raw.with_name("pass")
    secret.write_text(PASSPHRASE)
    subprocess.run(["cryptsetup", "reencrypt", "--encrypt", "--type", "luks2", "--batch-mode",
                    "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000",
                    "--sector-size", str(sector_size), "--reduce-device-size", "32M",
                    "--key-file", str(secret), str(target)], check=True, capture_output=True)
    secret.unlink()
    return target


def timed_walk(image: Path) -> tuple[float, int]:
    limits = Limits(keys=Keyring([PASSPHRASE]))
    start, total = time.perf_counter(), 0
    for entry in walk([str(image)], limits):
        if isinstance(entry, Item) and entry.path.count("/"):
            with entry.open() as fh:
                digest = hashlib.md5()
                while chunk := fh.read(4 * MiB):
                    digest.update(chunk)
                    total += len(chunk)
    return time.perf_counter() - start, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work, prefix="haven-unlock-bench-") as tmp:
        work = Path(tmp)
        raw = build(work, args.size_mb)
        images = {"clear ext4": raw, "LUKS2, 512-byte sectors": encrypt(raw, 512),
                  "LUKS2, 4096-byte sectors": encrypt(raw, 4096)}
        results = {}
        for name, image in images.items():
            best = min(timed_walk(image) for _ in range(args.rounds))
            results[name] = best
        base_seconds, _ = results["clear ext4"]
        print("| image | MB read | seconds | MB/s | x clear |")
        print("|---|---|---|---|---|")
        for name, (seconds, total) in results.items():
            print(f"| {name} | {total / 1e6:.0f} | {seconds:.2f} | {total / 1e6 / seconds:.1f} | "
                  f"{base_seconds / seconds:.2f} |")


if __name__ == "__main__":
    main()
