"""The local-feature shortlist: visual words, the inverted file, and cases indexed before it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from sqlalchemy import delete, func, select

from haven.victimid import scene
from haven.victimid.errors import VictimIdError
from haven.victimid.models import SceneRow, SceneWordsRow, WordVocabularyRow
from haven.victimid.search import SceneSearch, StoreScenes
from haven.victimid.store import VictimStore


def _clustered(rng, centres: np.ndarray, n: int) -> np.ndarray:
    """uint8 SIFT-like descriptors scattered around `centres`."""
    pick = centres[rng.integers(len(centres), size=n)]
    return np.clip(pick + rng.normal(0, 4, pick.shape), 0, 255).astype(np.uint8)


def test_each_descriptor_gets_the_nearest_leaf_under_its_nearest_top_centroid():
    rng = np.random.default_rng(0)
    centres = rng.integers(0, 120, (40, 128)).astype(np.float32)
    words = scene.WordVocabulary.train(_clustered(rng, centres, 6000))
    assert 1 < words.words <= 65536 and words.offsets[-1] == words.words
    x = _clustered(rng, centres, 300)
    got = words.assign(x)
    assert got.dtype == np.uint16 and len(got) == 300
    root = scene.rootsift(x)
    cell = np.argmin(((root[:, None, :] - words.top[None]) ** 2).sum(-1), axis=1)
    for i in range(len(x)):
        lo, hi = words.offsets[cell[i]], words.offsets[cell[i] + 1]
        assert lo <= got[i] < hi
        assert got[i] == lo + np.argmin(((words.leaves[lo:hi] - root[i]) ** 2).sum(-1))
    # the same words whether given SIFT bytes or features
    feats = scene.Features("rootsift1500-1024", np.zeros((300, 2), np.float32), x)
    assert np.array_equal(words.assign(feats), got)
    assert [len(w) for w in words.assign_many([x[:10], x[10:]])] == [10, 290]


def test_too_few_features_for_words_is_an_error_not_a_crash():
    with pytest.raises(VictimIdError, match="index more images"):
        scene.WordVocabulary.train(np.zeros((100, 128), np.uint8))


def test_inverted_file_ranks_the_image_sharing_most_words_first_and_survives_a_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    n_words = 5000
    lists = [rng.integers(0, n_words, 600).astype(np.uint16) for _ in range(300)]
    query = np.concatenate([lists[17][:150], rng.integers(0, n_words, 450).astype(np.uint16)])
    ix = scene.InvertedFile.build(np.arange(300) + 1000, lists, n_words)
    hits = ix.search(query, 5)
    assert hits[0][0] == 1017 and hits[0][1] > 2 * hits[1][1]
    assert len(ix.rows) == sum(len(np.unique(w)) for w in lists) and ix.nbytes > 0
    # the scores are the cosines of the images' tf-idf vectors (sqrt term frequencies)
    df = np.zeros(n_words)
    for w in lists:
        df[np.unique(w)] += 1
    idf = np.log(300 / np.maximum(df, 1))

    def vec(w):
        v = np.zeros(n_words)
        u, c = np.unique(w, return_counts=True)
        v[u] = np.sqrt(c) * idf[u]
        return v / np.linalg.norm(v)

    want = sorted(((float(vec(query) @ vec(w)), 1000 + k) for k, w in enumerate(lists)), reverse=True)[:5]
    assert [m for m, _ in hits] == [m for _, m in want]
    assert [sc for _, sc in hits] == pytest.approx([sc for sc, _ in want], abs=2e-3)  # float16 weights
    ix.save(tmp_path / "words.index")
    back = scene.InvertedFile.load(tmp_path / "words.index")
    again = back.search(query, 5)
    assert [m for m, _ in again] == [m for m, _ in hits]
    assert [sc for _, sc in again] == pytest.approx([sc for _, sc in hits])
    assert ix.search(np.empty(0, np.uint16), 5) == []
    (tmp_path / "words.index.rows.npy").write_bytes(b"not an array")
    with pytest.raises(VictimIdError, match="delete it to rebuild"):
        scene.InvertedFile.load(tmp_path / "words.index")


def test_indexing_gives_every_image_words_and_the_local_shortlist_reaches_a_view_alone(indexed_case):
    vs, ids = indexed_case
    with vs.session() as s:
        assert s.scalar(select(func.count()).select_from(SceneWordsRow)) == \
            s.scalar(select(func.count()).select_from(SceneRow))
    store = StoreScenes(vs)
    assert store.inverted is not None and len(store.inverted) == len(store.index)
    feats = store.features(ids["room_b_1.jpg"])
    near = [m for m, _s in store.local(feats, 3) if m != ids["room_b_1.jpg"]]
    assert near[0] == ids["room_b_2.jpg"]
    # No global candidate is verified at all (verify_top=0): the inverted file alone brings
    # the other view of the room to the verification, and the hit says it shares words.
    kw = dict(shortlist=1, verify_top=0, exclude={ids["room_b_1.jpg"]}, expand=False)
    without = scene.rank(feats, store.vocab, store.index, store.features, **kw)
    assert not any(h.verified for h in without)
    hits = scene.rank(feats, store.vocab, store.index, store.features, local=store.local, local_top=3, **kw)
    assert hits[0].media_id == ids["room_b_2.jpg"] and hits[0].verified and hits[0].local > 0


def test_a_case_indexed_before_the_words_still_searches_and_the_next_index_run_adds_them(indexed_case, tmp_path):
    vs, ids = indexed_case
    old_dir = tmp_path / "old"
    shutil.copytree(vs.dir, old_dir, ignore=shutil.ignore_patterns("victimid-cache"))
    old = VictimStore(old_dir)
    try:
        with old.session() as s, s.begin():  # what a case indexed by the previous version holds
            s.execute(delete(SceneWordsRow))
            s.execute(delete(WordVocabularyRow))
        search = SceneSearch(old)
        assert search.case.inverted is None
        hits = search.query_media(ids["room_b_1.jpg"], top=3)
        assert hits[0].media_id == ids["room_b_2.jpg"] and hits[0].verified
        from typer.testing import CliRunner

        from haven.victimid.cli import victimid_app

        r = CliRunner().invoke(victimid_app, ["scene", "--case", str(old_dir), "--media", str(ids["room_b_1.jpg"]),
                                              "--top", "2"])
        assert r.exit_code == 0 and "before the local-feature shortlist" in r.output and "haven index" in r.output
        from haven.victimid.indexer import encode_scene_words

        calls = []
        n = len(search.index)
        assert encode_scene_words(old, progress=lambda done, total: calls.append((done, total))) == n
        assert calls[0] == (0, n) and calls[-1] == (n, n)  # `haven index` shows it
        again = SceneSearch(old)  # the store changed: the caches are rebuilt with the words
        assert again.case.inverted is not None and len(again.case.inverted) == len(again.index)
        assert again.query_media(ids["room_b_1.jpg"], top=3)[0].media_id == ids["room_b_2.jpg"]
        r = CliRunner().invoke(victimid_app, ["scene", "--case", str(old_dir), "--media", str(ids["room_b_1.jpg"]),
                                              "--top", "2"])
        assert r.exit_code == 0 and "local-feature shortlist" not in r.output
        assert encode_scene_words(old) == 0  # nothing left to do
    finally:
        old.close()


def test_unverified_evidence_counts_fundamental_inliers_that_bunch_short_of_verification():
    rng = np.random.default_rng(3)
    # 40 matches on a thin horizontal band (a skyline): consistent, but they do not spread.
    pts = np.stack([rng.uniform(100, 700, 40), rng.uniform(300, 320, 40)], axis=1).astype(np.float32)
    desc = rng.integers(0, 255, (40, 128)).astype(np.uint8)
    q = scene.Features("rootsift1500-1024", pts, desc)
    c = scene.Features("rootsift1500-1024", pts + np.float32([30, 0]), desc)
    v = scene.verify(q, c, min_inliers=1000, min_f_inliers=1000, min_matches=8)
    assert not v.verified and v.f_inliers == 0 and v.f_raw >= 20
    assert v.inliers == max(v.h_inliers, v.f_raw)


def test_word_agreement_counts_unique_shared_words_one_similarity_maps_onto_each_other():
    rng = np.random.default_rng(3)
    n_words = 4000
    q_words = rng.choice(n_words, 400, replace=False).astype(np.uint16)
    q_kp = rng.uniform(0, 800, (400, 2)).astype(np.float32)
    q_words[[398, 399]] = q_words[0]  # a word the query has three of says nothing about where it is
    table = scene.unique_words(q_words, n_words)
    assert table[q_words[0]] == -1 and table[q_words[5]] == 5 and (table >= 0).sum() == 397
    # The same scene: 40 of the query's features seen again, rotated, scaled and moved, among
    # 300 features of words the query lacks or holds several of.
    angle, scale = 0.3, 0.7
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    seen = np.arange(10, 50)
    kp = np.concatenate([q_kp[seen] @ rot.T + [120, -40] + rng.normal(0, 1.5, (40, 2)),
                         rng.uniform(0, 800, (300, 2))]).astype(np.float32)
    other = np.setdiff1d(np.arange(n_words), q_words)
    words = np.concatenate([q_words[seen], rng.choice(other, 290, replace=False), np.repeat(q_words[0], 10)])
    assert scene.word_agreement(table, q_kp, words.astype(np.uint16), kp) >= 38
    # The same words at unrelated places: few pairs agree on one transform.
    scattered = rng.uniform(0, 800, kp.shape).astype(np.float32)
    assert scene.word_agreement(table, q_kp, words.astype(np.uint16), scattered) < 10
    # A word the candidate holds twice is left out, and too few pairs score 0.
    twice = words.copy()
    twice[seen.size:seen.size + 40] = q_words[seen]
    assert scene.word_agreement(table, q_kp, twice.astype(np.uint16), kp) == 0
    assert scene.word_agreement(table, q_kp, words[:3].astype(np.uint16), kp[:3]) == 0


def test_second_stage_verifies_a_view_neither_shortlist_verifies_when_its_words_agree(indexed_case):
    vs, ids = indexed_case
    store = StoreScenes(vs)
    feats = store.features(ids["room_b_1.jpg"])
    pool = [m for m in ids.values() if m != ids["room_b_1.jpg"]]
    score = store.agreement(feats, pool)
    assert set(score) == set(pool)
    assert max(score, key=score.get) == ids["room_b_2.jpg"] and score[ids["room_b_2.jpg"]] >= scene.SECOND_MIN
    # Nothing from the shortlists is verified (verify_top=0, no inverted file): only the second
    # stage can bring the other view of the room to the verification.
    kw = dict(shortlist=1, verify_top=0, exclude={ids["room_b_1.jpg"]}, expand=False)
    assert not any(h.verified for h in scene.rank(feats, store.vocab, store.index, store.features, **kw))
    off = scene.rank(feats, store.vocab, store.index, store.features, agree=store.agreement, second_top=0, **kw)
    assert not any(h.verified for h in off)
    hits = scene.rank(feats, store.vocab, store.index, store.features, agree=store.agreement, second_top=2, **kw)
    assert hits[0].media_id == ids["room_b_2.jpg"] and hits[0].verified
    assert sum(h.matches > 0 for h in hits) <= 2  # at most `second_top` checked
