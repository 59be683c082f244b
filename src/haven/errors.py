"""One exception hierarchy for haven; messages say what the user can do about it."""


class HavenError(Exception):
    """Base of every error haven raises on purpose."""


class EvidenceError(HavenError):
    """Evidence could not be opened or read."""


class DecodeError(HavenError):
    """Content could not be decoded (an image or video: unknown format, truncated, corrupt,
    a decompression bomb, no video stream). `reason` is the short kind, `detail` the rest."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class HashSetFormatError(HavenError):
    """A hash-set file is not in the format asked for (or none could be detected)."""


class HashSetNameError(HavenError):
    """A hash-set name that would be blank or ambiguous in findings and reports."""


class CaseStoreError(HavenError):
    """The case directory or its store is missing, locked or inconsistent."""


class NotACaseError(CaseStoreError):
    """A directory given as a case holds no haven case (no case.db)."""


class CaseEvidenceOverlap(CaseStoreError):
    """A case directory inside the evidence, or evidence inside the case directory."""


class ReadOnlyCaseError(CaseStoreError):
    """A command that writes was given a case on storage it cannot write."""


class CaseBusyError(CaseStoreError):
    """Another process holds the case (a scan or an index running on it)."""


class LibraryError(HavenError):
    """A hash library (or a digest table) cannot be opened or used as asked."""


class LibraryCorruptError(LibraryError):
    """A library file is truncated or its checksum does not match: restore it from a copy."""
