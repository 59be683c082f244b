"""An exact-digest store for a billion MD5/SHA-1/SHA-256 entries on one machine.

Shape (log-structured, like an LSM tree with two levels):

- **Segments**: immutable files, one digest kind each, rows sorted by the digest's first 8
  bytes. A segment is memory-mapped, never parsed, so opening a library costs a checksum pass
  and no allocation. Sections: `prefix` (uint64 per row, the big-endian first 8 bytes, so
  numeric order is byte order), `radix` (row where each top-`k`-bits bucket starts, about one
  bucket per 8 rows), `tail` (the rest of each digest, read only to confirm a prefix hit) and
  `ids` (the entry id of each row, uint32 or uint64). MD5 costs 8 + 8 + 4 = 20 bytes a row
  with 32-bit ids; only `prefix` and `radix` (~9 bytes) are touched by misses, which are
  almost every lookup in a scan.
- **Delta**: appends and deletions since the last flush, kept in memory and in an append-only
  log (`delta.log`, one CRC per record) so a crash loses nothing. `flush` writes the delta
  as a new small segment; `compact` merges every segment of a kind into one and drops the
  tombstones it has applied. Neither rewrites the large segment on every feed update.
- **Tombstones**: a hash-sharing feed retracts a digest (optionally one entry id of it). A
  tombstone hides matching rows of every segment older than itself (segments carry the
  sequence number of their flush), so a digest deleted and then re-added comes back.

Integrity: every segment ends with a footer of CRC-32s, one per section; the manifest and each
log record carry their own. `DigestStore.open` checks sizes, footers and (by default) every
byte; a truncated or altered file raises `LibraryCorruptError` naming the file, and nothing of
the library is used.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import threading
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from haven import signals
from haven.durable import FORMAT_VERSION, MANIFEST, read_manifest, write_manifest
from haven.errors import LibraryCorruptError, LibraryError
from haven.match.sorted_digests import (
    DIGEST_WIDTHS,
    DigestTable,
    SortedRows,
    digest_array,
    radix_bits,
    sorted_arrays,
    width_of,
)

# the sorted-table core and the manifests live below (match, durable); re-exported here
__all__ = ["DIGEST_WIDTHS", "DigestStore", "DigestTable", "FORMAT_VERSION", "LibraryCorruptError",
           "LibraryError", "Segment", "digest_array", "read_manifest", "write_manifest", "write_segment"]

#: Kind byte in segment headers (a file contract, fixed per type: md5 1, sha1 2, sha256 3).
_KIND_CODE = {t.name: t.store_code for t in signals.digest_types()}
_KIND_NAME = {v: k for k, v in _KIND_CODE.items()}

MAGIC = b"HAVNDSG1"
END_MAGIC = b"HAVNEND1"
_HEADER = struct.Struct("<8sBBBBQQQI")  # magic kind width id_bytes radix_bits count seq max_bucket crc
HEADER_SIZE = 64
_SECTIONS = ("prefix", "radix", "tail", "ids")
_FOOTER = struct.Struct("<4I Q 8s")  # crc per section, file length, end magic
_ALIGN = 64
_ALL_IDS = np.uint64(2 ** 64 - 1)
_LOG_RECORD = struct.Struct("<II")  # payload length, crc32 of payload
#: Rows a compaction step holds in memory (~4M rows: ~150 MB for MD5), whatever the total.
MERGE_STEP_ROWS = 1 << 22


def _pad(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _crc(buf) -> int:
    crc = 0
    mv = memoryview(buf).cast("B")
    step = 64 << 20
    for lo in range(0, len(mv), step):
        crc = zlib.crc32(mv[lo:lo + step], crc)
    return crc


def write_segment(path: Path, kind: str, digests: np.ndarray, ids: np.ndarray, seq: int) -> None:
    """Sort and write one segment file atomically (temporary name, fsync, rename)."""
    a = sorted_arrays(kind, digests, ids)
    sections = [a["prefix"], a["radix"], a["tail"], a["ids"]]
    crcs = [_crc(np.ascontiguousarray(s)) for s in sections]
    head = _HEADER.pack(MAGIC, _KIND_CODE[kind], a["width"], a["id_bytes"], a["bits"], a["count"],
                        seq, a["max_bucket"], 0)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(head.ljust(HEADER_SIZE, b"\0"))
        pos = HEADER_SIZE
        for sec in sections:
            data = memoryview(np.ascontiguousarray(sec)).cast("B")
            f.write(data)
            pos += len(data)
            f.write(b"\0" * (_pad(pos) - pos))
            pos = _pad(pos)
        f.write(_FOOTER.pack(*crcs, pos + _FOOTER.size, END_MAGIC))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _layout(count: int, width: int, id_bytes: int, bits: int) -> tuple[list[int], list[int], int]:
    """(section offsets, section lengths, footer offset) of a segment file."""
    lengths = [count * 8, (2 ** bits + 1) * 8, count * (width - 8), count * id_bytes]
    offsets, pos = [], HEADER_SIZE
    for n in lengths:
        offsets.append(pos)
        pos = _pad(pos + n)
    return offsets, lengths, pos


def merge_segments(path: Path, kind: str, parts: list[tuple["Segment", np.ndarray]], seq: int,
                   rows_per_step: int | None = None) -> None:
    """Merge sorted segments into one file without loading them: bounded memory at any size.

    `parts` pairs each segment with the sorted row numbers to drop (tombstoned). The prefix
    space is cut into ranges of about `rows_per_step` rows; each range is gathered from every
    segment, sorted and written in place through a memory map, then the checksums are taken.
    """
    width = width_of(kind)
    rows_per_step = rows_per_step or MERGE_STEP_ROWS
    count = sum(seg.count - len(dead) for seg, dead in parts)
    id_bytes = max((seg.ids.itemsize for seg, _ in parts), default=4)
    bits = radix_bits(count)
    offsets, lengths, footer_at = _layout(count, width, id_bytes, bits)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.truncate(footer_at + _FOOTER.size)
    out = np.memmap(tmp, dtype=np.uint8, mode="r+")
    prefix = out[offsets[0]:offsets[0] + lengths[0]].view(np.uint64)
    radix = out[offsets[1]:offsets[1] + lengths[1]].view(np.uint64)
    tail = out[offsets[2]:offsets[2] + lengths[2]].reshape(count, width - 8)
    ids = out[offsets[3]:offsets[3] + lengths[3]].view(np.uint32 if id_bytes == 4 else np.uint64)
    steps = max(1, min(bits, (count // rows_per_step).bit_length())) if bits else 1
    pos = 0
    for j in range(2 ** steps if bits else 1):
        lo_key = j << (64 - steps) if bits else 0
        hi_key = (j + 1) << (64 - steps) if bits else 1 << 64
        pieces = []
        for seg, dead in parts:
            a = int(np.searchsorted(seg.prefix, np.uint64(lo_key)))
            b = seg.count if hi_key >= 1 << 64 else int(np.searchsorted(seg.prefix, np.uint64(hi_key)))
            keep = np.ones(b - a, dtype=bool)
            inside = dead[(dead >= a) & (dead < b)]
            keep[inside - a] = False
            pieces.append((seg.prefix[a:b][keep], seg.tail[a:b][keep], seg.ids[a:b][keep]))
        pre = np.concatenate([x[0] for x in pieces])
        order = np.argsort(pre, kind="stable")  # pieces in segment order: stable keeps it
        n = len(pre)
        prefix[pos:pos + n] = pre[order]
        tail[pos:pos + n] = np.concatenate([x[1] for x in pieces])[order]
        ids[pos:pos + n] = np.concatenate([x[2].astype(ids.dtype) for x in pieces])[order]
        pos += n
    assert pos == count
    if bits:
        counts = np.zeros(2 ** bits, dtype=np.uint64)
        for lo in range(0, count, rows_per_step):
            b = (prefix[lo:lo + rows_per_step] >> np.uint64(64 - bits)).astype(np.int64)
            counts += np.bincount(b, minlength=2 ** bits).astype(np.uint64)
        radix[0] = 0
        np.cumsum(counts, out=radix[1:])
    else:
        radix[:] = [0, count]
    max_bucket = int(np.diff(radix).max(initial=0))
    crcs = [_crc(x) for x in (prefix, radix, tail, ids)]
    head = _HEADER.pack(MAGIC, _KIND_CODE[kind], width, id_bytes, bits, count, seq, max_bucket, 0)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    out[:len(head)] = np.frombuffer(head, np.uint8)
    out[footer_at:] = np.frombuffer(_FOOTER.pack(*crcs, footer_at + _FOOTER.size, END_MAGIC), np.uint8)
    out.flush()
    del out, prefix, radix, tail, ids
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Segment(SortedRows):
    """One memory-mapped, checksummed, sorted segment file."""

    def __init__(self, path: Path, *, verify: bool = True) -> None:
        self.path = Path(path)
        try:
            f = open(self.path, "rb")
        except OSError as exc:
            raise LibraryCorruptError(f"library segment {self.path} cannot be read: {exc}") from exc
        with f:
            size = os.fstat(f.fileno()).st_size
            if size < HEADER_SIZE + _FOOTER.size:
                raise self._corrupt("shorter than a header")
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        head = self._map[:_HEADER.size]
        magic, kind, width, id_bytes, bits, count, seq, max_bucket, crc = _HEADER.unpack(head)
        if magic != MAGIC:
            raise self._corrupt("not a haven digest segment (bad magic)")
        if zlib.crc32(head[:-4]) != crc:
            raise self._corrupt("header checksum mismatch")
        if kind not in _KIND_NAME or width != DIGEST_WIDTHS[_KIND_NAME[kind]] or id_bytes not in (4, 8):
            raise self._corrupt("header describes an unknown layout")
        self.kind, self.count, self.seq, self.width = _KIND_NAME[kind], count, seq, width
        self.radix_bits, self.max_bucket = bits, max_bucket
        offsets, lengths, pos = _layout(count, width, id_bytes, bits)
        if size != pos + _FOOTER.size:
            raise self._corrupt(f"size {size} bytes, header says {pos + _FOOTER.size} (truncated?)")
        *crcs, length, end = _FOOTER.unpack(self._map[pos:pos + _FOOTER.size])
        if end != END_MAGIC or length != size:
            raise self._corrupt("footer missing or damaged (truncated?)")
        buf = np.frombuffer(self._map, dtype=np.uint8)
        views = [buf[o:o + n] for o, n in zip(offsets, lengths)]
        if verify:
            for name, view, want in zip(_SECTIONS, views, crcs):
                if _crc(view) != want:
                    raise self._corrupt(f"{name} section checksum mismatch")
        self._crcs = crcs
        self.prefix = views[0].view(np.uint64)
        self.radix = views[1].view(np.uint64)
        self.tail = views[2].reshape(count, width - 8)
        self.ids = views[3].view(np.uint32 if id_bytes == 4 else np.uint64)
        self.nbytes = size

    def _corrupt(self, why: str) -> LibraryCorruptError:
        return LibraryCorruptError(
            f"library segment {self.path} is corrupt: {why}; restore it from a copy or re-import "
            f"the hash set (nothing of this library was loaded)")

    def verify(self) -> None:
        """Re-check every section checksum (e.g. in the background after a quick open)."""
        views = [self.prefix, self.radix, self.tail, self.ids]
        for name, view, want in zip(_SECTIONS, views, self._crcs):
            if _crc(view) != want:
                raise self._corrupt(f"{name} section checksum mismatch")

    def close(self) -> None:
        self.prefix = self.radix = self.tail = self.ids = None  # drop views before the map
        try:
            self._map.close()
        except BufferError:  # a caller still holds an array of ours; the OS unmaps at exit
            pass


@dataclass
class _Delta:
    """Appends since the last flush, per kind."""

    digests: list[bytes]
    ids: list[int]


class DigestStore:
    """A directory of segments, a delta log and a manifest; see the module docstring."""

    def __init__(self, root: Path, *, verify: bool = True, flush_limit: int = 1_000_000) -> None:
        self.root = Path(root)
        self.flush_limit = flush_limit
        self._lock = threading.RLock()
        manifest = read_manifest(self.root)
        self.seq: int = manifest["seq"]
        self._next_file: int = manifest["next_file"]
        self.segments: list[Segment] = []
        try:
            for meta in manifest["segments"]:
                seg = Segment(self.root / meta["file"], verify=verify)
                if (seg.kind, seg.count, seg.seq) != (meta["kind"], meta["count"], meta["seq"]):
                    raise LibraryCorruptError(
                        f"library segment {seg.path} does not match the manifest "
                        f"({seg.kind}/{seg.count}/{seg.seq} vs {meta['kind']}/{meta['count']}/"
                        f"{meta['seq']}); restore the library from a copy")
                self.segments.append(seg)
        except LibraryError:
            self.close()
            raise
        # tombstones: kind -> digest bytes -> [(entry id or None, seq)]
        self._tombs: dict[str, dict[bytes, list[tuple[int | None, int]]]] = defaultdict(dict)
        for kind, hexd, ident, seq in manifest["tombstones"]:
            self._tombs[kind].setdefault(bytes.fromhex(hexd), []).append((ident, seq))
        self._delta: dict[str, _Delta] = {k: _Delta([], []) for k in DIGEST_WIDTHS}
        self._delta_map: dict[str, dict[bytes, list[int]]] = {k: {} for k in DIGEST_WIDTHS}
        try:
            self._replay_log()
        except LibraryError:
            self.close()
            raise
        self._log = open(self.root / "delta.log", "ab")

    # -- opening and creating --------------------------------------------------------------
    @classmethod
    def create(cls, root: Path, **kw) -> DigestStore:
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        if (root / MANIFEST).exists():
            raise LibraryError(f"a library already exists in {root}")
        write_manifest(root, {"format": FORMAT_VERSION, "seq": 0, "next_file": 1,
                               "segments": [], "tombstones": []})
        return cls(root, **kw)

    @classmethod
    def open(cls, root: Path, **kw) -> DigestStore:
        """Open a library; `verify=False` skips the full checksum pass (sizes still checked)."""
        return cls(root, **kw)

    def _replay_log(self) -> None:
        path = self.root / "delta.log"
        if not path.exists():
            return
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            if pos + _LOG_RECORD.size > len(data):
                raise LibraryCorruptError(f"library log {path} is truncated at byte {pos}")
            length, crc = _LOG_RECORD.unpack_from(data, pos)
            payload = data[pos + _LOG_RECORD.size:pos + _LOG_RECORD.size + length]
            if len(payload) != length or zlib.crc32(payload) != crc:
                raise LibraryCorruptError(f"library log {path} is corrupt at byte {pos} "
                                          f"(truncated or altered record)")
            op = json.loads(payload)
            if op[0] == "add":
                self._apply_add(op[1], [bytes.fromhex(d) for d in op[2]], op[3])
            else:
                self._apply_delete(op[1], [bytes.fromhex(d) for d in op[2]], op[3], op[4])
            pos += _LOG_RECORD.size + length

    def _append_log(self, op: list) -> None:
        payload = json.dumps(op).encode()
        self._log.write(_LOG_RECORD.pack(len(payload), zlib.crc32(payload)) + payload)
        self._log.flush()
        os.fsync(self._log.fileno())

    # -- writing ---------------------------------------------------------------------------
    def add(self, kind: str, digests: Iterable[str] | np.ndarray, ids: Iterable[int]) -> None:
        """Append entries (logged at once, searchable at once)."""
        arr = digest_array(kind, digests)
        ids = [int(i) for i in ids]
        if len(ids) != len(arr):
            raise LibraryError("digests and ids must have the same length")
        raw = [bytes(r) for r in arr]
        with self._lock:
            self._append_log(["add", kind, [r.hex() for r in raw], ids])
            self._apply_add(kind, raw, ids)
            if len(self._delta[kind].ids) >= self.flush_limit:
                self.flush()

    def delete(self, kind: str, digests: Iterable[str] | np.ndarray,
               ids: Iterable[int | None] | None = None) -> None:
        """Retract digests (all their entries, or only `ids[k]` for digest k): a tombstone."""
        arr = digest_array(kind, digests)
        raw = [bytes(r) for r in arr]
        idl = [None] * len(raw) if ids is None else [None if i is None else int(i) for i in ids]
        with self._lock:
            self.seq += 1
            self._append_log(["delete", kind, [r.hex() for r in raw], idl, self.seq])
            self._apply_delete(kind, raw, idl, self.seq)

    def _apply_add(self, kind: str, raw: list[bytes], ids: list[int]) -> None:
        delta, dmap = self._delta[kind], self._delta_map[kind]
        delta.digests.extend(raw)
        delta.ids.extend(ids)
        for d, i in zip(raw, ids):
            dmap.setdefault(d, []).append(i)

    def _apply_delete(self, kind: str, raw: list[bytes], ids: list[int | None], seq: int) -> None:
        self.seq = max(self.seq, seq)
        delta, dmap = self._delta[kind], self._delta_map[kind]
        gone = set()
        for d, i in zip(raw, ids):
            self._tombs[kind].setdefault(d, []).append((i, seq))
            if d in dmap:
                dmap[d] = [e for e in dmap[d] if i is not None and e != i]
                if not dmap[d]:
                    del dmap[d]
                gone.add((d, i))
        if gone:  # rebuild the delta lists without the retracted entries
            keep = [(d, e) for d, e in zip(delta.digests, delta.ids)
                    if (d, None) not in gone and (d, e) not in gone]
            delta.digests = [d for d, _ in keep]
            delta.ids = [e for _, e in keep]

    def add_segment(self, kind: str, digests: np.ndarray, ids: np.ndarray) -> None:
        """Bulk import: write `digests` straight to a new segment (no log, no delta)."""
        arr = digest_array(kind, digests)
        with self._lock:
            self.seq += 1
            self._install(kind, arr, np.asarray(ids, dtype=np.uint64), self.seq, replace=())

    def _install(self, kind: str, digests: np.ndarray, ids: np.ndarray, seq: int,
                 replace: tuple[Segment, ...], tombstones: list | None = None) -> None:
        name = f"{kind}-{self._next_file:06d}.hds"
        self._next_file += 1
        write_segment(self.root / name, kind, digests, ids, seq)
        self._swap_in(self.root / name, replace, tombstones)

    def _swap_in(self, path: Path, replace: tuple[Segment, ...], tombstones=None) -> None:
        seg = Segment(path, verify=False)
        self.segments = [s for s in self.segments if s not in replace] + [seg]
        if tombstones is not None:
            self._tombs = tombstones
        self._save_manifest()
        for old in replace:
            old.close()
            os.unlink(old.path)

    def _save_manifest(self) -> None:
        tombs = [[kind, d.hex(), i, s] for kind, by in self._tombs.items()
                 for d, lst in by.items() for i, s in lst]
        write_manifest(self.root, {
            "format": FORMAT_VERSION, "seq": self.seq, "next_file": self._next_file,
            "segments": [{"file": s.path.name, "kind": s.kind, "count": s.count, "seq": s.seq}
                         for s in self.segments],
            "tombstones": tombs,
        })

    def flush(self) -> None:
        """Write the delta as small segments and empty the log."""
        with self._lock:
            for kind, delta in self._delta.items():
                if delta.ids:
                    self.seq += 1
                    arr = np.frombuffer(b"".join(delta.digests), np.uint8).reshape(
                        -1, DIGEST_WIDTHS[kind])
                    self._install(kind, arr, np.asarray(delta.ids, np.uint64), self.seq, ())
            self._save_manifest()  # tombstones move from the log into the manifest
            self._delta = {k: _Delta([], []) for k in DIGEST_WIDTHS}
            self._delta_map = {k: {} for k in DIGEST_WIDTHS}
            self._log.close()
            self._log = open(self.root / "delta.log", "wb")

    def compact(self, kind: str | None = None, drop_ids: np.ndarray | None = None) -> None:
        """Merge each kind's segments into one, applying and then forgetting its tombstones.

        `drop_ids` (entry ids) are dropped as well: the owner of the ids knows which are dead
        (e.g. a replaced hash set) without having their digests at hand.
        """
        drop = np.unique(np.asarray(drop_ids if drop_ids is not None else [], dtype=np.uint64))
        with self._lock:
            self.flush()
            for k in [kind] if kind else list(DIGEST_WIDTHS):
                segs = tuple(s for s in self.segments if s.kind == k)
                dropped = {id(seg): (np.nonzero(np.isin(np.asarray(seg.ids, dtype=np.uint64),
                                                        drop))[0] if drop.size else
                                     np.empty(0, np.int64)) for seg in segs}
                if not segs or (len(segs) == 1 and not self._tombs.get(k)
                                and not dropped[id(segs[0])].size):
                    continue
                parts = []
                for seg in segs:
                    dead = sorted(pos for d in self._tombs.get(k, {})
                                  for pos in seg.positions_one(d)
                                  if self._dead(k, d, int(seg.ids[pos]), seg.seq))
                    dead = np.union1d(np.asarray(dead, dtype=np.int64), dropped[id(seg)])
                    parts.append((seg, dead.astype(np.int64)))
                tombs = dict(self._tombs)
                tombs.pop(k, None)
                self.seq += 1
                name = f"{k}-{self._next_file:06d}.hds"
                self._next_file += 1
                merge_segments(self.root / name, k, parts, self.seq)
                self._swap_in(self.root / name, segs, defaultdict(dict, tombs))

    def _dead(self, kind: str, digest: bytes, ident: int, seq: int) -> bool:
        for tid, tseq in self._tombs.get(kind, {}).get(digest, ()):
            if tseq > seq and (tid is None or tid == ident):
                return True
        return False

    # -- reading ---------------------------------------------------------------------------
    def lookup_many(self, kind: str, digests: Iterable[str] | np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(query number, entry id) of every live entry equal to a query digest."""
        arr = digest_array(kind, digests)
        qs, ids = [], []
        for seg in self.segments:
            if seg.kind != kind:
                continue
            qn, found = seg.lookup(arr)
            if qn.size and self._tombs.get(kind):
                keep = np.array([not self._dead(kind, bytes(arr[q]), int(i), seg.seq)
                                 for q, i in zip(qn.tolist(), found.tolist())], dtype=bool)
                qn, found = qn[keep], found[keep]
            qs.append(qn)
            ids.append(found)
        dmap = self._delta_map[kind]
        if dmap:
            extra = [(q, i) for q, row in enumerate(arr) for i in dmap.get(bytes(row), ())]
            if extra:
                qs.append(np.array([q for q, _ in extra], np.int64))
                ids.append(np.array([i for _, i in extra], np.uint64))
        if not qs:
            return np.empty(0, np.int64), np.empty(0, np.uint64)
        return np.concatenate(qs), np.concatenate(ids)

    def lookup(self, kind: str, digest: str) -> list[int]:
        """Entry ids of one hex digest, oldest segment first."""
        try:
            raw = bytes.fromhex(digest)
        except (TypeError, ValueError):
            raw = b""
        if len(raw) != width_of(kind):
            raise LibraryError(f"not an {kind} digest ({2 * width_of(kind)} hex digits): {digest!r}")
        out: list[int] = []
        tombs = self._tombs.get(kind)
        for seg in self.segments:
            if seg.kind == kind:
                found = seg.lookup_one(raw)
                if found and tombs and raw in tombs:
                    found = [i for i in found if not self._dead(kind, raw, i, seg.seq)]
                out.extend(found)
        out.extend(self._delta_map[kind].get(raw, ()))
        return out

    def holds(self, kind: str) -> bool:
        """Whether any row of `kind` is stored (tombstoned rows count until the next
        compaction): a scan computes a digest it does not always compute only then."""
        return (any(seg.kind == kind and seg.count for seg in self.segments)
                or bool(self._delta_map.get(kind)))

    def __len__(self) -> int:
        """Rows stored (tombstoned rows count until the next compaction)."""
        return sum(s.count for s in self.segments) + sum(len(d.ids) for d in self._delta.values())

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.segments)

    def verify(self) -> None:
        """Full checksum pass over every segment (after `verify=False`)."""
        for s in self.segments:
            s.verify()

    def close(self) -> None:
        for s in self.segments:
            s.close()
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()

    def __enter__(self) -> DigestStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
