"""`haven index` with a pool of worker processes stores what one process stores."""

from __future__ import annotations

from sqlalchemy import select

from haven.victimid.indexer import Indexer, IndexOptions
from haven.victimid.models import MediaRow, SceneRow
from haven.victimid.store import VictimStore


def _scene_rows(vs: VictimStore) -> dict[str, tuple[bytes, bytes, str]]:
    with vs.session() as s:
        rows = s.execute(select(MediaRow.path, SceneRow.keypoints, SceneRow.descriptors, MediaRow.pdq)
                         .join(SceneRow, SceneRow.media_id == MediaRow.id)).all()
    return {p: (k, d, q) for p, k, d, q in rows}


def test_two_workers_index_the_same_features_as_one_process(evidence_dir, tmp_path):
    one = VictimStore(tmp_path / "one", create=True)
    two = VictimStore(tmp_path / "two", create=True)
    s1 = Indexer(one, IndexOptions(parts=("metadata", "scene"), workers=1)).run([str(evidence_dir)])
    seen = []
    s2 = Indexer(two, IndexOptions(parts=("metadata", "scene"), workers=2)).run(
        [str(evidence_dir)], lambda st, path: seen.append(path))
    assert (s2.indexed, s2.skipped, s2.errors) == (s1.indexed, s1.skipped, s1.errors)
    assert s2.indexed >= 8 and len(seen) == s2.seen  # progress reported for every item
    assert _scene_rows(two) == _scene_rows(one)
    again = Indexer(two, IndexOptions(parts=("metadata", "scene"), workers=2)).run([str(evidence_dir)])
    assert again.indexed == 0 and again.skipped == s2.seen  # resumable: nothing indexed twice
    one.close()
    two.close()
