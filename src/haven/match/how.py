"""How a near (PDQ) match came about, as a tag and in words an investigator reads.

A PDQ match pairs one hash of the item (a query hash) with one hash of the known entry (an
enrolled hash). `matched_signal` records both as `<enrolled tag>[@<query tag>]`:

- the enrolled tag: `pdq` (the known image's own PDQ), `pdq-c84` (its central 84 %),
  `pdq-w85x89+1-2` (a crop window: 85 % x 89 % of the known image, centre moved +1 % / -2 %);
- the query tag, absent when the item's own PDQ matched as is: the window of the item that
  was hashed (`c84`, `c89`, `c93`), its dihedral transform (`rot90`, `flip-y`, ...) and, for
  hash-only lists (`haven.match.framing`), the hypothesis of the original framing
  (`frame-l4r6t0b2`: the item is the known picture with 4 % cut on the left, 6 % on the
  right; `band-b8`: a band over the bottom 8 % of the item masked; `logo-tl15`: a corner
  logo masked; `xband-b9`, `xlogo-tl20`: the same, masked in the item's own PDQ samples;
  `xcaption-37h6`: a caption band from 37 % of the item's height, 6 % high, masked there;
  `nframe-l4r6t1b2`: a frame found in the item's own pixels, cut as pdqhash samples the
  known picture, on items whose PDQ rests on the sampling grid);
  `inner-l0r0t22b31`: the known picture shown inside a larger copy (a phone screenshot, a
  picture on a plain border), found as the box with those margins in % of the copy.

`query_tag(k)` names position k of `haven.signals.pdq.query_hexes`; `how_pdq` turns a
`matched_signal` into words.
"""

from __future__ import annotations

import re

#: Dihedral transforms in pdqhash's order (`pdqhash.compute_dihedral`).
DIHEDRAL = ("", "rot90", "rot180", "rot270", "flip-x", "flip-y", "flip+1", "flip-1")
#: Query tag of matches whose search does not say which query hash matched (national libraries).
UNRECORDED = "unrecorded"
#: Windows of the item hashed by `query_hexes`, in its order (8 dihedral hashes each).
QUERY_WINDOW_TAGS = ("", "c84", "c89", "c93")

# The query hash is the ITEM transformed; the words say what was done to the KNOWN picture
# to make the item, i.e. the inverse (checked against numpy rotations in tests/match/test_how.py)
_DIHEDRAL_WORDS = {
    "rot90": "rotated 90° clockwise",
    "rot180": "rotated 180°",
    "rot270": "rotated 90° counter-clockwise",
    "flip-x": "flipped upside down",
    "flip-y": "mirrored left-right",
    "flip+1": "mirrored across the diagonal (rotated 90° and mirrored)",
    "flip-1": "mirrored across the anti-diagonal (rotated 90° and mirrored)",
}

_WINDOW = re.compile(r"pdq-w(\d+)x(\d+)([+-]\d+)([+-]\d+)$")
_CENTRAL = re.compile(r"pdq-c(\d+)$")
_QUERY_CENTRAL = re.compile(r"c(\d+)$")
#: A band, corner or caption hypothesis names the part of the copy the match ignored, which
#: is not always where the edit is (a bottom banner can match with a corner left out).
_LEFT_OUT = ": it names the part ignored, not an edit seen"
_FRAME = re.compile(r"frame-l(\d+)r(\d+)t(\d+)b(\d+)$")
_NFRAME = re.compile(r"nframe-l(\d+)r(\d+)t(\d+)b(\d+)$")
_BAND = re.compile(r"x?band-([tblr])(\d+)$")
_LOGO = re.compile(r"x?logo-(tl|tr|bl|br)(\d+)$")
_CAPTION = re.compile(r"xcaption-(\d+)h(\d+)$")
_INNER = re.compile(r"inner-l(\d+)r(\d+)t(\d+)b(\d+)$")
_SIDES = {"t": "top", "b": "bottom", "l": "left", "r": "right"}
_CORNERS = {"tl": "top-left", "tr": "top-right", "bl": "bottom-left", "br": "bottom-right"}


def query_tag(k: int) -> str:
    """Tag of position `k` of `query_hexes` (8 dihedral hashes per window); '' = as is."""
    window, turn = divmod(k, len(DIHEDRAL))
    if window >= len(QUERY_WINDOW_TAGS):
        return ""
    return "+".join(p for p in (QUERY_WINDOW_TAGS[window], DIHEDRAL[turn]) if p)


def matched_signal(enrolled_tag: str | None, query: str | None) -> str | None:
    """`<enrolled>@<query>` (just `<enrolled>` when the item matched as is)."""
    if not query:
        return enrolled_tag
    return f"{enrolled_tag or 'pdq'}@{query}"


def _query_words(part: str) -> str | None:
    if part == UNRECORDED:
        return "as is, rotated or mirrored (this search does not record which)"
    if part in _DIHEDRAL_WORDS:
        return f"the copy is {_DIHEDRAL_WORDS[part]}"
    if w := _QUERY_CENTRAL.match(part):
        return (f"matched on the copy's central {w.group(1)}%: its edges differ (a banner, "
                "caption or border added or cut)")
    if w := _FRAME.match(part):
        cuts = [f"{v}% {side}" for side, v in zip(("left", "right", "top", "bottom"),
                                                   (int(g) for g in w.groups())) if v]
        return ("the copy is cropped (hash-only match: the known picture rebuilt around it, "
                f"about {', '.join(cuts)} cut)" if cuts else None)
    if w := _NFRAME.match(part):
        cuts = [f"{v}% {side}" for side, v in zip(("left", "right", "top", "bottom"),
                                                   (int(g) for g in w.groups())) if v]
        return ("the copy is cropped (hash-only match: the known picture's PDQ samples rebuilt "
                "from the copy's own pixels" + (f", about {', '.join(cuts)} cut)" if cuts
                                                 else ")"))
    if w := _BAND.match(part):
        return (f"hash-only match with the copy's {_SIDES[w.group(1)]} {w.group(2)}% (banner or "
                f"caption) left out{_LEFT_OUT}")
    if w := _LOGO.match(part):
        return (f"hash-only match with the copy's {_CORNERS[w.group(1)]} corner ({w.group(2)}% of "
                f"the width) left out, where a logo or mark would sit{_LEFT_OUT}")
    if w := _INNER.match(part):
        margins = ", ".join(f"{v}% {side}" for side, v in zip(
            ("left", "right", "top", "bottom"), (int(g) for g in w.groups())))
        return ("the known picture is shown inside a larger copy (a screenshot or a plain "
                f"border around it; hash-only match on the picture's box, margins {margins})")
    if w := _CAPTION.match(part):
        return (f"hash-only match with a caption band across the copy (from {w.group(1)}% of "
                f"its height, {w.group(2)}% high) left out{_LEFT_OUT}")
    return None


def bits_compared(signal: str | None) -> int:
    """How many bits a PDQ match's distance counts: 256, or the reliable bits of a hash-only
    hypothesis (`haven.match.framing.DROP_BITS` least reliable ones left out)."""
    query = (signal or "").partition("@")[2]
    if _hash_only(query):
        from haven.match.framing import DROP_BITS

        return 256 - DROP_BITS
    return 256


def how_pdq(signal: str | None) -> str:
    """In words, which part of the picture matched and how the copy differs from the known."""
    enrolled, _, query = (signal or "").partition("@")
    if w := _CENTRAL.match(enrolled):
        where = (f"central {w.group(1)}% of the picture: the edges differ "
                 "(a banner, caption or border added or cut)")
    elif w := _WINDOW.match(enrolled):
        fw, fh, cx, cy = (int(g) for g in w.groups())
        shift = f", shifted {cx:+d}% / {cy:+d}%" if cx or cy else ""
        where = f"crop window {fw}% x {fh}% of the known picture{shift}: the copy was cropped"
    else:
        where = "whole picture"
    parts = [where]
    for piece in filter(None, query.split("+")):
        if _QUERY_CENTRAL.match(piece) and _CENTRAL.match(enrolled):
            continue  # both central windows: said once above
        words = _query_words(piece)
        parts.append(words or f"query {piece}")
    if len(parts) == 1 and where == "whole picture":
        parts.append("as is")
    elif where == "whole picture" and _hash_only(query):
        # "whole picture; the copy is cropped" reads as a contradiction: the hypothesis says it
        parts.pop(0)
    return "; ".join(parts)


def _hash_only(query: str) -> bool:
    """Whether a query tag holds a hash-only hypothesis (frame, band, logo, caption)."""
    return any(p.search(query) for p in (_FRAME, _NFRAME, _BAND, _LOGO, _CAPTION, _INNER))
