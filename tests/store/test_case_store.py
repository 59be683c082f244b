"""The case gate: only a haven case is opened, cases and evidence never overlap, and older
case.db files gain the columns added since they were made."""

from __future__ import annotations

import sqlite3
import typing
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from haven.cli import app
from haven.errors import CaseEvidenceOverlap, NotACaseError
from haven.store.case import NOT_A_CASE, CaseStore, keep_apart

# Commands that create a case when the directory holds none; every other --case refuses.
CREATORS = {"scan", "index", "victimid index", "hashsets import", "hashsets add-media"}


def _commands(group, prefix: str = ""):
    # typer carries its own copy of click: recognise groups and parameters by what they have
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, full + " ")
        else:
            yield full, cmd


def _case_commands():
    """Commands whose --case is a case directory (`service create-user --case` names one)."""
    return [(name, cmd) for name, cmd in _commands(get_command(app))
            if any("--case" in p.opts and p.type_descriptor.annotation is Path for p in cmd.params)]


def _dummy_args(cmd, case, dummy_file) -> list[str]:
    """The command's required arguments filled with harmless values, and --case."""
    args: list[str] = []
    for p in cmd.params:
        option = p.param_type_name == "option"
        if option and "--case" in p.opts:
            args += ["--case", str(case)]
            continue
        if not p.required:
            continue
        kind = p.type_descriptor.annotation
        if typing.get_origin(kind) is list:
            kind = typing.get_args(kind)[0]
        if kind is int:
            value = "1"
        elif kind is float:
            value = "0.5"
        elif kind is str:
            value = "x"
        else:  # paths, lists of paths
            value = str(dummy_file)
        args += [p.opts[0], value] if option else [value]
    return args


def _flat(output: str) -> str:
    """The output with the terminal's line wrapping undone."""
    return " ".join(output.split())


def test_every_case_command_is_found():
    names = {name for name, _ in _case_commands()}
    assert {"report", "hashsets list", "hashsets export", "victimid timeline",
            "victimid faces find", "victimid series export"} <= names
    assert CREATORS <= names


@pytest.mark.parametrize("missing", [False, True], ids=["plain-directory", "missing-directory"])
def test_every_command_but_the_creators_refuses_a_directory_that_is_not_a_case(tmp_path, missing):
    runner = CliRunner()
    dummy = tmp_path / "dummy.txt"
    dummy.write_text("x\n")
    checked = []
    for name, cmd in _case_commands():
        if name in CREATORS:
            continue
        target = tmp_path / f"not-a-case-{len(checked)}"
        if not missing:
            target.mkdir()
            (target / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 evidence")
        args = [*name.split(), *_dummy_args(cmd, target, dummy)]
        r = runner.invoke(app, args)
        text = _flat(r.output)
        assert r.exit_code == 2, (name, r.output)
        assert text.startswith("error:") and text.count("error:") == 1, (name, r.output)
        assert NOT_A_CASE in text and "Traceback" not in text, (name, r.output)
        # nothing was written: no case.db, no report, no directory made
        if missing:
            assert not target.exists(), name
        else:
            assert sorted(p.name for p in target.iterdir()) == ["photo.jpg"], name
        checked.append(name)
    assert len(checked) >= 15


def test_report_with_a_typo_into_the_evidence_writes_nothing(tmp_path):
    ev = tmp_path / "ev" / "laptop"
    ev.mkdir(parents=True)
    (ev / "a.jpg").write_bytes(b"not really")
    r = CliRunner().invoke(app, ["report", "--case", str(ev)])
    assert r.exit_code == 2 and NOT_A_CASE in _flat(r.output)
    assert [p.name for p in ev.iterdir()] == ["a.jpg"]


def test_scan_refuses_a_case_inside_the_evidence_before_writing_anything(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "a.txt").write_text("hello\n")
    r = CliRunner().invoke(app, ["scan", str(ev), "--case", str(ev / "case"), "--workers", "1"])
    assert r.exit_code == 2, r.output
    assert "inside the evidence" in _flat(r.output) and "Traceback" not in r.output
    assert sorted(p.name for p in ev.iterdir()) == ["a.txt"]


def test_scan_refuses_evidence_inside_the_case(tmp_path):
    case = tmp_path / "case"
    CaseStore(case, create=True).close()
    ev = case / "ev"
    ev.mkdir()
    (ev / "a.txt").write_text("hello\n")
    r = CliRunner().invoke(app, ["scan", str(ev), "--case", str(case), "--workers", "1"])
    assert r.exit_code == 2, r.output
    assert "inside the case directory" in _flat(r.output)
    assert not (case / "findings.jsonl").exists()


def test_a_case_that_is_the_evidence_itself_or_reached_by_a_link_is_refused(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    with pytest.raises(CaseEvidenceOverlap):
        keep_apart(ev, [ev])
    link = tmp_path / "link"
    link.symlink_to(ev)
    with pytest.raises(CaseEvidenceOverlap):
        keep_apart(link / "case", [ev])
    with pytest.raises(CaseEvidenceOverlap):
        keep_apart(tmp_path / "case", [tmp_path / "case" / "x.zip"])
    keep_apart(tmp_path / "case", [ev])  # siblings are fine
    keep_apart(tmp_path / "ev-case", [ev])  # a shared name prefix is not containment


def test_index_and_add_media_refuse_overlap_too(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "a.txt").write_text("hello\n")
    runner = CliRunner()
    for args in (["index", str(ev), "--case", str(ev / "vi"), "--parts", "metadata"],
                 ["hashsets", "add-media", str(ev), "--name", "x", "--case", str(ev / "c")]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and "inside the evidence" in _flat(r.output), (args, r.output)
    assert sorted(p.name for p in ev.iterdir()) == ["a.txt"]


def test_a_case_made_inside_its_evidence_by_an_older_haven_is_refused(tmp_path):
    from datetime import datetime

    from haven.store.models import Seizure

    ev = tmp_path / "ev"
    case = ev / "case"
    store = CaseStore(case, create=True)  # no evidence named: the gate cannot know yet
    with store.session() as s, s.begin():
        s.add(Seizure(name="ev", source_path=str(ev), started_at=datetime(2026, 1, 1)))
    store.close()
    with pytest.raises(CaseEvidenceOverlap):
        CaseStore(case)


def test_exports_are_never_written_into_the_evidence(tmp_path):
    from datetime import datetime

    from haven.store.models import Seizure

    ev = tmp_path / "ev"
    ev.mkdir()
    case = tmp_path / "case"
    store = CaseStore(case, create=True)
    with store.session() as s, s.begin():
        s.add(Seizure(name="ev", source_path=str(ev), started_at=datetime(2026, 1, 1)))
    store.close()
    runner = CliRunner()
    for args in (["hashsets", "export", "--case", str(case), "--out", str(ev / "x.json")],
                 ["victimid", "timeline", "--case", str(case), "--out", str(ev / "t.json")],
                 ["victimid", "geojson", "--case", str(case), "--out", str(ev / "g.json")],
                 ["victimid", "series", "export", "--case", str(case), "--out", str(ev / "s.json")]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and "inside the evidence" in _flat(r.output), (args, r.output)
    assert list(ev.iterdir()) == []


def test_opening_refuses_a_non_case_and_creates_only_when_asked(tmp_path):
    with pytest.raises(NotACaseError, match="not a haven case"):
        CaseStore(tmp_path / "nope")
    assert not (tmp_path / "nope").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotACaseError):
        CaseStore(tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []
    CaseStore(tmp_path / "empty", create=True).close()
    CaseStore(tmp_path / "empty").close()


def test_an_older_case_db_gains_new_columns_and_keeps_its_rows(tmp_path):
    case = tmp_path / "case"
    case.mkdir()
    con = sqlite3.connect(case / "case.db")
    # the items table as the first release made it (no columns added since)
    con.executescript("""
        CREATE TABLE seizures (id INTEGER PRIMARY KEY, name TEXT UNIQUE, source_path TEXT,
            sha256 VARCHAR(64), size INTEGER, started_at DATETIME, finished_at DATETIME);
        CREATE TABLE items (id INTEGER PRIMARY KEY, seizure_id INTEGER, path TEXT UNIQUE,
            size INTEGER, mime VARCHAR(80), media VARCHAR(10), extension_mismatch BOOLEAN,
            md5 VARCHAR(32), sha1 VARCHAR(40), sha256 VARCHAR(64), pdq VARCHAR(64),
            pdq_quality INTEGER, pdq_preprocess VARCHAR(80), vpdq JSON, vpdq_preprocess VARCHAR(80),
            video JSON, finding VARCHAR(20), error TEXT, notes JSON, flags JSON, elapsed FLOAT);
        INSERT INTO seizures VALUES (1, 'ev', '/nowhere/ev', NULL, NULL, '2026-01-01', NULL);
        INSERT INTO items (id, seizure_id, path, size, md5, finding, notes, flags)
            VALUES (1, 1, 'ev/a.jpg', 3, 'abc', 'fresh', '[]', '{}');
    """)
    con.commit()
    con.close()
    store = CaseStore(case)
    from haven.report.findings import iter_findings

    rows = list(iter_findings(store))
    assert [(r["path"], r["md5"], r["finding"]) for r in rows] == [("ev/a.jpg", "abc", "fresh")]
    store.close()
    con = sqlite3.connect(case / "case.db")
    from haven.store.models import ItemRow

    have = {row[1] for row in con.execute("PRAGMA table_info(items)")}
    assert {c.name for c in ItemRow.__table__.columns} <= have


from sqlalchemy import select  # noqa: E402

from haven.hashsets.model import HashEntry, ImportResult  # noqa: E402
from haven.store.models import HashEntryRow  # noqa: E402


def _ids(store: CaseStore) -> dict[str, tuple[int, str | None]]:
    with store.session() as s:
        return {r.md5: (r.id, r.category) for r in s.scalars(select(HashEntryRow))}


def test_a_reimport_keeps_unchanged_entries_and_says_what_changed(tmp_path):
    store = CaseStore(tmp_path / "case", create=True)
    src = tmp_path / "list.txt"
    src.write_text("x")
    v1 = ImportResult("csv", [HashEntry(md5=c * 32, category="1") for c in "abc"])
    hs = store.import_hashset(v1, name="pv", source_path=str(src), known_good=False)
    assert hs.import_changes == {"kept": 0, "added": 3, "removed": 0, "relabelled": 0}
    before = _ids(store)
    v2 = ImportResult("csv", [HashEntry(md5="a" * 32, category="1"),
                              HashEntry(md5="b" * 32, category="2"),
                              HashEntry(md5="d" * 32, category="1")])
    hs = store.import_hashset(v2, name="pv", source_path=str(src), known_good=False)
    assert hs.version == 2
    assert hs.import_changes == {"kept": 2, "added": 1, "removed": 1, "relabelled": 1}
    after = _ids(store)
    assert after["a" * 32] == before["a" * 32]  # same row: its matches stay valid
    assert after["b" * 32] == (before["b" * 32][0], "2")  # same row, new label
    assert "c" * 32 not in after and "d" * 32 in after
