"""National-scale hash libraries kept on disk: exact digests (`digests`) for a billion entries,
and a whole library of sets with PDQ segments and labels (`national`)."""

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
