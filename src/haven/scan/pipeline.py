"""The triage scan: walk evidence, analyse items in worker processes, match, store findings.

Resumable: every finding is committed in small batches, and a scan run again over the same
evidence skips the items already in the store *unchanged*: each item carries a stamp (size,
mtime, ctime and inode of a file; CRC, size and time of an archive member; metadata address,
size and times of a file in a disk image; see `Item.stamp`), compared with the stamp stored
with its finding, so a resume reads no content it has already analysed. An item whose stamp
changed (or `ScanOptions.rehash`) is analysed again; when its content changed, its earlier
finding is kept in the row's `history` and the new finding says it supersedes it. Walker
problems (corrupt or encrypted archives, bombs, traversal names) are applied once the items
of a seizure are stored, and are re-applied idempotently on a re-run, so a kill at any point
loses nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Protocol

from haven import signals
from haven.evidence.base import Extraction, Item, Limits, Problem, stamp_text
from haven.evidence.walk import file_stamp, top_level_sha256, walk
from haven.match.library import MatchLibrary, decide
from haven.scan.analyse import Analysis, analyse
from haven.scan.census import start_census
from haven.scan.headstart import HeadStart
from haven.scan.workers import start_workers
from haven.match.queries import item_query_codes
from haven.store.case import CaseStore, keep_apart, utcnow
from haven.store.direct import from_json

if TYPE_CHECKING:
    from haven.store.models import ItemRow

IN_MEMORY_MEMBER = 64 * 1024 * 1024  # archive members up to this are handed over as bytes
# HAVEN_FLUSH_ITEMS lets tests make batches small enough to kill a scan between them.
FLUSH_ITEMS = int(os.environ.get("HAVEN_FLUSH_ITEMS", "256"))
FLUSH_SECONDS = 2.0
# national libraries are checked this often for imports/retractions by other processes
LIBRARY_REFRESH_SECONDS = 10.0
# Problems that describe the evidence rather than damage it: noted, not an error finding.
# Reported as an `other` item with a note, not an error: a link is not followed by design, and
# a deleted file whose blocks or metadata entry a live file took has no content left to read.
INFORMATIONAL_PROBLEMS = frozenset({"symlink", "overwritten"})


@dataclass
class ScanOptions:
    hashsets: list[str] | None = None  # None: every hash set in the case
    threshold: int = 31
    limits: Limits = field(default_factory=Limits)
    workers: int = 0  # 0: one per CPU; 1: analyse in this process
    fast: bool = True
    video_fps: float = 1.0  # frames per second hashed in videos
    libraries: list[str] = field(default_factory=list)  # national hash library directories
    match_threads: int = 1  # threads per PDQ search in those libraries
    rehash: bool = False  # analyse every item again, changed or not
    #: keep what each image's framing hypotheses need in CASE/hypotheses.db (~15-41 KB per
    #: image), so hash-only lists imported later are searched with them by re-matching
    keep_hypotheses: bool = True


@dataclass
class ScanProgress:
    seizure: str = ""
    items: int = 0
    bytes: int = 0
    skipped: int = 0  # stored items found unchanged
    changed: int = 0  # stored items analysed again: changed, or every one with rehash
    missing: int = 0  # stored items the walk no longer found (flagged `missing`)
    problems: int = 0
    current: str = ""
    counts: dict = field(default_factory=dict)
    #: re-matching of items already in the case (known material changed since): a
    #: `haven.match.rematch.RematchResult` per run that changed anything
    rematched: list = field(default_factory=list)
    #: items stored in the case so far (what an interrupted scan keeps)
    saved: int = 0
    skipped_bytes: int = 0
    #: how much there is: files and bytes on disk (counted by `haven.scan.census` while the
    #: scan runs), plus container members and their sizes as the walk opens containers
    disk_files: int = 0
    disk_bytes: int = 0
    member_files: int = 0
    member_bytes: int = 0
    counting: bool = False
    #: whether the engine computed what images' framing hypotheses need (`ScanEngine.framing`;
    #: always, since it is kept for re-matching: `haven.store.hypotheses`)
    framing: bool = False
    #: digest types computed beyond the scanned ones (`ScanEngine.extra_digests`): ("sha512",)
    #: when the hash sets matched against list SHA-512, else ()
    extra_digests: tuple[str, ...] = ()
    #: the known PDQ hashes when more than `framing.MAX_ROWS` kept the hash-only hypotheses
    #: out of this scan (`MatchLibrary.framing_capped`); 0 otherwise
    framing_capped: int = 0
    #: PDQ rows of the attached national libraries (`MatchLibrary.library_pdqs`): no hash-only
    #: hypotheses are searched against them
    library_pdqs: int = 0

    @property
    def expected_items(self) -> int:
        return self.disk_files + self.member_files

    @property
    def expected_bytes(self) -> int:
        return self.disk_bytes + self.member_bytes

    @property
    def done_bytes(self) -> int:
        return self.bytes + self.skipped_bytes


ProgressFn = Callable[[ScanProgress], None]


def read_member(item: Item, tmpdir: str, in_memory: int = IN_MEMORY_MEMBER
                 ) -> tuple[bytes | None, str | None, str | None]:
    """(data, temp_path, error) for an item that has no file of its own on disk.

    Members up to `in_memory` bytes come back as bytes, larger ones as a copy in `tmpdir`;
    read now, while the member's container is open.
    """
    try:
        if item.size is not None and item.size > in_memory:
            fd, tmp = tempfile.mkstemp(dir=tmpdir, prefix="member-")
            with os.fdopen(fd, "wb") as out, item.open() as src:
                while chunk := src.read(1024 * 1024):
                    out.write(chunk)
            return None, tmp, None
        return item.read_all(), None, None
    except Exception as exc:  # untrusted archive data: any decoder error is a finding
        return None, None, f"corrupt: cannot read member ({type(exc).__name__}: {exc})"


def _seizure_name(store: CaseStore, source: Path) -> str:
    """Root of item paths: the evidence's base name, made unique within the case."""
    base = source.name or str(source)
    taken = dict(store.db.execute("SELECT name, source_path FROM seizures"))
    name, n = base, 1
    while name in taken and taken[name] != str(source):
        n += 1
        name = f"{base}~{n}"
    return name


class _Writer:
    """Buffers analysed items and writes them with their matches in batches."""

    def __init__(self, store: CaseStore, library: MatchLibrary, progress: ScanProgress,
                 on_progress: ProgressFn | None, keep: bool = True):
        self.store, self.library = store, library
        self.keep = keep  # `ScanOptions.keep_hypotheses`
        self.progress, self.on_progress = progress, on_progress
        self.buffer: list[Analysis] = []
        self.last_flush = time.monotonic()
        self.last_refresh = time.monotonic()
        self.seizure_id = 0
        self.stamps: dict[str, str | None] = {}  # stamp of each item handed out, by path
        self.replacing: dict[str, str] = {}  # paths stored before -> why analysed again
        self.extractions: list[Extraction] = []  # phone extractions met by this seizure's walk
        self.flushing = False
        #: hypothesis data of stored items not yet written (`keep_hypotheses`)
        self.pending_hypotheses: list[tuple[int, bytes | None]] = []

    def add(self, a: Analysis) -> None:
        self.buffer.append(a)
        p = self.progress
        p.items += 1
        p.bytes += a.size or 0
        p.current = a.path
        if len(self.buffer) >= FLUSH_ITEMS or time.monotonic() - self.last_flush > FLUSH_SECONDS:
            self.flush()
        elif self.on_progress:
            self.on_progress(p)

    def flush(self) -> None:
        if not self.buffer:
            return
        # set while a batch is being written: a Ctrl-C that lands here leaves that batch
        # rolled back (analysed again next run), and no second write is tried
        self.flushing = True
        if (self.library.libraries
                and time.monotonic() - self.last_refresh > LIBRARY_REFRESH_SECONDS):
            self.library.refresh()  # a feed imported meanwhile matches from this batch on
            self.last_refresh = time.monotonic()
        now = utcnow()
        again = any(a.path in self.replacing for a in self.buffer)
        kept = self._write_again(now) if again else self._write_new(now)
        if not self.keep:  # nothing kept; items analysed again drop what was kept before
            kept = [(item_id, None) for item_id, _ in kept] if again else []
        self.progress.saved += len(self.buffer)
        self.pending_hypotheses += kept
        self.flushing = False
        self.buffer.clear()
        self.keep_hypotheses()
        self.last_flush = time.monotonic()
        if self.on_progress:
            self.on_progress(self.progress)

    def _decide(self, a: Analysis) -> tuple[list, str]:
        """(matches, finding) of one analysed item."""
        matches = self.library.match(
            {**{d.name: getattr(a, d.name) for d in signals.scanned_digests()},
             **a.extra_digests}, a.query_hexes,
            a.vpdq, framing=a.framing,
        )
        decodable = a.pdq is not None or bool(a.vpdq)
        return matches, decide(a.media, a.error, decodable, matches)

    def keep_hypotheses(self) -> None:
        """Write the stored items' hypothesis data (`_keep_hypotheses`), after their own
        transaction; kept pending until written, so a Ctrl-C in the middle (which rolls the
        sidecar's transaction back) is made good by `flush_on_interrupt`."""
        if self.pending_hypotheses:
            _keep_hypotheses(self.store, self.pending_hypotheses)
            self.pending_hypotheses = []

    def _write_new(self, now) -> list[tuple[int, bytes | None]]:
        """Store a batch of items new to the case: rows, matches and query hashes, in one
        transaction, through `sqlite3` (`haven.store.direct`); returns their hypothesis data
        (item id, `Analysis.framing`), written after it."""
        db = self.store.db
        counts = self.progress.counts
        queries: list[tuple[int, bytes, str]] = []
        kept: list[tuple[int, bytes | None]] = []  # hypothesis data, after the items
        with db.transaction():
            for a in self.buffer:
                matches, finding = self._decide(a)
                stamp = self.stamps.pop(a.path, None)
                item_id = db.insert("items", {"seizure_id": self.seizure_id, "path": a.path,
                                              **_item_values(a, finding, stamp, now)})
                for m in matches:
                    db.insert("matches", {"item_id": item_id, **m.row_values()})
                codes, source = item_query_codes(a.query_hexes, a.pdq, a.pdq_quality, a.vpdq)
                if codes:
                    queries.append((item_id, codes, source))
                if a.framing is not None:
                    kept.append((item_id, a.framing))
                counts[finding] = counts.get(finding, 0) + 1
            for item_id, codes, source in queries:
                db.insert("item_queries", {"item_id": item_id, "codes": codes, "source": source})
        return kept

    def _write_again(self, now) -> list[tuple[int, bytes | None]]:
        """Store a batch holding items analysed again (a rescan): through the models, the
        superseded findings kept in the items' history (`_supersede`); returns the items'
        hypothesis data (None: an earlier analysis's is dropped), written after it."""
        from haven.store.models import ItemQueries, ItemRow

        with self.store.session() as s, s.begin():
            stored = self._stored_rows(s)
            queries: list[tuple[ItemRow, bytes, str]] = []
            kept: list[tuple[ItemRow, bytes | None]] = []
            for a in self.buffer:
                matches, finding = self._decide(a)
                stamp = self.stamps.pop(a.path, None)
                reason = self.replacing.pop(a.path, None)
                row = stored.get(a.path) if reason is not None else None
                if row is None:
                    row = ItemRow(seizure_id=self.seizure_id, path=a.path)
                    _fill(row, a, finding, matches, stamp, now)
                    s.add(row)
                else:
                    _supersede(s, row, a, finding, matches, stamp, now, reason)
                codes, source = item_query_codes(a.query_hexes, a.pdq, a.pdq_quality, a.vpdq)
                if codes:
                    queries.append((row, codes, source))
                kept.append((row, a.framing))  # None: drops what an earlier analysis kept
                counts = self.progress.counts
                counts[finding] = counts.get(finding, 0) + 1
            if queries:
                s.flush()  # item ids
                s.add_all(ItemQueries(item_id=row.id, codes=codes, source=source)
                          for row, codes, source in queries)
            s.flush()
            kept_ids = [(row.id, data) for row, data in kept]
        return kept_ids

    def _stored_rows(self, s) -> dict[str, ItemRow]:
        """The stored rows of the buffered items analysed again, by path, with their matches;
        their query hashes are deleted (the new analysis stores its own)."""
        from sqlalchemy import delete, select
        from sqlalchemy.orm import selectinload

        from haven.store.models import ItemQueries, ItemRow

        paths = [a.path for a in self.buffer if a.path in self.replacing]
        rows: dict[str, ItemRow] = {}
        for start in range(0, len(paths), 500):
            rows.update((r.path, r) for r in s.scalars(
                select(ItemRow).options(selectinload(ItemRow.matches))
                .where(ItemRow.path.in_(paths[start:start + 500]))))
        ids = [r.id for r in rows.values()]
        for start in range(0, len(ids), 500):
            s.execute(delete(ItemQueries).where(ItemQueries.item_id.in_(ids[start:start + 500])))
        return rows

    def flush_on_interrupt(self) -> None:
        """Ctrl-C: keep what is analysed (the next run resumes after it), unless the
        interrupt landed in the middle of writing a batch; and the hypothesis data of the
        batches stored, if the interrupt landed while it was being written."""
        if not self.flushing:
            self.keep_hypotheses()
            self.flush()

    def apply_problems(self, problems: list[Problem]) -> None:
        """Record walker problems: on the item of the same path, or as an item of their own."""
        if not problems:
            return
        db = self.store.db
        with db.transaction() as conn:
            for pb in problems:
                message = f"{pb.kind}: {pb.reason}"
                row = conn.execute("SELECT id, error, flags, finding FROM items WHERE path = ?",
                                   (pb.path,)).fetchone()
                if pb.kind in INFORMATIONAL_PROBLEMS:
                    if row is None:
                        db.insert("items", dict(
                            seizure_id=self.seizure_id, path=pb.path, size=pb.size,
                            finding="other", notes=[message], flags={"problem": pb.kind},
                        ))
                    continue
                if row is None:
                    db.insert("items", dict(
                        seizure_id=self.seizure_id, path=pb.path, size=pb.size, finding="error",
                        error=message, notes=[], flags={"problem": pb.kind},
                    ))
                    counts = self.progress.counts
                    counts["error"] = counts.get("error", 0) + 1
                    continue
                item_id, error, flags, finding = row
                if error and message in error:
                    continue
                values = {"error": f"{error}; {message}" if error else message,
                          "flags": {**(from_json(flags) or {}), "problem": pb.kind}}
                if finding not in ("known", "near-known", "known-good"):
                    values["finding"] = "error"
                db.update("items", item_id, values)


def _keep_hypotheses(store: CaseStore, rows: list[tuple[int, bytes | None]]) -> None:
    """Keep what items' framing hypotheses need (`Analysis.framing`) in the case's sidecar
    (`haven.store.hypotheses`), after the items' own transaction: a crash in between leaves
    items without it (re-matched with their plain query hashes), never data without an item."""
    if not rows:
        return
    from haven.store.hypotheses import HypothesisStore

    with HypothesisStore(store.dir) as kept:
        kept.put(rows)


def _item_values(a: Analysis, finding: str, stamp: str | None, now) -> dict:
    """The columns of an item's row that its analysis sets (new, or analysed again)."""
    values = {name: getattr(a, name) for name in (
        "size", "mime", "media", "extension_mismatch", *(t.name for t in signals.item_types()),
        "pdq_quality", "pdq_preprocess", "vpdq", "vpdq_preprocess", "video", "error",
        "notes", "flags", "elapsed")}
    # digests computed only when asked (SHA-512): kept when computed, for re-matching
    values.update({t.name: a.extra_digests.get(t.name) for t in signals.item_digests()
                   if not t.scanned})
    values.update(finding=finding, stamp=stamp, analysed_at=now)
    return values


def _fill(row: ItemRow, a: Analysis, finding: str, matches, stamp: str | None, now) -> None:
    """Set what the analysis of one item found on its row (a model row analysed again)."""
    for name, value in _item_values(a, finding, stamp, now).items():
        setattr(row, name, value)
    row.matches = [m.to_row() for m in matches]


# Why a stored item was analysed again (`earlier.trigger` of a rescan history entry).
TRIGGERS = {
    "changed": "its stamp (size, times, CRC...) changed",
    "rehash": "of haven scan --rehash",
    "unstamped": "no stamp was stored for it (a case made before rescans compared stamps, "
                 "or an item not found at an earlier rescan)",
}
SUPERSEDES = "content changed: supersedes"


def _earlier(row: ItemRow, trigger: str) -> dict:
    """What a stored finding held, kept in its history when a rescan supersedes it."""
    return {
        "trigger": trigger,
        "analysed_at": (row.analysed_at.isoformat(timespec="seconds") + "Z"
                        if row.analysed_at else None),
        "stamp": json.loads(row.stamp) if row.stamp else None,
        "size": row.size, "mime": row.mime,
        **{t.name: getattr(row, t.name) for t in signals.item_types()}, "error": row.error,
        "matches": [
            {"hashset": m.hashset, "hashset_version": m.hashset_version,
             "signal_type": m.signal_type, "distance": m.distance, "category": m.category,
             "scheme": m.scheme, "series": m.series, "known_good": m.known_good}
            for m in row.matches
        ],
    }


def supersede_note(finding: str, earlier: dict) -> str:
    """The note a finding carries once it superseded `finding` (whose content was `earlier`)."""
    when = earlier["analysed_at"] or "an earlier scan"
    digest = f"MD5 {earlier['md5']}" if earlier["md5"] else "no digest"
    return (f"{SUPERSEDES} the finding of {when} ({finding}, {digest}), found because "
            f"{TRIGGERS[earlier['trigger']]}; the earlier finding is kept in history")


def _supersede(s, row: ItemRow, a: Analysis, finding: str, matches, stamp: str | None, now,
               trigger: str) -> None:
    """Analysed again: the row takes the new finding; a changed content keeps the old one as a
    `rescan` entry of the item's history (`finding_changes`), and its note. (The row's old
    query hashes were deleted by `_Writer._stored_rows`.)"""
    from haven.store.models import FindingChange

    kept = [n for n in row.notes or [] if n.startswith(SUPERSEDES)]
    if (row.sha256, row.size) != (a.sha256, a.size):
        earlier = _earlier(row, trigger)
        s.add(FindingChange(
            item_id=row.id, changed_at=now, cause="rescan", old_finding=row.finding,
            new_finding=finding, earlier=earlier,
            reason=f"content changed (found because {TRIGGERS[trigger]})"))
        kept = [supersede_note(row.finding, earlier)]
    _fill(row, a, finding, matches, stamp, now)
    row.notes = [*(a.notes or []), *kept]


def open_library(store: CaseStore, options: ScanOptions) -> MatchLibrary:
    """The case's chosen hash sets plus any national libraries named in `options`."""
    libs = []
    if options.libraries:
        from haven.library.national import HashLibrary

        libs = [HashLibrary(Path(p), threads=options.match_threads) for p in options.libraries]
    return MatchLibrary(store, options.hashsets, options.threshold, libraries=libs)


def follow_hash_sets(store: CaseStore, library: MatchLibrary, options: ScanOptions,
                     progress: ScanProgress) -> None:
    """Re-match the items already in the case if its known material changed (before a scan,
    so old and new items are matched against the same versions; after it, for feeds a
    library took in meanwhile), and record which versions the findings now follow."""
    from haven.match.queries import QueryIndex

    # A case that never held known material has nothing to re-match (and the re-matching
    # code, SQLAlchemy's models among it, stays unloaded).
    if library.libraries or store.has_match_state():
        from haven.match.rematch import rematch

        result = rematch(store, libraries=library.libraries, names=options.hashsets,
                         threshold=options.threshold)
        if result.items_checked or result.sets:
            progress.rematched.append(result)
    if progress.items:  # index the new items' query hashes now, not at the first feed
        QueryIndex(store.dir).update(store)


def forget_unmatched_sets(store: CaseStore, options: ScanOptions, progress: ScanProgress) -> None:
    """After a scan limited to some sets (`--hashset`), the new items were not matched against
    the others: their state is dropped so the next re-match applies them."""
    if not options.hashsets or not progress.items:
        return
    from sqlalchemy import delete, select

    from haven.store.models import HashSet, MatchedSet

    with store.session() as s, s.begin():
        others = select(HashSet.id).where(HashSet.name.not_in(options.hashsets),
                                          HashSet.format != "library")
        s.execute(delete(MatchedSet).where(MatchedSet.hashset_id.in_(others)))


class ScanEngine(Protocol):
    """Where items are analysed; the scan around it (`run_scan`) is the same for every engine.

    `LocalEngine` uses worker processes on this machine; `haven.scan.spark.SparkEngine` uses
    Spark executors. An engine takes each item as the walk hands it over (a container member
    must be read before the walk moves on: its container is open only now) and yields the
    analyses finished meanwhile, in any order.
    """

    workdir: str  # where the walk and the engine spill container members (temporary)
    #: whether what images' hash-only framing hypotheses need (`Analysis.framing`) is computed:
    #: `run_scan` sets it, always (searched against the case's PDQ sets, and kept for
    #: re-matching against lists imported later: `haven.store.hypotheses`)
    framing: bool
    #: digest types not computed for every item (SHA-512) that the case's hash sets hold
    #: values of (`CaseHashSets.extra_digests`): `run_scan` sets it, workers compute them too
    extra_digests: tuple[str, ...]

    def submit(self, item: Item) -> Iterator[Analysis]:
        """Have `item` analysed; yields the analyses (of any items) finished meanwhile."""
        ...

    def finish(self) -> Iterator[Analysis]:
        """Every analysis not yielded yet, once all of them are finished."""
        ...

    def close(self) -> None:
        """Stop workers and remove the workdir (also after an error or Ctrl-C)."""
        ...


#: Temporary folders scans make in the case directory (`LocalEngine`, the Spark engine's staging)
WORKDIR_PATTERNS = ("scan-tmp-*", "spark-staging-*")


def remove_stale_workdirs(case_dir: str | os.PathLike) -> int:
    """Remove the temporary folders a killed scan left in the case directory; how many.

    A scan removes its own when it ends, even on Ctrl-C; a SIGKILL, a power cut or an
    out-of-memory kill leaves it, with copies of container members (evidence content) inside.
    Call only with the case lock held: then no other scan is using one.
    """
    removed = 0
    for pattern in WORKDIR_PATTERNS:
        for path in Path(case_dir).glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
    return removed


class LocalEngine:
    """Analyses items in worker processes on this machine (`pool`), or in this process when
    there is none (`workers=1`); at most four items per worker are in flight. `head_start`:
    files already submitted before the scan began (`haven.scan.headstart`), taken over here."""

    def __init__(self, store: CaseStore, options: ScanOptions, pool: ProcessPoolExecutor | None,
                 head_start: HeadStart | None = None):
        self.options, self.pool, self.head_start = options, pool, head_start
        self.framing = True  # what the hypotheses need: always computed (`run_scan`)
        self.extra_digests: tuple[str, ...] = ()
        self.workdir = tempfile.mkdtemp(prefix="scan-tmp-", dir=store.dir)
        self.pending: dict[Future, str | None] = {}
        self.window = 4 * (pool._max_workers if pool else 1)

    def submit(self, item: Item) -> Iterator[Analysis]:
        kwargs: dict = {"fast": self.options.fast, "flags": item.flags,
                        "video_fps": self.options.video_fps, "framing": self.framing,
                        "extra_digests": self.extra_digests}
        tmp = None
        if item.fs_path is not None:
            kwargs["fs_path"] = item.fs_path
        else:
            data, tmp, error = read_member(item, self.workdir)
            if error:
                yield Analysis(path=item.path, size=item.size, error=error, flags=item.flags)
                return
            kwargs["data"], kwargs["fs_path"] = data, tmp
        if self.pool is None:
            result = analyse(item.path, **kwargs)
            if tmp:
                os.unlink(tmp)
            yield result
            return
        running = None
        if self.head_start is not None and tmp is None and not self.extra_digests:
            # the head start computes the scanned digests only
            running = self.head_start.take(item, self.options.fast, self.options.video_fps,
                                           self.framing)
        self.pending[running or self.pool.submit(analyse, item.path, **kwargs)] = tmp
        while len(self.pending) >= self.window:
            yield from self._collect()

    def finish(self) -> Iterator[Analysis]:
        while self.pending:
            yield from self._collect()

    def _collect(self) -> Iterator[Analysis]:
        finished, _ = wait(list(self.pending), return_when=FIRST_COMPLETED)
        for fut in finished:
            tmp = self.pending.pop(fut)
            result = fut.result()
            if tmp:
                os.unlink(tmp)
            yield result

    def close(self) -> None:
        if self.head_start is not None:
            self.head_start.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def scan(evidence: list[str], store: CaseStore, options: ScanOptions | None = None,
         on_progress: ProgressFn | None = None, *,
         pool: ProcessPoolExecutor | None = None,
         head_start: HeadStart | None = None) -> ScanProgress:
    """Scan every evidence path into the case store; returns the final counters.

    `pool`: worker processes from `haven.scan.workers.start_workers`, started by the caller
    before anything else (as `haven scan` does); without it the scan starts its own. Either
    way the scan shuts them down once the last item is analysed. `head_start`: the first
    files, already submitted to `pool` (`haven.scan.headstart`).
    """
    options = options or ScanOptions()
    keep_apart(store.dir, evidence)  # the scan writes temp files under the case directory
    # first: the workers load the analysis code while the hash sets load here
    pool = pool or start_workers(options.workers)
    try:
        engine = LocalEngine(store, options, pool, head_start)
    except BaseException:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        raise
    return run_scan(evidence, store, options, engine, on_progress)


def run_scan(evidence: list[str], store: CaseStore, options: ScanOptions, engine: ScanEngine,
             on_progress: ProgressFn | None = None) -> ScanProgress:
    """The scan every engine shares: load the known material, walk each seizure, hand its new
    or changed items to `engine`, match and store what comes back, then re-match the case if
    its known material changed meanwhile. `engine` is closed at the end, whatever happens."""
    try:
        library = open_library(store, options)
        # computed for every trusted image: searched when the case has hash-only PDQs, and
        # kept either way, for lists imported later (`haven.store.hypotheses`), unless the
        # scan is told not to keep it (then only computed when searched, as before)
        engine.framing = options.keep_hypotheses or library.searches_framing
        engine.extra_digests = library.extra_digests
        progress = ScanProgress(framing=engine.framing, extra_digests=engine.extra_digests,
                                framing_capped=library.framing_capped,
                                library_pdqs=library.library_pdqs)
        follow_hash_sets(store, library, options, progress)
        writer = _Writer(store, library, progress, on_progress, options.keep_hypotheses)
        start_census(evidence, progress)
        try:
            with library.searching_on_one_thread():
                for ev in evidence:
                    _scan_seizure(Path(ev).resolve(), store, options, writer, engine)
        except KeyboardInterrupt:
            writer.flush_on_interrupt()
            raise
    finally:
        engine.close()
    follow_hash_sets(store, library, options, progress)
    forget_unmatched_sets(store, options, progress)
    return progress


def _begin_seizure(store: CaseStore, source: Path, writer: _Writer,
                   rehash: bool = False) -> tuple[str, dict[str, str | None]]:
    """The seizure row of `source` (created if new) and the stamp of each item already stored.

    A top-level evidence file is hashed when first seen, and again when its stamp changed
    (the earlier hash goes into the seizure's history).
    """
    name = _seizure_name(store, source)
    db = store.db
    with db.transaction() as conn:
        row = conn.execute("SELECT id, sha256, size, stamp, history FROM seizures WHERE name = ?",
                           (name,)).fetchone()
        if row is None:
            seizure_id = db.insert("seizures", {"name": name, "source_path": str(source),
                                                "started_at": utcnow()})
            known_sha256 = known_size = known_stamp = history = None
        else:
            seizure_id, known_sha256, known_size, known_stamp, history = row
        if source.is_file():
            stamp = stamp_text(file_stamp(source.stat()))
            if known_sha256 is None or known_stamp != stamp or rehash:
                sha256, size = top_level_sha256(str(source)), source.stat().st_size
                values = {"sha256": sha256, "size": size, "stamp": stamp}
                if known_sha256 is not None and (known_sha256, known_size) != (sha256, size):
                    values["history"] = [*(from_json(history) or []), {
                        "superseded_at": utcnow().isoformat(timespec="seconds") + "Z",
                        "sha256": known_sha256, "size": known_size,
                        "stamp": json.loads(known_stamp) if known_stamp else None,
                    }]
                db.update("seizures", seizure_id, values)
        writer.seizure_id = seizure_id
        stored = dict(conn.execute("SELECT path, stamp FROM items WHERE seizure_id = ?",
                                   (seizure_id,)))
    writer.progress.seizure = name
    return name, stored


def _end_seizure(store: CaseStore, writer: _Writer, problems: list[Problem],
                 stored: dict) -> None:
    """Store what is buffered, then the walker's problems, flag what the walk no longer
    found, and mark the seizure finished (only reached when the walk went to its end)."""
    writer.flush()
    writer.apply_problems(problems)
    gone = sorted({p for p, v in stored.items() if v is not _HANDED_OUT}
                  - {pb.path for pb in problems})
    now = utcnow()
    db = store.db
    with db.transaction() as conn:
        for start in range(0, len(gone), 500):
            chunk = gone[start:start + 500]
            rows = conn.execute("SELECT id, flags, notes FROM items WHERE path IN "
                                f"({', '.join('?' * len(chunk))})", chunk).fetchall()
            for item_id, flags, notes in rows:
                values = _missing(from_json(flags), from_json(notes), now)
                if values is not None:
                    db.update("items", item_id, values)
                    writer.progress.missing += 1
        db.update("seizures", writer.seizure_id, {
            "finished_at": now,
            "extractions": [{"path": r.path, "kind": r.kind, "metadata": r.metadata}
                            for r in writer.extractions]})


MISSING = "not found when the evidence was scanned again"


def _missing(flags: dict | None, notes: list | None, now) -> dict | None:
    """What changes on a stored item the last complete walk did not find (deleted, moved,
    or beyond this scan's limits), given its flags and notes; None if it is flagged already.
    Its finding stays; the stamp is cleared, so if it comes back it is analysed again (which
    clears the flag and the note)."""
    if (flags or {}).get("missing"):
        return None
    return {"flags": {**(flags or {}), "missing": True},
            "notes": [*(notes or []), f"{MISSING} on {now.isoformat(timespec='seconds')}Z "
                      "(deleted, moved, or beyond this scan's limits); the finding is kept"],
            "stamp": None}


_HANDED_OUT = object()  # marks a path already yielded by this walk


def _new_items(source: Path, name: str, stored: dict, options: ScanOptions, tmpdir: str,
               writer: _Writer, problems: list[Problem]) -> Iterator[Item]:
    """The seizure's items to analyse, renamed under the seizure's name (both engines).

    New items, and stored items whose stamp changed (all of them with `options.rehash`);
    stored items with the same stamp are skipped without reading their content. Each
    item's stamp, and why a stored item is analysed again, go to the writer. Problems go to
    `problems`, to be applied once the seizure's items are stored.
    """
    progress = writer.progress
    walked_root = source.name or str(source)
    writer.extractions = []
    for entry in walk([str(source)], options.limits, tmpdir=tmpdir,
                      extractions=writer.extractions):
        if name != walked_root:
            entry.path = name + entry.path[len(walked_root):]
        if isinstance(entry, Problem):
            problems.append(entry)
            progress.problems += 1
            continue
        if entry.fs_path is None:  # a container member: the census counted files on disk only
            progress.member_files += 1
            progress.member_bytes += entry.size or 0
        stamp = stamp_text(entry.stamp)
        if entry.path in stored:
            before = stored[entry.path]
            if before is _HANDED_OUT:
                progress.skipped += 1  # the walk named this path twice: analysed once
                continue
            if before == stamp and stamp is not None and not options.rehash:
                progress.skipped += 1
                progress.skipped_bytes += entry.size or 0
                stored[entry.path] = _HANDED_OUT
                continue
            progress.changed += 1
            writer.replacing[entry.path] = (
                "rehash" if options.rehash else "unstamped" if before is None else "changed")
        stored[entry.path] = _HANDED_OUT
        writer.stamps[entry.path] = stamp
        yield entry
    if name != walked_root:
        for record in writer.extractions:
            record.path = name + record.path[len(walked_root):]


def _scan_seizure(source: Path, store: CaseStore, options: ScanOptions, writer: _Writer,
                  engine: ScanEngine) -> None:
    name, stored = _begin_seizure(store, source, writer, options.rehash)
    problems: list[Problem] = []
    for entry in _new_items(source, name, stored, options, engine.workdir, writer, problems):
        for analysis in engine.submit(entry):
            writer.add(analysis)
    for analysis in engine.finish():  # every item of this seizure stored before its problems
        writer.add(analysis)
    _end_seizure(store, writer, problems, stored)
