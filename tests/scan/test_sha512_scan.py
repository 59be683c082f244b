"""A scan computes SHA-512, in the same read as the other digests, only when the hash sets it
matches against hold a SHA-512 value; an item listed by SHA-512 alone is then found exactly
like an MD5 or SHA-256 match."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from haven.cli import app
from haven.demo import jpeg_bytes, make_image
from haven.scan import pipeline
from haven.scan.analyse import analyse
from haven.scan.pipeline import ScanOptions, scan
from haven.signals.digests import THREADED_ABOVE
from haven.store.case import CaseStore


def run(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


@pytest.mark.parametrize("size", [1000, THREADED_ABOVE + 12345])  # one loop, two threads
def test_analyse_computes_sha512_only_when_asked(tmp_path: Path, size: int):
    blob = tmp_path / "blob.bin"
    content = hashlib.shake_256(b"benign").digest(size)
    blob.write_bytes(content)
    plain = analyse("blob.bin", fs_path=str(blob))
    asked = analyse("blob.bin", fs_path=str(blob), extra_digests=("sha512",))
    assert plain.extra_digests == {}
    assert asked.extra_digests == {"sha512": hashlib.sha512(content).hexdigest()}
    assert (asked.md5, asked.sha1, asked.sha256, asked.size) == (
        plain.md5, plain.sha1, plain.sha256, plain.size) == (
        hashlib.md5(content).hexdigest(), hashlib.sha1(content).hexdigest(),
        hashlib.sha256(content).hexdigest(), size)
    photo = analyse("a.jpg", data=jpeg_bytes(make_image(4, (64, 48))), extra_digests=("sha512",))
    assert len(photo.extra_digests["sha512"]) == 128 and photo.pdq


def _seizure(root: Path) -> tuple[Path, bytes]:
    root.mkdir()
    listed = jpeg_bytes(make_image(11, (320, 240)))
    (root / "listed.jpg").write_bytes(listed)
    (root / "other.jpg").write_bytes(jpeg_bytes(make_image(12, (320, 240))))
    (root / "note.txt").write_bytes(b"benign text, listed nowhere\n")
    return root, listed


def _recording(monkeypatch) -> list:
    """The analyses a one-worker scan (analysed in this process) makes."""
    seen = []

    def recorded(path, **kwargs):
        result = analyse(path, **kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr(pipeline, "analyse", recorded)
    return seen


def _findings(case: Path) -> dict:
    with open(case / "findings.jsonl") as fh:
        return {(row := json.loads(line))["path"]: row for line in fh}


def test_a_sha512_only_hash_set_finds_the_item(tmp_path: Path, monkeypatch):
    ev, listed = _seizure(tmp_path / "seizure")
    listing = tmp_path / "partner.csv"
    listing.write_text("sha512,category\n"
                       f"{hashlib.sha512(listed).hexdigest()},1\n"
                       f"{hashlib.sha512(b'never seen').hexdigest()},1\n")
    case = tmp_path / "case"
    run("hashsets", "import", listing, "--name", "partner", "--case", case)
    seen = _recording(monkeypatch)
    run("scan", ev, "--case", case, "--workers", "1")
    assert len(seen) == 3 and all(len(a.extra_digests["sha512"]) == 128 for a in seen)
    f = _findings(case)
    assert {p: r["finding"] for p, r in f.items()} == {
        "seizure/listed.jpg": "known", "seizure/other.jpg": "fresh", "seizure/note.txt": "other"}
    [m] = f["seizure/listed.jpg"]["matches"]
    assert (m["signal_type"], m["hashset"], m["distance"]) == ("sha512", "partner", 0)
    # the same keys on every finding: nothing renamed; the SHA-512 the scan computed is given
    assert f["seizure/listed.jpg"].keys() == f["seizure/other.jpg"].keys()
    assert f["seizure/listed.jpg"]["sha512"] == hashlib.sha512(listed).hexdigest()
    assert f["seizure/listed.jpg"]["md5"] == hashlib.md5(listed).hexdigest()


def test_a_case_without_sha512_entries_does_not_compute_it(tmp_path: Path, monkeypatch):
    ev, listed = _seizure(tmp_path / "seizure")
    listing = tmp_path / "partner.csv"
    listing.write_text(f"md5,category\n{hashlib.md5(listed).hexdigest()},1\n")
    case = tmp_path / "case"
    run("hashsets", "import", listing, "--name", "partner", "--case", case)
    seen = _recording(monkeypatch)
    progress = scan([str(ev)], CaseStore(case), ScanOptions(workers=1))
    assert progress.extra_digests == ()
    assert len(seen) == 3 and all(a.extra_digests == {} for a in seen)
    assert progress.counts == {"known": 1, "fresh": 1, "other": 1}

    empty = tmp_path / "empty"  # no hash sets at all
    progress = scan([str(ev)], CaseStore(empty, create=True), ScanOptions(workers=1))
    assert progress.extra_digests == () and len(seen) == 6
    assert all(a.extra_digests == {} for a in seen[3:])
