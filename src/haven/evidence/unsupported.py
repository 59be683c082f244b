"""Formats haven recognises but does not open: each is a Problem "unsupported" naming it.

Nothing is silent: a file, partition or bare file system in one of these formats becomes an
`error` finding whose reason says what it is and what would open it, instead of one plain
`other` item whose contents nobody saw. The table is data, one row per format, recognised
by magic bytes only (never by name). The `unopened` container kind
(`haven.evidence.containers.unsupported`) is tried last, so every format haven does read is
tried first; `haven.evidence.disk` asks `unopened_format` about a
partition without a file system TSK reads.

Not recognised: VeraCrypt/TrueCrypt (no signature at all; `haven.evidence.disk` calls
random-looking partitions possibly encrypted). APFS and XFS are read
(`haven.evidence.filesystems`), UDIF DMGs too (`haven.evidence.dmg`).
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD_BYTES = 0x10040 + 8  # Btrfs keeps its superblock at 64 KiB, the deepest signature here


@dataclass(frozen=True)
class Unopened:
    """One format haven does not read: its magic, its name and what would read it."""

    label: str
    magic: bytes
    offset: int
    remedy: str

    def matches(self, head: bytes) -> bool:
        return head[self.offset:self.offset + len(self.magic)] == self.magic


FORMATS: tuple[Unopened, ...] = (
    Unopened("Btrfs file system", b"_BHRfS_M", 0x10040,
             "mounting it read-only on Linux (no maintained offline reader)"),
    Unopened("ReFS file system (Windows)", b"ReFS\x00\x00\x00\x00", 3,
             "Windows, or a forensic suite with ReFS support"),
    Unopened("F2FS file system (Android)", b"\x10\x20\xf5\xf2", 1024,
             "mounting it read-only on Linux"),
    Unopened("SquashFS file system", b"hsqs", 0, "unsquashfs (squashfs-tools)"),
    Unopened("LVM2 physical volume", b"LVM2 001", 0x218,
             "activating the volume group read-only (lvm2) and scanning its logical volumes"),
    Unopened("Linux software RAID member (md)", b"\xfc\x4e\x2b\xa9", 0x1000,
             "assembling the array read-only (mdadm) and scanning the assembled device"),
    Unopened("VMware ESX sparse disk (COWD)", b"COWD", 0,
             "qemu-img convert to raw, then scan the raw image"),
    Unopened("Ex01 (EWF2) evidence image", b"EVF2\r\n\x81\x00", 0,
             "ewfexport (libewf) to raw or E01, then scan that"),
    Unopened("L01 logical evidence file", b"LVF\x09\x0d\x0a\xff\x00", 0,
             "EnCase or ewfexport to extract its files, then scan them"),
    Unopened("Lx01 (EWF2) logical evidence file", b"LEF2\r\n\x81\x00", 0,
             "EnCase or ewfexport to extract its files, then scan them"),
    Unopened("AFF evidence image", b"AFF10\r\n", 0,
             "affconvert (afflib) to raw, then scan the raw image"),
    Unopened("AD1 logical image (FTK)", b"ADSEGMENTEDFILE", 0,
             "FTK Imager to export its files, then scan them"),
    Unopened("encrypted DMG (macOS)", b"encrcdsa", 0,
             "hdiutil on a Mac with the password, then scan the decrypted image"),
    Unopened("sparse DMG image (macOS .sparseimage)", b"sprs", 0,
             "hdiutil convert to a raw (UDTO) image, then scan it"),
    Unopened("RAR archive", b"Rar!\x1a\x07", 0,
             "unrar or 7-Zip to extract it, then scan the extracted folder"),
)


def unopened_format(head: bytes) -> Unopened | None:
    """The format haven recognises but cannot open that `head` starts with, or None."""
    for fmt in FORMATS:
        if fmt.matches(head):
            return fmt
    return None


def reason(fmt: Unopened) -> str:
    """The text of the Problem for an unopened format."""
    return f"{fmt.label}: haven does not open it, so its contents were not scanned; {fmt.remedy}"
