from __future__ import annotations

import json

import pytest

from haven.victimid import series as S
from haven.victimid.errors import VictimIdError


@pytest.fixture(scope="module")
def built(indexed_case):
    vs, ids = indexed_case
    counts = S.build_links(vs)
    S.build_series(vs)
    return vs, ids, counts


def _series_of(data, media_id):
    return next((x for x in data if media_id in {m["media_id"] for m in x["members"]}), None)


def test_links_explain_why_media_belong_together(built):
    vs, ids, counts = built
    assert counts["serial"] == 1 and counts["time"] == 1
    kinds = {l.kind: l.detail for l in S.links_of(vs, ids["room_a_1.jpg"])}
    assert "SER-42" in kinds["serial"] and "1.0 s apart" in kinds["time"]
    assert counts["scene"] >= 2


def test_series_group_rooms_and_near_duplicates_but_not_unrelated(built):
    vs, ids, _ = built
    data = S.list_series(vs)
    a = _series_of(data, ids["room_a_1.jpg"])
    assert a is not None and ids["room_a_2.jpg"] in {m["media_id"] for m in a["members"]}
    member = next(m for m in a["members"] if m["media_id"] == ids["room_a_2.jpg"])
    assert any("serial SER-42" in r for r in member["reasons"])
    assert _series_of(data, ids["coffee.png"]) is None
    assert _series_of(data, ids["room_b_1.jpg"]) is not _series_of(data, ids["room_a_1.jpg"]) or \
        _series_of(data, ids["room_b_1.jpg"]) is None


def test_merge_split_name_survive_rebuild_and_export_to_vics(built, tmp_path):
    vs, ids, _ = built
    data = S.list_series(vs)
    a = _series_of(data, ids["room_a_1.jpg"])
    b = _series_of(data, ids["room_b_1.jpg"])
    assert a and b and a["id"] != b["id"]
    merged = S.merge(vs, [a["id"], b["id"]], user="analyst1", name="blue house")
    new = S.split(vs, merged.id, [ids["room_b_1.jpg"], ids["room_b_2.jpg"]], user="analyst1", name="room b")
    S.update(vs, merged.id, victim_identified=True, user="analyst2")
    S.build_series(vs)  # analyst series are kept as they are
    data = S.list_series(vs)
    names = {x["name"]: x for x in data}
    assert names["blue house"]["victim_identified"] and names["blue house"]["origin"] == "analyst"
    assert {m["media_id"] for m in names["room b"]["members"]} == {ids["room_b_1.jpg"], ids["room_b_2.jpg"]}
    assert new.id == names["room b"]["id"]
    out = tmp_path / "series.json"
    n = S.export_vics(vs, out, "case-1")
    doc = json.loads(out.read_text())
    media = doc["value"][0]["Media"]
    assert n == len(media) >= 5
    by_series = {m["Series"]: m["VictimIdentified"] for m in media}
    assert by_series["blue house"] is True and by_series["room b"] is False
    assert vs.verify_log()
    with pytest.raises(VictimIdError):
        S.merge(vs, [merged.id])
