"""The passwords and key files one scan may unlock evidence with (`--passwords`, `--key-file`).

They are given once per scan, as files (never on the command line, so they are not in the
shell history, in `ps` or in a saved traceback's command line), and tried on every encrypted
container the walk meets: BitLocker and LUKS volumes (`haven.evidence.unlock`), FileVault
APFS volumes, encrypted zip members and 7z archives.

Secrets are never logged and never stored: a `Keyring` prints as a count, no Problem or
finding quotes a password, and nothing here is written to the case. Which credential opened
a container is not recorded either (a finding says that it was unlocked, not with what).

- `--passwords FILE`: UTF-8 text, one password per line (only the line break is removed:
  spaces count). A line shaped like a BitLocker recovery password (48 digits in eight groups
  of six) is tried as one on BitLocker volumes, and as a plain password everywhere.
- `--key-file FILE` (repeatable): a BitLocker startup key (`.BEK`), a text file holding a
  BitLocker recovery password (what Windows saves as "BitLocker Recovery Key ….TXT", UTF-16
  or UTF-8), or a LUKS key file (its exact bytes are the passphrase; libluksde takes text,
  so only a key file that is valid UTF-8 can be used).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from haven.errors import EvidenceError

_RECOVERY = re.compile(r"\b(\d{6}(?:-\d{6}){7})\b")
_MAX_KEY_FILE = 1024 * 1024  # key files are small; anything larger is the wrong file


@dataclass(frozen=True, repr=False)
class KeyFile:
    """One key file: where it is (libbde reads startup keys by path) and its bytes."""

    path: str
    data: bytes

    def __repr__(self) -> str:
        return f"KeyFile({os.path.basename(self.path)!r})"

    def text(self) -> str | None:
        """The content as text (UTF-16 with a byte-order mark, or UTF-8), or None."""
        data = self.data
        for encoding in (("utf-16",) if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ()) + ("utf-8",):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                continue
        return None

    def recovery_passwords(self) -> list[str]:
        """BitLocker recovery passwords written in the file (a recovery-key text file)."""
        text = self.text()
        return _RECOVERY.findall(text) if text else []

    def is_startup_key(self) -> bool:
        """True for a BitLocker startup key (.BEK): a FVE metadata header, version 1."""
        # A BEK file starts with its size (4 bytes), version 1 (4 bytes) and header size 48.
        return (len(self.data) >= 48 and int.from_bytes(self.data[4:8], "little") == 1
                and int.from_bytes(self.data[8:12], "little") == 48)


class Keyring:
    """Passwords and key files for one scan; prints as counts, never as the secrets."""

    __slots__ = ("_passwords", "_key_files")

    def __init__(self, passwords: tuple[str, ...] | list[str] = (),
                 key_files: tuple[KeyFile, ...] | list[KeyFile] = ()):
        self._passwords = tuple(dict.fromkeys(p for p in passwords if p))
        self._key_files = tuple(key_files)

    @property
    def passwords(self) -> tuple[str, ...]:
        return self._passwords

    @property
    def key_files(self) -> tuple[KeyFile, ...]:
        return self._key_files

    def recovery_passwords(self) -> tuple[str, ...]:
        """BitLocker recovery passwords: from password lines and from key files."""
        found = [m for p in self._passwords for m in _RECOVERY.findall(p) if m == p.strip()]
        found += [m for k in self._key_files for m in k.recovery_passwords()]
        return tuple(dict.fromkeys(found))

    def texts(self) -> tuple[str, ...]:
        """Every password, then every key file whose bytes are text (LUKS key files)."""
        from_files = [t for k in self._key_files if not k.is_startup_key()
                      if (t := k.text()) is not None]
        return tuple(dict.fromkeys([*self._passwords, *from_files]))

    def __bool__(self) -> bool:
        return bool(self._passwords or self._key_files)

    def __repr__(self) -> str:
        return f"Keyring({len(self._passwords)} passwords, {len(self._key_files)} key files)"

    __str__ = __repr__

    def tried(self) -> str:
        """What was tried, for a Problem: counts only."""
        if not self:
            return "no password or key file was given"
        return (f"none of the {len(self._passwords)} passwords and {len(self._key_files)} key "
                "files given opened it")


def load_keyring(passwords_file: str | os.PathLike | None = None,
                 key_files: list[str | os.PathLike] | tuple = ()) -> Keyring:
    """The keyring the files name; `EvidenceError` (naming the file, never its content) if unreadable."""
    passwords: list[str] = []
    if passwords_file is not None:
        try:
            raw = _read(passwords_file)
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise EvidenceError(f"--passwords file {os.fspath(passwords_file)!r} is not UTF-8 "
                                "text: save it as UTF-8, one password per line") from None
        passwords = [line.rstrip("\r") for line in text.split("\n")]
    files = []
    for path in key_files:
        files.append(KeyFile(os.path.abspath(os.fspath(path)), _read(path)))
    return Keyring(passwords, files)


def _read(path: str | os.PathLike) -> bytes:
    name = os.fspath(path)
    try:
        size = os.path.getsize(name)
        if size > _MAX_KEY_FILE:
            raise EvidenceError(f"{name!r} is {size} bytes: too large for a password or key file")
        with open(name, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise EvidenceError(f"cannot read the password or key file {name!r}: "
                            f"{exc.strerror or exc}") from None
