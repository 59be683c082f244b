"""PDQ: Meta's 256-bit perceptual hash of a picture, near matches within 31 bits.

Computed by `haven.signals.pdq` (loaded on first use: PIL and pdqhash). Matching searches an
item's query hashes (dihedral versions and central windows) against known hashes and their
enrolled crop windows (`haven.match.near.NearIndex`).
"""

from haven.signals.base import HammingSignal
from haven.signals.registry import register


@register
class Pdq(HammingSignal):
    name = "pdq"
    content = frozenset({"image"})
    hex_length = 64
    order = 50
    default_threshold = 31  # upstream's recommended match threshold, inclusive in haven
    examples = ("f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
                "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b23")

    def compute(self, data: bytes) -> str:
        from haven.signals import pdq

        return pdq.pdq_from_bytes(data).hex
