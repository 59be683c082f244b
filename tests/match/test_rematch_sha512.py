"""SHA-512 is kept per item when a scan computed it, so a SHA-512-only list imported after the
scan finds the item by re-matching; items scanned without it are counted and named as
needing `haven scan --rehash` (re-matching never reads evidence)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from haven.cli import app
from haven.demo import jpeg_bytes, make_image
from haven.store.case import CaseStore


def run(*args) -> str:
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def _findings(case: Path) -> dict:
    with open(case / "findings.jsonl") as fh:
        return {(row := json.loads(line))["path"].rsplit("/", 1)[-1]: row for line in fh}


def _evidence(tmp_path: Path) -> tuple[Path, bytes]:
    ev = tmp_path / "seizure"
    ev.mkdir()
    listed = jpeg_bytes(make_image(31, (240, 180)))
    (ev / "listed.jpg").write_bytes(listed)
    (ev / "other.jpg").write_bytes(jpeg_bytes(make_image(32, (240, 180))))
    return ev, listed


def _sha512_list(path: Path, *contents: bytes) -> Path:
    path.write_text("sha512,category\n" + "".join(
        f"{hashlib.sha512(c).hexdigest()},1\n" for c in contents))
    return path


def test_a_sha512_only_list_imported_after_the_scan_finds_the_item(tmp_path: Path):
    ev, listed = _evidence(tmp_path)
    case = tmp_path / "case"
    # a list holding SHA-512 values (of something else) makes the scan compute and keep it
    run("hashsets", "import", _sha512_list(tmp_path / "first.csv", b"never seen"),
        "--name", "first", "--case", case)
    run("scan", ev, "--case", case, "--workers", "1")
    assert _findings(case)["listed.jpg"]["finding"] == "fresh"
    with sqlite3.connect(case / "case.db") as con:
        stored = dict(con.execute("SELECT path, sha512 FROM items"))
    assert stored["seizure/listed.jpg"] == hashlib.sha512(listed).hexdigest()
    shutil.rmtree(ev)  # what changes now comes from the stored digests alone

    out = run("hashsets", "import", _sha512_list(tmp_path / "later.csv", listed),
              "--name", "later", "--case", case)
    assert "fresh -> known: 1" in out and "without SHA512" not in out
    f = _findings(case)
    assert f["listed.jpg"]["finding"] == "known" and f["other.jpg"]["finding"] == "fresh"
    [m] = f["listed.jpg"]["matches"]
    assert (m["signal_type"], m["hashset"], m["distance"]) == ("sha512", "later", 0)
    assert "later v1: new sha512 match" in f["listed.jpg"]["history"][0]["reason"]
    # findings.jsonl carries the SHA-512 the scan computed (null where it computed none)
    assert f["listed.jpg"]["sha512"] == hashlib.sha512(listed).hexdigest()


def test_items_scanned_without_sha512_are_named_and_found_after_a_rehash(tmp_path: Path):
    ev, listed = _evidence(tmp_path)
    case = tmp_path / "case"
    run("scan", ev, "--case", case, "--workers", "1")  # no list at all: no SHA-512 computed
    out = run("hashsets", "import", _sha512_list(tmp_path / "later.csv", listed),
              "--name", "later", "--case", case)
    assert "2 item(s) were scanned without SHA512" in out and "haven scan --rehash" in out
    assert _findings(case)["listed.jpg"]["finding"] == "fresh"
    assert _findings(case)["listed.jpg"]["sha512"] is None  # not computed by that scan
    run("scan", ev, "--case", case, "--workers", "1", "--rehash")
    assert _findings(case)["listed.jpg"]["finding"] == "known"
    assert "without SHA512" not in run("rematch", "--case", case, "--all")


def test_an_older_case_without_the_sha512_column_opens_and_gains_it(tmp_path: Path):
    ev, listed = _evidence(tmp_path)
    case = tmp_path / "case"
    run("scan", ev, "--case", case, "--workers", "1")
    with sqlite3.connect(case / "case.db") as con:  # as a haven before the column left it
        con.execute("DROP INDEX ix_items_sha512")
        con.execute("ALTER TABLE items DROP COLUMN sha512")
    store = CaseStore(case)
    assert store.db.is_current() and "sha512" in store.db.tables()["items"][0]
    store.close()
    out = run("hashsets", "import", _sha512_list(tmp_path / "later.csv", listed),
              "--name", "later", "--case", case)
    assert "2 item(s) were scanned without SHA512" in out
