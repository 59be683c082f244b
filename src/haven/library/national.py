"""A national hash library on disk: exact digests, PDQ hashes and their labels, attachable to
any number of cases without copying it into each case store.

Layout of a library directory:

- `digests/`: a `DigestStore` (memory-mapped sorted segments, delta log, tombstones);
- `pdq/`: PDQ segments, one directory each (`seg-000001/`): `codes.npy` (n × 4 uint64, rows
  sorted by their leading bits, crowds last), `ids.npy` (entry id per row) and, from
  `FLAT_LIMIT` rows on, the multi-index tables `offsets.npy` and `postings.npy` (or, in a
  library created with `packed_tables`, their Elias-Fano form `packed_*.npy`) and the
  crowds (`crowd_centres.npy`, `crowd_starts.npy`, `crowd_radii.npy`), so opening reads them
  instead of rebuilding; `meta.json`
  holds the chunk count and the size and CRC-32 of every file; `pdq/manifest.json` lists the
  live segments (checksummed like the digest store's manifest, switched last, atomically);
- `entries.db`: SQLite, the hash sets (name, version, scheme, known-good, source, state) and one
  row of labels per entry (category, scheme, series, victim-identified, added, retracted).

An import writes its digests and PDQ segment first and marks its set `ready` last, so a crash
mid-import leaves rows whose set is not ready: they are never reported, and the next import of
that name replaces them. Re-importing a set replaces it (version + 1; the old entries stop
matching at once, their rows are dropped by `compact`). A corrupt or truncated file is
refused with `LibraryCorruptError` naming it; nothing is half-loaded.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from haven import signals
from haven.hashsets.model import ImportResult
from haven.library.digests import (
    DIGEST_WIDTHS,
    DigestStore,
    LibraryCorruptError,
    LibraryError,
    digest_array,
    read_manifest,
    write_manifest,
)
from haven.match.segments import FLAT_LIMIT, SEGMENT_FORMAT, PdqSegment  # noqa: F401 (re-exported)

FORMAT = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sets (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL, known_good INTEGER NOT NULL,
  format TEXT, scheme TEXT, source_path TEXT, source_sha256 TEXT, imported_at TEXT NOT NULL,
  entry_count INTEGER NOT NULL DEFAULT 0, malformed_count INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sets_name ON sets(name);
CREATE TABLE IF NOT EXISTS entries (
  id INTEGER PRIMARY KEY, set_id INTEGER NOT NULL, category TEXT, scheme TEXT, series TEXT,
  victim_identified INTEGER, added_at TEXT NOT NULL, retracted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT);
"""


def _now() -> str:
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")


@dataclass(frozen=True)
class LibraryEntry:
    """The labels of one library entry, as a match reports them."""

    entry_id: int
    set_id: int
    hashset: str
    hashset_version: int
    known_good: bool
    category: str | None
    scheme: str | None
    series: str | None
    victim_identified: bool | None


class NationalLibrary:
    """A national hash library directory (see the module docstring)."""

    def __init__(self, root: Path, *, verify: bool = True, in_memory: bool = True,
                 threads: int = 1) -> None:
        self.root = Path(root)
        self.verify_on_open = verify
        self.in_memory = in_memory
        #: threads each PDQ search may use: each takes a share of the probes and crowd rows
        self.threads = max(1, int(threads))
        if not (self.root / "entries.db").is_file():
            raise LibraryError(f"{self.root} is not a hash library (no entries.db); create one "
                               "with `haven library create`")
        self.db = sqlite3.connect(self.root / "entries.db", check_same_thread=False)
        try:
            self.db.execute("PRAGMA quick_check").fetchone()
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise LibraryCorruptError(f"{self.root / 'entries.db'}: {exc}; restore the library "
                                      "from a copy") from None
        row = self.db.execute("SELECT value FROM info WHERE key = 'pdq_tables'").fetchone()
        #: PDQ segments this library writes keep their tables in Elias-Fano form
        #: (`haven.match.packed`): chosen at `create`
        self.packed_tables = bool(row and row[0] == "packed")
        self.digests = DigestStore.open(self.root / "digests", verify=verify)
        self.segments: list[PdqSegment] = []
        self._load_pdq()
        self._labels: dict[int, LibraryEntry | None] = {}
        self._seen = self._versions()

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path, *, packed_tables: bool = False) -> NationalLibrary:
        """An empty library; `packed_tables`: its PDQ segments keep their multi-index
        tables in Elias-Fano form (~b + 2 bits a posting, no offsets: 63.95 against 76.7
        bytes a hash at 100M uniform hashes; searches cost ~2x the CPU, docs/library.md)."""
        root = Path(root)
        if (root / "entries.db").exists():
            raise LibraryError(f"{root} already holds a hash library")
        root.mkdir(parents=True, exist_ok=True)
        DigestStore.create(root / "digests").close()
        (root / "pdq").mkdir(exist_ok=True)
        write_manifest(root / "pdq", {"format": FORMAT, "segments": [], "next": 1})
        db = sqlite3.connect(root / "entries.db")
        db.executescript(_SCHEMA)
        db.execute("INSERT OR REPLACE INTO info VALUES ('format', ?)", (str(FORMAT),))
        db.execute("INSERT OR REPLACE INTO info VALUES ('pdq_tables', ?)",
                   ("packed" if packed_tables else "plain",))
        db.commit()
        db.close()
        return cls(root)

    def _pdq_manifest(self) -> dict:
        return read_manifest(self.root / "pdq")

    def _segment(self, name: str, verify: bool) -> PdqSegment:
        seg = PdqSegment(self.root / "pdq" / name, verify=verify, in_memory=self.in_memory)
        if seg.index is not None:
            seg.index.threads = self.threads
        return seg

    def _load_pdq(self) -> None:
        manifest = self._pdq_manifest()
        self.segments = [self._segment(name, self.verify_on_open)
                         for name in manifest["segments"]]

    def _versions(self) -> tuple:
        """What says whether another process changed the library: the two manifests' segment
        lists and SQLite's data version (bumped by every commit of another connection)."""
        digests = read_manifest(self.root / "digests")
        return (tuple(self._pdq_manifest()["segments"]), digests["seq"],
                tuple(m["file"] for m in digests["segments"]),
                self.db.execute("PRAGMA data_version").fetchone()[0])

    def refresh(self) -> bool:
        """Take in what another process (`haven library import`, `retract`, `compact`) changed
        since this one opened or last refreshed; True if anything did.

        PDQ segments already loaded are kept and only new ones are read (no index rebuild);
        the digest store is re-opened (its segments are memory-mapped: no load); cached labels
        are dropped, so retractions and newly ready sets count at once. A change that lands
        while this runs is picked up by the next call.
        """
        seen = self._versions()
        if seen == self._seen:
            return False
        for attempt in range(3):  # a concurrent compact may remove a segment just listed
            try:
                loaded = {seg.path.name: seg for seg in self.segments}
                names = self._pdq_manifest()["segments"]
                self.segments = [loaded.get(name) or self._segment(name, self.verify_on_open)
                                 for name in names]
                # the digest store only when its manifest moved (a retraction touches labels)
                digests = (DigestStore.open(self.root / "digests", verify=False)
                           if seen[1:3] != self._seen[1:3] else None)
                break
            except LibraryCorruptError:
                if attempt == 2:
                    raise
        if digests is not None:
            old, self.digests = self.digests, digests
            old.close()
        self._labels.clear()
        self._seen = seen
        return True

    def close(self) -> None:
        self.digests.close()
        self.db.close()

    def __enter__(self) -> NationalLibrary:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------
    def import_result(self, result: ImportResult, *, name: str, source_path: str | None = None,
                      source_sha256: str | None = None, known_good: bool = False) -> int:
        """Add a hash set (replacing one of the same name); returns the number of entries."""
        db = self.db
        old = db.execute("SELECT id, version FROM sets WHERE name = ? AND state = 'ready' "
                         "ORDER BY id DESC LIMIT 1", (name,)).fetchone()
        version = (old[1] + 1) if old else 1
        now = _now()
        cur = db.execute(
            "INSERT INTO sets (name, version, known_good, format, scheme, source_path, "
            "source_sha256, imported_at, entry_count, malformed_count, state) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'importing')",
            (name, version, int(known_good), result.format, result.scheme, source_path,
             source_sha256, now, len(result.entries), len(result.malformed)))
        set_id = cur.lastrowid
        first = (db.execute("SELECT COALESCE(MAX(id), 0) FROM entries").fetchone()[0]) + 1
        entries = result.entries
        ids = np.arange(first, first + len(entries), dtype=np.int64)
        db.executemany(
            "INSERT INTO entries (id, set_id, category, scheme, series, victim_identified, "
            "added_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((int(i), set_id, e.category, e.scheme or result.scheme, e.series,
              None if e.victim_identified is None else int(e.victim_identified), now)
             for i, e in zip(ids, entries)))
        db.commit()
        for kind in DIGEST_WIDTHS:
            pick = [k for k, e in enumerate(entries) if getattr(e, kind)]
            if pick:
                raw = digest_array(kind, [getattr(entries[k], kind) for k in pick])
                self.digests.add_segment(kind, raw, ids[pick])
        pdq_rows = [k for k, e in enumerate(entries) if e.pdq]
        if pdq_rows:
            codes = np.frombuffer(bytes.fromhex("".join(entries[k].pdq for k in pdq_rows)),
                                  np.uint8).reshape(-1, 32)
            self._add_pdq_segment(codes, ids[pdq_rows])
        with db:
            if old:
                db.execute("UPDATE sets SET state = 'replaced' WHERE name = ? AND id != ?",
                           (name, set_id))
            db.execute("UPDATE sets SET state = 'ready' WHERE id = ?", (set_id,))
        self._labels.clear()
        return len(entries)

    def _add_pdq_segment(self, codes: np.ndarray, ids: np.ndarray) -> None:
        manifest = self._pdq_manifest()
        name = f"seg-{manifest['next']:06d}"
        PdqSegment.write(self.root / "pdq" / name, codes, ids, packed=self.packed_tables or None)
        manifest["segments"].append(name)
        manifest["next"] += 1
        write_manifest(self.root / "pdq", manifest)
        self.segments.append(self._segment(name, verify=False))

    def retract(self, result: ImportResult, *, name: str) -> int:
        """Retract the entries of set `name` that carry any signal of `result` (a feed's
        tombstones); returns how many entries stop matching."""
        row = self.db.execute("SELECT id FROM sets WHERE name = ? AND state = 'ready'",
                              (name,)).fetchone()
        if row is None:
            raise LibraryError(f"no hash set named {name!r} in {self.root}")
        hit: set[int] = set()
        for e in result.entries:
            for kind in DIGEST_WIDTHS:
                value = getattr(e, kind)
                if value:
                    hit.update(self.digests.lookup(kind, value))
            if e.pdq:
                hit.update(int(i) for i, _d in zip(*self.search_pdq([e.pdq], 0)))
        ids = [i for i in hit if (lab := self.label(i)) and lab.set_id == row[0]]
        with self.db:
            self.db.executemany("UPDATE entries SET retracted = 1 WHERE id = ?",
                                ((i,) for i in ids))
        self._labels.clear()
        return len(ids)

    def compact(self) -> None:
        """Merge the PDQ segments into one (dropping rows of replaced sets and retracted
        entries) and compact every digest kind."""
        live = self._live_ids()
        codes, ids = [], []
        for seg in self.segments:
            keep = np.isin(np.asarray(seg.ids), live)
            codes.append(np.asarray(seg.codes)[keep].view(np.uint8).reshape(-1, 32))
            ids.append(np.asarray(seg.ids)[keep])
        old = self._pdq_manifest()
        if codes and sum(len(c) for c in codes):
            name = f"seg-{old['next']:06d}"
            PdqSegment.write(self.root / "pdq" / name, np.concatenate(codes), np.concatenate(ids),
                             packed=self.packed_tables or None)
            segments = [name]
        else:
            segments = []
        write_manifest(self.root / "pdq",
                    {"format": FORMAT, "segments": segments, "next": old["next"] + 1})
        for gone in old["segments"]:
            shutil.rmtree(self.root / "pdq" / gone, ignore_errors=True)
        self._load_pdq()
        dead = self.db.execute(
            "SELECT e.id FROM entries e JOIN sets s ON s.id = e.set_id "
            "WHERE s.state != 'ready' OR e.retracted = 1").fetchall()
        self.digests.compact(drop_ids=np.asarray([r[0] for r in dead], dtype=np.uint64))

    def _live_ids(self) -> np.ndarray:
        rows = self.db.execute(
            "SELECT e.id FROM entries e JOIN sets s ON s.id = e.set_id "
            "WHERE s.state = 'ready' AND e.retracted = 0 ORDER BY e.id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def attach(self, store) -> dict[int, int]:
        """Register this library's sets in a case store (so findings can name them) and return
        {library set id: case hash set id}. A case set of the same name that does not come
        from this library is refused."""
        from sqlalchemy import select

        from haven.errors import CaseStoreError
        from haven.store.models import HashSet

        root = str(self.root.resolve())
        out: dict[int, int] = {}
        with store.session() as s, s.begin():
            for meta in self.sets():
                hs = s.scalar(select(HashSet).where(HashSet.name == meta["name"]))
                if hs is not None and (hs.format != "library" or hs.source_path != root):
                    raise CaseStoreError(
                        f"the case already has a hash set named {meta['name']!r} that is not "
                        f"from the library {root}; rename one of them")
                if hs is None:
                    hs = HashSet(name=meta["name"])
                    s.add(hs)
                hs.known_good = bool(meta["known_good"])
                hs.format = "library"
                hs.scheme = meta["scheme"]
                hs.source_path = root
                hs.source_sha256 = meta["source_sha256"] or ""
                hs.version = meta["version"]
                hs.imported_at = datetime.fromisoformat(meta["imported_at"])
                hs.entry_count = meta["entry_count"]
                hs.malformed_count = meta["malformed_count"]
                s.flush()
                out[meta["id"]] = hs.id
        return out

    # -- reading ---------------------------------------------------------------------------
    def sets(self) -> list[dict]:
        cols = ("id", "name", "version", "known_good", "format", "scheme", "source_path",
                "source_sha256", "imported_at", "entry_count", "malformed_count")
        rows = self.db.execute(f"SELECT {', '.join(cols)} FROM sets WHERE state = 'ready' "
                               "ORDER BY name").fetchall()
        return [dict(zip(cols, r)) for r in rows]

    def label(self, entry_id: int) -> LibraryEntry | None:
        """The labels of a live entry (None: unknown, retracted, or its set is not ready)."""
        if entry_id in self._labels:
            return self._labels[entry_id]
        row = self.db.execute(
            "SELECT e.set_id, s.name, s.version, s.known_good, e.category, e.scheme, e.series, "
            "e.victim_identified FROM entries e JOIN sets s ON s.id = e.set_id "
            "WHERE e.id = ? AND s.state = 'ready' AND e.retracted = 0", (int(entry_id),)).fetchone()
        lab = None
        if row:
            set_id, name, version, kg, cat, scheme, series, vi = row
            lab = LibraryEntry(int(entry_id), set_id, name, version, bool(kg), cat, scheme, series,
                               None if vi is None else bool(vi))
        if len(self._labels) > 100_000:
            self._labels.clear()
        self._labels[entry_id] = lab
        return lab

    def lookup(self, kind: str, digest: str) -> list[LibraryEntry]:
        """Live entries whose `kind` digest is `digest` (lower-case hex)."""
        out = []
        for i in self.digests.lookup(kind, digest.lower()):
            lab = self.label(int(i))
            if lab is not None:
                out.append(lab)
        return out

    def search_pdq(self, query_hexes: list[str], threshold: int = 31
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(entry id, best distance) of rows within `threshold` of any query hash; may include
        entries that are not live (use `near` for labelled answers)."""
        qcodes = np.frombuffer(bytes.fromhex("".join(query_hexes)), np.uint8).reshape(-1, 32)
        ids, dists = [], []
        for seg in self.segments:
            i, d = seg.search(qcodes, threshold)
            ids.append(i)
            dists.append(d)
        if not ids:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        ids_a, d_a = np.concatenate(ids), np.concatenate(dists)
        order = np.lexsort((d_a, ids_a))
        ids_a, d_a = ids_a[order], d_a[order]
        first = np.ones(ids_a.size, dtype=bool)
        first[1:] = ids_a[1:] != ids_a[:-1]
        return ids_a[first], d_a[first]

    def near(self, query_hexes: list[str], threshold: int = 31) -> list[tuple[LibraryEntry, int]]:
        """Live entries with a PDQ hash within `threshold` of any query hash, best first."""
        if not query_hexes or not self.segments:
            return []
        ids, dists = self.search_pdq(query_hexes, threshold)
        out = [(lab, int(d)) for i, d in zip(ids, dists) if (lab := self.label(int(i)))]
        out.sort(key=lambda t: (t[1], t[0].entry_id))
        return out

    def matches(self, signal_type: str, values: list[str], threshold: int = 0
                ) -> list[tuple[LibraryEntry, int]]:
        """Live entries matching any of `values` of one signal type, with their distance,
        best first: the per-type index call every store answers (`haven.match.index`)."""
        st = signals.get(signal_type)
        if st.near:
            if st.name != "pdq":
                return []  # the library holds no other perceptual hashes
            return self.near(values, threshold)
        if st.name not in DIGEST_WIDTHS:
            return []
        return [(lab, 0) for v in values for lab in self.lookup(st.name, v)]

    def stats(self) -> dict:
        return {"sets": len(self.sets()),
                "entries": self.db.execute("SELECT COUNT(*) FROM entries e JOIN sets s ON "
                                           "s.id = e.set_id WHERE s.state = 'ready' AND "
                                           "e.retracted = 0").fetchone()[0],
                "digest_rows": len(self.digests),
                "pdq_rows": sum(s.n for s in self.segments),
                "pdq_segments": len(self.segments)}


#: The name this class had before issue 20 (kept while other branches move over).
HashLibrary = NationalLibrary
