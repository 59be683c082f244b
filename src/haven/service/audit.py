"""The audit log: append-only, each entry chained to the previous one by SHA-256.

`entry_hash = SHA-256(canonical JSON of {seq, at, actor, action, target, detail, prev_hash})`
where canonical JSON is sorted keys, no spaces, UTF-8. Editing, deleting or reordering any
entry breaks the chain at that entry; `verify` names it. Appends go through the one-row
`svc_audit_head`, updated first in the caller's transaction, which serialises concurrent
writers on SQLite and PostgreSQL alike, and the audit entry commits or rolls back with the
change it records.

Lookups are the exception: at thousands a second a commit each would be the service's whole
cost, so `AuditWriter` queues their entries in memory and a background thread appends them in
batches to the same chain (one entry per lookup, `at` = when it was answered). A clean
shutdown writes the queue out; a crash (SIGKILL, power loss) loses the entries of lookups
answered in the last flush interval (`audit_flush_seconds`, 0.2 s) — never an entry of any
other kind, and never one already written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from haven.service.accounts import utcnow
from haven.service.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def canonical(seq: int, at: datetime, actor: str, action: str, target: str, detail: dict,
              prev_hash: str) -> bytes:
    doc = {"seq": seq, "at": at.isoformat(timespec="microseconds"), "actor": actor,
           "action": action, "target": target, "detail": detail, "prev_hash": prev_hash}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def entry_hash(seq, at, actor, action, target, detail, prev_hash) -> str:
    return hashlib.sha256(canonical(seq, at, actor, action, target, detail, prev_hash)).hexdigest()


def record(s: Session, actor: str, action: str, target: str = "", **detail) -> AuditEntry:
    """Append one entry in the session's transaction (committed with the change it records)."""
    # The UPDATE takes the write lock before we read the tip, so no two appends share a tip.
    s.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    head = s.execute(select(AuditHead.seq, AuditHead.last_hash).where(AuditHead.id == 1)).one()
    at = utcnow()
    detail = json.loads(json.dumps(detail, default=str))  # what the JSON column will give back
    digest = entry_hash(head.seq, at, actor, action, target, detail, head.last_hash)
    entry = AuditEntry(seq=head.seq, at=at, actor=actor, action=action, target=target,
                       detail=detail, prev_hash=head.last_hash, entry_hash=digest)
    s.add(entry)
    s.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=digest))
    return entry


def record_many(s: Session, entries: list[tuple[datetime, str, str, str, dict]]) -> int:
    """Append `(at, actor, action, target, detail)` entries in order, in the session's transaction.

    One head update reserves the whole range of sequence numbers (and takes the lock), so a
    batch costs one round of locking however many entries it holds. Returns the last seq.
    """
    if not entries:
        return 0
    n = len(entries)
    s.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + n))
    head = s.execute(select(AuditHead.seq, AuditHead.last_hash).where(AuditHead.id == 1)).one()
    seq, prev = head.seq - n, head.last_hash
    rows = []
    for at, actor, action, target, detail in entries:
        seq += 1
        detail = json.loads(json.dumps(detail, default=str))
        digest = entry_hash(seq, at, actor, action, target, detail, prev)
        rows.append({"seq": seq, "at": at, "actor": actor, "action": action, "target": target,
                     "detail": detail, "prev_hash": prev, "entry_hash": digest})
        prev = digest
    s.execute(insert(AuditEntry), rows)
    s.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=prev))
    return seq


_log = logging.getLogger("haven.service.audit")


class AuditWriter:
    """Queues audit entries in memory; one background thread appends them in batches.

    `submit` is what a request pays: a tuple onto a deque, no database. Every entry still
    gets its own place in the chain. `flush` writes out what is queued now (shutdown, tests,
    before a chain verification); `close` stops the thread after a last flush.
    """

    def __init__(self, sessions, *, interval: float = 0.2, max_batch: int = 5000) -> None:
        self._sessions = sessions
        self.interval = interval
        self.max_batch = max_batch
        self._queue: deque = deque()
        self._write_lock = threading.Lock()   # one batch at a time, in queue order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.written = 0

    def submit(self, actor: str, action: str, target: str = "", **detail) -> None:
        self._queue.append((utcnow(), actor, action, target, detail))
        if self._thread is None:
            self._start()
        if len(self._queue) >= self.max_batch:
            self._wake.set()

    def pending(self) -> int:
        return len(self._queue)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="haven-audit-writer",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - keep the entries and try again
                _log.exception("audit batch not written; retrying")
                self._stop.wait(1.0)

    def flush(self) -> int:
        """Write every entry queued so far; on failure they stay queued, in order."""
        done = 0
        with self._write_lock:
            while self._queue:
                batch = [self._queue[i] for i in range(min(len(self._queue), self.max_batch))]
                with self._sessions() as s:
                    record_many(s, batch)
                    s.commit()
                for _ in batch:
                    self._queue.popleft()
                done += len(batch)
        self.written += done
        return done

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()


@dataclass
class ChainReport:
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(s: Session) -> ChainReport:
    """Recompute every entry's hash and link; every break is named by its sequence number."""
    report = ChainReport()
    prev = GENESIS
    expected_seq = 1
    for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq)).yield_per(5000):
        report.entries += 1
        if e.seq != expected_seq:
            report.problems.append(f"entry {e.seq}: expected entry {expected_seq} here "
                                   "(entries missing or renumbered)")
        if e.prev_hash != prev:
            report.problems.append(f"entry {e.seq}: prev_hash does not match entry "
                                   f"{e.seq - 1}'s hash (an entry was removed or changed)")
        digest = entry_hash(e.seq, e.at, e.actor, e.action, e.target, e.detail, e.prev_hash)
        if digest != e.entry_hash:
            report.problems.append(f"entry {e.seq} ({e.action} by {e.actor} at "
                                   f"{e.at.isoformat()}): content does not match its hash "
                                   "(the entry was edited)")
        prev = e.entry_hash
        expected_seq = e.seq + 1
    head = s.get(AuditHead, 1)
    if head is not None and (head.seq != report.entries or head.last_hash != prev):
        report.problems.append(f"the chain tip says {head.seq} entries ending in "
                               f"{head.last_hash[:12]}…, the log has {report.entries} ending in "
                               f"{prev[:12]}… (entries at the end were removed)")
    return report
