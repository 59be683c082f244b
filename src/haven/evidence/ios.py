"""iOS backups (iTunes / Finder / libimobiledevice `idevicebackup2`): a folder whose files are
stored under hashes, their places on the phone listed in Manifest.db.

A backup folder holds `Info.plist`, `Manifest.plist`, `Status.plist`, `Manifest.db` (iOS 10
and later: SQLite, table `Files(fileID, domain, relativePath, flags, file)`) and the files,
each named by its `fileID` (SHA-1 of `domain-relativePath`) in a sub-folder named by the
first two hex digits (older backups keep them flat). Each file listed in Manifest.db is an
item under its logical path, `domain/relativePath`
(`backup/CameraRollDomain/Media/DCIM/100APPLE/IMG_0001.JPG`); everything else in the folder
(the plists, Manifest.db itself, files Manifest.db does not list) is an item under its name in
the folder, so nothing is left out. A file Manifest.db lists but the folder lacks is a Problem
"unreadable"; directory and symbolic-link rows carry no content and are skipped.

Manifest.db is opened read-only and immutable (SQLite writes no journal next to the
evidence). What the backup says about the device (name, model, iOS version, serial number,
UDID, IMEI, phone number, backup date, whether it is encrypted or full) becomes an
`Extraction` for summary.json.

Encrypted backups (Manifest.plist `IsEncrypted`) keep Manifest.db and every file encrypted
under keys wrapped in the backup's keybag: with the backup password among the scan's
`--passwords` they are decrypted (`haven.evidence.ios_keybag`; each file decrypted as it is
read, flagged `unlocked`) and placed like a plain backup's. Without it their files are items
under their stored names and the backup is a Problem "encrypted" naming `--passwords`.
Pre-iOS 10 backups (`Manifest.mbdb`) are a Problem "unsupported" and their files are items
under their stored names.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Generator, Iterator

from haven.evidence.base import Extraction, Item, Limits, Problem
from haven.evidence.names import MemberNames, escape_name
from haven.evidence.walk import file_stamp

_INFO_FIELDS = (  # Info.plist key -> summary key
    ("Device Name", "device_name"),
    ("Product Type", "product_type"),
    ("Product Version", "ios_version"),
    ("Build Version", "build_version"),
    ("Serial Number", "serial_number"),
    ("Unique Identifier", "udid"),
    ("IMEI", "imei"),
    ("Phone Number", "phone_number"),
    ("Last Backup Date", "last_backup_date"),
)
_LOCKDOWN_FIELDS = (("DeviceName", "device_name"), ("ProductType", "product_type"),
                    ("ProductVersion", "ios_version"), ("BuildVersion", "build_version"),
                    ("SerialNumber", "serial_number"), ("UniqueDeviceID", "udid"))
_FILE, _DIRECTORY, _SYMLINK = 1, 2, 4
_PLIST_MAX = 16 * 1024**2  # the backup's plists; the keybag is a few KiB


def _plist(path: str) -> dict:
    try:
        with open(path, "rb") as fh:
            return _plist_bytes(fh.read(_PLIST_MAX))
    except OSError:
        return {}


def _plist_bytes(data: bytes | None) -> dict:
    if not data:
        return {}
    try:
        value = plistlib.loads(data)
    except (plistlib.InvalidFileException, ValueError, TypeError, OverflowError):
        return {}
    return value if isinstance(value, dict) else {}


def _plain(value):
    """A plist value as JSON can hold it (dates as ISO 8601 UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.hex()
    return value


def backup_record(fs_dir: str) -> dict:
    """What the backup's plists say about the device and the backup."""
    return plists_record(*(_plist(os.path.join(fs_dir, name))
                           for name in ("Info.plist", "Manifest.plist", "Status.plist")))


def plists_record(info: dict, manifest: dict, status: dict) -> dict:
    """The Extraction record from a backup's Info.plist, Manifest.plist and Status.plist."""
    record: dict = {"format": "iOS backup (iTunes/Finder)"}
    lockdown = manifest.get("Lockdown") if isinstance(manifest.get("Lockdown"), dict) else {}
    for key, name in _LOCKDOWN_FIELDS:
        if key in lockdown:
            record[name] = _plain(lockdown[key])
    for key, name in _INFO_FIELDS:
        if key in info:
            record[name] = _plain(info[key])
    record["encrypted"] = bool(manifest.get("IsEncrypted", False))
    for key, name in (("Version", "backup_version"), ("Date", "backup_date")):
        if key in manifest:
            record[name] = _plain(manifest[key])
    if "IsFullBackup" in status:
        record["full_backup"] = bool(status["IsFullBackup"])
    if "Date" in status:
        record["status_date"] = _plain(status["Date"])
    return record


def _stored(fs_dir: str, file_id: str) -> str | None:
    """Where the file `file_id` is kept in the backup folder (sub-folder or flat), or None."""
    if len(file_id) < 3 or not all(c in "0123456789abcdefABCDEF" for c in file_id):
        return None
    for candidate in (os.path.join(fs_dir, file_id[:2], file_id), os.path.join(fs_dir, file_id)):
        if os.path.isfile(candidate) or os.path.islink(candidate):
            return candidate
    return None


def manifest_rows(db_path: str, with_file: bool = False) -> list[tuple]:
    """(fileID, domain, relativePath, flags[, file]) of every row of Manifest.db, by domain and path."""
    uri = Path(db_path).resolve().as_uri() + "?mode=ro&immutable=1"
    con = sqlite3.connect(uri, uri=True)
    extra = ", file" if with_file else ""
    try:
        return [(str(r[0]), str(r[1] or ""), str(r[2] or ""), int(r[3] or 0), *r[4:]) for r in con.execute(
            f"select fileID, domain, relativePath, flags{extra} from Files "
            "order by domain, relativePath, fileID")]
    finally:
        con.close()


def backup_members(fs_dir: str, path: str, limits: Limits) -> Iterator[Item | Problem | Extraction]:
    """The files of the iOS backup folder `fs_dir` (the `ios-backup` folder kind's reader)."""
    record = backup_record(fs_dir)
    yield Extraction(path, "ios-backup", record)
    used: set[str] = set()
    names = MemberNames(path, limits)
    db = os.path.join(fs_dir, "Manifest.db")
    if record["encrypted"]:
        opened = yield from _decrypted(fs_dir, db, names, used, limits)
        record["decrypted"] = opened
        if not opened:
            tried = "none of the given passwords opens it" if limits.keys.passwords else "give --passwords"
            yield Problem(path, "encrypted",
                          f"encrypted iOS backup; {tried} (its files are listed under their "
                          "stored names, still encrypted)")
    elif os.path.isfile(db):
        try:
            rows = manifest_rows(db)
        except sqlite3.Error as exc:
            rows = []
            yield Problem(f"{path}/Manifest.db", "corrupt",
                          f"iOS backup index unreadable ({exc}); files are listed under their "
                          "stored names")
        for file_id, domain, relative, flags in rows:
            if flags != _FILE:
                continue  # directories and symbolic links hold no content
            logical, name_problems = names.place(f"{domain}/{relative}" if relative else domain)
            stored = _stored(fs_dir, file_id)
            if stored is None:
                yield Problem(logical, "unreadable",
                              f"listed in Manifest.db as {file_id} but not in the backup folder")
                continue
            used.add(os.path.abspath(stored))
            yield Item(logical, None, fs_path=stored)
            yield from name_problems
    else:
        yield Problem(path, "unsupported",
                      "iOS backup from before iOS 10 (Manifest.mbdb index): its files are listed "
                      "under their stored names, not their paths on the phone")
    yield from _rest(fs_dir, path, used)


def _decrypted(fs_dir: str, db: str, names: MemberNames, used: set[str],
               limits: Limits) -> Generator[Item | Problem, None, bool]:
    """The files of an encrypted backup, decrypted with the first password that opens its
    keybag; returns False (yielding nothing) when none does."""
    from haven.evidence.ios_keybag import DecryptedFile, Keybag, WrongPassword, decrypt_to, file_key

    manifest = _plist(os.path.join(fs_dir, "Manifest.plist"))
    blob, manifest_key = manifest.get("BackupKeyBag"), manifest.get("ManifestKey")
    if not limits.keys.passwords or not isinstance(blob, bytes) or not isinstance(manifest_key, bytes) \
            or not os.path.isfile(db):
        return False
    keybag = Keybag(blob)
    for password in limits.keys.passwords:
        try:
            keybag.unlock(password)
            break
        except WrongPassword:
            continue
    else:
        return False
    spool = tempfile.NamedTemporaryFile(dir=limits.spool_dir, prefix="haven-manifest-", suffix=".db",
                                        delete=False)
    try:
        with spool, open(db, "rb") as source:
            decrypt_to(source, spool, keybag.unwrap(manifest_key))
        rows = manifest_rows(spool.name, with_file=True)
    except Exception as exc:  # untrusted data: a damaged keybag, key or database
        yield Problem(f"{names.container_path}/Manifest.db", "corrupt",
                      f"encrypted iOS backup: Manifest.db cannot be decrypted ({type(exc).__name__})")
        return False
    finally:
        os.unlink(spool.name)
    for file_id, domain, relative, flags, info in rows:
        if flags != _FILE:
            continue
        logical, name_problems = names.place(f"{domain}/{relative}" if relative else domain)
        stored = _stored(fs_dir, file_id)
        if stored is None:
            yield Problem(logical, "unreadable",
                          f"listed in Manifest.db as {file_id} but not in the backup folder")
            continue
        used.add(os.path.abspath(stored))
        try:
            wrapped, size = file_key(info) if info else (None, None)
            key = keybag.unwrap(wrapped) if wrapped else None
        except Exception as exc:  # untrusted data: a damaged file record
            yield Problem(logical, "corrupt", f"encrypted iOS backup: the file's key is unreadable "
                          f"({type(exc).__name__})")
            continue
        if key is None or size is None:
            yield Item(logical, None, fs_path=stored)  # stored as is (no key recorded)
        else:
            st = os.stat(stored)
            yield Item(logical, size, opener=partial(DecryptedFile, stored, key, size),
                       flags={"unlocked": True}, stamp={**file_stamp(st), "decrypted": size})
        yield from name_problems
    return True


def _rest(fs_dir: str, path: str, used: set[str]) -> Iterator[Item]:
    """Every file of the folder Manifest.db did not place, under its name in the folder."""
    for root, dirs, files in os.walk(fs_dir):
        dirs.sort(key=os.fsencode)
        relative_root = os.path.relpath(root, fs_dir)
        for name in sorted(files, key=os.fsencode):
            full = os.path.join(root, name)
            if os.path.abspath(full) in used:
                continue
            relative = name if relative_root == "." else f"{relative_root}/{name}"
            yield Item(f"{path}/{escape_name(relative)[0]}", None, fs_path=full)


# -- iOS backups inside a zip ----------------------------------------------------------------

@dataclass
class ZipLayout:
    """Where an iOS backup's members inside a zip belong: member -> (logical name, flags)."""

    places: dict[str, tuple[str, dict]] = field(default_factory=dict)


def zip_layout(archive: zipfile.ZipFile, path: str, limits: Limits) -> tuple[ZipLayout | None, list]:
    """The layout of the iOS backup folders inside the zip at `path` (None if it holds none),
    and the records and problems to report with it."""
    infos = {i.filename: i for i in archive.infolist() if not i.is_dir()}
    roots = sorted(name[: -len("Manifest.db")] for name in infos
                   if name == "Manifest.db" or name.endswith("/Manifest.db"))
    layout, out = ZipLayout(), []
    for root in roots:
        if not any(root + n in infos for n in ("Manifest.plist", "Info.plist", "Status.plist")):
            continue
        where = f"{path}/{root.rstrip('/')}" if root else path

        def read(name: str) -> bytes | None:
            info = infos.get(root + name)
            if info is None or info.flag_bits & 0x1 or info.file_size > _PLIST_MAX:
                return None
            return archive.read(info)

        record = plists_record(*(_plist_bytes(read(n)) for n in ("Info.plist", "Manifest.plist",
                                                                  "Status.plist")))
        record["format"] = "iOS backup (iTunes/Finder), inside an archive"
        out.append(Extraction(where, "ios-backup", record))
        if record["encrypted"]:
            out.append(Problem(where, "encrypted",
                               "encrypted iOS backup inside an archive: extract the backup folder "
                               "and scan it with --passwords (its files are listed under their "
                               "stored names)"))
            continue
        db = infos[root + "Manifest.db"]
        if db.flag_bits & 0x1 or db.file_size > limits.max_item_size:
            continue
        with tempfile.NamedTemporaryFile(dir=limits.spool_dir, prefix="haven-manifest-",
                                         suffix=".db") as spool:
            try:
                with archive.open(db) as source:
                    shutil.copyfileobj(source, spool, 1024 * 1024)
                spool.flush()
                rows = manifest_rows(spool.name)
            except Exception as exc:  # untrusted data: a damaged index or member
                out.append(Problem(f"{where}/Manifest.db", "corrupt",
                                   f"iOS backup index unreadable ({type(exc).__name__}: {exc}); "
                                   "files are listed under their stored names"))
                continue
        for file_id, domain, relative, flags in rows:
            if flags != _FILE:
                continue
            logical = f"{root}{domain}/{relative}" if relative else f"{root}{domain}"
            stored = next((m for m in (f"{root}{file_id[:2]}/{file_id}", f"{root}{file_id}")
                           if m in infos), None)
            if stored is None:
                out.append(Problem(f"{path}/{escape_name(logical)[0]}", "unreadable",
                                   f"listed in Manifest.db as {file_id} but not in the archive"))
                continue
            layout.places.setdefault(stored, (logical, {}))
    return (layout if layout.places else None), out
