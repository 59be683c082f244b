"""`haven index --passwords/--key-file` (and `haven scan --victim-id` with them): pictures inside
encrypted containers are indexed for victim identification too, not only scanned, and the
secrets appear nowhere in the case folder nor in what the command prints."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evidence"))

from typer.testing import CliRunner  # noqa: E402

from haven.cli import app  # noqa: E402

from crypt_fixtures import seven_zip  # noqa: E402
from disk_fixtures import picture  # noqa: E402

SECRET = "benign-Index-Passw0rd-4410"


def _stored(folder: Path) -> bytes:
    data = []
    for dirpath, _, files in os.walk(folder):
        for name in files:
            data += [name.encode(), Path(dirpath, name).read_bytes()]
    return b"\n".join(data)


def _evidence(tmp_path: Path) -> tuple[Path, Path]:
    ev = tmp_path / "seizure"
    ev.mkdir()
    (ev / "open.jpg").write_bytes(picture(1, size=(160, 120)))
    seven_zip(ev / "pack.7z", {"inside.jpg": picture(2, size=(160, 120)),
                               "also.png": picture(3, "PNG", (160, 120))}, SECRET, "-mhe=on")
    secrets = tmp_path / "private" / "pw.txt"
    secrets.parent.mkdir()
    secrets.write_text(f"wrong-one\n{SECRET}\n")
    return ev, secrets


def _index(*args: str) -> dict:
    r = CliRunner().invoke(app, ["index", *args, "--parts", "metadata", "--workers", "1",
                                 "--json"])
    assert r.exit_code == 0, r.output
    return _json(r.output)


def _json(output: str) -> dict:
    """The JSON document of a command's output (the progress lines above it left out)."""
    return json.loads(output[output.index("\n{") + 1:] if not output.startswith("{") else output)


def test_index_opens_encrypted_containers_with_the_passwords(tmp_path):
    ev, secrets = _evidence(tmp_path)
    locked = _index(str(ev), "--case", str(tmp_path / "locked"))
    assert locked["indexed"] == 1  # only the picture outside the 7z
    case = tmp_path / "case"
    unlocked = _index(str(ev), "--case", str(case), "--passwords", str(secrets))
    assert unlocked["indexed"] == 3
    stored = _stored(case)
    assert SECRET.encode() not in stored and str(secrets).encode() not in stored


def test_scan_with_victim_id_indexes_what_the_passwords_open(tmp_path):
    ev, secrets = _evidence(tmp_path)
    case = tmp_path / "case"
    r = CliRunner().invoke(app, ["scan", str(ev), "--case", str(case), "--workers", "1",
                                 "--victim-id", "--victim-id-parts", "metadata",
                                 "--passwords", str(secrets), "--json"])
    assert r.exit_code == 0, r.output
    assert _json(r.output)["victim_id"]["indexed"] == 3
    assert SECRET.encode() not in _stored(case) + r.output.encode()
