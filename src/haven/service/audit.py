"""The audit log: append-only, each entry chained to the previous one by an HMAC.

`entry_hash = HMAC-SHA256(audit key, canonical JSON of {seq, at, actor, action, target,
detail, prev_hash, key_id})` where canonical JSON is sorted keys, no spaces, UTF-8. The key
is kept outside the database (`Keyring`, a file given to `haven serve` and `haven audit
verify`), so someone who can write the database but has not the key cannot forge an entry or
rehash the chain after an edit. Entries written before the service had a key (`key_id`
None) are hashed with plain SHA-256 and no `key_id`; they still verify, reported as unkeyed,
and an unkeyed entry after a keyed one is tampering (a downgrade). `checkpoint` signs the tip
(count, head hash, time) for a coordinator to keep elsewhere: a cut tail, rebuilt
consistently, is caught by an older checkpoint. Editing, deleting or reordering any
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
import hmac
import json
import logging
import os
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Text, cast, insert, select, update
from sqlalchemy.orm import Session

from haven.errors import HavenError
from haven.service.accounts import utcnow
from haven.service.models import AuditEntry, AuditHead

GENESIS = "0" * 64
CHECKPOINT_FORMAT = "haven-audit-checkpoint/1"


class AuditKeyError(HavenError):
    """The audit key file is missing or unreadable, or a keyed chain was opened without it."""


@dataclass(frozen=True)
class Keyring:
    """Audit keys by id; the first is the one that signs, the others only verify (rotation).

    File format: one key a line, `<key id> <64 hex digits>`, newest first; `#` comments.
    """

    keys: dict[str, bytes]
    current: str

    @classmethod
    def load(cls, path: Path) -> "Keyring":
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise AuditKeyError(f"cannot read the audit key file {path}: {exc.strerror}") from None
        keys: dict[str, bytes] = {}
        for n, line in enumerate(lines, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            try:
                key_id, key = parts[0], bytes.fromhex(parts[1])
            except (IndexError, ValueError):
                key_id, key = "", b""
            if len(parts) != 2 or len(key) < 32 or not 1 <= len(key_id) <= 40:
                raise AuditKeyError(f"{path} line {n}: expected '<key id> <64 hex digits>'")
            keys[key_id] = key
        if not keys:
            raise AuditKeyError(f"{path} holds no audit key (make one: haven audit new-key {path})")
        return cls(keys, next(iter(keys)))

    def mac(self, key_id: str, data: bytes) -> str:
        return hmac.new(self.keys[key_id], data, hashlib.sha256).hexdigest()


def new_key(path: Path) -> str:
    """Write a new signing key first in `path` (created 0600), keeping older keys after it
    for verification; returns the new key's id."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    key_id = f"k{utcnow():%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    text = f"{key_id} {secrets.token_hex(32)}\n{old}"
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return key_id


def _keyring(s: Session) -> Keyring | None:
    return s.info.get("audit_keyring")


def canonical(seq: int, at: datetime, actor: str, action: str, target: str, detail: dict,
              prev_hash: str, key_id: str | None = None) -> bytes:
    doc = {"seq": seq, "at": at.isoformat(timespec="microseconds"), "actor": actor,
           "action": action, "target": target, "detail": detail, "prev_hash": prev_hash}
    if key_id is not None:  # unkeyed (older) entries keep exactly their original form
        doc["key_id"] = key_id
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def entry_hash(seq, at, actor, action, target, detail, prev_hash, key_id=None,
               keyring: Keyring | None = None) -> str:
    data = canonical(seq, at, actor, action, target, detail, prev_hash, key_id)
    if key_id is None:
        return hashlib.sha256(data).hexdigest()
    return keyring.mac(key_id, data)


def _signing_key(s: Session, head_key_id: str | None) -> tuple[Keyring | None, str | None]:
    keyring = _keyring(s)
    if keyring is None:
        if head_key_id is not None:
            raise AuditKeyError(f"the audit chain is keyed (key {head_key_id}): give the audit "
                                "key file (--audit-key-file or $HAVEN_AUDIT_KEY_FILE)")
        return None, None
    return keyring, keyring.current


def check_key(s: Session) -> None:
    """Refuse to open a keyed chain without a key (before any request would fail on it)."""
    head = s.get(AuditHead, 1)
    _signing_key(s, head.key_id if head is not None else None)


def record(s: Session, actor: str, action: str, target: str = "", **detail) -> AuditEntry:
    """Append one entry in the session's transaction (committed with the change it records)."""
    # The UPDATE takes the write lock before we read the tip, so no two appends share a tip.
    s.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    head = s.execute(select(AuditHead.seq, AuditHead.last_hash, AuditHead.key_id)
                     .where(AuditHead.id == 1)).one()
    keyring, key_id = _signing_key(s, head.key_id)
    at = utcnow()
    detail = json.loads(json.dumps(detail, default=str))  # what the JSON column will give back
    digest = entry_hash(head.seq, at, actor, action, target, detail, head.last_hash, key_id,
                        keyring)
    entry = AuditEntry(seq=head.seq, at=at, actor=actor, action=action, target=target,
                       detail=detail, prev_hash=head.last_hash, entry_hash=digest, key_id=key_id)
    s.add(entry)
    s.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=digest, key_id=key_id))
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
    head = s.execute(select(AuditHead.seq, AuditHead.last_hash, AuditHead.key_id)
                     .where(AuditHead.id == 1)).one()
    keyring, key_id = _signing_key(s, head.key_id)
    seq, prev = head.seq - n, head.last_hash
    rows = []
    for at, actor, action, target, detail in entries:
        seq += 1
        detail = json.loads(json.dumps(detail, default=str))
        digest = entry_hash(seq, at, actor, action, target, detail, prev, key_id, keyring)
        rows.append({"seq": seq, "at": at, "actor": actor, "action": action, "target": target,
                     "detail": detail, "prev_hash": prev, "entry_hash": digest,
                     "key_id": key_id})
        prev = digest
    s.execute(insert(AuditEntry), rows)
    s.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=prev, key_id=key_id))
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
    unkeyed: int = 0                                       # entries 1..unkeyed have no key
    unchecked: list[str] = field(default_factory=list)     # keys the chain uses, not given

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unchecked


def verify(s: Session, keyring: Keyring | None = None,
           checkpoints: list[dict] | None = None) -> ChainReport:
    """Recompute every entry's hash (HMAC for keyed entries) and link; every break is named
    by its sequence number. Never raises on a damaged row: an entry whose detail is not JSON,
    or whose fields cannot be read, is reported as tampered."""
    report = ChainReport()
    prev = GENESIS
    expected_seq = 1
    keyed_seen = False
    missing: dict[str, list[int]] = {}
    hashes: dict[int, str] = {}
    # `at` and `detail` as stored text, parsed here: a row SQLite holds in the wrong shape
    # must be reported, not raise while a whole batch of rows is read
    rows = s.execute(select(AuditEntry.seq, cast(AuditEntry.at, Text), AuditEntry.actor,
                            AuditEntry.action,
                            AuditEntry.target, cast(AuditEntry.detail, Text),
                            AuditEntry.prev_hash, AuditEntry.entry_hash, AuditEntry.key_id)
                     .order_by(AuditEntry.seq)).yield_per(5000)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except (ValueError, TypeError) as exc:  # a column SQLite holds in the wrong type
            report.problems.append(f"entry {expected_seq}: a field cannot be read ({exc}); "
                                   "the entry was edited")
            break
        seq, at_text, actor, action, target, detail_text, prev_hash, stored, key_id = row
        report.entries += 1
        label = seq if isinstance(seq, int) else expected_seq
        try:
            detail = json.loads(detail_text)
        except (TypeError, ValueError):
            report.problems.append(f"entry {label}: its detail is not JSON (the entry was "
                                   "edited)")
            detail = None
        try:
            at = datetime.fromisoformat(str(at_text))
        except ValueError:
            report.problems.append(f"entry {label}: its time {str(at_text)[:40]!r} is not a "
                                   "time (the entry was edited)")
            detail = None  # nothing to recompute
        if seq != expected_seq:
            report.problems.append(f"entry {seq}: expected entry {expected_seq} here "
                                   "(entries missing or renumbered)")
        if prev_hash != prev:
            report.problems.append(f"entry {label}: prev_hash does not match entry "
                                   f"{expected_seq - 1}'s hash (an entry was removed or changed)")
        if key_id is None:
            if keyed_seen:
                report.problems.append(f"entry {label}: unkeyed after keyed entries (written "
                                       "without the audit key: forged or downgraded)")
            else:
                report.unkeyed = report.entries
        else:
            keyed_seen = True
        if detail is not None:
            try:
                if key_id is not None and (keyring is None or key_id not in keyring.keys):
                    missing.setdefault(str(key_id), []).append(label)
                elif entry_hash(label, at, actor, action, target, detail, prev_hash, key_id,
                                keyring) != stored:
                    report.problems.append(
                        f"entry {label} ({action} by {actor} at {at.isoformat()}): content does "
                        "not match its " + ("MAC (edited or forged without the key)"
                                            if key_id is not None else
                                            "hash (the entry was edited)"))
            except (TypeError, ValueError, AttributeError) as exc:
                report.problems.append(f"entry {label}: a field cannot be read ({exc}); the "
                                       "entry was edited")
        hashes[label] = stored
        prev = stored
        expected_seq = label + 1
    for key_id, seqs in missing.items():
        report.unchecked.append(f"entries {seqs[0]}–{seqs[-1]} ({len(seqs)}) are signed with "
                                f"audit key {key_id}, not given: pass the key file that holds it")
    head = s.get(AuditHead, 1)
    if head is not None and (head.seq != report.entries or head.last_hash != prev):
        report.problems.append(f"the chain tip says {head.seq} entries ending in "
                               f"{str(head.last_hash)[:12]}…, the log has {report.entries} "
                               f"ending in {str(prev)[:12]}… (entries at the end were removed)")
    for cp in checkpoints or []:
        report.problems.extend(_check_checkpoint(cp, keyring, hashes, report.entries))
    return report


def checkpoint(s: Session, keyring: Keyring) -> dict:
    """The chain's tip signed with the current audit key: `{format, count, head_hash, at,
    key_id, mac}`. Kept elsewhere, it proves later that the first `count` entries were these."""
    head = s.get(AuditHead, 1)
    doc = {"format": CHECKPOINT_FORMAT, "count": head.seq if head else 0,
           "head_hash": head.last_hash if head else GENESIS,
           "at": utcnow().isoformat(timespec="seconds") + "Z", "key_id": keyring.current}
    doc["mac"] = keyring.mac(keyring.current, _checkpoint_bytes(doc))
    return doc


def package_checkpoint(s: Session, writer: AuditWriter | None = None) -> dict | None:
    """A signed checkpoint for a package leaving the service (None without an audit key).

    Every package downloaded carries the chain's tip as of its download; each recipient
    keeps, without knowing it, a witness of the history that no later rewrite can match.
    """
    keyring = s.info.get("audit_keyring")
    if keyring is None:
        return None
    if writer is not None:
        writer.flush()  # the lookups answered so far are part of the chain
    return checkpoint(s, keyring)


def _checkpoint_bytes(doc: dict) -> bytes:
    body = {k: doc.get(k) for k in ("format", "count", "head_hash", "at", "key_id")}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _check_checkpoint(cp: dict, keyring: Keyring | None, hashes: dict[int, str],
                      entries: int) -> list[str]:
    if not isinstance(cp, dict) or cp.get("format") != CHECKPOINT_FORMAT:
        return ["a checkpoint file is not a haven audit checkpoint"]
    key_id, count = cp.get("key_id"), cp.get("count")
    if keyring is None or key_id not in keyring.keys:
        return [f"checkpoint of {count} entries ({cp.get('at')}): signed with audit key "
                f"{key_id}, not given"]
    if not hmac.compare_digest(str(cp.get("mac")), keyring.mac(key_id, _checkpoint_bytes(cp))):
        return [f"checkpoint of {count} entries ({cp.get('at')}): its signature does not match "
                "(the checkpoint was edited)"]
    if not isinstance(count, int) or count < 0:
        return [f"checkpoint ({cp.get('at')}): no entry count"]
    if count > entries:
        return [f"checkpoint of {count} entries ({cp.get('at')}): the log has only {entries} "
                "(entries at the end were removed)"]
    if hashes.get(count, GENESIS) != cp.get("head_hash"):
        return [f"checkpoint of {count} entries ({cp.get('at')}): entry {count} is not the one "
                "signed then (history was rewritten)"]
    return []
