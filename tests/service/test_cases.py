"""The analyst's case view: findings of the one case they are given, filtered and sorted."""

from __future__ import annotations

from datetime import datetime


def _fill_case(case_dir) -> None:
    from haven.store.case import CaseStore
    from haven.store.models import ItemRow, Seizure

    store = CaseStore(case_dir, create=True)
    try:
        with store.session() as s:
            seizure = Seizure(name="ev", source_path="/evidence/ev", started_at=datetime(2026, 1, 1))
            s.add(seizure)
            s.flush()
            for path, finding, size in (("ev/b.jpg", "known", 30), ("ev/a.jpg", "fresh", 10),
                                        ("ev/c.txt", "other", 20)):
                s.add(ItemRow(seizure_id=seizure.id, path=path, finding=finding, size=size,
                              sha256=path.encode().hex().ljust(64, "0")[:64]))
            s.commit()
    finally:
        store.close()


def test_an_analyst_reads_filters_and_sorts_their_case(service, tmp_path):
    _fill_case(tmp_path / "case")
    c, h = service.client, service.h
    case_id = c.get("/api/v1/cases", headers=h("analyst")).json()[0]["id"]
    r = c.get(f"/api/v1/cases/{case_id}/findings", headers=h("analyst"))
    assert r.status_code == 200 and [f["path"] for f in r.json()["findings"]] == [
        "ev/a.jpg", "ev/b.jpg", "ev/c.txt"]
    r = c.get(f"/api/v1/cases/{case_id}/findings?sort=size&limit=2", headers=h("analyst"))
    assert [f["size"] for f in r.json()["findings"]] == [10, 20] and r.json()["total"] == 3
    r = c.get(f"/api/v1/cases/{case_id}/findings?finding=known", headers=h("analyst"))
    assert [f["path"] for f in r.json()["findings"]] == ["ev/b.jpg"]
    assert c.get(f"/api/v1/cases/{case_id + 1}/findings", headers=h("analyst")).status_code == 404
    assert c.get(f"/api/v1/cases/{case_id}/findings", headers=h("coord")).status_code == 403
