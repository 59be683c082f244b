"""`haven library ...`: build and maintain a national hash library on disk, attached to scans
with `haven scan --library DIR`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from haven.errors import HavenError
from haven.terminal import console, fail, out, print_json

library_app = typer.Typer(
    help="National hash libraries on disk (exact digests + PDQ), attached to scans with "
    "`haven scan --library DIR`.", no_args_is_help=True)

LIB = typer.Argument(..., help="Library directory.")
FOLLOW = ("Cases that use this library follow the change with `haven rematch --case DIR` "
          "(also run by `haven report` and before the next scan).")


def _read(file: Path, format: str, scheme: Optional[str]):
    from haven.hashsets.formats.registry import read_hashset

    if not file.exists():
        raise HavenError(f"hash-set file {file} does not exist")
    with console.status(f"reading {file}"):
        return read_hashset(str(file), format, **({"scheme": scheme} if scheme else {}))


@library_app.command("create")
def create(
    library: Path = LIB,
    packed_tables: bool = typer.Option(
        False, "--packed-tables",
        help="Keep the PDQ multi-index tables in Elias-Fano form: ~64 instead of ~77 bytes a "
        "hash at 100M uniform hashes, searches ~2x the CPU (docs/library.md)."),
) -> None:
    """Create an empty library directory.

    Example: haven library create /srv/haven/national
    Example: haven library create /srv/haven/national --packed-tables
    """
    from haven.library.national import HashLibrary

    try:
        HashLibrary.create(library, packed_tables=packed_tables).close()
    except HavenError as exc:
        fail(exc)
    out.print(f"Created hash library {library.resolve()}")


@library_app.command("import")
def import_(
    library: Path = LIB,
    file: Path = typer.Argument(..., help="Hash-set file (any format `haven hashsets import` reads)."),
    name: str = typer.Option(..., "--name", help="Set name (importing the same name again replaces it)."),
    format: str = typer.Option("auto", "--format", help="auto, txt, csv, vics, icse, nsrl, "
                               "hma, ncmec-xml, caseuco."),
    known_good: bool = typer.Option(False, "--known-good", help="Known-good list (excluded from review)."),
    scheme: Optional[str] = typer.Option(None, help="Category scheme of a CSV set."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Accept a set with 0 entries "
                                     "(e.g. a re-import that retracts everything)."),
) -> None:
    """Import a hash set into the library (digests into the digest store, PDQ into a new
    multi-index segment saved on disk).

    A file that yields no entry at all (wrong --format, a garbled or empty download) is
    refused and the set left as it was, unless --allow-empty.

    Example: haven library import /srv/haven/national icse-2026-11.csv --name icse
    """
    from haven.hashsets.formats.registry import require_entries
    from haven.hashsets.model import check_set_name
    from haven.library.national import HashLibrary
    from haven.store.case import source_sha256

    try:
        name = check_set_name(name)
        result = _read(file, format, scheme)
        require_entries(file, result, allow_empty)
        with HashLibrary(library, verify=False) as lib, console.status(
                f"storing {len(result.entries):,} entries"):
            n = lib.import_result(result, name=name, source_path=str(file.resolve()),
                                  source_sha256=source_sha256(file),
                                  known_good=known_good or result.known_good_hint)
    except HavenError as exc:
        fail(exc)
    out.print(f"Imported {n:,} entries into '{name}' (format {result.format}).")
    out.print(FOLLOW, soft_wrap=True)
    for note in result.notes:
        out.print(f"Note: {note}", highlight=False, soft_wrap=True, markup=False)
    if result.malformed:
        out.print(f"[yellow]{len(result.malformed)} malformed line(s) skipped[/], e.g. line "
                  f"{result.malformed[0].line}: {result.malformed[0].reason}")


@library_app.command("retract")
def retract(
    library: Path = LIB,
    file: Path = typer.Argument(..., help="The signals to retract (a feed's tombstones)."),
    name: str = typer.Option(..., "--name", help="Set whose entries are retracted."),
    format: str = typer.Option("auto", "--format", help="auto or a format `haven library import` reads."),
) -> None:
    """Retract entries of a set (they stop matching at once; `compact` drops their rows).

    Example: haven library retract /srv/haven/national ncmec-tombstones.xml --name ncmec
    """
    from haven.library.national import HashLibrary

    try:
        result = _read(file, format, None)
        with HashLibrary(library, verify=False) as lib:
            n = lib.retract(result, name=name)
    except HavenError as exc:
        fail(exc)
    out.print(f"Retracted {n:,} entries of '{name}'.")
    out.print(FOLLOW, soft_wrap=True)


@library_app.command("info")
def info(library: Path = LIB, verify: bool = typer.Option(
        True, "--verify/--quick", help="Check every byte's checksum (default) or sizes only."),
        as_json: bool = typer.Option(False, "--json", help="Print sets and figures as JSON.")) -> None:
    """Sets, entries and segments of a library; with --verify (default) every checksum.

    Example: haven library info /srv/haven/national --quick
    """
    from haven.library.national import HashLibrary

    try:
        with console.status("checking the library"), HashLibrary(library, verify=verify) as lib:
            sets, stats = lib.sets(), lib.stats()
    except HavenError as exc:
        fail(exc)
    if as_json:
        print_json({"library": str(library.resolve()), "sets": sets, "stats": stats,
                    "checksums_verified": verify})
        return
    table = Table(title=f"Hash library {library}")
    for col in ("set", "version", "kind", "scheme", "entries", "imported"):
        table.add_column(col)
    for s in sets:
        table.add_row(s["name"], str(s["version"]), "known-good" if s["known_good"] else "known",
                      s["scheme"] or "", f"{s['entry_count']:,}", s["imported_at"])
    out.print(table)
    out.print(f"{stats['entries']:,} live entries; {stats['digest_rows']:,} digest rows; "
              f"{stats['pdq_rows']:,} PDQ rows in {stats['pdq_segments']} segment(s)"
              + ("; checksums verified" if verify else ""))


@library_app.command("compact")
def compact(library: Path = LIB) -> None:
    """Merge PDQ segments into one and compact the digest store (drops replaced and
    retracted rows).

    Example: haven library compact /srv/haven/national
    """
    from haven.library.national import HashLibrary

    try:
        with console.status("compacting"), HashLibrary(library) as lib:
            lib.compact()
            stats = lib.stats()
    except HavenError as exc:
        fail(exc)
    out.print(f"Compacted: {stats['pdq_rows']:,} PDQ rows, {stats['digest_rows']:,} digest rows.")
