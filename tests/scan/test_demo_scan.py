"""End to end on the bundled demo: every finding kind, nested paths, reports."""

import csv
import json

import pytest
from typer.testing import CliRunner

from haven.cli import app
from haven.demo import build_demo


def _snapshot(root):
    """Every path under root with its bytes' SHA-256, size, mode and modification time."""
    import hashlib

    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None,
                                   p.stat().st_size, p.stat().st_mode, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture(scope="module")
def demo_case(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    paths = build_demo(out)
    before = _snapshot(paths["evidence"])
    runner = CliRunner()
    for name, file, extra in paths["hashsets"]:
        r = runner.invoke(app, ["hashsets", "import", str(file), "--name", name, "--case", str(paths["case"]), *extra])
        assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["scan", str(paths["evidence"]), "--case", str(paths["case"]), "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert _snapshot(paths["evidence"]) == before, "the scan changed the evidence"
    findings = {}
    with open(paths["case"] / "findings.jsonl") as fh:
        for line in fh:
            f = json.loads(line)
            findings[f["path"]] = f
    return paths, findings


def test_every_finding_kind_on_the_demo(demo_case):
    _, f = demo_case
    assert f["demo-seizure/Pictures/img_0042.jpg"]["finding"] == "known"
    assert f["demo-seizure/backup.zip/old/x.dat"]["finding"] == "known"
    assert f["demo-seizure/backup.zip/old/y.bin"]["finding"] == "known"
    assert f["demo-seizure/backup.zip/old/y.bin"]["matches"][0]["signal_type"] == "sha1"
    near = f["demo-seizure/backup.zip/inner/pack.zip/a.jpg"]
    assert near["finding"] == "near-known"
    assert near["matches"][0]["signal_type"] == "pdq" and 0 < near["matches"][0]["distance"] <= 31
    assert near["matches"][0]["series"] == "DEMO-SERIES-B"
    assert f["demo-seizure/Documents/notes.txt"]["finding"] == "known-good"
    assert f["demo-seizure/Documents/archive.tar.gz/notes.txt"]["finding"] == "known-good"
    assert f["demo-seizure/Pictures/holiday_001.jpg"]["finding"] == "fresh"
    assert f["demo-seizure/Documents/archive.tar.gz/photos/beach.jpg"]["finding"] == "fresh"
    assert f["demo-seizure/Documents/report.pdf"]["finding"] == "other"
    assert f["demo-seizure/Pictures/broken.jpg"]["finding"] == "error"
    assert f["demo-seizure/Pictures/broken.jpg"]["error"]


def test_iso_members_use_joliet_names_and_match(demo_case):
    _, f = demo_case
    assert f["demo-seizure/cd1.iso/copy.jpg"]["finding"] == "known"
    assert f["demo-seizure/cd1.iso/scan_01.jpg"]["finding"] == "fresh"


def test_disguised_image_is_typed_by_content(demo_case):
    _, f = demo_case
    dll = f["demo-seizure/Downloads/driver.dll"]
    assert dll["mime"] == "image/jpeg" and dll["extension_mismatch"] is True
    assert dll["finding"] == "fresh" and dll["pdq"] and dll["pdq_quality"] >= 50


def test_identical_content_lists_all_paths(demo_case):
    _, f = demo_case
    paths = f["demo-seizure/Pictures/img_0042.jpg"]["paths"]
    assert paths == sorted(
        ["demo-seizure/Pictures/img_0042.jpg", "demo-seizure/backup.zip/old/x.dat", "demo-seizure/cd1.iso/copy.jpg"]
    )


def test_findings_have_the_contract_keys_and_digests(demo_case):
    paths, f = demo_case
    keys = {"path", "size", "mime", "extension_mismatch", "md5", "sha1", "sha256", "pdq",
            "pdq_quality", "finding", "matches", "error"}
    for item in f.values():
        assert keys <= set(item)
    on_disk = paths["evidence"] / "Pictures" / "holiday_001.jpg"
    import hashlib

    data = on_disk.read_bytes()
    item = f["demo-seizure/Pictures/holiday_001.jpg"]
    assert item["md5"] == hashlib.md5(data).hexdigest()
    assert item["sha1"] == hashlib.sha1(data).hexdigest()
    assert item["sha256"] == hashlib.sha256(data).hexdigest()
    assert item["size"] == len(data)


def test_summary_csv_and_html_agree_with_jsonl(demo_case):
    paths, f = demo_case
    case = paths["case"]
    summary = json.loads((case / "summary.json").read_text())
    assert summary["items"] == len(f)
    for kind, n in summary["by_finding"].items():
        assert n == sum(1 for x in f.values() if x["finding"] == kind)
    assert summary["by_series"]["DEMO-SERIES-A"] == 4  # three exact copies + the sha1 entry
    with open(case / "findings.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["path"] for r in rows] == sorted(f)
    html = (case / "report.html").read_text()
    assert "<img" not in html
    assert "demo-seizure/backup.zip/inner/pack.zip/a.jpg" in html


def test_rescan_is_idempotent(demo_case):
    paths, f = demo_case
    r = CliRunner().invoke(app, ["scan", str(paths["evidence"]), "--case", str(paths["case"]), "--workers", "1"])
    assert r.exit_code == 0, r.output
    with open(paths["case"] / "findings.jsonl") as fh:
        again = {json.loads(line)["path"]: json.loads(line) for line in fh}
    assert again == f
