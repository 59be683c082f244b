"""LUKS2 volumes (cryptsetup's default since 2.1), unlocked here: libluksde reads LUKS1 only.

Written from the LUKS2 on-disk format specification (cryptsetup's docs): a binary header,
then JSON metadata naming keyslots, segments and digests. A passphrase opens a keyslot:
its KDF (PBKDF2, Argon2i or Argon2id) gives the key that decrypts the slot's key material,
which the anti-forensic splitter (AF, the LUKS1 scheme) merges into the volume key; the
digest (PBKDF2 of the volume key) says whether it is the right one. The data segment is
then decrypted sector by sector.

Read: keyslots of type `luks2` with AF `luks1`; data and key material in `aes-xts-plain64`
(cryptsetup's default; the IV is the 512-byte sector number plus `iv_tweak`, whatever the
encryption sector size) with 512- or 4096-byte sectors; one finished `crypt` segment.
Anything else (another cipher, an interrupted re-encryption, dm-integrity, tokens such as
TPM2 or FIDO2 whose keys are not passphrases) raises `NotImplementedError` naming it, which
the caller reports. Tested against volumes encrypted by cryptsetup itself (offline
`cryptsetup reencrypt --encrypt`, which needs no device-mapper).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_MAGIC = (b"LUKS\xba\xbe", b"SKUL\xba\xbe")
_BINARY_HEADER = 4096
_SECTOR = 512
_XTS = "aes-xts-plain64"
_CHUNK = 256 * 1024  # decrypted at once (a multiple of every sector size)
_CACHED = 16  # chunks kept: 4 MiB


class WrongPassphrase(Exception):
    """No keyslot opens with this passphrase."""


@dataclass
class Segment:
    offset: int
    size: int | None  # None: to the end of the device
    sector_size: int
    iv_tweak: int


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def read_metadata(read: Callable[[int, int], bytes]) -> dict:
    """The JSON metadata of the LUKS2 header at 0 of `read` (the secondary copy if need be)."""
    binary = read(0, _BINARY_HEADER)
    if binary[:6] != _MAGIC[0] or int.from_bytes(binary[6:8], "big") != 2:
        raise ValueError("not a LUKS2 header")
    size = int.from_bytes(binary[8:16], "big")
    errors = []
    for offset in (0, size):
        header = read(offset, size)
        if len(header) < size or header[:6] not in _MAGIC:
            errors.append(f"no header at {offset}")
            continue
        text = header[_BINARY_HEADER:size].split(b"\x00", 1)[0]
        try:
            return json.loads(text)
        except ValueError as exc:
            errors.append(f"header at {offset}: {exc}")
    raise ValueError("LUKS2 metadata unreadable (" + "; ".join(errors) + ")")


def _xts_decrypt(key: bytes, data: bytes, first_iv: int, sector_size: int) -> bytes:
    """Decrypt `data` (whole sectors of `sector_size`) with aes-xts-plain64.

    XTS done by hand over all sectors at once (one AES-ECB call for the tweaks, one for the
    data, the tweak chain in numpy): a Cipher object per 512-byte sector ran at ~20 MB/s.
    Sector sizes are multiples of 16, so there is no ciphertext stealing.
    """
    import numpy as np

    count = len(data) // sector_size
    if not count:
        return b""
    half = len(key) // 2
    step = sector_size // _SECTOR
    ivs = np.zeros((count, 2), dtype="<u8")
    ivs[:, 0] = first_iv + np.arange(count, dtype=np.uint64) * step
    encrypt = Cipher(algorithms.AES(key[half:]), modes.ECB()).encryptor()
    tweak = np.frombuffer(encrypt.update(ivs.tobytes()) + encrypt.finalize(),
                          dtype="<u8").reshape(count, 2).copy()
    blocks = sector_size // 16
    run = min(blocks, 32)
    tweaks = np.empty((count, blocks, 2), dtype="<u8")
    for block in range(run):
        tweaks[:, block] = tweak
        # Multiply by x in GF(2^128), little-endian: shift left one bit, fold the carry in.
        carry = tweak[:, 1] >> np.uint64(63)
        tweak[:, 1] = (tweak[:, 1] << np.uint64(1)) | (tweak[:, 0] >> np.uint64(63))
        tweak[:, 0] = (tweak[:, 0] << np.uint64(1)) ^ (carry * np.uint64(0x87))
    for start in range(run, blocks, run):
        # The next 32 tweaks are the previous 32 times x^32: shift 32 bits, fold the 32
        # bits pushed out back in times x^7 + x^2 + x + 1 (carry-less).
        low, high = tweaks[:, start - run:start, 0], tweaks[:, start - run:start, 1]
        out = high >> np.uint64(32)
        fold = out ^ (out << np.uint64(1)) ^ (out << np.uint64(2)) ^ (out << np.uint64(7))
        tweaks[:, start:start + run, 1] = (high << np.uint64(32)) | (low >> np.uint64(32))
        tweaks[:, start:start + run, 0] = (low << np.uint64(32)) ^ fold
    flat = tweaks.reshape(-1)
    cipher = np.frombuffer(data[:count * sector_size], dtype="<u8")
    decrypt = Cipher(algorithms.AES(key[:half]), modes.ECB()).decryptor()
    middle = np.frombuffer(decrypt.update((cipher ^ flat).tobytes()) + decrypt.finalize(),
                           dtype="<u8")
    return (middle ^ flat).tobytes()


def _diffuse(block: bytes, hash_name: str) -> bytes:
    size = hashlib.new(hash_name).digest_size
    out = bytearray()
    for index in range(0, len(block), size):
        chunk = block[index:index + size]
        digest = hashlib.new(hash_name, (index // size).to_bytes(4, "big") + chunk).digest()
        out += digest[:len(chunk)]
    return bytes(out)


def af_merge(material: bytes, key_size: int, stripes: int, hash_name: str) -> bytes:
    """The key the anti-forensic splitter spread over `stripes` blocks of `key_size` bytes."""
    block = bytes(key_size)
    for stripe in range(stripes - 1):
        piece = material[stripe * key_size:(stripe + 1) * key_size]
        block = _diffuse(bytes(a ^ b for a, b in zip(block, piece)), hash_name)
    last = material[(stripes - 1) * key_size:stripes * key_size]
    return bytes(a ^ b for a, b in zip(block, last))


def _kdf(kdf: dict, passphrase: bytes, length: int) -> bytes:
    kind = kdf.get("type")
    salt = _b64(kdf["salt"])
    if kind == "pbkdf2":
        return hashlib.pbkdf2_hmac(kdf["hash"], passphrase, salt, int(kdf["iterations"]), length)
    if kind in ("argon2i", "argon2id"):
        from argon2.low_level import Type, hash_secret_raw

        return hash_secret_raw(passphrase, salt, time_cost=int(kdf["time"]),
                               memory_cost=int(kdf["memory"]), parallelism=int(kdf["cpus"]),
                               hash_len=length, type=Type.ID if kind == "argon2id" else Type.I)
    raise NotImplementedError(f"LUKS2 keyslot KDF {kind!r} is not read")


def _digest_matches(metadata: dict, slot: str, key: bytes) -> bool:
    for digest in metadata.get("digests", {}).values():
        if slot not in digest.get("keyslots", []):
            continue
        if digest.get("type") != "pbkdf2":
            raise NotImplementedError(f"LUKS2 digest type {digest.get('type')!r} is not read")
        want = _b64(digest["digest"])
        got = hashlib.pbkdf2_hmac(digest["hash"], key, _b64(digest["salt"]),
                                  int(digest["iterations"]), len(want))
        if got == want:
            return True
    return False


def volume_key(metadata: dict, read: Callable[[int, int], bytes], passphrase: str) -> bytes:
    """The volume key a passphrase opens; `WrongPassphrase` when no keyslot takes it."""
    secret = passphrase.encode("utf-8")
    slots = metadata.get("keyslots", {})
    unsupported = []
    # cryptsetup tries high-priority slots first (priority 2), never "ignore" ones (0).
    order = sorted(slots, key=lambda s: (-int(slots[s].get("priority", 1)), int(s)))
    for slot in order:
        keyslot = slots[slot]
        if int(keyslot.get("priority", 1)) == 0:
            continue
        area, af = keyslot.get("area", {}), keyslot.get("af", {})
        if keyslot.get("type") != "luks2" or af.get("type") != "luks1" or \
                area.get("type") != "raw" or area.get("encryption") != _XTS:
            unsupported.append(f"keyslot {slot} ({keyslot.get('type')}, {area.get('encryption')})")
            continue
        key_size, stripes = int(keyslot["key_size"]), int(af["stripes"])
        area_key = _kdf(keyslot["kdf"], secret, int(area["key_size"]))
        length = -(-key_size * stripes // _SECTOR) * _SECTOR
        material = _xts_decrypt(area_key, read(int(area["offset"]), length), 0, _SECTOR)
        key = af_merge(material, key_size, stripes, af["hash"])
        if _digest_matches(metadata, slot, key):
            return key
    if unsupported and len(unsupported) == len(slots):
        raise NotImplementedError("no LUKS2 keyslot haven can read: " + ", ".join(unsupported))
    raise WrongPassphrase()


def data_segment(metadata: dict) -> Segment:
    """The volume's one finished data segment."""
    segments = metadata.get("segments", {})
    crypt = [s for s in segments.values() if s.get("type") == "crypt"]
    if len(segments) != 1 or len(crypt) != 1:
        kinds = ", ".join(sorted(str(s.get("type")) for s in segments.values()))
        raise NotImplementedError(f"LUKS2 volume with segments {kinds} (an interrupted "
                                  "re-encryption?) is not read")
    segment = crypt[0]
    if segment.get("encryption") != _XTS or segment.get("integrity"):
        raise NotImplementedError(f"LUKS2 data encrypted with {segment.get('encryption')!r}"
                                  f"{' and integrity' if segment.get('integrity') else ''} is "
                                  "not read")
    sector = int(segment.get("sector_size", _SECTOR))
    if sector not in (512, 1024, 2048, 4096):
        raise NotImplementedError(f"LUKS2 sector size {sector} is not read")
    size = segment.get("size", "dynamic")
    return Segment(int(segment["offset"]), None if size == "dynamic" else int(size), sector,
                   int(segment.get("iv_tweak", 0)))


class Luks2Volume:
    """A LUKS2 volume at [start, start + length) of a reader; decrypted once unlocked.

    Has the libyal volume methods `haven.evidence.unlock` uses: `is_locked`, `set_password`,
    `unlock`, `get_size`, `read_buffer_at_offset`, `close`.
    """

    def __init__(self, read: Callable[[int, int], bytes], start: int, length: int):
        self._outer, self._start, self._length = read, start, length
        self.metadata = read_metadata(self._read)
        self.segment = data_segment(self.metadata)
        end = self._length if self.segment.size is None else self.segment.offset + self.segment.size
        usable = max(end - self.segment.offset, 0)
        self._size = usable - usable % self.segment.sector_size
        self._passphrase: str | None = None
        self._key: bytes | None = None
        self._cache: dict[int, bytes] = {}

    def _read(self, offset: int, length: int) -> bytes:
        length = max(min(length, self._length - offset), 0)
        return self._outer(self._start + offset, length) if length else b""

    def is_locked(self) -> bool:
        return self._key is None

    def set_password(self, passphrase: str) -> None:
        self._passphrase = passphrase

    def unlock(self) -> bool:
        if self._passphrase is None:
            return False
        try:
            self._key = volume_key(self.metadata, self._read, self._passphrase)
        except WrongPassphrase:
            return False
        finally:
            self._passphrase = None
        return True

    def get_size(self) -> int:
        return self._size

    def read_buffer_at_offset(self, length: int, offset: int) -> bytes:
        if self._key is None:
            raise PermissionError("the LUKS2 volume is locked")
        length = max(min(length, self._size - offset), 0)
        if not length:
            return b""
        # TSK asks for small pieces, often the same ones again: decrypt whole chunks and keep
        # the last few (decrypting many sectors at once is what makes it fast).
        parts, pos, end = [], offset, offset + length
        while pos < end:
            index = pos // _CHUNK
            chunk = self._chunk(index)
            inside = pos - index * _CHUNK
            piece = chunk[inside:inside + end - pos]
            if not piece:
                break
            parts.append(piece)
            pos += len(piece)
        return b"".join(parts)

    def _chunk(self, index: int) -> bytes:
        chunk = self._cache.pop(index, None)
        if chunk is None:
            first = index * _CHUNK
            raw = self._read(self.segment.offset + first, min(_CHUNK, self._size - first))
            raw = raw[:len(raw) - len(raw) % self.segment.sector_size]
            chunk = _xts_decrypt(self._key, raw, first // _SECTOR + self.segment.iv_tweak,
                                 self.segment.sector_size)
            if len(self._cache) >= _CACHED:
                self._cache.pop(next(iter(self._cache)))
        self._cache[index] = chunk  # most recently used last
        return chunk

    def close(self) -> None:
        self._key = None
        self._cache.clear()
