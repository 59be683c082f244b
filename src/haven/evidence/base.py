"""Items, problems and the container interface of the evidence layer.

Evidence is read-only: a container yields `Item`s (one per file, addressed by its path
inside the evidence) and `Problem`s (bad input worth a finding: corrupt or encrypted
archives, archive bombs, path traversal, unreadable files). A new container type is one new
module that registers a `Container` subclass; the walker never tests for kinds itself.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, ClassVar, Iterator, Protocol


@dataclass(frozen=True)
class Limits:
    """Guards against archive bombs and absurd input; all configurable from the CLI."""

    max_item_size: int = 64 * 1024**3  # bytes one extracted item may have
    max_total_extracted: int = 1024**4  # bytes one archive may expand to, nested included
    max_ratio: float = 200.0  # expanded / compressed size of one archive member
    max_depth: int = 16  # containers inside containers
    max_items: int = 10_000_000  # items one container may hold
    max_name_length: int = 4096  # characters of one member name
    spool_limit: int = 256 * 1024**2  # nested containers above this spill to a temp file


@dataclass
class Item:
    """One file found in the evidence.

    `path` is the full evidence path (`seizure.zip/inner/pack.zip/a.jpg`). Exactly one of
    `fs_path` (a real, readable file on disk: read it directly) or `opener` (returns a fresh
    binary stream positioned at 0) is set.
    """

    path: str
    size: int | None
    fs_path: str | None = None
    opener: Callable[[], BinaryIO] | None = None
    flags: dict = field(default_factory=dict)  # e.g. {"deleted": True}, {"carved": True}

    def open(self) -> BinaryIO:
        if self.fs_path is not None:
            return open(self.fs_path, "rb")
        if self.opener is None:
            raise ValueError(f"item {self.path!r} has no content")
        return self.opener()

    def read_all(self) -> bytes:
        with self.open() as fh:
            return fh.read()


@dataclass
class Problem:
    """Bad input found while walking evidence; becomes an `error` finding, never a crash.

    `kind` is one of: corrupt, truncated, encrypted, bomb, traversal, bad-name, symlink-loop,
    unreadable, too-deep, unsupported.
    """

    path: str
    kind: str
    reason: str
    size: int | None = None


class Container(Protocol):
    """Opens one kind of container; `walk` yields what it holds, recursively or not."""

    name: ClassVar[str]

    @classmethod
    def sniff(cls, head: bytes, size: int | None) -> bool:
        """True when `head` (the first bytes of a file) looks like this container."""
        ...

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        """The direct members of the container `item` (paths prefixed with item.path)."""
        ...


def bytes_opener(data: bytes) -> Callable[[], BinaryIO]:
    """An opener over bytes already in memory."""
    return lambda: io.BytesIO(data)
