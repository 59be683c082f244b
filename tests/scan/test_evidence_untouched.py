"""Nothing is ever written under an evidence path: scan, rescan, --rehash, report and index
leave every name, size, mtime and byte of the evidence as it was."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile

from typer.testing import CliRunner

from haven.cli import app
from haven.demo import jpeg_bytes, make_image


def _evidence(root):
    ev = root / "evidence" / "laptop"
    (ev / "DCIM").mkdir(parents=True)
    for i in range(3):
        (ev / "DCIM" / f"img_{i}.jpg").write_bytes(jpeg_bytes(make_image(i, (200, 150)), 85))
    (ev / "notes.txt").write_text("shopping list\n")
    with zipfile.ZipFile(ev / "pack.zip", "w") as z:
        z.writestr("inner/a.jpg", jpeg_bytes(make_image(10, (160, 120)), 80))
        z.writestr("inner/b.txt", "b\n")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as t:
        data = jpeg_bytes(make_image(11, (160, 120)), 80)
        info = tarfile.TarInfo("t/c.jpg")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    (ev / "backup.tgz").write_bytes(buffer.getvalue())
    return ev


def _snapshot(root) -> dict[str, tuple]:
    """Every entry under `root`: kind, size, mtime (ns) and SHA-256 of files."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = None
            if os.path.isfile(path):
                digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
            found[os.path.relpath(path, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return found


def _run(args):
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    return r


def test_scan_report_index_and_rescans_leave_the_evidence_as_it_was(tmp_path):
    ev = _evidence(tmp_path)
    case = tmp_path / "cases" / "op"
    before = _snapshot(tmp_path / "evidence")
    _run(["scan", str(ev), "--case", str(case), "--workers", "1"])
    _run(["scan", str(ev), "--case", str(case), "--workers", "1"])
    _run(["scan", str(ev), "--case", str(case), "--workers", "1", "--rehash"])
    _run(["report", "--case", str(case)])
    _run(["index", str(ev), "--case", str(case), "--parts", "metadata,scene,thumbs"])
    _run(["hashsets", "list", "--case", str(case)])
    known = tmp_path / "known.txt"
    known.write_text(hashlib.md5((ev / "notes.txt").read_bytes()).hexdigest() + "\n")
    _run(["hashsets", "import", str(known), "--name", "k", "--case", str(case)])  # re-matches
    _run(["rematch", "--case", str(case), "--all"])
    assert _snapshot(tmp_path / "evidence") == before
    (ev / "notes.txt").write_text("shopping list, longer\n")  # the examiner's copy changes
    before = _snapshot(tmp_path / "evidence")
    _run(["scan", str(ev), "--case", str(case), "--workers", "1"])  # supersedes one finding
    assert _snapshot(tmp_path / "evidence") == before
    import json

    with open(case / "findings.jsonl") as fh:
        notes = next(f for f in map(json.loads, fh) if f["path"] == "laptop/notes.txt")
    assert [(h["cause"], h["from"]) for h in notes["history"]][-1] == ("rescan", "known")
