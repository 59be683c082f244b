from __future__ import annotations

from datetime import datetime

import pytest

from haven.victimid import metadata
from haven.victimid.errors import VictimIdError
from haven.victimid.indexer import Indexer, IndexOptions
from haven.victimid.store import VictimStore
from haven.victimid.timeline import geojson, timeline


@pytest.fixture()
def fixture_jpg(shared_dir):
    path = shared_dir / "ref" / "formats" / "exif" / "exif_gps_fixture.jpg"
    if not path.is_file():
        pytest.skip("shared EXIF fixture absent")
    return path


def test_shared_fixture_fields_match_what_exif_readers_report(fixture_jpg):
    m = metadata.from_bytes(fixture_jpg.read_bytes())
    assert (m.make, m.model, m.body_serial) == ("ExampleCam", "EC-100", "SN123456789")
    assert (m.lens, m.lens_serial, m.software) == ("EC 4.5mm", "LN987654", "haven-fixture 1.0")
    assert m.captured_local == "2021-06-01T12:34:56.250" and m.captured_offset == "+02:00"
    assert m.captured_utc == datetime(2021, 6, 1, 10, 34, 56, 250000) and m.utc_source == "offset"
    # exiftool -n: 48.8583694444444, 2.29448055555556
    assert m.gps_lat == pytest.approx(48.8583694, abs=1e-6)
    assert m.gps_lon == pytest.approx(2.2944806, abs=1e-6)
    assert m.gps_alt == 35.0
    assert m.tags["xmp"]["dc:subject"] == ["fixture", "synthetic"]


def test_xmp_is_used_when_exif_lacks_a_field():
    packet = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:aux="http://ns.adobe.com/exif/1.0/aux/" '
              b'exif:DateTimeOriginal="2020-01-02T03:04:05-05:00" exif:GPSLatitude="10,30.0S" '
              b'exif:GPSLongitude="20,15.0W" aux:SerialNumber="XMP-1"/></rdf:RDF></x:xmpmeta>')
    xmp = metadata._read_xmp(packet)
    assert metadata._xmp_coord(xmp["exif:GPSLatitude"]) == pytest.approx(-10.5)
    assert metadata._xmp_coord(xmp["exif:GPSLongitude"]) == pytest.approx(-20.25)
    assert metadata._parse_time(xmp["exif:DateTimeOriginal"]) == ("2020-01-02T03:04:05", "-05:00")


def test_xmp_with_entities_is_refused_not_expanded():
    packet = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/"></x:xmpmeta>'
    assert "_error" in metadata._read_xmp(packet)


def test_garbage_is_an_error_not_a_traceback():
    with pytest.raises(VictimIdError):
        metadata.from_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")


def test_fixture_indexed_in_place_gives_timeline_and_map(fixture_jpg, tmp_path):
    vs = VictimStore(tmp_path / "case", create=True)
    stats = Indexer(vs, IndexOptions(parts=("metadata",))).run([str(fixture_jpg)])
    assert stats.indexed == 1
    [row] = timeline(vs)
    assert row["path"] == "exif_gps_fixture.jpg" and row["utc_known"]
    doc = geojson(vs)
    [feature] = doc["features"]
    assert feature["geometry"]["coordinates"][:2] == pytest.approx([2.2944806, 48.8583694], abs=1e-6)
    assert feature["properties"]["body_serial"] == "SN123456789"
    # re-running skips what is already indexed
    assert Indexer(vs, IndexOptions(parts=("metadata",))).run([str(fixture_jpg)]).skipped == 1
    vs.close()


def test_index_links_media_to_scanned_items_and_skips_non_media(indexed_case):
    vs, ids = indexed_case
    assert "notes.txt" not in ids
    assert set(ids) >= {"astronaut.png", "room_a_1.jpg", "sign.png"}
    row = vs.media_by_id(ids["room_a_1.jpg"])
    assert row.body_serial == "SER-42" and row.captured_offset == "+01:00"
    assert row.path == "seizure1/room_a_1.jpg" and len(row.sha256) == 64 and row.pdq
