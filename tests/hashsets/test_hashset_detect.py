"""`--format auto` picks the right reader, and refuses files that are no hash set."""

from __future__ import annotations

import pytest

from haven.errors import HashSetFormatError
from haven.hashsets.formats import detect, format_names, read_hashset

EXAMPLES = [
    ("hashlists/plain_md5_list.txt", "txt"),
    ("hashlists/icse_export_synthetic.csv", "icse"),
    ("hashlists/pytx_local_file_signals.txt", "hma"),
    ("hashlists/pytx_dataset_export.csv", "hma"),
    ("hashlists/hma_add_signal_request.json", "hma"),
    ("vics/vics_2.0_US_case_export.json", "vics"),
    ("vics/vics_2.0_Default_hashset.json", "vics"),
    ("vics/vics_1.3_case_export.json", "vics"),
    ("vics/vics_1.2_media_knowngood_list.json", "vics"),
    ("hashlists/ncmec_hashsharing_v2_entries_synthetic.xml", "ncmec-xml"),
]

NOT_HASH_SETS = [
    "ncmec/cybertipline_report_example.xml",
    "dfxml/haven_example.dfxml",
    "case/haven_hash_match_example.jsonld",
    "case/exif_data.json",
    "exif/exif_gps_fixture.jpg",
    "nsrl/rdsv3_minimal_schema_and_sample.sql",
    "README.md",
    "MANIFEST.tsv",
]


def test_every_format_is_registered():
    assert set(format_names()) == {"txt", "csv", "vics", "icse", "nsrl", "hma", "vpdq", "ncmec-xml"}


@pytest.mark.parametrize(("relative", "expected"), EXAMPLES)
def test_auto_detection_picks_the_reader_of_each_example(formats_dir, relative, expected):
    assert detect(formats_dir / relative).name == expected
    assert read_hashset(formats_dir / relative).format == expected


def test_auto_detection_recognises_an_nsrl_database(nsrl_db):
    assert detect(nsrl_db).name == "nsrl"


def test_generic_csv_is_detected_after_the_specific_dialects(tmp_path):
    path = tmp_path / "set.csv"
    path.write_text("id;md5\n1;360ebe8964fab73553a60189969cc478\n")
    assert detect(path).name == "csv"


@pytest.mark.parametrize("relative", NOT_HASH_SETS)
def test_files_that_are_no_hash_set_fail_auto_with_the_formats_tried(formats_dir, relative):
    with pytest.raises(HashSetFormatError) as raised:
        read_hashset(formats_dir / relative)
    message = str(raised.value)
    assert "not a hash-set format" in message
    assert "tried" in message and "vics" in message and "txt" in message


def test_xml_that_is_no_hash_set_is_called_xml_in_the_error(formats_dir):
    with pytest.raises(HashSetFormatError, match="looks like XML"):
        read_hashset(formats_dir / "ncmec" / "cybertipline_report_example.xml")


def test_an_unknown_format_name_lists_the_known_ones(formats_dir):
    with pytest.raises(HashSetFormatError, match="known formats: .*icse"):
        read_hashset(formats_dir / "hashlists" / "plain_md5_list.txt", "xlsx")


def test_a_missing_file_is_a_format_error_not_a_traceback(tmp_path):
    with pytest.raises(HashSetFormatError, match="does not exist"):
        read_hashset(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("relative", "fmt"),
    [
        ("hashlists/plain_md5_list.txt", "vics"),
        ("hashlists/plain_md5_list.txt", "csv"),
        ("hashlists/pytx_dataset_export.csv", "icse"),
        ("vics/vics_2.0_Default_hashset.json", "nsrl"),
        ("case/exif_data.json", "hma"),
    ],
)
def test_a_wrong_explicit_format_says_what_is_wrong(formats_dir, relative, fmt):
    with pytest.raises(HashSetFormatError):
        read_hashset(formats_dir / relative, fmt)
