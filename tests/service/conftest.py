"""Service fixtures: the app on SQLite and on a throw-away PostgreSQL (scripts/pg-test.sh).

Every test that takes `backend` runs twice. PostgreSQL is skipped, with the script's reason,
only when the script cannot start a cluster.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from servicekit import ROOT, Service, database_url, make_service


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
        _stop_cluster(script, folder)


def _stop_cluster(script: Path, folder: Path) -> None:
    """Stop the throw-away cluster; on a machine too loaded for pg_ctl to answer in time, kill it.

    Clean-up only: nothing a test asserted depends on it, so it never fails the run."""
    import os
    import shutil
    import signal

    try:
        subprocess.run([str(script), "stop", str(folder)], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        try:
            pid = int((folder / "data" / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def backend(request, pg_cluster) -> str:
    """A database URL factory key; PostgreSQL skipped only when the cluster did not start."""
    if request.param == "postgresql":
        url, reason = pg_cluster
        if url is None:
            pytest.skip(reason)
    return request.param


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


@pytest.fixture
def service(tmp_path, backend, pg_cluster) -> Service:
    svc = make_service(tmp_path, database_url(backend, pg_cluster))
    yield svc
    svc.app.state.svc.engine.dispose()
