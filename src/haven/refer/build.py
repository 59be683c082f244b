"""`refer build`: one signed package per country (and one for the coordinator).

Subjects are streamed from subjects.jsonl and routed (haven.refer.routing) into one spool
file per package; their source records are then read from the operation store in one query
and written to the spool split by package (Parquet, one folder a package: one scan of the
store instead of one per package), and each package is built on its own — in worker
processes when asked — reading only its own spool. A package is written to a hidden folder and renamed into place
when complete, so an interrupted build never leaves a half package under a country's name.

With a keys folder, a package is personal data in clear unless it can be sealed: a package
without a recipient key is withheld (not written at all) unless its code is in
`allow_plaintext`. Without a keys folder every package is written as a plain folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

import duckdb
import pyarrow as pa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from haven.refer.errors import ReferError
from haven.refer.formats import package_formats
from haven.refer.formats.pdf_summary import pdf_available
from haven.refer.i18n import language_for
from haven.refer.manifest import MANIFEST_NAME, SIGNATURE_NAME, file_entry, manifest_bytes
from haven.refer.operation import (RECORD_COLUMNS, STORE_NAME, built_at, iter_subjects,
                                   provenance, records_by_ref)
from haven.refer.package import Package, package_subject
from haven.refer.routing import COORDINATOR, country_name, route
from haven.refer.sealing import ARCHIVE_SUFFIX, read_recipients, recipients_file, seal
from haven.refer.signing import key_id, operation_signer, signature_document

INDEX_NAME = "build.json"
_ENCODER = json.JSONEncoder(ensure_ascii=False)   # reused: json.dumps makes one a call
SPOOL_DIR = ".spool"
RECORDS_SPOOL = "records"


@dataclass
class BuildOptions:
    keys_dir: Path | None = None
    signing_key: Path | None = None
    no_legislation: frozenset[str] = frozenset()
    timestamp: str | None = None
    encrypted_only: bool = False
    workers: int = 1
    pdf: bool = False
    #: packages written as plain folders although `keys_dir` has no key for them
    allow_plaintext: frozenset[str] = frozenset()


#: How a package left the build (PackageResult.delivery).
SEALED = "sealed"                        # <CC>.tar.age (folder too unless encrypted_only)
PLAINTEXT = "plaintext"                  # no keys folder given: plain folder only
PLAINTEXT_ALLOWED = "plaintext-allowed"  # no key, written in clear by --allow-plaintext


@dataclass
class PackageResult:
    code: str
    name: str
    language: str
    subjects: int
    records: int
    shared: int
    directory: str | None
    archive: str | None
    manifest_sha256: str
    files: list[str]
    delivery: str = PLAINTEXT


@dataclass
class BuildSummary:
    out_dir: Path
    built_at: str
    signer_key_id: str
    signer_path: str
    key_created: bool
    packages: list[PackageResult] = field(default_factory=list)
    kept_aside: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: packages not written for want of a recipient key: code → subjects it would hold
    withheld: dict[str, int] = field(default_factory=dict)

    @property
    def subjects_routed(self) -> int:
        return sum(p.subjects for p in self.packages)


def build_packages(op_dir: Path, out_dir: Path, options: BuildOptions | None = None,
                   on_progress: Callable[[str, int, int], None] | None = None) -> BuildSummary:
    """Build every package of an attributed operation into `out_dir`."""
    options = options or BuildOptions()
    if options.keys_dir is not None and not options.keys_dir.is_dir():
        raise ReferError(f"--countries-keys {options.keys_dir} is not a folder (it should hold "
                         "<CC>.age.pub files)")
    if options.allow_plaintext and options.keys_dir is None:
        raise ReferError("--allow-plaintext names packages to write in clear although "
                         "--countries-keys has no key for them; without --countries-keys "
                         "every package is plain already")
    ts = built_at(op_dir, options.timestamp)
    prov = provenance(op_dir, ts)
    signer = operation_signer(op_dir, options.signing_key)
    out_dir.mkdir(parents=True, exist_ok=True)
    spool = out_dir / SPOOL_DIR
    shutil.rmtree(spool, ignore_errors=True)
    spool.mkdir()
    try:
        counts, kept_aside, wanted = _spool(op_dir, spool, options.no_legislation, on_progress)
        _spool_records(op_dir, spool, wanted)
        del wanted
        recipients = {code: recipients_file(options.keys_dir, code) for code in counts}
        for code, path in recipients.items():
            if path is not None:
                read_recipients(path)     # fail before building anything on a bad key file
        withheld = {}
        if options.keys_dir is not None:
            withheld = {code: counts[code] for code in sorted(counts)
                        if recipients[code] is None and code not in options.allow_plaintext}
        notes = []
        pdf = options.pdf
        if pdf:
            pdf, why = pdf_available()
            if not pdf:
                notes.append(f"summary.pdf skipped: {why}")
        jobs = [_Job(op_dir, out_dir, code, ts, prov, signer.private_bytes(),
                     str(recipients[code]) if recipients[code] else None,
                     options.encrypted_only, notes, pdf,
                     _delivery(options.keys_dir, recipients[code]))
                for code in sorted(counts) if code not in withheld]
        results = _run(jobs, options.workers, on_progress)
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    summary = BuildSummary(out_dir, prov["built_at"], signer.key_id, str(signer.path),
                           signer.created, sorted(results, key=lambda r: r.code),
                           dict(sorted(kept_aside.items())),
                           notes + _plaintext_notes(options, counts, recipients), withheld)
    _write_index(out_dir, summary)
    return summary


def _plaintext_notes(options: BuildOptions, counts: Counter,
                     recipients: dict[str, Path | None]) -> list[str]:
    """Say when --allow-plaintext names a package that is sealed anyway or was not built."""
    out = []
    for code in sorted(options.allow_plaintext):
        if code not in counts:
            out.append(f"--allow-plaintext {code}: no subjects for {code} in this build")
        elif recipients.get(code) is not None:
            out.append(f"--allow-plaintext {code}: {code} has a key and was sealed")
    return out


def _delivery(keys_dir: Path | None, recipients: Path | None) -> str:
    if recipients is not None:
        return SEALED
    return PLAINTEXT if keys_dir is None else PLAINTEXT_ALLOWED


def _spool(op_dir: Path, spool: Path, no_legislation: frozenset[str],
           on_progress: Callable[[str, int, int], None] | None
           ) -> tuple[Counter, Counter, dict[str, list]]:
    """Route every subject into spool/<CODE>.jsonl; counts per package, kept aside, and the
    source records each package needs (columns file, row, package)."""
    handles: dict[str, TextIO] = {}
    counts: Counter = Counter()
    kept_aside: Counter = Counter()
    wanted: dict[str, list] = {"file": [], "row": [], "package": []}
    files, rows, packages = wanted["file"], wanted["row"], wanted["package"]
    try:
        for n, subject in enumerate(iter_subjects(op_dir), start=1):
            if subject.get("country"):
                concerned = {subject["country"], *(subject.get("countries") or [])}
                for cc in concerned & no_legislation:
                    kept_aside[cc] += 1
            for d in route(subject, no_legislation):
                fh = handles.get(d.package)
                if fh is None:
                    fh = handles[d.package] = (spool / f"{d.package}.jsonl").open(
                        "w", encoding="utf-8")
                fh.write(_ENCODER.encode(package_subject(subject, d.shared_with, d.note)) + "\n")
                counts[d.package] += 1
                for r in subject.get("records") or []:
                    files.append(r["file"])
                    rows.append(r["row"])
                    packages.append(d.package)
            if on_progress and n % 5000 == 0:
                on_progress("routing subjects", n, 0)
    finally:
        for fh in handles.values():
            fh.close()
    return counts, kept_aside, wanted


def _spool_records(op_dir: Path, spool: Path, wanted: dict[str, list]) -> None:
    """spool/records/package=<CODE>/*.parquet: every package's source records, from one
    query (a query per package rescans the whole store: 162 scans of 400,000 rows)."""
    store = op_dir / STORE_NAME
    if not store.is_file() or not wanted["file"]:
        return
    table = pa.table({"file": pa.array(wanted["file"], pa.string()),
                      "row": pa.array(wanted["row"], pa.int64()),
                      "package": pa.array(wanted["package"], pa.string())})
    try:
        con = duckdb.connect(str(store), read_only=True)
    except duckdb.Error as exc:
        raise ReferError(f"cannot open the operation store {store}: {exc}") from exc
    try:
        con.register("wanted", table)
        cols = ", ".join(f"r.{c}" for c in RECORD_COLUMNS)
        target = str(spool / RECORDS_SPOOL).replace("'", "''")
        con.execute(
            f"COPY (SELECT w.package, {cols} FROM records r JOIN (SELECT DISTINCT file, row, "
            "package FROM wanted) w ON r.file = w.file AND r.row = w.row) "
            f"TO '{target}' (FORMAT PARQUET, PARTITION_BY (package))")
    finally:
        con.close()


class SpooledRecords:
    """A package's source records by (file, row), as the spool holds them."""

    def __init__(self, spool: Path) -> None:
        self._root = spool / RECORDS_SPOOL
        self._con = duckdb.connect()

    def fetch(self, code: str) -> dict[tuple[str, int], dict]:
        folder = self._root / f"package={code}"
        if not folder.is_dir():
            return {}
        glob = str(folder / "*.parquet").replace("'", "''")
        rel = self._con.execute(f"SELECT {', '.join(RECORD_COLUMNS)} FROM read_parquet('{glob}')")
        return records_by_ref(rel.fetchall())

    def close(self) -> None:
        self._con.close()


@dataclass
class _Job:
    op_dir: Path
    out_dir: Path
    code: str
    timestamp: datetime
    provenance: dict
    signing_seed: bytes
    recipients: str | None
    encrypted_only: bool
    notes: list[str]
    pdf: bool = False
    delivery: str = PLAINTEXT


def _run(jobs: list[_Job], workers: int,
         on_progress: Callable[[str, int, int], None] | None) -> list[PackageResult]:
    results = []
    if not jobs:
        return results
    spool = jobs[0].out_dir / SPOOL_DIR
    if workers <= 1 or len(jobs) <= 1:
        source = SpooledRecords(spool)
        try:
            for n, job in enumerate(jobs, start=1):
                results.append(build_one(job, source))
                if on_progress:
                    on_progress(f"package {job.code}", n, len(jobs))
        finally:
            source.close()
        return results
    # Biggest packages first so the pool does not end waiting on one large country.
    order = sorted(jobs, key=lambda j: -(j.out_dir / SPOOL_DIR / f"{j.code}.jsonl").stat().st_size)
    with ProcessPoolExecutor(max_workers=workers, initializer=_open_worker_source,
                             initargs=(spool,)) as pool:
        futures = {pool.submit(_build_in_worker, job): job.code for job in order}
        for n, fut in enumerate(as_completed(futures), start=1):
            results.append(fut.result())
            if on_progress:
                on_progress(f"package {futures[fut]}", n, len(jobs))
    return results


_WORKER_SOURCE: SpooledRecords | None = None


def _open_worker_source(spool: Path) -> None:
    global _WORKER_SOURCE
    _WORKER_SOURCE = SpooledRecords(spool)


def _build_in_worker(job: _Job) -> PackageResult:
    assert _WORKER_SOURCE is not None
    return build_one(job, _WORKER_SOURCE)


def build_one(job: _Job, source: SpooledRecords) -> PackageResult:
    """Build, sign and (when a recipient key exists) seal one package."""
    with (job.out_dir / SPOOL_DIR / f"{job.code}.jsonl").open(encoding="utf-8") as fh:
        subjects = [json.loads(line) for line in fh]
    subjects.sort(key=lambda s: s["subject_id"])
    found = source.fetch(job.code)
    records = []
    missing = 0
    for s in subjects:
        for r in s.get("records") or []:
            rec = found.get((r["file"], r["row"]))
            if rec is None:
                missing += 1
                continue
            records.append({"subject_id": s["subject_id"], **rec})
    package = Package(job.code, language_for(job.code), job.timestamp, job.provenance,
                      subjects, records)
    final = job.out_dir / job.code
    work = job.out_dir / f".{job.code}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    written: list[str] = []
    for fmt in package_formats({"pdf"} if job.pdf else set()):
        written.extend(fmt.write(package, work))
    notes = list(job.notes)
    if missing:
        notes.append(f"{missing} source record(s) of these subjects were not found in the "
                     "operation store; re-run 'haven intel resolve' and 'attribute'")
    private = Ed25519PrivateKey.from_private_bytes(job.signing_seed)
    info = {"code": job.code, "name": country_name(job.code), "language": package.language,
            "coordinator": package.coordinator, "counts": package.counts(),
            "files_written": sorted(written)}
    signer = {"algorithm": "Ed25519", "key_id": key_id(private.public_key())}
    manifest = manifest_bytes(info, job.provenance, signer,
                              (file_entry(work / name) for name in written), notes)
    (work / MANIFEST_NAME).write_bytes(manifest)
    (work / SIGNATURE_NAME).write_bytes(signature_document(private, manifest))
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    archive = None
    archive_path = job.out_dir / f"{job.code}{ARCHIVE_SUFFIX}"
    archive_path.unlink(missing_ok=True)     # never leave an archive of an earlier build
    if job.recipients:
        seal(final, job.timestamp, read_recipients(Path(job.recipients)), archive_path)
        archive = archive_path.name
        if job.encrypted_only:
            shutil.rmtree(final)
    c = package.counts()
    return PackageResult(job.code, package.name, package.language, c["subjects"], c["records"],
                         c["shared"], None if (archive and job.encrypted_only) else job.code,
                         archive, hashlib.sha256(manifest).hexdigest(),
                         sorted(written) + [MANIFEST_NAME, SIGNATURE_NAME], job.delivery)


def _write_index(out_dir: Path, summary: BuildSummary) -> None:
    """PACKAGES_DIR/build.json for the coordinator; packages of an earlier build that this one
    did not produce (withheld ones included) are removed so a re-run never leaves a stale
    country behind, nor a plain folder of a country that is now withheld."""
    index = out_dir / INDEX_NAME
    built = {p.code for p in summary.packages}
    if index.is_file():
        try:
            old = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        for p in old.get("packages", []):
            code = p.get("code")
            if not isinstance(code, str) or code in built or "/" in code or code.startswith("."):
                continue
            shutil.rmtree(out_dir / code, ignore_errors=True)
            (out_dir / f"{code}{ARCHIVE_SUFFIX}").unlink(missing_ok=True)
    doc = {"built_at": summary.built_at, "signer_key_id": summary.signer_key_id,
           "packages": [asdict(p) for p in summary.packages], "kept_aside": summary.kept_aside,
           "coordinator": COORDINATOR, "notes": summary.notes, "withheld": summary.withheld}
    index.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
