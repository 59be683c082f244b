"""Shared by the multi-index tests: PDQ code rows with bits flipped, and search results as
comparable sets."""

from __future__ import annotations

import numpy as np


def pairs(result) -> set[tuple[int, int, int]]:
    """A search's (query, row, distance) arrays as a set of triples."""
    q, r, d = result
    return set(zip(q.tolist(), r.tolist(), d.tolist()))


def flip(rng, rows: np.ndarray, k: int) -> np.ndarray:
    """A copy of `rows` (n x 32 uint8 codes) with `k` distinct random bits flipped in each."""
    out = rows.copy()
    for r in range(len(out)):
        for b in rng.choice(256, k, replace=False):
            out[r, b // 8] ^= 1 << (b % 8)
    return out
