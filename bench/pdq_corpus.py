"""Clustered PDQ libraries and query classes for the lookup benchmarks (issue 18).

Uniform random codes are the kindest input a Hamming index can get: every bucket holds the
same number of rows and no query matches much. A real library is lumpy:

- **families of near-duplicates** with heavy-tailed sizes: most images are known once, a few
  (viral, re-shared, re-encoded) thousands of times. Family sizes are drawn from a Zipf law
  (`zipf_a`, default 1.8, capped at `max_family`), every member 2-24 bits from its head;
- **real PDQ hashes of generated photos** (bench/imagegen.py `make_photo`, small size): a
  family head is one of `photos` real hashes with 48-96 random bits flipped (it keeps the
  photo's bit correlations and is > 31 bits from its parent), so the library is made of
  many distinct images that look like PDQ output, not coin flips;
- **a crowded low-information region**: `blank_share` (5 %) of the rows are near-blank
  images (flat grey, faint gradient and grain, low PDQ quality), each 0-12 bits from one of
  40 real near-blank hashes, picked with Zipf weights (1/k: black frames are commoner than
  any one grey), so the commonest spot holds ~1 % of the library.

Query classes (each query is one hash; `dihedral` gives the 8-hash set a scan sends):

- `nomatch`: real PDQ hashes of fresh generated photos (not in the library): the common case;
- `neardup`: a library row of a photo family with 4-16 bits flipped;
- `crowded`: a near-blank image coming back re-encoded: one of the 40 near-blank hashes
  (same weights) 0-12 bits off, genuinely within 31 bits of hundreds to ~10,000 rows at 1M.
  (Fresh near-blank images of other greys are > 100 bits from these: they match nothing.)

Everything is generated from seeds: no real photo, no personal data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imagegen import make_photo  # noqa: E402

from haven.signals import pdq  # noqa: E402

CLASSES = ("nomatch", "neardup", "crowded")


def codes_of(hexes: list[str]) -> np.ndarray:
    return np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(len(hexes), 32).copy()


def flip(rng: np.random.Generator, codes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Each row with about k in [lo, hi] random bits flipped (positions drawn with replacement,
    so a few rows get one or two fewer)."""
    out = np.empty_like(codes)
    width = max(hi, 1)
    for a in range(0, len(codes), 1 << 18):
        part = codes[a:a + (1 << 18)]
        n = len(part)
        k = rng.integers(lo, hi + 1, n)
        pos = rng.integers(0, 256, (n, width))
        take = np.arange(width)[None, :] < k[:, None]
        mask = np.zeros((n, 256), dtype=bool)
        rows = np.broadcast_to(np.arange(n)[:, None], pos.shape)
        mask[rows[take], pos[take]] = True
        out[a:a + n] = part ^ np.packbits(mask, axis=1)
    return out


def near_blank(seed: int) -> Image.Image:
    """A near-blank image: flat grey, faint gradient, grain (a quarter stay perfectly flat)."""
    rng = np.random.default_rng([seed, 0xB1A])
    y, x = np.mgrid[0:96, 0:128].astype(np.float32)
    g = rng.uniform(40, 220) + rng.uniform(-3, 3) * x / 128 + rng.uniform(-3, 3) * y / 96
    if seed % 4:
        g += rng.normal(0, rng.uniform(0.3, 2.0), g.shape)
    return Image.fromarray(np.clip(g, 0, 255).astype(np.uint8)).convert("RGB")


class Corpus:
    """Real PDQ hashes the library and the queries are grown from (one seed)."""

    def __init__(self, photos: int = 600, blanks: int = 40, seed: int = 1) -> None:
        self.seed = seed
        self.photos = codes_of([pdq.pdq_from_image(make_photo(seed * 100003 + s, 128, 96)).hex
                                for s in range(photos)])
        self.blanks = codes_of([pdq.pdq_from_image(near_blank(seed * 7 + s)).hex
                                for s in range(blanks)])

    def blank_weights(self) -> np.ndarray:
        w = 1.0 / np.arange(1, len(self.blanks) + 1)
        return w / w.sum()

    def library(self, n: int, rng: np.random.Generator, *, zipf_a: float = 2.0,
                max_family: int = 10_000, blank_share: float = 0.05
                ) -> tuple[np.ndarray, np.ndarray]:
        """(n × 32 uint8 codes in random order, family number of each row; -1 = near-blank)."""
        # filled in place and shuffled in place: at 100M rows the codes are 3.2 GB and the
        # machine holds a FAISS copy beside them for the truth
        codes = np.empty((n, 32), dtype=np.uint8)
        fam = np.empty(n, dtype=np.int64)
        n_blank = int(n * blank_share)
        for a in range(0, n_blank, 1 << 20):
            b = min(n_blank, a + (1 << 20))
            pick = rng.choice(len(self.blanks), b - a, p=self.blank_weights())
            codes[a:b] = flip(rng, self.blanks[pick], 0, 12)
        fam[:n_blank] = -1
        at, family0 = n_blank, 0
        while at < n:
            left = n - at
            sizes = np.minimum(rng.zipf(zipf_a, max(1024, min(left, 1 << 20) // 2)), max_family)
            sizes = sizes[np.cumsum(sizes) <= min(left, 1 << 20)]
            if sizes.size == 0:
                sizes = np.asarray([min(left, max_family)])
            heads = flip(rng, self.photos[rng.integers(0, len(self.photos), len(sizes))], 48, 96)
            f = np.repeat(np.arange(family0, family0 + len(sizes)), sizes)
            rows = np.repeat(heads, sizes, axis=0)
            first = np.ones(len(rows), dtype=bool)  # the head itself, then 2-24 bits off it
            first[1:] = f[1:] != f[:-1]
            rows[~first] = flip(rng, rows[~first], 2, 24)
            codes[at:at + len(rows)] = rows
            fam[at:at + len(rows)] = f
            family0 += len(sizes)
            at += len(rows)
        seed = int(rng.integers(0, 2 ** 63))
        np.random.default_rng(seed).shuffle(codes)  # the same permutation for both
        np.random.default_rng(seed).shuffle(fam)
        return codes, fam

    def queries(self, kind: str, count: int, library: np.ndarray, families: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
        """`count` single query hashes of one class (count × 32 uint8)."""
        if kind == "nomatch":
            start = 10 ** 6 + self.seed * 10 ** 4
            return codes_of([pdq.pdq_from_image(make_photo(start + s, 128, 96)).hex
                             for s in range(count)])
        if kind == "neardup":
            rows = rng.choice(np.nonzero(families >= 0)[0], count)
            return flip(rng, library[rows], 4, 16)
        if kind == "crowded":
            pick = rng.choice(len(self.blanks), count, p=self.blank_weights())
            return flip(rng, self.blanks[pick], 0, 12)
        raise ValueError(f"unknown query class {kind!r}")

    def dihedral(self, kind: str, count: int, library: np.ndarray, families: np.ndarray,
                 rng: np.random.Generator) -> list[np.ndarray]:
        """`count` 8-hash items of one class (as a scan sends them): for `neardup` the first
        hash is near a library row (`crowded`: near a near-blank hash) and the other seven are
        an unrelated photo's."""
        start = 2 * 10 ** 6 + self.seed * 10 ** 4
        out = [codes_of(pdq.dihedral_hexes(make_photo(start + s, 128, 96))) for s in range(count)]
        if kind != "nomatch":
            first = self.queries(kind, count, library, families, rng)
            for q, f in zip(out, first):
                q[0] = f
        return out
