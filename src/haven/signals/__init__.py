"""Signals: what haven computes from an item's content (digests, PDQ, vPDQ).

Each hash is a registered signal type (`types/`, one module each; `registry` lists them):
code elsewhere iterates the registry instead of naming hashes. The computation modules
(`digests`, `pdq`, `vpdq`) stay separate, so code that only stores or compares signals (a
scan's main process, re-matching, the service) never loads PIL, pdqhash or PyAV.
"""

from haven.signals.base import InvalidSignal, SignalType, UnknownSignalType
from haven.signals.registry import (
    by_hex_length,
    digest_types,
    entry_types,
    get,
    item_digests,
    item_types,
    names,
    near_names,
    near_types,
    register,
    scanned_digests,
    signal_types,
)

#: PDQ quality below which a hash (of an image or a video frame) is kept but not trusted for
#: near matching (upstream rule).
MIN_TRUSTED_QUALITY = 50

__all__ = ["InvalidSignal", "MIN_TRUSTED_QUALITY", "SignalType", "UnknownSignalType",
           "by_hex_length", "digest_types", "entry_types", "get", "item_digests", "item_types", "names", "near_names",
           "near_types", "register", "scanned_digests", "signal_types"]
