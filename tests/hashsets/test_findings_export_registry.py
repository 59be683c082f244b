"""Findings exports are found by themselves; an unknown one is refused naming those there are,
and a request is checked before any case is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from haven.errors import HavenError
from haven.hashsets.exports import ExportRequest, export_names, get_export


def test_every_export_module_is_found():
    assert export_names() == ["vics", "vpdq"]
    assert get_export(" VICS ").name == "vics"


def test_an_unknown_export_names_the_supported_ones():
    with pytest.raises(HavenError, match="unknown export format 'stix'; supported: vics, vpdq"):
        get_export("STIX")


def test_requests_are_checked_and_made_canonical_before_writing(tmp_path: Path):
    vics = get_export("vics")
    assert vics.prepare(ExportRequest(tmp_path / "a.json", "op", "us")).region == "US"
    with pytest.raises(HavenError, match="is a directory"):
        vics.prepare(ExportRequest(tmp_path, "op"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(HavenError, match="is a file"):
        get_export("vpdq").prepare(ExportRequest(tmp_path / "file", "op"))


def test_vpdq_writes_one_file_per_distinct_video(tmp_path: Path):
    frames = [[0, 100, "f" * 64, 0.0], [1, 90, "0" * 64, 1.0]]
    findings = [{"vpdq": frames, "sha256": "a" * 64}, {"vpdq": frames, "sha256": "a" * 64},
                {"vpdq": None, "sha256": "b" * 64}]
    request = ExportRequest(tmp_path / "out", "op")
    lines = list(get_export("vpdq").write(findings, request))
    assert lines == [f"Wrote 1 video hash file(s) to {tmp_path / 'out'}"]
    assert (tmp_path / "out" / f"{'a' * 64}.txt").read_text().splitlines() == [
        f"0,100,{'f' * 64},0.000", f"1,90,{'0' * 64},1.000"]
