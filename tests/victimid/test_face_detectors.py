"""Face detectors (HOG, CNN, HOG then CNN), the stored detector and model id, re-detection.

Fixtures: scikit-image's astronaut portrait (an adult, NASA public domain) and a copy with
half of the face blacked out, which HOG misses and the CNN finds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data as data
from PIL import Image
from sqlalchemy import select, text
from sqlalchemy.orm import undefer

from haven.victimid import faces as F
from haven.victimid.errors import VictimIdError
from haven.victimid.indexer import Indexer, IndexOptions
from haven.victimid.models import FaceRow
from haven.victimid.search import find_face
from haven.victimid.store import VictimStore


def _astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut())


def _half_hidden() -> np.ndarray:
    rgb = _astronaut().copy()
    rgb[70:170, 170:215] = 0  # the left half of the face
    return rgb


@pytest.fixture(scope="module")
def models():
    return {d: F.FaceModel(detector=d) for d in F.DETECTORS}


def test_cnn_finds_the_face_hog_finds_and_embeds_it_alike(models):
    [hog] = models["hog"].faces(_astronaut())
    [cnn] = models["cnn"].faces(_astronaut())
    assert (hog.detector, cnn.detector) == ("hog", "cnn")
    overlap_x = min(hog.box[2], cnn.box[2]) - max(hog.box[0], cnn.box[0])
    assert overlap_x > 0.7 * (hog.box[2] - hog.box[0])
    # Same aligner and network: the two detections of one face are one point of the space.
    assert float(np.linalg.norm(hog.embedding - cnn.embedding)) < 0.15


def test_cnn_finds_a_half_hidden_face_that_hog_misses(models):
    assert models["hog"].faces(_half_hidden()) == []
    [face] = models["cnn"].faces(_half_hidden())
    [whole] = models["hog"].faces(_astronaut())
    assert float(np.linalg.norm(face.embedding - whole.embedding)) < F.SAME_PERSON


def test_hog_then_cnn_runs_the_cnn_only_where_hog_found_nothing(models):
    both = models["hog+cnn"]
    assert [f.detector for f in both.faces(_astronaut())] == ["hog"]
    assert [f.detector for f in both.faces(_half_hidden())] == ["cnn"]
    assert both.faces(np.ascontiguousarray(data.coffee())) == []


def test_every_detector_shares_one_model_id_with_its_threshold(models):
    names = {m.name for m in models.values()}
    assert len(names) == 1
    [name] = names
    assert name.startswith(F.EMBED_NAME + ":")
    assert models["cnn"].thresholds == F.THRESHOLDS[F.EMBED_NAME]
    assert F.thresholds("dlib-hog+resnet-v1:abc") == F.THRESHOLDS[F.EMBED_NAME]
    assert F.thresholds("other-net:abc") == F.DEFAULT_THRESHOLDS
    # among many faces a stricter distance than one-to-one
    assert F.THRESHOLDS[F.EMBED_NAME].gallery < F.THRESHOLDS[F.EMBED_NAME].same_person
    legacy = "dlib-hog+resnet-v1:" + name.split(":")[1]
    assert F.comparable_ids(legacy) == F.comparable_ids(name) and legacy in F.comparable_ids(name)
    assert F.comparable_ids("other-net:abc") == ["other-net:abc"]


def test_unknown_detector_is_refused():
    with pytest.raises(VictimIdError, match="hog, cnn, hog\\+cnn"):
        F.FaceModel(detector="haar")


def test_cnn_needs_its_model_file(tmp_path):
    root = F.default_model_dir()
    for name in (F.SHAPE_FILE, F.EMBED_FILE):
        (tmp_path / name).symlink_to(root / name)
    F.FaceModel(tmp_path, detector="hog")
    with pytest.raises(F.ModelMissingError, match=F.CNN_FILE):
        F.FaceModel(tmp_path, detector="hog+cnn")


@pytest.fixture()
def hidden_case(tmp_path):
    ev = tmp_path / "seizure"
    ev.mkdir()
    Image.fromarray(_astronaut()).save(ev / "whole.png")
    Image.fromarray(_half_hidden()).save(ev / "hidden.png")
    vs = VictimStore(tmp_path / "case", create=True)
    yield vs, ev
    vs.close()


def _faces_by_file(vs) -> dict[str, list[FaceRow]]:
    out: dict[str, list[FaceRow]] = {}
    for m in vs.all_media():
        with vs.session() as s:
            out[Path(m.path).name] = list(s.scalars(select(FaceRow).options(undefer(FaceRow.detector))
                                                    .where(FaceRow.media_id == m.id)))
    return out


def test_index_records_the_detector_and_a_new_detector_looks_again(hidden_case):
    vs, ev = hidden_case
    Indexer(vs, IndexOptions(parts=("faces",))).run([str(ev)])
    found = _faces_by_file(vs)
    assert [f.detector for f in found["whole.png"]] == ["hog"] and found["hidden.png"] == []

    stats = Indexer(vs, IndexOptions(parts=("faces",), face_detector="hog+cnn")).run([str(ev)])
    assert stats.indexed == 2 and stats.skipped == 0
    found = _faces_by_file(vs)
    assert [f.detector for f in found["whole.png"]] == ["hog"]
    assert [f.detector for f in found["hidden.png"]] == ["cnn"]
    # The half-hidden face and the whole one are one person in one space.
    [q] = found["whole.png"]
    hits = find_face(vs, face_id=q.id, max_distance=F.SAME_PERSON)
    assert [h.face_id for h in hits] == [found["hidden.png"][0].id]

    again = Indexer(vs, IndexOptions(parts=("faces",), face_detector="hog+cnn")).run([str(ev)])
    assert again.skipped == 2 and again.indexed == 0


def test_faces_stored_under_the_old_model_id_stay_comparable(hidden_case):
    vs, ev = hidden_case
    Indexer(vs, IndexOptions(parts=("faces",), face_detector="cnn")).run([str(ev)])
    found = _faces_by_file(vs)
    old = found["hidden.png"][0]
    legacy = "dlib-hog+resnet-v1:" + old.model.split(":")[1]
    with vs.session() as s, s.begin():
        s.get(FaceRow, old.id).model = legacy
    hits = find_face(vs, face_id=found["whole.png"][0].id)
    assert [h.face_id for h in hits] == [old.id]


def test_a_case_from_before_the_detector_column_gains_it(tmp_path):
    case = tmp_path / "case"
    vs = VictimStore(case, create=True)
    with vs.engine.begin() as conn:
        conn.execute(text("ALTER TABLE vi_faces DROP COLUMN detector"))
    vs.close()
    vs = VictimStore(case)
    with vs.engine.connect() as conn:
        cols = {r[1] for r in conn.execute(text("PRAGMA table_info(vi_faces)"))}
    vs.close()
    assert "detector" in cols


def test_face_detector_from_the_command_line(hidden_case):
    from typer.testing import CliRunner

    from haven.victimid.cli import victimid_app

    vs, ev = hidden_case
    case = str(vs.dir)
    runner = CliRunner()
    r = runner.invoke(victimid_app, ["index", "--case", case, str(ev), "--parts", "faces",
                                     "--face-detector", "hog+cnn", "--workers", "1"])
    assert r.exit_code == 0 and "faces 2" in r.output, r.output
    r = runner.invoke(victimid_app, ["faces", "find", "--case", case, str(ev / "hidden.png"), "--json"])
    assert r.exit_code == 0, r.output
    assert sorted(Path(h["path"]).name for h in json.loads(r.output)) == ["hidden.png", "whole.png"]
    r = runner.invoke(victimid_app, ["index", "--case", case, str(ev), "--parts", "faces", "--face-detector", "haar"])
    assert r.exit_code != 0 and "unknown face detector" in " ".join(r.output.split())
    assert "Traceback" not in r.output


def test_an_old_read_only_case_still_finds_faces(hidden_case):
    """A case from before the detector column, on write-protected storage (chattr +i, which
    root respects), cannot gain the column; its faces still load and are found."""
    import shutil
    import subprocess

    vs, ev = hidden_case
    Indexer(vs, IndexOptions(parts=("faces",))).run([str(ev)])
    whole = _faces_by_file(vs)["whole.png"][0].id
    with vs.engine.begin() as conn:
        conn.execute(text("ALTER TABLE vi_faces DROP COLUMN detector"))
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    case = vs.dir
    vs.close()
    paths = [case, *case.iterdir()]
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", *map(str, paths)]).returncode:
        pytest.skip("file system without the immutable attribute")
    try:
        ro = VictimStore(case)
        assert ro.case.read_only
        assert find_face(ro, face_id=whole) == []  # one face, nothing else to find
        with ro.session() as s:
            assert s.get(FaceRow, whole).model.startswith(F.EMBED_NAME)
        ro.close()
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)])


def test_clustering_defaults_to_the_models_gallery_threshold(tmp_path):
    """Faces 0.45 apart: one person for a one-to-one look (< 0.6), but not joined without an
    analyst among many faces (gallery threshold 0.35), unless asked for."""
    from datetime import datetime

    from haven.victimid.models import MediaRow
    from haven.victimid.search import cluster_faces

    vs = VictimStore(tmp_path / "case", create=True)
    model = F.EMBED_NAME + ":0123456789ab"
    base = np.zeros(128, np.float32)
    near = base.copy()
    near[0] = 0.45
    with vs.session() as s, s.begin():
        for i, vec in enumerate((base, near)):
            m = MediaRow(path=f"s/{i}.jpg", sha256=f"{i:064d}", md5="0" * 32, sha1="0" * 40, size=1,
                         parts={"faces": "hog"}, errors={}, indexed_at=datetime(2026, 1, 1))
            s.add(m)
            s.flush()
            s.add(FaceRow(media_id=m.id, model=model, detector="hog", left=0, top=0, right=50, bottom=50,
                          detector_score=1.0, embedding=vec.tobytes()))
    assert sorted(map(len, cluster_faces(vs).values())) == [1, 1]
    assert sorted(map(len, cluster_faces(vs, max_distance=F.SAME_PERSON).values())) == [2]
    vs.close()


def test_workers_run_the_cnn_after_this_process_did(hidden_case, models):
    """dlib's CNN keeps a thread pool: a worker forked from a process that already ran it
    would wait forever, so CNN indexing starts its workers from a fresh process."""
    models["cnn"].faces(_half_hidden())  # this process has now run the CNN
    vs, ev = hidden_case
    stats = Indexer(vs, IndexOptions(parts=("faces",), face_detector="hog+cnn", workers=2)).run([str(ev)])
    assert stats.indexed == 2 and stats.faces == 2
