"""Findings follow the hash sets: a set imported, re-imported, enrolled or retracted after the
scan re-decides the findings from what the scan stored, without reading the evidence again."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import sqlite3

import pytest
from PIL import Image
from typer.testing import CliRunner

from haven.cli import app
from haven.demo import jpeg_bytes, make_image
from haven.hashsets.formats.registry import read_hashset
from haven.signals.pdq import pdq_from_bytes
from haven.store.case import CaseStore

runner = CliRunner()


def run(*args) -> str:
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def findings(case) -> dict[str, dict]:
    rows = [json.loads(line) for line in (case / "findings.jsonl").read_text().splitlines()]
    return {f["path"].rsplit("/", 1)[-1]: f for f in rows}


@pytest.fixture
def seized(tmp_path):
    """Evidence with old.jpg (listed from the start) and new.jpg (listed later), scanned into a
    case whose set `pv` lists old.jpg only; the evidence is then removed, so anything that
    still changes came from the stored signals."""
    ev = tmp_path / "ev"
    ev.mkdir()
    data = {n: jpeg_bytes(make_image(i, (200, 150)), 80) for i, n in ((1, "old.jpg"), (2, "new.jpg"))}
    for n, b in data.items():
        (ev / n).write_bytes(b)
    v1 = tmp_path / "v1.txt"
    v1.write_text(md5(data["old.jpg"]) + "\n")
    case = tmp_path / "case"
    run("hashsets", "import", v1, "--name", "pv", "--case", case, "--format", "txt")
    run("scan", ev, "--case", case, "--workers", "1")
    f = findings(case)
    assert f["old.jpg"]["finding"] == "known" and f["new.jpg"]["finding"] == "fresh"
    shutil.rmtree(ev)
    return tmp_path, case, data


def test_a_set_imported_after_the_scan_makes_new_jpg_known(seized):
    tmp, case, data = seized
    v2 = tmp / "v2.txt"
    v2.write_text(md5(data["old.jpg"]) + "\n" + md5(data["new.jpg"]) + "\n")
    out = run("hashsets", "import", v2, "--name", "pv", "--case", case, "--format", "txt")
    assert "fresh -> known: 1" in out and "pv v1→v2" in out
    f = findings(case)  # the report files were rewritten too
    new = f["new.jpg"]
    assert new["finding"] == "known"
    assert [(m["hashset"], m["hashset_version"], m["signal_type"]) for m in new["matches"]] == [
        ("pv", 2, "md5")]
    assert new["history"][0]["from"] == "fresh" and new["history"][0]["to"] == "known"
    assert "pv v2: new md5 match" in new["history"][0]["reason"]
    # the kept entry's match now names the version it is listed in
    assert [m["hashset_version"] for m in f["old.jpg"]["matches"]] == [2]
    assert f["old.jpg"]["history"] == []


def test_a_reimport_without_the_md5_makes_it_fresh_and_history_says_v1_to_v3(seized):
    tmp, case, data = seized
    store = CaseStore(case)
    # two new versions imported by the store alone (nothing re-matched in between) ...
    for n, text in ((2, md5(data["old.jpg"]) + "\n"), (3, md5(b"something else") + "\n")):
        (tmp / f"v{n}.txt").write_text(text)
        store.import_hashset(read_hashset(str(tmp / f"v{n}.txt"), "txt"), name="pv",
                             source_path=str(tmp / f"v{n}.txt"), known_good=False)
    f = findings(case)
    assert f["old.jpg"]["finding"] == "known"  # the old report: matched against v1
    # ... are applied by `haven rematch`
    out = run("rematch", "--case", case)
    assert "pv v1→v3" in out and "known -> fresh: 1" in out
    old = findings(case)["old.jpg"]
    assert old["finding"] == "fresh" and old["matches"] == []
    [h] = old["history"]
    assert (h["from"], h["to"]) == ("known", "fresh")
    assert "pv v1→v3: md5 match no longer listed" in h["reason"]
    # nothing changed since: a second run checks nothing
    assert "0 item(s) checked" in run("rematch", "--case", case)


def test_reimport_as_known_good_moves_the_finding(seized):
    tmp, case, _data = seized
    run("hashsets", "import", tmp / "v1.txt", "--name", "pv", "--case", case, "--format", "txt",
        "--known-good")
    old = findings(case)["old.jpg"]
    assert old["finding"] == "known-good"
    assert old["matches"][0]["known_good"] is True and old["matches"][0]["hashset_version"] == 2


def test_add_media_after_the_scan_finds_an_edited_copy_from_stored_hashes(tmp_path):
    original = make_image(500, (800, 600))
    ev = tmp_path / "ev"
    ev.mkdir()
    w, h = original.size
    cropped = original.crop((int(w * 0.07), int(h * 0.03), int(w * 0.95), int(h * 0.92)))
    (ev / "cropped.jpg").write_bytes(jpeg_bytes(cropped, 80))
    (ev / "other.jpg").write_bytes(jpeg_bytes(make_image(900, (800, 600)), 80))
    case = tmp_path / "case"
    run("scan", ev, "--case", case, "--workers", "1")
    assert findings(case)["cropped.jpg"]["finding"] == "fresh"
    shutil.rmtree(ev)

    known = tmp_path / "known"
    known.mkdir()
    (known / "k.jpg").write_bytes(jpeg_bytes(original, 92))
    run("hashsets", "add-media", known, "--name", "rose", "--series", "ROSE", "--case", case)
    f = findings(case)
    item = f["cropped.jpg"]
    assert item["finding"] == "near-known"
    [m] = item["matches"]
    assert (m["hashset"], m["hashset_version"], m["series"], m["signal_type"]) == (
        "rose", 1, "ROSE", "pdq")
    assert m["matched_signal"]  # which enrolled window matched, as a scan reports it
    assert f["other.jpg"]["finding"] == "fresh"
    assert (case / "queries").is_dir()  # the items' query hashes were searched, not re-read

    # the same name re-enrolled from other media: the copy is fresh again
    shutil.rmtree(known)
    known.mkdir()
    (known / "z.jpg").write_bytes(jpeg_bytes(make_image(901, (800, 600)), 92))
    run("hashsets", "add-media", known, "--name", "rose", "--case", case)
    item = findings(case)["cropped.jpg"]
    assert item["finding"] == "fresh"
    assert "rose v1→v2: pdq match no longer listed" in item["history"][-1]["reason"]


def _photo(name: str, quality: int = 92) -> bytes:
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(getattr(data, name)()).convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _csv(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["md5", "pdq", "category", "series"])
        w.writerows(rows)


def test_a_library_feed_and_its_retraction_follow_into_the_case(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    exact, copy = _photo("coffee"), _photo("chelsea", quality=40)
    (ev / "a.jpg").write_bytes(exact)
    (ev / "b.jpg").write_bytes(copy)
    lib = tmp_path / "national"
    run("library", "create", lib)
    _csv(tmp_path / "base.csv", [[md5(b"unrelated"), "", "1", ""]])
    run("library", "import", lib, tmp_path / "base.csv", "--name", "base", "--format", "csv")
    case = tmp_path / "case"
    run("scan", ev, "--case", case, "--library", lib, "--workers", "1")
    assert {f["finding"] for f in findings(case).values()} == {"fresh"}
    shutil.rmtree(ev)

    # a feed arrives in the library: exact MD5 of a.jpg, PDQ of the original of b.jpg
    _csv(tmp_path / "feed.csv", [[md5(exact), "", "2", "ROSE"],
                                  ["", pdq_from_bytes(_photo("chelsea")).hex, "1", ""]])
    run("library", "import", lib, tmp_path / "feed.csv", "--name", "feed", "--format", "csv")
    out = run("rematch", "--case", case)  # the library the case was scanned with is used
    assert "feed (new)→v1" in out
    f = findings(case)
    assert f["a.jpg"]["finding"] == "known" and f["b.jpg"]["finding"] == "near-known"
    m = f["a.jpg"]["matches"][0]
    assert (m["hashset"], m["hashset_version"], m["series"]) == ("feed", 1, "ROSE")

    # the feed retracts a.jpg's entry
    (tmp_path / "tomb.txt").write_text(md5(exact) + "\n")
    run("library", "retract", lib, tmp_path / "tomb.txt", "--name", "feed", "--format", "txt")
    out = run("report", "--case", case)  # report re-matches too
    assert "known -> fresh: 1" in out
    f = findings(case)
    assert f["a.jpg"]["finding"] == "fresh" and f["b.jpg"]["finding"] == "near-known"
    assert "feed v1→v1: md5 match no longer listed" in f["a.jpg"]["history"][-1]["reason"]


def test_summary_and_report_say_when_and_against_which_versions(seized):
    tmp, case, data = seized
    summary = json.loads((case / "summary.json").read_text())
    assert summary["matched_at"]
    assert summary["matched_sets"] == [
        {"name": "pv", "version": 1, "current_version": 1, "current": True,
         "matched_at": summary["matched_at"]}]
    assert summary["findings_changed_after_scan"] == 0
    # a new version stored without re-matching is reported as not followed yet
    (tmp / "v2.txt").write_text(md5(data["new.jpg"]) + "\n")
    store = CaseStore(case)
    store.import_hashset(read_hashset(str(tmp / "v2.txt"), "txt"), name="pv",
                         source_path=str(tmp / "v2.txt"), known_good=False)
    from haven.report.findings import write_reports

    summary = write_reports(store)
    assert summary["matched_sets"][0]["version"] == 1
    assert summary["matched_sets"][0]["current"] is False
    assert "run <code>haven rematch</code>" in (case / "report.html").read_text()
    run("rematch", "--case", case)
    summary = json.loads((case / "summary.json").read_text())
    assert summary["matched_sets"][0]["version"] == 2 and summary["matched_sets"][0]["current"]
    assert summary["findings_changed_after_scan"] == 2
    html = (case / "report.html").read_text()
    assert "against\npv v2" in html and "pv v2: new md5 match" in html


def test_findings_csv_has_readable_match_columns_and_deleted_carved(seized):
    tmp, case, data = seized
    (tmp / "cat.csv").write_text(f"md5,category,series\n{md5(data['new.jpg'])},1,ROSE\n")
    run("hashsets", "import", tmp / "cat.csv", "--name", "icse", "--case", case,
        "--format", "csv", "--scheme", "baseline")
    with open(case / "findings.csv", newline="") as fh:
        rows = {r["path"].rsplit("/", 1)[-1]: r for r in csv.DictReader(fh)}
    new = rows["new.jpg"]
    assert "matches" not in new and new["deleted"] == "False" and new["carved"] == "False"
    assert (new["match_set"], new["match_kind"], new["match_distance"], new["match_category"],
            new["match_series"]) == ("icse v1", "md5", "0", "baseline:1", "ROSE")
    assert rows["old.jpg"]["match_set"] == "pv v1"
    for row in rows.values():
        assert not any(v.startswith(("[", "{")) for v in row.values())


def test_findings_csv_marks_deleted_and_carved_items(tmp_path):
    from haven.report.findings import CSV_COLUMNS, csv_row

    base = {"path": "d/x.jpg", "size": 1, "mime": None, "extension_mismatch": False,
            "md5": None, "sha1": None, "sha256": None, "pdq": None, "pdq_quality": None,
            "finding": "other", "matches": [], "error": None, "notes": ["a", "b"],
            "paths": ["d/x.jpg"]}
    row = dict(zip(CSV_COLUMNS, csv_row({**base, "flags": {"deleted": True}})))
    assert (row["deleted"], row["carved"], row["notes"]) == ("True", "False", "a; b")
    row = dict(zip(CSV_COLUMNS, csv_row({**base, "flags": {"carved": True}})))
    assert (row["deleted"], row["carved"]) == ("False", "True")


def test_a_case_store_from_before_rematching_opens_and_rematches(seized):
    tmp, case, data = seized
    db = case / "case.db"
    with sqlite3.connect(db) as con:  # make it look like an older haven's store
        con.execute("DROP TABLE item_queries")
        con.execute("DROP TABLE matched_sets")
        con.execute("DROP TABLE finding_changes")
        con.execute("DROP INDEX ix_items_md5")
        con.execute("DROP INDEX ix_matches_entry")
        con.execute("ALTER TABLE matches DROP COLUMN hashset_version")
    shutil.rmtree(case / "queries", ignore_errors=True)
    store = CaseStore(case)
    with sqlite3.connect(db) as con:
        cols = {r[1] for r in con.execute("PRAGMA table_info(matches)")}
        assert "hashset_version" in cols
        assert con.execute("SELECT source FROM item_queries").fetchall() == [("pdq",), ("pdq",)]
    store.close()
    (tmp / "v2.txt").write_text(md5(data["new.jpg"]) + "\n")
    out = run("hashsets", "import", tmp / "v2.txt", "--name", "pv", "--case", case,
              "--format", "txt")
    assert "pv (new)→v2" in out  # never matched with versions: everything looked up again
    f = findings(case)
    assert f["new.jpg"]["finding"] == "known" and f["old.jpg"]["finding"] == "fresh"
    assert "pv an earlier version→v2" in f["old.jpg"]["history"][0]["reason"]


def test_rematch_refuses_a_directory_that_is_not_a_case_in_one_line(tmp_path):
    r = runner.invoke(app, ["rematch", "--case", str(tmp_path)])
    assert r.exit_code == 2
    text = " ".join(r.output.split())
    assert "not a haven case" in text and "Traceback" not in text
    assert "Example: haven rematch --case" in runner.invoke(app, ["rematch", "--help"]).output


def test_sets_imported_after_the_scan_give_what_a_scan_after_them_gives(tmp_path):
    """Videos and images, exact and near, known videos and stills: importing the sets after
    the scan ends where importing them before it does (one decision path)."""
    import zipfile

    from haven.hashsets.formats.vpdq_text import write_vpdq_text
    from haven.signals.pdq import pdq_from_image
    from haven.signals.vpdq import vpdq_from_path
    from videogen import RATE, encode, render

    known = encode(tmp_path / "known.mp4", (render(1, n / RATE) for n in range(20 * RATE)))
    known_dir = tmp_path / "known-videos"
    known_dir.mkdir()
    write_vpdq_text(vpdq_from_path(known).frames, known_dir / "known-video-1.txt")
    still = render(7, 0.0)
    (tmp_path / "stills.csv").write_text(
        "pdq\n" + pdq_from_image(Image.fromarray(still), fast=False).hex + "\n")
    photo = make_image(3, (640, 480))
    (tmp_path / "photos.txt").write_text(md5(jpeg_bytes(photo, 80)) + "\n")
    ev = tmp_path / "ev"
    ev.mkdir()
    clip = encode(tmp_path / "clip.mp4", (render(1, n / RATE) for n in range(6 * RATE, 12 * RATE)),
                  crf=30)
    with zipfile.ZipFile(ev / "backup.zip", "w") as z:
        z.write(clip, "movies/holiday.dat")
    encode(ev / "other.mp4", (render(2, n / RATE) for n in range(6 * RATE)))
    encode(ev / "shows-still.mkv", [still] * (3 * RATE) + [render(3, n / RATE) for n in range(3 * RATE)])
    Image.fromarray(still).save(ev / "still.png")
    (ev / "photo.jpg").write_bytes(jpeg_bytes(photo, 80))
    (ev / "note.txt").write_text("hello\n")

    def import_sets(case):
        run("hashsets", "import", known_dir, "--name", "videos", "--format", "vpdq", "--case", case)
        run("hashsets", "import", tmp_path / "stills.csv", "--name", "stills", "--case", case)
        run("hashsets", "import", tmp_path / "photos.txt", "--name", "photos", "--case", case,
            "--format", "txt")

    before, after = tmp_path / "before", tmp_path / "after"
    import_sets(before)
    run("scan", ev, "--case", before, "--workers", "1")
    run("scan", ev, "--case", after, "--workers", "1")
    assert {f["finding"] for f in findings(after).values()} <= {"fresh", "other"}
    import_sets(after)

    def key(f):
        return (f["finding"], sorted((m["hashset"], m["signal_type"], m["distance"],
                                      m["matched_signal"], m["query_share"], m["known_share"])
                                     for m in f["matches"]))

    want = {p: key(f) for p, f in findings(before).items()}
    got = {p: key(f) for p, f in findings(after).items()}
    assert got == want
    assert want["holiday.dat"][0] == "near-known" and want["shows-still.mkv"][0] == "near-known"
    assert want["photo.jpg"][0] == "known" and want["still.png"][0] == "near-known"


def test_rematch_with_a_library_the_case_was_not_scanned_with_attaches_it(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    exact = _photo("coffee")
    (ev / "a.jpg").write_bytes(exact)
    case = tmp_path / "case"
    run("scan", ev, "--case", case, "--workers", "1")
    shutil.rmtree(ev)
    lib = tmp_path / "national"
    run("library", "create", lib)
    _csv(tmp_path / "n.csv", [[md5(exact), "", "1", ""]])
    run("library", "import", lib, tmp_path / "n.csv", "--name", "national", "--format", "csv")
    assert "0 item(s) checked" in " ".join(run("rematch", "--case", case).split())
    out = " ".join(run("rematch", "--case", case, "--library", lib).split())
    assert "national (new)→v1" in out and "fresh -> known: 1" in out
    a = findings(case)["a.jpg"]
    assert a["finding"] == "known" and a["matches"][0]["hashset"] == "national"
    summary = json.loads((case / "summary.json").read_text())
    assert {"name": "national", "version": 1, "current_version": 1, "current": True,
            "matched_at": summary["matched_at"]} in summary["matched_sets"]


def test_rematch_all_looks_everything_up_again_and_lands_where_it_was(seized):
    _tmp, case, _data = seized
    before = findings(case)
    out = " ".join(run("rematch", "--case", case, "--all").split())
    assert "1 item(s) checked" in out and "0 finding(s) changed" in out  # old.jpg: its match
    assert "Re-matched (every entry of pv v1)" in out and "(new)" not in out  # nothing is new
    after = findings(case)
    assert {p: (f["finding"], f["matches"]) for p, f in after.items()} == {
        p: (f["finding"], f["matches"]) for p, f in before.items()}
    assert all(f["history"] == [] for f in after.values())


def test_a_damaged_library_the_case_used_does_not_fail_an_import(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    photo = jpeg_bytes(make_image(4, (200, 150)), 80)
    (ev / "p.jpg").write_bytes(photo)
    lib = tmp_path / "national"
    run("library", "create", lib)
    _csv(tmp_path / "n.csv", [[md5(b"unrelated"), "", "1", ""]])
    run("library", "import", lib, tmp_path / "n.csv", "--name", "national", "--format", "csv")
    case = tmp_path / "case"
    run("scan", ev, "--case", case, "--library", lib, "--workers", "1")
    (lib / "pdq" / "manifest.json").write_text("{damaged")
    (tmp_path / "s.txt").write_text(md5(photo) + "\n")
    r = runner.invoke(app, ["hashsets", "import", str(tmp_path / "s.txt"), "--name", "pv",
                            "--case", str(case), "--format", "txt"])
    text = " ".join(r.output.split())
    assert r.exit_code == 0, r.output
    assert "not used for re-matching" in text and "national" in text
    assert findings(case)["p.jpg"]["finding"] == "known"
