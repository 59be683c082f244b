"""The one registry of container kinds; the walker asks it, never tests for kinds itself.

A container module registers its class with `@register` when imported. The built-in modules
are imported on first use, so importing the registry alone stays cheap and free of cycles;
a plug-in container only has to be imported before the walk starts.
"""

from __future__ import annotations

import importlib

from haven.evidence.base import Container

# Btrfs puts its superblock at 64 KiB (ISO 9660 its volume descriptor at 32 KiB): the
# deepest signature any container or unopened format needs.
HEAD_SIZE = 0x10040 + 8

_BUILTIN = (
    "haven.evidence.zip",
    "haven.evidence.sevenzip",
    "haven.evidence.tar",
    "haven.evidence.iso",
    # After iso: hybrid ISO images carry an MBR too and are read as discs.
    "haven.evidence.disk",
    "haven.evidence.ewf",
    "haven.evidence.virtual",
    # Last: formats recognised but not opened, named in a Problem.
    "haven.evidence.unsupported",
)
_CONTAINERS: list[type[Container]] = []
_loaded = False


def register(cls: type[Container]) -> type[Container]:
    """Class decorator: make `cls` a container kind the walker opens."""
    if cls not in _CONTAINERS:
        _CONTAINERS.append(cls)
    return cls


def containers() -> tuple[type[Container], ...]:
    """Every registered container kind, in the order they are tried."""
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _BUILTIN:
            importlib.import_module(module)
    return tuple(_CONTAINERS)


def find_container(head: bytes, size: int | None) -> type[Container] | None:
    """The container kind whose signature `head` (a file's first bytes) carries, or None."""
    for cls in containers():
        if cls.sniff(head, size):
            return cls
    return None
