"""Kill a real `haven serve` in the middle of an upload or a dissemination, restart it, and
check that nothing half-written is visible, nothing committed is lost, the operation can be
repeated to completion and the audit chain verifies. SQLite and PostgreSQL.

The kill lands mid-operation deterministically: `HAVEN_TEST_PAUSE_AT` names a point in the
server's code (`haven.service.settings.pause_point`) where the server writes a marker file
and sleeps; the test waits for the marker, then sends SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from servicekit import PASSWORD, database_url, tar_of
from sqlalchemy import func, select

from haven.service import audit
from haven.service.accounts import create_api_key, create_user
from haven.service.app import recover
from haven.service.db import make_engine, session_factory
from haven.service.lookup import store_hashset
from haven.service.models import AuditEntry
from haven.service.settings import Settings

OLD = [f"{i:032x}" for i in range(100)]                   # hash set "known", version 1
NEW = [f"{i + 10**9:032x}" for i in range(50_000)]        # its replacement: 3 insert batches


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    base: str
    log: Path

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), as systemd or Ctrl-C would do."""
        os.killpg(self.proc.pid, signal.SIGTERM)
        # uvicorn re-raises the signal once shut down, so -15 is a clean exit too
        assert self.proc.wait(timeout=60) in (0, -signal.SIGTERM), self.log.read_text()[-2000:]
        assert "Application shutdown complete" in self.log.read_text()


class World:
    """A service data folder and database with a coordinator, an FR liaison, an API key and
    hash set "known" (version 1, 100 MD5s), served by subprocesses started on demand."""

    def __init__(self, tmp: Path, url: str | None) -> None:
        from haven.hashsets.model import HashEntry, ImportResult

        self.tmp = tmp
        self.settings = Settings(data_dir=tmp / "data", database_url=url)
        recover(self.settings)  # migrate
        self.engine = make_engine(self.settings.url)
        with session_factory(self.engine)() as s:
            create_user(s, "coord", PASSWORD, "coordinator")
            create_user(s, "fr", PASSWORD, "liaison", country="FR")
            _, self.key = create_api_key(s, "hotline")
            store_hashset(s, ImportResult(format="txt", entries=[HashEntry(md5=h) for h in OLD]),
                          name="known", source_sha256=None)
            s.commit()
        self.marker = tmp / "paused"
        self.servers: list[Server] = []

    def start(self, pause: str | None = None, workers: int = 1, **env_extra) -> Server:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
        env.update(env_extra)
        env["HAVEN_DATA_DIR"] = str(self.settings.data_dir)
        if self.settings.database_url:
            env["HAVEN_DATABASE_URL"] = self.settings.database_url
        if pause:
            env.update(HAVEN_TEST_PAUSE_AT=pause, HAVEN_TEST_PAUSE_FILE=str(self.marker),
                       HAVEN_TEST_PAUSE_SECONDS="120")
        self.marker.unlink(missing_ok=True)
        log = self.tmp / f"server-{len(self.servers)}.log"
        with log.open("w") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from haven.cli import app; app()", "serve",
                 "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        server = Server(proc, f"http://127.0.0.1:{port}", log)
        self.servers.append(server)
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{server.base}/health", timeout=2).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)

    def wait_for_pause(self, server: Server, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not self.marker.exists():
            assert server.proc.poll() is None, server.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the server never reached the pause point"
            time.sleep(0.05)

    def client(self, server: Server, who: str) -> httpx.Client:
        if who == "key":
            return httpx.Client(base_url=server.base, headers={"X-API-Key": self.key},
                                timeout=120)
        r = httpx.post(f"{server.base}/api/v1/auth/login",
                       json={"username": who, "password": PASSWORD}, timeout=60)
        assert r.status_code == 200, r.text
        return httpx.Client(base_url=server.base, timeout=120,
                            headers={"Authorization": f"Bearer {r.json()['token']}"})

    def audit_actions(self) -> list[str]:
        with session_factory(self.engine)() as s:
            return list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))

    def chain_ok(self) -> bool:
        with session_factory(self.engine)() as s:
            report = audit.verify(s)
        assert report.ok, report.problems
        return True

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.settings.staging_dir.iterdir())

    def close(self) -> None:
        for server in self.servers:
            if server.proc.poll() is None:
                server.kill()
        self.engine.dispose()


@pytest.fixture
def world(tmp_path, backend, pg_cluster):
    w = World(tmp_path, database_url(backend, pg_cluster))
    yield w
    w.close()


def _in_thread(fn) -> dict:
    """Run a request that the kill will cut off; the outcome lands in the returned dict."""
    out: dict = {}

    def run():
        try:
            out["response"] = fn()
        except httpx.HTTPError as exc:
            out["error"] = exc

    out["thread"] = threading.Thread(target=run, daemon=True)
    out["thread"].start()
    return out


def _md5_list(values: list[str]) -> bytes:
    return ("\n".join(values) + "\n").encode()


def _matches(c: httpx.Client, md5: str) -> list[dict]:
    r = c.post("/api/v1/lookup", json={"signals": [{"signal_type": "md5", "signal": md5}]})
    assert r.status_code == 200, r.text
    return r.json()["results"][0]["matches"]


def test_a_hash_set_upload_killed_mid_body_or_mid_import_leaves_the_previous_version(world):
    # 1. killed while the request body is still arriving
    server = world.start(pause="hashset.store")
    coord = world.client(server, "coord")
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nknown\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"known.txt\"\r\nContent-Type: text/plain\r\n\r\n").encode()
    body = _md5_list(NEW)
    half_sent = threading.Event()
    release = threading.Event()

    def stream():
        yield head + body[:len(body) // 2]
        half_sent.set()
        release.wait(60)
        yield body[len(body) // 2:] + f"\r\n--{boundary}--\r\n".encode()

    cut = _in_thread(lambda: coord.post(
        "/api/v1/hashsets", content=stream(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}))
    assert half_sent.wait(60)
    time.sleep(1.0)  # the first half is on the server's side of the socket
    server.kill()
    release.set()
    cut["thread"].join(60)
    assert "response" not in cut, "the upload cannot have completed"

    # 2. killed inside the import: the old entries deleted and 20,000 new rows inserted,
    #    in a transaction that never commits
    server = world.start(pause="hashset.store")
    coord = world.client(server, "coord")
    cut = _in_thread(lambda: coord.post(
        "/api/v1/hashsets", files={"file": ("known.txt", _md5_list(NEW), "text/plain")},
        data={"name": "known"}))
    world.wait_for_pause(server)
    assert world.leftovers(), "the upload is being imported from a staging file"
    server.kill()
    cut["thread"].join(60)
    assert "response" not in cut

    # 3. restarted: version 1 exactly as it was, no trace of the upload
    server = world.start()
    coord, key = world.client(server, "coord"), world.client(server, "key")
    assert world.leftovers() == []
    sets = {h["name"]: h for h in coord.get("/api/v1/hashsets").json()}
    assert (sets["known"]["version"], sets["known"]["entries"]) == (1, 100)
    assert [m["hashset_version"] for m in _matches(key, OLD[7])] == [1]
    assert _matches(key, NEW[7]) == [] and _matches(key, NEW[-1]) == []
    assert "hashset.import" not in world.audit_actions()
    assert world.chain_ok()

    # 4. the same upload again completes
    r = coord.post("/api/v1/hashsets", files={"file": ("known.txt", _md5_list(NEW), "text/plain")},
                   data={"name": "known"})
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["entries"]) == (2, len(NEW))
    assert [m["hashset_version"] for m in _matches(key, NEW[-1])] == [2]
    assert _matches(key, OLD[7]) == []
    assert world.audit_actions().count("hashset.import") == 1
    server.stop()
    assert world.chain_ok()


def _operation(coord: httpx.Client, name: str) -> int:
    r = coord.post("/api/v1/operations", json={"name": name, "description": "restart test"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_an_attach_killed_after_storing_a_package_leaves_nothing_and_can_be_repeated(
        world, refer_output):
    archive = tar_of(refer_output)
    server = world.start(pause="attach")
    coord = world.client(server, "coord")
    op = _operation(coord, "op-attach")
    cut = _in_thread(lambda: coord.post(f"/api/v1/operations/{op}/packages",
                                        files={"archive": ("out.tar.gz", archive)}))
    world.wait_for_pause(server)
    # mid-operation: one package folder in place, its rows flushed but not committed
    assert len(list(world.settings.packages_dir.iterdir())) == 1
    server.kill()
    cut["thread"].join(60)
    assert "response" not in cut

    server = world.start()
    coord, fr = world.client(server, "coord"), world.client(server, "fr")
    assert list(world.settings.packages_dir.iterdir()) == [] and world.leftovers() == []
    assert coord.get(f"/api/v1/operations/{op}").json()["packages"] == []
    assert coord.get("/api/v1/packages").json() == [] and fr.get("/api/v1/packages").json() == []
    assert "operation.attach" not in world.audit_actions()
    assert world.chain_ok()

    r = coord.post(f"/api/v1/operations/{op}/packages", files={"archive": ("out.tar.gz", archive)})
    assert r.status_code == 201, r.text
    countries = sorted(a["country"] for a in r.json()["attached"])
    assert countries == ["DE", "ES", "FR", "JM", "US", "XX"]
    stored = {p.name for p in world.settings.packages_dir.iterdir()}
    assert len(stored) == 6 and world.leftovers() == []
    server.stop()
    assert world.chain_ok()


def test_a_dissemination_killed_before_commit_sends_nothing_and_can_be_repeated(
        world, refer_output):
    server = world.start(pause="disseminate")
    coord = world.client(server, "coord")
    op = _operation(coord, "op-send")
    r = coord.post(f"/api/v1/operations/{op}/packages",
                   files={"archive": ("out.tar.gz", tar_of(refer_output))})
    assert r.status_code == 201, r.text
    cut = _in_thread(lambda: coord.post(f"/api/v1/operations/{op}/disseminate", json={}))
    world.wait_for_pause(server)  # every package marked sent and audited, not committed
    server.kill()
    cut["thread"].join(60)
    assert "response" not in cut

    server = world.start()
    coord, fr = world.client(server, "coord"), world.client(server, "fr")
    statuses = {p["country"]: p["status"] for p in coord.get(f"/api/v1/operations/{op}").json()["packages"]}
    assert len(statuses) == 6 and set(statuses.values()) == {"imported"}
    assert fr.get("/api/v1/packages").json() == []
    actions = world.audit_actions()
    assert "operation.attach" in actions and "package.disseminate" not in actions
    assert world.chain_ok()

    r = coord.post(f"/api/v1/operations/{op}/disseminate", json={})
    assert r.status_code == 200, r.text
    assert len(r.json()["sent"]) == 6
    statuses = {p["country"]: p["status"] for p in coord.get(f"/api/v1/operations/{op}").json()["packages"]}
    assert set(statuses.values()) == {"sent"}
    mine = fr.get("/api/v1/packages").json()
    assert [p["country"] for p in mine] == ["FR"]
    download = fr.post(f"/api/v1/packages/{mine[0]['id']}/download")
    assert download.status_code == 200 and len(download.content) > 1000
    assert world.audit_actions().count("package.disseminate") == 6
    server.stop()
    assert world.chain_ok()


def test_a_clean_shutdown_writes_every_queued_lookup_entry(world):
    server = world.start()
    key = world.client(server, "key")
    for i in range(300):
        r = key.get("/m/lookup", params={"signal": OLD[i % 100], "signal_type": "md5"})
        assert r.status_code == 200 and r.json()["known"][0]["hashset_version"] == 1
    server.stop()  # the entries may still be queued in memory until here
    with session_factory(world.engine)() as s:
        n = s.scalar(select(func.count()).select_from(AuditEntry)
                     .where(AuditEntry.action == "lookup.hma"))
        details = list(s.scalars(select(AuditEntry.detail)
                                 .where(AuditEntry.action == "lookup.hma")))
    assert n == 300 and {d["signal"] for d in details} == set(OLD)
    assert world.chain_ok()


def test_every_worker_serves_a_hash_set_uploaded_through_another(world):
    server = world.start(workers=2, HAVEN_LIBRARY_POLL_SECONDS="0.5")
    coord = world.client(server, "coord")
    r = coord.post("/api/v1/hashsets", files={"file": ("more.txt", _md5_list(NEW[:50]),
                                                       "text/plain")}, data={"name": "more"})
    assert r.status_code == 201, r.text
    seen: dict[int, int] = {}  # worker pid -> entries it serves
    deadline = time.monotonic() + 60
    while len([n for n in seen.values() if n == 150]) < 2:
        assert time.monotonic() < deadline, f"workers and their library sizes: {seen}"
        health = httpx.get(f"{server.base}/health", timeout=10).json()  # a new connection
        seen[health["worker"]] = health["hash_entries"]
    server.stop()
    assert world.chain_ok()
