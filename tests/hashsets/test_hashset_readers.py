"""Every shared example hash set imports with the values its file holds."""

from __future__ import annotations

import pytest

from haven.hashsets.formats import read_hashset

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5_A = "360ebe8964fab73553a60189969cc478"
MD5_B = "59f78a4a8438289df25bf0b0f4449cc5"
MD5_C = "5eb25b56d9399679c419a6d7913d2c43"
SHA1_A = "9c13c49ba052aba9eaeb62c1804d5afae10d4ad7"
SHA1_B = "2d9649c38edb45c8fbf176bcb6a009278660bbca"
SHA1_C = "d31fa8433278027391d7c866e3d5dda1c317a805"
PHOTODNA_PREFIX = "AAECAwQFBgcICQoL"


def test_plain_md5_list_reads_three_md5s_in_order(formats_dir):
    result = read_hashset(formats_dir / "hashlists" / "plain_md5_list.txt", "txt")
    assert result.format == "txt" and not result.malformed
    assert [e.md5 for e in result.entries] == [MD5_A, MD5_B, MD5_C]
    assert [e.line for e in result.entries] == [1, 2, 3]
    assert all(e.sha1 is None and e.category is None for e in result.entries)


def test_icse_export_reads_hashes_series_flags_and_extras(formats_dir):
    result = read_hashset(formats_dir / "hashlists" / "icse_export_synthetic.csv", "icse")
    assert not result.malformed
    assert result.scheme == "icse-baseline"
    first, second = result.entries
    assert (first.md5, first.sha1) == (MD5_A, SHA1_A)
    assert first.series == "SYNTHETIC-SERIES-A"
    assert first.victim_identified is True
    assert first.category is None  # Baseline = No
    assert first.line == 2
    assert first.extra["image_id"] == "SYNTH-IMG-000001"
    assert first.extra["media_type"] == "Image"
    assert first.extra["photodna"].startswith(PHOTODNA_PREFIX)
    assert first.extra["submissions"] == 3
    assert first.extra["is_distributed"] is True and first.extra["offender_identified"] is False
    assert (second.md5, second.sha1) == (MD5_C, SHA1_C)
    assert second.series is None and second.victim_identified is False
    assert second.extra["media_type"] == "Video" and "photodna" not in second.extra


def test_icse_baseline_yes_becomes_the_baseline_category(tmp_path):
    header = ("MD5;SHA1;PhotoDNA;Image ID;Is distributed;Victim identified;Offender identified;"
              "Series name;Number of submissions;File Available;Media Type;Baseline")
    path = tmp_path / "icse.csv"
    path.write_text(f"{header}\n{MD5_A.upper()};;;X-1;Yes;No;No;;1;No;Image;Yes\n")
    (entry,) = read_hashset(path).entries
    assert (entry.category, entry.scheme) == ("baseline", "icse-baseline")


def test_pytx_local_file_maps_pdq_and_video_md5(formats_dir):
    result = read_hashset(formats_dir / "hashlists" / "pytx_local_file_signals.txt", "hma")
    assert not result.malformed and result.scheme == "pytx"
    pdq, video = result.entries
    assert pdq.pdq == PDQ and pdq.extra["signal_type"] == "pdq" and pdq.line == 1
    assert video.md5 == MD5_C and video.extra["signal_type"] == "video_md5" and video.line == 2


def test_pytx_dataset_csv_keeps_category_collab_and_tags(formats_dir):
    result = read_hashset(formats_dir / "hashlists" / "pytx_dataset_export.csv", "hma")
    assert not result.malformed
    pdq, video = result.entries
    assert pdq.pdq == PDQ and pdq.category == "POSITIVE_CLASS" and pdq.scheme == "pytx"
    assert pdq.extra["collab"] == "Example Hash Bank"
    assert pdq.extra["tags"] == ["synthetic", "known"]
    assert video.md5 == MD5_C and video.extra["signal_type"] == "video_md5"
    assert [pdq.line, video.line] == [2, 3]


def test_hma_bank_signal_body_reads_pdq_and_note(formats_dir):
    result = read_hashset(formats_dir / "hashlists" / "hma_add_signal_request.json", "hma")
    (entry,) = result.entries
    assert entry.pdq == PDQ
    assert entry.extra["note"].startswith("synthetic example")


def test_vics_2_us_case_export_reads_three_media_under_the_us_scheme(formats_dir):
    result = read_hashset(formats_dir / "vics" / "vics_2.0_US_case_export.json", "vics")
    assert not result.malformed and result.scheme == "vics-us"
    assert result.known_good_hint is False
    a, b, c = result.entries
    assert [e.md5 for e in result.entries] == [MD5_A, MD5_B, MD5_C]
    assert [e.sha1 for e in result.entries] == [SHA1_A, SHA1_B, SHA1_C]
    assert [e.category for e in result.entries] == ["1", "0", None]  # null = uncategorised
    assert all(e.scheme == "vics-us" for e in result.entries)
    assert a.series == "SYNTHETIC-SERIES-A" and a.victim_identified is True
    assert a.extra["photodna"].startswith(PHOTODNA_PREFIX)
    assert a.extra["files"] == ["/sdcard/DCIM/Camera/IMG_0001.jpg", "/sdcard/Download/backup_77.jpg"]
    assert a.extra["media_size"] == 2664 and a.extra["case_number"] == "SYNTH-2026-0001"
    assert b.victim_identified is None and b.extra["mime_type"] == "image/png"
    assert c.extra["is_suspected"] is True and c.extra["media_size"] == 1048576


def test_vics_2_default_hashset_parses_string_flags(formats_dir):
    result = read_hashset(formats_dir / "vics" / "vics_2.0_Default_hashset.json", "vics")
    assert result.scheme == "vics" and not result.known_good_hint
    a, b = result.entries
    assert (a.md5, a.category, b.md5, b.category) == (MD5_A, "1", MD5_B, "0")
    assert a.victim_identified is True  # written "true"
    assert a.extra["offender_identified"] is False  # written "false"
    assert a.extra["is_precategorized"] is True and b.extra["is_precategorized"] is False
    assert a.extra["tags"] == "known set"


def test_vics_1_3_case_export_takes_alternative_hashes_and_string_size(formats_dir):
    result = read_hashset(formats_dir / "vics" / "vics_1.3_case_export.json", "vics")
    assert result.scheme == "vics" and not result.malformed
    (entry,) = result.entries
    assert (entry.md5, entry.sha1, entry.category) == (MD5_A, SHA1_A, "1")
    assert entry.victim_identified is True  # written "true"
    assert entry.extra["media_size"] == 2664  # written "2664"
    assert entry.extra["photodna"].startswith(PHOTODNA_PREFIX)  # via AlternativeHashes
    assert entry.series == "SYNTHETIC-SERIES-A"


def test_vics_1_2_media_list_without_categories_is_a_known_good_hint(formats_dir):
    result = read_hashset(formats_dir / "vics" / "vics_1.2_media_knowngood_list.json", "vics")
    assert result.known_good_hint is True
    (entry,) = result.entries
    assert (entry.md5, entry.sha1, entry.category) == (MD5_B, SHA1_B, None)
    assert entry.extra["files"] == ["viewer_icon.png"] and entry.extra["media_size"] == 4096


def test_vics_alternative_sha256_and_pdq_fill_the_entry(tmp_path):
    path = tmp_path / "alt.json"
    path.write_text(
        '{"odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Media",'
        f' "value": [{{"MD5": "{MD5_A}", "AlternativeHashes": ['
        f'{{"HashName": "SHA256", "HashValue": "{"AB" * 32}"}},'
        f'{{"HashName": "PDQ", "HashValue": "{PDQ.upper()}"}}]}}]}}'
    )
    (entry,) = read_hashset(path).entries
    assert entry.sha256 == "ab" * 32 and entry.pdq == PDQ


def test_nsrl_rds_reads_distinct_hashes_lower_case_as_known_good(nsrl_db):
    result = read_hashset(nsrl_db, "nsrl")
    assert result.known_good_hint is True and not result.malformed
    by_md5 = {e.md5: e for e in result.entries}
    assert set(by_md5) == {"d41d8cd98f00b204e9800998ecf8427e", "3" * 32}
    empty = by_md5["d41d8cd98f00b204e9800998ecf8427e"]
    assert empty.sha1 == "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    assert empty.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_nsrl_reader_leaves_no_journal_beside_the_database(nsrl_db):
    before = sorted(p.name for p in nsrl_db.parent.iterdir())
    read_hashset(nsrl_db)
    assert sorted(p.name for p in nsrl_db.parent.iterdir()) == before


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_sniffs_delimiter_and_reads_labels(tmp_path, delimiter):
    rows = [
        ["MD5 Hash", "SHA-1", "Category", "Series", "Victim Identified", "Source"],
        [MD5_A.upper(), SHA1_A, "1", "SYNTHETIC-SERIES-A", "yes", "unit test"],
        [MD5_B, "", "", "", "", ""],
    ]
    path = tmp_path / "set.csv"
    path.write_text("\n".join(delimiter.join(r) for r in rows) + "\n")
    result = read_hashset(path, "csv", scheme="industry")
    assert result.scheme == "industry" and not result.malformed
    a, b = result.entries
    assert (a.md5, a.sha1, a.category, a.series) == (MD5_A, SHA1_A, "1", "SYNTHETIC-SERIES-A")
    assert a.victim_identified is True and a.scheme == "industry"
    assert a.extra == {"Source": "unit test"}
    assert (b.md5, b.sha1, b.category, b.victim_identified) == (MD5_B, None, None, None)


def test_csv_without_scheme_uses_csv_scheme_and_reads_sha256_and_pdq(tmp_path):
    path = tmp_path / "set.csv"
    path.write_text(f"sha256,pdq\n{'a' * 64},{PDQ}\n")
    result = read_hashset(path)
    assert result.format == "csv" and result.scheme == "csv"
    (entry,) = result.entries
    assert (entry.sha256, entry.pdq) == ("a" * 64, PDQ)


def test_plain_list_tells_algorithms_apart_by_length(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_text(f"# comment\n\n{MD5_A.upper()}\n{SHA1_A}\n{'C' * 64}\n")
    result = read_hashset(path)
    md5, sha1, sha256 = result.entries
    assert (md5.md5, md5.line) == (MD5_A, 3)
    assert (sha1.sha1, sha1.line) == (SHA1_A, 4)
    assert (sha256.sha256, sha256.pdq, sha256.line) == ("c" * 64, None, 5)
