"""`haven refer …`: per-country referral packages from an attributed operation."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from haven.terminal import Stages, console, fail as _fail, out, print_json
from haven.errors import HavenError

refer_app = typer.Typer(
    help="Referral packages: one signed package per country from an attributed operation "
    "(after 'haven intel attribute'); verify them; see what goes where.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)




def _no_legislation(op: Path, path: Optional[Path], codes: Optional[list[str]]) -> frozenset[str]:
    from haven.refer.routing import default_no_legislation, read_no_legislation

    return read_no_legislation(path or default_no_legislation(op), codes or [])


_NO_LEG_HELP = ("File of countries with no legislation flag (alpha-2, one a line); default "
                "OP/no_legislation.txt when present. Their subjects go to the coordinator.")


@refer_app.command()
def build(
    op: Path = typer.Option(..., "--op", help="Operation directory after 'haven intel attribute'.",
                            exists=True, file_okay=False),
    out_dir: Path = typer.Option(..., "--out", help="Folder for the packages (created)."),
    countries_keys: Optional[Path] = typer.Option(
        None, "--countries-keys", help="Folder of age recipients, <CC>.age.pub (XX.age.pub for "
        "the coordinator); a package whose file exists is also written as <CC>.tar.age, one "
        "without is withheld (not written) unless named in --allow-plaintext.",
        exists=True, file_okay=False),
    allow_plaintext: Optional[list[str]] = typer.Option(
        None, "--allow-plaintext", metavar="CC,...",
        help="With --countries-keys: packages to write as plain folders although they have no "
        "key (comma-separated alpha-2 codes, XX for the coordinator; repeatable)."),
    signing_key: Optional[Path] = typer.Option(
        None, "--signing-key", help="Ed25519 private key (PEM/OpenSSH); default "
        "OP/keys/signing-ed25519.pem, made on first use.", exists=True, dir_okay=False),
    no_legislation: Optional[Path] = typer.Option(None, "--no-legislation", help=_NO_LEG_HELP,
                                                  exists=True, dir_okay=False),
    no_legislation_country: Optional[list[str]] = typer.Option(
        None, "--no-legislation-country", help="A country with no legislation flag (repeatable)."),
    timestamp: Optional[str] = typer.Option(
        None, "--timestamp", help="Package time (ISO 8601); default $SOURCE_DATE_EPOCH, else "
        "the time subjects.jsonl was written, so rebuilds give identical files."),
    encrypted_only: bool = typer.Option(
        False, "--encrypted-only", help="Keep only the .tar.age of packages that have a key."),
    workers: int = typer.Option(1, min=1, help="Processes building packages in parallel."),
    pdf: bool = typer.Option(False, "--pdf", help="Also write summary.pdf (fpdf2 and a "
                             "Unicode font needed; ~0.4 s more per package)."),
    as_json: bool = typer.Option(False, "--json", help="Print the packages as JSON."),
) -> None:
    """Build one package per country: CSV, XLSX, JSON, CASE/UCO JSON-LD, HTML (and PDF) summary,
    manifest.json (SHA-256 of every file, provenance) and manifest.sig (Ed25519).

    A country gets its own subjects only; subjects with several countries go to each
    (marked shared); review, unattributed and no-legislation subjects go to the coordinator
    package XX.

    With --countries-keys, a package is never left as a plain folder of personal data for
    want of a key: it is withheld and the table says so; --allow-plaintext names the ones
    you accept in clear (e.g. handed over on an encrypted drive).

    Example: haven refer build --op op-nightfall --out packages --countries-keys keys/

    Example: haven refer build --op op-nightfall --out packages --countries-keys keys/ --allow-plaintext XX,JM
    """
    from haven.refer.build import BuildOptions, build_packages
    from haven.refer.i18n import language_for
    from haven.refer.routing import country_name

    try:
        options = BuildOptions(
            keys_dir=countries_keys, signing_key=signing_key,
            no_legislation=_no_legislation(op, no_legislation, no_legislation_country),
            timestamp=timestamp, encrypted_only=encrypted_only, workers=workers, pdf=pdf,
            allow_plaintext=_country_codes(allow_plaintext, "--allow-plaintext"))
        with Stages() as stages:
            def on_progress(what: str, n: int, total: int) -> None:
                # one stage for all packages: the running one is named on the bar
                stage = "building packages" if what.startswith("package ") else what
                stages.stage(stage)
                stages.update(completed=n, total=total or None,
                              description=f"{stage}: {what}" if stage != what else None)

            summary = build_packages(op, out_dir, options, on_progress)
    except HavenError as exc:
        _fail(exc)
        return
    if as_json:
        print_json({"out": str(out_dir.resolve()), "built_at": summary.built_at,
                    "signer_key_id": summary.signer_key_id,
                    "signer_path": str(summary.signer_path), "key_created": summary.key_created,
                    "packages": summary.packages, "withheld": summary.withheld,
                    "kept_aside": summary.kept_aside, "notes": summary.notes})
        return
    table = Table(title=f"Packages in {out_dir}")
    for col in ("package", "country", "language", "subjects", "shared", "records", "archive",
                "delivery"):
        # the delivery column is what the operator must read: never cut it short
        table.add_column(col, justify="right" if col in ("subjects", "shared", "records")
                         else "left", no_wrap=col == "delivery", overflow="fold")
    delivery = {"sealed": "sealed", "plaintext": "plain",
                "plaintext-allowed": "plain (allowed)"}
    rows = [(p.code, p.name, p.language, str(p.subjects), str(p.shared), str(p.records),
             p.archive or "-", delivery.get(p.delivery, p.delivery)
             + ("+folder" if p.delivery == "sealed" and p.directory else ""))
            for p in summary.packages]
    rows += [(code, country_name(code), language_for(code), str(n), "-", "-", "-",
              "WITHHELD (no key)") for code, n in summary.withheld.items()]
    for row in sorted(rows):
        table.add_row(*row)
    out.print(table)
    out.print(f"packages: {len(summary.packages)}  built at: {summary.built_at}  signed by key "
              f"{summary.signer_key_id} ({summary.signer_path}"
              f"{', new' if summary.key_created else ''})")
    for cc, n in summary.kept_aside.items():
        out.print(f"kept aside (no legislation flag): {cc}: {n} subject(s), sent to the "
                  "coordinator")
    for note in summary.notes:
        out.print(f"note: {note}")
    if summary.withheld:
        codes = ", ".join(summary.withheld)
        console.print(f"[bold yellow]withheld:[/] {codes}: no <CC>.age.pub in {countries_keys}, "
                      "so not written; add their keys, or name them in --allow-plaintext to "
                      "write them in clear", highlight=False)


def _country_codes(values: Optional[list[str]], option: str) -> frozenset[str]:
    """`FR,de` `XX` → {"FR", "DE", "XX"}; anything but two letters is an error."""
    from haven.refer.errors import ReferError

    codes = set()
    for value in values or []:
        for part in value.split(","):
            code = part.strip().upper()
            if not code:
                continue
            if len(code) != 2 or not code.isascii() or not code.isalpha():
                raise ReferError(f"{option} takes two-letter country codes (FR,DE; XX for the "
                                 f"coordinator), not {part.strip()!r}")
            codes.add(code)
    return frozenset(codes)


@refer_app.command()
def verify(
    package: Path = typer.Argument(..., help="A package folder, .tar, or .tar.age."),
    identity: Optional[Path] = typer.Option(
        None, "--identity", help="age identity file to decrypt a .tar.age first.",
        exists=True, dir_okay=False),
    public_key: Optional[Path] = typer.Option(
        None, "--public-key", help="The sender's Ed25519 public key to require (PEM, OpenSSH "
        "or base64).", exists=True, dir_okay=False),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON (the exit "
                                 "status is the same)."),
) -> None:
    """Check a package's signature and the SHA-256 of every file; exit 1 on any mismatch.

    Example: haven refer verify packages/FR.tar.age --identity fr-key.txt
    """
    from haven.refer.verify import verify_package

    try:
        report = verify_package(package, identity, public_key)
    except HavenError as exc:
        _fail(exc)
        return
    if as_json:
        print_json({**vars(report), "ok": report.ok})
        if not report.ok:
            raise typer.Exit(1)
        return
    if report.ok:
        out.print(f"OK: {package} (package {report.code}): signature by key {report.key_id} "
                  f"valid, {report.files_checked} files match the manifest", highlight=False)
        for note in report.notes:
            out.print(f"note: {note}", highlight=False)
        return
    console.print(f"[bold red]FAILED:[/] {package}: {len(report.problems)} problem(s)",
                  highlight=False)
    for p in report.problems:
        console.print(f"  - {p}", highlight=False)
    raise typer.Exit(1)


@refer_app.command()
def stats(
    op: Path = typer.Option(..., "--op", help="Operation directory after 'haven intel attribute'.",
                            exists=True, file_okay=False),
    no_legislation: Optional[Path] = typer.Option(None, "--no-legislation", help=_NO_LEG_HELP,
                                                  exists=True, dir_okay=False),
    no_legislation_country: Optional[list[str]] = typer.Option(
        None, "--no-legislation-country", help="A country with no legislation flag (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Subjects and records per country, confidence distribution, indicators, and the
    countries kept aside for having no legislation flag.

    Example: haven refer stats --op op-nightfall --no-legislation-country JM
    """
    from haven.refer.operation import iter_subjects
    from haven.refer.stats import operation_stats

    try:
        figures = operation_stats(iter_subjects(op),
                                  _no_legislation(op, no_legislation, no_legislation_country))
    except HavenError as exc:
        _fail(exc)
        return
    if as_json:
        print_json(figures)
        return
    t = figures["totals"]
    out.print(f"subjects: {t['subjects']}  records: {t['records']}  attributed: "
              f"{t['attributed']}  review: {t['review']}  unattributed: {t['unattributed']}  "
              f"shared: {t['shared']}  with indicators: {t['with_indicators']}  countries: "
              f"{figures['countries']}")
    table = Table(title="Per package (XX = coordinator)")
    for col in ("package", "subjects", "primary", "shared in", "records", "mean confidence"):
        table.add_column(col, justify="left" if col == "package" else "right")
    for code, row in figures["packages"].items():
        mc = row.get("mean_confidence")
        table.add_row(code, str(row["subjects"]), str(row.get("primary", "-")),
                      str(row.get("shared_in", "-")), str(row["records"]),
                      "-" if mc is None else f"{mc:.3f}")
    out.print(table)
    conf = Table(title="Confidence (attributed subjects)")
    conf.add_column("range")
    conf.add_column("subjects", justify="right")
    for k, v in figures["confidence"].items():
        conf.add_row(k, str(v))
    out.print(conf)
    ind = Table(title="Indicators (subjects with each)")
    ind.add_column("indicator")
    ind.add_column("subjects", justify="right")
    for k, v in figures["indicators"].items():
        ind.add_row(k, str(v))
    out.print(ind)
    for cc, row in figures["no_legislation"].items():
        out.print(f"no legislation flag: {cc}: {row['subjects']} subject(s), {row['records']} "
                  "record(s) kept aside for the coordinator")
