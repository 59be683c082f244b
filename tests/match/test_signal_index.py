"""One index API per signal type, under the three stores: a case's hash sets, a national
library and the service's matching API answer the same signals alike."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import haven.match.index as index_mod
from haven import signals
from haven.hashsets.model import HashEntry, ImportResult
from haven.match.index import ExactIndex, SignalIndex, index_for


def _flip(hex_hash: str, bits: int) -> str:
    value = int(hex_hash, 16)
    for k in range(bits):
        value ^= 1 << (k * 5)
    return format(value, "064x")


def test_exact_index_answers_alike_as_a_dict_and_as_a_sorted_table(monkeypatch):
    monkeypatch.setattr(index_mod, "EXACT_TABLE_MIN", 8)
    digests = [hashlib.md5(str(i).encode()).hexdigest() for i in range(50)]
    small, large = ExactIndex("md5"), ExactIndex("md5")
    for idx in (small, large):
        idx.add(digests, list(range(50)))
        idx.add_one(digests[3], 99)  # a second entry with the same digest
    large.freeze()
    assert large.frozen and not small.frozen
    for idx in (small, large):
        assert sorted(idx.get(digests[3])) == [3, 99]
        assert idx.get(digests[3].upper()) == [] or idx.frozen  # the dict is case-sensitive
        assert idx.search([digests[7], "0" * 32], 0) == [(7, 0)]
        assert idx.search_rows([digests[7]], 0) == [(7, 0, None)]
        assert len(idx) == 51
    large.add_one("f" * 32, 123)  # added after freezing: still found
    assert large.get("f" * 32) == [123] and len(large) == 52


def test_every_single_value_signal_type_has_an_index_of_the_shared_shape():
    for st in signals.signal_types():
        if not st.single:
            with pytest.raises(ValueError, match="vPDQ"):
                index_for(st)
            continue
        idx = index_for(st)
        assert isinstance(idx, SignalIndex), st.name
        a, *_ = st.examples
        idx.add([a], [1])
        assert idx.search([a], st.default_threshold) == [(1, 0)]
        if st.near:
            near = _flip(a, st.default_threshold)
            assert idx.search([near], st.default_threshold) == [(1, st.default_threshold)]
            assert idx.search([_flip(a, st.default_threshold + 1)], st.default_threshold) == []


@pytest.fixture
def known():
    rng = np.random.default_rng(20)
    pdqs = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(3)]
    entries = [
        HashEntry(md5=hashlib.md5(b"a").hexdigest(), sha1=hashlib.sha1(b"a").hexdigest(),
                  sha256=hashlib.sha256(b"a").hexdigest(), extra={"id": "1"}),
        HashEntry(sha1=hashlib.sha1(b"b").hexdigest(), extra={"id": "2"}),
        *(HashEntry(pdq=p, extra={"id": f"p{k}"}) for k, p in enumerate(pdqs)),
    ]
    # (signal type, value, expected distance or None for no match)
    queries = [
        ("md5", hashlib.md5(b"a").hexdigest(), 0),
        ("sha1", hashlib.sha1(b"b").hexdigest(), 0),
        ("sha256", hashlib.sha256(b"a").hexdigest(), 0),
        ("sha256", hashlib.sha256(b"zz").hexdigest(), None),
        ("pdq", _flip(pdqs[1], 12), 12),
        ("pdq", _flip(pdqs[2], 31), 31),
        ("pdq", _flip(pdqs[0], 40), None),
    ]
    return ImportResult("csv", entries), queries


def _case_answers(tmp_path, result, queries):
    from haven.match.library import CaseHashSets
    from haven.store.case import CaseStore

    store = CaseStore(tmp_path / "case", create=True)
    src = tmp_path / "list.csv"
    src.write_text("x\n")
    store.import_hashset(result, name="known", source_path=str(src), known_good=False)
    sets = CaseHashSets(store)
    out = []
    for kind, value, _ in queries:
        near = kind in signals.near_names()
        ms = sets.match({} if near else {kind: value}, [value] if near else [])
        out.append(sorted((m.signal_type, m.distance) for m in ms))
    store.close()
    return out


def _library_answers(tmp_path, result, queries):
    from haven.library.national import NationalLibrary

    lib = NationalLibrary.create(tmp_path / "lib")
    lib.import_result(result, name="known")
    out = [sorted((kind, d) for _, d in lib.matches(kind, [value], 31))
           for kind, value, _ in queries]
    lib.close()
    return out


def _service_answers(tmp_path, result, queries):
    from haven.service.db import make_engine, session_factory, upgrade
    from haven.service.lookup import ServiceHashSets, store_hashset

    engine = make_engine(f"sqlite:///{tmp_path / 'service.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions() as s:
        store_hashset(s, result, name="known", source_sha256=None)
        s.commit()
        sets = ServiceHashSets(threshold=31)
        sets.reload(s)
    out = [sorted((m["algorithm"], m["distance"]) for m in sets.match(kind, value))
           for kind, value, _ in queries]
    engine.dispose()
    return out


def test_the_three_stores_answer_the_same_signals_alike(tmp_path, known):
    result, queries = known
    expected = [[] if d is None else [(kind, d)] for kind, _, d in queries]
    assert _case_answers(tmp_path, result, queries) == expected
    assert _library_answers(tmp_path, result, queries) == expected
    assert _service_answers(tmp_path, result, queries) == expected
