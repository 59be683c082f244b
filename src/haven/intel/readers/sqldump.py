"""Text SQL dumps of a table: mysqldump, pg_dump (--inserts, --column-inserts, COPY) and SQLite .dump.

The dump is parsed, never executed: a statement splitter and a tokenizer of our own read
CREATE TABLE (column names), INSERT/REPLACE (single- and multi-row VALUES) and pg_dump's
COPY … FROM stdin blocks; every other statement (SET, LOCK, ALTER, CREATE INDEX …) is
skipped and counted. Nothing in a seized dump can run: no database engine ever sees it.

Two passes over the file: the first finds the tables and their columns (so the headers are
known and "several tables" is an error before any row is read), the second yields the rows
of the chosen table. A statement that cannot be read is a `RowProblem` with its line number.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple
from pathlib import Path

from haven.intel.errors import RecordFileError
from haven.intel.readers.base import RawRow, RowProblem, Table, note_huge, unique_headers
from haven.intel.readers.registry import register
from haven.intel.readers.text import detect_encoding

#: Longest raw text kept with a problem (a 1 MB extended INSERT is not copied whole).
RAW_KEEP = 2000

_HEADER_MARKS = ("-- MySQL dump", "-- MariaDB dump", "-- PostgreSQL database dump",
                 "PRAGMA foreign_keys=OFF;")
_FIRST_STATEMENT = re.compile(
    r"""(?:CREATE\s+(?:TEMP(?:ORARY)?\s+)?TABLE\s
         |INSERT\s+(?:IGNORE\s+|OR\s+\w+\s+)?INTO\s
         |REPLACE\s+INTO\s
         |DROP\s+TABLE\s
         |LOCK\s+TABLES\s
         |COPY\s+\S+.*?\sFROM\s+stdin\s*;
         |(?:BEGIN|START)\s+TRANSACTION\s*;
         |PRAGMA\s+\w+
         |SET\s+[@\w"`.]+\s*(?:=|TO\s)
         |USE\s+\S+\s*;)""",
    re.I | re.X | re.S)
_LEADING_NOISE = re.compile(r"(?:\s+|--[^\n]*|#[^\n]*|/\*.*?\*/)*", re.S)


def _splitter(mysql: bool) -> re.Pattern[str]:
    """One whole statement up to its top-level `;` (possessive: no backtracking blow-up)."""
    if mysql:
        sq = r"'(?:[^'\\]++|\\.)*+'"
        dq = r'"(?:[^"\\]++|\\.)*+"'
        run = r"[^;'\"`/#\-$eE\\]++"
        extra = r"|\#[^\n]*+|\\."
    else:
        sq = r"'[^']*+'"
        dq = r'"[^"]*+"'
        run = r"[^;'\"`/\-$eE]++"
        extra = ""
    alts = (run, r"[eE]'(?:[^'\\]++|\\.)*+'", sq, dq, r"`[^`]*+`", r"--[^\n]*+",
            r"/\*.*?\*/", r"\$(?P<tag>\w*)\$.*?\$(?P=tag)\$",
            r"/(?!\*)", r"-(?!-)", r"\$(?!\w*\$)", r"[eE](?!')")
    return re.compile("(?:" + "|".join(alts) + extra + ")*+;", re.S)


def _tokenizer(mysql: bool) -> re.Pattern[str]:
    if mysql:
        sq = r"'(?:[^'\\]|\\.|'')*'"
        dq = r'"(?:[^"\\]|\\.|"")*"'
        comment = r"--[^\n]*|/\*.*?\*/|\#[^\n]*"
    else:
        sq = r"'(?:[^']|'')*'"
        dq = r'"(?:[^"]|"")*"'
        comment = r"--[^\n]*|/\*.*?\*/"
    return re.compile(
        rf"""(?P<ws>\s+)|(?P<comment>{comment})
        |(?P<estr>[eE]'(?:[^'\\]|\\.|'')*')|(?P<xstr>[xX]'[0-9a-fA-F\s]*')
        |(?P<str>{sq})|(?P<dq>{dq})|(?P<bt>`(?:[^`]|``)*`)
        |(?P<dollar>\$(?P<tag>\w*)\$.*?\$(?P=tag)\$)
        |(?P<hex>0[xX][0-9a-fA-F]+)|(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
        |(?P<word>[^\W\d][\w$]*)|(?P<op>::|.)""",
        re.S | re.X)


def _fast_patterns(mysql: bool) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A row of plain literals (strings, numbers, NULL) and one such literal, for the fast path.

    Rows with anything else (expressions, casts, blobs) go through the tokenizer.
    """
    body = r"(?:[^'\\]++|\\.|'')*+" if mysql else r"(?:[^']++|'')*+"
    val = rf"'{body}'|NULL\b|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
    row = re.compile(rf"\(\s*((?:(?:{val})\s*,\s*)*(?:{val}))\s*\)\s*(,\s*|\Z|(?=ON\b))",
                     re.S | re.I)
    one = re.compile(rf"'({body})'|(NULL)|([-+]?[\d.][\d.eE+-]*)", re.S | re.I)
    return row, one


class Tok(NamedTuple):
    kind: str
    text: str
    line: int


@dataclass
class _TableInfo:
    name: str
    line: int
    columns: list[str] = field(default_factory=list)
    created: bool = False
    rows: int = 0


@register
class SqlDumpReader:
    name = "sqldump"
    priority = 30
    binary = False
    tables = True

    def sniff(self, head: bytes, path: Path) -> bool:
        text = _decode_head(head)
        if any(mark in text[:512] for mark in _HEADER_MARKS):
            return True
        rest = text[_LEADING_NOISE.match(text).end():]  # type: ignore[union-attr]
        return bool(_FIRST_STATEMENT.match(rest))

    def read(self, path: Path, table: str | None = None) -> Table:
        warnings: Counter = Counter()
        notes: list[str] = []
        encoding = detect_encoding(path, warnings, notes)
        with path.open(encoding=encoding, newline="") as fh:
            head = fh.read(64 * 1024)
        mysql = _is_mysql(head)
        notes.append("SQL dump, " + ("MySQL/MariaDB quoting (backslash escapes)" if mysql
                                     else "standard SQL quoting"))
        tables = _survey(path, encoding, mysql)
        with_data = {k: t for k, t in tables.items() if t.rows or t.created}
        if not with_data:
            raise RecordFileError(f"{path}: the SQL dump has no CREATE TABLE, INSERT or COPY "
                                  "statement")
        if table is not None:
            info = tables.get(_key(table))
            if info is None:
                raise RecordFileError(
                    f"{path}: the SQL dump has no table {table!r}; its tables: "
                    f"{_listing(with_data)}")
        elif len(with_data) > 1:
            raise RecordFileError(
                f"{path}: the SQL dump has {len(with_data)} tables ({_listing(with_data)}); "
                "choose one with --table NAME")
        else:
            info = next(iter(with_data.values()))
        raw_headers = info.columns
        if not raw_headers:
            raise RecordFileError(f"{path}: table {info.name!r} has no column names (no CREATE "
                                  "TABLE and no column list in its INSERTs)")
        if raw_headers[0].startswith("\0"):  # positional: data-only dump without column lists
            raw_headers = [f"column_{i}" for i in range(1, len(raw_headers) + 1)]
            warnings["no_column_names"] += 1
            notes.append("no CREATE TABLE and no column lists: columns named column_1 …")
        headers = unique_headers(raw_headers, warnings, notes)
        notes.append(f"table {info.name!r}")
        return Table("sqldump", headers,
                     _rows(path, encoding, mysql, info, headers, warnings, notes),
                     encoding, warnings, notes)


def _decode_head(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace")
    if head.count(b"\x00") > len(head) // 4:
        return head.decode("utf-16-le" if head[1:2] == b"\x00" else "utf-16-be",
                           errors="replace")
    return head.decode("utf-8", errors="replace").lstrip("\ufeff")


def _is_mysql(head: str) -> bool:
    if "-- MySQL dump" in head or "-- MariaDB dump" in head or "/*!" in head:
        return True
    if "standard_conforming_strings = off" in head:
        return True
    if "PostgreSQL database dump" in head or "PRAGMA " in head:
        return False
    return "`" in head or re.search(r"\)\s*ENGINE\s*=", head, re.I) is not None


def _key(name: str) -> str:
    return name.casefold()


def _listing(tables: dict[str, _TableInfo]) -> str:
    return ", ".join(t.name + ("" if t.rows else " (no rows)") for t in
                     sorted(tables.values(), key=lambda t: t.line))


# --- statements -------------------------------------------------------------------------

@dataclass(frozen=True)
class _Statement:
    text: str
    line: int              # line of its first non-blank character
    copy_data: Iterator[tuple[int, str]] | None = None   # COPY … FROM stdin: data lines


@dataclass(frozen=True)
class _Bad:
    line: int
    message: str
    raw: str


_DELIMITER = re.compile(r"\s*DELIMITER\s+(\S+)\s*$", re.I)
_COPY_HEAD = re.compile(r"\s*COPY\s.*\bFROM\s+stdin\b", re.I | re.S)


def _statements(path: Path, encoding: str, mysql: bool) -> Iterator[_Statement | _Bad]:
    """Split a dump into statements with their line numbers, streaming line by line.

    Client commands are handled here: psql backslash commands (`\\connect`, `\\restrict`)
    are skipped, a mysql `DELIMITER` block (routines, triggers) is skipped whole, and the
    data lines of a COPY … FROM stdin travel with their statement.
    """
    split = _splitter(mysql)
    buf = ""
    buf_line = 1          # line number of buf[0]
    lineno = 0
    with path.open(encoding=encoding, newline="") as fh:
        lines = iter(fh)
        for raw in lines:
            lineno += 1
            if _STRIP_LEADING.match(buf).end() == len(buf):  # type: ignore[union-attr]
                # Nothing but blanks and comments so far: client commands can start here.
                if raw.startswith("\\"):          # psql meta-command
                    buf, buf_line = "", lineno + 1
                    continue
                m = _DELIMITER.match(raw)
                if m and m.group(1) != ";":
                    start = lineno
                    for raw2 in lines:            # routines/triggers: not data
                        lineno += 1
                        if _DELIMITER.match(raw2) and _DELIMITER.match(raw2).group(1) == ";":
                            break
                    yield _Statement("DELIMITER block (routines, triggers)", start)
                    buf, buf_line = "", lineno + 1
                    continue
                if not buf:
                    buf_line = lineno
            buf += raw
            if ";" not in raw:
                continue
            pos = 0
            while True:
                m = split.match(buf, pos)
                if m is None:
                    break
                text = buf[pos:m.end() - 1]
                lead = len(text) - len(text.lstrip())
                first = buf_line + buf.count("\n", 0, pos + lead)
                text = text[lead:]
                pos = m.end()
                if _COPY_HEAD.match(text):
                    ended = False

                    def data() -> Iterator[tuple[int, str]]:
                        nonlocal lineno, ended
                        for raw2 in lines:
                            lineno += 1
                            body = raw2.rstrip("\r\n")
                            if body == "\\.":
                                ended = True
                                return
                            yield lineno, body

                    block = data()
                    yield _Statement(text, first, block)
                    for _ in block:   # the consumer may skip this table's data
                        pass
                    if not ended:
                        yield _Bad(first, "COPY data not ended by a \\. line", "")
                    buf, buf_line, pos = "", lineno + 1, 0
                    break
                yield _Statement(text, first)
            if pos:
                buf_line += buf.count("\n", 0, pos)
                buf = buf[pos:]
    if buf.strip():
        rest = buf.strip()
        lead = len(buf) - len(buf.lstrip())
        yield _Bad(buf_line + buf.count("\n", 0, lead),
                   "unterminated statement at the end of the dump (no ';' or an open quote)",
                   rest[:RAW_KEEP])


# --- tokens and parsing ------------------------------------------------------------------

class _ParseError(Exception):
    pass


def _tokens(text: str, line: int, tokenizer: re.Pattern[str]) -> list[Tok]:
    out: list[Tok] = []
    for m in tokenizer.finditer(text):
        kind = m.lastgroup
        s = m.group()
        if kind in ("ws", "comment"):
            line += s.count("\n")
            continue
        out.append(Tok(kind, s, line))
        if kind in ("str", "estr", "dq", "dollar", "bt"):
            line += s.count("\n")
    return out


_TYPE_WORDS = {"INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "MEDIUMINT", "TEXT", "CHAR",
               "VARCHAR", "NVARCHAR", "NCHAR", "DECIMAL", "NUMERIC", "REAL", "FLOAT", "DOUBLE",
               "DATE", "DATETIME", "TIMESTAMP", "TIME", "BLOB", "BOOLEAN", "BOOL", "JSON",
               "CHARACTER", "VARBINARY", "BINARY", "UUID", "SERIAL", "BIGSERIAL", "INET"}


def _is_constraint(toks: list[Tok], i: int) -> bool:
    """Whether the table element starting at toks[i] is a constraint, not a column.

    Bare words only (a quoted `key` is a column); `key TEXT` in a SQLite schema is a column.
    """
    tok = toks[i]
    if tok.kind != "word":
        return False
    word = tok.text.upper()
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    after = toks[i + 2] if i + 2 < len(toks) else None
    if word in ("CONSTRAINT", "EXCLUDE", "LIKE", "PERIOD"):
        return nxt is not None and nxt.text not in (",", ")")
    if word == "PRIMARY" or word == "FOREIGN":
        return _upper(nxt) == "KEY"
    if word == "CHECK":
        return nxt is not None and nxt.text == "("
    if word in ("UNIQUE", "KEY", "INDEX", "FULLTEXT", "SPATIAL"):
        if nxt is None or nxt.text in (",", ")"):
            return False
        if nxt.text == "(" or _upper(nxt) in ("KEY", "INDEX"):
            return True
        return (after is not None and after.text == "("
                and not (nxt.kind == "word" and nxt.text.upper() in _TYPE_WORDS))
    return False


def _create_table(toks: list[Tok]) -> tuple[str, list[str]]:
    i = 1
    while _upper(toks[i]) in ("TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL"):
        i += 1
    i += 1  # TABLE
    if _upper(toks[i]) == "IF":
        i += 3  # IF NOT EXISTS
    name, i = _qualified_name(toks, i)
    if i >= len(toks) or toks[i].text != "(":
        raise _ParseError(f"CREATE TABLE {name} has no column list")
    columns: list[str] = []
    depth = 0
    start = True
    for j in range(i + 1, len(toks)):
        tok = toks[j]
        if start and depth == 0:
            start = False
            if tok.kind in ("word", "bt", "dq") and not _is_constraint(toks, j):
                columns.append(_ident(tok))
            elif tok.text == "[":
                columns.append(_qualified_name(toks, j)[0])
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            if depth == 0:
                return name, columns
            depth -= 1
        elif tok.text == "," and depth == 0:
            start = True
    raise _ParseError(f"CREATE TABLE {name}: column list not closed")


def _ident(tok: Tok) -> str:
    t = tok.text
    if tok.kind == "bt":
        return t[1:-1].replace("``", "`")
    if tok.kind == "dq":
        return t[1:-1].replace('""', '"')
    if tok.kind == "op" and t.startswith("["):
        return t
    return t


def _qualified_name(toks: list[Tok], i: int) -> tuple[str, int]:
    """`a`.`b`, "s"."t", s.t, [t] → last part, index after it."""
    if i < len(toks) and toks[i].text == "[":
        j = i + 1
        parts = []
        while j < len(toks) and toks[j].text != "]":
            parts.append(toks[j].text)
            j += 1
        return " ".join(parts), j + 1
    if i >= len(toks) or toks[i].kind not in ("word", "bt", "dq"):
        raise _ParseError("expected a table name")
    name = _ident(toks[i])
    i += 1
    while i + 1 < len(toks) and toks[i].text == "." and toks[i + 1].kind in ("word", "bt", "dq"):
        name = _ident(toks[i + 1])
        i += 2
    return name, i


def _upper(tok: Tok | None) -> str:
    return tok.text.upper() if tok is not None and tok.kind == "word" else ""


def _insert_head(toks: list[Tok]) -> tuple[str, list[str] | None, int]:
    """Table name, column list (or None) and the index of the first token after VALUES."""
    i = 1
    while i < len(toks) and _upper(toks[i]) != "INTO":
        i += 1
    name, i = _qualified_name(toks, i + 1)
    if i < len(toks) and _upper(toks[i]) == "AS":
        i += 2
    cols: list[str] | None = None
    if i < len(toks) and toks[i].text == "(":
        cols = []
        i += 1
        while i < len(toks) and toks[i].text != ")":
            if toks[i].text != ",":
                cols.append(_ident(toks[i]))
            i += 1
        i += 1
    if i >= len(toks) or _upper(toks[i]) not in ("VALUES", "VALUE"):
        what = " ".join(t.text for t in toks[i:i + 3]) or "nothing"
        raise _ParseError(f"INSERT into {name} without VALUES (found {what!r}); only literal "
                          "rows can be read")
    return name, cols, i + 1


_MYSQL_ESC = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a",
              "%": "\\%", "_": "\\_"}
_BS = re.compile(r"\\(.)", re.S)
_PG_ESC = re.compile(r"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|u([0-9a-fA-F]{4})"
                     r"|U([0-9a-fA-F]{8})|(.))", re.S)
_PG_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _pg_unescape(s: str) -> str:
    def sub(m: re.Match[str]) -> str:
        o, x, u, big, other = m.groups()
        if o:
            return chr(int(o, 8))
        if x:
            return chr(int(x, 16))
        if u or big:
            return chr(int(u or big, 16))
        return _PG_SIMPLE.get(other, other)
    return _PG_ESC.sub(sub, s)


def _plain(m: re.Match[str], mysql: bool) -> str | None:
    s, null, num = m.groups()
    if null is not None:
        return None
    if num is not None:
        return num
    if "''" in s:
        s = s.replace("''", "'")
    if mysql and "\\" in s:
        s = _BS.sub(lambda e: _MYSQL_ESC.get(e.group(1), e.group(1)), s)
    return s or None


class _Values:
    """Literal values of an INSERT, one tuple at a time."""

    def __init__(self, toks: list[Tok], i: int, mysql: bool, warnings: Counter) -> None:
        self.toks, self.i, self.mysql, self.warnings = toks, i, mysql, warnings

    def _value(self) -> str | None:
        toks = self.toks
        tok = toks[self.i]
        kind = tok.kind
        if kind == "str" or (kind == "dq" and self.mysql):
            s = tok.text[1:-1]
            q = tok.text[0]
            s = s.replace(q + q, q)
            if self.mysql:
                s = _BS.sub(lambda m: _MYSQL_ESC.get(m.group(1), m.group(1)), s)
            self.i += 1
            value: str | None = s
        elif kind == "estr":
            self.i += 1
            value = _pg_unescape(tok.text[2:-1].replace("''", "'"))
        elif kind == "num":
            self.i += 1
            value = tok.text
        elif kind in ("xstr", "hex"):
            self.i += 1
            digits = tok.text[2:-1] if kind == "xstr" else tok.text[2:]
            value = self._blob(bytes.fromhex("".join(digits.split())))
        elif kind == "dollar":
            self.i += 1
            tag_end = tok.text.index("$", 1) + 1
            value = tok.text[tag_end:-tag_end]
        elif tok.text in ("-", "+") and toks[self.i + 1].kind == "num":
            self.i += 2
            value = (tok.text if tok.text == "-" else "") + toks[self.i - 1].text
        elif kind == "word" and tok.text.upper() == "NULL":
            self.i += 1
            value = None
        elif kind == "word" and tok.text.upper() in ("TRUE", "FALSE"):
            self.i += 1
            value = tok.text.lower()
        elif kind == "word" and (tok.text.startswith("_") or tok.text in ("N", "n")) and \
                toks[self.i + 1].kind in ("str", "xstr", "hex"):
            self.i += 1               # MySQL charset introducer: _binary '…', _utf8mb4 '…'
            return self._value()
        else:
            return self._expression()
        # pg casts: '…'::type, '…'::character varying(20), '…'::text[]
        n = len(toks)
        while self.i < n and toks[self.i].text == "::":
            self.i += 1
            while self.i < n and (toks[self.i].kind in ("word", "dq")
                                  or toks[self.i].text in ("(", "[", "]", ".")):
                if toks[self.i].text == "(":
                    while toks[self.i].text != ")":
                        self.i += 1
                self.i += 1
        return value if value != "" else None

    def _blob(self, data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.warnings["blob_as_hex"] += 1
            return data.hex()

    def _expression(self) -> str:
        """A non-literal value (function call, arithmetic): kept as its SQL text, counted."""
        toks = self.toks
        depth = 0
        start = self.i
        while self.i < len(toks):
            t = toks[self.i].text
            if t == "(":
                depth += 1
            elif t == ")":
                if depth == 0:
                    break
                depth -= 1
            elif t == "," and depth == 0:
                break
            self.i += 1
        if self.i == start:
            raise _ParseError(f"expected a value, found {toks[start].text!r}")
        self.warnings["sql_expression_value"] += 1
        return " ".join(t.text for t in toks[start:self.i])

    def tuples(self) -> Iterator[tuple[int, list[str | None], int] | _ParseError]:
        """(line, values, index of the row's '(') per row; a _ParseError ends the statement."""
        toks = self.toks
        n = len(toks)
        while True:
            if self.i >= n or toks[self.i].text != "(":
                found = toks[self.i].text if self.i < n else "the end"
                yield _ParseError(f"expected '(' to start a row, found {found!r}")
                return
            line = toks[self.i].line
            opened = self.i
            self.i += 1
            values: list[str | None] = []
            if toks[self.i].text != ")":
                while True:
                    values.append(self._value())
                    t = toks[self.i].text
                    self.i += 1
                    if t == ")":
                        break
                    if t != ",":
                        raise _ParseError(f"expected ',' or ')' after a value, found {t!r}")
            else:
                self.i += 1
            yield line, values, opened
            if self.i >= n:
                return
            t = toks[self.i]
            if t.text == ",":
                self.i += 1
                continue
            if _upper(t) in ("ON", "RETURNING"):   # ON DUPLICATE KEY / ON CONFLICT
                return
            yield _ParseError(f"unexpected {t.text!r} after a row")
            return


_HEAD = re.compile(
    r"""\s*(?:
          (?P<create>CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMP(?:ORARY)?\s+|UNLOGGED\s+)?TABLE\b)
        | (?P<insert>(?:INSERT|REPLACE)\b)
        | (?P<copy>COPY\b)
        | (?P<other>[A-Za-z]+\b)
        | (?P<empty>$))""",
    re.I | re.X)
_NOT_APPLIED = {"UPDATE", "DELETE", "TRUNCATE", "MERGE"}
_SKIPPED = {"SET", "LOCK", "UNLOCK", "ALTER", "DROP", "CREATE", "BEGIN", "COMMIT", "START",
            "END", "ROLLBACK", "PRAGMA", "SELECT", "COMMENT", "GRANT", "REVOKE", "USE",
            "ANALYZE", "VACUUM", "REINDEX", "SAVEPOINT", "RELEASE", "DO", "REFRESH",
            "SECURITY", "WITH", "DECLARE", "VALUES", "FLUSH", "OPTIMIZE", "CALL", "CLUSTER",
            "CHECKPOINT", "RESET", "DISCARD", "SHOW", "EXPLAIN", "DEALLOCATE", "PREPARE",
            "EXECUTE", "LISTEN", "NOTIFY", "ABORT", "DELIMITER"}
_STRIP_LEADING = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*", re.S)


def _classify(text: str) -> tuple[str, str]:
    """('create'|'insert'|'copy'|'other'|'empty'|'garbage', first word)."""
    body = text[_STRIP_LEADING.match(text).end():]  # type: ignore[union-attr]
    m = _HEAD.match(body)
    if m is None:
        return "garbage", ""
    kind = m.lastgroup or "garbage"
    word = (m.group(kind) or "").split()[0].upper() if kind != "empty" else ""
    if kind == "other" and word not in _SKIPPED and word not in _NOT_APPLIED:
        return "garbage", word
    return kind, word


_COPY = re.compile(r"\s*COPY\s+(?P<name>.+?)\s*(?:\((?P<cols>[^)]*)\))?\s+FROM\s+stdin"
                   r"(?P<opts>.*)$", re.I | re.S)


def _copy_head(text: str, tokenizer: re.Pattern[str]) -> tuple[str, list[str] | None, str]:
    body = text[_STRIP_LEADING.match(text).end():]  # type: ignore[union-attr]
    m = _COPY.match(body)
    if m is None:
        raise _ParseError("COPY statement not understood")
    name, _ = _qualified_name(_tokens(m.group("name"), 0, tokenizer), 0)
    cols = None
    if m.group("cols") is not None:
        cols = [_ident(t) for t in _tokens(m.group("cols"), 0, tokenizer) if t.text != ","]
    return name, cols, m.group("opts").strip()


def _insert_tokens(text: str, line: int, tokenizer: re.Pattern[str]
                   ) -> tuple[str, list[str] | None, int]:
    """The head of an INSERT without tokenizing its (possibly megabyte) VALUES body.

    Returns the table, the column list and the offset in `text` where the rows start.
    """
    for m in _VALUES_KW.finditer(text):
        try:
            name, cols, _ = _insert_head(_tokens(text[:m.end() - 1], line, tokenizer))
        except (_ParseError, IndexError):
            continue
        return name, cols, m.end() - 1
    raise _ParseError("INSERT without VALUES; only literal rows can be read")


_VALUES_KW = re.compile(r"\bVALUES?\s*\(", re.I)


def _survey(path: Path, encoding: str, mysql: bool) -> dict[str, _TableInfo]:
    """First pass: every table, its columns and how many INSERT/COPY statements feed it."""
    tokenizer = _tokenizer(mysql)
    tables: dict[str, _TableInfo] = {}

    def info(name: str, line: int) -> _TableInfo:
        return tables.setdefault(_key(name), _TableInfo(name, line))

    for st in _statements(path, encoding, mysql):
        if isinstance(st, _Bad):
            continue
        kind, _ = _classify(st.text)
        try:
            if kind == "create":
                name, cols = _create_table(_tokens(st.text, st.line, tokenizer))
                t = info(name, st.line)
                t.created = True
                t.columns = cols + [c for c in t.columns if c not in cols and
                                    not c.startswith("\0")]
            elif kind == "insert":
                name, cols, at = _insert_tokens(st.text, st.line, tokenizer)
                t = info(name, st.line)
                t.rows += 1
                if cols:
                    if t.columns and t.columns[0].startswith("\0"):
                        t.columns = []
                    t.columns += [c for c in cols if c not in t.columns]
                elif not t.columns:
                    width = _first_tuple_width(st.text[at:], tokenizer, mysql)
                    t.columns = [f"\0{i}" for i in range(width)]
            elif kind == "copy":
                name, cols, _ = _copy_head(st.text, tokenizer)
                t = info(name, st.line)
                t.rows += 1
                if cols:
                    t.columns += [c for c in cols if c not in t.columns]
                elif not t.columns and st.copy_data is not None:
                    first = next(st.copy_data, None)
                    if first is not None:
                        t.columns = [f"\0{i}" for i in range(len(first[1].split("\t")))]
        except (_ParseError, IndexError):
            continue
    return tables


def _first_tuple_width(body: str, tokenizer: re.Pattern[str], mysql: bool) -> int:
    m = re.search(r"\)\s*(?:,\s*\(|$|ON\b)", body)
    toks = _tokens(body[: m.end() if m else 4096], 0, tokenizer)
    try:
        for item in _Values(toks, 0, mysql, Counter()).tuples():
            return 0 if isinstance(item, _ParseError) else len(item[1])
    except (_ParseError, IndexError):
        pass
    return 0


def _rows(path: Path, encoding: str, mysql: bool, info: _TableInfo, headers: list[str],
          warnings: Counter, notes: list[str]) -> Iterator[RawRow | RowProblem]:
    """Second pass: the chosen table's rows, numbered 1… in dump order; problems in place."""
    tokenizer = _tokenizer(mysql)
    fast_row, fast_one = _fast_patterns(mysql)
    positional = bool(info.columns) and info.columns[0].startswith("\0")
    index = {c: i for i, c in enumerate(info.columns)}
    row = 0
    skipped: Counter = Counter()

    def make(values: list[str | None], cols: list[str] | None, line: int,
             raw: Callable[[], str]) -> RawRow | RowProblem:
        nonlocal row
        row += 1
        names = None if (cols is None and positional) else (cols or info.columns)
        width = len(headers) if names is None else len(names)
        if len(values) != width:
            return RowProblem(row, line, "wrong_field_count",
                              f"row has {len(values)} values, table {info.name!r} has "
                              f"{width} columns", raw()[:RAW_KEEP])
        out: dict[str, str | None] = dict.fromkeys(headers)
        if names is None:
            out.update(zip(headers, values))
        else:
            for c, v in zip(names, values):
                j = index.get(c)
                if j is None:
                    return RowProblem(row, line, "unknown_column",
                                      f"column {c!r} is not in table {info.name!r}",
                                      raw()[:RAW_KEEP])
                out[headers[j]] = v
        note_huge(out, warnings)
        return RawRow(row, line, out)

    def bad(line: int | None, message: str, raw: str | None) -> RowProblem:
        return RowProblem(None, line, "bad_statement", message,
                          raw[:RAW_KEEP] if raw else None)

    for st in _statements(path, encoding, mysql):
        if isinstance(st, _Bad):
            yield bad(st.line, st.message, st.raw)
            continue
        kind, word = _classify(st.text)
        if kind in ("empty", "create"):
            continue
        if kind == "garbage":
            yield bad(st.line, "not an SQL statement haven can read"
                      + (f" ({word})" if word else ""), st.text)
            continue
        if kind == "other":
            skipped[word] += 1
            if word in _NOT_APPLIED and re.search(
                    rf"\b{re.escape(info.name)}\b", st.text[:500], re.I):
                warnings["sql_change_not_applied"] += 1
                notes.append(f"line {st.line}: {word} on the table is not applied; rows are "
                             "as inserted")
            continue
        if kind == "copy":
            try:
                name, cols, opts = _copy_head(st.text, tokenizer)
            except _ParseError as exc:
                yield bad(st.line, str(exc), st.text)
                continue
            if _key(name) != _key(info.name):
                continue
            if re.search(r"\b(?:CSV|BINARY)\b", opts, re.I):
                n = sum(1 for _ in st.copy_data or ())
                yield bad(st.line, f"COPY format {opts!r} is not read (text format only); "
                          f"{n} data lines skipped", st.text)
                continue
            for line, body in st.copy_data or ():
                values = [None if f == "\\N" else (_pg_unescape(f) or None)
                          for f in body.split("\t")]
                yield make(values, cols, line, lambda body=body: body)
            continue
        # INSERT / REPLACE
        try:
            name, cols, at = _insert_tokens(st.text, st.line, tokenizer)
        except _ParseError as exc:
            yield bad(st.line, str(exc), st.text)
            continue
        if _key(name) != _key(info.name):
            continue
        body_line = st.line + st.text.count("\n", 0, at)
        body = st.text[at:]
        pos = 0
        done = 0
        line = body_line
        while True:   # fast path: rows of plain literals, no tokens
            m = fast_row.match(body, pos)
            if m is None:
                break
            line += body.count("\n", pos, m.start())
            vals = [_plain(v, mysql) for v in fast_one.finditer(m.group(1))]
            yield make(vals, cols, line, lambda m=m: m.group(0))
            line += body.count("\n", m.start(), m.end())
            done += 1
            pos = m.end()
            if not m.group(2).startswith(","):
                break
        rest = body[pos:]
        if done and (not rest.strip() or rest.lstrip()[:2].upper() == "ON"):
            continue
        toks = _tokens(rest, line, tokenizer)
        values = _Values(toks, 0, mysql, warnings)
        try:
            for item in values.tuples():
                if isinstance(item, _ParseError):
                    raise item
                line, vals, opened = item
                done += 1
                yield make(vals, cols, line,
                           lambda o=opened, e=values.i: " ".join(t.text for t in toks[o:e]))
        except (_ParseError, IndexError) as exc:
            at_tok = toks[min(values.i, len(toks) - 1)] if toks else None
            msg = str(exc) if isinstance(exc, _ParseError) else "statement ends inside a row"
            near = " ".join(t.text for t in toks[max(0, values.i - 20):values.i + 20])
            yield bad(at_tok.line if at_tok else st.line,
                      f"INSERT at line {st.line}: {msg}; its first {done} rows were read, the "
                      "rest of this statement was not", near)
    if skipped:
        notes.append("statements skipped (not data): " + ", ".join(
            f"{w} {n}" for w, n in sorted(skipped.items())))
