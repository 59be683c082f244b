"""National-scale hash libraries kept on disk: exact digests (`digests`) for a billion entries."""

from haven.library.digests import (
    DIGEST_WIDTHS,
    DigestStore,
    DigestTable,
    LibraryCorruptError,
    LibraryError,
    Segment,
    write_segment,
)

__all__ = ["DIGEST_WIDTHS", "DigestStore", "DigestTable", "LibraryCorruptError", "LibraryError", "Segment",
           "write_segment"]
