"""The matching API: signal batches, file uploads, HMA's shape, NCMEC XML with tombstones."""

from __future__ import annotations

import io
from pathlib import Path

from servicekit import database_url, make_service

NCMEC = Path("ref/formats/hashlists/ncmec_hashsharing_v2_entries_synthetic.xml")
MD5 = "360ebe8964fab73553a60189969cc478"
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def flip(hex_hash: str, bits: int) -> str:
    value = int(hex_hash, 16) ^ ((1 << bits) - 1)
    return f"{value:064x}"


def upload(svc, name: str, data: bytes, **form):
    return svc.client.post("/api/v1/hashsets", headers=svc.h("coord"),
                           files={"file": ("set", data, "application/octet-stream")},
                           data={"name": name, **form})


def lookup(svc, signals):
    return svc.client.post("/api/v1/lookup", headers=svc.h("lookup"),
                           json={"signals": [{"signal_type": t, "signal": v} for t, v in signals]})


def test_ncmec_xml_import_then_exact_and_near_matches_carry_their_evidence(service, shared_dir):
    r = upload(service, "ncmec", (shared_dir / NCMEC).read_bytes())
    assert r.status_code == 201, r.text
    assert r.json()["format"] == "ncmec-xml" and r.json()["entries"] == 1
    assert r.json()["tombstones"] == 1
    r = lookup(service, [("md5", MD5.upper()), ("pdq", flip(PDQ, 10)), ("sha1", "0" * 40),
                         ("pdq", flip(PDQ, 40))])
    assert r.status_code == 200, r.text
    md5, near, none, far = r.json()["results"]
    m = md5["matches"][0]
    assert (m["hashset"], m["hashset_version"], m["category"], m["algorithm"], m["distance"],
            m["threshold"]) == ("ncmec", 1, "A1", "md5", 0, 0)
    assert m["added_at"].endswith("Z")
    assert near["matches"][0]["distance"] == 10 and near["matches"][0]["threshold"] == 31
    assert none["matches"] == [] and far["matches"] == []


def test_an_incremental_feed_tombstone_deletes_the_earlier_entry(service, tmp_path):
    first = b"""<?xml version="1.0"?>
<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2"><images count="1">
<image><id>img-7</id><classification>B1</classification>
<fingerprints><md5>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</md5></fingerprints></image>
</images></queryResult>"""
    later = b"""<?xml version="1.0"?>
<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2"><images count="1">
<deletedImage><id>img-7</id></deletedImage></images></queryResult>"""
    assert upload(service, "feed", first, append="true").json()["entries"] == 1
    assert lookup(service, [("md5", "a" * 32)]).json()["results"][0]["matches"]
    r = upload(service, "feed", later, append="true").json()
    assert r["entries"] == 0 and r["version"] == 2
    assert lookup(service, [("md5", "a" * 32)]).json()["results"][0]["matches"] == []


def test_hma_lookup_groups_matches_by_bank(service, shared_dir):
    upload(service, "ncmec", (shared_dir / NCMEC).read_bytes())
    upload(service, "local", f"pdq {flip(PDQ, 3)}\n".encode(), format="hma")
    r = service.client.get("/m/lookup", params={"signal": PDQ, "signal_type": "pdq"},
                           headers=service.h("lookup"))
    assert r.status_code == 200, r.text
    banks = r.json()
    assert set(banks) == {"ncmec", "local"}
    assert banks["local"][0]["distance"] == "3" and isinstance(banks["local"][0]["bank_content_id"], int)
    r = service.client.get("/m/lookup", params={"signal": "zz", "signal_type": "pdq"},
                           headers=service.h("lookup"))
    assert r.status_code == 422


def test_a_batch_of_10000_signals_is_answered_and_10001_refused(service):
    upload(service, "list", (MD5 + "\n").encode(), format="txt")
    batch = [("md5", f"{i:032x}") for i in range(9_999)] + [("md5", MD5)]
    r = lookup(service, batch)
    assert r.status_code == 200
    assert sum(1 for x in r.json()["results"] if x["matches"]) == 1
    r = lookup(service, batch + [("md5", MD5)])
    assert r.status_code == 413 and "10000" in r.json()["detail"]


def test_an_uploaded_image_is_hashed_and_matched(service):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (256, 256), "white")
    d = ImageDraw.Draw(img)
    for k in range(0, 256, 32):
        d.rectangle([k, k // 2, k + 20, 255 - k // 3], fill=(k, 255 - k, (k * 7) % 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    data = buf.getvalue()
    from haven.scan.analyse import analyse

    a = analyse("x.png", data=data)
    upload(service, "pictures", f"pdq {a.pdq}\n".encode(), format="hma")
    r = service.client.post("/api/v1/lookup", headers=service.h("lookup"),
                            files={"file": ("upload.png", data, "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["file"]["sha256"] == a.sha256 and body["file"]["pdq"] == a.pdq
    assert body["matches"][0]["hashset"] == "pictures" and body["matches"][0]["distance"] == 0


def _only_match_against_hash_only(service, known: str, upload_jpeg: bytes) -> dict:
    """Import `known` as the hash-only set "partner" (one PDQ, HMA format), post `upload_jpeg`
    to the lookup and return its one match (the lookup must answer 200 with exactly one)."""
    upload(service, "partner", f"pdq {known}\n".encode(), format="hma")
    r = service.client.post("/api/v1/lookup", headers=service.h("lookup"),
                            files={"file": ("copy.jpg", upload_jpeg, "image/jpeg")})
    assert r.status_code == 200, r.text
    [m] = r.json()["matches"]
    return m


def test_an_uploaded_cropped_copy_matches_a_hash_only_entry(service):
    """The known picture is in the library as one PDQ; the upload is a crop of it."""
    from haven.demo import jpeg_bytes, make_image
    from haven.signals import pdq

    original = make_image(4321, (800, 600))
    copy = original.crop((48, 24, 760, 560))  # 6 % left, 4 % top, 5 % right, 7 % bottom
    known = pdq.pdq_from_bytes(jpeg_bytes(original, 92)).hex
    assert pdq.hamming(pdq.pdq_from_bytes(jpeg_bytes(copy, 85)).hex, known) > 31
    m = _only_match_against_hash_only(service, known, jpeg_bytes(copy, 85))
    assert m["hashset"] == "partner" and m["hypothesis"].startswith("frame-")
    assert m["distance"] <= m["threshold"]


def test_an_uploaded_bannered_copy_of_a_pdq_unstable_picture_matches(service):
    """Photographed text: its PDQ rests on the exact pixel grid; the banner is masked in the
    upload's own PDQ samples (`xband-`), as `haven scan` does."""
    from PIL import ImageDraw

    from haven.demo import jpeg_bytes, make_printed_page
    from haven.signals import pdq

    page = make_printed_page(5)
    known = pdq.pdq_from_bytes(jpeg_bytes(page, 90)).hex
    copy = page.copy()
    ImageDraw.Draw(copy).rectangle((0, 0, 640, 44), fill=(30, 30, 160))
    assert pdq.hamming(pdq.pdq_from_bytes(jpeg_bytes(copy, 90)).hex, known) > 31
    m = _only_match_against_hash_only(service, known, jpeg_bytes(copy, 90))
    assert m["hashset"] == "partner" and m["hypothesis"].startswith("xband-t")
    assert m["distance"] <= m["threshold"]


def test_bad_signals_are_422(service):
    for signal_type, signal in (("md5", "abc"), ("crc32", "00"), ("sha1", "' OR 1=1 --"),
                                ("pdq", "<script>")):
        r = lookup(service, [(signal_type, signal)])
        assert r.status_code == 422 and r.json()["detail"], signal


def _lookup_entries(svc) -> list[dict]:
    from sqlalchemy import select

    from haven.service.models import AuditEntry

    svc.app.state.svc.audit_writer.flush()
    with svc.session() as s:
        return [{"actor": e.actor, **e.detail} for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "lookup.hma").order_by(AuditEntry.seq))]


def test_the_fast_path_answers_and_audits_exactly_as_the_route(service, shared_dir):
    upload(service, "ncmec", (shared_dir / NCMEC).read_bytes())
    keys = service.app.state.svc.api_keys
    params = {"signal": flip(PDQ, 5), "signal_type": "pdq"}
    assert keys.get(service.tokens["lookup"]) is None
    first = service.client.get("/m/lookup", params=params, headers=service.h("lookup"))
    assert keys.get(service.tokens["lookup"]) is not None  # the route verified and cached it
    second = service.client.get("/m/lookup", params=params, headers=service.h("lookup"))
    assert first.status_code == second.status_code == 200
    assert first.content == second.content and first.headers["content-type"] == \
        second.headers["content-type"] == "application/json"
    assert first.json()["ncmec"][0]["distance"] == "5"
    one, two = _lookup_entries(service)
    assert one == two == {"actor": "key:hotline", "signal_type": "pdq",
                          "signal": params["signal"], "banks": 1, "matches": 1}
    # what the fast path does not handle goes on to the route: its errors, its leniency
    for bad in ({"signal": "zz"}, {"signal": PDQ, "signal_type": "crc32"}, {}):
        r = service.client.get("/m/lookup", params=bad, headers=service.h("lookup"))
        assert r.status_code == 422, bad
    r = service.client.get("/m/lookup", params={**params, "extra": "1"},
                           headers=service.h("lookup"))
    assert r.status_code == 200 and r.content == first.content
    r = service.client.get("/m/lookup", params=params, headers=service.h("coord"))
    assert r.status_code == 403
    assert len(_lookup_entries(service)) == 3


def test_a_deactivated_api_key_stops_working_when_its_cache_entry_expires(tmp_path, backend,
                                                                         pg_cluster):
    import time

    from sqlalchemy import update

    from haven.service.models import ApiKey

    svc = make_service(tmp_path, database_url(backend, pg_cluster), api_key_cache_seconds=0.5)
    try:
        get = lambda: svc.client.get("/m/lookup", params={"signal": PDQ},  # noqa: E731
                                     headers=svc.h("lookup"))
        assert get().status_code == 200
        with svc.session() as s:
            s.execute(update(ApiKey).values(active=False))
            s.commit()
        time.sleep(0.6)
        r = get()
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
    finally:
        svc.app.state.svc.engine.dispose()


def test_a_hash_set_stored_by_another_process_reaches_the_library(tmp_path, backend, pg_cluster):
    """What a second server worker or `haven service import-hashset` does: write the tables."""
    import time

    from haven.hashsets.model import HashEntry, ImportResult
    from haven.service.lookup import store_hashset

    svc = make_service(tmp_path, database_url(backend, pg_cluster), library_poll_seconds=0.2)
    state = svc.app.state.svc
    state.library_sync.start()
    try:
        with svc.session() as s:
            store_hashset(s, ImportResult(format="txt", entries=[HashEntry(md5=MD5)]),
                          name="elsewhere", source_sha256=None)
            s.commit()
        deadline = time.monotonic() + 30
        while not lookup(svc, [("md5", MD5)]).json()["results"][0]["matches"]:
            assert time.monotonic() < deadline, "the library never picked up the new set"
            time.sleep(0.1)
        with svc.session() as s:
            assert state.library.sync(s) is False  # nothing changed since
    finally:
        state.library_sync.stop()
        state.engine.dispose()


def test_a_lookup_answered_before_the_writer_flushes_is_audited_once(service):
    for _ in range(3):
        assert lookup(service, [("md5", MD5), ("sha1", "0" * 40)]).status_code == 200
    from sqlalchemy import select

    from haven.service import audit
    from haven.service.models import AuditEntry

    service.app.state.svc.audit_writer.flush()
    with service.session() as s:
        details = list(s.scalars(select(AuditEntry.detail)
                                 .where(AuditEntry.action == "lookup.signals")))
        assert audit.verify(s).ok
    assert len(details) == 3 and {d["signals"] for d in details} == {2}
    assert len({d["signals_sha256"] for d in details}) == 1


def test_hash_set_changes_are_applied_to_the_loaded_library_without_a_rebuild(service):
    """An appended feed, a replaced set and tombstones change the loaded library in place:
    new entries answer, removed ones stop, every entry reports its set's new version, and the
    PDQ index object stays the same (no rebuild). Deleting a set rebuilds."""
    import numpy as np

    from haven.hashsets.model import HashEntry, ImportResult
    from haven.service.lookup import LookupLibrary, store_hashset
    from haven.service.models import LookupHashSet

    rng = np.random.default_rng(5)
    pdqs = [bytes(r).hex() for r in rng.integers(0, 256, (40_000, 32), dtype=np.uint8)]
    md5s = [f"{i:032x}" for i in range(4)]

    def store(name, entries, **kw):
        with service.session() as s:
            store_hashset(s, ImportResult(format="csv", entries=entries), name=name,
                          source_sha256=None, **kw)
            s.commit()

    def hits(kind, value):
        return [(m["hashset"], m["hashset_version"]) for m in lib.match(kind, value)]

    store("big", [HashEntry(pdq=p, extra={"id": f"b{i}"}) for i, p in enumerate(pdqs)])
    store("feed", [HashEntry(md5=md5s[0], pdq=pdqs[0], extra={"id": "f0"})], append=True)
    lib = LookupLibrary()
    with service.session() as s:
        lib.reload(s)
    near = lib._index.near
    assert near.segment_sizes and hits("md5", md5s[0]) == [("feed", 1)]

    store("feed", [HashEntry(md5=md5s[1], pdq=flip(pdqs[1], 3), extra={"id": "f1"})],
          append=True)
    assert hits("md5", md5s[1]) == []  # not yet taken in
    with service.session() as s:
        assert lib.sync(s) is True
    assert lib._index.near is near  # extended, not rebuilt
    assert hits("md5", md5s[1]) == [("feed", 2)]
    assert hits("md5", md5s[0]) == [("feed", 2)]  # the older entry reports the new version
    assert ("feed", 2) in hits("pdq", pdqs[1]) and ("big", 1) in hits("pdq", pdqs[1])

    # the newest entry tombstoned and another appended in one feed (ids are never reused,
    # migration 0003, so the new row cannot pass for the old one)
    store("feed", [HashEntry(md5=md5s[3], extra={"id": "f3"})], append=True, tombstones=["f1"])
    with service.session() as s:
        assert lib.sync(s) is True
    assert hits("md5", md5s[1]) == [] and hits("md5", md5s[3]) == [("feed", 3)]
    assert hits("pdq", flip(pdqs[1], 3)) == [("big", 1)]  # f1's PDQ went with it
    assert lib._index.near is near

    store("feed", [], append=True, tombstones=["f0"])  # a feed's deletion
    with service.session() as s:
        assert lib.sync(s) is True
    assert hits("md5", md5s[0]) == [] and hits("pdq", pdqs[0]) == [("big", 1)]
    assert lib._index.near is near and len(lib) == len(pdqs) + 1  # the retired one not counted

    store("feed", [HashEntry(md5=md5s[2])])  # replaced: only the new entry remains
    with service.session() as s:
        assert lib.sync(s) is True
        assert lib.sync(s) is False
    assert hits("md5", md5s[3]) == [] and hits("md5", md5s[2]) == [("feed", 5)]
    assert lib._index.near is near

    fresh = LookupLibrary()  # a full build from the tables answers the same
    with service.session() as s:
        fresh.reload(s)
    for kind, value in [("md5", m) for m in md5s] + [("pdq", p) for p in pdqs[:3]]:
        assert sorted(map(tuple, (sorted(d.items()) for d in lib.match(kind, value)))) == \
            sorted(map(tuple, (sorted(d.items()) for d in fresh.match(kind, value))))

    near = lib._index.near
    with service.session() as s:  # a deleted set: rebuilt from the tables
        s.delete(s.query(LookupHashSet).filter_by(name="feed").one())
        s.commit()
        assert lib.sync(s) is True
    assert lib._index.near is not near and hits("md5", md5s[2]) == []


def test_a_sha512_set_is_imported_and_matched_through_the_api(service):
    """SHA-512 (issue 20's proof): a CSV column of it is imported and the API answers it."""
    import hashlib

    value = hashlib.sha512(b"benign sha512 content").hexdigest()
    r = upload(service, "partner", f"sha512,category\n{value}\n".encode(), format="csv",
               scheme="partner")
    assert r.status_code == 201, r.text
    r = lookup(service, [("sha512", value.upper()), ("SHA512", "0" * 128), ("sha512", value[:64])])
    assert r.status_code == 422 and "sha512 signal must be 128 hex" in r.text
    r = lookup(service, [("sha512", value.upper()), ("SHA512", "0" * 128)])
    assert r.status_code == 200, r.text
    hit, miss = r.json()["results"]
    assert [(m["hashset"], m["algorithm"], m["distance"]) for m in hit["matches"]] == [
        ("partner", "sha512", 0)]
    assert miss["matches"] == []
