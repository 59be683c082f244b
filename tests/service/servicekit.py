"""Service test helpers: a running app with one account per role, database URLs, tarballs.

Test modules import these by name (`from servicekit import make_service`); fixtures live in
conftest.py, whose module name several test folders share.
"""

from __future__ import annotations

import io
import sys
import tarfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "refer"))  # the hand-made referral operation

PASSWORD = "correct horse battery staple"
IDENTIFIER_KEY = b"k" * 32


def _fresh_pg_database(admin_url: str) -> str:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def database_url(backend: str, pg_cluster) -> str | None:
    if backend == "sqlite":
        return None  # the data folder's service.db
    return _fresh_pg_database(pg_cluster[0])


def tar_of(folder: Path, gz: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        tar.add(folder, arcname=folder.name)
    return buf.getvalue()


@dataclass
class Service:
    """A running app (TestClient) with one account per role and an API key."""

    client: object
    app: object
    settings: object
    tokens: dict = field(default_factory=dict)

    def h(self, who: str | None) -> dict:
        if who is None:
            return {}
        if who == "lookup":
            return {"X-API-Key": self.tokens["lookup"]}
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def session(self):
        return self.app.state.svc.sessions()


def make_service(tmp: Path, url: str | None, **overrides) -> Service:
    from fastapi.testclient import TestClient

    from haven.service.accounts import create_api_key, create_user, utcnow
    from haven.service.app import create_app
    from haven.service.models import Case
    from haven.service.settings import Settings

    settings = Settings(data_dir=tmp / "data", database_url=url, identifier_key=IDENTIFIER_KEY,
                        **overrides)
    app = create_app(settings)
    client = TestClient(app, base_url="http://127.0.0.1")
    svc = Service(client, app, settings)
    with app.state.svc.sessions() as s:
        case_dir = tmp / "case"
        case_dir.mkdir(exist_ok=True)
        s.add(Case(name="case-1", directory=str(case_dir), created_at=utcnow()))
        s.flush()
        create_user(s, "coord", PASSWORD, "coordinator")
        create_user(s, "fr", PASSWORD, "liaison", country="FR")
        create_user(s, "de", PASSWORD, "liaison", country="DE")
        create_user(s, "es", PASSWORD, "liaison", country="ES")
        create_user(s, "analyst", PASSWORD, "analyst", case_name="case-1")
        _, svc.tokens["lookup"] = create_api_key(s, "hotline")
        s.commit()
    for who in ("coord", "fr", "de", "es", "analyst"):
        r = client.post("/api/v1/auth/login", json={"username": who, "password": PASSWORD})
        assert r.status_code == 200, r.text
        svc.tokens[who] = r.json()["token"]
    client.cookies.clear()  # each call says who it is
    return svc
