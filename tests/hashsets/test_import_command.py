"""`haven hashsets import`: an import that reads nothing is refused unless --allow-empty."""

from __future__ import annotations

from typer.testing import CliRunner

from haven.cli import app

runner = CliRunner()
MD5 = "360ebe8964fab73553a60189969cc478"


def _import(*args):
    return runner.invoke(app, ["hashsets", "import", *map(str, args)])


def test_an_import_of_zero_entries_is_an_error_and_stores_nothing(tmp_path):
    path = tmp_path / "junk.txt"
    path.write_text("garbage line\nzzz\n")
    case = tmp_path / "case"
    res = _import(path, "--format", "txt", "--name", "x", "--case", case)
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "no hash entries" in text and "2 malformed" in text and "--allow-empty" in text
    assert "Traceback" not in res.output
    assert not case.exists()                 # nothing stored, no case made
    header_only = tmp_path / "header.csv"
    header_only.write_text("md5,category\n")
    assert _import(header_only, "--name", "x", "--case", case).exit_code == 2


def test_allow_empty_imports_an_empty_set_on_purpose(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("md5,category\n")
    case = tmp_path / "case"
    res = _import(path, "--name", "retracted", "--case", case, "--allow-empty")
    assert res.exit_code == 0, res.output
    assert "Imported 0 entries" in res.output


def test_format_option_is_case_blind(tmp_path):
    path = tmp_path / "set.csv"
    path.write_text(f"md5,category\n{MD5},1\n")
    res = _import(path, "--format", "CSV", "--name", "x", "--case", tmp_path / "case")
    assert res.exit_code == 0, res.output
    assert "Imported 1 entries" in res.output and "format csv" in res.output


def test_a_binary_file_is_one_printable_line(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4)
    for fmt in ("auto", "csv"):
        res = _import(path, "--format", fmt, "--name", "x", "--case", tmp_path / "case")
        assert res.exit_code == 2 and "Traceback" not in res.output
        assert all(line.isprintable() for line in res.output.splitlines())


def test_malformed_lines_are_shown_as_written_never_as_markup(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text(f"{MD5}\n[bold red]not a hash[/]\n{MD5}\n")
    res = _import(path, "--name", "x", "--case", tmp_path / "case")
    assert res.exit_code == 0, res.output
    assert "'[bold red]not a hash[/]' is not" in res.output


def test_an_empty_file_is_refused_as_empty_and_stored_with_allow_empty(tmp_path):
    # what a feed sends when it retracts everything: nothing, or a BOM and blank CRLF lines
    for name, body in (("empty.csv", b""), ("blank.txt", b"\xef\xbb\xbf\r\n\r\n")):
        case = tmp_path / f"case-{name}"
        path = tmp_path / name
        path.write_bytes(body)
        res = _import(path, "--name", "feed", "--case", case)
        assert res.exit_code == 2
        text = " ".join(res.output.split())
        assert f"{name}: the file is empty; nothing imported" in text and "--allow-empty" in text
        assert "not a hash-set format" not in text and "Traceback" not in res.output
        assert not case.exists()
        res = _import(path, "--name", "feed", "--case", case, "--allow-empty")
        assert res.exit_code == 0, res.output
        assert "Imported 0 entries" in res.output


def test_a_csv_without_header_is_refused_saying_which_header_to_add(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text(f"{MD5},{'ab' * 20}\r\n{MD5},{'cd' * 20}\r\n")
    for fmt in ("auto", "csv"):
        res = _import(path, "--name", "x", "--case", tmp_path / "case", "--format", fmt)
        assert res.exit_code == 2
        text = " ".join(res.output.split())
        assert "the first line holds hashes, not column names" in text
        assert "'md5,sha1'" in text and "sha512" in text
        assert "name the format with --format" not in text


def test_a_plain_list_of_64_hex_lines_says_it_read_sha256_and_how_to_mean_pdq(tmp_path):
    # a feed's "PDQ list" with no header: 64 hex digits are SHA-256 to a plain list
    pdq = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    path = tmp_path / "pdq_hashes.txt"
    path.write_text(f"{pdq}\n{MD5}\n")
    res = _import(path, "--name", "feed", "--case", tmp_path / "case")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "1 line(s) of 64 hex digits read as SHA-256" in text and "`pdq`" in text
    fixed = tmp_path / "pdq_hashes.csv"
    fixed.write_text(f"pdq\n{pdq}\n")
    res = _import(fixed, "--name", "feed", "--case", tmp_path / "case")
    assert res.exit_code == 0 and "format csv" in res.output and "SHA-256" not in res.output


def test_a_blank_or_ambiguous_set_name_is_refused_before_anything_is_stored(tmp_path):
    # `--name "$FEED"` with FEED unset; a ';' would split the set in findings.csv's match_set
    path = tmp_path / "list.txt"
    path.write_text(MD5 + "\n")
    case = tmp_path / "case"
    for bad, why in (("", "blank"), ("  ", "blank"), ("icse; ncmec", "';'"), ("a\tb", "';'")):
        res = _import(path, "--name", bad, "--case", case)
        assert res.exit_code == 2, (bad, res.output)
        assert why in res.output and "Traceback" not in res.output
        assert not case.exists()
    res = _import(path, "--name", "  Polizei Österreich (2026-12)  ", "--case", case)
    assert res.exit_code == 0 and "'Polizei Österreich (2026-12)'" in res.output, res.output
    lib = tmp_path / "national"
    assert runner.invoke(app, ["library", "create", str(lib)]).exit_code == 0
    res = runner.invoke(app, ["library", "import", str(lib), str(path), "--name", " "])
    assert res.exit_code == 2 and "blank" in res.output
