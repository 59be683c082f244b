"""The matching API's library: the service's hash sets in memory, exact dicts + PDQ index.

Loaded from the service tables once and rebuilt when a hash set changes (import, re-import,
tombstones). Every answer carries its evidence: algorithm, hash set name and version,
category, distance, threshold and when the entry was added.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from haven.hashsets.model import ImportResult
from haven.match.near import NearIndex
from haven.service.accounts import utcnow
from haven.service.errors import BadInput
from haven.service.models import LookupEntry, LookupHashSet

SIGNAL_TYPES = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}
_HEX = re.compile(r"[0-9a-f]+")


def check_signal(signal_type: str, signal: str) -> str:
    """The signal in lower-case hex, or BadInput saying what is wrong."""
    st = signal_type.lower()
    if st not in SIGNAL_TYPES:
        raise BadInput(f"signal_type {signal_type[:20]!r} is not one of {', '.join(SIGNAL_TYPES)}")
    value = signal.strip().lower()
    if len(value) != SIGNAL_TYPES[st] or not _HEX.fullmatch(value):
        raise BadInput(f"{st} signal must be {SIGNAL_TYPES[st]} hex characters "
                       f"(got {signal[:80]!r})")
    return value


@dataclass(frozen=True)
class EntryInfo:
    entry_id: int
    hashset: str
    hashset_version: int
    known_good: bool
    category: str | None
    scheme: str | None
    added_at: datetime


def match_dict(info: EntryInfo, algorithm: str, distance: int, threshold: int) -> dict:
    return {"hashset": info.hashset, "hashset_version": info.hashset_version,
            "entry_id": info.entry_id, "known_good": info.known_good,
            "category": info.category, "scheme": info.scheme, "algorithm": algorithm,
            "distance": distance, "threshold": threshold,
            "added_at": info.added_at.isoformat() + "Z"}


class LookupLibrary:
    """All service hash sets; `match` answers one signal, `reload` rebuilds from the tables."""

    def __init__(self, threshold: int = 31) -> None:
        self.threshold = threshold
        self._lock = threading.Lock()
        self._exact: dict[str, dict[str, list[int]]] = {k: {} for k in ("md5", "sha1", "sha256")}
        self._info: dict[int, EntryInfo] = {}
        self._near = NearIndex()

    def __len__(self) -> int:
        return len(self._info)

    def reload(self, s: Session) -> None:
        exact: dict[str, dict[str, list[int]]] = {k: {} for k in ("md5", "sha1", "sha256")}
        info: dict[int, EntryInfo] = {}
        near = NearIndex()
        sets = {h.id: h for h in s.scalars(select(LookupHashSet))}
        hexes, ids = [], []
        rows = s.execute(select(LookupEntry.id, LookupEntry.hashset_id, LookupEntry.md5,
                                LookupEntry.sha1, LookupEntry.sha256, LookupEntry.pdq,
                                LookupEntry.category, LookupEntry.added_at))
        for eid, hsid, md5, sha1, sha256, pdq, category, added in rows:
            hs = sets[hsid]
            info[eid] = EntryInfo(eid, hs.name, hs.version, hs.known_good, category, hs.scheme,
                                  added)
            for name, value in (("md5", md5), ("sha1", sha1), ("sha256", sha256)):
                if value:
                    exact[name].setdefault(value, []).append(eid)
            if pdq:
                hexes.append(pdq)
                ids.append(eid)
        if hexes:
            near.add(hexes, ids)
        with self._lock:  # swap whole structures so readers never see half a library
            self._exact, self._info, self._near = exact, info, near

    def match(self, signal_type: str, value: str, query_hexes: list[str] | None = None) -> list[dict]:
        exact, info, near = self._exact, self._info, self._near
        if signal_type == "pdq":
            hits = near.search(query_hexes or [value], self.threshold) if len(near) else []
            return [match_dict(info[eid], "pdq", d, self.threshold) for eid, d in hits]
        return [match_dict(info[eid], signal_type, 0, 0) for eid in exact[signal_type].get(value, ())]

    def match_analysis(self, analysis) -> list[dict]:
        """Matches of an uploaded file: its three digests, then PDQ near matches."""
        out, seen = [], set()
        for name in ("md5", "sha1", "sha256"):
            value = getattr(analysis, name)
            for m in self.match(name, value) if value else []:
                if m["entry_id"] not in seen:
                    seen.add(m["entry_id"])
                    out.append(m)
        if analysis.pdq and analysis.pdq_trusted:
            for m in self.match("pdq", analysis.pdq, analysis.query_hexes or [analysis.pdq]):
                if m["entry_id"] not in seen:
                    seen.add(m["entry_id"])
                    out.append(m)
        return out


def store_hashset(s: Session, result: ImportResult, *, name: str, source_sha256: str | None,
                  known_good: bool = False, tombstones: list[str] | None = None,
                  append: bool = False) -> LookupHashSet:
    """Create or update a hash set (version + 1 on every change).

    `append` keeps earlier entries (an incremental feed such as NCMEC's) and removes the
    entries whose source id is tombstoned; otherwise the set is replaced.
    """
    now = utcnow()
    hs = s.scalar(select(LookupHashSet).where(LookupHashSet.name == name))
    if hs is None:
        hs = LookupHashSet(name=name, version=1, format=result.format, scheme=result.scheme,
                           known_good=known_good, source_sha256=source_sha256,
                           imported_at=now, entry_count=0)
        s.add(hs)
        s.flush()
    else:
        hs.version += 1
        hs.format, hs.scheme, hs.source_sha256, hs.imported_at = (
            result.format, result.scheme, source_sha256, now)
        if not append:
            s.execute(delete(LookupEntry).where(LookupEntry.hashset_id == hs.id))
    rows = []
    new_ids = set()
    for e in result.entries:
        source_id = (e.extra or {}).get("ncmec_id") or (e.extra or {}).get("id")
        source_id = str(source_id)[:200] if source_id is not None else None
        if source_id:
            new_ids.add(source_id)
        rows.append({"hashset_id": hs.id, "md5": e.md5, "sha1": e.sha1, "sha256": e.sha256,
                     "pdq": e.pdq, "category": (e.category or None) and str(e.category)[:60],
                     "source_id": source_id, "added_at": now})
    gone = set(tombstones or ()) | (new_ids if append else set())
    if append and gone:  # a re-shared id replaces its old entry; a tombstone deletes it
        ids = sorted(gone)
        for start in range(0, len(ids), 500):
            s.execute(delete(LookupEntry).where(LookupEntry.hashset_id == hs.id,
                                                LookupEntry.source_id.in_(ids[start:start + 500])))
    for start in range(0, len(rows), 20_000):
        s.execute(LookupEntry.__table__.insert(), rows[start:start + 20_000])
    hs.entry_count = s.scalar(select(func.count(LookupEntry.id))
                              .where(LookupEntry.hashset_id == hs.id)) or 0
    return hs


def import_file(s: Session, path: Path, *, name: str, fmt: str = "auto",
                known_good: bool = False, append: bool = False) -> tuple[LookupHashSet, ImportResult, int]:
    """Read a hash-set file with haven's readers (NCMEC XML tombstones included) and store it."""
    from haven.hashsets.formats import detect, get_reader

    reader = detect(path) if fmt == "auto" else get_reader(fmt)
    tombstones: list[str] = []
    if reader.name == "ncmec-xml":
        from haven.hashsets.formats.ncmec_xml import read_feed

        feed = read_feed(path)
        result, tombstones = feed.result, [t.id for t in feed.tombstones]
    else:
        result = reader.read(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    hs = store_hashset(s, result, name=name, source_sha256=digest, known_good=known_good,
                       tombstones=tombstones, append=append)
    return hs, result, len(tombstones)


def import_case_store(s: Session, case_dir: Path, names: list[str] | None = None) -> list[LookupHashSet]:
    """Copy hash sets of a haven case store into the service (each under its case name)."""
    from haven.hashsets.model import HashEntry
    from haven.store.case import CaseStore
    from haven.store.models import HashEntryRow, HashSet

    store = CaseStore(case_dir)
    out = []
    try:
        with store.session() as cs:
            q = select(HashSet)
            if names:
                q = q.where(HashSet.name.in_(names))
            for src in cs.scalars(q.order_by(HashSet.name)):
                result = ImportResult(format=src.format, scheme=src.scheme)
                for row in cs.scalars(select(HashEntryRow).where(HashEntryRow.hashset_id == src.id)):
                    result.entries.append(HashEntry(md5=row.md5, sha1=row.sha1, sha256=row.sha256,
                                                    pdq=row.pdq, category=row.category,
                                                    scheme=row.scheme))
                out.append(store_hashset(s, result, name=src.name,
                                         source_sha256=src.source_sha256,
                                         known_good=src.known_good))
    finally:
        store.close()
    return out
