"""Formats haven recognises but does not open (`haven.evidence.unsupported`'s table): each
becomes a Problem "unsupported" naming it. Always tried last."""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.registry import register
from haven.evidence.unsupported import HEAD_BYTES, reason, unopened_format


@register
class Unrecognised:
    """Not a container haven opens, but a format it names: a Problem, no members."""

    name: ClassVar[str] = "unopened"
    priority: ClassVar[int] = 1000
    expands: ClassVar[bool] = False

    @classmethod
    def sniff(cls, head: bytes, size: int | None) -> bool:
        return unopened_format(head) is not None

    def members(self, item: Item, limits: Limits) -> Iterator[Item | Problem]:
        with item.open() as fh:
            fmt = unopened_format(fh.read(HEAD_BYTES))
        if fmt is not None:
            yield Problem(item.path, "unsupported", reason(fmt), item.size)
