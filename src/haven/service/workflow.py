"""The operation workflow: attach verified packages, disseminate, acknowledge, outcomes.

Package files are copied into the service's data folder atomically: staged in
`staging/<random>`, re-verified there (the copy, not only the source), fsync'd, then renamed
into `packages/`; the database row is written last. A crash at any point leaves either no
trace or an unreferenced folder that `sweep` removes on the next start, never a half package
a country could download.

Every step is one database transaction with its audit entries: an attach (all its packages,
subjects, identifiers and overlaps), a dissemination (every package it sends), a hash-set
import. Killed before the commit, the database rolls it back and the step can simply be
repeated; tests/service/test_restart.py kills a real server at these points.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haven.durable import fsync_dir
from haven.refer.manifest import MANIFEST_NAME, SIGNATURE_NAME
from haven.refer.verify import verify_package
from haven.service.accounts import utcnow
from haven.service.deconflict import record_subject
from haven.service.errors import BadInput, Conflict
from haven.service.models import Operation, Outcome, Package, Subject
from haven.service.settings import Settings, pause_point

# A stored package: FILES_DIR holds exactly the signed package folder (so it verifies as
# built); the age archive, when the build made one, sits beside it.
FILES_DIR = "files"
ARCHIVE_NAME = "package.tar.age"
OUTCOME_FIELDS = ("searches", "arrests", "cases_opened", "children_safeguarded",
                  "material_seized")
STATUSES = ("imported", "sent", "downloaded", "acknowledged", "outcomes reported")


def status(pkg: Package) -> str:
    if pkg.outcomes_at:
        return "outcomes reported"
    if pkg.acknowledged_at:
        return "acknowledged"
    if pkg.downloaded_at:
        return "downloaded"
    if pkg.sent_at:
        return "sent"
    return "imported"


def create_operation(s: Session, name: str, description: str, user_id: int) -> Operation:
    if s.scalar(select(Operation).where(Operation.name == name)) is not None:
        raise Conflict(f"an operation named {name!r} exists")
    op = Operation(name=name, description=description, created_at=utcnow(), created_by=user_id)
    s.add(op)
    s.flush()
    return op


# -- attaching a `haven refer build` output ----------------------------------------------------

@dataclass
class AttachReport:
    attached: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    overlaps: int = 0
    stored: list[Path] = field(default_factory=list)  # folders renamed into packages_dir

    def discard(self) -> None:
        """Remove the stored folders (the transaction that would reference them failed)."""
        for path in self.stored:
            shutil.rmtree(path, ignore_errors=True)


def package_folders(root: Path) -> list[Path]:
    """Package folders (holding manifest.json) at the top of `root` or one level down."""
    found = []
    for depth in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        for p in sorted(depth.iterdir()) if depth.is_dir() else []:
            if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST_NAME).is_file():
                found.append(p)
        if found:
            return found
    return found


def _stage(settings: Settings, folder: Path) -> Path:
    """Copy the manifest's files (and the sealed archive) into a fresh staging folder."""
    stage = settings.staging_dir / f"pkg-{uuid.uuid4().hex}"
    (stage / FILES_DIR).mkdir(parents=True)
    manifest = json.loads((folder / MANIFEST_NAME).read_bytes())
    names = [f["path"] for f in manifest["files"]] + [MANIFEST_NAME, SIGNATURE_NAME]
    for name in names:
        if "/" in name or name.startswith("."):
            raise BadInput(f"manifest lists an invalid path {name!r}")
        with (folder / name).open("rb") as src, (stage / FILES_DIR / name).open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
    archive = folder.parent / f"{folder.name}.tar.age"
    if archive.is_file():
        with archive.open("rb") as src, (stage / ARCHIVE_NAME).open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
    fsync_dir(stage / FILES_DIR)
    fsync_dir(stage)
    return stage


def attach(s: Session, settings: Settings, op: Operation, root: Path) -> AttachReport:
    """Verify and import every package of a refer output folder into `op` (not yet sent)."""
    report = AttachReport()
    folders = package_folders(root)
    if not folders:
        raise BadInput("no package folders (with manifest.json) found; attach the folder "
                       "'haven refer build --out' wrote (encrypted-only builds cannot be "
                       "verified by the service)")
    try:
        for folder in folders:
            _attach_one(s, settings, op, folder, report)
    except BaseException:
        report.discard()
        raise
    return report


def _attach_one(s: Session, settings: Settings, op: Operation, folder: Path,
                report: AttachReport) -> None:
    """Verify, stage, re-verify, rename into place, then record one package and its subjects."""
    code = folder.name.upper()
    verdict = verify_package(folder)
    if not verdict.ok:
        report.rejected.append({"package": folder.name, "problems": verdict.problems})
        return
    manifest_raw = (folder / MANIFEST_NAME).read_bytes()
    manifest = json.loads(manifest_raw)
    code = ((manifest.get("package") or {}).get("code") or code).upper()
    if len(code) != 2 or not code.isalpha():
        report.rejected.append({"package": folder.name,
                                "problems": [f"package code {code!r} is not alpha-2"]})
        return
    existing = s.scalar(select(Package).where(Package.operation_id == op.id,
                                              Package.country == code))
    if existing is not None:
        report.skipped.append({"package": code, "reason": "the operation already has a "
                               f"package for {code} (id {existing.id})"})
        return
    stage = _stage(settings, folder)
    try:
        again = verify_package(stage / FILES_DIR)
        if not again.ok:
            report.rejected.append({"package": code, "problems":
                                    ["the copy does not verify: " + p for p in again.problems]})
            shutil.rmtree(stage)
            return
        final_name = f"op{op.id}-{code}-{uuid.uuid4().hex[:12]}"
        final = settings.packages_dir / final_name
        os.rename(stage, final)
        report.stored.append(final)
        fsync_dir(settings.packages_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    doc = json.loads((final / FILES_DIR / "subjects.json").read_text(encoding="utf-8"))
    subjects = doc.get("subjects") or []
    pkg = Package(operation_id=op.id, country=code, storage=final_name,
                  manifest_sha256=hashlib.sha256(manifest_raw).hexdigest(),
                  signer_key_id=verdict.key_id, subject_count=len(subjects),
                  record_count=int((doc.get("counts") or {}).get("records") or 0),
                  has_archive=(final / ARCHIVE_NAME).is_file(), imported_at=utcnow())
    s.add(pkg)
    s.flush()
    overlaps = 0
    for subj in subjects:
        row = Subject(package_id=pkg.id, subject_id=str(subj.get("subject_id")),
                      country=code, confidence=subj.get("confidence"),
                      names=list(subj.get("names") or []),
                      shared_with=list(subj.get("shared_with") or []))
        s.add(row)
        s.flush()
        overlaps += len(record_subject(s, settings.identifier_key, row, subj))
    report.overlaps += overlaps
    report.attached.append({"package_id": pkg.id, "country": code,
                            "subjects": len(subjects), "overlaps": overlaps,
                            "signer_key_id": verdict.key_id})
    pause_point("attach")  # tests kill the server here: a package stored, rows not committed


def extract_upload(settings: Settings, data: io.BufferedIOBase, limit_files: int = 10_000,
                   limit_bytes: int | None = None) -> Path:
    """Unpack an uploaded tar(.gz) of a refer output into staging, refusing anything odd."""
    dest = settings.staging_dir / f"upload-{uuid.uuid4().hex}"
    dest.mkdir()
    total = 0
    try:
        with tarfile.open(fileobj=data, mode="r:*") as tar:
            members = []
            for n, m in enumerate(tar):
                if n >= limit_files:
                    raise BadInput(f"the archive has more than {limit_files} entries")
                if not (m.isfile() or m.isdir()):
                    raise BadInput(f"the archive holds a link or device ({m.name}); refused")
                total += m.size
                if limit_bytes is not None and total > limit_bytes:
                    raise BadInput("the archive unpacks to more than the upload limit")
                members.append(m)
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise BadInput(f"the upload is not a readable tar or tar.gz ({exc})") from exc
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


def sweep(s: Session, settings: Settings) -> list[str]:
    """Remove staging leftovers and package folders no row refers to (an interrupted attach)."""
    removed = []
    for p in settings.staging_dir.iterdir():
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        removed.append(str(p))
    known = set(s.scalars(select(Package.storage)))
    for p in settings.packages_dir.iterdir():
        if p.name not in known:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed.append(str(p))
    return removed


# -- the workflow steps -------------------------------------------------------------------------

def disseminate(s: Session, op: Operation, countries: list[str] | None) -> list[Package]:
    q = select(Package).where(Package.operation_id == op.id, Package.sent_at.is_(None))
    if countries:
        q = q.where(Package.country.in_([c.upper() for c in countries]))
    now = utcnow()
    sent = list(s.scalars(q.order_by(Package.country)))
    for pkg in sent:
        pkg.sent_at = now
    return sent


def package_dir(settings: Settings, pkg: Package) -> Path:
    """The stored package folder, as signed."""
    return settings.packages_dir / pkg.storage / FILES_DIR


def archive_path(settings: Settings, pkg: Package) -> Path:
    return settings.packages_dir / pkg.storage / ARCHIVE_NAME


def package_tar(settings: Settings, pkg: Package, checkpoint: dict | None = None) -> bytes:
    """The package folder as an uncompressed tar with fixed metadata (as refer seals it),
    plus the service's signed audit `checkpoint` as `audit-checkpoint.json` when given."""
    from haven.refer.manifest import CHECKPOINT_NAME

    folder = package_dir(settings, pkg)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        top = tarfile.TarInfo(pkg.country)
        top.type, top.mode, top.mtime = tarfile.DIRTYPE, 0o755, 0
        tar.addfile(top)
        for path in sorted(folder.iterdir()):
            if path.name == CHECKPOINT_NAME:
                continue  # only the service's own, fresh one
            info = tarfile.TarInfo(f"{pkg.country}/{path.name}")
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
            with path.open("rb") as fh:
                tar.addfile(info, fh)
        if checkpoint is not None:
            data = json.dumps(checkpoint, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(f"{pkg.country}/{CHECKPOINT_NAME}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def mark_downloaded(pkg: Package) -> None:
    if pkg.downloaded_at is None:
        pkg.downloaded_at = utcnow()


def acknowledge(pkg: Package) -> None:
    if pkg.downloaded_at is None:
        raise Conflict("download the package before acknowledging it")
    if pkg.acknowledged_at is None:
        pkg.acknowledged_at = utcnow()


def report_outcomes(s: Session, pkg: Package, user_id: int, totals: dict | None,
                    per_subject: list[dict], notes: str) -> list[Outcome]:
    """Append outcome rows: each report is an increment (what happened since the last one)."""
    if pkg.acknowledged_at is None:
        raise Conflict("acknowledge the package before reporting outcomes")
    now = utcnow()
    rows = []
    subject_ids = {sid: rid for sid, rid in s.execute(
        select(Subject.subject_id, Subject.id).where(Subject.package_id == pkg.id))}
    for item in per_subject:
        rid = subject_ids.get(item["subject_id"])
        if rid is None:
            raise BadInput(f"subject {item['subject_id']!r} is not in this package")
        rows.append(Outcome(package_id=pkg.id, subject_row_id=rid, reported_at=now,
                            reported_by=user_id, notes=item.get("notes") or "",
                            **{k: item.get(k) or 0 for k in OUTCOME_FIELDS}))
    if totals is not None or notes:
        rows.append(Outcome(package_id=pkg.id, subject_row_id=None, reported_at=now,
                            reported_by=user_id, notes=notes or "",
                            **{k: (totals or {}).get(k) or 0 for k in OUTCOME_FIELDS}))
    if not rows:
        raise BadInput("nothing to report: give totals, subjects or notes")
    s.add_all(rows)
    pkg.outcomes_at = now
    return rows


def outcome_dict(o: Outcome, subject_id: str | None) -> dict:
    return {"id": o.id, "subject_id": subject_id, "reported_at": o.reported_at.isoformat(),
            "notes": o.notes, **{k: getattr(o, k) for k in OUTCOME_FIELDS}}


def dashboard(s: Session, op: Operation) -> dict:
    """Sums of every outcome row by country and by day, and each country's status."""
    by_country: dict[str, dict] = {}
    by_day: dict[str, dict[str, dict]] = defaultdict(dict)
    pkgs = list(s.scalars(select(Package).where(Package.operation_id == op.id)
                          .order_by(Package.country)))
    for pkg in pkgs:
        by_country[pkg.country] = {"package_id": pkg.id, "status": status(pkg),
                                   "subjects": pkg.subject_count, "reports": 0,
                                   **{k: 0 for k in OUTCOME_FIELDS}}
    rows = s.execute(select(Outcome, Package.country).join(Package, Package.id == Outcome.package_id)
                     .where(Package.operation_id == op.id).order_by(Outcome.reported_at))
    for o, country in rows:
        c = by_country[country]
        c["reports"] += 1
        day = by_day[o.reported_at.date().isoformat()].setdefault(
            country, {k: 0 for k in OUTCOME_FIELDS})
        for k in OUTCOME_FIELDS:
            c[k] += getattr(o, k)
            day[k] += getattr(o, k)
    totals = {k: sum(c[k] for c in by_country.values()) for k in OUTCOME_FIELDS}
    return {"operation": {"id": op.id, "name": op.name}, "totals": totals,
            "by_country": by_country,
            "over_time": [{"date": d, "by_country": v} for d, v in sorted(by_day.items())],
            "status_counts": {st: sum(1 for p in pkgs if status(p) == st) for st in STATUSES}}


def reminders(s: Session, op: Operation, days: int, now: datetime | None = None) -> list[dict]:
    """Packages sent at least `days` ago and still not acknowledged."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    q = (select(Package).where(Package.operation_id == op.id, Package.sent_at.is_not(None),
                               Package.sent_at <= cutoff, Package.acknowledged_at.is_(None))
         .order_by(Package.sent_at))
    now = now or utcnow()
    return [{"package_id": p.id, "country": p.country, "sent_at": p.sent_at.isoformat(),
             "days_waiting": (now - p.sent_at).days, "status": status(p)} for p in s.scalars(q)]


def subject_count(s: Session, pkg: Package) -> int:
    return s.scalar(select(func.count(Subject.id)).where(Subject.package_id == pkg.id)) or 0
