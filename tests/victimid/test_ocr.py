from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from haven.victimid import ocr

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None,
                                reason="tesseract not installed (scripts/victimid-deps.sh)")


def test_rendered_text_is_read(evidence_dir):
    SIGN_TEXT = ("HOTEL BELLAVISTA ROOM 214",)

    got = ocr.read_text(np.asarray(Image.open(evidence_dir / "sign.png").convert("RGB")))
    assert SIGN_TEXT[0] in got.text and got.confidence > 70


def test_case_text_search_finds_the_sign_only(indexed_case):
    vs, ids = indexed_case
    with vs.engine.connect() as conn:
        hits = ocr.search(conn, "bellavista hotel")
        assert [h.media_id for h in hits] == [ids["sign.png"]]
        assert "[BELLAVISTA]" in hits[0].snippet
        assert ocr.search(conn, "submarine") == []
        # FTS5 syntax in user input is quoted, not interpreted
        assert ocr.search(conn, 'hotel" OR "x') == []
        assert [h.media_id for h in ocr.search(conn, "breakf*", raw=True)] == [ids["sign.png"]]
