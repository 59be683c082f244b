"""Series joining: scene links over generated rooms, and the guard against chaining."""

from __future__ import annotations

import pytest
from PIL import Image

from haven.victimid import scene
from haven.victimid import series as S
from haven.victimid.indexer import Indexer, IndexOptions
from haven.victimid.models import LinkRow
from haven.victimid.store import VictimStore
from haven.victimid.synth import make_room, photograph


def scene_link(a: int, b: int, inliers: int, model: str = "fundamental") -> LinkRow:
    what = "planar part" if model == "homography" else "3-D scene"
    return LinkRow(kind="scene", media_a=a, media_b=b, score=float(inliers),
                   detail=f"same scene ({inliers} geometrically consistent feature matches, {what})")


def weak_link(a: int, b: int, inliers: int = S.WEAK_F_INLIERS) -> LinkRow:
    return LinkRow(kind="scene", media_a=a, media_b=b, score=float(inliers),
                   detail=f"weak same-scene evidence ({inliers} geometrically consistent feature matches, 3-D scene)")


def test_strong_links_are_twice_their_models_threshold():
    assert S.strong_link(scene_link(1, 2, 2 * scene.MIN_F_INLIERS))
    assert not S.strong_link(scene_link(1, 2, 2 * scene.MIN_F_INLIERS - 1))
    assert S.strong_link(scene_link(1, 2, 2 * scene.MIN_INLIERS, "homography"))
    assert not S.strong_link(scene_link(1, 2, 2 * scene.MIN_INLIERS - 1, "homography"))
    assert S.strong_link(LinkRow(kind="serial", media_a=1, media_b=2, score=None, detail="same serial"))
    assert S.strong_link(LinkRow(kind="pdq", media_a=1, media_b=2, score=4.0, detail="pdq 4"))
    assert not S.strong_link(LinkRow(kind="pdq", media_a=1, media_b=2, score=30.0, detail="pdq 30"))


def test_one_weak_link_does_not_fuse_two_series_but_adds_a_single_view():
    weak = 25  # verified (>= 24 fundamental-matrix inliers) but not strong
    links = [scene_link(1, 2, weak), scene_link(2, 3, weak),  # place A: 1-2-3
             scene_link(10, 11, weak),  # place B: 10-11
             scene_link(3, 99, weak), scene_link(99, 10, weak),  # a distractor matching both by chance
             scene_link(50, 2, weak)]  # a single further view of A
    groups = S.join_groups(links)
    of = {m: tuple(g) for g in groups for m in g}
    assert of[1] == of[2] == of[3] == of[50]
    assert of[10] == of[11] and of[10] != of[1]
    assert 99 in of[1] + of[10]  # the distractor joins one of them, never both


def test_two_independent_weak_links_or_one_strong_link_join_series():
    weak = 25
    base = [scene_link(1, 2, weak), scene_link(10, 11, weak)]
    # two links between the groups that share a view held by weak links only are one path
    loose = [weak_link(1, 2), scene_link(10, 11, weak), scene_link(2, 3, weak)]
    shared = S.join_groups(loose + [weak_link(1, 10), weak_link(1, 11)])
    assert len(shared) == 2
    # a view verified into its own group that matches two different views of the other is
    # two paths (the four linked photos of one kitchen: held-out set 5, docs/benchmarks.md)
    tied = S.join_groups(base + [scene_link(1, 10, weak), scene_link(1, 11, weak)])
    assert tied == [[1, 2, 10, 11]]
    independent = S.join_groups(base + [scene_link(1, 10, weak), scene_link(2, 11, weak)])
    assert independent == [[1, 2, 10, 11]]
    strong = S.join_groups(base + [scene_link(2, 10, 2 * scene.MIN_F_INLIERS)])
    assert strong == [[1, 2, 10, 11]]
    assert S.join_groups(base + [scene_link(2, 10, 200)], locked={10}) == [[1, 2]]


@pytest.fixture(scope="module")
def rooms_case(tmp_path_factory):
    """Four photographs of one room, three of another, two unrelated pictures."""
    import skimage.data as data

    root = tmp_path_factory.mktemp("series-join") / "seizure"
    root.mkdir()
    room_a, room_b = make_room(31), make_room(32)
    for k in range(4):
        photograph(room_a, 100 + k).save(root / f"a{k}.jpg", quality=88)
    for k in range(3):
        photograph(room_b, 200 + k).save(root / f"b{k}.jpg", quality=88)
    Image.fromarray(data.coffee()).save(root / "coffee.png")
    Image.fromarray(data.chelsea()).save(root / "cat.png")
    vs = VictimStore(tmp_path_factory.mktemp("case") / "case", create=True)
    Indexer(vs, IndexOptions(parts=("scene",))).run([str(root)])
    from pathlib import Path

    return vs, {Path(m.path).stem: m.id for m in vs.all_media()}


def test_scene_links_verify_each_pair_once_and_keep_their_reason(rooms_case):
    vs, ids = rooms_case
    stats = S.SceneLinkStats()
    links = S.scene_links(vs, stats=stats)
    n = len(ids)
    assert stats.media == n and stats.verified_pairs <= n * (n - 1) // 2
    assert stats.links == len(links) and stats.cpu_seconds > 0
    pairs = {(a, b) for _k, a, b, _s, _w in links}
    assert len(pairs) == len(links)
    room_a = {ids[f"a{k}"] for k in range(4)}
    room_b = {ids[f"b{k}"] for k in range(3)}
    for _kind, a, b, score, why in links:
        assert {a, b} <= room_a or {a, b} <= room_b, why  # no link across rooms or to a picture
        assert f"{int(score)} geometrically consistent" in why
        assert ("planar part: homography" in why) or ("3-D scene: fundamental matrix" in why)
    assert sum({a, b} <= room_a for _k, a, b, _s, _w in links) >= 3  # enough to join 4 views


def test_series_join_every_view_of_a_room_even_from_a_one_view_shortlist(rooms_case):
    vs, ids = rooms_case
    S.build_links(vs, ("scene",))
    S.build_series(vs)
    data = S.list_series(vs)
    groups = [{m["media_id"] for m in x["members"]} for x in data]
    assert {ids[f"a{k}"] for k in range(4)} in groups
    assert {ids[f"b{k}"] for k in range(3)} in groups
    member = next(m for x in data for m in x["members"] if m["media_id"] == ids["a0"])
    assert member["reasons"] and all("same scene" in r for r in member["reasons"])
    # with one candidate per photo, the links it finds still join the room (through the
    # views each photo is linked to, and the expanded second shortlist)
    narrow = S.scene_links(vs, shortlist=1)
    groups = S.join_groups([LinkRow(kind=k, media_a=a, media_b=b, score=s, detail=w) for k, a, b, s, w in narrow])
    assert any({ids[f"a{k}"] for k in range(4)} <= set(g) for g in groups)


def test_pairs_short_of_verification_become_weak_links_that_say_so(rooms_case):
    vs, ids = rooms_case
    room_a = {ids[f"a{k}"] for k in range(4)}
    # Verification thresholds no pair reaches: what is left are weak links, each naming the
    # model that carried it.
    stats = S.SceneLinkStats()
    links = S.scene_links(vs, min_inliers=10_000, min_f_inliers=10_000, stats=stats)
    weak = [l for l in links if l[4].startswith("weak same-scene evidence")]
    assert len(weak) == stats.weak_links
    for _k, a, b, score, why in links:
        if why.startswith("weak"):
            assert score >= S.WEAK_H_INLIERS and "planar part" in why or score >= S.WEAK_F_INLIERS
            assert not S.strong_link(LinkRow(kind="scene", media_a=a, media_b=b, score=score, detail=why))
    assert len(weak) == len(links)
    assert not S.scene_links(vs, min_inliers=10_000, min_f_inliers=10_000, weak_h=10_000, weak_f=10_000)
    assert weak and all({a, b} <= room_a or {a, b} <= {ids[f"b{k}"] for k in range(3)} for _k, a, b, _s, _w in weak)
