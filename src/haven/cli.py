"""The `haven` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from haven.commandline import (
    KEY_FILE_OPTION, PASSWORDS_OPTION, HavenApp, HavenGroup, LazyCommand, hold_collection, settle,
    version_callback,
)
from haven.store.lock import case_lock
from haven.terminal import LogTicker, console, fail as _fail, interrupted, out, print_json
from haven.errors import HavenError

class _Haven(HavenGroup):
    # Imported when they run or when help lists them: `haven scan` never loads the service,
    # the intel resolver or victim identification.
    lazy = {
        "index": LazyCommand("haven.victimid.cli:index_command"),
        "serve": LazyCommand("haven.service.cli:serve"),
        "intel": LazyCommand("haven.intel.cli:intel_app", group=True),
        "library": LazyCommand("haven.library.cli:library_app", group=True),
        "refer": LazyCommand("haven.refer.cli:refer_app", group=True),
        "victimid": LazyCommand("haven.victimid.cli:victimid_app", group=True),
        "service": LazyCommand("haven.service.cli:service_app", group=True),
        "audit": LazyCommand("haven.service.cli:audit_app", group=True),
    }


app = HavenApp(
    name="haven",
    cls=_Haven,
    help="haven: triage seized media offline. Scan evidence by content, match known hash sets, "
    "surface fresh material.\n\nExample: haven scan /evidence/laptop --case cases/op-rose",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _haven(version: bool = typer.Option(
        False, "--version", "-V", is_eager=True, callback=version_callback,
        help="Print the version and exit.")) -> None:
    """haven: triage seized media offline."""
hashsets_app = typer.Typer(help="Import, list and export hash sets of a case.", no_args_is_help=True)
app.add_typer(hashsets_app, name="hashsets")


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def print_summary(summary: dict, case_dir: Path) -> None:
    table = Table(title="Findings")
    table.add_column("finding")
    table.add_column("items", justify="right")
    table.add_column("distinct contents", justify="right")
    for k, v in summary["by_finding"].items():
        table.add_row(k, str(v), str(summary["distinct_by_finding"][k]))
    table.add_row("total", str(summary["items"]), str(summary["distinct_contents"]), style="bold")
    out.print(table)
    if summary["extension_mismatches"]:
        out.print(f"Extension mismatches: {summary['extension_mismatches']}")
    out.print(f"Report: {case_dir.resolve() / 'report.html'}")
    out.print(f"Findings: {case_dir.resolve() / 'findings.jsonl'}")


def recorded_libraries(store, given: list[Path] | None = None) -> list:
    """The national libraries to re-match with: those given, plus those the case's sets were
    attached from (`scan --library`) that are still where they were. A recorded library that
    cannot be opened is skipped with a warning (its matches stay as they are); a given one
    that cannot is an error."""
    from sqlalchemy import select

    from haven.library.national import HashLibrary
    from haven.store.models import HashSet

    given_roots = {Path(p).resolve() for p in given or ()}
    libs = [HashLibrary(root, verify=False) for root in sorted(given_roots)]
    with store.session() as s:
        recorded = set(s.scalars(select(HashSet.source_path).where(HashSet.format == "library")))
    for root in sorted(Path(r) for r in recorded):
        if root in given_roots or not (root / "entries.db").is_file():
            continue
        try:
            libs.append(HashLibrary(root, verify=False))
        except HavenError as exc:
            console.print(f"warning: library {root} not used for re-matching: {exc}",
                          highlight=False, markup=False)
    return libs


def print_framing_capped(known_pdqs: int) -> None:
    """Say that the hash-only hypotheses were left out: edited copies are found less often."""
    from haven.match.framing import MAX_ROWS

    out.print(f"[yellow]Crops, banners and logos were not searched for:[/] the case's hash sets "
              f"hold {known_pdqs:,} known PDQ hashes, more than {MAX_ROWS:,} (the hypotheses' "
              "cost grows with every known hash: docs/hash-only.md); edited copies were matched "
              "by plain PDQ only", soft_wrap=True)


def print_rematch(result, quiet_if_nothing: bool = True, full: bool = False) -> None:
    """One or two lines on what re-matching changed (`full`: `rematch --all`, which looks
    every entry up again, so no set is "new")."""
    if (quiet_if_nothing and not result.items_checked and not result.skipped_libraries
            and not result.unhashed and not result.without_hypotheses
            and not result.framing_capped):
        return
    if full:
        sets = "every entry of " + (", ".join(f"{c.name} v{c.to_version}" for c in result.sets)
                                    or "no set")
    else:
        sets = ", ".join(
            f"{c.name} {'v' + str(c.from_version) if c.from_version else '(new)'}→v{c.to_version}"
            for c in result.sets) or "no set changed"
    changes = "; ".join(f"{k}: {v}" for k, v in sorted(result.changes.items()))
    out.print(f"Re-matched ({sets}): {result.items_checked} item(s) checked, "
              f"{result.changed} finding(s) changed{' (' + changes + ')' if changes else ''}, "
              f"matches +{result.matches_added} −{result.matches_removed} "
              f"in {result.seconds:.1f} s.", soft_wrap=True)
    if result.framing_capped:
        print_framing_capped(result.framing_capped)
    if result.without_hypotheses:
        out.print(f"[yellow]{result.without_hypotheses} item(s) have no hypothesis data kept "
                  "(scanned before it was kept, or with --no-keep-hypotheses):[/] re-matched with their plain PDQ hashes only; `haven scan "
                  "--rehash` searches them with the framing hypotheses (crops, banners, logos)",
                  soft_wrap=True)
    for name, n in sorted(result.unhashed.items()):
        out.print(f"[yellow]{n} item(s) were scanned without {name.upper()}:[/] entries "
                  f"listing {name.upper()} alone cannot find them until `haven scan --rehash` "
                  "reads their evidence again", soft_wrap=True)
    if result.skipped_libraries:
        out.print(f"[yellow]not re-matched (library not at hand):[/] "
                  f"{', '.join(result.skipped_libraries)}", soft_wrap=True)


def follow_known_material(store, libraries: list[Path] | None = None, *, full: bool = False,
                          threshold: int = 31):
    """Re-match a case after its known material changed and rewrite its report files if it
    has them; returns the `RematchResult`."""
    from haven.match.rematch import rematch as run_rematch
    from haven.report.findings import write_reports

    libs = recorded_libraries(store, libraries)
    try:
        with console.status("re-matching findings"):
            result = run_rematch(store, libraries=libs, full=full, threshold=threshold)
    except KeyboardInterrupt:
        # The sets are stored; what a re-match had not finished is redone by the next one
        # (the versions the findings follow are recorded only when it completes).
        console.print("interrupted: the hash sets are stored but the findings are not "
                      f"re-matched yet; run `haven rematch --case {store.dir}` (the next scan "
                      "or report runs it too)", highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    finally:
        for lib in libs:
            lib.close()
    if (store.dir / "summary.json").exists() and (result.items_checked or result.sets):
        write_reports(store)
    return result


@app.command()
def scan(
    evidence: list[Path] = typer.Argument(..., help="Folders, files, archives or ISO images."),
    case: Path = typer.Option(..., "--case", help="Case directory (created if missing)."),
    hashset: Optional[list[str]] = typer.Option(
        None, "--hashset", help="Hash set to match (repeatable; default: every set in the case)."
    ),
    threshold: int = typer.Option(31, min=0, max=256, help="PDQ Hamming distance for a near match."),
    library: Optional[list[Path]] = typer.Option(
        None, "--library", help="National hash library directory (`haven library`) to match "
        "against as well (repeatable).",
    ),
    match_threads: int = typer.Option(
        1, "--match-threads", min=1,
        help="Threads for each PDQ search in a --library: each takes all of an item's hashes and "
        "a share of the index's probes and crowd rows (worth it with 100M-hash libraries and "
        "idle cores, e.g. a Spark driver).",
    ),
    workers: int = typer.Option(0, min=0, help="Worker processes (0: one per CPU)."),
    full_res: bool = typer.Option(
        False, "--full-res", help="Hash images at full resolution (slower; the fast path is the default)."
    ),
    video_fps: float = typer.Option(1.0, help="Video frames hashed per second (vPDQ)."),
    max_ratio: float = typer.Option(200.0, help="Archive bomb guard: largest expanded/compressed ratio."),
    max_item_size: int = typer.Option(64 * 1024**3, help="Archive bomb guard: largest extracted item, bytes."),
    max_total: int = typer.Option(1024**4, help="Archive bomb guard: most bytes one archive may expand to."),
    max_depth: int = typer.Option(16, help="Deepest nesting of containers."),
    passwords: Optional[Path] = PASSWORDS_OPTION,
    key_file: Optional[list[Path]] = KEY_FILE_OPTION,
    engine: str = typer.Option(
        "local", "--engine", help="local (worker processes on this machine) or spark (Apache Spark)."
    ),
    master: str = typer.Option(
        "local[2]", "--master", help="Spark master URL with --engine spark, e.g. spark://host:7077."
    ),
    rehash: bool = typer.Option(
        False, "--rehash",
        help="Analyse every item again, changed or not (a rescan otherwise re-analyses only "
        "items whose size, times or CRC changed).",
    ),
    keep_hypotheses: bool = typer.Option(
        True, "--keep-hypotheses/--no-keep-hypotheses",
        help="Keep what each image's crop/banner/logo hypotheses need in CASE/hypotheses.db "
        "(~15-41 KB per image) so hash-only lists imported later find edited copies by "
        "re-matching; --no-keep-hypotheses saves the space, and such lists then need a rescan.",
    ),
    victim_id: bool = typer.Option(
        False, "--victim-id",
        help="After the scan, index the same evidence for victim identification (as `haven index`).",
    ),
    victim_id_parts: Optional[str] = typer.Option(
        None, help="With --victim-id: parts to index, comma-separated (default: all, as `haven index`).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Scan evidence into a case: type by content, digests, PDQ, matching, findings.

    Example: haven scan /evidence/laptop /evidence/cd1.iso --case cases/op-rose

    On a Spark cluster (evidence and case directory on storage every executor mounts at the
    same path; see docs/spark.md):
    haven scan /mnt/evidence/laptop --case /mnt/cases/op-rose --engine spark --master spark://head:7077

    Writes CASE/findings.jsonl, findings.csv, summary.json and report.html. Run it again after
    an interruption, or after the evidence changed: it skips what is stored unchanged and
    analyses again what changed (the earlier finding is kept in its history). --rehash
    analyses everything again:
    haven scan /evidence/laptop --case cases/op-rose --rehash

    With --victim-id the evidence is then indexed for victim identification too:
    haven scan /evidence/laptop --case cases/op-rose --victim-id

    Encrypted volumes and archives (BitLocker, LUKS, FileVault, zip, 7z) are tried with every
    password and key file given; what stays locked is an error finding naming what to give:
    haven scan /evidence/laptop.E01 --case cases/op-rose --passwords pw.txt --key-file D.BEK
    """
    hold_collection()  # until `settle()` below, this only loads modules
    from haven.scan.census import has_files
    from haven.scan.workers import start_workers

    if engine not in ("local", "spark"):
        _fail(HavenError(f"unknown engine {engine!r}: use local or spark"))
    for ev in evidence:
        if not ev.exists():
            _fail(HavenError(f"evidence {ev} does not exist"))
        if not has_files(ev):
            _fail(HavenError(f"no files found in evidence {ev}"))
    for lib in library or ():
        if not (lib / "entries.db").is_file():  # before a case directory is made for nothing
            _fail(HavenError(f"{lib} is not a hash library (no entries.db); create one with "
                             "`haven library create`"))
    # The workers start before anything else (forked from this one-thread process, which
    # imports the analysis code once for all of them), and analyse while this process loads
    # the store and the hash sets.
    pool = start_workers(workers) if engine == "local" else None
    head = None
    if pool is not None:
        # A new case: the workers get the first files now, not once the store is open.
        from haven.scan.headstart import head_start

        head = head_start(pool, [str(e) for e in evidence], case, fast=not full_res,
                          video_fps=video_fps, framing=keep_hypotheses)

    from haven.evidence.base import Limits
    from haven.evidence.keys import load_keyring
    from haven.report.findings import write_reports
    from haven.report.html import load_template
    from haven.scan.pipeline import ScanOptions, ScanProgress, remove_stale_workdirs
    from haven.scan.pipeline import scan as run_scan
    from haven.store.case import CaseStore

    # the progress display too, after the fork: before it, every import delays the first photo
    from rich.progress import (
        BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn,
        TimeRemainingColumn,
    )

    load_template()  # the workers have files to analyse meanwhile
    settle()  # before the store: what the scan makes from here on is collected as usual

    last = ScanProgress()
    try:
        keys = load_keyring(passwords, key_file or ())
        store = CaseStore(case, create=True, evidence=evidence)
        with case_lock(store.dir, "scanned"):
            remove_stale_workdirs(store.dir)  # a killed scan's copies of container members
            # Victim-ID code is imported only on request; the indexer is built before the scan so
            # a missing face model or Tesseract stops the run before any evidence is read.
            limits = Limits(max_ratio=max_ratio, max_item_size=max_item_size,
                            max_total_extracted=max_total, max_depth=max_depth, keys=keys)
            indexer = _victim_indexer(store, victim_id_parts, limits) if victim_id else None
            options = ScanOptions(
                hashsets=hashset or None, threshold=threshold, workers=workers, fast=not full_res,
                video_fps=video_fps, libraries=[str(p) for p in library or ()],
                match_threads=match_threads, rehash=rehash, limits=limits,
                keep_hypotheses=keep_hypotheses,
            )
            # Off a terminal the bar draws nothing until its last line (LogTicker writes the
            # log lines): no refresh thread rebuilding it ten times a second meanwhile.
            with Progress(
                SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                TaskProgressColumn(), TextColumn("{task.fields[stats]}"), TimeElapsedColumn(),
                TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
                auto_refresh=console.is_terminal,
            ) as bar:
                task = bar.add_task("scanning", total=None, stats="")

                ticker = LogTicker()

                def show(p) -> None:
                    nonlocal last
                    last = p
                    status = scan_status(p)
                    bar.update(task, description=f"scanning {p.seizure}", **status)
                    ticker.tick(f"scanning {p.seizure}: {status['stats']}")

                if engine == "spark":
                    from haven.scan.spark import scan_spark

                    result = scan_spark([str(e) for e in evidence], store, options, master, show)
                else:
                    result = run_scan([str(e) for e in evidence], store, options, show, pool=pool,
                                      head_start=head)
                show(result)
                bar.update(task, total=max(result.done_bytes, 1), completed=max(result.done_bytes, 1))
            for r in result.rematched:
                if r.items_checked:
                    print_rematch(r)
            summary = write_reports(store)
            if indexer is not None:
                with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"),
                              TimeElapsedColumn(), console=console) as bar:
                    task = bar.add_task("victim-ID index", total=None)
                    vstats = indexer.run([str(e) for e in evidence],
                                         lambda st, path: bar.update(task, description=f"victim-ID index: {st.seen} items"))
    except HavenError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        interrupted(f"{last.saved:,} items saved")
    finally:
        if pool is not None:  # stopped by the scan already, unless it never ran
            pool.shutdown(cancel_futures=True)
    if as_json:
        data = {"case": str(case.resolve()), "summary": summary,
                "scan": {"items": result.items, "skipped": result.skipped,
                         "changed": result.changed, "bytes": result.bytes,
                         "problems": result.problems}}
        if indexer is not None:
            data["victim_id"] = {k: getattr(vstats, k) for k in
                                 ("indexed", "skipped", "errors", "faces", "texts")}
        print_json(data)
        return
    print_summary(summary, case)
    if result.framing_capped:
        print_framing_capped(result.framing_capped)
    if result.library_pdqs:
        out.print(f"[yellow]The libraries' {result.library_pdqs:,} PDQ hashes were matched as they "
                  "are (rotations and mirrors included):[/] crops, banners and logos are searched "
                  "for against a case's own hash sets only (import a hash-only list into the case "
                  "with `haven hashsets import`; docs/hash-only.md)", soft_wrap=True)
    if indexer is not None:
        out.print(f"Victim-ID index: indexed {vstats.indexed}, skipped {vstats.skipped}, "
                  f"with errors {vstats.errors}; faces {vstats.faces}, images with text {vstats.texts}")


def scan_status(p) -> dict:
    """Progress-bar fields of a scan: bytes done of the bytes counted so far, items, findings."""
    counts = " ".join(f"{k}={v}" for k, v in sorted(p.counts.items()))
    expected = p.expected_items
    approx = "~" if p.counting else ""
    of = f"/{approx}{expected:,}" if expected else ""
    stats = (f"{p.items + p.skipped:,}{of} items, {_human(p.done_bytes)}, skipped {p.skipped:,}"
             + f", changed {p.changed:,}"
             + (f", missing {p.missing:,}" if p.missing else "")
             + (f" | {counts}" if counts else ""))
    total = (max(p.expected_bytes, p.done_bytes) or None) if p.disk_files else None
    return {"total": total, "completed": p.done_bytes, "stats": stats}


def _victim_indexer(store, parts: Optional[str], limits):
    from haven.victimid.indexer import IndexOptions, Indexer
    from haven.victimid.store import VictimStore

    options = IndexOptions(workers=0)  # after the scan: every core
    if parts:
        options.parts = tuple(p.strip() for p in parts.split(",") if p.strip())
    return Indexer(VictimStore(store), options, limits)


@app.command()
def report(
    case: Path = typer.Option(..., "--case", help="Case directory."),
    out_dir: Optional[Path] = typer.Option(
        None, "--out", help="Write the report files here instead of the case directory (e.g. "
        "for a case on write-protected media)."),
    thumbnails: bool = typer.Option(
        False, "--thumbnails", help="Embed small thumbnails of the listed media in report.html, "
        "blurred and greyscale until clicked (those `haven index` made; the file then holds "
        "pictures and says so)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Rewrite the report files of a case from its store.

    Example: haven report --case cases/op-rose

    With pictures for the analyst (blurred until clicked): haven report --case cases/op-rose --thumbnails

    The findings are first re-matched if the case's hash sets (or the libraries it was
    scanned with) changed since they were last matched, as `haven rematch` does.

    A case on write-protected media is read as it is (no re-matching) and reported elsewhere:
    haven report --case /media/dvd/op-rose --out reports/op-rose
    """
    from haven.match.rematch import rematch as run_rematch
    from haven.report.findings import write_reports
    from haven.store.case import CaseStore

    try:
        store = CaseStore(case)
        target = out_dir or store.dir
        if out_dir is None and store.read_only:
            raise HavenError(f"case {case} is read-only (write-protected storage): give "
                             "--out DIR for the report files")
        if out_dir is not None:
            store.check_output(out_dir)
            if out_dir.exists() and not out_dir.is_dir():
                raise HavenError(f"--out {out_dir} is a file: give a directory for the report files")
            out_dir.mkdir(parents=True, exist_ok=True)
        if store.read_only:
            console.print("note: the case is read-only: findings are reported as stored, "
                          "not re-matched against changed hash sets", highlight=False)
        else:
            libs = recorded_libraries(store)
            try:
                with console.status("checking the hash sets"):
                    result = run_rematch(store, libraries=libs)
            finally:
                for lib in libs:
                    lib.close()
            print_rematch(result)
        summary = write_reports(store, target, thumbnails=thumbnails)
    except HavenError as exc:
        _fail(exc)
    if as_json:
        print_json({"case": str(case.resolve()), "reports": str(target.resolve()),
                    "summary": summary})
        return
    print_summary(summary, target)


@app.command()
def rematch(
    case: Path = typer.Option(..., "--case", help="Case directory."),
    library: Optional[list[Path]] = typer.Option(
        None, "--library", help="National hash library to re-match with as well (repeatable; "
        "the libraries the case was scanned with are used when they are still in place).",
    ),
    threshold: int = typer.Option(31, min=0, max=256, help="PDQ Hamming distance for a near match."),
    full: bool = typer.Option(
        False, "--all", help="Look every entry of every set up again among the items, not only what "
        "changed (slow with large sets; the evidence is still not read)."),
    as_json: bool = typer.Option(False, "--json", help="Print what changed as JSON."),
) -> None:
    """Re-decide a case's findings after its known material changed, without reading evidence.

    Example: haven rematch --case cases/op-rose

    Runs by itself after `hashsets import`, `hashsets add-media`, before and after `scan` and
    in `report`; run it after `haven library import|retract` on a library the case uses:
    haven rematch --case cases/op-rose --library /srv/haven/national

    Only what changed is looked at: entries a new version no longer lists (or a library
    retracted) lose their matches, new entries are looked up among the items' stored digests
    and PDQ hashes, and new hash-only PDQs also with the crop/banner/logo hypotheses, from what
    the scan kept per image (CASE/hypotheses.db). Changed findings are listed in findings.jsonl
    under `history`.
    """
    from haven.store.case import CaseStore

    try:
        store = CaseStore(case)
        with case_lock(store.dir, "re-matched"):
            result = follow_known_material(store, library, full=full, threshold=threshold)
    except HavenError as exc:
        _fail(exc)
    if as_json:
        print_json({**vars(result), "changed": result.changed})
        return
    print_rematch(result, quiet_if_nothing=False, full=full)


@hashsets_app.command("import")
def hashsets_import(
    file: Path = typer.Argument(..., help="Hash-set file (or a directory of vPDQ text files)."),
    name: str = typer.Option(..., "--name", help="Name of the set in the case (re-import replaces it)."),
    case: Path = typer.Option(..., "--case", help="Case directory (created if missing)."),
    format: str = typer.Option("auto", "--format", help="auto, txt, csv, vics, icse, nsrl, "
                               "hma, ncmec-xml, caseuco or vpdq."),
    known_good: bool = typer.Option(False, "--known-good", help="Known-good list (excluded from review)."),
    scheme: Optional[str] = typer.Option(None, help="Category scheme of a CSV set (e.g. industry, baseline)."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Accept a set with 0 entries "
                                     "(e.g. a re-import that retracts everything)."),
) -> None:
    """Import a hash set into a case.

    Example: haven hashsets import vics_export.json --name projectvic --case cases/op-rose

    Formats: plain md5/sha1/sha256/sha512 lists (one hash a line, or md5sum/sha256sum
    output), CSV with a header (md5, sha1, sha256, sha512, pdq or a generic hash column,
    category, series; a CSV without one is refused, saying what to add), Project VIC VICS JSON 1.x/2.0, INTERPOL ICSE CSV, NSRL RDS v3 SQLite (known-good),
    python-threatexchange/HMA signal files, NCMEC hash-sharing XML, CASE/UCO JSON-LD (the
    file hashes of a CASE export), vPDQ text (one file per video, or a directory of them).
    Format names are case-blind. Malformed lines are counted and listed; the rest imports. A
    file that yields no entry at all is refused (nothing is stored) unless --allow-empty.
    """
    from haven.hashsets.formats.registry import read_hashset, require_entries
    from haven.hashsets.model import check_set_name
    from haven.store.case import CaseStore

    if not file.exists():
        _fail(HavenError(f"hash-set file {file} does not exist"))
    try:
        name = check_set_name(name)
        kwargs = {"scheme": scheme} if scheme else {}
        with console.status(f"reading {file}"):
            result = read_hashset(str(file), format, **kwargs)
        require_entries(file, result, allow_empty)
        is_good = known_good or result.known_good_hint
        store = CaseStore(case, create=True)
        with case_lock(store.dir, "updated"):
            with console.status(f"storing {len(result.entries)} entries"):
                hs = store.import_hashset(result, name=name, source_path=str(file),
                                          known_good=is_good)
            rematched = follow_known_material(store)
    except HavenError as exc:
        _fail(exc)
    kind = "known-good" if is_good else "known"
    out.print(
        f"Imported {hs.entry_count} entries into {kind} hash set '{name}' "
        f"(format {result.format}, version {hs.version})."
    )
    if hs.version > 1:
        c = hs.import_changes
        out.print(f"Against version {hs.version - 1}: {c['added']} added, {c['removed']} removed, "
                  f"{c['kept']} kept ({c['relabelled']} with new labels).", soft_wrap=True)
    print_rematch(rematched)
    for note in result.notes:
        out.print(f"Note: {escape(note)}", highlight=False, soft_wrap=True)
    if result.malformed:
        out.print(f"[yellow]{len(result.malformed)} malformed line(s) skipped:[/]")
        for m in result.malformed[:20]:
            out.print(f"  line {m.line}: {escape(m.reason)}", highlight=False)
        if len(result.malformed) > 20:
            out.print(f"  … and {len(result.malformed) - 20} more (see `haven hashsets list --problems`)")


@hashsets_app.command("add-media")
def hashsets_add_media(
    media: list[Path] = typer.Argument(..., help="Folders, files or archives of known images/videos."),
    name: str = typer.Option(..., "--name", help="Name of the set in the case (re-adding replaces it)."),
    case: Path = typer.Option(..., "--case", help="Case directory (created if missing)."),
    category: Optional[str] = typer.Option(None, help="Category given to every entry."),
    scheme: Optional[str] = typer.Option(None, help="Scheme of that category (e.g. vics-us)."),
    series: Optional[str] = typer.Option(None, help="Series given to every entry."),
    known_good: bool = typer.Option(False, "--known-good", help="Known-good media (excluded from review)."),
) -> None:
    """Make a known hash set from media at hand, enrolled for robust near matching.

    Example: haven hashsets add-media /library/series-rose --name rose --series ROSE --case cases/op-rose

    Each image is enrolled with its digests, PDQ and crop-window hashes (finds copies cropped by
    a few percent or carrying a banner); each video with its digests and vPDQ frame hashes.
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from haven.hashsets.media import enrol_media
    from haven.hashsets.model import check_set_name
    from haven.store.case import CaseStore, keep_apart

    for m in media:
        if not m.exists():
            _fail(HavenError(f"{m} does not exist"))
    try:
        name = check_set_name(name)
        keep_apart(case, media)  # before reading anything
        with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"),
                      TextColumn("{task.completed} items"), console=console) as bar:
            task = bar.add_task("enrolling", total=None)
            result = enrol_media([str(m) for m in media], category=category, scheme=scheme,
                                 series=series, on_item=lambda _p: bar.advance(task))
        store = CaseStore(case, create=True, evidence=media)
        with case_lock(store.dir, "updated"):
            hs = store.import_hashset(result, name=name, source_path=str(media[0]),
                                      known_good=known_good)
            rematched = follow_known_material(store)
    except HavenError as exc:
        _fail(exc)
    out.print(f"Enrolled {hs.entry_count} media into hash set '{name}' (version {hs.version}).")
    print_rematch(rematched)
    for m in result.malformed[:20]:
        out.print(f"  [yellow]{m.reason}[/]")


@hashsets_app.command("list")
def hashsets_list(
    case: Path = typer.Option(..., "--case", help="Case directory."),
    problems: bool = typer.Option(False, "--problems", help="Also list malformed lines."),
    as_json: bool = typer.Option(False, "--json", help="Print the sets as JSON."),
) -> None:
    """List the hash sets of a case.

    Example: haven hashsets list --case cases/op-rose
    """
    from haven.store.case import CaseStore

    try:
        store = CaseStore(case)
    except HavenError as exc:
        _fail(exc)
    sets = store.hashsets()
    if as_json:
        print_json([{"name": h.name, "kind": "known-good" if h.known_good else "known",
                     "format": h.format, "scheme": h.scheme, "version": h.version,
                     "entries": h.entry_count, "malformed": h.malformed_count,
                     "imported_at": h.imported_at.isoformat(timespec="seconds"),
                     **({"problems": [{"line": p.line, "reason": p.reason}
                                      for p in store.import_problems(h.name)]}
                        if problems else {})} for h in sets])
        return
    table = Table(title="Hash sets")
    for col in ("name", "kind", "format", "scheme", "version", "entries", "malformed", "imported"):
        table.add_column(col)
    for h in sets:
        table.add_row(h.name, "known-good" if h.known_good else "known", h.format, h.scheme or "",
                      str(h.version), str(h.entry_count), str(h.malformed_count),
                      h.imported_at.isoformat(timespec="seconds"))
    out.print(table)
    if problems:
        for h in sets:
            for p in store.import_problems(h.name):
                out.print(f"{h.name}: line {p.line}: {escape(p.reason)}", highlight=False)


@hashsets_app.command("export")
def hashsets_export(
    case: Path = typer.Option(..., "--case", help="Case directory."),
    out_file: Path = typer.Option(..., "--out", help="File (vics) or directory (vpdq) to write."),
    format: str = typer.Option("vics", "--format", help="vics (VICS 2.0 case export) or vpdq (video hashes)."),
    region: str = typer.Option("Default", help="VICS category region: Default, US or UK."),
) -> None:
    """Export a case's findings as a hash set.

    Example: haven hashsets export --case cases/op-rose --format vics --out op-rose.vics.json

    With --format vics, images and videos are exported (not containers, text or known-good
    items); their categories come from matches under the --region's scheme.

    With --format vpdq, every hashed video becomes `<sha256>.txt` in the --out directory, in the
    vPDQ text format that `haven hashsets import --format vpdq` reads.
    """
    from haven.hashsets.exports import ExportRequest, get_export
    from haven.report.findings import iter_findings
    from haven.store.case import CaseStore

    try:
        export = get_export(format)
        request = export.prepare(ExportRequest(out_file, case.name, region))
        store = CaseStore(case)
        store.check_output(out_file)
        for line in export.write(iter_findings(store), request):
            out.print(line)
    except HavenError as exc:
        _fail(exc)


@app.command()
def demo(
    out_dir: Path = typer.Option(Path("demo-out"), "--out", help="Where to build the demo."),
    workers: int = typer.Option(0, min=0, help="Worker processes (0: one per CPU)."),
) -> None:
    """Build a small benign demo seizure and hash set, scan it and print the summary.

    Example: haven demo --out demo-out
    """
    from haven.demo import build_demo

    try:
        paths = build_demo(out_dir)
    except HavenError as exc:
        _fail(exc)
    out.print(f"Demo seizure: {paths['evidence']}")
    case = paths["case"]
    for name, file, extra in paths["hashsets"]:
        args = ["hashsets", "import", str(file), "--name", name, "--case", str(case), *extra]
        _invoke(args)
    _invoke(["scan", str(paths["evidence"]), "--case", str(case), "--workers", str(workers)])


def _invoke(args: list[str]) -> None:
    from typer.main import get_command

    try:
        get_command(app).main(args=args, standalone_mode=False)
    except typer.Exit as exc:
        if exc.exit_code:
            raise


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()


