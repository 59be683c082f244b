"""`haven library import`: a file that yields no entry never replaces a set unless --allow-empty."""

from __future__ import annotations

from typer.testing import CliRunner

from haven.cli import app
from haven.library.national import HashLibrary

runner = CliRunner()
MD5S = ["360ebe8964fab73553a60189969cc478", "5eb25b56d9399679c419a6d7913d2c43"]


def _entries(lib) -> dict[str, int]:
    with HashLibrary(lib, verify=False) as library:
        return {s["name"]: s["entry_count"] for s in library.sets()}


def test_a_garbled_or_empty_reimport_is_refused_and_the_set_kept(tmp_path):
    lib = tmp_path / "national"
    assert runner.invoke(app, ["library", "create", str(lib)]).exit_code == 0
    good = tmp_path / "feed.txt"
    good.write_text("\n".join(MD5S) + "\n")
    r = runner.invoke(app, ["library", "import", str(lib), str(good), "--name", "feed"])
    assert r.exit_code == 0, r.output
    garbled = tmp_path / "garbled.txt"
    garbled.write_text("<html>502 Bad Gateway</html>\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    for path, why in ((garbled, "no hash entries read"), (empty, "the file is empty")):
        r = runner.invoke(app, ["library", "import", str(lib), str(path), "--name", "feed",
                                "--format", "txt"])
        assert r.exit_code == 2, r.output
        text = " ".join(r.output.split())
        assert why in text and "--allow-empty" in text and "Traceback" not in r.output
        assert _entries(lib) == {"feed": 2}
    r = runner.invoke(app, ["library", "import", str(lib), str(empty), "--name", "feed",
                            "--allow-empty"])
    assert r.exit_code == 0, r.output
    assert _entries(lib) == {"feed": 0}
