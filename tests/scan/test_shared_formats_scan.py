"""Hash sets in every shared reference format, imported through the CLI, match real files.

The shared examples list digests of the strings `synthetic-1`, `synthetic-2`, … and NSRL's
real empty-file digests, so evidence made of those bytes must match them.
"""

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from haven.cli import app


def _invoke(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def scanned(shared_dir, tmp_path_factory):
    formats = shared_dir / "ref" / "formats"
    tmp = tmp_path_factory.mktemp("interop")
    case = tmp / "case"
    nsrl = tmp / "rds.db"
    con = sqlite3.connect(nsrl)
    con.executescript((formats / "nsrl" / "rdsv3_minimal_schema_and_sample.sql").read_text())
    con.close()
    sets = {
        "plain": formats / "hashlists" / "plain_md5_list.txt",
        "icse": formats / "hashlists" / "icse_export_synthetic.csv",
        "pytx": formats / "hashlists" / "pytx_dataset_export.csv",
        "vics-us": formats / "vics" / "vics_2.0_US_case_export.json",
        "vics13": formats / "vics" / "vics_1.3_case_export.json",
        "nsrl": nsrl,
    }
    for name, path in sets.items():
        _invoke("hashsets", "import", path, "--name", name, "--case", case)
    ev = tmp / "seizure"
    ev.mkdir()
    (ev / "a.bin").write_bytes(b"synthetic-1")
    (ev / "b.txt").write_bytes(b"synthetic-2")
    (ev / "clip.mp4.dat").write_bytes(b"synthetic-3")
    (ev / "empty.log").write_bytes(b"")
    (ev / "unrelated.txt").write_bytes(b"nothing to see")
    _invoke("scan", ev, "--case", case, "--workers", "1")
    with open(case / "findings.jsonl") as fh:
        return case, {json.loads(l)["path"]: json.loads(l) for l in fh}


def test_nsrl_import_is_known_good_automatically(scanned):
    case, f = scanned
    assert f["seizure/empty.log"]["finding"] == "known-good"
    assert {m["hashset"] for m in f["seizure/empty.log"]["matches"]} == {"nsrl"}


def test_one_item_matches_every_list_that_holds_it_with_each_scheme_kept(scanned):
    _, f = scanned
    item = f["seizure/a.bin"]
    assert item["finding"] == "known"
    by_set = {m["hashset"]: m for m in item["matches"]}
    assert {"plain", "icse", "vics-us", "vics13"} <= set(by_set)
    assert all(m["signal_type"] in ("md5", "sha1") for m in item["matches"])
    assert by_set["vics-us"]["scheme"] == "vics-us"
    assert by_set["icse"]["series"] == "SYNTHETIC-SERIES-A"
    assert (by_set["vics-us"]["category"], by_set["vics13"]["category"]) == ("1", "1")
    assert by_set["vics13"]["scheme"] == "vics"  # same number, other scheme: kept apart


def test_unlisted_content_is_other_and_summary_counts_categories_per_scheme(scanned):
    case, f = scanned
    assert f["seizure/unrelated.txt"]["finding"] == "other"
    assert f["seizure/unrelated.txt"]["matches"] == []
    summary = json.loads((case / "summary.json").read_text())
    assert summary["by_category"]["vics-us:1"] == 1
    assert summary["by_category"]["vics:1"] == 1
    assert summary["by_category"]["vics-us:0"] == 1
    assert summary["by_finding"]["known-good"] == 1
