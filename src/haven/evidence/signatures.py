"""What a disk's first bytes say: partition tables, file systems, encrypted volumes.

Pure byte checks, no decoder: the `disk` container kind sniffs with `looks_like_disk`
without loading The Sleuth Kit, and the disk walk (`haven.evidence.disk`) names what it
finds in a partition with `file_system_label` and `encryption_label`.
"""

from __future__ import annotations

SECTOR = 512
BOOT_SIGNATURE = b"\x55\xaa"


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 2], "little")


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 4], "little")


def _mbr_plausible(head: bytes, size: int | None) -> bool:
    """An MBR whose entries make sense, or one on a file sized like a disk (table damaged)."""
    if head[510:512] != BOOT_SIGNATURE:
        return False
    # Sector-sized files of some size with the boot signature are disks even when their
    # table is garbage: claimed, so the damage is reported and the space carved.
    if size is not None and size >= 64 * 1024 and size % SECTOR == 0:
        return True
    inside = 0
    for at in range(446, 510, 16):
        entry = head[at:at + 16]
        if entry[0] not in (0x00, 0x80):
            return False
        if entry[4] == 0:
            continue
        start, count = _u32(entry, 8), _u32(entry, 12)
        if start == 0 or count == 0:
            return False
        inside += size is None or start * SECTOR < size
    return inside > 0


def mbr_entries(head: bytes) -> list[tuple[int, int]]:
    """(first sector, sector count) of each primary MBR partition; [] when the table is garbage."""
    if head[510:512] != BOOT_SIGNATURE:
        return []
    found = []
    for at in range(446, 510, 16):
        entry = head[at:at + 16]
        if entry[0] not in (0x00, 0x80):
            return []
        if entry[4] in (0x00, 0x05, 0x0F, 0x85):  # empty or extended (logical ones not followed)
            continue
        start, count = _u32(entry, 8), _u32(entry, 12)
        if start == 0 or count == 0:
            return []
        found.append((start, count))
    return found


def _fat_boot(head: bytes) -> bool:
    return (head[0] in (0xEB, 0xE9) and head[510:512] == BOOT_SIGNATURE
            and _u16(head, 11) in (512, 1024, 2048, 4096)
            and head[13] in (1, 2, 4, 8, 16, 32, 64, 128)
            and _u16(head, 14) >= 1 and head[16] in (1, 2)
            and (head[21] == 0xF0 or head[21] >= 0xF8))


def _ext_superblock(head: bytes) -> bool:
    sb = head[1024:1024 + 128]
    return (len(sb) == 128 and _u16(sb, 56) == 0xEF53 and _u32(sb, 0) > 0 and _u32(sb, 4) > 0
            and _u32(sb, 24) <= 6 and _u32(sb, 40) > 0 and _u32(sb, 76) <= 1)


def _hfs_plus(head: bytes) -> bool:
    return head[1024:1026] in (b"H+", b"HX") and int.from_bytes(head[1026:1028], "big") in (4, 5)


def file_system_label(head: bytes) -> str | None:
    """The file system whose boot sector or superblock `head` starts with, or None."""
    if head[3:11] == b"NTFS    " and head[510:512] == BOOT_SIGNATURE:
        return "NTFS"
    if head[3:11] == b"EXFAT   " and head[510:512] == BOOT_SIGNATURE:
        return "exFAT"
    if len(head) >= 512 and _fat_boot(head):
        return "FAT"
    if _ext_superblock(head):
        return "ext2/3/4"
    if _hfs_plus(head):
        return "HFS+"
    return None


def libyal_label(head: bytes) -> str | None:
    """"XFS" or "APFS" when `head` starts a file system (or APFS container) that TSK does not
    read here and `haven.evidence.filesystems` does, else None."""
    if head[:4] == b"XFSB" and int.from_bytes(head[4:8], "big") in range(512, 65537):
        return "XFS"
    if head[32:36] == b"NXSB":
        return "APFS"
    return None


def encryption_label(head: bytes) -> str | None:
    """The kind of encrypted volume whose header `head` starts with, or None."""
    if head[:6] == b"LUKS\xba\xbe" and int.from_bytes(head[6:8], "big") in (1, 2):
        return "LUKS"
    if head[3:11] == b"-FVE-FS-":
        return "BitLocker"
    return None


def looks_like_disk(head: bytes, size: int | None) -> bool:
    """True when `head` starts a partitioned disk, a bare file system or an encrypted volume."""
    if len(head) < 512 or (size is not None and size < 4096):
        return False
    if head[512:520] == b"EFI PART" and head[520:524] == b"\x00\x00\x01\x00":
        return True
    return (file_system_label(head) is not None or encryption_label(head) is not None
            or libyal_label(head) is not None
            or _mbr_plausible(head, size))
