"""The search caches' generation tokens (`VictimStore.generation`) and their files.

A cache is named by the token of the rows it was built from; these tests check the token
moves on every change, never comes back to a value a restored case.db could meet again, is
brought up to date on stores made before the random tokens, and that two threads of one
process can cache the same index at once (the service answers requests in threads).
"""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
from sqlalchemy import delete, text

from haven.store.case import utcnow
from haven.victimid import faces as facemod
from haven.victimid import indexfile
from haven.victimid.models import FaceRow, MediaRow
from haven.victimid.search import face_index
from haven.victimid.store import VictimStore


def _media(vs: VictimStore, name: str) -> int:
    with vs.session() as s, s.begin():
        row = MediaRow(path=f"/ev/{name}", sha256="0" * 64, md5="0" * 32, sha1="0" * 40, size=1,
                       indexed_at=utcnow())
        s.add(row)
        s.flush()
        return row.id


def _face(vs: VictimStore, media_id: int, seed: int) -> int:
    emb = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    with vs.session() as s, s.begin():
        row = FaceRow(media_id=media_id, model="test-model", left=0, top=0, right=9, bottom=9,
                      detector_score=1.0, embedding=(emb / np.linalg.norm(emb)).tobytes())
        s.add(row)
        s.flush()
        return row.id


def _triggers(vs: VictimStore) -> set[str]:
    with vs.engine.connect() as conn:
        return set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())


def test_the_faces_token_moves_on_insert_update_and_delete_and_the_cache_follows(tmp_path, monkeypatch):
    vs = VictimStore(tmp_path / "case", create=True)
    m = _media(vs, "a.jpg")
    seen = [vs.generation("faces")]
    a = _face(vs, m, 1)
    seen.append(vs.generation("faces"))
    builds = []
    real_init = facemod.FaceIndex.__init__
    monkeypatch.setattr(facemod.FaceIndex, "__init__",
                        lambda self, *a, **k: (builds.append(1), real_init(self, *a, **k))[1])
    assert list(face_index(vs, None)._ids) == [a] and len(builds) == 1
    assert list(face_index(vs, None)._ids) == [a] and len(builds) == 1  # loaded from the file
    [cached] = vs.cache_dir.glob("faces-*.index")
    assert seen[-1] in cached.name

    with vs.session() as s, s.begin():
        s.execute(text("UPDATE vi_faces SET cluster = 3"))
    seen.append(vs.generation("faces"))
    b = _face(vs, m, 2)
    seen.append(vs.generation("faces"))
    assert sorted(face_index(vs, None)._ids) == [a, b] and len(builds) == 2
    with vs.session() as s, s.begin():
        s.execute(delete(FaceRow).where(FaceRow.id == a))
    seen.append(vs.generation("faces"))
    assert list(face_index(vs, None)._ids) == [b] and len(builds) == 3
    assert len(set(seen)) == len(seen)  # every change gave a new token
    [only] = vs.cache_dir.glob("faces-*.index")  # the stale files are gone
    assert only.name.endswith(f"-{seen[-1]}.index")
    # the scene token is another counter: faces never touched it
    scene_before = vs.generation("scene")
    _face(vs, m, 3)
    assert vs.generation("scene") == scene_before
    vs.close()


def test_a_restored_case_db_never_meets_a_cache_built_after_its_copy(tmp_path):
    """Restore case.db from an older copy (its victimid-cache/ left as it was), change it:
    the next query must see the restored rows, not the cache of the lost changes."""
    case = tmp_path / "case"
    vs = VictimStore(case, create=True)
    m = _media(vs, "a.jpg")
    first = _face(vs, m, 1)
    vs.close()
    shutil.copy(case / "case.db", tmp_path / "copy.db")

    vs = VictimStore(case)
    lost = _face(vs, m, 2)
    assert sorted(face_index(vs, None)._ids) == [first, lost]  # cached for the lost change
    vs.close()
    shutil.copy(tmp_path / "copy.db", case / "case.db")

    vs = VictimStore(case)
    with vs.session() as s, s.begin():  # the same kind of change again: one more face row
        s.add(FaceRow(media_id=m, model="test-model", left=0, top=0, right=5, bottom=5,
                      detector_score=0.5, embedding=np.ones(128, np.float32).tobytes()))
    with vs.session() as s:
        now = sorted(s.scalars(text("SELECT id FROM vi_faces")))
    # SQLite reuses the lost row's id: ids alone cannot tell the two apart, the embedding can
    index = face_index(vs, None)
    assert sorted(index._ids) == now
    [(nearest, distance)] = index.nearest(np.ones(128, np.float32), 1)
    assert nearest == now[-1] and distance < 1e-3  # the restored case's new face
    vs.close()


def test_a_store_with_the_older_counting_triggers_gets_the_token_triggers_on_open(tmp_path):
    case = tmp_path / "case"
    vs = VictimStore(case, create=True)
    with vs.engine.begin() as conn:  # as a store made by the previous version looked
        for name in _triggers(vs):
            conn.execute(text(f"DROP TRIGGER {name}"))
        conn.execute(text("CREATE TRIGGER vi_faces_gen_insert AFTER INSERT ON vi_faces BEGIN "
                          "UPDATE vi_search_state SET generation = generation + 1 WHERE name = 'faces'; END"))
    vs.close()

    vs = VictimStore(case)
    have = _triggers(vs)
    assert not {n for n in have if "_gen_" in n}
    assert {f"{t}_token_{op}" for t in ("vi_scene", "vi_vocabulary", "vi_scene_words",
                                        "vi_word_vocabulary", "vi_faces")
            for op in ("insert", "update", "delete")} == have
    before = vs.generation("faces")
    _face(vs, _media(vs, "a.jpg"), 1)
    assert vs.generation("faces") != before
    vs.close()
    vs = VictimStore(case)  # opening again changes nothing
    assert _triggers(vs) == have
    vs.close()


def test_two_threads_can_cache_the_same_index_at_once(tmp_path, monkeypatch):
    """Both writers are held inside their write at the same moment: with one temporary name
    per process, one thread renamed the other's file away and the second rename failed."""
    import faiss

    ids = np.arange(5, dtype=np.int64)
    index = faiss.IndexFlatL2(4)
    index.add(np.eye(5, 4, dtype=np.float32))
    together = threading.Barrier(2, timeout=30)
    real_save = np.save

    def held_save(fh, arr, *a, **k):
        real_save(fh, arr, *a, **k)
        together.wait()

    monkeypatch.setattr(np, "save", held_save)
    errors = []

    def writer():
        try:
            indexfile.save(index, ids, tmp_path / "x.index")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    loaded, loaded_ids = indexfile.load(tmp_path / "x.index")
    assert loaded.ntotal == 5 and list(loaded_ids) == list(ids)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.index", "x.index.ids.npy"]


@pytest.mark.parametrize("kind", ["scene", "faces"])
def test_a_recreated_case_gets_another_instance(tmp_path, kind):
    vs = VictimStore(tmp_path / "case", create=True)
    first = vs.generation(kind)
    vs.close()
    shutil.rmtree(tmp_path / "case")
    vs = VictimStore(tmp_path / "case", create=True)
    assert vs.generation(kind) != first  # both untouched, both "0": the instance differs
    vs.close()
