"""What one server process holds between requests: settings, database, lookup library,
audit writer and the cache of verified API keys (`app.state.svc`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from haven.service import audit
from haven.service.accounts import Principal, token_digest
from haven.service.lookup import LibrarySync, LookupLibrary
from haven.service.settings import Settings


class ApiKeyCache:
    """API keys verified in the last `ttl` seconds, by the SHA-256 of the presented key.

    A lookup then costs no database read. Only verified keys are kept (at most one entry
    per issued key); a key made inactive or deleted stops working within `ttl` in every
    worker, since each entry expires and the row is read again.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._keys: dict[str, tuple[Principal, float]] = {}

    def get(self, presented: str) -> Principal | None:
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
    library: LookupLibrary
    audit_writer: audit.AuditWriter
    api_keys: ApiKeyCache
    library_sync: LibrarySync
