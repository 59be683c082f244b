"""Text SQL dumps (mysqldump, pg_dump, sqlite3 .dump): parsed, never executed; rows keep numbers."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import duckdb
import pytest

from haven.intel.errors import RecordFileError
from haven.intel.load import load_files
from haven.intel.readers import read_table, reader_for

MYSQL = """-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)
--
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!50503 SET NAMES utf8mb4 */;
DROP TABLE IF EXISTS `customers`;
CREATE TABLE `customers` (
  `id` int NOT NULL AUTO_INCREMENT,
  `name` varchar(100) DEFAULT NULL,
  `email` varchar(200) DEFAULT NULL,
  `key` varchar(10),
  PRIMARY KEY (`id`),
  KEY `idx_email` (`email`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
LOCK TABLES `customers` WRITE;
INSERT INTO `customers` VALUES (1,'O\\'Hara, Seán','sean@example.ie',NULL),(2,'Ana \\"Luz\\"','a;b@example.org','x\\\\y'),
(3,'Two\\nLines','',_binary 'k');
INSERT INTO `customers` VALUES (4,'Short row');
INSERT INTO `customers` (`email`, `id`) VALUES ('only@example.net', 5);
UNLOCK TABLES;
DELIMITER ;;
CREATE TRIGGER t BEFORE INSERT ON customers FOR EACH ROW BEGIN SET NEW.name = 'x'; END ;;
DELIMITER ;
"""

PG = """--
-- PostgreSQL database dump
--
\\restrict k3y
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
CREATE FUNCTION public.touch() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  NEW.note := 'a;b';
  RETURN NEW;
END;
$$;
CREATE TABLE public.customers (
    id integer NOT NULL,
    "full name" character varying(100),
    email text,
    ip inet
);
COPY public.customers (id, "full name", email, ip) FROM stdin;
1	José Núñez	jose@example.es	192.0.2.10
2	Tab\\there	\\N	198.51.100.7
3	too	few
\\.
INSERT INTO public.customers (id, "full name", email, ip) VALUES (4, 'C:\\dir it''s', E'e\\'s', '203.0.113.9'::inet);
INSERT INTO public.customers VALUES (5, 'Five', NULL, NULL);
\\unrestrict k3y
"""


def _dump(tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def _items(table):
    return list(table.rows)


def test_mysqldump_columns_from_create_table_and_multi_row_inserts_with_escapes(tmp_path):
    f = _dump(tmp_path, "shop.sql", MYSQL)
    table = read_table(f)
    assert table.format == "sqldump"
    assert table.headers == ["id", "name", "email", "key"]  # constraints are not columns
    items = _items(table)
    rows = [i for i in items if hasattr(i, "values")]
    assert [r.values["name"] for r in rows[:3]] == ["O'Hara, Seán", 'Ana "Luz"', "Two\nLines"]
    assert rows[1].values["email"] == "a;b@example.org"      # ';' inside a string
    assert rows[1].values["key"] == "x\\y"
    assert rows[0].values["key"] is None and rows[2].values["email"] is None
    assert rows[2].values["key"] == "k"                       # _binary introducer
    assert [(r.row, r.line) for r in rows] == [(1, 15), (2, 15), (3, 16), (5, 18)]
    assert rows[3].values == {"id": "5", "name": None, "email": "only@example.net", "key": None}
    [bad] = [i for i in items if not hasattr(i, "values")]
    assert (bad.row, bad.line, bad.kind) == (4, 17, "wrong_field_count")
    assert "Short row" in bad.raw
    assert any("DELIMITER 1" in n for n in table.notes)        # trigger skipped, not run


def test_pg_dump_copy_block_and_column_inserts(tmp_path):
    f = _dump(tmp_path, "pg.sql", PG)
    table = read_table(f)
    assert table.headers == ["id", "full name", "email", "ip"]
    items = _items(table)
    rows = {i.row: i for i in items if hasattr(i, "values")}
    assert rows[1].values["full name"] == "José Núñez" and rows[1].line == 22
    assert rows[2].values["full name"] == "Tab\there" and rows[2].values["email"] is None
    assert rows[4].values == {"id": "4", "full name": "C:\\dir it's", "email": "e's",
                              "ip": "203.0.113.9"}   # backslash literal; E'' escapes; cast
    assert rows[5].line == 27
    [bad] = [i for i in items if not hasattr(i, "values")]
    assert (bad.row, bad.line, bad.kind, bad.raw) == (3, 24, "wrong_field_count", "3\ttoo\tfew")


def test_sqlite_dot_dump_output_is_read(tmp_path):
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE people(key TEXT, name TEXT, email TEXT, photo BLOB)")
    con.executemany("INSERT INTO people VALUES (?,?,?,?)",
                    [("k1", "it's;\nme", "x@example.org", b"\xff\x00"),
                     ("k2", None, "", b"abc")])
    f = _dump(tmp_path, "people.sql", "\n".join(con.iterdump()) + "\n")
    table = read_table(f)
    assert table.headers == ["key", "name", "email", "photo"]   # bare `key` is a column here
    rows = _items(table)
    assert [r.values for r in rows] == [
        {"key": "k1", "name": "it's;\nme", "email": "x@example.org", "photo": "ff00"},
        {"key": "k2", "name": None, "email": None, "photo": "abc"},
    ]
    assert [r.line for r in rows] == [3, 5]
    assert table.warnings["blob_as_hex"] == 1


TWO_TABLES = """CREATE TABLE customers (id INTEGER, name TEXT);
CREATE TABLE orders (id INTEGER, customer INTEGER, total REAL);
INSERT INTO customers VALUES (1, 'Ana');
INSERT INTO orders VALUES (10, 1, 9.5), (11, 1, -2);
"""


def test_several_tables_need_table_option_like_sqlite_files(tmp_path):
    f = _dump(tmp_path, "two.sql", TWO_TABLES)
    with pytest.raises(RecordFileError, match=r"2 tables \(customers, orders\).*--table NAME"):
        read_table(f)
    orders = read_table(f, table="ORDERS")
    assert orders.headers == ["id", "customer", "total"]
    assert [(r.row, r.values["total"]) for r in orders.rows] == [(1, "9.5"), (2, "-2")]
    with pytest.raises(RecordFileError, match="no table 'refunds'.*customers, orders"):
        read_table(f, table="refunds")
    db = tmp_path / "two.sqlite"
    con = sqlite3.connect(db)
    con.executescript("CREATE TABLE customers (id, name); CREATE TABLE orders (id, total);"
                      "INSERT INTO orders VALUES (1, 3);")
    con.commit()
    con.close()
    with pytest.raises(RecordFileError, match="2 tables.*--table NAME"):
        read_table(db)
    assert [r.values for r in read_table(db, table="orders").rows] == [{"id": "1", "total": "3"}]


def test_unreadable_statements_are_problems_with_line_numbers_and_loading_goes_on(tmp_path):
    f = _dump(tmp_path, "bad.sql",
              "CREATE TABLE t (name TEXT, email TEXT);\n"
              "INSERT INTO t VALUES ('A One', 'a@example.org');\n"
              "this is not sql;\n"
              "INSERT INTO t SELECT * FROM other;\n"
              "INSERT INTO t VALUES ('B Two', 'b@example.org'), ('C', 'c@example.org' 'x');\n"
              "UPDATE t SET email = NULL;\n"
              "INSERT INTO t VALUES ('D Four', 'd@example.org');\n"
              "INSERT INTO t VALUES ('E Five', 'never closed);\n")
    [res] = load_files([f], tmp_path / "op")
    con = duckdb.connect(str(tmp_path / "op" / "intel.duckdb"), read_only=True)
    recs = con.sql("SELECT row, line, full_name, sha256 FROM records ORDER BY row").fetchall()
    con.close()
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    assert [(r[0], r[1], r[2]) for r in recs] == [(1, 2, "A One"), (2, 5, "B Two"),
                                                 (3, 7, "D Four")]
    assert {r[3] for r in recs} == {digest}
    problems = [json.loads(x) for x in (tmp_path / "op" / "load_problems.jsonl").read_text()
                .splitlines()]
    errors = [(p["line"], p["kind"]) for p in problems if p["level"] == "error"]
    assert errors == [(3, "bad_statement"), (4, "bad_statement"), (5, "bad_statement"),
                      (8, "bad_statement")]
    by_line = {p["line"]: p["message"] for p in problems if p["level"] == "error"}
    assert "first 1 rows were read" in by_line[5]
    assert "unterminated" in by_line[8]
    assert res.warnings["sql_change_not_applied"] == 1
    assert res.problems == 4


def test_data_only_dump_without_column_names_gets_numbered_columns(tmp_path):
    f = _dump(tmp_path, "data.sql", "INSERT INTO `t` VALUES (1,'Ana','ana@example.org');\n"
                                     "INSERT INTO `t` VALUES (2,'Bo','bo@example.org');\n")
    table = read_table(f)
    assert table.headers == ["column_1", "column_2", "column_3"]
    assert table.warnings["no_column_names"] == 1
    assert [r.values["column_2"] for r in table.rows] == ["Ana", "Bo"]


def test_dumps_are_recognised_by_content_and_csv_is_not_mistaken_for_one(tmp_path):
    assert reader_for(_dump(tmp_path, "a.txt", MYSQL)).name == "sqldump"
    assert reader_for(_dump(tmp_path, "b.dat", PG)).name == "sqldump"
    assert reader_for(_dump(tmp_path, "c.sql", "set,name\n1,Ana\n")).name == "csv"
    assert reader_for(_dump(tmp_path, "d.csv", "insert,into\n1,2\n")).name == "csv"


def test_a_dump_is_never_executed(tmp_path):
    # A dump that would write a file if any engine ran it: only its rows come out.
    target = tmp_path / "pwned.db"
    f = _dump(tmp_path, "evil.sql",
              "CREATE TABLE t (a TEXT);\n"
              f"ATTACH DATABASE '{target}' AS x;\n"
              "CREATE TABLE x.t (a TEXT);\n"
              "INSERT INTO t VALUES ('1');\n")
    items = list(read_table(f).rows)
    assert [(i.line, i.kind) for i in items if not hasattr(i, "values")] == [(2, "bad_statement")]
    assert [i.values for i in items if hasattr(i, "values")] == [{"a": "1"}]
    assert not target.exists()


def test_load_command_takes_table_for_a_dump_with_several(tmp_path):
    from typer.testing import CliRunner

    from haven.intel.cli import intel_app

    f = _dump(tmp_path, "two.sql", TWO_TABLES)
    op = tmp_path / "op"
    res = CliRunner().invoke(intel_app, ["load", str(f), "--op", str(op)])
    assert res.exit_code != 0 and "--table" in res.output
    res = CliRunner().invoke(intel_app, ["load", str(f), "--table", "customers", "--op", str(op)])
    assert res.exit_code == 0, res.output
    assert "table 'customers'" in res.output
    con = duckdb.connect(str(op / "intel.duckdb"), read_only=True)
    assert con.sql("SELECT file, row, full_name FROM records").fetchall() == [("two.sql", 1, "Ana")]
    con.close()
