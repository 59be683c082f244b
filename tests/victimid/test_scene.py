from __future__ import annotations

import numpy as np

from haven.victimid import scene
from haven.victimid.search import SceneSearch, image_pixels
from haven.victimid.synth import make_room, photograph


def test_photo_of_an_indexed_room_finds_the_room_first(indexed_case):
    vs, ids = indexed_case
    query = np.asarray(photograph(make_room(11), 99, crop=0.85, warp=0.05, occlusion=0.05).convert("RGB"))
    hits = SceneSearch(vs).query(query, top=5)
    room_a = {ids[f"room_a_{k}.jpg"] for k in (1, 2, 3)}
    assert hits[0].media_id in room_a and hits[0].verified
    assert len({h.media_id for h in hits[:3]} & room_a) >= 2
    assert "geometrically consistent" in hits[0].reason


def test_query_by_stored_media_excludes_itself(indexed_case):
    vs, ids = indexed_case
    hits = SceneSearch(vs).query_media(ids["room_b_1.jpg"], top=3)
    assert hits[0].media_id == ids["room_b_2.jpg"] and hits[0].verified
    assert ids["room_b_1.jpg"] not in {h.media_id for h in hits}


def test_region_query_uses_only_the_region(indexed_case, evidence_dir):
    vs, ids = indexed_case
    data = (evidence_dir / "room_b_2.jpg").read_bytes()
    rgb = image_pixels(data, (0, 0, 400, 300))
    assert rgb.shape[:2] == (300, 400)
    hits = SceneSearch(vs).query(rgb, top=3)
    assert hits[0].media_id in {ids["room_b_1.jpg"], ids["room_b_2.jpg"]} and hits[0].verified


def test_unrelated_images_are_not_verified():
    ext = scene.OrbExtractor()
    a = ext.extract(np.asarray(make_room(1)))
    b = ext.extract(np.asarray(make_room(2)))
    assert scene.verify(a, b).inliers < scene.MIN_INLIERS


def test_index_switches_to_ivf_and_still_finds_neighbours():
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((3000, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = scene.SceneIndex.build(np.arange(3000) + 10, vecs, nlist=16)
    assert type(index._index).__name__ == "IndexIVFFlat"
    assert index.search(vecs[123], 1)[0][0] == 133
