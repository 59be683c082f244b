"""A bad row is reported with its line number and the rest of the file still imports."""

from __future__ import annotations

import json

import pytest

from haven.errors import HashSetFormatError
from haven.hashsets.formats import read_hashset
from haven.hashsets.formats.registry import require_entries

MD5_A = "360ebe8964fab73553a60189969cc478"
MD5_B = "59f78a4a8438289df25bf0b0f4449cc5"
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def lines_and_reasons(result):
    return [(m.line, m.reason) for m in result.malformed]


def test_plain_list_reports_non_hash_lines_by_number(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text(f"{MD5_A}\r\n# a comment\r\nnot-a-hash\r\n\r\n{MD5_A[:-1]}\r\n{MD5_B}\r\n")
    result = read_hashset(path)
    assert [e.md5 for e in result.entries] == [MD5_A, MD5_B]
    assert [m.line for m in result.malformed] == [3, 5]
    reason = result.malformed[0].reason
    assert "not a hex digest of 32, 40, 64 or 128 characters" in reason  # SHA-512 named too


def test_csv_bad_value_costs_its_row_with_the_physical_line_number(tmp_path):
    path = tmp_path / "set.csv"
    path.write_text(
        "md5,series,victim_identified\n"            # line 1
        f"{MD5_A},\"SYNTH\nSERIES\",no\n"            # lines 2-3: one record, quoted line break
        "\n"                                         # line 4: blank
        "zz-not-hex,X,yes\n"                         # line 5
        f"{MD5_B},Y,perhaps\n"                       # line 6
        ",only a series,\n"                          # line 7
        f"{MD5_B},Z,yes,surplus\n"                   # line 8
        f"{MD5_B},Z,yes\n"                           # line 9
    )
    result = read_hashset(path)
    assert [(e.md5, e.line) for e in result.entries] == [(MD5_A, 2), (MD5_B, 9)]
    assert result.entries[0].series == "SYNTH\nSERIES"
    assert [m.line for m in result.malformed] == [5, 6, 7, 8]
    reasons = [m.reason for m in result.malformed]
    assert "md5 'zz-not-hex' is not 32 hex characters" in reasons[0]
    assert "yes/no" in reasons[1]
    assert "no hash value" in reasons[2]
    assert "header has 3" in reasons[3]


def test_csv_rejects_a_pdq_of_the_wrong_length(tmp_path):
    path = tmp_path / "pdq.csv"
    path.write_text(f"pdq;category\n{PDQ[:-2]};1\n{PDQ};2\n")
    result = read_hashset(path)
    assert [(e.pdq, e.category) for e in result.entries] == [(PDQ, "2")]
    assert lines_and_reasons(result) == [(2, f"pdq '{PDQ[:-2]}' is not 64 hex characters")]


def test_csv_with_utf8_bom_and_cp1252_series_names(tmp_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffMD5;Series\n".encode() + f"{MD5_A};Série\n".encode())
    (entry,) = read_hashset(bom).entries
    assert (entry.md5, entry.series) == (MD5_A, "Série")
    legacy = tmp_path / "cp1252.csv"
    legacy.write_bytes(f"MD5;Series\n{MD5_A};Série\n".encode("cp1252"))
    (entry,) = read_hashset(legacy).entries
    assert entry.series == "Série"


def test_icse_bad_hash_row_is_reported_and_the_rest_imports(tmp_path):
    header = ("MD5;SHA1;PhotoDNA;Image ID;Is distributed;Victim identified;Offender identified;"
              "Series name;Number of submissions;File Available;Media Type;Baseline")
    path = tmp_path / "icse.csv"
    path.write_text(
        f"{header}\n"
        "NOT-A-HASH;;;X-1;Yes;No;No;;1;No;Image;No\n"
        f"{MD5_A.upper()};;;X-2;Yes;Maybe;No;;1;No;Image;No\n"
        f"{MD5_B.upper()};;;X-3;Yes;No;No;S;1;No;Image;No\n"
    )
    result = read_hashset(path)
    assert [e.md5 for e in result.entries] == [MD5_B]
    assert [m.line for m in result.malformed] == [2, 3]
    assert "Victim identified" in result.malformed[1].reason


def test_hma_unsupported_signal_types_are_counted_not_fatal(tmp_path):
    path = tmp_path / "signals.txt"
    path.write_text(
        f"pdq {PDQ}\n"
        "url https://example.test/x\n"
        "raw_text some words here\n"
        f"md5 {MD5_A}\n"
        "pdq abc\n"
        f"{MD5_B}\n"
    )
    result = read_hashset(path)
    assert result.format == "hma"
    assert [(e.pdq, e.md5) for e in result.entries] == [(PDQ, None), (None, MD5_A)]
    assert lines_and_reasons(result) == [
        (2, "unsupported signal type url"),
        (3, "unsupported signal type raw_text"),
        (5, "pdq 'abc' is not 64 hex characters"),
        (6, "expected 'signal_type signal'"),
    ]


def test_hma_csv_unsupported_type_keeps_the_csv_line(tmp_path):
    path = tmp_path / "dataset.csv"
    path.write_text(
        "signal_type,signal_str,collab,category,tags\n"
        "url_md5,00000000000000000000000000000000,Bank,POSITIVE_CLASS,\n"
        f"pdq,{PDQ},Bank,POSITIVE_CLASS,\n"
    )
    result = read_hashset(path)
    assert [e.pdq for e in result.entries] == [PDQ]
    assert lines_and_reasons(result) == [(2, "unsupported signal type url_md5")]


def test_hma_bank_body_with_an_unsupported_type(tmp_path):
    path = tmp_path / "body.json"
    path.write_text(json.dumps({"url": "https://example.test/", "note": "n"}))
    result = read_hashset(path)
    assert result.format == "hma" and not result.entries
    assert lines_and_reasons(result) == [(1, "unsupported signal type url")]


def test_vics_bad_media_record_is_reported_by_record_number(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({
        "@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/UK/$metadata#Media",
        "value": [
            {"MD5": MD5_A, "Category": "2", "MediaSize": "12"},
            {"MD5": "xyz", "Category": 1},
            {"Category": 1},
            {"MD5": MD5_B, "VictimIdentified": "sometimes"},
            {"MD5": MD5_B, "IsSuspected": "unsure", "Category": 3},
        ],
    }))
    result = read_hashset(path)
    assert result.scheme == "vics-uk"
    assert [(e.md5, e.category, e.line) for e in result.entries] == [(MD5_A, "2", 1), (MD5_B, "3", 5)]
    assert result.entries[1].extra["is_suspected"] == "unsure"  # secondary flag kept as text
    assert [m.line for m in result.malformed] == [2, 3, 4]
    assert "no MD5" in result.malformed[1].reason


def test_utf16_plain_list_from_windows_powershell_imports(tmp_path):
    path = tmp_path / "hashes.txt"
    path.write_text(f"{MD5_A.upper()}\r\n{MD5_B.upper()}\r\n", encoding="utf-16")
    result = read_hashset(path)
    assert result.format == "txt"
    assert [e.md5 for e in result.entries] == [MD5_A, MD5_B]


def test_an_empty_file_is_refused_and_called_empty(tmp_path):
    # an empty set, not an unknown format: refused as empty unless the import allows it
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    result = read_hashset(path)
    assert result.empty_file and result.entries == []
    with pytest.raises(HashSetFormatError, match="the file is empty"):
        require_entries(path, result, allow_empty=False)
    require_entries(path, result, allow_empty=True)


def test_md5sum_sha256sum_and_bsd_tag_output_read_as_plain_lists(tmp_path):
    import hashlib

    sha256 = hashlib.sha256(b"benign").hexdigest()
    sha1 = hashlib.sha1(b"benign").hexdigest()
    path = tmp_path / "sums.txt"
    path.write_text(f"{MD5_A}  photo one.jpg\r\n{sha256.upper()} *bin/two.png\r\n"
                    f"\\{MD5_B}  odd\\\\name.jpg\r\nSHA1 (three.jpg) = {sha1}\r\n"
                    f"MD5 (four.jpg) = {sha1}\r\n{MD5_A}\r\n")
    result = read_hashset(path)
    assert result.format == "txt"
    assert [(e.md5 or e.sha256 or e.sha1, e.extra.get("file_name")) for e in result.entries] == [
        (MD5_A, "photo one.jpg"), (sha256, "bin/two.png"), (MD5_B, "odd\\\\name.jpg"),
        (sha1, "three.jpg"), (MD5_A, None)]
    assert [m.line for m in result.malformed] == [5]  # a tag naming the wrong algorithm
    assert result.notes == []  # named SHA-256 lines are no PDQ in disguise


def test_a_generic_hash_column_is_read_by_length_as_forensic_suites_export_it(tmp_path):
    import hashlib

    sha1 = hashlib.sha1(b"benign").hexdigest()
    sha256 = hashlib.sha256(b"benign").hexdigest()
    path = tmp_path / "export.csv"
    path.write_text(f"File Name;Hash Value;Category\r\na.jpg;{MD5_A.upper()};1\r\n"
                    f"b.jpg;{sha1};2\r\nc.jpg;{sha256};\r\nd.jpg;zz;3\r\n\r\n")
    result = read_hashset(path)
    assert result.format == "csv"
    assert [(e.md5, e.sha1, e.sha256, e.category) for e in result.entries] == [
        (MD5_A, None, None, "1"), (None, sha1, None, "2"), (None, None, sha256, None)]
    assert [m.line for m in result.malformed] == [5]
    assert "not a hex digest of 32, 40, 64 or 128" in result.malformed[0].reason
    assert all("_generic_sha256" not in e.extra for e in result.entries)
    assert result.notes == ["1 value(s) of 64 hex digits in the hash column read as SHA-256; "
                            "if they are PDQ hashes, name the column `pdq` and import the file "
                            "again"]
    named = tmp_path / "named.csv"
    named.write_text(f"hash,md5\n{sha1},{MD5_B}\n,{MD5_A}\n")
    assert [(e.md5, e.sha1) for e in read_hashset(named).entries] == [(MD5_B, sha1), (MD5_A, None)]
