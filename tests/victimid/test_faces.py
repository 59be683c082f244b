from __future__ import annotations

import numpy as np
import pytest
import skimage.data as data

from haven.victimid import faces as F
from haven.victimid.errors import ModelMissingError, VictimIdError
from haven.victimid.models import FaceDecisionRow
from haven.victimid.search import cluster_faces, decide, faces_in_image, find_face


def _face_of(vs, media_id):
    from sqlalchemy import select

    from haven.victimid.models import FaceRow

    with vs.session() as s:
        return list(s.scalars(select(FaceRow).where(FaceRow.media_id == media_id)))


def test_astronaut_and_its_copies_have_one_face_each_and_others_none(indexed_case):
    vs, ids = indexed_case
    for name in ("astronaut.png", "astronaut_flip.jpg", "astronaut_small.jpg"):
        assert len(_face_of(vs, ids[name])) == 1, name
    for name in ("coffee.png", "room_a_1.jpg", "sign.png"):
        assert _face_of(vs, ids[name]) == [], name


def test_find_this_face_ranks_copies_below_same_person_threshold(indexed_case):
    vs, ids = indexed_case
    [q] = _face_of(vs, ids["astronaut.png"])
    hits = find_face(vs, face_id=q.id)
    assert {h.media_id for h in hits} == {ids["astronaut_flip.jpg"], ids["astronaut_small.jpg"]}
    assert all(h.distance < F.SAME_PERSON and h.similarity > 0.5 for h in hits)


def test_find_face_from_a_new_image(indexed_case):
    vs, ids = indexed_case
    model = F.FaceModel()
    found = faces_in_image(model, _png(np.ascontiguousarray(data.astronaut()[::1, ::-1])))
    hits = find_face(vs, embedding=found[0].embedding, model=model.name)
    assert len(hits) == 3 and hits[0].distance < 0.3


def _png(rgb):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def test_decisions_are_stored_with_user_and_reused(indexed_case):
    vs, ids = indexed_case
    [q] = _face_of(vs, ids["astronaut.png"])
    [flip] = _face_of(vs, ids["astronaut_flip.jpg"])
    [small] = _face_of(vs, ids["astronaut_small.jpg"])
    decide(vs, flip.id, q.id, "confirm", user="analyst1", note="same suit")
    decide(vs, q.id, small.id, "reject", user="analyst2")
    hits = find_face(vs, face_id=q.id)
    assert [(h.face_id, h.decision, h.decided_by) for h in hits] == [(flip.id, "confirm", "analyst1")]
    assert len(find_face(vs, face_id=q.id, include_rejected=True)) == 2
    with vs.session() as s:
        row = s.query(FaceDecisionRow).filter_by(decision="confirm").one()
    assert (row.face_a, row.face_b) == (min(q.id, flip.id), max(q.id, flip.id)) and row.decided_at
    assert vs.verify_log()
    with pytest.raises(VictimIdError):
        decide(vs, q.id, flip.id, "maybe")


def test_clustering_groups_the_astronaut_faces(indexed_case):
    vs, ids = indexed_case
    clusters = cluster_faces(vs)
    assert sorted(len(v) for v in clusters.values()) == [3]


def test_cluster_honours_must_and_cannot_links():
    e = np.zeros((3, 128), np.float32)
    e[1, 0] = 0.1
    e[2, 0] = 5.0
    assert F.cluster(e) == [0, 0, 1]
    assert F.cluster(e, cannot_link={(0, 1)}) == [0, 1, 2]
    assert F.cluster(e, must_link=[(0, 2)]) == [0, 0, 0]


def test_missing_model_directory_says_what_to_do(tmp_path):
    with pytest.raises(ModelMissingError, match="HAVEN_FACE_MODELS"):
        F.FaceModel(tmp_path)
