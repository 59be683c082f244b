"""Service settings: from the environment (`HAVEN_*`) or given to `create_app` by tests."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA_DIR = Path("haven-service")


@dataclass
class Settings:
    """Where the service keeps its data and how strict it is.

    `database_url` defaults to SQLite in `data_dir/service.db`; PostgreSQL via
    `HAVEN_DATABASE_URL=postgresql+psycopg://…`. `identifier_key` keys the HMAC used to compare
    identifiers across countries (deconfliction); it is made once and kept in
    `data_dir/identifier.key` unless given.
    """

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    session_hours: float = 8.0
    max_upload_bytes: int = 200 * 1024 * 1024
    max_json_bytes: int = 8 * 1024 * 1024
    max_lookup_signals: int = 10_000
    pdq_threshold: int = 31
    reminder_days: int = 7
    cookie_secure: bool = False
    # Lookup audit entries are written in batches at most this far apart (see audit.py).
    audit_flush_seconds: float = 0.2
    # A verified API key is trusted this long before its row is read again (revocation delay).
    api_key_cache_seconds: float = 5.0
    # How often each worker checks whether a hash set changed (another worker, the CLI).
    library_poll_seconds: float = 5.0
    # Login throttling (haven.service.throttle): failures before a lock, per account name and
    # per source address; the first lock's length, doubled per later failure, up to the max.
    login_account_failures: int = 5
    login_address_failures: int = 20
    login_lock_seconds: float = 60.0
    login_lock_max_seconds: float = 3600.0
    # Matching controls (haven.service.quarantine): the flood watch holds an entry that, in one
    # worker, matches more distinct queries within `flood_window_seconds` than
    # max(flood_min_queries, flood_factor x its mean per earlier window); 0 turns it off.
    flood_min_queries: int = 50
    flood_factor: float = 10.0
    flood_window_seconds: float = 3600.0
    # deconfirmations (by distinct querying parties, outnumbering confirmations) that hold an
    # entry; 0 turns it off
    deconfirm_quarantine: int = 3
    # PDQ matches listed per signal, best first (the answer says when more were in reach)
    max_matches: int = 100
    identifier_key: bytes | None = field(default=None, repr=False)
    # The audit chain's HMAC keys (audit.Keyring file), kept outside the database. None: the
    # chain is unkeyed (refused once it holds keyed entries).
    audit_key_file: Path | None = None

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        env = os.environ
        s = cls(
            data_dir=Path(env.get("HAVEN_DATA_DIR", str(DEFAULT_DATA_DIR))),
            database_url=env.get("HAVEN_DATABASE_URL") or None,
            audit_key_file=Path(env["HAVEN_AUDIT_KEY_FILE"]) if env.get("HAVEN_AUDIT_KEY_FILE")
            else None,
        )
        if env.get("HAVEN_SESSION_HOURS"):
            s.session_hours = float(env["HAVEN_SESSION_HOURS"])
        if env.get("HAVEN_MAX_UPLOAD_BYTES"):
            s.max_upload_bytes = int(env["HAVEN_MAX_UPLOAD_BYTES"])
        for name in ("audit_flush_seconds", "api_key_cache_seconds", "library_poll_seconds",
                     "login_lock_seconds", "login_lock_max_seconds", "flood_factor",
                     "flood_window_seconds"):
            if env.get(f"HAVEN_{name.upper()}"):
                setattr(s, name, float(env[f"HAVEN_{name.upper()}"]))
        for name in ("login_account_failures", "login_address_failures", "flood_min_queries",
                     "deconfirm_quarantine", "max_matches"):
            if env.get(f"HAVEN_{name.upper()}"):
                setattr(s, name, int(env[f"HAVEN_{name.upper()}"]))
        for k, v in overrides.items():
            if v is not None:
                setattr(s, k, v)
        return s

    def audit_keyring(self):
        """The audit keys (`audit.Keyring`), or None when no key file is set."""
        from haven.service.audit import Keyring

        return Keyring.load(self.audit_key_file) if self.audit_key_file else None

    @property
    def login_policy(self):
        from haven.service.throttle import Policy

        return Policy(self.login_account_failures, self.login_address_failures,
                      self.login_lock_seconds, self.login_lock_max_seconds)

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'service.db').resolve()}"

    @property
    def packages_dir(self) -> Path:
        return self.data_dir / "packages"

    @property
    def staging_dir(self) -> Path:
        # Same file system as packages_dir, so the final rename is atomic.
        return self.data_dir / "staging"

    def prepare(self) -> None:
        """Create the data folders and the identifier key (mode 0600) if missing."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.packages_dir.mkdir(exist_ok=True)
        self.staging_dir.mkdir(exist_ok=True)
        if self.identifier_key is None:
            key_path = self.data_dir / "identifier.key"
            if not key_path.exists():
                fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32))
            self.identifier_key = bytes.fromhex(key_path.read_text().strip())


def pause_point(name: str) -> None:
    """Test hook: stop at a named point of a long write so a test can kill the server there.

    Active only when `HAVEN_TEST_PAUSE_AT` names this point: the process writes
    `HAVEN_TEST_PAUSE_FILE` (so the test knows it got there) and sleeps
    `HAVEN_TEST_PAUSE_SECONDS` (default 60). Unset in production, it costs one dict lookup.
    """
    if os.environ.get("HAVEN_TEST_PAUSE_AT") != name:
        return
    marker = os.environ.get("HAVEN_TEST_PAUSE_FILE")
    if marker:
        with open(marker, "w", encoding="utf-8") as fh:
            fh.write(f"{name} {os.getpid()}\n")
    time.sleep(float(os.environ.get("HAVEN_TEST_PAUSE_SECONDS", "60")))
