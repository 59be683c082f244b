"""`Item.pack`, the form a scan keeps per item for re-matching, holds exactly the values the
worker's `to_bytes` form holds (float16 grid and cells, float32 aspect, uint8 luma): the
hypotheses of a re-match search the same numbers a scan searched."""

from __future__ import annotations

import numpy as np
import pytest

from haven.demo import jpeg_bytes, make_image
from haven.errors import HavenError
from haven.match.framing import Item
from haven.signals import pdq


def _same(a: Item, b: Item) -> None:
    assert a.aspect == b.aspect
    assert a.grid.dtype == b.grid.dtype == np.float32 and np.array_equal(a.grid, b.grid)
    assert (a.cells is None) == (b.cells is None)
    if a.cells is not None:
        assert np.array_equal(a.cells, b.cells)
    assert (a.luma is None) == (b.luma is None)
    if a.luma is not None:
        assert a.luma.dtype == np.uint8 and np.array_equal(a.luma, b.luma)


def _items() -> dict[str, Item]:
    rng = np.random.default_rng(3)
    photo = jpeg_bytes(make_image(41, (640, 480)), 85)
    return {
        "photo": Item.from_pixels(pdq._prepared(photo, True).pixels),  # the scan's fast path
        "rgb": Item.from_pixels(np.asarray(make_image(42, (300, 200)))),
        "noise": Item.from_pixels(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)),
        "no cells": Item(Item.from_pixels(np.asarray(make_image(43, (200, 200)))).grid, 1.0),
    }


def test_pack_is_exactly_the_worker_form_and_smaller():
    items = _items()
    assert items["noise"].luma is not None and items["photo"].luma is None
    for name, item in items.items():
        packed = item.pack()
        _same(Item.unpack(packed), Item.from_bytes(item.to_bytes()))
        assert len(packed) < len(item.to_bytes()), name


def test_damaged_or_foreign_data_is_a_clear_error():
    packed = _items()["noise"].pack()
    for bad in (b"", b"HVF1", packed[:40], packed[:-100], b"XXXX" + packed[4:],
                _items()["photo"].to_bytes()):
        with pytest.raises(HavenError):
            Item.unpack(bad)
