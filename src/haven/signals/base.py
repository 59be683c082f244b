"""What a signal type is: one small class per hash (name, content, validation, comparison).

A signal travels as a plain lower-case hex string (a vPDQ signal as its frames' hex strings),
so it can be stored, sent and compared anywhere without the code that computed it. Each type
says which content it applies to, how to validate and compute a value, whether it matches by
equality (exact digests) or by distance (perceptual hashes, with its default threshold), and
carries example values its tests use. Types register themselves (`haven.signals.registry`);
the rest of haven iterates the registry instead of naming hashes.

A type module imports nothing heavy: computing a perceptual hash loads PIL or PyAV inside
`compute`, so a process that only stores or compares signals never loads them.
"""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar

from haven.errors import HavenError

_HEX = re.compile(r"[0-9a-fA-F]+")


class InvalidSignal(HavenError, ValueError):
    """A value is not a valid signal of its type (wrong length, not hex).

    Also a ValueError: hash-set readers turn it into one malformed line, as any bad value."""


class UnknownSignalType(HavenError, ValueError):
    """No registered signal type has this name."""


class SignalType:
    """One kind of signal. Subclass, set the class attributes, decorate with `@register`."""

    #: The name everywhere: files, the API, findings' `signal_type`, store columns.
    name: ClassVar[str]
    #: Content it is computed from: "file" (any bytes), "image", "video".
    content: ClassVar[frozenset[str]]
    #: Hex characters of one value (of one frame's hash for vPDQ).
    hex_length: ClassVar[int]
    #: True: matched by distance within a threshold; False: matched by equality.
    near: ClassVar[bool] = False
    #: Largest distance still reported as a match (0 for exact digests).
    default_threshold: ClassVar[int] = 0
    #: Position when iterating: matching, reports and columns follow it (md5 first).
    order: ClassVar[int]
    #: Valid example values, lower-case, for tests and documentation.
    examples: ClassVar[tuple[str, ...]]
    #: Schema decision: hash-set entries (`HashEntry`, the case store's `hash_entries`, the
    #: service's `lookup_entries`) have a column of this name holding one value.
    entry_column: ClassVar[bool] = True
    #: Schema decision: a scan computes it for every item of its content and stores it in the
    #: item's column of this name (`Analysis`, `items`, findings.jsonl).
    scanned: ClassVar[bool] = True
    #: One value per item/entry (False: a video's many frame hashes, vPDQ).
    single: ClassVar[bool] = True

    def validate(self, value: object) -> str | None:
        """The value as lower-case hex; None when empty; InvalidSignal saying what is wrong."""
        if value is None:
            return None
        text = str(value).strip()
        if not text:
            return None
        if len(text) != self.hex_length or not _HEX.fullmatch(text):
            shown = text if len(text) <= 80 else text[:77] + "..."
            raise InvalidSignal(f"{self.name} {shown!r} is not {self.hex_length} hex characters")
        return text.lower()

    def distance(self, a: str, b: str) -> int:
        """How far apart two valid values are (0: the same)."""
        raise NotImplementedError

    def matches(self, a: str, b: str, threshold: int | None = None) -> bool:
        """True when `a` and `b` are within the threshold (the type's default if None)."""
        limit = self.default_threshold if threshold is None else threshold
        return self.distance(a, b) <= limit

    def compute(self, data: bytes):
        """The signal of content held in memory."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<signal type {self.name}>"


class DigestSignal(SignalType):
    """A cryptographic digest of the content's bytes: exact matches only, any content."""

    content = frozenset({"file"})
    #: Kind byte in the national library's segment files (`haven.library.digests`); a file
    #: contract: never reuse or renumber one.
    store_code: ClassVar[int]
    #: Schema decision: items have a column of this name (`items`), holding the value
    #: whenever a scan computed it: always for a `scanned` type; for another (SHA-512) when the
    #: scan was asked for it (`haven.scan.analyse.analyse`, `extra_digests`), else NULL.
    #: Re-matching (`haven.match.rematch`) looks new entries up in these columns.
    item_column: ClassVar[bool] = True

    @property
    def width(self) -> int:
        """Bytes of one digest."""
        return self.hex_length // 2

    def hasher(self):
        """A fresh hashlib object (update with the content's chunks, then hexdigest)."""
        return hashlib.new(self.name)

    def compute(self, data: bytes) -> str:
        return hashlib.new(self.name, data).hexdigest()

    def distance(self, a: str, b: str) -> int:
        return 0 if a.lower() == b.lower() else self.hex_length * 4


class HammingSignal(SignalType):
    """A perceptual hash compared bit by bit: near matches within a Hamming distance."""

    near = True

    def distance(self, a: str, b: str) -> int:
        return (int(a, 16) ^ int(b, 16)).bit_count()
