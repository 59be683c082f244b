"""UFDR reports: members under the path report.xml gives them on the phone, deleted flags,
the device record, and everything else in the zip still walked."""

from __future__ import annotations

import io

import pytest

from haven.evidence.base import Extraction, Item
from haven.evidence.walk import walk

from disk_fixtures import picture
from evidencekit import items, problems, read_walk, zip_bytes
from phonekit import ufdr

A, B, C = picture(91), picture(92), picture(93)


def walked(tmp_path, data: bytes, name: str = "report.ufdr"):
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / name).write_bytes(data)
    found: list[Extraction] = []
    entries = list_walk(walk([str(tmp_path / "ev")], extractions=found))
    return entries, found


def list_walk(entries):
    flags: dict[str, dict] = {}
    seen = []
    for entry in entries:
        if isinstance(entry, Item):
            flags[entry.path] = entry.flags
        seen.extend(read_walk([entry]))
    return seen, flags


FILES = [
    {"fs": "Data", "path": "/data/media/0/DCIM/Camera/IMG_0001.jpg", "local": "files\\Image\\IMG_0001.jpg", "data": A},
    {"fs": "Data", "path": "/data/media/0/Download/pack.zip", "local": "files\\Archives\\pack.zip",
     "data": zip_bytes({"inner/c.jpg": C})},
    {"fs": "Data", "path": "/data/data/org.example.chat/files/b.jpg", "local": "files\\Image\\b.jpg",
     "data": B, "deleted": True},
]


def test_tagged_files_are_items_under_their_path_on_the_phone(tmp_path):
    (seen, flags), found = walked(tmp_path, ufdr(FILES, extra_members={"DbData/x.json": b"{}"}))
    got = items(seen)
    assert got["ev/report.ufdr/data/media/0/DCIM/Camera/IMG_0001.jpg"] == A
    assert got["ev/report.ufdr/data/data/org.example.chat/files/b.jpg"] == B
    assert got["ev/report.ufdr/data/media/0/Download/pack.zip/inner/c.jpg"] == C
    assert flags["ev/report.ufdr/data/data/org.example.chat/files/b.jpg"].get("deleted") is True
    assert not flags["ev/report.ufdr/data/media/0/DCIM/Camera/IMG_0001.jpg"].get("deleted")
    # members no tagged file names keep their zip names; tagged ones are not listed twice
    assert "ev/report.ufdr/report.xml" in got and "ev/report.ufdr/DbData/x.json" in got
    assert not [p for p in got if "/files/Image/" in p]
    assert problems(seen) == []
    [record] = found
    assert record.kind == "ufdr" and record.path == "ev/report.ufdr"
    meta = record.metadata
    assert meta["report_version"] == "7.60" and meta["extraction_type"] == "FileSystem"
    assert meta["device_info"]["DeviceInfoSelectedManufacturer"] == "Samsung"
    assert meta["extractions"][0]["device_name"] == "Galaxy S21"
    assert meta["tagged_files"] == 3
    assert "case_information" not in meta  # the examiner's details stay out of summary.json


def test_several_file_systems_keep_their_names_in_the_path(tmp_path):
    files = [dict(FILES[0]), {"fs": "System", "path": "/data/media/0/DCIM/Camera/IMG_0001.jpg",
                              "local": "files\\Image\\IMG_0001(1).jpg", "data": B}]
    (seen, _), _ = walked(tmp_path, ufdr(files))
    got = items(seen)
    assert got["ev/report.ufdr/Data/data/media/0/DCIM/Camera/IMG_0001.jpg"] == A
    assert got["ev/report.ufdr/System/data/media/0/DCIM/Camera/IMG_0001.jpg"] == B


def test_a_tagged_file_missing_from_the_zip_is_reported(tmp_path):
    files = [*FILES, {"fs": "Data", "path": "/data/media/0/gone.jpg", "local": "files\\Image\\gone.jpg",
                      "data": b"x", "in_zip": False}]
    (seen, _), _ = walked(tmp_path, ufdr(files))
    [problem] = problems(seen)
    assert problem.kind == "unreadable" and problem.path == "ev/report.ufdr/data/media/0/gone.jpg"


def test_a_broken_report_xml_is_corrupt_and_the_zip_still_walked(tmp_path):
    data = zip_bytes({"report.xml": b'<?xml version="1.0"?><project xmlns="http://pa.cellebrite.com/report/2.0">'
                                    b'<sourceExtractions><file', "files/Image/a.jpg": A})
    (seen, _), found = walked(tmp_path, data)
    [problem] = problems(seen)
    assert problem.kind == "corrupt" and "report.xml" in problem.path
    assert items(seen)["ev/report.ufdr/files/Image/a.jpg"] == A and found == []


@pytest.mark.parametrize("report", [b"<html>not a report</html>", b"<project><x/></project>"])
def test_a_zip_with_some_other_report_xml_is_a_plain_zip(tmp_path, report):
    (seen, _), found = walked(tmp_path, zip_bytes({"report.xml": report, "a.jpg": A}), "x.zip")
    assert items(seen)["ev/x.zip/a.jpg"] == A and found == [] and problems(seen) == []


def test_an_unzipped_report_folder_is_placed_the_same_way(tmp_path):
    import zipfile

    folder = tmp_path / "ev" / "UFED Export"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(io.BytesIO(ufdr(FILES))) as archive:
        archive.extractall(folder)
    found: list[Extraction] = []
    seen, flags = list_walk(walk([str(tmp_path / "ev")], extractions=found))
    got = items(seen)
    assert got["ev/UFED Export/data/media/0/DCIM/Camera/IMG_0001.jpg"] == A
    assert got["ev/UFED Export/data/media/0/Download/pack.zip/inner/c.jpg"] == C
    assert flags["ev/UFED Export/data/data/org.example.chat/files/b.jpg"]["deleted"] is True
    assert "ev/UFED Export/report.xml" in got
    assert not [p for p in got if "/files/Image/" in p] and problems(seen) == []
    assert [r.kind for r in found] == ["ufdr"]


def test_a_folder_with_files_and_some_other_report_xml_is_listed_plainly(tmp_path):
    folder = tmp_path / "ev" / "site"
    (folder / "files").mkdir(parents=True)
    (folder / "report.xml").write_bytes(b"<report>quarterly</report>")
    (folder / "files" / "a.jpg").write_bytes(A)
    found: list[Extraction] = []
    seen, _ = list_walk(walk([str(tmp_path / "ev")], extractions=found))
    assert items(seen)["ev/site/files/a.jpg"] == A and found == [] and problems(seen) == []
