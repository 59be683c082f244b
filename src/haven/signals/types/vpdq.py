"""vPDQ: PDQ of a video's sampled frames; videos match by the shares of frames within 31 bits.

A value is one frame's 64-hex PDQ; a video's signal is its frame rows
`[frame, quality, hex, timestamp]` (`haven.signals.vpdq`, PyAV loaded on first use), matched
by `haven.match.video.VideoLibrary`. Known videos' frames travel in a hash-set entry's
`extra["vpdq"]`, not a column of their own.
"""

from haven.signals.base import HammingSignal
from haven.signals.registry import register


@register
class Vpdq(HammingSignal):
    name = "vpdq"
    content = frozenset({"video"})
    hex_length = 64  # one frame
    order = 60
    default_threshold = 31  # per frame, as PDQ
    entry_column = False
    single = False
    examples = ("f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",)

    def compute(self, data: bytes) -> list[list]:
        """The frame rows of a video held in memory."""
        from haven.signals import vpdq

        return vpdq.frames_to_rows(vpdq.vpdq_from_bytes(data).frames)
