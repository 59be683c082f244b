"""`haven scan --passwords/--key-file`: encrypted evidence is scanned with them, and the
secrets (passwords, key-file contents, even the files' paths) appear nowhere in the case
folder nor in what the command prints."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evidence"))

from typer.testing import CliRunner  # noqa: E402

from haven.cli import app  # noqa: E402

from crypt_fixtures import luks_image, seven_zip  # noqa: E402
from disk_fixtures import fat_image, picture  # noqa: E402

SECRET = "benign-Passw0rd-7731"
WRONG = "not-it-5521"
KEY_TEXT = "benign-key-file-contents-0042"


def _findings(case: Path) -> dict[str, dict]:
    with open(case / "findings.jsonl") as fh:
        return {row["path"]: row for row in map(json.loads, fh)}


def _everything_under(folder: Path) -> bytes:
    data = []
    for dirpath, _, files in os.walk(folder):
        for name in files:
            data.append(name.encode())
            data.append(Path(dirpath, name).read_bytes())
    return b"\n".join(data)


def test_scan_unlocks_with_the_passwords_file_and_stores_no_secret(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    ev = tmp_path / "seizure"
    ev.mkdir()
    fat = fat_image(work / "fat.img", {"a.jpg": picture(7)})
    luks_image(ev / "disk.luks", fat, SECRET)
    seven_zip(ev / "pack.zip", {"b.jpg": picture(8)}, SECRET, "-mem=AES256")
    seven_zip(ev / "pack.7z", {"c.jpg": picture(9)}, SECRET, "-mhe=on")
    luks_image(ev / "other.luks", fat_image(work / "fat2.img", {"d.jpg": picture(10)}), KEY_TEXT)
    key_file = tmp_path / "private" / "other.key"
    secrets = tmp_path / "private" / "pw.txt"
    secrets.parent.mkdir()
    secrets.write_text(f"{WRONG}\n{SECRET}\n")
    key_file.write_text(KEY_TEXT)

    locked_case = tmp_path / "locked"
    r = CliRunner().invoke(app, ["scan", str(ev), "--case", str(locked_case), "--workers", "1"])
    assert r.exit_code == 0, r.output
    locked = _findings(locked_case)
    assert locked["seizure/disk.luks"]["error"].startswith(
        "encrypted: LUKS volume; give its passphrase in `--passwords`")
    assert locked["seizure/pack.zip/b.jpg"]["error"].startswith("encrypted: zip member (AES)")
    assert locked["seizure/pack.7z"]["error"].startswith("encrypted: 7z archive")

    case = tmp_path / "case"
    r = CliRunner().invoke(app, ["scan", str(ev), "--case", str(case), "--workers", "1",
                                 "--passwords", str(secrets), "--key-file", str(key_file)])
    assert r.exit_code == 0, r.output
    found = _findings(case)
    for path in ("seizure/disk.luks/a.jpg", "seizure/pack.zip/b.jpg", "seizure/pack.7z/c.jpg",
                 "seizure/other.luks/d.jpg"):
        assert found[path]["finding"] == "fresh", found[path]
        assert found[path]["md5"]
    stored = _everything_under(case) + r.output.encode()
    for secret in (SECRET, WRONG, KEY_TEXT):
        for encoded in (secret.encode(), secret.encode("utf-16-le")):
            assert encoded not in stored
    assert str(secrets).encode() not in stored and str(key_file).encode() not in stored


def test_missing_passwords_file_is_one_line_error(tmp_path):
    ev = tmp_path / "seizure"
    ev.mkdir()
    (ev / "a.txt").write_text("benign")
    r = CliRunner().invoke(app, ["scan", str(ev), "--case", str(tmp_path / "case"),
                                 "--passwords", str(tmp_path / "nope.txt")])
    assert r.exit_code != 0
    assert "nope.txt" in r.output and "Traceback" not in r.output
