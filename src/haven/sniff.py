"""Content type from magic bytes, never from the name; extension mismatches reported.

The signature table is data: one row per type. `sniff(head, name)` looks at the first
`HEAD_SIZE` bytes only (36 KiB), so it works on a stream before the rest is read.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

HEAD_SIZE = 36 * 1024  # ISO 9660 keeps its signature at 32 KiB


@dataclass(frozen=True)
class Signature:
    mime: str
    extensions: tuple[str, ...]  # expected extensions, first is canonical
    magic: bytes
    offset: int = 0
    also: tuple[tuple[int, bytes], ...] = ()  # further (offset, bytes) that must match
    media: str | None = None  # "image" or "video" when a perceptual hash applies


SIGNATURES: tuple[Signature, ...] = (
    Signature("image/jpeg", ("jpg", "jpeg", "jpe", "jfif"), b"\xff\xd8\xff", media="image"),
    Signature("image/png", ("png",), b"\x89PNG\r\n\x1a\n", media="image"),
    Signature("image/gif", ("gif",), b"GIF87a", media="image"),
    Signature("image/gif", ("gif",), b"GIF89a", media="image"),
    Signature("image/bmp", ("bmp", "dib"), b"BM", also=((6, b"\x00\x00\x00\x00"),), media="image"),
    Signature("image/tiff", ("tif", "tiff"), b"II*\x00", media="image"),
    Signature("image/tiff", ("tif", "tiff"), b"MM\x00*", media="image"),
    Signature("image/webp", ("webp",), b"RIFF", also=((8, b"WEBP"),), media="image"),
    Signature("image/heic", ("heic", "heif"), b"ftypheic", 4, media="image"),
    Signature("image/heic", ("heic", "heif"), b"ftypheix", 4, media="image"),
    Signature("image/heic", ("heic", "heif"), b"ftypmif1", 4, media="image"),
    Signature("image/heic", ("heic", "heif"), b"ftypmsf1", 4, media="image"),
    Signature("image/avif", ("avif",), b"ftypavif", 4, media="image"),
    Signature("video/quicktime", ("mov", "qt"), b"ftypqt  ", 4, media="video"),
    Signature("video/3gpp", ("3gp", "3g2"), b"ftyp3g", 4, media="video"),
    Signature("video/mp4", ("mp4", "m4v", "m4a", "mov"), b"ftyp", 4, media="video"),
    Signature("video/x-msvideo", ("avi",), b"RIFF", also=((8, b"AVI "),), media="video"),
    Signature("video/x-matroska", ("mkv", "webm", "mka"), b"\x1a\x45\xdf\xa3", media="video"),
    Signature("video/x-ms-asf", ("wmv", "asf", "wma"), b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", media="video"),
    Signature("video/x-flv", ("flv",), b"FLV\x01", media="video"),
    Signature("video/mpeg", ("mpg", "mpeg", "vob"), b"\x00\x00\x01\xba", media="video"),
    Signature("application/zip", ("zip", "docx", "xlsx", "pptx", "odt", "ods", "jar", "apk", "epub", "cbz"), b"PK\x03\x04"),
    Signature("application/zip", ("zip",), b"PK\x05\x06"),
    Signature("application/x-7z-compressed", ("7z",), b"7z\xbc\xaf\x27\x1c"),
    Signature("application/x-rar", ("rar", "cbr"), b"Rar!\x1a\x07"),
    Signature("application/gzip", ("gz", "tgz"), b"\x1f\x8b"),
    Signature("application/x-bzip2", ("bz2", "tbz2", "tbz"), b"BZh"),
    Signature("application/x-xz", ("xz", "txz"), b"\xfd7zXZ\x00"),
    Signature("application/x-tar", ("tar",), b"ustar", 257),
    Signature("application/x-iso9660-image", ("iso",), b"CD001", 0x8001),
    Signature("application/pdf", ("pdf",), b"%PDF-"),
    Signature("application/x-msdownload", ("exe", "dll", "sys", "scr", "com", "ocx", "cpl"), b"MZ"),
    Signature("application/x-elf", ("", "so", "o", "elf", "bin"), b"\x7fELF"),
    Signature("application/x-ole-storage", ("doc", "xls", "ppt", "msg", "msi", "db"), b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
    Signature("application/x-sqlite3", ("sqlite", "sqlite3", "db"), b"SQLite format 3\x00"),
    Signature("application/x-ewf", ("e01", "ex01"), b"EVF\x09\x0d\x0a\xff\x00"),
    Signature("audio/mpeg", ("mp3",), b"ID3"),
    Signature("audio/x-wav", ("wav",), b"RIFF", also=((8, b"WAVE"),)),
)

TEXT_EXTENSIONS = frozenset(
    "txt csv tsv log md json jsonl xml html htm css js py c h cpp ini cfg conf yaml yml rtf srt"
    " vtt sql sh bat ps1 eml vcf ics".split()
)
_CLAIMED = {ext: sig for sig in reversed(SIGNATURES) for ext in sig.extensions if ext}


@dataclass(frozen=True)
class TypeInfo:
    mime: str
    media: str | None  # "image", "video" or None
    extension_mismatch: bool


def _matches(sig: Signature, head: bytes) -> bool:
    if head[sig.offset : sig.offset + len(sig.magic)] != sig.magic:
        return False
    return all(head[o : o + len(b)] == b for o, b in sig.also)


def signature_for(head: bytes) -> Signature | None:
    """The first signature whose magic bytes match `head`."""
    for sig in SIGNATURES:
        if _matches(sig, head):
            return sig
    return None


def _looks_textual(head: bytes) -> bool:
    if not head:
        return False
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the head is still text.
        if exc.start < len(head) - 4:
            return False
    return True


def extension_of(name: str) -> str:
    base = posixpath.basename(name.replace("\\", "/"))
    if "." not in base.strip("."):
        return ""
    return base.rsplit(".", 1)[1].lower()


def sniff(head: bytes, name: str = "") -> TypeInfo:
    """Type of content from its first bytes; `name` only decides `extension_mismatch`.

    A mismatch is content of a known binary type under an extension it does not use
    (an image named `.dll`, `.txt`, or nothing), or a name that claims a binary type whose
    magic bytes are absent (a `.jpg` that is not a JPEG).
    """
    ext = extension_of(name)
    sig = signature_for(head)
    if sig is not None:
        return TypeInfo(sig.mime, sig.media, ext not in sig.extensions)
    if len(head) == 0:
        return TypeInfo("application/x-empty", None, False)
    mime = "text/plain" if _looks_textual(head) else "application/octet-stream"
    return TypeInfo(mime, None, ext in _CLAIMED)
