"""`haven scan --victim-id` indexes the evidence for victim identification after the triage
scan; a plain scan never loads or runs victim-ID code."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from haven.demo import jpeg_bytes, make_image
from haven.victimid.synth import make_room, photograph


def _evidence(root):
    ev = root / "seizure"
    ev.mkdir()
    for i in range(3):
        (ev / f"img_{i}.jpg").write_bytes(jpeg_bytes(make_image(i, (320, 240)), 85))
    room = make_room(21)
    photograph(room, 1).save(ev / "room_1.jpg", quality=88)
    photograph(room, 2).save(ev / "room_2.jpg", quality=88)
    (ev / "notes.txt").write_text("not an image\n")
    return ev


def _tables(case) -> set[str]:
    with sqlite3.connect(case / "case.db") as con:
        return {r[0] for r in con.execute("select name from sqlite_master where type in ('table', 'view')")}


def _scan_in_subprocess(args: list[str]) -> list[str]:
    """Run `haven scan ARGS` in a fresh interpreter; return the victim-ID-related modules it loaded."""
    code = (
        "import json, sys\n"
        "from haven.cli import _invoke\n"
        f"_invoke({args!r})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('haven.victimid.') or m in ('cv2', 'dlib'))))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_plain_scan_loads_no_victim_id_code_and_creates_no_vi_tables(tmp_path):
    ev, case = _evidence(tmp_path), tmp_path / "case"
    loaded = _scan_in_subprocess(["scan", str(ev), "--case", str(case), "--workers", "1"])
    # haven.victimid.cli is only the command registration (imported with the CLI); nothing
    # that indexes, decodes for features or opens the victim-ID tables may be loaded.
    assert [m for m in loaded if m != "haven.victimid.cli"] == []
    tables = _tables(case)
    assert "items" in tables
    assert not {t for t in tables if t.startswith("vi_")}


def test_scan_with_victim_id_indexes_the_same_evidence_linked_to_the_scan(tmp_path):
    ev, case = _evidence(tmp_path), tmp_path / "case"
    loaded = _scan_in_subprocess(["scan", str(ev), "--case", str(case), "--workers", "1",
                                  "--victim-id", "--victim-id-parts", "metadata,scene"])
    assert "haven.victimid.indexer" in loaded
    with sqlite3.connect(case / "case.db") as con:
        items = dict(con.execute("select path, id from items"))
        media = con.execute("select path, item_id, sha256, parts from vi_media").fetchall()
        n_scene = con.execute("select count(*) from vi_scene where vector is not null").fetchone()[0]
        item_sha = dict(con.execute("select path, sha256 from items"))
    assert len(media) == 5  # the five images; the text file is not media
    for path, item_id, sha, parts in media:
        assert items[path] == item_id  # linked to the scan's row of the same item
        assert item_sha[path] == sha
        assert json.loads(parts) == {"metadata": True, "scene": True}
    assert n_scene == 5  # vocabulary trained and every image encoded


def test_scan_with_victim_id_and_an_unknown_part_fails_before_reading_evidence(tmp_path):
    from typer.testing import CliRunner

    from haven.cli import app

    ev, case = _evidence(tmp_path), tmp_path / "case"
    r = CliRunner().invoke(app, ["scan", str(ev), "--case", str(case), "--workers", "1",
                                 "--victim-id", "--victim-id-parts", "metadata,colour"])
    assert r.exit_code != 0 and "unknown index parts" in r.output
    with sqlite3.connect(case / "case.db") as con:
        assert con.execute("select count(*) from items").fetchone()[0] == 0
