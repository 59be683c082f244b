"""Records + scored links → subjects, with guards against chaining and manual decisions.

Pure logic. Links are merged strongest first (ties by record ids, so the result is
deterministic). A merge is refused when it would
- make a subject larger than `max_size` (namesake chains grow one weak link at a time),
- join two multi-record subjects through a link that carries no strong identifier
  (same e-mail, phone, username, or date of birth) and is below `strong_weight`,
- grow a subject beyond `weak_join_max_size` records (default 1: weak links only pair two
  single records) through such a weak link: namesakes in one city otherwise attach to a
  subject one by one (measured at 1M rows: 26 rows of 23 people in one subject) — unless
  the weak link is uncontradicted and exclusive (`weak_join_exclusive`),
- rest on a link whose first names disagree (household members share e-mail and address),
- cross a manual split.
Manual merges are applied last and always win.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Link:
    left: str
    right: str
    weight: float
    strong: bool
    #: The model's evidence says "two people" on a decisive field (first names unlike).
    veto: bool = False
    #: Both records hold an identifier or address field and they disagree (other e-mail,
    #: phone, street …): what namesakes look like. Such a weak link never grows a subject.
    contradicted: bool = False


@dataclass(frozen=True)
class ClusterParams:
    threshold: float = 6.0
    max_size: int = 30
    strong_weight: float = 20.0
    require_strong_between_groups: bool = True
    honour_veto: bool = True
    #: largest subject a weak link (no strong identifier, below `strong_weight`) may grow;
    #: None: any size up to `max_size`
    weak_join_max_size: int | None = 1
    #: ... unless the link is uncontradicted (no identifier or address field disagrees) and
    #: exclusive: the smaller side links (at or above the threshold) to nobody outside the
    #: two. A person's stray record ("Tom Stanford", no e-mail) links to that person alone;
    #: a namesake in one city has its own e-mail, phone or street, or links to several.
    weak_join_exclusive: bool = True


class _Sets:
    def __init__(self, ids: Iterable[str]) -> None:
        self.parent = {i: i for i in ids}
        self.size = dict.fromkeys(self.parent, 1)
        # members of multi-record groups only (a single record is its own list)
        self.members: dict[str, list[str]] = {}

    def find(self, x: str) -> str:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> str:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if (self.size[ra], rb) < (self.size[rb], ra):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        self.members.setdefault(ra, [ra]).extend(self.members.pop(rb, [rb]))
        return ra


def subject_id(members: Sequence[str]) -> str:
    """Deterministic id from the sorted record ids of a subject."""
    h = hashlib.sha256("\n".join(sorted(members)).encode()).hexdigest()
    return "S-" + h[:12]


def cluster(
    record_ids: Iterable[str],
    links: Iterable[Link],
    params: ClusterParams = ClusterParams(),
    merges: Sequence[Sequence[str]] = (),
    splits: Sequence[Sequence[str]] = (),
) -> dict[str, str]:
    """Map every record id to a subject id."""
    ids = sorted(set(record_ids))
    sets = _Sets(ids)
    # A split group gets its own tag; only clusters with the same tag may merge.
    tag: dict[str, int | None] = dict.fromkeys(ids, None)
    for n, group in enumerate(splits, start=1):
        for r in group:
            if r in tag:
                tag[r] = n
    root_tag: dict[str, int | None] = dict(tag)
    for group in splits:
        present = [r for r in group if r in sets.parent]
        for r in present[1:]:
            root = sets.union(present[0], r)
            root_tag[root] = tag[present[0]]
    ordered = sorted(
        (lk for lk in links if lk.weight >= params.threshold),
        key=lambda lk: (-lk.weight, min(lk.left, lk.right), max(lk.left, lk.right)),
    )
    near: dict[str, list[str]] = {}
    if params.weak_join_exclusive:
        for lk in ordered:
            if not (params.honour_veto and lk.veto):
                near.setdefault(lk.left, []).append(lk.right)
                near.setdefault(lk.right, []).append(lk.left)
    for lk in ordered:
        if lk.left not in sets.parent or lk.right not in sets.parent:
            continue
        if params.honour_veto and lk.veto:
            continue
        ra, rb = sets.find(lk.left), sets.find(lk.right)
        if ra == rb:
            continue
        if root_tag.get(ra) != root_tag.get(rb):
            continue
        if sets.size[ra] + sets.size[rb] > params.max_size:
            continue
        if not lk.strong and lk.weight < params.strong_weight:  # a weak link
            if params.require_strong_between_groups and min(sets.size[ra], sets.size[rb]) > 1:
                continue
            if (params.weak_join_max_size is not None
                    and max(sets.size[ra], sets.size[rb]) > params.weak_join_max_size
                    and not (params.weak_join_exclusive and not lk.contradicted
                             and _exclusive(sets, ra, rb, near))):
                continue
        t = root_tag.get(ra)
        root = sets.union(ra, rb)
        root_tag[root] = t
    for group in merges:
        present = [r for r in group if r in sets.parent]
        for r in present[1:]:
            sets.union(present[0], r)
    members: dict[str, list[str]] = {}
    for i in ids:
        members.setdefault(sets.find(i), []).append(i)
    out: dict[str, str] = {}
    for group in members.values():
        sid = subject_id(group)
        for r in group:
            out[r] = sid
    return out


def _exclusive(sets: _Sets, ra: str, rb: str, near: Mapping[str, list[str]]) -> bool:
    """No record of the smaller group links (at or above the threshold) outside the two."""
    small = ra if sets.size[ra] <= sets.size[rb] else rb
    for rec in sets.members.get(small, [small]):
        for other in near.get(rec, ()):
            if sets.find(other) not in (ra, rb):
                return False
    return True


def groups(assignment: Mapping[str, str]) -> dict[str, list[str]]:
    """subject id → sorted record ids."""
    out: dict[str, list[str]] = {}
    for r, s in assignment.items():
        out.setdefault(s, []).append(r)
    return {s: sorted(v) for s, v in sorted(out.items())}
