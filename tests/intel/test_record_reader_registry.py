"""Record readers are found by themselves and chosen by content: binary formats first, then
binary content refused, then the text formats in priority order; a new format is one module."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from haven.intel.errors import RecordFileError
from haven.intel.readers import read_table, reader_for, readers, register


def test_every_reader_module_is_found_in_priority_order():
    assert [r.name for r in readers()] == ["sqlite", "xlsx", "sqldump", "json", "csv"]
    assert {r.name for r in readers() if r.binary} == {"sqlite", "xlsx"}
    assert {r.name for r in readers() if r.tables} == {"sqlite", "sqldump"}


def test_files_are_told_apart_by_content_not_name(tmp_path: Path):
    db = tmp_path / "customers.csv"  # an SQLite file with a misleading name
    with sqlite3.connect(db) as con:
        con.execute("create table buyers (name text, email text)")
        con.execute("insert into buyers values ('Ana', 'ana@example.org')")
    con.close()
    (tmp_path / "list.sqlite").write_text('[{"name": "Ana"}]', encoding="utf-8")
    assert reader_for(db).name == "sqlite"
    assert reader_for(tmp_path / "list.sqlite").name == "json"
    table = read_table(db, table="buyers")
    assert table.headers == ["name", "email"]
    assert [row.values for row in table.rows] == [{"name": "Ana", "email": "ana@example.org"}]


def test_a_zip_that_is_no_workbook_and_binary_bytes_are_refused_with_a_reason(tmp_path: Path):
    (tmp_path / "a.zip").write_bytes(b"PK\x03\x04" + bytes(200))
    (tmp_path / "b.bin").write_bytes(b"name,email\n\x00\x01\x02\x00" * 50)
    with pytest.raises(RecordFileError, match="ZIP archive that is not an XLSX"):
        reader_for(tmp_path / "a.zip")
    with pytest.raises(RecordFileError, match="not a table of records"):
        reader_for(tmp_path / "b.bin")


def test_register_refuses_a_reader_missing_what_the_protocol_asks():
    with pytest.raises(TypeError, match="lacks"):
        @register
        class NoPriority:  # noqa: F841 - the decorator is what is tested
            name = "nopriority"

            def sniff(self, head, path):
                return False

            def read(self, path, table=None):
                raise AssertionError
    assert "nopriority" not in [r.name for r in readers()]
