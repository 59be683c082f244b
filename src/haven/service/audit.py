"""The audit log: append-only, each entry chained to the previous one by SHA-256.

`entry_hash = SHA-256(canonical JSON of {seq, at, actor, action, target, detail, prev_hash})`
where canonical JSON is sorted keys, no spaces, UTF-8. Editing, deleting or reordering any
entry breaks the chain at that entry; `verify` names it. Appends go through the one-row
`svc_audit_head`, updated first in the caller's transaction, which serialises concurrent
writers on SQLite and PostgreSQL alike, and the audit entry commits or rolls back with the
change it records.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
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
