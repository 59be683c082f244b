"""Disjoint sets (union-find): the one grouping structure that series, face clusters and
card-use grouping share.

Keys are any hashable, orderable values (media ids, row numbers). The smallest key of a set
is its root, so the groups and their roots do not depend on the order of the joins; `size`
counts the members of a root's set. Finding uses path halving.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable


class DisjointSets:
    """Sets of keys that only ever merge."""

    def __init__(self, keys: Iterable[Hashable] = ()) -> None:
        self.parent: dict = {}
        self.size: dict = {}
        for key in keys:
            self.add(key)

    def add(self, key: Hashable) -> None:
        """Make `key` a set of its own unless it is already known."""
        if key not in self.parent:
            self.parent[key] = key
            self.size[key] = 1

    def find(self, key: Hashable) -> Hashable:
        """The root of `key`'s set (adding `key` as a set of its own if it is new)."""
        parent = self.parent
        if key not in parent:
            self.add(key)
            return key
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def union(self, a: Hashable, b: Hashable) -> Hashable:
        """Join the sets of `a` and `b`; the root of the joined set (its smallest key)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        keep, gone = (ra, rb) if ra < rb else (rb, ra)
        self.parent[gone] = keep
        self.size[keep] += self.size.pop(gone)
        return keep

    def groups(self) -> list[list]:
        """Every set as a list of its keys, in the order the keys were first added."""
        out: dict = {}
        for key in self.parent:
            out.setdefault(self.find(key), []).append(key)
        return list(out.values())
