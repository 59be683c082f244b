"""findings.csv says how each match came about, in the report's words: a spreadsheet reader
sees that a near match is a crop hypothesis whose distance counts 224 bits, not a plain PDQ."""

from __future__ import annotations

from haven.match.framing import DROP_BITS
from haven.report.findings import CSV_COLUMNS, MATCH_SEP, csv_row


def _match(signal_type, distance, matched_signal):
    return {"hashset": "feed", "hashset_version": 1, "signal_type": signal_type,
            "distance": distance, "category": None, "scheme": None, "series": None,
            "known_good": False, "matched_signal": matched_signal, "query_share": None,
            "known_share": None}


def test_each_match_has_its_how_in_the_same_order_as_the_other_match_columns():
    finding = {"path": "ev/crop3.jpg", "size": 1, "mime": "image/jpeg",
               "extension_mismatch": False, "md5": None, "sha1": None, "sha256": None,
               "pdq": None, "pdq_quality": 100, "finding": "near-known", "error": None,
               "notes": [], "paths": ["ev/crop3.jpg"], "flags": {},
               "matches": [_match("pdq", 11, "pdq@frame-l6r6t4b7"), _match("md5", 0, None)]}
    row = dict(zip(CSV_COLUMNS, csv_row(finding)))
    assert row["match_kind"] == "pdq; md5"
    crop, exact = row["match_how"].split(MATCH_SEP)
    assert crop.startswith(f"11 of {256 - DROP_BITS} bits differ, the copy is cropped")
    assert "6% left, 6% right, 4% top, 7% bottom cut" in crop
    assert exact == "identical file (MD5 digest)"
    plain = dict(zip(CSV_COLUMNS, csv_row({**finding, "matches": [_match("pdq", 4, "pdq")]})))
    assert plain["match_how"] == "4 of 256 bits differ, whole picture, as is"
