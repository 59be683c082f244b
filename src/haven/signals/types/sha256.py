"""SHA-256 of a file's bytes: the digest evidence and packages are identified by."""

from haven.signals.base import DigestSignal
from haven.signals.registry import register


@register
class Sha256(DigestSignal):
    name = "sha256"
    hex_length = 64
    order = 30
    store_code = 3
    examples = ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592")
