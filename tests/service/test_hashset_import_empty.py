"""A hash-set file that yields no entry (wrong format, garbled or empty download) never replaces
a matching-API set with nothing, from the command line or the API, unless asked to."""

from __future__ import annotations

from typer.testing import CliRunner

from servicekit import make_service
from haven.service.cli import service_app

MD5S = b"360ebe8964fab73553a60189969cc478\n5eb25b56d9399679c419a6d7913d2c43\n"
GARBLED = b"<html>502 Bad Gateway</html>\n"


def test_the_command_refuses_a_file_that_yields_nothing_and_keeps_the_set(tmp_path):
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "svc")]
    good, garbled, empty = tmp_path / "good.txt", tmp_path / "garbled.txt", tmp_path / "empty.txt"
    good.write_bytes(MD5S)
    garbled.write_bytes(GARBLED)
    empty.write_bytes(b"")
    r = runner.invoke(service_app, ["import-hashset", str(good), "--name", "bank", *data])
    assert r.exit_code == 0 and "v1: 2 entries" in r.output, r.output
    for path, why in ((garbled, "no hash entries read"), (empty, "the file is empty")):
        r = runner.invoke(service_app, ["import-hashset", str(path), "--name", "bank",
                                        "--format", "txt", *data])
        assert r.exit_code == 2, r.output
        text = " ".join(r.output.split())
        assert why in text and "--allow-empty" in text and "Traceback" not in r.output
    r = runner.invoke(service_app, ["import-hashset", str(good), "--name", "bank", *data])
    assert "v2: 2 entries" in r.output, r.output  # the refused files made no version
    r = runner.invoke(service_app, ["import-hashset", str(empty), "--name", "bank",
                                    "--allow-empty", *data])
    assert r.exit_code == 0 and "v3: 0 entries" in r.output, r.output


def test_the_api_refuses_a_file_that_yields_nothing_unless_allow_empty(tmp_path):
    svc = make_service(tmp_path, None)
    try:
        def upload(data: bytes, **form):
            return svc.client.post("/api/v1/hashsets", headers=svc.h("coord"),
                                   files={"file": ("set", data, "text/plain")},
                                   data={"name": "bank", **form})

        assert upload(MD5S).json()["entries"] == 2
        r = upload(GARBLED, format="txt")
        assert r.status_code == 422 and "no hash entries read" in r.text, r.text
        r = upload(b"")
        assert r.status_code == 422 and "the file is empty" in r.text, r.text
        sets = svc.client.get("/api/v1/hashsets", headers=svc.h("coord")).json()
        assert [(h["name"], h["version"], h["entries"]) for h in sets] == [("bank", 1, 2)]
        r = upload(b"", allow_empty="true")
        assert r.status_code == 201 and r.json()["entries"] == 0, r.text
    finally:
        svc.app.state.svc.engine.dispose()
