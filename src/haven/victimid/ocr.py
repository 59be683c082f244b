"""Visible text in images via Tesseract (the Debian program, run as a subprocess), and
full-text search over a case's text (SQLite FTS5).

Tesseract reads the image from stdin and writes TSV; words below `MIN_CONFIDENCE` are dropped
because walls, fabric and carpets otherwise produce a stream of junk "words".
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
from PIL import Image
from sqlalchemy import text

from haven.victimid.errors import ModelMissingError, VictimIdError

MIN_CONFIDENCE = 50.0
TIMEOUT = 120  # seconds per image
MIN_LONG_SIDE = 1200  # small images are enlarged: Tesseract wants ~20-30 px letters


@dataclass
class OcrText:
    text: str
    confidence: float | None  # mean word confidence (0-100)
    engine: str


def tesseract_path() -> str:
    path = shutil.which("tesseract")
    if not path:
        raise ModelMissingError("tesseract is not installed; run scripts/victimid-deps.sh "
                                "(Debian packages tesseract-ocr tesseract-ocr-eng)")
    return path


def engine_name() -> str:
    out = subprocess.run([tesseract_path(), "--version"], capture_output=True, text=True, timeout=30)
    first = (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "tesseract"
    return first.strip()


def read_text(rgb: np.ndarray, lang: str = "eng", min_confidence: float = MIN_CONFIDENCE) -> OcrText:
    """Text Tesseract reads in an RGB image, line by line."""
    img = Image.fromarray(rgb).convert("L")
    if max(img.size) < MIN_LONG_SIDE:
        f = MIN_LONG_SIDE / max(img.size)
        img = img.resize((round(img.width * f), round(img.height * f)), Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    try:
        proc = subprocess.run([tesseract_path(), "stdin", "stdout", "-l", lang, "--psm", "3", "tsv"],
                              input=buf.getvalue(), capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise VictimIdError(f"tesseract took longer than {TIMEOUT} s") from exc
    if proc.returncode != 0:
        raise VictimIdError(f"tesseract failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
    lines: dict[tuple, list[str]] = {}
    confs = []
    for row in csv.DictReader(io.StringIO(proc.stdout.decode("utf-8", "replace")), delimiter="\t",
                              quoting=csv.QUOTE_NONE):
        word = (row.get("text") or "").strip()
        try:
            conf = float(row.get("conf") or -1)
        except ValueError:
            continue
        if row.get("level") != "5" or not word or conf < min_confidence:
            continue
        lines.setdefault((int(row["block_num"]), int(row["par_num"]), int(row["line_num"])), []).append(word)
        confs.append(conf)
    body = "\n".join(" ".join(words) for _, words in sorted(lines.items()))
    return OcrText(body, float(np.mean(confs)) if confs else None, f"tesseract:{lang}")


@dataclass
class TextHit:
    media_id: int
    path: str
    snippet: str
    rank: float


def _safe_query(query: str) -> str:
    # Each word as a quoted FTS5 string: user input never becomes FTS5 syntax by accident.
    words = re.findall(r"\w+", query, flags=re.UNICODE)
    return " ".join(f'"{w}"' for w in words)


def search(conn, query: str, limit: int = 50, raw: bool = False) -> list[TextHit]:
    """Media whose OCR text matches `query` (all words, any order), best first.

    `raw=True` passes FTS5 syntax through (phrases, OR, NEAR, prefix*)."""
    q = query if raw else _safe_query(query)
    if not q:
        return []
    try:
        rows = conn.execute(text(
            "SELECT f.media_id, m.path, snippet(vi_ocr_fts, 0, '[', ']', '…', 12), bm25(vi_ocr_fts) "
            "FROM vi_ocr_fts f JOIN vi_media m ON m.id = f.media_id "
            "WHERE vi_ocr_fts MATCH :q ORDER BY bm25(vi_ocr_fts) LIMIT :n"), {"q": q, "n": limit})
        return [TextHit(int(r[0]), r[1], r[2], float(r[3])) for r in rows]
    except Exception as exc:  # FTS5 syntax errors surface as OperationalError
        if raw:
            raise VictimIdError(f"full-text query not understood: {exc}") from exc
        raise
