"""The scan frame takes any engine: one that analyses in this process, in its own order,
stores the same findings as the worker-process engine, and is closed at the end."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from haven.demo import jpeg_bytes, make_image
from haven.scan.analyse import analyse
from haven.scan.pipeline import LocalEngine, ScanOptions, read_member, run_scan, scan
from haven.store.case import CaseStore


class DeferredEngine:
    """Keeps every item until `finish`, then analyses them newest first."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.kept: list[tuple[str, dict]] = []
        self.closed = False

    def submit(self, item):
        if item.fs_path is not None:
            self.kept.append((item.path, {"fs_path": item.fs_path, "flags": item.flags}))
        else:
            data, _, error = read_member(item, self.workdir, in_memory=1 << 30)
            assert error is None
            self.kept.append((item.path, {"data": data, "flags": item.flags}))
        return iter(())

    def finish(self):
        while self.kept:
            path, kwargs = self.kept.pop()
            yield analyse(path, fast=True, video_fps=1.0, **kwargs)

    def close(self):
        self.closed = True


def _evidence(root: Path) -> Path:
    root.mkdir()
    (root / "a.jpg").write_bytes(jpeg_bytes(make_image(1)))
    (root / "note.txt").write_text("benign text")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("inner/b.jpg", jpeg_bytes(make_image(2)))
        z.writestr("inner/c.txt", "more benign text")
    (root / "pack.zip").write_bytes(buf.getvalue())
    return root


def _findings(store: CaseStore) -> dict[str, tuple]:
    from sqlalchemy import select

    from haven.store.models import ItemRow

    with store.session() as s:
        return {r.path: (r.sha256, r.pdq, r.finding, r.mime) for r in s.scalars(select(ItemRow))}


def test_any_engine_plugs_into_the_scan_and_stores_the_same_findings(tmp_path: Path):
    ev = _evidence(tmp_path / "ev")
    local = CaseStore(tmp_path / "local", create=True)
    scan([str(ev)], local, ScanOptions(workers=1))
    other = CaseStore(tmp_path / "other", create=True)
    engine = DeferredEngine(str(tmp_path / "work"))
    (tmp_path / "work").mkdir()
    progress = run_scan([str(ev)], other, ScanOptions(), engine)
    assert engine.closed and progress.items == 5
    found = _findings(local)
    assert _findings(other) == found and len(found) == 5
    assert found["ev/pack.zip/inner/b.jpg"][1]  # a PDQ: the member was really analysed


def test_the_local_engine_removes_its_workdir_when_closed(tmp_path: Path):
    store = CaseStore(tmp_path / "case", create=True)
    engine = LocalEngine(store, ScanOptions(workers=1), pool=None)
    assert Path(engine.workdir).is_dir()
    engine.close()
    assert not Path(engine.workdir).exists()
