"""A rescan notices changed content: items are keyed on their stamp (file size/mtime/ctime/
inode, archive member CRC/size/time), a changed item is analysed again and its earlier
finding kept in `history`; unchanged items are skipped without being read; --rehash analyses
everything again."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import tarfile
import zipfile

import py7zr
import pytest
from typer.testing import CliRunner

from haven.cli import app
from haven.demo import jpeg_bytes, make_image
from haven.scan.pipeline import ScanOptions, scan
from haven.store.case import CaseStore


def _jpeg(seed: int) -> bytes:
    return jpeg_bytes(make_image(seed, (160, 120)), 80)


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _findings(case) -> dict[str, dict]:
    with open(case / "findings.jsonl") as fh:
        return {f["path"]: f for f in map(json.loads, fh)}


def _history(store) -> dict[str, list[dict]]:
    """Each item's non-empty history, as findings.jsonl gives it."""
    from haven.report.findings import iter_findings

    return {f["path"]: f["history"] for f in iter_findings(store) if f["history"]}


def _cli(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return " ".join(r.output.split())


def test_an_overwritten_file_is_analysed_again_and_its_old_finding_kept_in_history(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    old, new = _jpeg(1), _jpeg(2)
    (ev / "a.jpg").write_bytes(old)
    (ev / "b.jpg").write_bytes(_jpeg(3))
    known = tmp_path / "known.txt"
    known.write_text(_md5(old) + "\n")
    case = tmp_path / "case"
    _cli("hashsets", "import", known, "--name", "known", "--case", case)
    _cli("scan", ev, "--case", case, "--workers", "1")
    first = _findings(case)["ev/a.jpg"]
    assert first["finding"] == "known" and first["history"] == []

    (ev / "a.jpg").write_bytes(new)  # overwritten in place: same name, same inode
    output = _cli("scan", ev, "--case", case, "--workers", "1")
    assert "skipped 1" in output and "changed 1" in output  # b.jpg skipped, a.jpg analysed
    found = _findings(case)
    a = found["ev/a.jpg"]
    assert a["md5"] == _md5(new) and a["finding"] == "fresh"
    assert len(a["history"]) == 1
    change = a["history"][0]
    assert (change["cause"], change["from"], change["to"]) == ("rescan", "known", "fresh")
    earlier = change["earlier"]
    assert earlier["md5"] == _md5(old) and earlier["trigger"] == "changed"
    assert [(m["hashset"], m["hashset_version"]) for m in earlier["matches"]] == [("known", 1)]
    assert earlier["stamp"]["size"] == len(old)
    assert any("supersedes the finding" in n for n in a["notes"])
    assert found["ev/b.jpg"]["history"] == []
    assert len(found) == 2  # superseded, not duplicated
    # re-matching searches the item with the new picture's hashes only
    with sqlite3.connect(case / "case.db") as con:
        sources = con.execute("select q.source from item_queries q join items i on i.id = q.item_id"
                              " where i.path = 'ev/a.jpg'").fetchall()
    assert sources == [("query",)]


def test_a_change_that_keeps_size_and_mtime_is_caught_by_ctime(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    target = ev / "a.txt"
    target.write_bytes(b"first version\n")
    case = tmp_path / "case"
    _cli("scan", ev, "--case", case, "--workers", "1")
    st = target.stat()
    target.write_bytes(b"other version\n")  # same size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back, as tools can
    assert target.stat().st_mtime_ns == st.st_mtime_ns
    _cli("scan", ev, "--case", case, "--workers", "1")
    f = _findings(case)["ev/a.txt"]
    assert f["md5"] == _md5(b"other version\n")
    assert f["history"][0]["earlier"]["md5"] == _md5(b"first version\n")


def test_an_unchanged_rescan_reads_no_content(tmp_path, monkeypatch):
    ev = tmp_path / "ev"
    ev.mkdir()
    for i in range(4):
        (ev / f"{i}.jpg").write_bytes(_jpeg(i))
    (ev / "pack.zip").write_bytes(_zip({"x.jpg": _jpeg(9), "y.txt": b"y\n"}))
    store = CaseStore(tmp_path / "case", create=True)
    first = scan([str(ev)], store, ScanOptions(workers=1))
    assert first.items == 7 and first.skipped == 0

    import haven.scan.pipeline as pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("an unchanged item was analysed again")

    monkeypatch.setattr(pipeline, "analyse", refuse)
    again = scan([str(ev)], store, ScanOptions(workers=1))
    assert (again.items, again.skipped, again.changed) == (0, 7, 0)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, (2026, 1, 2, 3, 4, 6)), data)
    return buffer.getvalue()


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_760_000_000 + len(data)
            t.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _7z(members: dict[str, bytes]) -> bytes:
    # from files, as 7-Zip does: each member keeps its file's mtime (writestr stamps "now")
    import tempfile

    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as stage, py7zr.SevenZipFile(buffer, "w") as z:
        for name, data in members.items():
            path = os.path.join(stage, name)
            with open(path, "wb") as fh:
                fh.write(data)
            os.utime(path, (1_760_000_000, 1_760_000_000 + len(data)))
            z.write(path, name)
    return buffer.getvalue()


@pytest.mark.parametrize("kind,build", [("zip", _zip), ("tgz", _tar), ("7z", _7z)])
def test_a_changed_archive_member_is_analysed_again_and_the_unchanged_ones_are_not(
        tmp_path, kind, build):
    ev = tmp_path / "ev"
    ev.mkdir()
    keep, old, new = _jpeg(11), _jpeg(12), _jpeg(13) + b"\0" * 7  # new: another size too
    archive = ev / f"pack.{kind}"
    archive.write_bytes(build({"keep.jpg": keep, "photo.jpg": old}))
    store = CaseStore(tmp_path / "case", create=True)
    scan([str(ev)], store, ScanOptions(workers=1))

    archive.write_bytes(build({"keep.jpg": keep, "photo.jpg": new}))
    again = scan([str(ev)], store, ScanOptions(workers=1))
    # the archive file itself and the changed member; keep.jpg (same CRC/size/time) skipped
    assert again.changed == 2 and again.skipped == 1, again
    with sqlite3.connect(store.dir / "case.db") as con:
        rows = dict(con.execute("select path, md5 from items"))
    history = _history(store)
    assert rows[f"ev/pack.{kind}/photo.jpg"] == _md5(new)
    assert [h["earlier"]["md5"] for h in history[f"ev/pack.{kind}/photo.jpg"]] == [_md5(old)]
    assert f"ev/pack.{kind}/keep.jpg" not in history
    assert len(rows) == 3


def test_rehash_analyses_everything_again_and_adds_history_only_for_changed_content(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    for i in range(3):
        (ev / f"{i}.jpg").write_bytes(_jpeg(20 + i))
    case = tmp_path / "case"
    _cli("scan", ev, "--case", case, "--workers", "1")
    output = _cli("scan", ev, "--case", case, "--workers", "1", "--rehash")
    assert "skipped 0" in output and "changed 3" in output
    assert all(f["history"] == [] for f in _findings(case).values())
    output = _cli("scan", ev, "--case", case, "--workers", "1")
    assert "skipped 3" in output and "changed 0" in output


def test_rehash_finds_a_change_the_stamp_cannot_see(tmp_path):
    # A tar member rewritten with the same size and mtime has the same stamp: only
    # --rehash (which reads everything) can notice it. This is the documented limit.
    ev = tmp_path / "ev"
    ev.mkdir()
    archive = ev / "t.tgz"
    archive.write_bytes(_tar({"a.txt": b"AAAA\n"}))
    store = CaseStore(tmp_path / "case", create=True)
    scan([str(ev)], store, ScanOptions(workers=1))
    archive.write_bytes(_tar({"a.txt": b"BBBB\n"}))
    plain = scan([str(ev)], store, ScanOptions(workers=1))
    assert plain.changed == 1  # the .tgz file itself; its member looks the same
    forced = scan([str(ev)], store, ScanOptions(workers=1, rehash=True))
    assert forced.changed == 2
    with sqlite3.connect(store.dir / "case.db") as con:
        md5 = con.execute("select md5 from items where path = 'ev/t.tgz/a.txt'").fetchone()[0]
    assert md5 == _md5(b"BBBB\n")
    entry = _history(store)["ev/t.tgz/a.txt"][-1]["earlier"]
    assert entry["md5"] == _md5(b"AAAA\n") and entry["trigger"] == "rehash"


def test_a_case_made_before_stamps_is_analysed_once_then_resumes_cheaply(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "a.jpg").write_bytes(_jpeg(30))
    store = CaseStore(tmp_path / "case", create=True)
    scan([str(ev)], store, ScanOptions(workers=1))
    with sqlite3.connect(store.dir / "case.db") as con:  # as an older haven left it
        con.execute("update items set stamp = null, analysed_at = null")
    upgraded = scan([str(ev)], store, ScanOptions(workers=1))
    assert upgraded.changed == 1
    with sqlite3.connect(store.dir / "case.db") as con:
        stamp = con.execute("select stamp from items").fetchone()[0]
    assert json.loads(stamp)["size"] == (ev / "a.jpg").stat().st_size
    assert _history(store) == {}  # same content: nothing superseded
    assert scan([str(ev)], store, ScanOptions(workers=1)).skipped == 1


def test_a_changed_top_level_evidence_file_is_hashed_again(tmp_path):
    archive = tmp_path / "stick.zip"
    archive.write_bytes(_zip({"a.txt": b"a\n"}))
    case = tmp_path / "case"
    _cli("scan", archive, "--case", case, "--workers", "1")
    first = json.loads((case / "summary.json").read_text())["seizures"][0]
    archive.write_bytes(_zip({"a.txt": b"b\n"}))
    _cli("scan", archive, "--case", case, "--workers", "1")
    second = json.loads((case / "summary.json").read_text())["seizures"][0]
    assert second["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert second["history"][0]["sha256"] == first["sha256"]



def test_an_item_gone_from_the_evidence_is_flagged_missing_and_analysed_again_if_it_returns(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "keep.jpg").write_bytes(_jpeg(40))
    (ev / "gone.jpg").write_bytes(_jpeg(41))
    (ev / "pack.zip").write_bytes(_zip({"x.txt": b"x\n", "y.txt": b"y\n"}))
    case = tmp_path / "case"
    _cli("scan", ev, "--case", case, "--workers", "1")
    moved = (ev / "gone.jpg").read_bytes()
    (ev / "gone.jpg").unlink()
    (ev / "pack.zip").write_bytes(_zip({"x.txt": b"x\n"}))
    output = _cli("scan", ev, "--case", case, "--workers", "1")
    assert "missing 2" in output
    found = _findings(case)
    for path in ("ev/gone.jpg", "ev/pack.zip/y.txt"):
        assert found[path]["flags"].get("missing") is True, path
        assert found[path]["finding"] in ("fresh", "other")  # the finding is kept
        assert any("not found when the evidence was scanned again" in n for n in found[path]["notes"])
    assert not found["ev/keep.jpg"]["flags"].get("missing")
    assert "missing" not in _cli("scan", ev, "--case", case, "--workers", "1")  # flagged once

    (ev / "gone.jpg").write_bytes(moved)  # back again
    _cli("scan", ev, "--case", case, "--workers", "1")
    back = _findings(case)["ev/gone.jpg"]
    assert not back["flags"].get("missing") and back["md5"] == _md5(moved)
    assert not any("not found" in n for n in back["notes"]) and back["history"] == []
