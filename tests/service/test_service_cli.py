"""`haven service …` commands and `haven serve` on a real socket (127.0.0.1)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
from typer.testing import CliRunner

from servicekit import PASSWORD
from haven.service.cli import service_app
from haven.store.case import CaseStore

NCMEC = "ref/formats/hashlists/ncmec_hashsharing_v2_entries_synthetic.xml"


def test_accounts_keys_cases_and_hash_sets_from_the_command_line(tmp_path, shared_dir):
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "svc")]
    env = {"HAVEN_NEW_PASSWORD": PASSWORD}
    (tmp_path / "case").mkdir()
    r = runner.invoke(service_app, ["add-case", "case-9", str(tmp_path / "case"), *data])
    assert r.exit_code == 2 and "not a haven case" in " ".join(r.output.split()), r.output
    CaseStore(tmp_path / "case", create=True).close()
    r = runner.invoke(service_app, ["add-case", "case-9", str(tmp_path / "case"), *data])
    assert r.exit_code == 0, r.output
    r = runner.invoke(service_app, ["create-user", "fr-1", "--role", "liaison", "--country", "fr",
                                    *data], env=env)
    assert r.exit_code == 0 and "(FR)" in r.output, r.output
    r = runner.invoke(service_app, ["create-user", "an-1", "--role", "analyst", "--case",
                                    "case-9", *data], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(service_app, ["create-user", "x", "--role", "liaison", *data], env=env)
    assert r.exit_code == 2 and "country" in r.output
    r = runner.invoke(service_app, ["create-user", "y", "--role", "coordinator", *data],
                      env={"HAVEN_NEW_PASSWORD": "short"})
    assert r.exit_code == 2 and "12 characters" in r.output
    r = runner.invoke(service_app, ["create-api-key", "hotline-x", *data])
    assert r.exit_code == 0 and r.output.strip().startswith("hvk_")
    r = runner.invoke(service_app, ["import-hashset", str(shared_dir / NCMEC), "--name", "ncmec",
                                    "--append", *data])
    assert r.exit_code == 0 and "1 entries" in r.output and "1 tombstones" in r.output, r.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_haven_serve_answers_on_loopback(tmp_path):
    port = _free_port()
    code = ("import typer; from haven.service.cli import serve; "
            "app = typer.Typer(); app.command()(serve); app()")
    env = {**os.environ, "HAVEN_DATA_DIR": str(tmp_path / "svc")}
    env.pop("HAVEN_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-c", code, "--host", "127.0.0.1", "--port",
                             str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(proc.stdout.read().decode() if proc.poll() is not None
                                         else "server did not start in 30 s")
                time.sleep(0.2)
        assert r.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/packages").status_code == 401
        assert (tmp_path / "svc" / "service.db").is_file()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
