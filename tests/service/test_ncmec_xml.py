"""The NCMEC hash-sharing XML reader (registered as `ncmec-xml`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from haven.errors import HashSetFormatError
from haven.hashsets.formats import detect, read_hashset
from haven.hashsets.formats.ncmec_xml import read_feed

EXAMPLE = Path("ref/formats/hashlists/ncmec_hashsharing_v2_entries_synthetic.xml")


def test_the_example_is_detected_and_read_with_its_tombstone(shared_dir):
    path = shared_dir / EXAMPLE
    assert detect(path).name == "ncmec-xml"
    feed = read_feed(path)
    (entry,) = feed.result.entries
    assert entry.md5 == "360ebe8964fab73553a60189969cc478" and entry.category == "A1"
    assert entry.pdq.startswith("f8f8f0ce") and entry.scheme == "ncmec"
    assert entry.extra["ncmec_id"] == "image-synthetic-1"
    assert [t.id for t in feed.tombstones] == ["image-synthetic-0"]
    assert feed.max_timestamp == "2026-01-10T09:10:00Z" and feed.next_page.startswith("/v2/")
    assert read_hashset(path).entries == feed.result.entries


def test_a_tombstone_removes_an_earlier_entry_and_bad_prints_are_malformed(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_text("""<?xml version="1.0"?>
<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2">
 <images>
  <image><id>a</id><fingerprints><md5>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA</md5></fingerprints></image>
  <image><id>b</id><fingerprints><md5>not-hex</md5></fingerprints></image>
  <image><id>c</id><fingerprints><photodna>xyz</photodna></fingerprints></image>
  <deletedImage><id>a</id></deletedImage>
 </images>
 <videos><video><id>v</id><fingerprints><md5>bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb</md5></fingerprints></video></videos>
</queryResult>""")
    feed = read_feed(path)
    assert [e.extra["ncmec_id"] for e in feed.result.entries] == ["v"]
    assert feed.result.entries[0].extra["media"] == "video"
    assert len(feed.result.malformed) == 2
    assert [t.id for t in feed.tombstones] == ["a"]
    assert feed.result.tombstones == ["a"]  # what any importer sees, not only read_feed's callers


def test_entity_expansion_is_refused(tmp_path):
    path = tmp_path / "bomb.xml"
    path.write_text('<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "aaaa">]>'
                    '<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2">&a;'
                    '</queryResult>')
    with pytest.raises(HashSetFormatError):
        read_feed(path)
