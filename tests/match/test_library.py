"""Which finding an item gets, and which hash sets a scan matches against."""

import pytest

from haven.errors import CaseStoreError
from haven.hashsets.model import HashEntry, ImportResult
from haven.match.library import EntryRef, Match, MatchLibrary, decide
from haven.store.case import CaseStore


def _m(known_good=False, signal="md5", dist=0):
    ref = EntryRef(1, 1, "set", known_good, None, None, None)
    return Match(ref, signal, dist)


@pytest.mark.parametrize(
    "media,error,decodable,matches,expected",
    [
        ("image", None, True, [_m()], "known"),
        ("image", None, True, [_m(signal="pdq", dist=12)], "near-known"),
        ("image", None, True, [_m(known_good=True), _m(signal="pdq", dist=3)], "near-known"),
        ("image", None, True, [_m(known_good=True), _m()], "known"),
        (None, None, False, [_m(known_good=True)], "known-good"),
        ("image", "image not decodable: truncated", False, [_m()], "known"),
        ("image", "image not decodable: truncated", False, [], "error"),
        ("image", None, True, [], "fresh"),
        ("video", None, True, [], "fresh"),
        (None, None, False, [], "other"),
    ],
)
def test_decide_orders_findings(media, error, decodable, matches, expected):
    assert decide(media, error, decodable, matches) == expected


def _store(tmp_path):
    store = CaseStore(tmp_path / "case", create=True)
    src = tmp_path / "list.txt"
    src.write_text("x\n")
    a = ImportResult("txt", [HashEntry(md5="a" * 32)])
    b = ImportResult("txt", [HashEntry(md5="b" * 32, category="1", scheme="s")])
    store.import_hashset(a, name="alpha", source_path=str(src), known_good=False)
    store.import_hashset(b, name="beta", source_path=str(src), known_good=True)
    return store


def test_library_matches_only_the_sets_asked_for(tmp_path):
    store = _store(tmp_path)
    both = MatchLibrary(store)
    assert [m.entry.hashset for m in both.match({"md5": "a" * 32}, [])] == ["alpha"]
    assert [m.entry.hashset for m in both.match({"md5": "b" * 32}, [])] == ["beta"]
    only_beta = MatchLibrary(store, ["beta"])
    assert only_beta.match({"md5": "a" * 32}, []) == []
    assert only_beta.hashset_names == ["beta"]


def test_unknown_hash_set_name_is_a_clear_error(tmp_path):
    store = _store(tmp_path)
    with pytest.raises(CaseStoreError, match="no hash set named gamma.*alpha, beta"):
        MatchLibrary(store, ["gamma"])


def test_reimport_replaces_entries_and_bumps_version(tmp_path):
    store = _store(tmp_path)
    src = tmp_path / "list.txt"
    store.import_hashset(ImportResult("txt", [HashEntry(md5="c" * 32)]), name="alpha",
                         source_path=str(src), known_good=False)
    [alpha] = [h for h in store.hashsets() if h.name == "alpha"]
    assert alpha.version == 2 and alpha.entry_count == 1
    lib = MatchLibrary(store, ["alpha"])
    assert lib.match({"md5": "a" * 32}, []) == []
    assert len(lib.match({"md5": "c" * 32}, [])) == 1
