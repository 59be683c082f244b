"""Loading record files: formats, encodings, bad rows with line numbers, idempotent re-runs."""

from __future__ import annotations

import json
import sqlite3

import duckdb
import openpyxl
import pytest
import yaml

from haven.errors import HavenError
from haven.intel.errors import MappingError, RecordFileError
from haven.intel.load import load_files

CSV = (
    "Name,E-mail,Phone,Country\n"
    "José Núñez,jose@example.es,612345678,España\n"
    "Anna Berg,anna@web.de,030 1234567,Deutschland\n"
)


def _records(op):
    con = duckdb.connect(str(op / "intel.duckdb"), read_only=True)
    rel = con.sql("SELECT file, row, line, full_name, email, phone, country, sha256, extra "
                  "FROM records ORDER BY file, row")
    rows = [dict(zip(rel.columns, r)) for r in rel.fetchall()]
    con.close()
    return rows


def _problems(op):
    return [json.loads(ln) for ln in (op / "load_problems.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("encoding,warning", [
    ("utf-8", None), ("utf-8-sig", "utf8_bom"), ("latin-1", "encoding_not_utf8"),
    ("utf-16", "encoding_utf16"), ("utf-16-le", "encoding_utf16_no_bom"),
])
def test_csv_encodings_decode_names_and_count_a_warning(tmp_path, encoding, warning):
    f = tmp_path / "list.csv"
    f.write_bytes(CSV.encode(encoding))
    [res] = load_files([f], tmp_path / "op")
    recs = _records(tmp_path / "op")
    assert [r["full_name"] for r in recs] == ["José Núñez", "Anna Berg"]
    assert [r["row"] for r in recs] == [1, 2]
    if warning:
        assert res.warnings.get(warning) == 1
    else:
        assert res.warnings == {}


def test_bad_csv_rows_are_reported_with_row_and_line_and_the_rest_is_kept(tmp_path):
    f = tmp_path / "list.csv"
    f.write_text(
        "Name,E-mail,Phone\n"
        "A One,a@x.org,1\n"
        '"B Two,b@x.org,2\n'      # stray quote: must not swallow the rows below
        "C Three,c@x.org,3\n"
        "\n"
        "D,four,fields,here\n"
        "E Five,e@x.org,5\n",
        encoding="utf-8",
    )
    [res] = load_files([f], tmp_path / "op")
    recs = _records(tmp_path / "op")
    assert [(r["row"], r["line"], r["full_name"]) for r in recs] == [
        (1, 2, "A One"), (3, 4, "C Three"), (6, 7, "E Five")]
    errors = [p for p in _problems(tmp_path / "op") if p["level"] == "error"]
    assert [(p["row"], p["line"], p["kind"]) for p in errors] == [
        (2, 3, "field_count"), (5, 6, "field_count")]
    assert res.problems == 2 and res.warnings["blank_row"] == 1


def test_duplicate_headers_and_huge_fields_are_counted_and_kept(tmp_path):
    f = tmp_path / "list.csv"
    f.write_text("Name,Name,Note\nA,B," + "x" * 200_001 + "\n", encoding="utf-8")
    [res] = load_files([f], tmp_path / "op")
    assert res.warnings == {"duplicate_header": 1, "huge_field": 1}
    [rec] = _records(tmp_path / "op")
    assert json.loads(rec["extra"]) == {"Name (2)": "B", "Note": "x" * 200_001}


def test_xlsx_rows_are_numbered_as_the_sheet_shows_them(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["First name", "Surname", "Telefon"])
    ws.append(["Ola", "Nordmann", 4791234567])
    ws.append([])
    ws.append(["Kari", "Nordmann", "+47 912 34 567"])
    wb.create_sheet("other")
    wb.save(tmp_path / "c.xlsx")
    [res] = load_files([tmp_path / "c.xlsx"], tmp_path / "op")
    assert res.format == "xlsx" and res.records == 2
    assert res.warnings == {"blank_row": 1, "other_sheets_ignored": 1}
    assert [r["row"] for r in _records(tmp_path / "op")] == [1, 3]
    assert res.mapping == {"first_name": "First name", "last_name": "Surname", "phone": "Telefon"}


def test_json_array_and_jsonl_with_a_bad_line(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(
        [{"name": "A", "contact": {"email": "a@x.org"}}, 7, {"name": "B"}]), encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"name": "C"}\n{oops\n\n{"name": "D"}\n', encoding="utf-8")
    res = load_files([tmp_path / "a.json", tmp_path / "b.jsonl"], tmp_path / "op")
    assert [(r.format, r.records, r.problems) for r in res] == [("json", 2, 1), ("jsonl", 2, 1)]
    recs = _records(tmp_path / "op")
    assert [(r["file"], r["row"]) for r in recs] == [("a.json", 1), ("a.json", 3), ("b.jsonl", 1),
                                                     ("b.jsonl", 4)]
    assert recs[0]["email"] == "a@x.org"  # nested "contact.email" flattened and mapped
    errors = {(p["file"], p["row"], p["kind"]) for p in _problems(tmp_path / "op")
              if p["level"] == "error"}
    assert errors == {("a.json", 2, "not_an_object"), ("b.jsonl", 2, "json_error")}


def test_sqlite_single_table_is_read_and_not_written(tmp_path):
    db = tmp_path / "dump.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE users (id INTEGER, username TEXT, email TEXT, ip TEXT)")
    con.executemany("INSERT INTO users VALUES (?,?,?,?)",
                    [(1, "u1", "u1@mail.ru", "5.3.3.3"), (2, "u2", None, "::1")])
    con.commit()
    con.close()
    before = db.read_bytes()
    [res] = load_files([db], tmp_path / "op")
    assert (res.format, res.records) == ("sqlite", 2)
    assert db.read_bytes() == before


def test_sqlite_with_several_tables_is_a_clear_error(tmp_path):
    db = tmp_path / "two.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE a (x)")
    con.execute("CREATE TABLE b (y)")
    con.commit()
    con.close()
    with pytest.raises(RecordFileError, match="2 tables"):
        load_files([db], tmp_path / "op")


def test_old_xls_and_empty_files_are_refused_with_a_reason(tmp_path):
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(HavenError, match="xlsx"):
        load_files([tmp_path / "old.xls"], tmp_path / "op")
    with pytest.raises(HavenError, match="empty"):
        load_files([tmp_path / "empty.csv"], tmp_path / "op")


def test_reloading_the_same_file_replaces_its_records(tmp_path):
    f = tmp_path / "list.csv"
    f.write_text(CSV, encoding="utf-8")
    load_files([f], tmp_path / "op")
    [res] = load_files([f], tmp_path / "op")
    assert res.replaced
    recs = _records(tmp_path / "op")
    assert len(recs) == 2
    assert {r["sha256"] for r in recs} == {res.sha256}


def test_given_mapping_wins_and_mapping_yaml_is_written(tmp_path):
    f = tmp_path / "list.csv"
    f.write_text(CSV, encoding="utf-8")
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump({"files": {"list.csv": {"full_name": "E-mail"}}}))
    load_files([f], tmp_path / "op", m)
    assert _records(tmp_path / "op")[0]["full_name"] == "jose@example.es"
    written = yaml.safe_load((tmp_path / "op" / "mapping.yaml").read_text())
    assert written["files"]["list.csv"] == {"full_name": "E-mail"}
    m.write_text(yaml.safe_dump({"files": {"list.csv": {"full_name": "Nope"}}}))
    with pytest.raises(MappingError, match="Nope"):
        load_files([f], tmp_path / "op", m)


def _jpeg_bytes() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("name,content,says", [
    ("photo.csv", "jpeg", "JPG file (image/jpeg)"),
    ("blob.csv", b"Name,Email\n" + bytes(range(256)) * 8, "binary data"),
    ("controls.txt", b"\x01\x02\x03\x04\x05\x06 ab" * 200, "binary data"),
    ("archive.csv", b"7z\xbc\xaf\x27\x1c" + b"\x00\x04" * 50, "7Z file"),
])
def test_binary_files_are_refused_in_one_line_whatever_their_name(tmp_path, name, content, says):
    f = tmp_path / name
    f.write_bytes(_jpeg_bytes() if content == "jpeg" else content)
    with pytest.raises(RecordFileError, match="not a table") as err:
        load_files([f], tmp_path / "op")
    assert says in str(err.value)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "op" / "intel.duckdb").exists() or not _records(tmp_path / "op")


def test_a_header_starting_like_a_magic_number_is_still_text(tmp_path):
    f = tmp_path / "list.csv"
    f.write_text("MZ code,Name,E-mail\n1,Ana Lima,ana@example.org\n", encoding="utf-8")
    [res] = load_files([f], tmp_path / "op")
    assert res.records == 1


def test_prose_with_no_delimiter_and_no_known_header_is_not_a_table(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("Meeting notes from Tuesday\nWe talked about the budget\n", encoding="utf-8")
    with pytest.raises(RecordFileError, match="not a table"):
        load_files([f], tmp_path / "op")
    # a one-column list whose header names a field is a table
    g = tmp_path / "emails.txt"
    g.write_text("email\nana@example.org\nbo@example.org\n", encoding="utf-8")
    [res] = load_files([g], tmp_path / "op")
    assert res.records == 2 and res.unmapped == []


def test_columns_mapped_to_no_field_are_listed_in_file_order(tmp_path):
    f = tmp_path / "list.csv"
    f.write_text("Name,Shoe size,E-mail,Favourite colour\nAna Lima,38,ana@example.org,red\n",
                 encoding="utf-8")
    [res] = load_files([f], tmp_path / "op")
    assert res.unmapped == ["Shoe size", "Favourite colour"]
    assert json.loads(_records(tmp_path / "op")[0]["extra"]) == {
        "Shoe size": "38", "Favourite colour": "red"}


def test_cli_load_names_unmapped_columns_and_refuses_a_jpeg_with_one_line(tmp_path):
    from typer.testing import CliRunner

    from haven.intel.cli import intel_app

    f = tmp_path / "list.csv"
    f.write_text("Name,[internal] note,E-mail\nAna Lima,vip,ana@example.org\n", encoding="utf-8")
    res = CliRunner().invoke(intel_app, ["load", str(f), "--op", str(tmp_path / "op")])
    assert res.exit_code == 0, res.output
    assert "1 column(s) mapped to no field" in res.output
    assert "[internal] note" in res.output
    jpg = tmp_path / "photo.csv"
    jpg.write_bytes(_jpeg_bytes())
    res = CliRunner().invoke(intel_app, ["load", str(jpg), "--op", str(tmp_path / "op")])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    # one message (the terminal may wrap it), starting with "error:"
    assert res.output.count("error:") == 1 and res.output.strip().startswith("error:"), res.output
    assert "not a table of records" in " ".join(res.output.split())


def _store_text(op):
    con = duckdb.connect(str(op / "intel.duckdb"), read_only=True)
    out = []
    for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
        out += ["\t".join(map(str, r)) for r in con.execute(f"SELECT * FROM {t}").fetchall()]
    con.close()
    return "\n".join(out)


def test_composite_card_mapping_from_the_editable_mapping_and_no_pan_kept(tmp_path):
    f = tmp_path / "pay.csv"
    f.write_text(
        "Name,bin_no,ending,valid,Notes,House,Road\n"
        "Ana Lima,412077,9904,05/27,paid with 4120 7712 3458 9904,12,Rua Azul\n"
        'Bo Berg,,,,"broken ""row,x\n'
        "Cy Dahl,555555,4444,,,3,Main St\n", encoding="utf-8")
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump({"files": {"pay.csv": {
        "full_name": "Name", "card": ["bin_no", "ending", "valid"],
        "street": ["House", "Road"]}}}))
    [res] = load_files([f], tmp_path / "op", m)
    assert res.unmapped == ["Notes"]
    assert any("1 value(s) in unmapped columns held a card number" in n for n in res.notes)
    con = duckdb.connect(str(tmp_path / "op" / "intel.duckdb"), read_only=True)
    cards = dict(con.execute("SELECT full_name, card FROM records").fetchall())
    streets = dict(con.execute("SELECT full_name, street FROM records").fetchall())
    con.close()
    # headers that do not name their role: roles told by shape at resolve
    from haven.intel.payment import card_identity
    ident = card_identity(cards["Ana Lima"])
    assert (ident.key, ident.expiry) == ("412077******9904", "2027-05")
    assert streets["Ana Lima"] == "12 Rua Azul"
    written = yaml.safe_load((tmp_path / "op" / "mapping.yaml").read_text())
    assert written["files"]["pay.csv"]["card"] == ["bin_no", "ending", "valid"]
    text = _store_text(tmp_path / "op") + (tmp_path / "op" / "load_problems.jsonl").read_text()
    assert "4120771234589904" not in text.replace(" ", "")
    assert "412077******9904" in text          # the note, masked


def test_a_full_pan_in_a_card_column_is_stored_as_bin_last4_and_hmac_only(tmp_path):
    f = tmp_path / "cards.csv"
    f.write_text("Name,Card number,card_bin,card_last4\n"
                 "Ana Lima,4120 7712 3458 9904,,\n"
                 "Bo Berg,,412077,9904\n", encoding="utf-8")
    [res] = load_files([f], tmp_path / "op")
    assert res.mapping["card"] == ["Card number", "card_bin", "card_last4"]
    assert "1 full card number(s) kept only as BIN + last 4 and a keyed hash" in " ".join(res.notes)
    text = _store_text(tmp_path / "op")
    assert "4120771234589904" not in text.replace(" ", "")
    assert "pan_hmac=" in text
    key = (tmp_path / "op" / "payment.key")
    assert len(key.read_bytes()) == 32 and oct(key.stat().st_mode & 0o777) == "0o600"
