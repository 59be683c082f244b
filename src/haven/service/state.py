"""What one server process holds between requests: settings, database, lookup library,
audit writer and the cache of verified API keys (`app.state.svc`)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from haven.service import audit
from haven.service.accounts import Principal, token_digest
from haven.service.lookup import LibrarySync, ServiceHashSets
from haven.service.settings import Settings


REVOCATIONS = "api-keys.revoked"  # in the data folder; touched by every revocation


def mark_revocation(data_dir: Path) -> None:
    """Tell every worker on this host to forget its verified API keys (a key was revoked)."""
    path = data_dir / REVOCATIONS
    path.write_text(str(time.time_ns()), encoding="ascii")


class ApiKeyCache:
    """API keys verified in the last `ttl` seconds, by the SHA-256 of the presented key.

    A lookup then costs no database read. Only verified keys are kept (at most one entry
    per issued key). A revocation (API or CLI) rewrites the data folder's `api-keys.revoked`
    file; every worker stats it on each use (~1 µs) and empties its cache when it changed,
    so a revoked key gets 401 at once on this host. Workers on other hosts sharing a
    PostgreSQL database see it within `ttl`, when the entry expires and the row is read again.
    """

    def __init__(self, ttl: float, revocations: Path | None = None) -> None:
        self.ttl = ttl
        self._keys: dict[str, tuple[Principal, float]] = {}
        self._revocations = revocations
        self._seen = self._stamp()

    def _stamp(self) -> int:
        if self._revocations is None:
            return 0
        try:
            return os.stat(self._revocations).st_mtime_ns
        except OSError:
            return 0

    def get(self, presented: str) -> Principal | None:
        stamp = self._stamp()
        if stamp != self._seen:
            self._keys.clear()
            self._seen = stamp
        hit = self._keys.get(token_digest(presented))
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return None

    def put(self, presented: str, p: Principal) -> None:
        if self.ttl > 0:
            self._keys[token_digest(presented)] = (p, time.monotonic() + self.ttl)


@dataclass
class ServiceState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    library: ServiceHashSets
    audit_writer: audit.AuditWriter
    api_keys: ApiKeyCache
    library_sync: LibrarySync
