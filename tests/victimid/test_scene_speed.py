"""The query path's speed-ups keep the answers: the cached projection, the cheaper mutual
check, verification on several threads and candidates read in one go."""

from __future__ import annotations

import numpy as np
import pytest

from haven.victimid import scene
from haven.victimid.search import SceneSearch
from haven.victimid.synth import make_room, photograph


@pytest.fixture(scope="module")
def room_features():
    ext = scene.default_extractor()
    room = make_room(21)
    return [ext.extract(np.asarray(photograph(room, k).convert("RGB"))) for k in range(4)] + \
        [ext.extract(np.asarray(make_room(22)))]


def _centroids(feats) -> np.ndarray:
    return scene.Vocabulary.train(np.concatenate([f.descriptors for f in feats]), k=8).centroids


def test_projection_is_cached_in_the_store_and_gives_the_same_vectors(room_features, tmp_path, monkeypatch):
    monkeypatch.setattr(scene, "_PROJECTIONS", {})
    cents = _centroids(room_features)
    drawn = scene.Vocabulary(cents).encode(room_features[0])
    assert not list(tmp_path.glob("*.npy"))
    monkeypatch.setattr(scene, "_PROJECTIONS", {})
    first = scene.Vocabulary(cents, tmp_path).encode(room_features[0])
    assert len(list(tmp_path.glob("vlad-projection-*.npy"))) == 1
    monkeypatch.setattr(scene, "_PROJECTIONS", {})
    again = scene.Vocabulary(cents, tmp_path)
    assert isinstance(again._proj, np.memmap)  # read from the file, not drawn
    np.testing.assert_array_equal(again.encode(room_features[0]), drawn)
    np.testing.assert_array_equal(first, drawn)


def test_a_wrong_projection_file_is_replaced(room_features, tmp_path, monkeypatch):
    cents = _centroids(room_features)
    monkeypatch.setattr(scene, "_PROJECTIONS", {})
    want = scene.Vocabulary(cents).encode(room_features[1])
    monkeypatch.setattr(scene, "_PROJECTIONS", {})
    scene.Vocabulary(cents, tmp_path).encode(room_features[1])
    [path] = list(tmp_path.glob("vlad-projection-*.npy"))
    bad = np.load(path)
    bad[0, :5] += 1
    np.save(path, bad)
    monkeypatch.setattr(scene, "_PROJECTIONS", {})
    np.testing.assert_array_equal(scene.Vocabulary(cents, tmp_path).encode(room_features[1]), want)
    assert np.load(path)[0, 0] != bad[0, 0]  # rewritten
    path.write_bytes(b"not a numpy file")
    monkeypatch.setattr(scene, "_PROJECTIONS", {})
    np.testing.assert_array_equal(scene.Vocabulary(cents, tmp_path).encode(room_features[1]), want)


def test_a_store_that_cannot_be_written_still_encodes(room_features, tmp_path, monkeypatch):
    cents = _centroids(room_features)
    monkeypatch.setattr(scene, "_PROJECTIONS", {})
    want = scene.Vocabulary(cents).encode(room_features[2])
    (tmp_path / "file").write_text("a file where the store's directory should be")
    monkeypatch.setattr(scene, "_PROJECTIONS", {})
    np.testing.assert_array_equal(scene.Vocabulary(cents, tmp_path / "file" / "cache").encode(room_features[2]), want)


def _full_mutual(q: np.ndarray, c: np.ndarray, ratio: float = 0.8) -> set[tuple[int, int]]:
    """The textbook mutual ratio test over the whole similarity matrix."""
    sims = q @ c.T
    order = np.argsort(-sims, axis=1)
    best, second = order[:, 0], order[:, 1]
    rows = np.arange(len(q))
    d1 = np.sqrt(np.maximum(2 - 2 * sims[rows, best], 0))
    d2 = np.sqrt(np.maximum(2 - 2 * sims[rows, second], 0))
    back = sims.argmax(axis=0)
    return {(int(i), int(best[i])) for i in rows if d1[i] < ratio * d2[i] and back[best[i]] == i}


def test_mutual_matches_equal_the_full_matrix_answer(room_features):
    for a, b in ((0, 1), (0, 2), (1, 3), (0, 4)):
        q, c = room_features[a].root, room_features[b].root
        got = {tuple(map(int, p)) for p in scene.match_descriptors(q, c)}
        want = _full_mutual(q, c)
        # float rounding may split a near-tie differently: allow a handful of differences
        assert len(got ^ want) <= max(2, len(want) // 100), (a, b, len(got), len(want))
    assert len(scene.match_descriptors(room_features[0].root, room_features[1].root)) >= 30


def test_verification_on_threads_equals_one_at_a_time(room_features):
    q, cands = room_features[0], room_features[1:] * 3
    one = [scene.verify(q, c) for c in cands]
    many = scene.verify_many(q, cands, threads=3)
    assert many == one
    assert sum(v.verified for v in many) >= 3 and not many[3].verified  # the other room


def test_rank_reads_candidates_in_one_go_with_the_same_answer(indexed_case):
    vs, ids = indexed_case
    search = SceneSearch(vs)
    feats = search.case.features(ids["room_a_1.jpg"])
    single = []

    def one(i):
        single.append(i)
        return search.case.features(i)

    kw = dict(exclude={ids["room_a_1.jpg"]}, linked=search.case.linked)
    slow = scene.rank(feats, search.vocab, search.index, one, **kw)
    n_single = len(single)
    single.clear()
    fast = scene.rank(feats, search.vocab, search.index, one, load_many=search.case.features_many, **kw)
    assert n_single >= 5 and single == []  # every candidate came from load_many
    assert [(h.media_id, h.inliers, h.verified, h.via) for h in fast] == \
        [(h.media_id, h.inliers, h.verified, h.via) for h in slow]
    assert fast[0].verified and fast[0].media_id in {ids["room_a_2.jpg"], ids["room_a_3.jpg"]}


def test_a_linked_view_without_scene_features_is_left_out(indexed_case):
    vs, ids = indexed_case
    search = SceneSearch(vs)
    feats = search.case.features(ids["room_b_1.jpg"])
    ghost = 10_000  # linked (e.g. by PDQ) but never given scene features

    def linked(verified_ids):
        return {verified_ids[0]: [(ghost, "pdq distance 3")]}

    hits = scene.rank(feats, search.vocab, search.index, search.case.features, exclude={ids["room_b_1.jpg"]},
                      linked=linked, load_many=search.case.features_many)
    assert hits[0].verified and ghost not in {h.media_id for h in hits}


def test_encoding_many_at_once_equals_one_by_one(room_features):
    vocab = scene.Vocabulary(_centroids(room_features))
    empty = scene.Features("x", np.empty((0, 2), np.float32), np.empty((0, 128), np.uint8))
    items = [*room_features, empty, room_features[0].descriptors]
    many = vocab.encode_many(items, batch=3)
    assert many.shape == (len(items), scene.GLOBAL_DIM)
    for got, item in zip(many, items):
        np.testing.assert_allclose(got, vocab.encode(item), atol=1e-5)
    assert not many[len(room_features)].any()


def test_vectors_are_encoded_in_batches_from_a_sampled_vocabulary(tmp_path, monkeypatch):
    from sqlalchemy import select

    from haven.victimid import indexer
    from haven.victimid.models import SceneRow, VocabularyRow
    from haven.victimid.store import VictimStore

    ev = tmp_path / "ev"
    ev.mkdir()
    for k in range(5):
        photograph(make_room(40 + k % 2), k).convert("RGB").save(ev / f"p{k}.jpg", quality=90)
    monkeypatch.setattr(indexer, "VOCAB_IMAGES", 3)
    monkeypatch.setattr(scene, "_PROJECTIONS", {})  # drawn in this process by an earlier test
    monkeypatch.setattr(indexer, "ENCODE_BATCH", 2)
    vs = VictimStore(tmp_path / "case", create=True)
    calls = []
    indexer.Indexer(vs, indexer.IndexOptions(parts=("scene",))).run([str(ev)], on_vectors=lambda d, t: calls.append((d, t)))
    # progress of the encoding, batch by batch: the global vectors, then the visual words
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)] * 2
    with vs.session() as s:
        rows = list(s.scalars(select(SceneRow)))
        [voc] = list(s.scalars(select(VocabularyRow)))
    per_image = {len(r.descriptors) // scene.DESCRIPTOR_BYTES for r in rows}
    assert len(rows) == 5 and all(r.vector for r in rows)
    assert voc.trained_on < sum(len(r.descriptors) // scene.DESCRIPTOR_BYTES for r in rows)  # 3 images of 5
    assert voc.trained_on >= 3 * min(per_image) * 0.99
    vocab = indexer.load_vocabulary(vs)
    for r in rows:
        np.testing.assert_allclose(np.frombuffer(r.vector, np.float32), vocab.encode(
            np.frombuffer(r.descriptors, np.uint8).reshape(-1, 128)), atol=1e-5)
    assert list((tmp_path / "case" / "victimid-cache").glob("vlad-projection-*.npy"))


def test_the_scene_cache_is_built_from_the_covering_index(indexed_case):
    from haven.victimid.search import scene_vectors_query

    vs, _ids = indexed_case
    sql = str(scene_vectors_query().compile(vs.engine))
    with vs.engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all())
    assert "COVERING INDEX ix_vi_scene_vector" in plan, plan


def test_the_command_line_query_gives_the_in_process_answer(indexed_case, evidence_dir, tmp_path):
    import json

    from typer.testing import CliRunner

    from haven.victimid.cli import victimid_app
    from haven.victimid.search import image_pixels

    vs, _ids = indexed_case
    image = evidence_dir / "room_a_2.jpg"
    r = CliRunner().invoke(victimid_app, ["scene", "--case", str(vs.dir), str(image), "--json", "--top", "5"])
    assert r.exit_code == 0, r.output
    want = SceneSearch(vs).find(image_pixels(image.read_bytes()), top=5)
    assert [(h["media_id"], h["inliers"], h["verified"]) for h in json.loads(r.output)] == \
        [(h.media_id, h.inliers, h.verified) for h in want]
    assert want[0].verified
    # the query image is still checked before the case: a wrong file is the likelier mistake
    (tmp_path / "notes.jpg").write_text("not an image")
    r = CliRunner().invoke(victimid_app, ["scene", "--case", str(tmp_path / "nope"), str(tmp_path / "notes.jpg")])
    assert r.exit_code != 0 and "is not an image" in " ".join(r.output.split())


def test_decoding_and_extracting_a_query_needs_no_database_code():
    import subprocess
    import sys

    code = ("import sys, haven.victimid.pixels, haven.victimid.scene; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy' or m == 'haven.victimid.indexer'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_scene_cache_holds_every_stored_vector(indexed_case):
    import shutil

    from sqlalchemy import select

    from haven.victimid.models import SceneRow
    from haven.victimid.search import _scene_index

    vs, _ids = indexed_case
    shutil.rmtree(vs.cache_dir, ignore_errors=True)
    index = _scene_index(vs)  # built from the database (streamed)
    with vs.session() as s:
        rows = s.execute(select(SceneRow.media_id, SceneRow.vector)).all()
    assert len(index) == len(rows) >= 8
    for media_id, vector in rows:
        np.testing.assert_array_equal(index.vector(media_id), np.frombuffer(vector, np.float32))
    assert list(vs.cache_dir.glob("scene-vlad-*.index"))  # and cached for the next query
