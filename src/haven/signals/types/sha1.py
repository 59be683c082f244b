"""SHA-1 of a file's bytes (VICS, NSRL, ICSE and NCMEC lists carry it beside MD5)."""

from haven.signals.base import DigestSignal
from haven.signals.registry import register


@register
class Sha1(DigestSignal):
    name = "sha1"
    hex_length = 40
    order = 20
    store_code = 2
    examples = ("da39a3ee5e6b4b0d3255bfef95601890afd80709",
                "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12")
