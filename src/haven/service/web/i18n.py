"""A small translation framework: one JSON catalogue per language (msgid → text).

English is the source language (msgids are the English text). The language comes from the
`haven_lang` cookie (set from the language menu), else the `Accept-Language` header.
Placeholders use `%(name)s`, as gettext does, so catalogues can move to .po files later.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

CATALOGUES = Path(__file__).parent / "translations"
DEFAULT = "en"
LANG_COOKIE = "haven_lang"


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    path = CATALOGUES / f"{lang}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


@lru_cache(maxsize=1)
def languages() -> dict[str, str]:
    """code → the language's own name (the catalogue's `@name` entry)."""
    out = {}
    for path in sorted(CATALOGUES.glob("*.json")):
        out[path.stem] = catalogue(path.stem).get("@name", path.stem)
    return out


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    known = languages()
    if cookie in known:
        return cookie
    choices = []
    for n, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        code = tag.strip().lower().split("-")[0]
        if code in known and q > 0:
            choices.append((-q, n, code))
    return min(choices)[2] if choices else DEFAULT


def translator(lang: str):
    table = catalogue(lang)

    def gettext(msgid: str, **values) -> str:
        text = table.get(msgid) or msgid
        return text % values if values else text

    return gettext
