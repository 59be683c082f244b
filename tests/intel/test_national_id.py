"""National id numbers and compact dates: mapped, normalised, and decisive against the household veto."""

from __future__ import annotations

import csv

import duckdb

from haven.intel.fields import guess_mapping
from haven.intel.load import load_files
from haven.intel.normalise import normalise_date, normalise_national_id
from haven.intel.resolve import resolve_operation


def test_national_id_headers_and_values_normalise():
    mapping = guess_mapping(["given_name", "surname", "date_of_birth", "soc_sec_id", "SSN"])
    assert mapping["national_id"] == "soc_sec_id"
    assert normalise_national_id(" 123-45.6789 ") == "123456789"
    assert normalise_national_id("ab 12 cd") == "AB12CD"
    assert normalise_national_id("  -- ") is None
    assert normalise_date("19560409") == "1956-04-09"
    assert normalise_date("19561399") == "19561399"   # not a date: kept as written


def _subjects(tmp_path, rows):
    f = tmp_path / "list.csv"
    with f.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    op = tmp_path / "op"
    load_files([f], op)
    resolve_operation(op)
    con = duckdb.connect(str(op / "intel.duckdb"), read_only=True)
    pairs = con.sql("SELECT r.row, s.subject_id FROM subject_records s JOIN records r "
                    "USING (record_id) ORDER BY r.row").fetchall()
    con.close()
    groups: dict[str, list[int]] = {}
    for row, sid in pairs:
        groups.setdefault(sid, []).append(row)
    return sorted(groups.values())


def test_same_national_id_joins_despite_unlike_first_names_households_stay_apart(tmp_path):
    header = ["First name", "Last name", "Street", "Postcode", "E-mail", "Date of birth",
              "National ID"]
    rows = [
        header,
        # One person whose given name was replaced in a second list; same national id.
        ["Olivia", "Shepherd", "12 Allott Place", "2325", "o.shepherd@example.org",
         "1986-08-07", "9036067"],
        ["Connor", "Shepherd", "12 Allott Place", "2325", "o.shepherd@example.org",
         "1986-08-07", "9036067"],
        # A household: shared e-mail and address, different people, no national id.
        ["Jane", "Frick", "4 Mill Lane", "3070", "frick.family@example.org", "", ""],
        ["Peter", "Frick", "4 Mill Lane", "3070", "frick.family@example.org", "", ""],
        # Given name and surname swapped, same date of birth and address.
        ["Ashleigh", "Quilliam", "7 Bedford Street", "6525", "", "1946-07-30", ""],
        ["Quilliam", "Ashleigh", "7 Bedford Street", "6525", "", "1946-07-30", ""],
    ]
    assert _subjects(tmp_path, rows) == [[1, 2], [3], [4], [5, 6]]
