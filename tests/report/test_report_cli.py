"""`haven report` end to end: thumbnails only with --thumbnails, from what `haven index` stored."""

import json
import re

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from haven.cli import app


def _run(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def _thumbs(page: str) -> dict:
    raw = re.search(r'<script id="haven-data" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(raw.group(1))["thumbs"]


def test_report_embeds_indexed_thumbnails_only_when_asked(tmp_path):
    ev, case = tmp_path / "seizure", tmp_path / "case"
    ev.mkdir()
    rnd = np.random.default_rng(3)
    for i in range(3):  # benign generated noise pictures
        Image.fromarray(rnd.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(ev / f"p{i}.png")
    import os
    os.utime(ev / "p1.png", (1_600_000_000, 1_600_000_000))
    _run("scan", ev, "--case", case, "--workers", "1")
    rows = {json.loads(x)["path"].rsplit("/", 1)[1]: json.loads(x)
            for x in (case / "findings.jsonl").read_text().splitlines()}
    assert rows["p1.png"]["modified"] == "2020-09-13T12:26:40Z"  # the file's own time
    page = (case / "report.html").read_text()
    assert "Media by time (EXIF time taken, else file modified)" in page  # timeline unindexed
    assert _thumbs(page) == {} and "holds pictures" not in page
    assert "run <code>haven index</code>" in page  # not indexed: the fresh list says why
    _run("report", "--case", case, "--thumbnails")
    assert "Thumbnails were asked for, but the case has none" in (case / "report.html").read_text()
    _run("index", "--case", case, ev, "--parts", "metadata,thumbs")
    _run("report", "--case", case, "--thumbnails")
    page = (case / "report.html").read_text()
    thumbs = _thumbs(page)
    assert sorted(p.rsplit("/", 1)[1] for p in thumbs) == ["p0.png", "p1.png", "p2.png"]
    assert "This file holds pictures:</strong> 3 small" in page
    import base64
    import io

    assert {Image.open(io.BytesIO(base64.b64decode(b))).mode for b in thumbs.values()} == {"L"}
    _run("report", "--case", case)
    assert _thumbs((case / "report.html").read_text()) == {}
