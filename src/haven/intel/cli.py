"""`haven intel …`: load seized lists, resolve them into subjects, attribute subjects to countries."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from haven.terminal import Stages, console, fail as _fail, out, print_json
from haven.errors import HavenError

intel_app = typer.Typer(
    help="Seized customer/account lists → subjects → countries. Each step works in an "
    "operation directory (--op) and can be re-run safely.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)




@intel_app.command()
def load(
    files: list[Path] = typer.Argument(..., help="CSV, XLSX, JSON/JSONL, SQLite or SQL dump files.",
                                       exists=True, dir_okay=False, readable=True),
    op: Path = typer.Option(..., "--op", help="Operation directory (created if missing)."),
    mapping: Optional[Path] = typer.Option(
        None, "--mapping", help="Column mapping YAML; wins over the guessed mapping.",
        exists=True, dir_okay=False),
    table: Optional[str] = typer.Option(
        None, "--table", metavar="NAME", help="Table to read from an SQLite file or SQL dump holding several."),
    as_json: bool = typer.Option(False, "--json", help="Print what was loaded as JSON."),
) -> None:
    """Load record files into an operation, keeping file, row and SHA-256 of every record.

    The column mapping is guessed from the headers and written to OP/mapping.yaml (edit it
    and load again, or pass --mapping). Rows that cannot be read are listed with their line
    numbers in OP/load_problems.jsonl. Loading the same file again replaces its records.

    SQL dumps (mysqldump, pg_dump, sqlite3 .dump) are parsed, never executed. Binary files
    (an image named .csv) are refused. Columns that map to no field are listed and kept.

    Card columns (number, masked number, BIN, last 4, expiry, token, fingerprint, IBAN,
    account) become one payment identity per row; a full card number is kept only as BIN,
    last 4 and a hash under the operation's key (OP/payment.key), never in clear.

    Example: haven intel load customers.csv accounts.xlsx --op op-nightfall

    Example: haven intel load shop.sql --table customers --op op-nightfall
    """
    from haven.intel.load import load_files

    try:
        with Stages() as stages:
            def on_rows(name: str, n: int) -> None:
                stages.stage(f"loading {name}")
                stages.update(completed=n)

            results = load_files(files, op, mapping, on_rows, table=table)
    except HavenError as exc:
        _fail(exc)
        return
    if as_json:
        print_json({"files": results, "mapping": str((op / "mapping.yaml").resolve()),
                    "problems": str((op / "load_problems.jsonl").resolve())})
        return
    table = Table(title="Loaded")
    for col in ("file", "format", "encoding", "rows", "records", "problems", "warnings"):
        table.add_column(col, justify="right" if col in ("rows", "records", "problems") else "left")
    for r in results:
        warn = ", ".join(f"{k} {v}" for k, v in r.warnings.items()) or "-"
        table.add_row(r.file + (" (replaced)" if r.replaced else ""), r.format, r.encoding or "-",
                      str(r.rows), str(r.records), str(r.problems), warn)
    out.print(table)
    problems = sum(r.problems for r in results)
    warnings = sum(sum(r.warnings.values()) for r in results)
    out.print(f"records: {sum(r.records for r in results)}  unreadable rows: {problems}  "
              f"warnings: {warnings}")
    for r in results:
        for note in r.notes:
            out.print(f"  {r.file}: {note}")
        if r.unmapped:
            out.print(f"  {r.file}: {len(r.unmapped)} column(s) mapped to no field (kept as "
                      f"extra; map them in mapping.yaml): {', '.join(r.unmapped)}",
                      soft_wrap=True, markup=False, highlight=False)
    out.print(f"Mapping: {(op / 'mapping.yaml').resolve()}")
    if problems or warnings:
        out.print(f"Problems: {(op / 'load_problems.jsonl').resolve()}")


@intel_app.command()
def resolve(
    op: Path = typer.Option(..., "--op", help="Operation directory holding loaded records."),
    threshold: float = typer.Option(6.0, min=-60, max=60, help="Least match weight (log2 odds, -60 to 60) for a link to merge rows."),
    max_size: int = typer.Option(30, min=1, help="Largest subject the clustering may build."),
    backend: str = typer.Option(
        "duckdb", "--backend",
        help="Where blocked pairs are scored: duckdb (in process) or spark. Same model, same "
        "subjects."),
    master: str = typer.Option(
        "local[2]", "--master",
        help="Spark master URL with --backend spark (local[N], spark://host:7077, yarn …)."),
    spark_conf: Optional[list[str]] = typer.Option(
        None, "--spark-conf", help="KEY=VALUE Spark setting, repeatable "
        "(e.g. spark.driver.memory=6g)."),
    reuse_model: bool = typer.Option(
        False, "--reuse-model",
        help="Score with OP/model.json as it is (e.g. trained by an earlier run) instead of "
        "training again."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Normalise records and resolve them into subjects (Splink; DuckDB or Spark backend).

    Writes OP/model.json (the trained model, every m/u value) and keeps each link's match
    weights per field. Manual decisions in OP/decisions.yaml (see 'haven intel merge' and
    'haven intel split') are applied on every run. The model is trained in process; with
    --backend spark the blocked pairs are scored on Spark with that same model (docs/intel.md).

    Example: haven intel resolve --op op-nightfall
    Example: haven intel resolve --op op-nightfall --backend spark --master 'local[2]'
    """
    from haven.intel.cluster import ClusterParams
    from haven.intel.errors import OperationError
    from haven.intel.backends import BACKENDS, backend_named
    from haven.intel.resolve import resolve_operation

    try:
        if backend not in BACKENDS:
            raise OperationError(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        conf: dict[str, str] = {}
        for item in spark_conf or []:
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise OperationError(f"--spark-conf takes KEY=VALUE, not {item!r}")
            conf[key.strip()] = value.strip()
        with Stages() as stages:
            summary = resolve_operation(
                op, ClusterParams(threshold=threshold, max_size=max_size),
                on_stage=stages.stage,
                backend=backend_named(backend, master=master, conf=conf), reuse_model=reuse_model,
            )
    except HavenError as exc:
        _fail(exc)
        return
    if as_json:
        print_json({**vars(summary), "backend": backend})
        return
    out.print(f"records: {summary.records}  subjects: {summary.subjects}  "
              f"multi-record subjects: {summary.multi_record_subjects}  "
              f"largest subject: {summary.largest_subject}  links used: {summary.links}  "
              f"backend: {backend}")
    if summary.decisions_merge or summary.decisions_split:
        out.print(f"manual decisions applied: {summary.decisions_merge} merge, "
                  f"{summary.decisions_split} split")


@intel_app.command()
def attribute(
    op: Path = typer.Option(..., "--op", help="Operation directory after 'resolve'."),
    tor_exits: list[Path] = typer.Option(
        [], "--tor-exits", exists=True, dir_okay=False, metavar="FILE",
        help="Tor exit list saved beforehand (bulk exit list or exit-addresses); repeatable."),
    hosting_ranges: list[Path] = typer.Option(
        [], "--hosting-ranges", exists=True, dir_okay=False, metavar="FILE",
        help="Hosting/VPN/cloud ranges, one CIDR a line with an optional name; repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Give each subject a country with its evidence, conflicts and fraud indicators.

    Writes OP/subjects.jsonl (one subject a line: subject_id, records, country, confidence,
    countries, evidence, indicators, links …) and OP/attribution.json (IP database, weights).
    Subjects whose evidence is split get no country and review: true. IPs on the given
    Tor exit or hosting-range lists are indicators (tor_exit, hosting_range) and their
    registry country counts little; the lists' names and SHA-256 go into attribution.json.

    Example: haven intel attribute --op op-nightfall

    Example: haven intel attribute --op op-nightfall --tor-exits exits.txt --hosting-ranges cloud.txt
    """
    from haven.intel.anonymisers import load_index
    from haven.intel.attribute import attribute_operation

    try:
        index = load_index(tor_exits, hosting_ranges)
        with Stages() as stages:
            stages.stage("attributing subjects")
            meta = attribute_operation(
                op, on_progress=lambda n, t: stages.update(completed=n, total=t),
                anonymisers=index)
    except HavenError as exc:
        _fail(exc)
        return
    if as_json:
        print_json({**meta, "subjects_file": str((op / "subjects.jsonl").resolve())})
        return
    c = meta["counts"]
    out.print(f"subjects: {c.get('subjects', 0)}  attributed: {c.get('attributed', 0)}  "
              f"review: {c.get('review', 0)}  shared: {c.get('shared', 0)}  "
              f"with indicators: {c.get('with_indicators', 0)}")
    out.print(f"IP database: iptocc {meta['ip_database']['version']}")
    for src in meta.get("anonymiser_lists") or []:
        bad = f", {src['bad_lines']} unreadable lines" if src["bad_lines"] else ""
        out.print(f"{src['kind']} list: {src['file']} ({src['entries']} entries{bad})")
    if meta.get("anonymiser_lists"):
        out.print(f"subjects behind a Tor exit: {c.get('with_tor_exit', 0)}  in a hosting "
                  f"range: {c.get('with_hosting_range', 0)}")
    out.print(f"Subjects: {(op / 'subjects.jsonl').resolve()}")


def _decide(kind: str, op: Path, records: list[str], note: Optional[str]) -> None:
    from haven.intel.decisions import add_decision

    try:
        decision = add_decision(op, kind, records, note)
    except HavenError as exc:
        _fail(exc)
        return
    out.print(f"{kind} {decision.id} recorded in {(op / 'decisions.yaml').resolve()}; run "
              f"'haven intel resolve --op {op}' to apply it ('haven intel decisions undo "
              f"{decision.id} --op {op}' takes it back)")


@intel_app.command()
def merge(
    records: list[str] = typer.Argument(..., help="Records as FILE:ROW (at least two)."),
    op: Path = typer.Option(..., "--op", help="Operation directory."),
    note: Optional[str] = typer.Option(None, help="Why (kept with the decision)."),
) -> None:
    """Record that these records are one subject; survives every re-run of resolve.

    Every record must have been loaded into the operation; records that were not are named
    and nothing is recorded.

    Example: haven intel merge customers.csv:12 accounts.jsonl:40 --op op-nightfall
    """
    _decide("merge", op, records, note)


@intel_app.command()
def split(
    records: list[str] = typer.Argument(..., help="Records as FILE:ROW."),
    op: Path = typer.Option(..., "--op", help="Operation directory."),
    note: Optional[str] = typer.Option(None, help="Why (kept with the decision)."),
) -> None:
    """Record that these records are a subject of their own, apart from all others.

    Every record must have been loaded into the operation; records that were not are named
    and nothing is recorded.

    Example: haven intel split customers.csv:77 --op op-nightfall
    """
    _decide("split", op, records, note)


decisions_app = typer.Typer(
    help="List and undo the analyst's merge/split decisions (OP/decisions.yaml).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
intel_app.add_typer(decisions_app, name="decisions")


@decisions_app.command("list")
def decisions_list(
    op: Path = typer.Option(..., "--op", help="Operation directory.", exists=True,
                            file_okay=False),
    all_: bool = typer.Option(False, "--all", help="Show undone decisions too."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """List the merge/split decisions: id, time, who, kind, records, note.

    Undone decisions are kept in decisions.yaml for the record; --all shows them.

    Example: haven intel decisions list --op op-nightfall
    """
    from dataclasses import asdict

    from haven.intel.decisions import list_decisions
    from haven.terminal import print_json

    try:
        decisions = [d for d in list_decisions(op) if all_ or not d.undone]
    except HavenError as exc:
        _fail(exc)
        return
    if as_json:
        print_json({"decisions": [asdict(d) for d in decisions]})
        return
    if not decisions:
        out.print(f"no decisions in {op} ('haven intel merge' and 'haven intel split' make them)")
        return
    table = Table(title="Decisions")
    cols = ("id", "time", "by", "kind", "records", "note") + (("undone",) if all_ else ())
    for col in cols:
        table.add_column(col, overflow="fold", no_wrap=col in ("id", "time", "undone"))
    for d in decisions:
        row = [d.id, d.at or "-", d.by or "-", d.kind, " ".join(d.records), d.note or ""]
        table.add_row(*row, *([d.undone or ""] if all_ else []))
    out.print(table)


@decisions_app.command("undo")
def decisions_undo(
    decision_id: str = typer.Argument(..., metavar="ID", help="Decision id, as listed (D3)."),
    op: Path = typer.Option(..., "--op", help="Operation directory."),
) -> None:
    """Take back one decision; the next 'haven intel resolve' clusters without it.

    The decision stays in decisions.yaml marked undone (with the time), so the trail is kept.

    Example: haven intel decisions undo D3 --op op-nightfall
    """
    from haven.intel.decisions import undo_decision

    try:
        d = undo_decision(op, decision_id)
    except HavenError as exc:
        _fail(exc)
        return
    out.print(f"{d.kind} {d.id} ({' '.join(d.records)}) undone; run 'haven intel resolve "
              f"--op {op}' to re-cluster without it")
