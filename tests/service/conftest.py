"""Service fixtures: the app on SQLite and on a throw-away PostgreSQL (scripts/pg-test.sh).

Every test that takes `backend` runs twice. PostgreSQL is skipped, with the script's reason,
only when the script cannot start a cluster.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "refer"))  # the hand-made referral operation

PASSWORD = "correct horse battery staple"
IDENTIFIER_KEY = b"k" * 32


@pytest.fixture(autouse=True, scope="session")
def _fast_argon2():
    """Cheap argon2 parameters in tests (the production defaults cost ~50 ms a hash)."""
    from argon2 import PasswordHasher

    from haven.service import accounts

    saved = accounts._hasher, accounts._DUMMY_HASH
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    accounts._DUMMY_HASH = accounts._hasher.hash("dummy")
    yield
    accounts._hasher, accounts._DUMMY_HASH = saved


@pytest.fixture(scope="session")
def pg_cluster():
    """(url, None) of a fresh cluster, or (None, reason) when it cannot be started."""
    folder = Path("/tmp") / f"haven-pg-{uuid.uuid4().hex[:10]}"
    script = ROOT / "scripts" / "pg-test.sh"
    try:
        run = subprocess.run([str(script), "start", str(folder)], capture_output=True,
                             text=True, timeout=180)
    except (OSError, subprocess.TimeoutExpired) as exc:
        yield None, f"scripts/pg-test.sh could not run: {exc}"
        return
    if run.returncode != 0:
        yield None, f"scripts/pg-test.sh could not start PostgreSQL: {run.stderr.strip()[-400:]}"
        subprocess.run([str(script), "stop", str(folder)], capture_output=True)
        return
    try:
        yield run.stdout.strip().splitlines()[-1], None
    finally:
        subprocess.run([str(script), "stop", str(folder)], capture_output=True, timeout=60)


def _fresh_pg_database(admin_url: str) -> str:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def backend(request, pg_cluster) -> str:
    """A database URL factory key; PostgreSQL skipped only when the cluster did not start."""
    if request.param == "postgresql":
        url, reason = pg_cluster
        if url is None:
            pytest.skip(reason)
    return request.param


def database_url(backend: str, pg_cluster) -> str | None:
    if backend == "sqlite":
        return None  # the data folder's service.db
    return _fresh_pg_database(pg_cluster[0])


@pytest.fixture(scope="session")
def refer_output(tmp_path_factory) -> Path:
    """`haven refer build` output of the hand-made operation (FR, DE, ES, JM, US, XX)."""
    from refer_fixtures import write_operation

    from haven.refer.build import BuildOptions, build_packages

    base = tmp_path_factory.mktemp("refer")
    op = write_operation(base / "op")
    out = base / "packages"
    build_packages(op, out, BuildOptions(timestamp="2026-01-10T09:00:00Z"))
    return out


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


@pytest.fixture
def service(tmp_path, backend, pg_cluster) -> Service:
    svc = make_service(tmp_path, database_url(backend, pg_cluster))
    yield svc
    svc.app.state.svc.engine.dispose()
