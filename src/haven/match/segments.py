"""PDQ segments: one immutable, checksummed block of PDQ rows on disk and its index.

A segment is a folder of `.npy` arrays plus `meta.json` (format, rows, each file's size and
CRC-32): the codes, their ids and, from `FLAT_LIMIT` rows on, the multi-index tables (plain:
`offsets`, `postings`; or, when asked (`packed=True`), Elias-Fano form:
`packed_low`, `packed_high`, `packed_dirs`, `packed_params`) and the crowds
(`crowd_centres`, `crowd_starts`, `crowd_radii`). The ids are memory-mapped, not read
into memory: a search reads them only for its matches.
Written under a temporary name and renamed into place; a damaged file is refused with
`LibraryCorruptError`. The national library's PDQ store (`haven.library.national`) and a
case's item query hashes (`haven.match.queries`) are both made of segments: they live here,
beside the index they load, so neither store reaches into the other.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path

import numpy as np

from haven.durable import fsync_dir
from haven.errors import LibraryCorruptError
from haven.match.multiindex import MAX_RADIUS, MultiIndex, flat_search, leading_order

FLAT_LIMIT = 32_768
#: 3: the tables may be in Elias-Fano form (`packed_*` files; format 2 readers cannot read
#: them); 2 (still read): rows in the index's order (leading bits, crowds last), no postings
#: for the first table, crowd files; 1 (still read): rows in import order, postings for
#: every table
SEGMENT_FORMAT = 3


def _crc_file(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(16 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def _write_json(path: Path, body: dict) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        json.dump(body, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class PdqSegment:
    """One immutable segment of PDQ rows: flat below `FLAT_LIMIT`, multi-index above."""

    FILES = ("codes", "ids", "offsets", "postings", "crowd_centres", "crowd_starts", "crowd_radii",
             "packed_low", "packed_high", "packed_dirs", "packed_params")

    def __init__(self, path: Path, *, verify: bool = True, in_memory: bool = True) -> None:
        self.path = path
        try:
            meta = json.loads((path / "meta.json").read_text())
        except (OSError, ValueError) as exc:
            raise LibraryCorruptError(f"{path / 'meta.json'}: unreadable ({exc}); restore the "
                                      "library from a copy") from None
        if int(meta.get("format", 1)) > SEGMENT_FORMAT:
            raise LibraryCorruptError(f"{path}: segment format {meta['format']} was written by a "
                                      f"newer haven (this one reads up to {SEGMENT_FORMAT}); "
                                      "upgrade haven")
        arrays = {}
        for name, info in meta["files"].items():
            f = path / f"{name}.npy"
            if not f.is_file() or f.stat().st_size != info["size"]:
                raise LibraryCorruptError(f"{f}: missing or truncated (expected {info['size']} "
                                          "bytes); restore the library from a copy")
            if verify and _crc_file(f) != info["crc32"]:
                raise LibraryCorruptError(f"{f}: checksum mismatch; restore the library from a copy")
            try:
                # in memory (default): a query's random reads measured faster on anonymous
                # pages than on the file's mapped pages (10M rows: 3.8 vs 4.9 ms p50)
                # the ids only ever for matches: mapped, so they cost no memory
                mapped = not in_memory or name == "ids"
                arrays[name] = np.load(f, mmap_mode="r" if mapped else None)
            except ValueError as exc:
                raise LibraryCorruptError(f"{f}: not a valid array file ({exc})") from None
        self.codes = arrays["codes"]
        self.ids = arrays["ids"]
        self.n = int(self.codes.shape[0])
        self.index = None
        if "offsets" in arrays or "packed_params" in arrays:
            try:
                crowd = None
                if "crowd_starts" in arrays:
                    crowd = (np.asarray(arrays["crowd_centres"]),
                             np.asarray(arrays["crowd_starts"]), np.asarray(arrays["crowd_radii"]))
                packed = ({k: v for k, v in arrays.items() if k.startswith("packed_")}
                          if "packed_params" in arrays else None)
                self.index = MultiIndex.from_arrays(self.codes, arrays.get("offsets"),
                                                    arrays.get("postings"), int(meta["chunks"]),
                                                    crowd=crowd, packed=packed)
            except ValueError as exc:
                raise LibraryCorruptError(f"{path}: {exc}") from None

    @staticmethod
    def write(path: Path, codes: np.ndarray, ids: np.ndarray, *, packed: bool | None = None
              ) -> None:
        """Build and save a segment under a temporary name, then rename it into place;
        `packed`: tables in Elias-Fano form (None: as `MultiIndex` decides, plain unless
        `PACKED_MIN_ROWS` is set)."""
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, 32)
        ids = np.asarray(ids, dtype=np.int64)
        meta = {"format": SEGMENT_FORMAT, "rows": len(codes), "chunks": None, "files": {}}
        if len(codes) >= FLAT_LIMIT:
            # rows saved in the index's own order (leading bits, crowds last): the first
            # table is then the code array itself (no postings for it, 4 bytes a row fewer)
            index = MultiIndex(codes, packed=packed)
            meta["chunks"] = index.m
            arrays = {**index.arrays(), "ids": np.ascontiguousarray(ids[index.rows]),
                      "crowd_centres": index.crowd_centres, "crowd_starts": index.crowd_starts,
                      "crowd_radii": index.crowd_radii}
            del index
        else:
            order = leading_order(codes)
            arrays = {"codes": np.take(codes, order, axis=0).view(np.uint64).reshape(-1, 4),
                      "ids": np.ascontiguousarray(ids[order])}
        for name, arr in arrays.items():
            f = tmp / f"{name}.npy"
            with open(f, "wb") as fh:
                np.save(fh, arr)
                fh.flush()
                os.fsync(fh.fileno())
            meta["files"][name] = {"size": f.stat().st_size, "crc32": _crc_file(f)}
        _write_json(tmp / "meta.json", meta)
        os.replace(tmp, path)
        fsync_dir(path.parent)

    def search(self, qcodes: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
        """(entry id, distance) of rows within `threshold` of any query code (repeats allowed)."""
        if self.index is not None and threshold <= MAX_RADIUS:
            _q, rows, d = self.index.search(qcodes, threshold)
        else:
            _q, rows, d = flat_search(np.asarray(self.codes), qcodes, threshold)
        return np.asarray(self.ids)[rows], d
