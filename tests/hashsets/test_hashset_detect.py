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
    ("case/haven_hash_match_example.jsonld", "caseuco"),  # a partner's CASE export's file hashes
    ("case/exif_data.json", "caseuco"),
]

NOT_HASH_SETS = [
    "ncmec/cybertipline_report_example.xml",
    "dfxml/haven_example.dfxml",
    "exif/exif_gps_fixture.jpg",
    "nsrl/rdsv3_minimal_schema_and_sample.sql",
    "README.md",
    "MANIFEST.tsv",
]


def test_every_format_is_registered():
    assert set(format_names()) == {"txt", "csv", "vics", "icse", "nsrl", "hma", "vpdq", "ncmec-xml",
                                   "caseuco"}


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


MD5S = ["360ebe8964fab73553a60189969cc478", "59f78a4a8438289df25bf0b0f4449cc5",
        "d41d8cd98f00b204e9800998ecf8427e", "0cc175b9c0f1b6a831c399e269772661"]


def test_auto_detection_tolerates_a_few_malformed_lines_as_format_txt_does(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("MD5 hashes exported by tool X\n" + "\n".join(MD5S[:2]) + "\nnot a hash\n"
                    + "\n".join(MD5S[2:]) + "\n")
    auto, explicit = read_hashset(path), read_hashset(path, "txt")
    assert auto.format == "txt"          # not taken for an HMA "md5 <signal>" line
    assert [e.md5 for e in auto.entries] == [e.md5 for e in explicit.entries] == MD5S
    assert [m.line for m in auto.malformed] == [1, 4]


def test_auto_detection_still_refuses_mostly_malformed_text(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("meeting notes\n" + MD5S[0] + "\nsee above\nanother line\nand more\n")
    with pytest.raises(HashSetFormatError, match="not a hash-set format"):
        read_hashset(path)


def test_hma_signal_lines_with_a_stray_line_first_are_still_hma(tmp_path):
    path = tmp_path / "signals.txt"
    path.write_text("exported signals\n" + "".join(f"md5 {m}\n" for m in MD5S))
    result = read_hashset(path)
    assert result.format == "hma" and len(result.entries) == 4 and len(result.malformed) == 1


@pytest.mark.parametrize("name", ["TXT", "Auto", " txt ", "AUTO"])
def test_format_names_are_case_blind(tmp_path, name):
    path = tmp_path / "list.txt"
    path.write_text("\n".join(MD5S) + "\n")
    assert [e.md5 for e in read_hashset(path, name).entries] == MD5S


@pytest.mark.parametrize("fmt", ["csv", "txt", "vics", "icse", "hma", "vpdq", "ncmec-xml"])
def test_binary_content_is_refused_without_echoing_it(tmp_path, fmt):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    with pytest.raises(HashSetFormatError) as raised:
        read_hashset(path, fmt)
    message = str(raised.value)
    assert "binary" in message and message.isprintable() and len(message) < 200


def test_errors_and_malformed_reasons_are_printable_and_short(tmp_path):
    # cp1252 garbage without NUL bytes: a header of 300 odd characters and terminal escapes.
    path = tmp_path / "odd.csv"
    path.write_bytes(bytes(range(0x80, 0xff)) * 2 + b",\x1b[31mred\x07\n1,2\n")
    with pytest.raises(HashSetFormatError) as raised:
        read_hashset(path, "csv")
    message = str(raised.value)
    assert message.isprintable() and "\x1b" not in message and len(message) < 400
    listing = tmp_path / "list.txt"
    listing.write_text(MD5S[0] + "\n\x1b]0;owned\x07" + "x" * 500 + "\n" + MD5S[1] + "\n")
    result = read_hashset(listing)
    reason = result.malformed[0].reason
    assert reason.isprintable() and "\\x1b" in reason and len(reason) < 120
