"""A scan killed half-way resumes: nothing lost, nothing duplicated."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile

from haven.demo import jpeg_bytes, make_image


def _evidence(root, n=240):
    ev = root / "seizure"
    ev.mkdir()
    for i in range(n):
        (ev / f"img_{i:04d}.jpg").write_bytes(jpeg_bytes(make_image(i, (160, 120)), 80))
    with zipfile.ZipFile(ev / "pack.zip", "w") as z:
        for i in range(40):
            z.writestr(f"z/{i}.txt", f"note {i}\n")
    return ev


def _scan_cmd(ev, case):
    return [sys.executable, "-m", "haven.cli", "scan", str(ev), "--case", str(case), "--workers", "1"]


def _count(case) -> int:
    db = case / "case.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("select count(*) from items").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _findings(case):
    with open(case / "findings.jsonl") as fh:
        return [json.loads(line) for line in fh]


def test_killed_scan_resumes_without_loss_or_duplicates(tmp_path):
    ev = _evidence(tmp_path)
    ref_case = tmp_path / "ref"
    subprocess.run(_scan_cmd(ev, ref_case), check=True, capture_output=True)
    reference = _findings(ref_case)
    total = len(reference)
    assert total == 240 + 1 + 40

    case = tmp_path / "case"
    env = {**os.environ, "HAVEN_FLUSH_ITEMS": "16"}
    proc = subprocess.Popen(_scan_cmd(ev, case), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _count(case) < 32 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _count(case)
    assert 0 < partial < total, f"kill landed outside the scan ({partial} of {total})"

    done = subprocess.run(_scan_cmd(ev, case), check=True, capture_output=True, text=True)
    assert "skipped" in done.stderr or "skipped" in done.stdout
    resumed = _findings(case)
    assert len(resumed) == total
    assert len({f["path"] for f in resumed}) == total
    assert resumed == reference
