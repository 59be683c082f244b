"""The one registry of signal types: every hash haven computes, reads, matches or serves.

A type is one module in `haven.signals.types` with a class decorated by `@register`; importing
the package registers them all (the hash-set readers' idiom). Code elsewhere iterates
`signal_types()` (or one of its views) instead of naming hashes, so a new type reaches the
readers, the matchers, reports, the service's validation and deconfliction by itself; what
remains is its schema decision (see `SignalType.entry_column` / `scanned`,
docs/architecture.md).
"""

from __future__ import annotations

import importlib
import pkgutil

from haven.signals.base import DigestSignal, SignalType, UnknownSignalType

_TYPES: dict[str, SignalType] = {}
_loaded = False
_views: dict[str, object] = {}  # ordered list and near names, asked per item: computed once


def register(cls: type) -> type:
    """Class decorator: instantiate a signal type and add it under its `name`."""
    st = cls()
    for attr in ("name", "content", "hex_length", "order", "examples"):
        if not hasattr(st, attr):
            raise TypeError(f"signal type {cls.__name__} lacks {attr}")
    if st.name in _TYPES and type(_TYPES[st.name]) is not cls:
        raise ValueError(f"two signal types claim the name {st.name!r}")
    _TYPES[st.name] = st
    _views.clear()
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    package = importlib.import_module("haven.signals.types")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"haven.signals.types.{module.name}")
    _loaded = True


def signal_types() -> list[SignalType]:
    """Every registered type, in its `order` (md5, sha1, sha256, …, pdq, vpdq)."""
    _load()
    if "all" not in _views:
        _views["all"] = sorted(_TYPES.values(), key=lambda t: (t.order, t.name))
    return list(_views["all"])


def names() -> list[str]:
    return [t.name for t in signal_types()]


def get(name: str) -> SignalType:
    """The type called `name` (case-insensitive); UnknownSignalType naming the known ones."""
    _load()
    st = _TYPES.get(str(name).strip().lower())
    if st is None:
        raise UnknownSignalType(f"unknown signal type {str(name)[:20]!r}; known: {', '.join(names())}")
    return st


def digest_types() -> list[DigestSignal]:
    """Exact digests (md5, sha1, sha256, …), in order."""
    return [t for t in signal_types() if isinstance(t, DigestSignal)]


def scanned_digests() -> list[DigestSignal]:
    """The digests a scan computes for every item."""
    return [t for t in digest_types() if t.scanned]


def item_digests() -> list[DigestSignal]:
    """The digests an item's row has a column for (`DigestSignal.item_column`): the scanned
    ones, always filled, and those a scan computes only when asked (SHA-512)."""
    return [t for t in digest_types() if t.item_column]


def near_types() -> list[SignalType]:
    """Perceptual types matched by distance (pdq, vpdq)."""
    return [t for t in signal_types() if t.near]


def near_names() -> frozenset[str]:
    if "near" not in _views:
        _views["near"] = frozenset(t.name for t in near_types())
    return _views["near"]


def entry_types() -> list[SignalType]:
    """Types a hash-set entry holds in a column of its name (md5, sha1, sha256, pdq, …)."""
    return [t for t in signal_types() if t.entry_column]


def item_types() -> list[SignalType]:
    """Types a scan stores one value of per item, in the item's column of their name and in
    findings.jsonl/csv (md5, sha1, sha256, pdq)."""
    return [t for t in signal_types() if t.scanned and t.single]


def by_hex_length(length: int) -> DigestSignal | None:
    """The exact digest a bare hex string of this length is (plain lists); None if none.

    PDQ is 64 hex digits too but is never guessed from a bare string: SHA-256 wins."""
    return next((t for t in digest_types() if t.hex_length == length), None)
