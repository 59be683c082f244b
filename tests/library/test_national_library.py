"""The national hash library on disk: import, exact and near lookups, attachment to a scan,
replacement, retraction, compaction and refusal of damaged files."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from haven.cli import app
from haven.hashsets.model import HashEntry, ImportResult
from haven.library import LibraryCorruptError
from haven.library.national import FLAT_LIMIT, HashLibrary
from haven.match.multiindex import flat_search
from haven.signals.pdq import pdq_from_bytes

runner = CliRunner()


def _image(name: str, quality: int = 92) -> bytes:
    """A benign photo shipped by scikit-image, as JPEG bytes."""
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(getattr(data, name)()).convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _random_hexes(rng, n: int) -> list[str]:
    return [bytes(r).hex() for r in rng.integers(0, 256, (n, 32), dtype=np.uint8)]


def _crowd_hexes(rng, n: int) -> list[str]:
    """n hashes 0-12 bits from one near-blank-like centre: a crowd the index keeps apart."""
    centre = rng.integers(0, 256, 32, dtype=np.uint8)
    rows = np.repeat(centre[None], n, axis=0)
    for r in rows:
        for b in rng.choice(256, int(rng.integers(0, 13)), replace=False):
            r[b // 8] ^= 1 << (b % 8)
    return [bytes(r).hex() for r in rows]


def test_import_and_near_search_is_exact_on_a_multi_index_segment(tmp_path):
    rng = np.random.default_rng(7)
    # large enough for a saved multi-index, with a crowd
    hexes = _random_hexes(rng, FLAT_LIMIT + 500) + _crowd_hexes(rng, 600)
    lib = HashLibrary.create(tmp_path / "lib")
    lib.import_result(ImportResult("test", [HashEntry(pdq=h, category="1") for h in hexes]),
                      name="big")
    lib.close()
    lib = HashLibrary(tmp_path / "lib")  # reopened: tables mapped, not rebuilt
    seg = lib.segments[0]
    assert seg.index is not None and seg.n == len(hexes)
    assert len(seg.index.crowd_radii) == 1 and seg.index.n_main < FLAT_LIMIT + 500 + 100
    codes = np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(-1, 32)
    queries = codes[rng.integers(0, len(hexes), 20)].copy()
    for q in queries:  # 10-40 bits away: both sides of the threshold
        for b in rng.choice(256, int(rng.integers(10, 41)), replace=False):
            q[b // 8] ^= 1 << (b % 8)
    queries = np.concatenate([queries, codes[-1:]])  # a member of the crowd
    qhex = [bytes(q).hex() for q in queries]
    ids, dists = lib.search_pdq(qhex, 31)
    _q, rows, d = flat_search(codes.view(np.uint64).reshape(-1, 4), queries, 31)
    want = {}
    for r, dd in zip(rows.tolist(), d.tolist()):
        want[r + 1] = min(dd, want.get(r + 1, 99))  # entry ids start at 1, in file order
    assert dict(zip(ids.tolist(), dists.tolist())) == want
    assert len(want) > 600  # the crowd answers whole
    lab = lib.label(int(ids[0]))
    assert lab.hashset == "big" and lab.category == "1"
    lib.close()
    with HashLibrary(tmp_path / "lib", threads=2) as lib2:  # hashes split over two threads
        assert lib2.segments[0].index.threads == 2
        ids2, dists2 = lib2.search_pdq(qhex, 31)
        assert dict(zip(ids2.tolist(), dists2.tolist())) == want


def _hashset_csv(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["md5", "sha256", "pdq", "category", "series"])
        w.writerows(rows)


def test_scan_with_library_reports_known_near_and_fresh(tmp_path):
    ev = tmp_path / "evidence"
    ev.mkdir()
    exact, near_src, fresh = _image("coffee"), _image("chelsea"), _image("rocket")
    (ev / "a.jpg").write_bytes(exact)
    (ev / "b.jpg").write_bytes(_image("chelsea", quality=40))  # re-encoded copy of a known image
    (ev / "c.jpg").write_bytes(fresh)
    listing = tmp_path / "national.csv"
    _hashset_csv(listing, [
        [hashlib.md5(exact).hexdigest(), "", "", "1", "ROSE"],
        ["", hashlib.sha256(b"something else").hexdigest(), pdq_from_bytes(near_src).hex, "2", ""],
    ])
    lib = tmp_path / "national"
    assert runner.invoke(app, ["library", "create", str(lib)]).exit_code == 0
    r = runner.invoke(app, ["library", "import", str(lib), str(listing), "--name", "national",
                            "--format", "csv"])
    assert r.exit_code == 0, r.output
    case = tmp_path / "case"
    r = runner.invoke(app, ["scan", str(ev), "--case", str(case), "--library", str(lib),
                            "--workers", "1", "--match-threads", "2"])
    assert r.exit_code == 0, r.output
    findings = {json.loads(line)["paths"][0].rsplit("/", 1)[-1]: json.loads(line)
                for line in (case / "findings.jsonl").read_text().splitlines()}
    assert findings["a.jpg"]["finding"] == "known"
    assert findings["b.jpg"]["finding"] == "near-known"
    assert findings["c.jpg"]["finding"] == "fresh"
    m = findings["a.jpg"]["matches"][0]
    assert m["hashset"] == "national" and m["category"] == "1" and m["series"] == "ROSE"
    assert findings["b.jpg"]["matches"][0]["hashset"] == "national"

    # the same scan without the library finds nothing known
    case2 = tmp_path / "case2"
    r = runner.invoke(app, ["scan", str(ev), "--case", str(case2), "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert all(json.loads(line)["finding"] == "fresh"
               for line in (case2 / "findings.jsonl").read_text().splitlines())


def test_reimport_replaces_retract_hides_compact_drops(tmp_path):
    lib = HashLibrary.create(tmp_path / "lib")
    a, b, c = (hashlib.md5(x).hexdigest() for x in (b"a", b"b", b"c"))
    lib.import_result(ImportResult("t", [HashEntry(md5=a), HashEntry(md5=b)]), name="feed")
    assert [e.hashset_version for e in lib.lookup("md5", a)] == [1]
    lib.import_result(ImportResult("t", [HashEntry(md5=b), HashEntry(md5=c)]), name="feed")
    assert lib.lookup("md5", a) == []  # gone with version 1
    assert [e.hashset_version for e in lib.lookup("md5", b)] == [2]
    assert lib.retract(ImportResult("t", [HashEntry(md5=c)]), name="feed") == 1
    assert lib.lookup("md5", c) == []
    assert lib.stats()["entries"] == 1
    lib.compact()
    assert len(lib.digests) == 1 and lib.lookup("md5", b)
    lib.close()


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_pdq_segment_is_refused(tmp_path, damage):
    rng = np.random.default_rng(3)
    lib = HashLibrary.create(tmp_path / "lib")
    lib.import_result(ImportResult("t", [HashEntry(pdq=h) for h in _random_hexes(rng, FLAT_LIMIT)]),
                      name="big")
    lib.close()
    target = next((tmp_path / "lib" / "pdq").glob("seg-*")) / "postings.npy"
    data = bytearray(target.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x40
    target.write_bytes(bytes(data))
    with pytest.raises(LibraryCorruptError, match="postings.npy"):
        HashLibrary(tmp_path / "lib")
    r = runner.invoke(app, ["library", "info", str(tmp_path / "lib")])
    assert r.exit_code == 2 and "postings.npy" in r.output


def test_altered_pdq_manifest_is_refused(tmp_path):
    lib = HashLibrary.create(tmp_path / "lib")
    lib.import_result(ImportResult("t", [HashEntry(pdq="ab" * 32)]), name="small")
    lib.close()
    manifest = tmp_path / "lib" / "pdq" / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["body"]["segments"] = []  # still valid JSON, but no longer what was written
    manifest.write_text(json.dumps(doc))
    with pytest.raises(LibraryCorruptError, match="manifest"):
        HashLibrary(tmp_path / "lib")


def test_case_set_with_the_same_name_is_not_silently_merged(tmp_path):
    from haven.store.case import CaseStore

    lib = HashLibrary.create(tmp_path / "lib")
    lib.import_result(ImportResult("t", [HashEntry(md5=hashlib.md5(b"x").hexdigest())]), name="icse")
    store = CaseStore(tmp_path / "case", create=True)
    store.import_hashset(ImportResult("t", [HashEntry(md5=hashlib.md5(b"y").hexdigest())]),
                         name="icse", source_path=__file__, known_good=False)
    from haven.errors import CaseStoreError

    with pytest.raises(CaseStoreError, match="icse"):
        lib.attach(store)
    lib.close()


def _pdq_rows(rng, n):
    return [HashEntry(pdq=h) for h in _random_hexes(rng, n)]


def test_an_open_library_takes_in_other_processes_changes_without_reloading(tmp_path):
    """A scan or service keeps its library open while a feed is imported, retracted and
    compacted by `haven library` commands: `refresh` takes each change in, keeping the PDQ
    segments it already has."""
    rng = np.random.default_rng(11)
    root = tmp_path / "lib"
    first = _random_hexes(rng, FLAT_LIMIT + 10)  # a multi-index segment, the costly part
    a, b = hashlib.md5(b"a").hexdigest(), hashlib.md5(b"b").hexdigest()
    p_new = _random_hexes(rng, 1)[0]
    with HashLibrary.create(root) as w:
        w.import_result(ImportResult("t", [HashEntry(md5=a), *(HashEntry(pdq=h) for h in first)]),
                        name="base")
    reader = HashLibrary(root, verify=False)
    big = reader.segments[0]
    assert reader.refresh() is False  # nothing changed

    listing = tmp_path / "feed.csv"
    _hashset_csv(listing, [[b, "", p_new, "3", "LAKE"]])
    r = runner.invoke(app, ["library", "import", str(root), str(listing), "--name", "feed",
                            "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert reader.lookup("md5", b) == [] and reader.near([p_new]) == []  # not yet seen
    assert reader.refresh() is True
    assert [e.hashset for e in reader.lookup("md5", b)] == ["feed"]
    assert [(e.hashset, d) for e, d in reader.near([p_new])] == [("feed", 0)]
    assert reader.segments[0] is big and len(reader.segments) == 2  # only the new one read

    tomb = tmp_path / "tomb.csv"
    _hashset_csv(tomb, [[b, "", "", "", ""]])
    r = runner.invoke(app, ["library", "retract", str(root), str(tomb), "--name", "feed",
                            "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert reader.refresh() is True
    assert reader.lookup("md5", b) == []  # retraction counts at once (labels re-read)

    r = runner.invoke(app, ["library", "compact", str(root)])
    assert r.exit_code == 0, r.output
    assert reader.refresh() is True
    assert len(reader.segments) == 1 and reader.segments[0] is not big
    assert [e.hashset for e in reader.lookup("md5", a)] == ["base"]
    assert reader.near([first[5]])[0][1] == 0 and reader.lookup("md5", b) == []
    reader.close()


def test_a_running_scans_library_registers_sets_imported_meanwhile(tmp_path):
    from haven.scan.pipeline import ScanOptions, open_library
    from haven.store.case import CaseStore

    root = tmp_path / "lib"
    a, c = hashlib.md5(b"a").hexdigest(), hashlib.md5(b"c").hexdigest()
    with HashLibrary.create(root) as w:
        w.import_result(ImportResult("t", [HashEntry(md5=a)]), name="base")
    store = CaseStore(tmp_path / "case", create=True)
    library = open_library(store, ScanOptions(libraries=[str(root)]))
    assert library.match({"md5": c}, []) == []
    with HashLibrary(root) as w:  # another process imports a new set
        w.import_result(ImportResult("t", [HashEntry(md5=c, category="2")]), name="late")
    assert library.refresh() is True
    (m,) = library.match({"md5": c}, [])
    assert m.entry.hashset == "late" and m.entry.category == "2"
    names = {hs.id: hs.name for hs in store.hashsets()}
    assert names[m.entry.hashset_id] == "late"  # registered in the case, findings can name it
    assert library.refresh() is False
    store.close()


def test_a_feed_imported_during_a_scan_matches_the_items_after_it(tmp_path, monkeypatch):
    from haven.scan import pipeline
    from haven.store.case import CaseStore
    from haven.store.models import ItemRow

    monkeypatch.setattr(pipeline, "FLUSH_ITEMS", 1)
    monkeypatch.setattr(pipeline, "LIBRARY_REFRESH_SECONDS", 0.0)
    ev = tmp_path / "evidence"
    ev.mkdir()
    (ev / "1-first.txt").write_bytes(b"first benign note")
    (ev / "2-second.txt").write_bytes(b"second benign note")
    root = tmp_path / "lib"
    HashLibrary.create(root).close()
    fed = []

    def feed_arrives(progress):  # after the first item is written, a feed is imported
        if progress.items == 1 and not fed:
            with HashLibrary(root) as w:
                w.import_result(ImportResult("t", [HashEntry(
                    md5=hashlib.md5(b"second benign note").hexdigest())]), name="feed")
            fed.append(True)

    store = CaseStore(tmp_path / "case", create=True)
    pipeline.scan([str(ev)], store, pipeline.ScanOptions(libraries=[str(root)], workers=1),
                  on_progress=feed_arrives)
    with store.session() as s:
        got = {i.path.rsplit("/", 1)[-1]: i.finding for i in s.query(ItemRow)}
    assert fed and got == {"1-first.txt": "other", "2-second.txt": "known"}
    store.close()


def test_a_library_created_with_packed_tables_writes_and_compacts_packed_segments(tmp_path):
    rng = np.random.default_rng(17)
    r = runner.invoke(app, ["library", "create", str(tmp_path / "lib"), "--packed-tables"])
    assert r.exit_code == 0, r.output
    hexes = _random_hexes(rng, FLAT_LIMIT + 200) + _crowd_hexes(rng, 300)
    lib = HashLibrary(tmp_path / "lib")
    assert lib.packed_tables
    lib.import_result(ImportResult("t", [HashEntry(pdq=h) for h in hexes]), name="big")
    codes = np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(-1, 32)
    queries = np.concatenate([codes[rng.integers(0, len(hexes), 10)], codes[-1:]])
    _q, rows, d = flat_search(codes.view(np.uint64).reshape(-1, 4), queries, 31)
    want = {}
    for row, dd in zip(rows.tolist(), d.tolist()):
        want[row + 1] = min(dd, want.get(row + 1, 99))
    for reopened in (False, True):
        if reopened:
            lib.compact()  # rewrites the segment: packed again
            lib.close()
            lib = HashLibrary(tmp_path / "lib")
        seg = lib.segments[0]
        assert seg.index.packed and (seg.path / "packed_high.npy").is_file()
        ids, dists = lib.search_pdq([bytes(q).hex() for q in queries], 31)
        assert dict(zip(ids.tolist(), dists.tolist())) == want
    assert len(want) > 300
    lib.close()
    plain = HashLibrary.create(tmp_path / "plain")
    assert not plain.packed_tables
    plain.close()
