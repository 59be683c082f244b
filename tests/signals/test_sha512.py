"""The proof of issue 20: SHA-512 is one signal-type module plus its schema decision (an entry
column), and every reader and store takes it without further code."""

from __future__ import annotations

import hashlib

import pytest

from haven import signals
from haven.hashsets.formats import read_hashset
from haven.hashsets.model import HashEntry, ImportResult

A = hashlib.sha512(b"benign a").hexdigest()
B = hashlib.sha512(b"benign b").hexdigest()


def test_sha512_is_a_registered_exact_digest_not_computed_by_every_scan():
    st = signals.get("sha512")
    assert st.hex_length == 128 and st.width == 64 and st.store_code == 4
    assert not st.near and st.entry_column and not st.scanned
    assert st.compute(b"benign a") == A
    assert signals.by_hex_length(128) is st
    assert "sha512" not in [t.name for t in signals.item_types()]  # findings.csv unchanged


def test_readers_take_sha512_from_csv_plain_lists_and_signal_files(tmp_path):
    csv = tmp_path / "list.csv"
    csv.write_text(f"sha512,category\n{A.upper()},1\n{'ab' * 10},2\n")
    result = read_hashset(csv, "csv")
    assert [e.sha512 for e in result.entries] == [A]
    assert "sha512" in result.malformed[0].reason and "128 hex" in result.malformed[0].reason
    plain = tmp_path / "list.txt"
    plain.write_text(f"{A}\n{hashlib.md5(b'x').hexdigest()}\n")
    entries = read_hashset(plain).entries
    assert [e.signal_values() for e in entries] == [{"sha512": A},
                                                   {"md5": hashlib.md5(b"x").hexdigest()}]
    hma = tmp_path / "signals.txt"
    hma.write_text(f"sha512 {B}\npdq {'0' * 64}\n")
    assert [e.sha512 for e in read_hashset(hma, "hma").entries] == [B, None]


def _result() -> ImportResult:
    return ImportResult("csv", [HashEntry(sha512=A, category="1"),
                                HashEntry(md5=hashlib.md5(b"m").hexdigest(), sha512=B)])


def test_a_case_matches_a_sha512_it_is_given_and_keeps_the_column(tmp_path):
    from haven.match.library import CaseHashSets
    from haven.store.case import CaseStore

    store = CaseStore(tmp_path / "case", create=True)
    src = tmp_path / "src.csv"
    src.write_text("x\n")
    store.import_hashset(_result(), name="partner", source_path=str(src), known_good=False)
    sets = CaseHashSets(store)
    assert [(m.signal_type, m.entry.category) for m in sets.match({"sha512": A}, [])] == [
        ("sha512", "1")]
    assert sets.match({"sha512": hashlib.sha512(b"other").hexdigest()}, []) == []
    # re-importing keeps the rows of unchanged signals; a changed SHA-512 is a new row
    from sqlalchemy import select

    from haven.store.models import HashEntryRow

    def rows():
        with store.session() as s:
            return dict(s.execute(select(HashEntryRow.sha512, HashEntryRow.id)).all())

    before = rows()
    store.import_hashset(_result(), name="partner", source_path=str(src), known_good=False)
    assert rows() == before
    changed = _result()
    changed.entries[0].sha512 = hashlib.sha512(b"benign c").hexdigest()
    store.import_hashset(changed, name="partner", source_path=str(src), known_good=False)
    after = rows()
    assert after[B] == before[B] and A not in after
    store.close()


def test_the_national_library_stores_sha512_segments_with_their_own_kind(tmp_path):
    from haven.library.national import NationalLibrary

    lib = NationalLibrary.create(tmp_path / "lib")
    lib.import_result(_result(), name="partner")
    lib.close()
    lib = NationalLibrary(tmp_path / "lib")  # reopened: segments verified and mapped
    assert [(lab.hashset, d) for lab, d in lib.matches("sha512", [B])] == [("partner", 0)]
    assert lib.matches("sha512", [hashlib.sha512(b"other").hexdigest()]) == []
    lib.close()


def test_the_matching_api_validates_and_answers_sha512(tmp_path):
    from haven.service.db import make_engine, session_factory, upgrade
    from haven.service.errors import BadInput
    from haven.service.lookup import ServiceHashSets, check_signal, store_hashset

    assert check_signal("SHA512", A.upper()) == A
    with pytest.raises(BadInput, match="sha512 signal must be 128 hex"):
        check_signal("sha512", A[:64])
    engine = make_engine(f"sqlite:///{tmp_path / 'service.db'}")
    upgrade(engine)  # migration 0007 adds the column
    sessions = session_factory(engine)
    with sessions() as s:
        store_hashset(s, _result(), name="partner", source_sha256=None)
        s.commit()
        sets = ServiceHashSets()
        sets.reload(s)
    assert [(m["hashset"], m["algorithm"], m["category"]) for m in sets.match("sha512", A)] == [
        ("partner", "sha512", "1")]
    engine.dispose()


def test_deconfliction_compares_sha512_media_hashes():
    from haven.service.deconflict import normalise, subject_identifiers

    assert normalise("media", A.upper()) == A
    assert normalise("media", A[:100]) is None
    subject = {"source_records": [{"extra": {"sha512": B}}]}
    assert list(subject_identifiers(subject)) == [("media", B)]
