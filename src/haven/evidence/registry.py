"""The one registry of container kinds; the walker asks it, never tests for kinds itself.

A container kind is one module in `haven.evidence.containers` holding one class decorated
with `@register` (see `Container` for what it declares). Every module of that package is
imported on first use (automatic discovery, as the hash-set readers are found), so a new
kind is one new file and nothing else changes. A plug-in kind living elsewhere only has to
be imported before the walk starts.

Sniffing must stay cheap: a container module imports no decoder library at import time
(py7zr, pycdlib, pytsk3, the libyal bindings, even zipfile/tarfile); `members()` imports the
reader that needs one when a container of that kind is actually opened. A scan of loose
photos therefore loads none of them (tests/evidence/test_container_registry.py holds the
package to that).

Most kinds are known by their first bytes (`sniff(head, size)`). A kind whose mark is at the
end of the file (UDIF disk images: `koly` in the last 512 bytes) also has
`sniff_tail(tail, size)`; where the walker can read a file's last `TAIL_SIZE` bytes cheaply
it passes them, and a tail match wins over the head (a bzip2 DMG starts like a .bz2 file).
Where the tail is dear (a compressed archive member: read to its end), the walker reads it
only when some kind's `tail_hint(head)` says the head could start such a file.
"""

from __future__ import annotations

from haven.evidence.base import Container, Folder
from haven.plugins import claim, discover

# Btrfs puts its superblock at 64 KiB (ISO 9660 its volume descriptor at 32 KiB): the
# deepest signature any container or unopened format needs.
HEAD_SIZE = 0x10040 + 8
TAIL_SIZE = 512  # the UDIF trailer

_PACKAGE = "haven.evidence.containers"
_CONTAINERS: dict[str, type[Container]] = {}
_FOLDERS: dict[str, type[Folder]] = {}
_ordered: tuple[type[Container], ...] | None = None


def register(cls: type) -> type:
    """Class decorator: make `cls` a container kind the walker opens."""
    global _ordered
    missing = [attr for attr in ("name", "priority", "expands", "sniff", "members")
               if not hasattr(cls, attr)]
    if missing:
        raise TypeError(f"container {cls.__name__} lacks {'/'.join(missing)}")
    claim(_CONTAINERS, cls.name, cls, "container kinds")
    _ordered = None
    return cls


def _discover() -> None:
    discover(_PACKAGE)  # importing every module of the package runs its @register


def containers() -> tuple[type[Container], ...]:
    """Every registered container kind, in the order they are tried (priority, then name)."""
    global _ordered
    _discover()
    if _ordered is None:
        _ordered = tuple(sorted(_CONTAINERS.values(), key=lambda c: (c.priority, c.name)))
    return _ordered


def tail_hinted(head: bytes) -> bool:
    """True when a kind known by its tail says `head` could start one (`tail_hint`)."""
    for cls in containers():
        hint = getattr(cls, "tail_hint", None)
        if hint is not None and hint(head):
            return True
    return False


def find_container(head: bytes, size: int | None,
                   tail: bytes | None = None) -> type[Container] | None:
    """The container kind whose signature `head` (a file's first bytes) or `tail` (its last
    `TAIL_SIZE` bytes, when known) carries, or None."""
    kinds = containers()
    if tail is not None:
        for cls in kinds:
            sniff_tail = getattr(cls, "sniff_tail", None)
            if sniff_tail is not None and sniff_tail(tail, size):
                return cls
    for cls in kinds:
        if cls.sniff(head, size):
            return cls
    return None


def register_folder(cls: type) -> type:
    """Class decorator: make `cls` a folder kind the walker reads (see `Folder`)."""
    missing = [attr for attr in ("name", "recognise", "members") if not hasattr(cls, attr)]
    if missing:
        raise TypeError(f"folder kind {cls.__name__} lacks {'/'.join(missing)}")
    _FOLDERS[cls.name] = cls
    return cls


def find_folder(names: frozenset[str]) -> type[Folder] | None:
    """The folder kind a directory holding the files `names` is, or None (a plain folder)."""
    _discover()
    for name in sorted(_FOLDERS):
        if _FOLDERS[name].recognise(names):
            return _FOLDERS[name]
    return None
