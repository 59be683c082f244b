"""Quarantine of hash-set entries: the flood watch, querying parties' verdicts, the owner's view.

An entry is held from every answer (`EntryFlag.quarantined_at`) when
- **flood**: in one worker, it matched more distinct queries within a window
  (`flood_window_seconds`) than `max(flood_min_queries, flood_factor × its mean per earlier
  window)` — a blank or common picture slipped into a list answers everybody at once;
- **deconfirmed**: at least `deconfirm_quarantine` querying parties said its match was false,
  and more of them than said true.
Its owner sees the flags and the verdict counts, and releases it. Every change is audited.

The flood watch lives in each server worker's memory (`FloodWatch`): it sees that worker's
share of the lookups and its history starts when the worker starts. The entry is held in that
worker at once and in the others when their library next polls the flags (`LibrarySync`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haven.service import audit
from haven.service.accounts import utcnow
from haven.service.errors import NotFound
from haven.service.models import EntryFlag, EntryVote, LookupEntry, LookupHashSet

VERDICTS = ("confirm", "deconfirm")
_log = logging.getLogger("haven.service.quarantine")


class FloodWatch:
    """Distinct queries per entry per time window, against the entry's own history.

    `observe` is called with the entries of each answer and a key of the query; it returns
    the entries that just went over their limit (each once, until `forget`). Memory: the
    query keys of the current window for the entries matched in it, at most limit + 1 each.
    """

    def __init__(self, min_queries: int = 50, factor: float = 10.0, window: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.min_queries, self.factor, self.window = min_queries, factor, window
        self._clock = clock
        self._start = clock()
        self._windows = 0  # closed windows since this watch started
        self._current: dict[int, set[int]] = {}
        self._history: dict[int, int] = {}  # distinct queries over the closed windows
        self._flagged: set[int] = set()
        self._lock = threading.Lock()

    def limit(self, entry_id: int) -> float:
        """How many distinct queries in one window the entry may match before it is held."""
        mean = self._history.get(entry_id, 0) / self._windows if self._windows else 0.0
        return max(self.min_queries, self.factor * mean)

    def observe(self, entry_ids: Iterable[int], query: str) -> list[int]:
        if self.min_queries <= 0:
            return []
        key = hash(query)
        out = []
        with self._lock:
            now = self._clock()
            if now - self._start >= self.window:
                self._roll(now)
            flagged, current, floor = self._flagged, self._current, self.min_queries
            for eid in entry_ids:  # a crowded answer lists 100: kept to a few steps each
                if eid in flagged:
                    continue
                seen = current.get(eid)
                if seen is None:
                    current[eid] = seen = set()
                seen.add(key)
                # the limit is never below min_queries: only then is it worth working out
                if len(seen) > floor and len(seen) > self.limit(eid):
                    flagged.add(eid)
                    out.append(eid)
        return out

    def _roll(self, now: float) -> None:
        passed = int((now - self._start) // self.window)
        for eid, seen in self._current.items():
            self._history[eid] = self._history.get(eid, 0) + len(seen)
        self._current = {}
        self._windows += passed
        self._start += passed * self.window

    def forget(self, entry_id: int) -> None:
        """Start the entry afresh (its owner released it)."""
        with self._lock:
            self._flagged.discard(entry_id)
            self._current.pop(entry_id, None)
            self._history.pop(entry_id, None)


def _flag(s: Session, entry_id: int) -> EntryFlag:
    row = s.get(EntryFlag, entry_id)
    if row is None:
        row = EntryFlag(entry_id=entry_id, confirms=0, deconfirms=0, updated_at=utcnow())
        s.add(row)
    return row


def hold(s: Session, entry_ids: Iterable[int], reason: str, actor: str, **detail) -> list[int]:
    """Quarantine the entries (those still existing and not held already); audited, one entry
    each. Read and written in bulk: a flood in a crowded spot flags dozens at once."""
    existing = sorted(set(s.scalars(select(LookupEntry.id)
                                    .where(LookupEntry.id.in_(sorted(set(entry_ids)))))))
    flags = {f.entry_id: f for f in s.scalars(select(EntryFlag)
                                              .where(EntryFlag.entry_id.in_(existing)))}
    held, entries = [], []
    for eid in existing:
        row = flags.get(eid)
        if row is None:
            row = EntryFlag(entry_id=eid, confirms=0, deconfirms=0, updated_at=utcnow())
            s.add(row)
        if row.quarantined_at is None:
            now = utcnow()
            row.quarantined_at, row.reason, row.updated_at = now, reason, now
            entries.append((now, actor, "entry.quarantine", f"entry:{eid}",
                            {"reason": reason, **detail}))
            held.append(eid)
    audit.record_many(s, entries)
    return held


def flood_recorder(sessions, settings, gather_seconds: float = 0.2) -> Callable[[list[int]], None]:
    """What a worker calls with the entries its flood watch flagged: written off the request
    path by one thread, quarantined with reason `flood`. A flood in a crowded spot flags a few
    entries with each of many answers: the thread waits `gather_seconds` after the first and
    writes all flagged by then in one transaction (one per answer cost ~3 ms CPU each)."""
    pending: list[int] = []
    lock = threading.Lock()
    wake = threading.Event()
    writer: list[threading.Thread] = []

    def write(entry_ids: list[int]) -> None:
        try:
            with sessions() as s:
                hold(s, entry_ids, "flood", "service", min_queries=settings.flood_min_queries,
                     factor=settings.flood_factor, window_seconds=settings.flood_window_seconds)
                s.commit()
        except Exception:  # noqa: BLE001 - the entry stays held in this worker regardless
            _log.exception("could not record the quarantine of entries %s", entry_ids)

    def run() -> None:
        while True:
            wake.wait()
            time.sleep(gather_seconds)
            with lock:
                entry_ids = pending[:]
                pending.clear()
                wake.clear()
            write(entry_ids)

    def record(entry_ids: list[int]) -> None:
        with lock:
            pending.extend(entry_ids)
            wake.set()
            if not writer:
                writer.append(threading.Thread(target=run, name="haven-quarantine", daemon=True))
                writer[0].start()

    return record


def vote(s: Session, entry_id: int, party: str, verdict: str, quarantine_at: int) -> EntryFlag:
    """Record a querying party's verdict on an entry's match (its latest one counts) and
    quarantine the entry when deconfirmations reach `quarantine_at` and outnumber
    confirmations; audited."""
    if s.get(LookupEntry, entry_id) is None:
        raise NotFound(f"no hash-set entry {entry_id}")
    row = s.scalar(select(EntryVote).where(EntryVote.entry_id == entry_id,
                                           EntryVote.party == party))
    if row is None:
        s.add(EntryVote(entry_id=entry_id, party=party, verdict=verdict, at=utcnow()))
    else:
        row.verdict, row.at = verdict, utcnow()
    s.flush()
    counts = dict(s.execute(select(EntryVote.verdict, func.count(EntryVote.id))
                            .where(EntryVote.entry_id == entry_id)
                            .group_by(EntryVote.verdict)).all())
    flag = _flag(s, entry_id)
    flag.confirms, flag.deconfirms = counts.get("confirm", 0), counts.get("deconfirm", 0)
    flag.updated_at = utcnow()
    audit.record(s, party, f"entry.{verdict}", f"entry:{entry_id}", confirms=flag.confirms,
                 deconfirms=flag.deconfirms)
    if (verdict == "deconfirm" and quarantine_at > 0 and flag.deconfirms >= quarantine_at
            and flag.deconfirms > flag.confirms):
        hold(s, [entry_id], "deconfirmed", "service", deconfirms=flag.deconfirms,
             confirms=flag.confirms)
    return flag


def release(s: Session, hs: LookupHashSet, entry_id: int, actor: str) -> EntryFlag:
    """End an entry's quarantine (its owner decided it is right); audited."""
    row = s.get(EntryFlag, entry_id)
    entry = s.get(LookupEntry, entry_id)
    if entry is None or entry.hashset_id != hs.id or row is None or row.quarantined_at is None:
        raise NotFound(f"entry {entry_id} of {hs.name} is not in quarantine")
    audit.record(s, actor, "entry.release", f"entry:{entry_id}", reason=row.reason)
    row.quarantined_at, row.released_at, row.updated_at = None, utcnow(), utcnow()
    return row


def flags_of(s: Session, hs: LookupHashSet) -> list[dict]:
    """The set's entries with verdicts or a quarantine, for its owner."""
    rows = s.scalars(select(EntryFlag).join(LookupEntry, LookupEntry.id == EntryFlag.entry_id)
                     .where(LookupEntry.hashset_id == hs.id).order_by(EntryFlag.entry_id))
    return [{"entry_id": r.entry_id, "confirms": r.confirms, "deconfirms": r.deconfirms,
             "quarantined": r.quarantined_at is not None, "reason": r.reason,
             "quarantined_at": _iso(r.quarantined_at), "released_at": _iso(r.released_at)}
            for r in rows]


def _iso(value) -> str | None:
    return value.isoformat() + "Z" if value else None


def flags_stamp(s: Session) -> tuple:
    """Changes to the flags table: (rows, latest change)."""
    return tuple(s.execute(select(func.count(EntryFlag.entry_id),
                                  func.max(EntryFlag.updated_at))).one())


def held_and_released(s: Session) -> tuple[list[int], dict[int, object]]:
    """(entries in quarantine now, {entry released: when} for those out of quarantine)."""
    rows = s.execute(select(EntryFlag.entry_id, EntryFlag.quarantined_at, EntryFlag.released_at)
                     .where((EntryFlag.quarantined_at.is_not(None))
                            | (EntryFlag.released_at.is_not(None)))).all()
    return ([r[0] for r in rows if r[1] is not None],
            {r[0]: r[2] for r in rows if r[1] is None and r[2] is not None})
