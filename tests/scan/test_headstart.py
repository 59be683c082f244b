"""A new case's first files go to the workers before the store opens; the scan takes those
analyses over and finds exactly what it finds without them."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from sqlalchemy import select

from haven.demo import jpeg_bytes, make_image
from haven.scan.headstart import head_start
from haven.scan.pipeline import ScanOptions, scan
from haven.scan.workers import start_workers
from haven.store.case import CaseStore
from haven.store.models import ItemRow


def _evidence(root: Path) -> Path:
    root.mkdir()
    for n in range(3):
        (root / f"a{n}.jpg").write_bytes(jpeg_bytes(make_image(n + 1)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("inner/b.jpg", jpeg_bytes(make_image(7)))
    (root / "b.zip").write_bytes(buf.getvalue())
    (root / "c.txt").write_text("benign text after the archive")
    return root


def _findings(case: Path) -> dict[str, tuple]:
    store = CaseStore(case)
    with store.session() as s:
        return {r.path: (r.sha256, r.pdq, r.finding, r.mime) for r in s.scalars(select(ItemRow))}


def test_the_scan_takes_over_the_head_start_and_finds_the_same(tmp_path: Path):
    ev = _evidence(tmp_path / "ev")
    scan([str(ev)], CaseStore(tmp_path / "plain", create=True), ScanOptions(workers=1))

    pool = start_workers(2)
    head = head_start(pool, [str(ev)], tmp_path / "case", fast=True, video_fps=1.0)
    # the files up to the first container, in walk order; the zip is not opened
    assert sorted(Path(p).name for p in head.running) == ["a0.jpg", "a1.jpg", "a2.jpg", "b.zip"]
    scan([str(ev)], CaseStore(tmp_path / "case", create=True), ScanOptions(workers=2),
         pool=pool, head_start=head)
    assert head.running == {}  # every one taken over
    found = _findings(tmp_path / "case")
    assert found == _findings(tmp_path / "plain") and "ev/b.zip/inner/b.jpg" in found


def test_a_scan_that_keeps_no_hypothesis_data_takes_over_a_head_start_made_so(tmp_path: Path):
    ev = _evidence(tmp_path / "ev")
    pool = start_workers(2)
    head = head_start(pool, [str(ev)], tmp_path / "case", fast=True, video_fps=1.0,
                      framing=False)
    taken = []
    take = head.take

    def recording(*args, **kwargs):
        taken.append(take(*args, **kwargs))
        return taken[-1]

    head.take = recording
    scan([str(ev)], CaseStore(tmp_path / "case", create=True),
         ScanOptions(workers=2, keep_hypotheses=False), pool=pool, head_start=head)
    # every head-start analysis was used, none cancelled and made again
    assert len([f for f in taken if f is not None]) == 4 and head.running == {}


def test_a_file_changed_since_the_head_start_is_analysed_again(tmp_path: Path):
    ev = _evidence(tmp_path / "ev")
    pool = start_workers(2)
    head = head_start(pool, [str(ev)], tmp_path / "case", fast=True, video_fps=1.0)
    changed = ev / "a1.jpg"
    changed.write_bytes(jpeg_bytes(make_image(42)))
    os.utime(changed, ns=(1, 1))
    scan([str(ev)], CaseStore(tmp_path / "case", create=True), ScanOptions(workers=2),
         pool=pool, head_start=head)
    import hashlib

    assert _findings(tmp_path / "case")["ev/a1.jpg"][0] == hashlib.sha256(
        changed.read_bytes()).hexdigest()


def test_no_head_start_for_a_case_that_exists_or_without_workers(tmp_path: Path):
    ev = _evidence(tmp_path / "ev")
    CaseStore(tmp_path / "case", create=True)
    pool = start_workers(2)
    try:
        assert head_start(pool, [str(ev)], tmp_path / "case", fast=True, video_fps=1.0) is None
        assert head_start(None, [str(ev)], tmp_path / "new", fast=True, video_fps=1.0) is None
    finally:
        pool.shutdown()


def test_a_head_start_that_fails_leaves_the_scan_to_report_it(tmp_path: Path, monkeypatch):
    import haven.scan.headstart as headstart

    def broken(*args, **kwargs):
        raise OSError("evidence went away")

    monkeypatch.setattr(headstart, "walk", broken)
    ev = _evidence(tmp_path / "ev")
    pool = start_workers(2)
    head = head_start(pool, [str(ev)], tmp_path / "case", fast=True, video_fps=1.0)
    assert head is not None and head.running == {}
    scan([str(ev)], CaseStore(tmp_path / "case", create=True), ScanOptions(workers=2),
         pool=pool, head_start=head)
    assert len(_findings(tmp_path / "case")) == 6
