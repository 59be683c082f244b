"""The matching API's precision controls (issue 15): per-set PDQ thresholds set by the set's
owner, negative sets, flood quarantine, confirm / deconfirm, provenance in every answer."""

from __future__ import annotations

import time

import pytest
from servicekit import PASSWORD, database_url, make_service
from sqlalchemy import select

X = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "360ebe8964fab73553a60189969cc478"


def flip(hex_hash: str, bits: int, start: int = 0) -> str:
    """`hex_hash` with `bits` bits flipped from bit `start`: that far from it."""
    return f"{int(hex_hash, 16) ^ (((1 << bits) - 1) << start):064x}"


def upload(svc, name: str, lines: list[str], who: str = "coord", **form):
    body = "".join(f"pdq {h}\n" for h in lines).encode()
    r = svc.client.post("/api/v1/hashsets", headers=svc.h(who),
                        files={"file": ("set", body, "application/octet-stream")},
                        data={"name": name, "format": "hma", **form})
    assert r.status_code == 201, r.text
    return r.json()


def pdq_lookup(svc, value: str, key: str = "lookup") -> list[dict]:
    r = svc.client.post("/api/v1/lookup", headers=svc.h(key),
                        json={"signals": [{"signal_type": "pdq", "signal": value}]})
    assert r.status_code == 200, r.text
    return r.json()["results"][0]["matches"]


def sets_of(matches: list[dict]) -> list[str]:
    return sorted(m["hashset"] for m in matches)


def add_coordinator(svc, name: str) -> None:
    from haven.service.accounts import create_user

    with svc.session() as s:
        create_user(s, name, PASSWORD, "coordinator")
        s.commit()
    r = svc.client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    svc.tokens[name] = r.json()["token"]


def add_key(svc, name: str) -> None:
    from haven.service.accounts import create_api_key

    with svc.session() as s:
        _, svc.tokens[name] = create_api_key(s, name)
        s.commit()


def key_headers(svc, name: str) -> dict:
    return {"X-API-Key": svc.tokens[name]}


def test_each_set_matches_within_its_own_threshold_which_only_its_owner_sets(service):
    upload(service, "strict", [X], pdq_threshold="10")
    upload(service, "default", [X])
    q = flip(X, 20)
    assert sets_of(pdq_lookup(service, q)) == ["default"]
    assert sets_of(pdq_lookup(service, flip(X, 8))) == ["default", "strict"]
    # a set may also reach further than the service's default (31)
    r = service.client.patch("/api/v1/hashsets/default", headers=service.h("coord"),
                             json={"pdq_threshold": 40})
    assert r.status_code == 200, r.text
    assert r.json()["pdq_threshold"] == 40 and r.json()["owner"] == "user:coord"
    assert sets_of(pdq_lookup(service, flip(X, 36))) == ["default"]
    # another coordinator is not the owner; other roles never manage sets
    add_coordinator(service, "coord2")
    for who, status in (("coord2", 403), ("fr", 403), ("lookup", 403)):
        r = service.client.patch("/api/v1/hashsets/strict",
                                 headers=service.h(who) if who != "coord2" else
                                 {"Authorization": f"Bearer {service.tokens[who]}"},
                                 json={"pdq_threshold": 31})
        assert r.status_code == status, who
    r = service.client.patch("/api/v1/hashsets/strict", headers=service.h("coord"),
                             json={"pdq_threshold": 25})
    assert r.status_code == 200
    m = {x["hashset"]: x for x in pdq_lookup(service, q)}
    assert sorted(m) == ["default", "strict"]
    assert m["strict"]["threshold"] == 25 and m["default"]["threshold"] == 40
    # bad values are refused, not stored
    for bad in ({"pdq_threshold": 64}, {"pdq_threshold": "10"}, {"negative": "yes"},
                {"negative": None}, {"owner": "user:coord2"}, {"suppresses": ["../x"]}):
        r = service.client.patch("/api/v1/hashsets/strict", headers=service.h("coord"), json=bad)
        assert r.status_code == 422, bad


def test_a_negative_set_suppresses_the_matches_of_the_sets_it_names(service):
    upload(service, "positives", [X])
    upload(service, "others", [X])
    far = flip(X, 40)  # a known false positive, 40 bits from X
    upload(service, "false-positives", [far], negative="true", suppresses="positives")
    both = flip(X, 20)  # 20 from X and 20 from the false positive
    assert sets_of(pdq_lookup(service, both)) == ["others"]
    # near X only: the false positive is out of reach, nothing is suppressed
    assert sets_of(pdq_lookup(service, flip(X, 5))) == ["others", "positives"]
    # near the false positive only: nothing matches (a negative set is never an answer)
    assert pdq_lookup(service, flip(far, 3, start=100)) == []
    # with no names it suppresses every set
    r = service.client.patch("/api/v1/hashsets/false-positives", headers=service.h("coord"),
                             json={"suppresses": []})
    assert r.status_code == 200, r.text
    assert pdq_lookup(service, both) == []
    assert sets_of(pdq_lookup(service, flip(X, 5))) == ["others", "positives"]


def test_every_match_carries_its_provenance_in_one_answer(service):
    csv = (f"md5,pdq,category,series\n{MD5},{X},\"1,3\",beach-2019\n").encode()
    r = service.client.post("/api/v1/hashsets", headers=service.h("coord"),
                            files={"file": ("set.csv", csv, "text/csv")},
                            data={"name": "feed-a", "feed": "hotline-x weekly"})
    assert r.status_code == 201, r.text
    r = service.client.post("/api/v1/lookup", headers=service.h("lookup"), json={"signals": [
        {"signal_type": "md5", "signal": MD5}, {"signal_type": "pdq", "signal": flip(X, 6)}]})
    exact, near = (x["matches"][0] for x in r.json()["results"])
    for m in (exact, near):
        assert m["hashset"] == "feed-a" and m["feed"] == "hotline-x weekly"
        assert m["categories"] == ["1", "3"] and m["series"] == "beach-2019"
        assert isinstance(m["entry_id"], int) and m["added_at"].endswith("Z")
    assert exact["distance"] == 0 and near["distance"] == 6 and near["crowded"] is False
    r = service.client.get("/m/lookup", params={"signal": flip(X, 6)}, headers=service.h("lookup"))
    (hit,) = r.json()["feed-a"]
    assert hit["bank_content_id"] == near["entry_id"] and hit["distance"] == "6"
    assert hit["series"] == "beach-2019" and hit["feed"] == "hotline-x weekly"


def test_pdq_answers_are_bounded_best_first_and_say_so(tmp_path, backend, pg_cluster):
    svc = make_service(tmp_path, database_url(backend, pg_cluster), max_matches=3)
    try:
        upload(svc, "many", [flip(X, k, start=50) for k in range(8)])
        r = svc.client.post("/api/v1/lookup", headers=svc.h("lookup"),
                            json={"signals": [{"signal_type": "pdq", "signal": X}]})
        (res,) = r.json()["results"]
        assert [m["distance"] for m in res["matches"]] == [0, 1, 2] and res["truncated"] is True
        assert res["within_reach"] == 8  # all of them counted, only the best 3 listed
    finally:
        svc.app.state.svc.engine.dispose()


def _flags(svc, name: str, who: str = "coord") -> list[dict]:
    r = svc.client.get(f"/api/v1/hashsets/{name}/flags", headers=svc.h(who))
    assert r.status_code == 200, r.text
    return r.json()


def _wait(cond, seconds: float = 10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_an_entry_matching_a_flood_of_distinct_queries_is_held_and_flagged(tmp_path, backend,
                                                                           pg_cluster):
    from haven.service.models import AuditEntry

    svc = make_service(tmp_path, database_url(backend, pg_cluster), flood_min_queries=5)
    try:
        upload(svc, "lists", [X, flip(X, 64, start=128)])
        # the same query again and again is one query: no flood
        for _ in range(20):
            assert len(pdq_lookup(svc, flip(X, 3))) == 1
        # four more distinct queries: five, within the limit; the sixth makes the flood (and
        # is still answered)
        for k in range(1, 6):
            assert len(pdq_lookup(svc, flip(X, 3, start=8 * k))) == 1
        assert pdq_lookup(svc, flip(X, 4)) == []  # held from the next answer on, at once
        assert _wait(lambda: any(f["quarantined"] for f in _flags(svc, "lists")))
        (flag,) = _flags(svc, "lists")
        assert flag["reason"] == "flood" and flag["quarantined_at"]
        # another worker holds it too, once its library polls the flags
        from fastapi.testclient import TestClient

        from haven.service.app import create_app

        other = TestClient(create_app(svc.settings, recover_first=False),
                           base_url="http://127.0.0.1")
        try:
            r = other.get("/m/lookup", params={"signal": flip(X, 2)}, headers=svc.h("lookup"))
            assert r.json() == {}
        finally:
            other.app.state.svc.engine.dispose()
        with svc.session() as s:
            entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "entry.quarantine"))
            assert entry.actor == "service" and entry.detail["reason"] == "flood"
        # its owner releases it: answered again
        r = svc.client.post(f"/api/v1/hashsets/lists/entries/{flag['entry_id']}/release",
                            headers=svc.h("coord"))
        assert r.status_code == 200, r.text
        assert len(pdq_lookup(svc, flip(X, 4))) == 1
        assert not _flags(svc, "lists")[0]["quarantined"]
    finally:
        svc.app.state.svc.engine.dispose()


def test_the_flood_limit_follows_each_entrys_own_history():
    from haven.service.quarantine import FloodWatch

    now = [0.0]
    watch = FloodWatch(min_queries=50, factor=3.0, window=60.0, clock=lambda: now[0])
    # entry 1 is popular: 40 distinct queries in each of two windows (under the minimum)
    for w in range(2):
        assert all(watch.observe([1], f"q{w}-{k}") == [] for k in range(40))
        assert watch.observe([1], f"q{w}-0") == []  # a repeat is not a new query
        now[0] += 60.0
    assert watch.limit(1) == 3.0 * 40 and watch.limit(2) == 50
    # a new entry is held past 50 distinct queries; the popular one takes them in stride
    flagged = [watch.observe([1, 2], f"n{k}") for k in range(100)]
    assert flagged[50] == [2] and all(f == [] for i, f in enumerate(flagged) if i != 50)
    assert all(watch.observe([1], f"m{k}") == [] for k in range(20))  # 120 in this window
    assert watch.observe([1], "one-too-many") == [1]
    assert watch.observe([1], "more") == []  # flagged once
    watch.forget(1)  # released by its owner: counted afresh, against the minimum
    assert watch.limit(1) == 50


def test_deconfirmations_from_enough_parties_quarantine_and_the_owner_sees_the_counts(
        tmp_path, backend, pg_cluster):
    svc = make_service(tmp_path, database_url(backend, pg_cluster), deconfirm_quarantine=2)
    try:
        upload(svc, "votes", [X])
        (m,) = pdq_lookup(svc, X)
        eid = m["entry_id"]
        for name in ("party-b", "party-c"):
            add_key(svc, name)

        def vote(key, verdict):
            r = svc.client.post(f"/api/v1/entries/{eid}/{verdict}", headers=key_headers(svc, key))
            assert r.status_code == 200, r.text

        vote("lookup", "deconfirm")
        vote("lookup", "deconfirm")  # one party, one voice
        vote("party-b", "confirm")
        (flag,) = _flags(svc, "votes")
        assert (flag["confirms"], flag["deconfirms"], flag["quarantined"]) == (1, 1, False)
        assert len(pdq_lookup(svc, X)) == 1
        vote("party-b", "deconfirm")  # changed its mind: 2 deconfirms, 0 confirms
        (flag,) = _flags(svc, "votes")
        assert (flag["confirms"], flag["deconfirms"], flag["quarantined"]) == (0, 2, True)
        assert flag["reason"] == "deconfirmed"
        assert pdq_lookup(svc, X) == [] and pdq_lookup(svc, X, key="lookup") == []
        # only the owner sees the flags; only lookup parties vote; unknown entries are 404
        assert svc.client.get("/api/v1/hashsets/votes/flags",
                              headers=svc.h("fr")).status_code == 403
        assert svc.client.post(f"/api/v1/entries/{eid}/confirm",
                               headers=svc.h("coord")).status_code == 403
        assert svc.client.post("/api/v1/entries/999999/confirm",
                               headers=svc.h("lookup")).status_code == 404
    finally:
        svc.app.state.svc.engine.dispose()


@pytest.mark.parametrize("who", ["coord2"])
def test_only_the_owner_replaces_a_set(service, who):
    upload(service, "mine", [X])
    add_coordinator(service, who)
    r = service.client.post("/api/v1/hashsets",
                            headers={"Authorization": f"Bearer {service.tokens[who]}"},
                            files={"file": ("set", f"pdq {X}\n".encode(), "text/plain")},
                            data={"name": "mine", "format": "hma"})
    assert r.status_code == 403
