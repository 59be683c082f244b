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
    ext = scene.default_extractor()
    a = ext.extract(np.asarray(make_room(1)))
    b = ext.extract(np.asarray(make_room(2)))
    assert not scene.verify(a, b).verified


def test_index_switches_to_ivf_and_still_finds_neighbours():
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((3000, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = scene.SceneIndex.build(np.arange(3000) + 10, vecs, nlist=16)
    assert type(index._index).__name__ == "IndexIVFFlat"
    assert index.search(vecs[123], 1)[0][0] == 133


def test_planar_view_verifies_by_homography_and_reason_says_so(indexed_case):
    vs, ids = indexed_case
    search = SceneSearch(vs)
    hits = search.query_media(ids["room_a_1.jpg"], top=5)
    top = hits[0]
    assert top.verified and top.model in ("homography", "fundamental")
    assert ("planar part" in top.reason) == (top.model == "homography")


def test_views_linked_to_a_verified_hit_rank_between_verified_and_unverified(indexed_case):
    vs, ids = indexed_case
    search = SceneSearch(vs)
    feats = search.case.features(ids["room_b_1.jpg"])
    coffee = ids["coffee.png"]

    def linked(verified_ids):
        # the coffee photo "linked" to the first verified hit: it cannot verify against a room
        return {verified_ids[0]: [(coffee, "same series 'test'")]}

    hits = scene.rank(feats, search.vocab, search.index, search.case.features, exclude={ids["room_b_1.jpg"]},
                      linked=linked)
    tiers = [h.tier for h in hits]
    assert tiers == sorted(tiers)  # verified, then linked, then unverified: never interleaved
    [link] = [h for h in hits if h.media_id == coffee]
    assert link.linked and not link.verified and link.via == ids["room_b_2.jpg"]
    assert "linked to verified hit" in link.reason and "same series" in link.reason
    assert hits[0].media_id == ids["room_b_2.jpg"] and hits[0].verified


def test_old_orb_features_are_refused_with_a_way_out():
    q = scene.Features.from_blobs("rootsift1500-1024", np.zeros((2, 2), np.float32).tobytes(),
                                  np.zeros((2, 128), np.uint8).tobytes())
    old = scene.Features.from_blobs("orb1000-640", np.zeros((2, 2), np.float32).tobytes(),
                                    np.zeros((2, 32), np.uint8).tobytes())
    import pytest

    from haven.victimid.errors import VictimIdError
    with pytest.raises(VictimIdError, match="re-index"):
        scene.verify(q, old)
