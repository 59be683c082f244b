"""A scan stores new items through sqlite3 (`haven.store.direct`) and items analysed again
through the models (`_Writer._write_again`): both store the same rows, matches and query
hashes, so the findings are the same whichever way an item was written."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import zipfile

from typer.testing import CliRunner

from haven.cli import app
from haven.demo import jpeg_bytes, make_image


def _cli(*args) -> None:
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output


def _rows(db, table: str, skip: tuple[str, ...]) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        order = "item_id, hashset_id, entry_id" if table == "matches" else (
            "item_id" if table == "item_queries" else "path")
        return [{k: r[k] for k in r.keys() if k not in skip}
                for r in conn.execute(f"SELECT * FROM {table} ORDER BY {order}")]
    finally:
        conn.close()


def _findings(case) -> list[dict]:
    with open(case / "findings.jsonl") as fh:
        return [json.loads(line) for line in fh]


def test_items_written_directly_and_through_the_models_are_the_same(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    photos = [jpeg_bytes(make_image(seed, (200, 150)), 85) for seed in range(4)]
    for i, data in enumerate(photos):
        (ev / f"p{i}.jpg").write_bytes(data)
    (ev / "notes.txt").write_text("benign notes ü\n")
    with zipfile.ZipFile(ev / "album.zip", "w") as z:
        z.writestr("in/zip.jpg", photos[1])  # same content as p1.jpg: two paths
    (ev / "broken.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)  # a walker problem
    os.symlink("p0.jpg", ev / "link.jpg")  # an informational problem
    known = tmp_path / "known.txt"
    known.write_text(hashlib.md5(photos[1]).hexdigest() + "\n")
    case = tmp_path / "case"
    _cli("hashsets", "import", known, "--name", "known", "--case", case)

    _cli("scan", ev, "--case", case, "--workers", "1")  # new items: sqlite3
    first = {t: _rows(case / "case.db", t, ("id", "analysed_at", "elapsed"))
             for t in ("items", "matches", "item_queries")}
    findings = _findings(case)
    query_ids = [r["id"] for r in _rows(case / "case.db", "item_queries", ())]
    assert {f["path"]: f["finding"] for f in findings}["ev/p1.jpg"] == "known"
    assert any(f["error"] for f in findings) and any(f["matches"] for f in findings)

    _cli("scan", ev, "--case", case, "--workers", "1", "--rehash")  # again: the models
    again = {t: _rows(case / "case.db", t, ("id", "analysed_at", "elapsed"))
             for t in ("items", "matches", "item_queries")}
    assert again == first
    # the rows were written again (the models replace an item's query hashes)
    assert not set(query_ids) & {r["id"] for r in _rows(case / "case.db", "item_queries", ())}
    assert _findings(case) == findings
