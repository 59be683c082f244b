"""One index API per signal type, under every store (per case, national library, service).

`SignalIndex` is what each store keeps per signal type: known values enrolled under entry ids
(`add`), and `search` / `search_rows` answering which entries lie within a threshold of query
values, best first. Exact digests use `ExactIndex` (a dict while small, a sorted `DigestTable`
from `EXACT_TABLE_MIN` digests on: ~10x less memory, same answers); PDQ uses `NearIndex`
(`haven.match.near`); `index_for` picks the one a signal type needs. vPDQ's index is
`haven.match.video.VideoLibrary`, which matches a whole video's frames at once.
"""

from __future__ import annotations

from typing import Iterable, Protocol, runtime_checkable

from haven.match.sorted_digests import DigestTable
from haven.signals import SignalType

#: From this many digests of one type on, `ExactIndex.freeze` keeps them in a sorted table.
EXACT_TABLE_MIN = 200_000


@runtime_checkable
class SignalIndex(Protocol):
    """Known values of one signal type, each under an entry id (several per id allowed)."""

    def add(self, values: list[str], ids: list[int], tags: list[str] | None = None) -> None: ...

    def search_rows(self, values: list[str], threshold: int
                    ) -> list[tuple[int, int, str | None]]:
        """(entry id, distance, tag) of every enrolled value within `threshold` of a query
        value, sorted by distance."""
        ...

    def search(self, values: list[str], threshold: int) -> list[tuple[int, int]]:
        """(entry id, best distance) once per entry, sorted by distance then id."""
        ...

    def __len__(self) -> int: ...


class ExactIndex:
    """Exact digests of one kind -> entry ids; distance is always 0.

    A dict of hex digest -> ids; `freeze` turns it into a sorted `DigestTable` once it holds
    `EXACT_TABLE_MIN` digests or more (values added after that go to a dict beside it)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._dict: dict[str, list[int]] = {}
        self._table: DigestTable | None = None

    def add(self, values: Iterable[str], ids: Iterable[int], tags=None) -> None:
        d = self._dict
        for value, ident in zip(values, ids):
            found = d.get(value)
            if found is None:
                d[value] = [ident]
            else:
                found.append(ident)

    def add_one(self, value: str, ident: int) -> None:
        """`add` for one value (the bulk loaders' per-row path)."""
        found = self._dict.get(value)
        if found is None:
            self._dict[value] = [ident]
        else:
            found.append(ident)

    def freeze(self) -> None:
        """Move the digests into a sorted table when there are enough of them to pay off."""
        if self._table is not None or len(self._dict) < EXACT_TABLE_MIN:
            return
        digests = [d for d, ids in self._dict.items() for _ in ids]
        ids = [i for found in self._dict.values() for i in found]
        self._table = DigestTable(self.kind, digests, ids)
        self._dict = {}

    @property
    def frozen(self) -> bool:
        return self._table is not None

    def get(self, value: str) -> list[int]:
        """Entry ids of one hex digest (lower-case), in the order they were added."""
        found = self._dict.get(value)
        if self._table is None:
            return list(found) if found else []
        ids = self._table.get(value.lower())
        return ids + list(found) if found else ids

    def search_rows(self, values: list[str], threshold: int = 0
                    ) -> list[tuple[int, int, str | None]]:
        return [(i, 0, None) for v in values for i in self.get(v)]

    def search(self, values: list[str], threshold: int = 0) -> list[tuple[int, int]]:
        return sorted({(i, 0) for v in values for i in self.get(v)}, key=lambda t: t[0])

    def __len__(self) -> int:
        return (len(self._table) if self._table is not None else 0) + sum(
            len(ids) for ids in self._dict.values())


def index_for(st: SignalType) -> SignalIndex:
    """A new, empty index of the kind signal type `st` needs."""
    if not st.near:
        return ExactIndex(st.name)
    if st.name == "pdq":
        from haven.match.near import NearIndex  # FAISS: only for sets that hold PDQ hashes

        return NearIndex()
    raise ValueError(f"{st.name} has no single-value index (vPDQ: haven.match.video)")
