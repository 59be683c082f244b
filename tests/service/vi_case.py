"""A small benign case, scanned and indexed, for the analyst's media pages.

Evidence: scikit-image's bundled sample photos (astronaut, coffee, chelsea the cat) and two
generated "photographs" of one procedural room (haven.victimid.synth) sharing a camera body
serial, plus a rendered sign for OCR. `haven scan` and `haven index` (metadata, scene,
thumbs, and ocr when Tesseract is installed) run through the library.

Faces are not detected here (the dlib model is slow on 2 shared cores and the web pages
only need face rows): two face rows with nearby embeddings are written on the astronaut
and the cat so "find this face" and its decisions have something to work on.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SERIAL = "SER-7731"


def _exif(serial: str, when: str) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "TestMaker"
    exif[0x0110] = "TestCam 2"
    sub = exif.get_ifd(0x8769)
    sub[0xA431] = serial
    sub[0x9003] = when
    sub[0x9011] = "+01:00"
    return exif.tobytes()


def write_evidence(root: Path) -> Path:
    import skimage.data as data

    from haven.victimid.synth import make_room, photograph

    root.mkdir(parents=True, exist_ok=True)
    Image.fromarray(data.astronaut()).save(root / "astronaut.png")
    Image.fromarray(data.coffee()).save(root / "coffee.jpg", quality=90)
    Image.fromarray(data.chelsea()).save(root / "chelsea.jpg", quality=90)
    room = make_room(21)
    photograph(room, 1).save(root / "room_1.jpg", quality=88,
                             exif=_exif(SERIAL, "2023:05:06 14:00:00"))
    photograph(room, 2).save(root / "room_2.jpg", quality=88,
                             exif=_exif(SERIAL, "2023:05:06 14:00:01"))
    sign = Image.new("RGB", (900, 240), (250, 250, 245))
    ImageDraw.Draw(sign).text((30, 80), "PENSION MIRADOR ROOM 12", fill=(10, 10, 10),
                              font=ImageFont.load_default(size=44))
    sign.save(root / "sign.png")
    (root / "notes.txt").write_text("not a picture")
    return root


_BUILT: dict = {}


def case_copy(case_dir: Path) -> dict[str, int]:
    """A copy of the case (built once per test process) at `case_dir`; the ids of
    `build_case`. Evidence paths inside it do not need the evidence any more."""
    import atexit
    import tempfile

    if "dir" not in _BUILT:
        base = Path(tempfile.mkdtemp(prefix="haven-vi-case-"))
        atexit.register(shutil.rmtree, base, True)
        _BUILT["ids"] = build_case(base / "case", base / "ev")
        _BUILT["dir"] = base / "case"
    if case_dir.exists():
        shutil.rmtree(case_dir)
    shutil.copytree(_BUILT["dir"], case_dir)
    return dict(_BUILT["ids"])


def build_case(case_dir: Path, evidence_root: Path) -> dict[str, int]:
    """Scan + index + series into `case_dir`; returns {file name: media id} and face ids."""
    import faiss

    # FAISS's OpenMP threads spin against each other on 2 shared cores (k-means of the
    # scene vocabulary: 20 s instead of 2 s); one thread is plenty for six pictures.
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return _build(case_dir, evidence_root)
    finally:
        faiss.omp_set_num_threads(threads)


def _build(case_dir: Path, evidence_root: Path) -> dict[str, int]:
    from haven.scan.pipeline import ScanOptions, scan
    from haven.store.case import CaseStore
    from haven.victimid.indexer import Indexer, IndexOptions
    from haven.victimid.models import FaceRow
    from haven.victimid.series import build_links, build_series
    from haven.victimid.store import VictimStore

    evidence = write_evidence(evidence_root)
    store = CaseStore(case_dir, create=True)
    try:
        scan([str(evidence)], store, ScanOptions(workers=1))
        vs = VictimStore(store)
        parts = ("metadata", "scene", "thumbs") + (("ocr",) if shutil.which("tesseract") else ())
        Indexer(vs, IndexOptions(parts=parts)).run([str(evidence)])
        ids = {Path(m.path).name: m.id for m in vs.all_media()}
        rng = np.random.default_rng(5)
        base = rng.normal(size=128).astype(np.float32)
        base /= np.linalg.norm(base)
        with vs.session() as s, s.begin():
            for name, emb in (("astronaut.png", base), ("chelsea.jpg", base + 0.02)):
                row = FaceRow(media_id=ids[name], model="test-model", left=10, top=10,
                              right=90, bottom=90, detector_score=1.0,
                              embedding=emb.astype(np.float32).tobytes())
                s.add(row)
                s.flush()
                ids[f"face:{name}"] = row.id
        build_links(vs)
        build_series(vs)
    finally:
        store.close()
    return ids
