"""`haven serve`, `haven service …` (accounts, cases, hash sets) and `haven audit verify`.

Register in haven/cli.py with:
    app.command("serve")(serve)
    app.add_typer(service_app, name="service")
    app.add_typer(audit_app, name="audit")
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Optional

import typer

from haven.service.settings import DEFAULT_DATA_DIR
from haven.terminal import console, fail as _fail, out
from haven.errors import HavenError


service_app = typer.Typer(
    help="Accounts, API keys, cases and hash sets of the coordination service "
    "(same database as 'haven serve': --data-dir / $HAVEN_DATA_DIR, $HAVEN_DATABASE_URL).",
    no_args_is_help=True, add_completion=False, rich_markup_mode=None)
audit_app = typer.Typer(help="The service's hash-chained audit log.", no_args_is_help=True,
                        add_completion=False, rich_markup_mode=None)



@audit_app.callback()
def _audit_group() -> None:
    """The service's hash-chained audit log."""


DATA_DIR = typer.Option(None, "--data-dir", help="Service data folder (default "
                        "$HAVEN_DATA_DIR or ./haven-service).", file_okay=False)
DB_URL = typer.Option(None, "--database-url", help="SQLAlchemy URL (default "
                      "$HAVEN_DATABASE_URL or SQLite in the data folder).")


AUDIT_KEY = typer.Option(None, "--audit-key-file", help="File of the audit chain's HMAC "
                         "keys, kept outside the database (default $HAVEN_AUDIT_KEY_FILE; make "
                         "one with 'haven audit new-key').", dir_okay=False)


def _settings(data_dir: Optional[Path], database_url: Optional[str],
              audit_key_file: Optional[Path] = None):
    from haven.service.settings import Settings

    return Settings.from_env(data_dir=data_dir, database_url=database_url,
                             audit_key_file=audit_key_file)


def _open(data_dir: Optional[Path], database_url: Optional[str],
          audit_key_file: Optional[Path] = None):
    """Settings and sessions; the audit key ($HAVEN_AUDIT_KEY_FILE) MACs what commands audit."""
    from haven.service.db import make_engine, session_factory, upgrade

    settings = _settings(data_dir, database_url, audit_key_file)
    try:
        keyring = settings.audit_keyring()
    except HavenError as exc:
        _fail(exc)
    settings.prepare()
    engine = make_engine(settings.url)
    upgrade(engine)
    return settings, session_factory(engine, keyring)




def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8080, min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, min=1, max=64, help="Server processes. Each holds the whole "
                                "lookup library in memory (~250 MB, plus ~130 MB per "
                                "million PDQ hashes); hash-set changes reach every worker within "
                                "$HAVEN_LIBRARY_POLL_SECONDS (5 s)."),
    access_log: bool = typer.Option(False, "--access-log/--no-access-log",
                                    help="Log every request line (costly at thousands of "
                                    "lookups a second; the audit log records them anyway)."),
    data_dir: Optional[Path] = DATA_DIR,
    database_url: Optional[str] = DB_URL,
    init: bool = typer.Option(False, "--init", help="Create the data folder when it does not "
                              "exist yet (a new service). Without it, a missing folder is an "
                              "error: a typo must not start an empty service."),
    audit_key_file: Optional[Path] = AUDIT_KEY,
) -> None:
    """Run the coordination service and matching API (migrates the database first).

    Prints the web and API-docs URLs; with no account yet, says how to create the first
    coordinator. GET /healthz is the probe for load balancers (no login, no data).

    Example: haven serve --host 127.0.0.1 --port 8080 --workers 2 --data-dir /srv/haven

    Example: haven serve --init --data-dir /srv/haven-new

    Example: haven serve --data-dir /srv/haven --audit-key-file /etc/haven/audit.keys
    """
    import uvicorn

    from haven.service.app import create_app, recover

    settings = _settings(data_dir, database_url, audit_key_file)
    # uvloop and httptools when installed (uvicorn[standard]); asyncio and h11 otherwise.
    options = dict(host=host, port=port, log_level="info", access_log=access_log,
                   loop="auto", http="auto", timeout_graceful_shutdown=30)
    try:
        _check_data_dir(settings.data_dir, init)
        if workers == 1:
            app = create_app(settings)
            _announce(host, port, settings, _accounts(app.state.svc.sessions))
            uvicorn.run(app, workers=1, **options)
            return
        # Recovery (migrations, sweeping an interrupted upload) runs once, here; the workers
        # read the same settings from the environment and only load the library.
        recover(settings)
        _announce(host, port, settings, _accounts_of(settings))
    except HavenError as exc:
        _fail(exc)
    os.environ["HAVEN_DATA_DIR"] = str(settings.data_dir.resolve())
    if settings.database_url:
        os.environ["HAVEN_DATABASE_URL"] = settings.database_url
    if settings.audit_key_file:
        os.environ["HAVEN_AUDIT_KEY_FILE"] = str(Path(settings.audit_key_file).resolve())
    uvicorn.run("haven.service.app:create_worker_app", factory=True, workers=workers, **options)


def _check_data_dir(path: Path, init: bool) -> None:
    from haven.service.errors import ServiceError

    if path.is_dir():
        return
    if path.exists():
        raise ServiceError(f"data folder {path} is not a folder")
    if not init:
        raise ServiceError(
            f"data folder {path} does not exist; pass --init to start a new service there, or "
            "point --data-dir (or $HAVEN_DATA_DIR) at the existing one")


def _accounts(sessions) -> tuple[int, int]:
    """(active accounts, active coordinators)."""
    from sqlalchemy import func, select

    from haven.service.models import User

    with sessions() as s:
        rows = s.execute(select(User.role, func.count()).where(User.active.is_(True))
                         .group_by(User.role)).all()
    counts = dict(rows)
    return sum(counts.values()), counts.get("coordinator", 0)


def _accounts_of(settings) -> tuple[int, int]:
    from haven.service.db import make_engine, session_factory

    engine = make_engine(settings.url)
    try:
        return _accounts(session_factory(engine))
    finally:
        engine.dispose()


def _announce(host: str, port: int, settings, accounts: tuple[int, int]) -> None:
    """Where to point a browser, the API docs and a probe; how to make the first account."""
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = "127.0.0.1"  # listening everywhere; this host answers on loopback too
    base = f"http://{shown}:{port}"
    console.print(f"haven service: web {base}/  API docs {base}/docs  probe {base}/healthz"
                  f"  (data {settings.data_dir.resolve()})", highlight=False, soft_wrap=True)
    users, coordinators = accounts
    data = f" --data-dir {settings.data_dir}" if settings.data_dir != DEFAULT_DATA_DIR else ""
    create = f"haven service create-user NAME --role coordinator{data}"
    if users == 0:
        console.print(f"no accounts yet: nobody can log in. Create the first coordinator "
                      f"with: {create}", highlight=False, soft_wrap=True)
    elif coordinators == 0:
        console.print(f"no active coordinator account: create one with: {create}",
                      highlight=False, soft_wrap=True)


@service_app.command("create-user")
def create_user_cmd(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., help="coordinator, liaison or analyst."),
    country: Optional[str] = typer.Option(None, help="Liaison's country (alpha-2)."),
    case: Optional[str] = typer.Option(None, help="Analyst's case (see add-case)."),
    password_env: str = typer.Option("HAVEN_NEW_PASSWORD", help="Environment variable holding "
                                     "the password; asked for when unset."),
    data_dir: Optional[Path] = DATA_DIR,
    database_url: Optional[str] = DB_URL,
) -> None:
    """Create an account (password hashed with argon2id).

    Example: haven service create-user fr-liaison --role liaison --country FR
    """
    from haven.service import audit
    from haven.service.accounts import create_user

    password = os.environ.get(password_env) or getpass.getpass(f"password for {username}: ")
    _, sessions = _open(data_dir, database_url)
    try:
        with sessions() as s:
            user = create_user(s, username, password, role, country=country, case_name=case)
            audit.record(s, "cli", "user.create", f"user:{user.username}", role=user.role,
                         country=user.country, case_id=user.case_id)
            s.commit()
    except HavenError as exc:
        _fail(exc)
    out.print(f"created {role} {username}" + (f" ({user.country})" if user.country else ""))


@service_app.command("create-api-key")
def create_api_key_cmd(
    name: str = typer.Argument(..., help="Who the key is for (e.g. hotline-x)."),
    data_dir: Optional[Path] = DATA_DIR,
    database_url: Optional[str] = DB_URL,
) -> None:
    """Create a lookup-only API key; it is printed once and stored hashed.

    Example: haven service create-api-key hotline-x
    """
    from haven.service import audit
    from haven.service.accounts import create_api_key

    _, sessions = _open(data_dir, database_url)
    try:
        with sessions() as s:
            key, secret = create_api_key(s, name)
            audit.record(s, "cli", "apikey.create", f"key:{key.name}", prefix=key.prefix)
            s.commit()
    except HavenError as exc:
        _fail(exc)
    out.print(secret)


@service_app.command("revoke-api-key")
def revoke_api_key_cmd(
    prefix: str = typer.Argument(..., help="The key's prefix (the 12 hex digits after 'hvk_')."),
    data_dir: Optional[Path] = DATA_DIR,
    database_url: Optional[str] = DB_URL,
) -> None:
    """Revoke an API key (audited): a running server on this host answers it 401 at once.

    Example: haven service revoke-api-key 3f9a1c0b7d2e
    """
    from haven.service import audit
    from haven.service.accounts import revoke_api_key
    from haven.service.state import mark_revocation

    settings, sessions = _open(data_dir, database_url)
    try:
        with sessions() as s:
            key = revoke_api_key(s, prefix.removeprefix("hvk_").split("_")[0])
            audit.record(s, "cli", "apikey.revoke", f"key:{key.name}", prefix=key.prefix)
            s.commit()
    except HavenError as exc:
        _fail(exc)
    mark_revocation(settings.data_dir)
    out.print(f"revoked {key.prefix} ({key.name})", highlight=False)


@service_app.command("unlock-login")
def unlock_login_cmd(
    user: Optional[str] = typer.Option(None, "--user", help="Account name locked by failed "
                                       "logins (as typed at login)."),
    address: Optional[str] = typer.Option(None, "--address", help="Source address locked by "
                                          "failed logins."),
    data_dir: Optional[Path] = DATA_DIR,
    database_url: Optional[str] = DB_URL,
) -> None:
    """Clear the failed logins and the lock of an account name or a source address (audited);
    with neither option, list what is locked now.

    Example: haven service unlock-login --user fr-liaison
    """
    from haven.service import audit, throttle

    if user and address:
        _fail(HavenError("give --user or --address, not both"))
    _, sessions = _open(data_dir, database_url)
    with sessions() as s:
        if not user and not address:
            for row in throttle.locks(s):
                out.print(f"{row.key}\t{row.failures} failures\tuntil "
                          f"{row.locked_until.isoformat()}Z", highlight=False)
            return
        key = f"account:{user}" if user else f"address:{address}"
        cleared = throttle.unlock(s, key)
        audit.record(s, "cli", "login.unlock", key, cleared=cleared)
        s.commit()
    out.print(f"{key}: {'unlocked' if cleared else 'had no failed logins'}", highlight=False)


@service_app.command("add-case")
def add_case_cmd(
    name: str = typer.Argument(..., help="Case name analysts are assigned to."),
    case_dir: Path = typer.Argument(..., exists=True, file_okay=False,
                                    help="The haven case directory (holds case.db)."),
    data_dir: Optional[Path] = DATA_DIR,
    database_url: Optional[str] = DB_URL,
) -> None:
    """Register a case directory so an analyst account can be given it.

    Example: haven service add-case case-0421 cases/0421
    """
    from haven.service import audit
    from haven.service.accounts import utcnow
    from haven.service.models import Case
    from haven.store.case import CaseStore

    try:
        CaseStore(case_dir).close()  # the one gate: refuses a directory that is no case
    except HavenError as exc:
        _fail(exc)
    _, sessions = _open(data_dir, database_url)
    with sessions() as s:
        case = Case(name=name, directory=str(case_dir.resolve()), created_at=utcnow())
        s.add(case)
        s.flush()
        audit.record(s, "cli", "case.add", f"case:{case.id}", name=name)
        s.commit()
    out.print(f"case {name} registered (id {case.id})")


@service_app.command("import-hashset")
def import_hashset_cmd(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Hash-set file."),
    name: str = typer.Option(..., help="Hash set (bank) name shown in matches."),
    fmt: str = typer.Option("auto", "--format", help="A haven hash-set format (ncmec-xml, "
                            "hma, vics, csv, txt, …) or auto."),
    known_good: bool = typer.Option(False, "--known-good", help="A known-good list."),
    append: bool = typer.Option(False, "--append", help="Add to the set (incremental feed; "
                                "NCMEC tombstones delete entries)."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Accept a set with 0 entries "
                                     "(e.g. a re-import that retracts everything)."),
    data_dir: Optional[Path] = DATA_DIR,
    database_url: Optional[str] = DB_URL,
) -> None:
    """Import a hash set for the matching API (a running server picks it up on restart).

    A file that yields no entry at all (wrong --format, a garbled or empty download) is
    refused and the set left as it was, unless --allow-empty or --append.

    Example: haven service import-hashset ncmec-2026-01-10.xml --name ncmec --append
    """
    from haven.service import audit
    from haven.service.lookup import import_file

    _, sessions = _open(data_dir, database_url)
    try:
        with sessions() as s:
            hs, result, tombstones = import_file(s, path, name=name, fmt=fmt,
                                                 known_good=known_good, append=append,
                                                 allow_empty=allow_empty)
            audit.record(s, "cli", "hashset.import", f"hashset:{hs.name}", version=hs.version,
                         format=result.format, entries=len(result.entries),
                         malformed=len(result.malformed), tombstones=tombstones,
                         source_sha256=hs.source_sha256)
            s.commit()
    except HavenError as exc:
        _fail(exc)
    out.print(f"{hs.name} v{hs.version}: {hs.entry_count} entries ({len(result.entries)} read, "
              f"{len(result.malformed)} malformed, {tombstones} tombstones)")


@service_app.command("import-case-hashsets")
def import_case_hashsets_cmd(
    case_dir: Path = typer.Argument(..., exists=True, file_okay=False),
    name: Optional[list[str]] = typer.Option(None, "--name", help="Only these sets (repeatable)."),
    data_dir: Optional[Path] = DATA_DIR,
    database_url: Optional[str] = DB_URL,
) -> None:
    """Copy hash sets of a haven case store into the matching API.

    Example: haven service import-case-hashsets cases/0421 --name icse
    """
    from haven.service import audit
    from haven.service.lookup import import_case_store

    _, sessions = _open(data_dir, database_url)
    try:
        with sessions() as s:
            sets = import_case_store(s, case_dir, name or None)
            for hs in sets:
                audit.record(s, "cli", "hashset.import", f"hashset:{hs.name}",
                             version=hs.version, source=str(case_dir), entries=hs.entry_count)
            s.commit()
    except HavenError as exc:
        _fail(exc)
    for hs in sets:
        out.print(f"{hs.name} v{hs.version}: {hs.entry_count} entries")


@audit_app.command("verify")
def audit_verify_cmd(
    data_dir: Optional[Path] = DATA_DIR,
    database_url: Optional[str] = DB_URL,
    audit_key_file: Optional[Path] = AUDIT_KEY,
    checkpoint: list[Path] = typer.Option([], "--checkpoint", help="A checkpoint file "
                                          "('haven audit checkpoint') the log must still "
                                          "match; repeatable.", dir_okay=False),
) -> None:
    """Recompute the audit chain (MACs with the audit key); exit 1 naming every entry that was
    changed, forged or removed, or when keyed entries cannot be checked without their key.

    Example: haven audit verify --data-dir /srv/haven --audit-key-file /etc/haven/audit.keys

    Example: haven audit verify --audit-key-file audit.keys --checkpoint cp-2026-12-06.json
    """
    import json

    from haven.service import audit

    _, sessions = _open(data_dir, database_url, audit_key_file)
    points = []
    for path in checkpoint:
        try:
            points.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            _fail(HavenError(f"cannot read the checkpoint {path}: {exc}"))
    with sessions() as s:
        report = audit.verify(s, s.info.get("audit_keyring"), points)
    for problem in report.problems:
        out.print(f"TAMPERED: {problem}", highlight=False)
    for line in report.unchecked:
        out.print(f"NOT CHECKED: {line}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)
    note = ""
    if report.unkeyed:
        note = (f"; entries 1–{report.unkeyed} are unkeyed (written before the service had an "
                "audit key: they show edits, not a rewrite by someone with database access)")
    cps = f"; {len(points)} checkpoint(s) match" if points else ""
    out.print(f"OK: {report.entries} entries, chain intact{cps}{note}", highlight=False)


@audit_app.command("checkpoint")
def audit_checkpoint_cmd(
    data_dir: Optional[Path] = DATA_DIR,
    database_url: Optional[str] = DB_URL,
    audit_key_file: Optional[Path] = AUDIT_KEY,
    output: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the checkpoint "
                                          "here (default: stdout).", dir_okay=False),
) -> None:
    """Sign the chain's tip (entry count, head hash, time) with the audit key, as JSON to keep
    outside the service; 'haven audit verify --checkpoint' checks the log against it later.

    Example: haven audit checkpoint --audit-key-file /etc/haven/audit.keys -o cp.json
    """
    import json

    from haven.service import audit

    _, sessions = _open(data_dir, database_url, audit_key_file)
    with sessions() as s:
        keyring = s.info.get("audit_keyring")
        if keyring is None:
            _fail(HavenError("a checkpoint is signed with the audit key: give --audit-key-file "
                             "or $HAVEN_AUDIT_KEY_FILE"))
        doc = audit.checkpoint(s, keyring)
        audit.record(s, "cli", "audit.checkpoint", "", count=doc["count"],
                     head_hash=doc["head_hash"])
        s.commit()
    text = json.dumps(doc, indent=2) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        out.print(f"checkpoint of {doc['count']} entries written to {output}", highlight=False)
    else:
        out.print(text, end="", highlight=False, markup=False)


@audit_app.command("new-key")
def audit_new_key_cmd(
    key_file: Path = typer.Argument(..., help="Key file to create, or to rotate (the new key "
                                    "goes first and signs from now on; older keys stay to "
                                    "verify older entries).", dir_okay=False),
) -> None:
    """Make a new audit key (256-bit, file mode 0600); restart 'haven serve' to sign with it.

    Example: haven audit new-key /etc/haven/audit.keys
    """
    from haven.service import audit

    try:
        key_id = audit.new_key(key_file)
    except OSError as exc:
        _fail(HavenError(f"cannot write {key_file}: {exc.strerror}"))
    out.print(f"audit key {key_id} written first in {key_file}", highlight=False)
