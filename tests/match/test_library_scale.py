"""MatchLibrary gives the same answers when its large-library internals take over."""

from __future__ import annotations

import hashlib

import numpy as np

import haven.match.index as index_mod
import haven.match.near as near_mod
from haven.hashsets.model import HashEntry, ImportResult
from haven.match.library import MatchLibrary
from haven.store.case import CaseStore


def _case(tmp_path) -> CaseStore:
    store = CaseStore(tmp_path / "case", create=True)
    src = tmp_path / "list.txt"
    src.write_text("x\n")
    rng = np.random.default_rng(4)
    entries = [HashEntry(md5=hashlib.md5(str(i).encode()).hexdigest(),
                         sha1=hashlib.sha1(str(i).encode()).hexdigest(),
                         pdq=bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex())
               for i in range(300)]
    entries.append(HashEntry(md5=hashlib.md5(b"7").hexdigest()))  # same digest, second entry
    store.import_hashset(ImportResult("txt", entries), name="known", source_path=str(src),
                         known_good=False)
    return store


def _answers(lib: MatchLibrary, digests, queries):
    out = []
    for d in digests:
        out.append([(m.entry.entry_id, m.signal_type) for m in lib.match(d, [])])
    for q in queries:
        out.append([(m.entry.entry_id, m.distance, m.matched_signal) for m in lib.match({}, q)])
    return out


def test_table_and_multiindex_answer_like_dict_and_flat_scan(tmp_path, monkeypatch):
    store = _case(tmp_path)
    small = MatchLibrary(store)
    digests = [{"md5": hashlib.md5(str(i).encode()).hexdigest()} for i in (0, 7, 299, 999)]
    digests.append({"sha1": hashlib.sha1(b"5").hexdigest(), "md5": "0" * 32})
    pdqs = sorted(small.near.search_rows(["0" * 64], 256))[:5]
    assert pdqs
    queries = []
    codes = small.near._codes.view()
    for row in range(0, 300, 37):
        q = codes[row].copy()
        q[:3] ^= 0xFF  # 24 bits away: still a match
        queries.append([bytes(q).hex(), "f" * 64])
    before = _answers(small, digests, queries)
    assert len(before[1]) == 2 and any(before[len(digests):])

    monkeypatch.setattr(index_mod, "EXACT_TABLE_MIN", 10)
    monkeypatch.setattr(near_mod, "FLAT_LIMIT", 16)
    monkeypatch.setattr(near_mod.NearIndex.__init__, "__kwdefaults__",
                        {"flat_limit": 16, "background": False, "n_chunks": None})
    large = MatchLibrary(store)
    assert large.exact["md5"].frozen and not small.exact["md5"].frozen
    assert large.near.segment_sizes[-1] == 0 and large.near.segment_sizes[0] == len(large.near)
    assert _answers(large, digests, queries) == before
