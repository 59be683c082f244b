"""A case on write-protected storage opens read-only: reading commands work, writing ones say
so in one line; a case directory that cannot be created says so too.

Tests run as root, which ignores permission bits, so write protection is made with the
immutable attribute (`chattr +i`), which root respects: nothing can be created in, written to
or deleted from the case directory, as on a write-protected disk. `os.access` reports it,
which is what haven checks, and SQLite itself is refused writes, so the read-only open path
(immutable or mode=ro URI, no WAL, no schema upgrade) is what is exercised here. Skipped when
the file system does not support the attribute.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from haven.cli import app
from haven.store.case import CaseStore

runner = CliRunner()


def _chattr(flag: str, *paths: Path) -> bool:
    if not shutil.which("chattr"):
        return False
    run = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True)
    return run.returncode == 0


@pytest.fixture
def protect():
    protected: list[Path] = []

    def apply(*paths: Path) -> None:
        if not _chattr("+i", *paths):
            pytest.skip("the immutable attribute (chattr +i) is not available here")
        protected.extend(paths)

    yield apply
    if protected:
        _chattr("-i", *protected)


def _case(tmp_path: Path, checkpoint: bool) -> Path:
    ev = tmp_path / "ev"
    ev.mkdir()
    for i in range(3):
        (ev / f"note{i}.txt").write_text(f"note {i}\n")
    sets = tmp_path / "set.txt"
    sets.write_text("d41d8cd98f00b204e9800998ecf8427e\n")
    case = tmp_path / "case"
    assert runner.invoke(app, ["hashsets", "import", str(sets), "-n", "s", "-c", str(case)]).exit_code == 0
    assert runner.invoke(app, ["scan", str(ev), "-c", str(case), "-w", "1"]).exit_code == 0
    if checkpoint:
        CaseStore(case).close()
        import sqlite3

        con = sqlite3.connect(case / "case.db")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
    return case


def _one_error(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.mark.parametrize("checkpoint", [True, False], ids=["no-wal", "pending-wal"])
def test_reading_commands_work_on_a_write_protected_case(tmp_path, protect, checkpoint):
    case = _case(tmp_path, checkpoint)
    protect(*case.iterdir(), case)
    before = sorted(p.name for p in case.iterdir())

    listed = runner.invoke(app, ["hashsets", "list", "-c", str(case), "--json"])
    assert listed.exit_code == 0, listed.output
    assert [s["name"] for s in json.loads(listed.stdout)] == ["s"]

    refused = _one_error(runner.invoke(app, ["report", "-c", str(case)]))
    assert "read-only" in refused and "--out" in refused

    reports = tmp_path / "reports"
    done = runner.invoke(app, ["report", "-c", str(case), "-o", str(reports), "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout.splitlines()[-1])["summary"]
    assert summary["items"] == 3
    assert len((reports / "findings.jsonl").read_text().splitlines()) == 3
    assert sorted(p.name for p in case.iterdir()) == before


def test_writing_commands_say_the_case_is_read_only(tmp_path, protect):
    case = _case(tmp_path, checkpoint=False)
    protect(*case.iterdir(), case)
    for args in (["scan", str(tmp_path / "ev"), "-c", str(case)],
                 ["hashsets", "import", str(tmp_path / "set.txt"), "-n", "t", "-c", str(case)],
                 ["rematch", "-c", str(case)]):
        assert "read-only" in _one_error(runner.invoke(app, args))


def test_a_case_whose_parent_cannot_be_written(tmp_path, protect):
    parent = tmp_path / "locked"
    parent.mkdir()
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "a.txt").write_text("a\n")
    protect(parent)
    line = _one_error(runner.invoke(app, ["scan", str(tmp_path / "ev"), "-c", str(parent / "case")]))
    assert line.startswith(f"error: cannot create the case directory {parent / 'case'}")


def test_a_pending_write_ahead_log_without_its_index_is_refused_not_ignored(tmp_path, protect):
    import sqlite3

    case = _case(tmp_path, checkpoint=True)
    copy = tmp_path / "copy"
    copy.mkdir()
    con = sqlite3.connect(case / "case.db")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("UPDATE hashsets SET name = 'renamed'")
    con.commit()
    shutil.copy(case / "case.db", copy / "case.db")
    shutil.copy(case / "case.db-wal", copy / "case.db-wal")  # no case.db-shm: as copied media
    con.close()
    assert (copy / "case.db-wal").stat().st_size > 0
    protect(*copy.iterdir(), copy)
    line = _one_error(runner.invoke(app, ["hashsets", "list", "-c", str(copy)]))
    assert "case.db-wal" in line and "writable storage" in line
