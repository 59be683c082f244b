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


def _start_serve(tmp_path, *args):
    port = _free_port()
    code = ("import typer; from haven.service.cli import serve; "
            "app = typer.Typer(); app.command()(serve); app()")
    env = {**os.environ, "HAVEN_DATA_DIR": str(tmp_path / "svc")}
    env.pop("HAVEN_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-c", code, "--host", "127.0.0.1", "--port",
                             str(port), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc, port
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError(proc.stdout.read().decode())
            time.sleep(0.2)


def _stop(proc) -> str:
    proc.terminate()
    proc.wait(timeout=10)
    return proc.stdout.read().decode()


def test_haven_serve_answers_on_loopback(tmp_path):
    proc, port = _start_serve(tmp_path, "--init")
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert r.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/packages").status_code == 401
        assert (tmp_path / "svc" / "service.db").is_file()
    finally:
        output = _stop(proc)
    # Where to go, and how to make the first account when there is none.
    assert f"web http://127.0.0.1:{port}/" in output
    assert f"API docs http://127.0.0.1:{port}/docs" in output
    assert "no accounts yet" in output
    assert "haven service create-user NAME --role coordinator" in output


def test_haven_serve_with_a_coordinator_does_not_ask_for_one(tmp_path):
    r = CliRunner().invoke(service_app, ["create-user", "coord", "--role", "coordinator",
                                         "--data-dir", str(tmp_path / "svc")],
                           env={"HAVEN_NEW_PASSWORD": PASSWORD})
    assert r.exit_code == 0, r.output
    proc, port = _start_serve(tmp_path)          # the folder exists now: no --init needed
    output = _stop(proc)
    assert f"http://127.0.0.1:{port}/docs" in output
    assert "create-user" not in output and "no accounts" not in output


def test_haven_serve_refuses_a_data_dir_that_does_not_exist_unless_init(tmp_path):
    from haven.cli import app

    missing = tmp_path / "typo"
    r = CliRunner().invoke(app, ["serve", "--data-dir", str(missing), "--port", "1"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    text = " ".join(r.output.split())
    assert "does not exist" in text and "--init" in text
    assert not missing.exists()                  # nothing created
    (tmp_path / "file").write_text("x")
    r = CliRunner().invoke(app, ["serve", "--init"], env={"HAVEN_DATA_DIR": str(tmp_path / "file")})
    assert r.exit_code == 2 and "not a folder" in " ".join(r.output.split())
