"""`CaseHashSets.extra_digests`: the digests a scan computes beyond the scanned ones are those
the case's sets or an attached national library hold a value of (SHA-512), and no others."""

from __future__ import annotations

import hashlib

from haven.hashsets.model import HashEntry, ImportResult
from haven.library.national import NationalLibrary
from haven.match.library import CaseHashSets
from haven.store.case import CaseStore


def _import(store: CaseStore, tmp_path, name: str, entries: list[HashEntry]) -> None:
    src = tmp_path / f"{name}.csv"
    src.write_text("x\n")
    store.import_hashset(ImportResult("csv", entries), name=name, source_path=str(src),
                         known_good=False)


def test_only_sets_holding_sha512_ask_for_it(tmp_path):
    store = CaseStore(tmp_path / "case", create=True)
    assert CaseHashSets(store).extra_digests == ()  # no sets at all
    _import(store, tmp_path, "md5s", [HashEntry(md5=hashlib.md5(b"a").hexdigest())])
    assert CaseHashSets(store).extra_digests == ()
    _import(store, tmp_path, "wide", [HashEntry(sha512=hashlib.sha512(b"b").hexdigest())])
    assert CaseHashSets(store).extra_digests == ("sha512",)
    assert CaseHashSets(store, ["md5s"]).extra_digests == ()  # a scan limited to one set


def test_an_attached_library_holding_sha512_asks_for_it(tmp_path):
    store = CaseStore(tmp_path / "case", create=True)
    plain = NationalLibrary.create(tmp_path / "plain")
    plain.import_result(ImportResult("csv", [HashEntry(sha256=hashlib.sha256(b"a").hexdigest())]),
                        name="sha256s")
    assert plain.digests.holds("sha256") and not plain.digests.holds("sha512")
    assert CaseHashSets(store, libraries=[plain]).extra_digests == ()
    wide = NationalLibrary.create(tmp_path / "wide")
    wide.import_result(ImportResult("csv", [HashEntry(sha512=hashlib.sha512(b"b").hexdigest())]),
                       name="sha512s")
    assert wide.digests.holds("sha512")
    assert CaseHashSets(store, libraries=[plain, wide]).extra_digests == ("sha512",)
    plain.close()
    wide.close()
