"""Ctrl-C during a scan (a real SIGINT to a real `haven scan`): what was analysed is kept, the
message says how many items and how to go on, the status is 130, no traceback; the same
command then resumes. While it runs, a second scan of the case is refused by name."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


def _evidence(root: Path, n: int) -> Path:
    ev = root / "ev"
    ev.mkdir()
    rng = np.random.default_rng(12)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(ev / f"{i:04}.png")
    return ev


def _stored(case: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{case / 'case.db'}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT count(*) FROM items").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _haven(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "HAVEN_FLUSH_ITEMS": "16"}
    return subprocess.Popen([sys.executable, "-m", "haven.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def test_ctrl_c_keeps_the_work_and_the_same_command_resumes(tmp_path):
    n = 2400  # a quiet CI machine scans ~350 items/s on one worker: keep the first scan running for seconds after 32 are stored
    ev = _evidence(tmp_path, n)
    case = tmp_path / "case"
    args = ("scan", str(ev), "--case", str(case), "--workers", "1")
    proc = _haven(*args)
    deadline = time.monotonic() + 120
    while _stored(case) < 32:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.1)

    second = subprocess.run([sys.executable, "-m", "haven.cli", *args], capture_output=True,
                            text=True, timeout=120)
    assert proc.poll() is None, "the first scan ended before the second was tried"
    assert second.returncode == 2
    assert f"is being scanned by process {proc.pid}" in second.stderr

    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err + out
    line = [ln for ln in err.splitlines() if ln.startswith("interrupted:")]
    assert len(line) == 1, err
    saved = int(line[0].split()[1].replace(",", ""))
    assert line[0] == f"interrupted: {saved:,} items saved; run the same command to resume"
    assert 0 < saved < n
    assert _stored(case) == saved

    again = subprocess.run([sys.executable, "-m", "haven.cli", *args[:-1], "2", "--json"],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    import json

    result = json.loads(again.stdout)
    assert result["scan"]["skipped"] == saved
    assert result["scan"]["items"] == n - saved
    assert result["summary"]["items"] == n


def test_an_interrupt_while_a_batch_is_written_keeps_the_earlier_batches(tmp_path, monkeypatch):
    import pytest

    from haven.match.library import MatchLibrary
    from haven.scan import pipeline
    from haven.scan.pipeline import ScanOptions, scan
    from haven.store.case import CaseStore

    monkeypatch.setattr(pipeline, "FLUSH_ITEMS", 8)
    ev = _evidence(tmp_path, 40)
    store = CaseStore(tmp_path / "case", create=True)
    real_match, calls, seen = MatchLibrary.match, [0], []

    def match(self, *args, **kw):
        calls[0] += 1
        if calls[0] == 21:  # the third batch, while it is being written
            raise KeyboardInterrupt
        return real_match(self, *args, **kw)

    monkeypatch.setattr(MatchLibrary, "match", match)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        scan([str(ev)], store, ScanOptions(workers=1), seen.append)
    assert time.monotonic() - started < 60
    assert seen[-1].saved == 16  # two whole batches; the third rolled back, not written twice
    assert _stored(store.dir) == 16
    store.close()
