"""A hash-only list imported after the scan gets the framing hypotheses (crops, banners,
logos, captions) for the items scanned before, from what the scan kept per item
(`haven.store.hypotheses`): the same finding, tag and distance as a rescan; an older case
without that data re-matches as before and says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from haven.cli import app
from haven.demo import jpeg_bytes, make_image
from haven.signals import pdq
from haven.store.hypotheses import FILE_NAME, HypothesisStore


def run(*args) -> str:
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def _findings(case: Path) -> dict:
    with open(case / "findings.jsonl") as fh:
        return {(row := json.loads(line))["path"].rsplit("/", 1)[-1]: row for line in fh}


def _seizure(tmp_path: Path) -> tuple[Path, Path]:
    """cropped.jpg: a copy of a generated picture cut 6/5/4/7 % (left/right/top/bottom);
    other.jpg: an unrelated one; and a hash-only list holding the original's PDQ alone."""
    ev = tmp_path / "seizure"
    ev.mkdir()
    w, h = 800, 600
    original = make_image(700, (w, h))
    cropped = original.crop((int(0.06 * w), int(0.04 * h), int(0.95 * w), int(0.93 * h)))
    (ev / "cropped.jpg").write_bytes(jpeg_bytes(cropped, 85))
    (ev / "other.jpg").write_bytes(jpeg_bytes(make_image(990, (w, h)), 85))
    listing = tmp_path / "hash-only.csv"
    listing.write_text(f"pdq;category\n{pdq.pdq_from_bytes(jpeg_bytes(original, 92)).hex};1\n")
    return ev, listing


def _pdq_match(finding: dict) -> tuple:
    [m] = finding["matches"]
    return m["signal_type"], m["matched_signal"], m["distance"], m["hashset"]


def test_a_hash_only_list_imported_after_the_scan_finds_the_crop_as_a_rescan_does(tmp_path):
    ev, listing = _seizure(tmp_path)
    case = tmp_path / "case"
    run("scan", ev, "--case", case, "--workers", "1")  # no list at all
    assert {k: f["finding"] for k, f in _findings(case).items()} == {
        "cropped.jpg": "fresh", "other.jpg": "fresh"}
    with HypothesisStore(case, create=False) as kept:
        assert len(kept) == 2  # both images trusted: both kept
    evidence_copy = tmp_path / "kept-aside"
    shutil.copytree(ev, evidence_copy)
    shutil.rmtree(ev)  # what changes now comes from the stored data alone

    out = run("hashsets", "import", listing, "--name", "partner", "--case", case)
    assert "fresh -> near-known: 1" in out and "no hypothesis data kept" not in out
    after = _findings(case)
    assert after["other.jpg"]["finding"] == "fresh"
    cropped = after["cropped.jpg"]
    assert cropped["finding"] == "near-known"
    kind, tag, distance, hashset = _pdq_match(cropped)
    assert kind == "pdq" and hashset == "partner" and tag.startswith("pdq@")
    assert f"partner v1: new pdq d={distance} match" in cropped["history"][0]["reason"]

    # the same list imported before a scan of the same evidence: the same match
    fresh_case = tmp_path / "rescanned"
    run("hashsets", "import", listing, "--name", "partner", "--case", fresh_case)
    run("scan", evidence_copy, "--case", fresh_case, "--workers", "1")
    again = _findings(fresh_case)
    assert again["cropped.jpg"]["finding"] == "near-known"
    assert _pdq_match(again["cropped.jpg"]) == (kind, tag, distance, hashset)
    assert again["other.jpg"]["finding"] == "fresh"


def test_an_older_case_without_hypothesis_data_rematches_as_before_and_says_so(tmp_path):
    ev, listing = _seizure(tmp_path)
    case = tmp_path / "case"
    run("scan", ev, "--case", case, "--workers", "1")
    (case / FILE_NAME).unlink()  # as a case scanned before the data was kept
    out = run("hashsets", "import", listing, "--name", "partner", "--case", case)
    assert "2 item(s) have no hypothesis data kept" in out
    assert "haven scan --rehash" in out
    assert _findings(case)["cropped.jpg"]["finding"] == "fresh"  # plain PDQ misses the crop
    # a rescan that analyses them again keeps the data, and the hypotheses find the crop
    run("scan", ev, "--case", case, "--workers", "1", "--rehash")
    assert _findings(case)["cropped.jpg"]["finding"] == "near-known"
    with HypothesisStore(case, create=False) as kept:
        assert len(kept) == 2


def test_over_the_framing_cap_rematching_runs_no_hypotheses_as_a_scan(tmp_path, monkeypatch):
    from haven.match import framing

    ev, listing = _seizure(tmp_path)
    case = tmp_path / "case"
    run("scan", ev, "--case", case, "--workers", "1")
    monkeypatch.setattr(framing, "MAX_ROWS", 0)  # the case's one PDQ is over the cap
    out = run("hashsets", "import", listing, "--name", "partner", "--case", case)
    assert "no hypothesis data kept" not in out
    assert _findings(case)["cropped.jpg"]["finding"] == "fresh"
    # a scan over the cap does not find it either
    rescanned = tmp_path / "rescanned"
    run("hashsets", "import", listing, "--name", "partner", "--case", rescanned)
    run("scan", ev, "--case", rescanned, "--workers", "1")
    assert _findings(rescanned)["cropped.jpg"]["finding"] == "fresh"


def test_no_keep_hypotheses_keeps_nothing_but_a_scan_against_a_list_still_searches_them(tmp_path):
    ev, listing = _seizure(tmp_path)
    # the list in the case already: the hypotheses are computed and searched, not kept
    case = tmp_path / "with-list"
    run("hashsets", "import", listing, "--name", "partner", "--case", case)
    run("scan", ev, "--case", case, "--workers", "1", "--no-keep-hypotheses")
    assert _findings(case)["cropped.jpg"]["finding"] == "near-known"
    if (case / FILE_NAME).exists():
        with HypothesisStore(case, create=False) as kept:
            assert len(kept) == 0
    # no list: nothing kept, so a list imported later finds the crop only after a rescan
    bare = tmp_path / "bare"
    run("scan", ev, "--case", bare, "--workers", "1", "--no-keep-hypotheses")
    out = run("hashsets", "import", listing, "--name", "partner", "--case", bare)
    assert "2 item(s) have no hypothesis data kept" in out
    assert _findings(bare)["cropped.jpg"]["finding"] == "fresh"
    run("scan", ev, "--case", bare, "--workers", "1", "--rehash")  # keeps it by default
    assert _findings(bare)["cropped.jpg"]["finding"] == "near-known"


def test_a_rescan_without_keeping_drops_what_an_earlier_analysis_kept(tmp_path):
    ev, _ = _seizure(tmp_path)
    case = tmp_path / "case"
    run("scan", ev, "--case", case, "--workers", "1")
    with HypothesisStore(case, create=False) as kept:
        assert len(kept) == 2
    run("scan", ev, "--case", case, "--workers", "1", "--rehash", "--no-keep-hypotheses")
    with HypothesisStore(case, create=False) as kept:
        assert len(kept) == 0  # stale data of items analysed again is not left behind
