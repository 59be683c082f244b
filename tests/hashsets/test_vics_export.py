"""Findings written as a VICS 2.0 case export read back through the VICS reader."""

from __future__ import annotations

import json

import pytest

from haven.hashsets.formats import detect, read_hashset
from haven.hashsets.vics_export import write_vics_case

MD5_A = "360ebe8964fab73553a60189969cc478"
MD5_B = "59f78a4a8438289df25bf0b0f4449cc5"
MD5_C = "5eb25b56d9399679c419a6d7913d2c43"
SHA1_A = "9c13c49ba052aba9eaeb62c1804d5afae10d4ad7"
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def finding(path, md5, *, matches=(), paths=None, **more):
    mime = more.get("mime", "image/jpeg")
    base = {
        "path": path, "size": 2664, "mime": "image/jpeg", "md5": md5, "sha1": None,
        "media": mime.split("/")[0] if mime.startswith(("image/", "video/")) else None,
        "sha256": None, "pdq": None, "pdq_quality": None, "finding": "fresh",
        "matches": list(matches), "error": None,
    }
    if paths is not None:
        base["paths"] = paths
    base.update(more)
    return base


def match(category, scheme, *, distance=0, series=None, hashset="synthetic set"):
    return {"hashset": hashset, "signal_type": "md5", "distance": distance,
            "category": category, "scheme": scheme, "series": series}


def sample_findings():
    return [
        finding("disk.E01/p1/Users/a/IMG_0001.jpg", MD5_A, sha1=SHA1_A, sha256="ab" * 32, pdq=PDQ,
                finding="known", matches=[match("1", "vics-us", series="SYNTHETIC-SERIES-A")],
                paths=["disk.E01/p1/Users/a/IMG_0001.jpg", "disk.E01/p1/Users/a/x.zip/copy.jpg"]),
        # the same content found again through a second finding: one Media, paths merged
        finding("disk.E01/p1/Temp/dup.jpg", MD5_A.upper(), sha1=SHA1_A,
                matches=[match("1", "vics-us")]),
        # categorised under another scheme only: exported uncategorised
        finding("disk.E01/p1/icon.png", MD5_B, mime="image/png", size=4096,
                matches=[match("2", "vics-uk")], finding="known"),
        finding("disk.E01/p1/new.mp4", MD5_C, mime="video/mp4", size=1048576),
        finding("disk.E01/p1/broken.jpg", None, error="unreadable sector"),
    ]


def test_export_round_trips_through_the_vics_reader(tmp_path):
    out = tmp_path / "case.json"
    written = write_vics_case(sample_findings(), out, "SYNTH-2026-0001", scheme_region="US")
    assert written == 3
    assert detect(out).name == "vics"
    result = read_hashset(out, "vics")
    assert result.scheme == "vics-us" and not result.malformed
    a, b, c = result.entries
    assert (a.md5, a.sha1, a.sha256, a.pdq) == (MD5_A, SHA1_A, "ab" * 32, PDQ)
    assert (a.category, a.series) == ("1", "SYNTHETIC-SERIES-A")
    assert a.extra["files"] == [
        "disk.E01/p1/Users/a/IMG_0001.jpg",
        "disk.E01/p1/Users/a/x.zip/copy.jpg",
        "disk.E01/p1/Temp/dup.jpg",
    ]
    assert a.extra["media_size"] == 2664 and a.extra["case_number"] == "SYNTH-2026-0001"
    assert (b.md5, b.category) == (MD5_B, None)
    assert (c.md5, c.category, c.extra["mime_type"]) == (MD5_C, None, "video/mp4")


def test_export_matches_the_shape_of_the_example_case_export(tmp_path, formats_dir):
    out = tmp_path / "case.json"
    write_vics_case(sample_findings(), out, "SYNTH-2026-0001", scheme_region="US")
    ours = json.loads(out.read_text())
    example = json.loads((formats_dir / "vics" / "vics_2.0_US_case_export.json").read_text())
    assert ours["@odata.context"] == example["@odata.context"]
    (case,) = ours["value"]
    assert set(case) <= set(example["value"][0])
    assert case["CaseNumber"] == "SYNTH-2026-0001"
    assert case["TotalMediaFiles"] == 5 and case["TotalPrecategorized"] == 1
    media = case["Media"][0]
    example_media = example["value"][0]["Media"][0]
    assert set(media) - {"AlternativeHashes"} <= set(example_media)
    assert media["MD5"] == MD5_A.upper() and media["Category"] == 1
    assert media["IsPrecategorized"] is True
    assert media["PrecategorizationSource"] == "synthetic set"
    files = media["MediaFiles"]
    assert [f["FileName"] for f in files] == ["IMG_0001.jpg", "copy.jpg", "dup.jpg"]
    assert set(files[0]) <= set(example_media["MediaFiles"][0])


def test_exact_match_category_wins_over_a_near_match(tmp_path):
    out = tmp_path / "case.json"
    findings = [finding("a.jpg", MD5_A, matches=[
        match("3", "vics", distance=12, hashset="near"),
        match("2", "vics", distance=0, hashset="exact"),
    ])]
    write_vics_case(findings, out, "C-1")
    media = json.loads(out.read_text())["value"][0]["Media"][0]
    assert (media["Category"], media["PrecategorizationSource"]) == (2, "exact")
    assert "/Default/$metadata#Cases" in json.loads(out.read_text())["@odata.context"]


def test_empty_findings_write_a_case_with_no_media(tmp_path):
    out = tmp_path / "empty.json"
    assert write_vics_case([], out, "C-EMPTY") == 0
    result = read_hashset(out)
    assert result.format == "vics" and result.entries == [] and result.malformed == []
    assert [p.name for p in tmp_path.iterdir()] == ["empty.json"]  # no temp file left


MD5_ZIP = "0cc175b9c0f1b6a831c399e269772661"
MD5_TXT = "92eb5ffee6ae2fec3ad71c777531578f"
MD5_GOOD = "d41d8cd98f00b204e9800998ecf8427e"


def test_only_images_and_videos_are_exported_not_containers_text_or_known_good(tmp_path):
    from collections import Counter

    findings = [
        *sample_findings(),
        finding("disk.E01/p1/x.zip", MD5_ZIP, mime="application/zip", finding="other"),
        finding("disk.E01/p1/notes.txt", MD5_TXT, mime="text/plain", finding="other"),
        finding("disk.E01/p1/logo.png", MD5_GOOD, mime="image/png", finding="known-good",
                matches=[{**match(None, "nsrl"), "known_good": True}]),
    ]
    out = tmp_path / "case.json"
    left_out = Counter()
    assert write_vics_case(findings, out, "C-1", scheme_region="US", left_out=left_out) == 3
    exported = {m["MD5"].lower() for m in json.loads(out.read_text())["value"][0]["Media"]}
    assert exported == {MD5_A, MD5_B, MD5_C}
    assert left_out == {"not an image or video": 2, "known-good": 1, "no MD5": 1}


def test_each_exported_media_carries_only_fields_the_example_case_export_has(tmp_path,
                                                                           formats_dir):
    out = tmp_path / "case.json"
    write_vics_case(sample_findings(), out, "C-1", scheme_region="us")
    example = json.loads((formats_dir / "vics" / "vics_2.0_US_case_export.json").read_text())
    example_media = example["value"][0]["Media"]
    media_keys = set().union(*(m.keys() for m in example_media))
    file_keys = set().union(*(f.keys() for m in example_media for f in m["MediaFiles"]))
    ours = json.loads(out.read_text())
    assert ours["@odata.context"] == example["@odata.context"]      # "us" spelt "US"
    for m in ours["value"][0]["Media"]:
        assert set(m) - {"AlternativeHashes"} <= media_keys
        assert all(set(f) <= file_keys for f in m["MediaFiles"])
        assert m["Category"] is None or isinstance(m["Category"], int)


@pytest.mark.parametrize("region", ["XX", "", "Default/../US", "gb"])
def test_an_unknown_region_is_refused_and_nothing_is_written(tmp_path, region):
    from haven.hashsets.vics_export import VicsExportError

    out = tmp_path / "case.json"
    with pytest.raises(VicsExportError, match="Default, US, UK"):
        write_vics_case(sample_findings(), out, "C-1", scheme_region=region)
    assert not out.exists()


def test_export_command_validates_the_region_before_touching_the_case(tmp_path):
    from typer.testing import CliRunner

    from haven.cli import app

    res = CliRunner().invoke(app, ["hashsets", "export", "--case", str(tmp_path / "nocase"),
                                   "--format", "VICS", "--region", "Mars",
                                   "--out", str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "unknown VICS region 'Mars'" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "x.json").exists()


def test_export_of_the_demo_case_holds_its_images_only(tmp_path):
    from typer.testing import CliRunner

    from haven.cli import app
    from haven.demo import build_demo

    paths = build_demo(tmp_path / "demo")
    runner = CliRunner()
    for name, file, extra in paths["hashsets"]:
        assert runner.invoke(app, ["hashsets", "import", str(file), "--name", name, "--case",
                                   str(paths["case"]), *extra]).exit_code == 0
    assert runner.invoke(app, ["scan", str(paths["evidence"]), "--case", str(paths["case"]),
                               "--workers", "1"]).exit_code == 0
    out = tmp_path / "demo.vics.json"
    res = runner.invoke(app, ["hashsets", "export", "--case", str(paths["case"]),
                              "--format", "vics", "--out", str(out)])
    assert res.exit_code == 0, res.output
    findings = [json.loads(line) for line in (paths["case"] / "findings.jsonl").open()]
    media = {f["md5"] for f in findings if f["media"] in ("image", "video")
             and f["finding"] != "known-good" and f["md5"]}
    others = {f["md5"] for f in findings if f["md5"]} - media
    assert others  # the demo has archives, an ISO, text and a PDF
    exported = {e.md5 for e in read_hashset(out).entries}
    assert exported == media and not exported & others
    assert "known-good" in res.output and "not an image or video" in res.output
