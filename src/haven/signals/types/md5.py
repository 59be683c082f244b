"""MD5 of a file's bytes: the digest nearly every hash list carries (VICS, NSRL, ICSE, NCMEC)."""

from haven.signals.base import DigestSignal
from haven.signals.registry import register


@register
class Md5(DigestSignal):
    name = "md5"
    hex_length = 32
    order = 10
    store_code = 1
    examples = ("d41d8cd98f00b204e9800998ecf8427e", "9e107d9d372bb6826bd81d3542a419d6")
