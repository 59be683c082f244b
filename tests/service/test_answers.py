"""The matching API's answers built on arrays and pre-encoded JSON pieces (issue 18) are the
answers of the straightforward per-entry code: same entries, same order, same bytes, with
every control applied (own thresholds, negative sets, quarantine, retired entries)."""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import select

from haven.hashsets.model import HashEntry, ImportResult
from haven.match.near import NearIndex
from haven.service.answers import AnswerText, match_dict
from haven.service.db import make_engine, session_factory, upgrade
from haven.service.lookup import ServiceHashSets, _Entries, apply_controls, store_hashset
from haven.service.models import LookupEntry, LookupHashSet
from haven.service.settings import Settings


def flip(value: int, rng: random.Random, bits: int) -> str:
    for b in rng.sample(range(256), bits):
        value ^= 1 << b
    return f"{value:064x}"


def reference(lib: ServiceHashSets, signal_type: str, value: str
              ) -> tuple[tuple[list[dict], bool, int], dict]:
    """The answer as per-entry code computes it (one step per hit, over every entry within
    reach: the controls first, then the best `max_matches` listed), and whether a negative
    set's entry was among the hits, one past the index's first `max_matches`, and whether an
    entry listed lies past them (the controls took places there)."""
    index, held = lib._index, lib._held
    hits = []
    reach = 0
    if signal_type == "pdq":
        found = index.near.search_bounded([value], lib._radius, limit=10**9)
        reach = found.total
        for place, m in enumerate(found.matches):
            info = index.info(m.entry_id)
            if info is None or m.entry_id in held:
                continue
            own = info.hashset.threshold
            if m.distance <= (lib.threshold if own is None else own):
                hits.append((info, m.distance, m.crowded, place))
    else:
        for eid in index.exact[signal_type].get(value):
            reach += 1
            if eid not in held and (info := index.info(eid)) is not None:
                hits.append((info, 0, False, 0))
    negatives = [h[0].hashset for h in hits if h[0].hashset.negative]
    cases = {"negative": bool(negatives),
             "negative past the first": any(h[0].hashset.negative and h[3] >= lib.max_matches
                                            for h in hits)}
    if negatives:
        every = any(not h.suppresses for h in negatives)
        names = {n for h in negatives for n in h.suppresses}
        hits = [h for h in hits if not h[0].hashset.negative and not every
                and h[0].hashset.name not in names]
    truncated = False
    if signal_type == "pdq" and len(hits) >= lib.max_matches:
        hits = hits[:lib.max_matches]  # the best that pass; more behind the last listed?
        truncated = reach > hits[-1][3] + 1
    cases["listed past the first"] = any(h[3] >= lib.max_matches for h in hits)
    out = []
    for info, d, crowded, _ in hits:
        own = info.hashset.threshold
        threshold = (lib.threshold if own is None else own) if signal_type == "pdq" else 0
        m = match_dict(info, signal_type, d, threshold)
        if signal_type == "pdq":
            m["crowded"] = crowded
        out.append(m)
    return (out, truncated, reach), cases


@pytest.fixture(params=["ids-mapped", "ids-searched"])
def library(tmp_path, monkeypatch, request):
    """Sets with every control and awkward provenance; (library, sessions, queries, md5s).
    Entries found through the direct id map and, as when ids are sparse, by binary search."""
    # sealed segments from 1,024 rows (not 32,768): crowds are found and flagged
    monkeypatch.setattr("haven.service.lookup.NearIndex", lambda: NearIndex(flat_limit=1024))
    if request.param == "ids-searched":
        monkeypatch.setattr(_Entries, "DENSE_FACTOR", -10**9)
    rng = random.Random(5)
    engine = make_engine(Settings(data_dir=tmp_path).url)
    upgrade(engine)
    sessions = session_factory(engine)
    centres = [rng.getrandbits(256) for _ in range(6)]
    crowd = centres[0]  # 1,500 rows near one hash: a crowded spot, answers truncated
    md5s = [f"{rng.getrandbits(128):032x}" for _ in range(20)]

    def entries(n: int, **labels) -> list[HashEntry]:
        out = []
        for k in range(n):
            centre = crowd if k % 3 == 0 else rng.choice(centres)
            out.append(HashEntry(pdq=flip(centre, rng, rng.randint(0, 14)),
                                 md5=rng.choice(md5s) if k % 4 == 0 else None, **labels))
        return out

    with sessions() as s:
        store_hashset(s, ImportResult(format="csv", scheme="vics-uk", entries=[
            HashEntry(pdq=e.pdq, md5=e.md5, category=rng.choice(["1", "2, 3", " ,4", None]),
                      series=rng.choice([None, 'Série "A"', "b\\c\u2028"]))
            for e in entries(4_000)]), name="alpha", source_sha256=None)
        store_hashset(s, ImportResult(format="hma", scheme=None, entries=entries(600)),
                      name="strict", source_sha256=None, controls={"pdq_threshold": 12,
                                                                    "feed": "ncmec"})
        store_hashset(s, ImportResult(format="hma", scheme="baseline", entries=entries(300)),
                      name="good ünï", source_sha256=None, known_good=True)
        store_hashset(s, ImportResult(format="hma", scheme=None, entries=entries(40)),
                      name="negatives", source_sha256=None,
                      controls={"negative": True, "suppresses": ["strict"]})
        s.commit()
    lib = ServiceHashSets(31, max_matches=60)
    with sessions() as s:
        lib.reload(s)
        # change a set after the build: its entries answer with the new version; some of
        # alpha's entries are deleted (retired in place, not rebuilt)
        strict = s.scalar(select(LookupHashSet).where(LookupHashSet.name == "strict"))
        apply_controls(strict, {"pdq_threshold": 14})
        alpha = s.scalar(select(LookupHashSet).where(LookupHashSet.name == "alpha"))
        gone = s.scalars(select(LookupEntry.id).where(LookupEntry.hashset_id == alpha.id)
                         .order_by(LookupEntry.id).limit(200)).all()
        s.query(LookupEntry).filter(LookupEntry.id.in_(gone)).delete()
        alpha.version += 1
        s.commit()
        assert lib.sync(s)
    assert lib._index.dead, "some entries are retired in place"
    assert (lib._index.entries._slot_of is None) == (request.param == "ids-searched")
    lib.hold(range(300, 420))  # quarantined
    queries = [flip(c, rng, rng.randint(0, 20)) for c in centres for _ in range(15)]
    queries += [f"{rng.getrandbits(256):064x}" for _ in range(5)]
    yield lib, sessions, queries, md5s
    engine.dispose()


def test_answers_equal_the_per_entry_code_with_every_control(library):
    lib, _, queries, md5s = library
    seen = {"truncated": 0, "negative": 0, "crowded": 0, "empty": 0,
            "negative past the first": 0, "listed past the first": 0}
    for signal_type, values in (("pdq", queries), ("md5", md5s + ["0" * 32])):
        for value in values:
            expected, cases = reference(lib, signal_type, value)
            assert lib.answer(signal_type, value) == expected
            hits = lib.hits(signal_type, value)
            # the JSON text is byte for byte the dicts' compact encoding
            assert lib.text.listed(hits) == json.dumps(expected[0], separators=(",", ":"))
            banks = lib.hma_banks(expected[0])
            body, n_banks, n = lib.text.banks(hits)
            assert body == json.dumps(banks, separators=(",", ":"))
            assert (n_banks, n) == (len(banks), len(expected[0]))
            wanted = {"strict", "good ünï"}
            only = {k: v for k, v in banks.items() if k in wanted}
            assert lib.text.banks(hits, wanted)[0] == json.dumps(only, separators=(",", ":"))
            seen["truncated"] += expected[1]
            seen["empty"] += not expected[0]
            seen["crowded"] += any(m.get("crowded") for m in expected[0])
            for case, reached in cases.items():
                seen[case] += reached
    # the queries reach every case the controls have
    assert all(seen.values()), seen


def test_hma_text_is_hma_encoded(library):
    lib, _, queries, _ = library
    for value in queries[:20]:
        hma_type, signal, banks, n = lib.hma("PDQ", value.upper())
        text = lib.hma_text("PDQ", value.upper())
        assert text == (hma_type, signal, json.dumps(banks, separators=(",", ":")), len(banks), n)


def test_pieces_cache_stays_bounded_and_right_after_clearing(library):
    lib, _, queries, _ = library
    lib.text = AnswerText(max_pieces=2)
    for value in queries:
        assert lib.text.listed(lib.hits("pdq", value)) == json.dumps(
            lib.answer("pdq", value)[0], separators=(",", ":"))
    assert all(len(c) <= 2 for c in (lib.text._sets, lib.text._categories, lib.text._times))
