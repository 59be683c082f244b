"""A second scan of a case that is being scanned stops at once, naming the process."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from haven.cli import app
from haven.errors import CaseBusyError
from haven.store.lock import LOCK_NAME, case_lock

runner = CliRunner()


def test_the_lock_names_its_holder_and_is_released(tmp_path):
    with case_lock(tmp_path, "scanned"):
        holder = subprocess.run(
            [sys.executable, "-c", "import sys; from haven.store.lock import case_lock\n"
             f"with case_lock({str(tmp_path)!r}): pass"], capture_output=True, text=True)
        assert holder.returncode != 0
        assert f"is being scanned by process {os.getpid()}" in holder.stderr
    with case_lock(tmp_path, "indexed"):  # released: taken again
        assert (tmp_path / LOCK_NAME).read_text().split() == [str(os.getpid()), "indexed"]


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; from haven.store.lock import "
                             f"case_lock\nwith case_lock({str(tmp_path)!r}): time.sleep(60)"])
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / LOCK_NAME).exists() or not (tmp_path / LOCK_NAME).read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(CaseBusyError, match=f"by process {proc.pid}"):
            with case_lock(tmp_path):
                pass
    finally:
        proc.kill()
        proc.wait()
    with case_lock(tmp_path):
        pass


def test_second_scan_of_a_case_being_scanned(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "a.txt").write_text("a\n")
    case = tmp_path / "case"
    assert runner.invoke(app, ["scan", str(ev), "-c", str(case), "-w", "1"]).exit_code == 0
    proc = subprocess.Popen([sys.executable, "-c", "import time; from haven.store.lock import "
                             f"case_lock\nwith case_lock({str(case)!r}): time.sleep(60)"])
    try:
        deadline = time.monotonic() + 30
        while not (case / LOCK_NAME).read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        result = runner.invoke(app, ["scan", str(ev), "-c", str(case), "-w", "1"])
    finally:
        proc.kill()
        proc.wait()
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert lines == [f"error: case {case} is being scanned by process {proc.pid}; wait for it to "
                     "finish (or stop it) and run the command again"]


def test_other_writing_commands_wait_for_nobody_and_say_who_holds_the_case(tmp_path):
    sets = tmp_path / "set.txt"
    sets.write_text("d41d8cd98f00b204e9800998ecf8427e\n")
    case = tmp_path / "case"
    assert runner.invoke(app, ["hashsets", "import", str(sets), "-n", "s", "-c", str(case)]).exit_code == 0
    with case_lock(case, "scanned"):
        for args in (["hashsets", "import", str(sets), "-n", "t", "-c", str(case)],
                     ["rematch", "-c", str(case)]):
            result = runner.invoke(app, args)
            assert result.exit_code == 2, result.output
            assert f"is being scanned by process {os.getpid()}" in result.output


def test_a_database_held_by_another_writer_is_one_clear_error(tmp_path):
    import sqlite3

    from haven.store.case import CaseStore
    from haven.store.models import Seizure

    sets = tmp_path / "set.txt"
    sets.write_text("d41d8cd98f00b204e9800998ecf8427e\n")
    case = tmp_path / "case"
    assert runner.invoke(app, ["hashsets", "import", str(sets), "-n", "s", "-c", str(case)]).exit_code == 0
    store = CaseStore(case)
    other = sqlite3.connect(case / "case.db", timeout=0)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(CaseBusyError, match="another haven process is writing to it"):
            with store.session() as s, s.begin():
                s.add(Seizure(name="x", source_path="/x"))
    finally:
        other.rollback()
        other.close()
        store.close()
