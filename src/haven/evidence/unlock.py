"""Encrypted volumes (BitLocker, LUKS) unlocked with the scan's keys and walked like disks.

`haven.evidence.disk` hands every region that starts with a BitLocker or LUKS header here:
a partition, or a whole image that is one encrypted volume. Each credential of the scan's
`Keyring` (`--passwords`, `--key-file`) is tried on a freshly opened volume (libbde and
libluksde keep a failed attempt's state, so a later right password would fail on the same
handle). Unlocked, the decrypted volume is walked by `haven.evidence.disk` under the
region's own path: `laptop.E01/p3/Users/x/a.jpg`. Without a working key it is an `error`
finding that names the kind and the option to give, and the counts of what was tried:
"encrypted: BitLocker volume; give `--key-file` ...". Never a secret in any message.

Readers: libbde (BitLocker, BitLocker To Go; AES-CBC with or without the diffuser, AES-XTS)
and libluksde (LUKS1), both libyal, wheels on PyPI; LUKS2 (cryptsetup's default since 2.1),
which libluksde does not read, by haven's own reader (`haven.evidence.luks2`). A BitLocker
volume whose protection is suspended (a clear key on the volume) opens without a key.
"""

from __future__ import annotations

import io
from typing import Callable, Iterator

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.keys import Keyring

# What to give, per kind, in the Problem of a volume that stays locked.
HINTS = {
    "BitLocker": "give `--key-file` (its .BEK startup key or recovery-key text file) or its "
                 "48-digit recovery password in `--passwords`",
    "LUKS": "give its passphrase in `--passwords` or its key file with `--key-file`",
}


class RegionFile:
    """A read-only file object over [start, start + length) of a reader, for libyal's open_file_object."""

    def __init__(self, read: Callable[[int, int], bytes], start: int, length: int):
        self._read, self._start, self._length, self._pos = read, start, length, 0

    def read(self, size: int = -1) -> bytes:
        left = max(self._length - self._pos, 0)
        size = left if size is None or size < 0 else min(size, left)
        data = self._read(self._start + self._pos, size) if size else b""
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def tell(self) -> int:
        return self._pos

    get_offset = tell

    def get_size(self) -> int:
        return self._length

    def close(self) -> None:
        pass


class VolumeMedium:
    """The decrypted bytes of an unlocked volume, as a `disk.Medium`."""

    def __init__(self, volume):
        self.volume = volume
        self.size = int(volume.get_size())

    def read(self, offset: int, length: int) -> bytes:
        if offset >= self.size or length <= 0:
            return b""
        return self.volume.read_buffer_at_offset(min(length, self.size - offset), offset)


def _attempts(kind: str, keys: Keyring) -> Iterator[Callable[[object], None]]:
    """One call per credential that sets it on a fresh volume handle."""
    if kind == "BitLocker":
        for recovery in keys.recovery_passwords():
            yield lambda v, r=recovery: v.set_recovery_password(r)
        for key_file in keys.key_files:
            if key_file.is_startup_key():
                yield lambda v, k=key_file: v.read_startup_key(k.path)
        for password in keys.passwords:
            yield lambda v, p=password: v.set_password(p)
    else:
        for text in keys.texts():
            yield lambda v, t=text: v.set_password(t)


def _new_volume(kind: str):
    if kind == "BitLocker":
        import pybde

        return pybde.volume()
    import pyluksde

    return pyluksde.volume()


def _open(kind: str, read, start: int, length: int):
    if kind == "LUKS" and read(start, 8)[6:8] == b"\x00\x02":
        from haven.evidence.luks2 import Luks2Volume

        return Luks2Volume(read, start, length)
    volume = _new_volume(kind)
    volume.open_file_object(RegionFile(read, start, length))
    return volume


def _close(volume) -> None:
    try:
        volume.close()
    except Exception:  # a half-opened handle: nothing left to lose
        pass


def unlocked(kind: str, read: Callable[[int, int], bytes], start: int, length: int,
             keys: Keyring):
    """(volume, None) opened and unlocked, or (None, why not) for the Problem."""
    try:
        volume = _open(kind, read, start, length)
    except NotImplementedError as exc:  # a LUKS2 variant haven's reader does not handle
        return None, ("encrypted", f"{kind} volume: {exc}; open it read-only on Linux "
                      "(`cryptsetup open --readonly`) and scan the mapped device")
    except Exception as exc:  # untrusted data: a damaged header
        return None, ("encrypted", f"{kind} volume whose encryption metadata cannot "
                                   f"be read ({_short(exc)}): damaged, or a variant the reader "
                                   "does not know; no key would open it here")
    if not volume.is_locked():
        return volume, None
    _close(volume)
    for attempt in _attempts(kind, keys):
        volume = _open(kind, read, start, length)
        try:
            attempt(volume)
            if volume.unlock():
                return volume, None
        except Exception:  # a wrong key type for this volume, or a bad key file: try the next
            pass
        _close(volume)
    return None, ("encrypted", f"{kind} volume; {HINTS[kind]} ({keys.tried()})")


def encrypted_members(kind: str, read: Callable[[int, int], bytes], start: int, length: int,
                      label: str, limits: Limits) -> Iterator[Item | Problem]:
    """The files of the encrypted volume at [start, start + length), walked under `label`."""
    from haven.evidence.disk import image_members

    volume, why = unlocked(kind, read, start, length, limits.keys)
    if volume is None:
        problem_kind, reason = why
        yield Problem(label, problem_kind, reason, length)
        return
    try:
        inner = Item(label, length, stamp={"unlocked": kind, "offset": start, "size": length})
        yield from image_members(VolumeMedium(volume), inner, limits)
    finally:
        _close(volume)


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return ". ".join(text.split(". ")[:2]).rstrip(".") or type(exc).__name__
