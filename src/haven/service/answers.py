"""The matching API's answers: one signal's matches with their provenance, as dicts or as
JSON text built from pieces encoded once (issue 18).

A lookup near a crowded spot of the library lists up to `max_matches` (100) entries, each
with 13-15 provenance fields. One dict per match, grouped by bank and encoded by `json`,
cost 5-7 µs a match: at 100 matches more CPU than the index search itself. The entries of
one hash-set version share their set's fields, and categories, series and import times
repeat across thousands of entries, so `AnswerText` encodes each of those once and writes a
match as one string format of the pieces and its own numbers (entry id, distance, threshold,
crowded flag). The text is byte for byte what `json.dumps(..., separators=(",", ":"))` gives
for the dicts of `match_dict` (tests/service/test_answers.py compares both on every path).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SetInfo:
    """What a match needs to know of its hash set (one value per set version)."""

    name: str
    version: int
    known_good: bool
    scheme: str | None
    #: the set's own PDQ threshold; None: the service's default
    threshold: int | None = None
    #: a negative set: its entries are known false positives, never answered
    negative: bool = False
    #: the sets a negative set's matches suppress (empty: every set)
    suppresses: tuple[str, ...] = ()
    feed: str | None = None


@dataclass(frozen=True, slots=True)
class EntryInfo:
    entry_id: int
    hashset: SetInfo
    category: str | None
    series: str | None
    added_at: datetime


def categories_of(category: str | None) -> list[str]:
    """An entry's category field split on commas (blank parts dropped)."""
    return [c.strip() for c in category.split(",") if c.strip()] if category else []


def match_dict(info: EntryInfo, algorithm: str, distance: int, threshold: int) -> dict:
    """One match with its provenance: set, entry, feed, categories, series, distance, date."""
    hs = info.hashset
    return {"hashset": hs.name, "hashset_version": hs.version,
            "entry_id": info.entry_id, "known_good": hs.known_good, "feed": hs.feed,
            "category": info.category, "categories": categories_of(info.category),
            "series": info.series, "scheme": hs.scheme, "algorithm": algorithm,
            "distance": distance, "threshold": threshold,
            "added_at": info.added_at.isoformat() + "Z"}


@dataclass(frozen=True, slots=True)
class Hits:
    """One signal's answered entries, best first, the matching controls applied: parallel
    arrays, with the numbering lists of the library build that found them."""

    algorithm: str
    entry_ids: list[int]
    distances: list[int]
    thresholds: list[int]
    #: per hit: True when its hash sits in a crowded spot; None for exact signal types
    crowded: list[bool] | None
    set_numbers: list[int]
    category_numbers: list[int]
    time_numbers: list[int]
    sets: list[SetInfo]
    categories: list[tuple[str | None, str | None]]
    times: list[datetime]
    #: more entries were within reach than are listed
    truncated: bool
    #: entries within reach before the controls (every one, not only those listed)
    reach: int

    def __len__(self) -> int:
        return len(self.entry_ids)

    def dicts(self) -> list[dict]:
        """The matches as `match_dict`s (PDQ ones with `crowded`)."""
        out = []
        for k, eid in enumerate(self.entry_ids):
            category, series = self.categories[self.category_numbers[k]]
            info = EntryInfo(eid, self.sets[self.set_numbers[k]], category, series,
                             self.times[self.time_numbers[k]])
            m = match_dict(info, self.algorithm, self.distances[k], self.thresholds[k])
            if self.crowded is not None:
                m["crowded"] = self.crowded[k]
            out.append(m)
        return out


def no_hits(algorithm: str, reach: int = 0, crowded: bool = False,
            truncated: bool = False) -> Hits:
    """An answer listing nothing (`reach` entries were within reach, none answered)."""
    return Hits(algorithm, [], [], [], [] if crowded else None, [], [], [], [], [], [],
                truncated, reach)


def _dump(value) -> str:
    return json.dumps(value, separators=(",", ":"))


class AnswerText:
    """Matches as compact JSON text, from pieces encoded once per set version, category and
    import time (see the module docstring). Safe to share between threads: the caches only
    grow (cleared past `max_pieces`), and a piece is the same whoever encodes it."""

    def __init__(self, max_pieces: int = 100_000) -> None:
        self.max_pieces = max_pieces
        self._sets: dict[tuple[SetInfo, str], tuple[str, str, str]] = {}
        self._categories: dict[tuple, str] = {}
        self._times: dict[datetime, str] = {}
        self._lock = threading.Lock()

    def _piece(self, cache: dict, key, make):
        piece = cache.get(key)
        if piece is None:
            piece = make(key)
            with self._lock:
                if len(cache) >= self.max_pieces:
                    cache.clear()
                cache[key] = piece
        return piece

    @staticmethod
    def _set_pieces(key: tuple[SetInfo, str]) -> tuple[str, str, str]:
        hs, algorithm = key
        return (f'{{"hashset":{_dump(hs.name)},"hashset_version":{hs.version},"entry_id":',
                f',"known_good":{_dump(hs.known_good)},"feed":{_dump(hs.feed)},',
                f',"scheme":{_dump(hs.scheme)},"algorithm":{_dump(algorithm)},"distance":')

    @staticmethod
    def _category_piece(pair: tuple) -> str:
        category, series = pair
        return (f'"category":{_dump(category)},"categories":{_dump(categories_of(category))},'
                f'"series":{_dump(series)}')

    @staticmethod
    def _time_piece(added: datetime) -> str:
        return _dump(added.isoformat() + "Z")

    def matches(self, hits: Hits, *, hma: bool = False) -> list[str]:
        """One JSON object per hit, in order. `hma`: HMA's shape, the distance a string and
        `bank_content_id` last (as `ServiceHashSets.hma_banks` writes it)."""
        if not hits.entry_ids:
            return []
        algorithm = hits.algorithm
        set_pieces = {n: self._piece(self._sets, (hits.sets[n], algorithm), self._set_pieces)
                      for n in set(hits.set_numbers)}
        categories = {n: self._piece(self._categories, hits.categories[n], self._category_piece)
                      for n in set(hits.category_numbers)}
        times = {n: self._piece(self._times, hits.times[n], self._time_piece)
                 for n in set(hits.time_numbers)}
        if hits.crowded is None:
            flags = [""] * len(hits.entry_ids)
        else:
            flags = [',"crowded":true' if c else ',"crowded":false' for c in hits.crowded]
        if hma:
            return [f'{head}{eid}{mid}{categories[c]}{tail}"{d}","threshold":{t},"added_at":'
                    f'{times[a]}{flag},"bank_content_id":{eid}}}'
                    for eid, (head, mid, tail), c, d, t, a, flag in zip(
                        hits.entry_ids, map(set_pieces.__getitem__, hits.set_numbers),
                        hits.category_numbers, hits.distances, hits.thresholds,
                        hits.time_numbers, flags)]
        return [f'{head}{eid}{mid}{categories[c]}{tail}{d},"threshold":{t},"added_at":'
                f'{times[a]}{flag}}}'
                for eid, (head, mid, tail), c, d, t, a, flag in zip(
                    hits.entry_ids, map(set_pieces.__getitem__, hits.set_numbers),
                    hits.category_numbers, hits.distances, hits.thresholds, hits.time_numbers,
                    flags)]

    def listed(self, hits: Hits) -> str:
        """The matches as a JSON list (the `matches` of `POST /api/v1/lookup`)."""
        return "[" + ",".join(self.matches(hits)) + "]"

    def banks(self, hits: Hits, wanted: set[str] | None = None) -> tuple[str, int, int]:
        """HMA's `{bank: [match…]}` as JSON text (only the `wanted` banks when given), with
        the number of banks and of matches in it. Banks in the order of their best match."""
        texts = self.matches(hits, hma=True)
        if not texts:
            return "{}", 0, 0
        numbers = set(hits.set_numbers)
        if len(numbers) == 1:  # the common case: one bank, no grouping
            name = hits.sets[numbers.pop()].name
            if wanted is not None and name not in wanted:
                return "{}", 0, 0
            return f"{{{_dump(name)}:[{','.join(texts)}]}}", 1, len(texts)
        grouped: dict[str, list[str]] = {}
        for n, text in zip(hits.set_numbers, texts):
            name = hits.sets[n].name
            if wanted is None or name in wanted:
                grouped.setdefault(name, []).append(text)
        body = ",".join(f"{_dump(name)}:[{','.join(group)}]" for name, group in grouped.items())
        return "{" + body + "}", len(grouped), sum(len(v) for v in grouped.values())
