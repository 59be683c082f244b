"""Member names inside containers, turned into safe and unique evidence paths.

Member names are written by whoever made the archive, so they may climb out of it
(`../../etc/x`), be absolute, hide control characters or run to megabytes. haven never
writes members to disk by name, so such a name is a finding, not a danger: the member's
content is still scanned, under a sanitised path, and a `Problem` with the same path says
what was wrong with the name. The policy, in order:

- `\\` separates like `/` (archives made on Windows use it); empty and `.` parts are dropped.
- A leading `/`, a drive letter (`C:`) or a `..` part is dropped: Problem "traversal".
- Control characters (NUL included) become `%XX`: Problem "bad-name".
- Bytes that were not valid text in the archive's encoding become `%XX` silently: legacy
  encodings are common and not hostile.
- A name longer than `Limits.max_name_length` is cut and given a hash of the full name, so
  two long names sharing a prefix stay apart: Problem "bad-name".
- A name that is empty after all this becomes `unnamed`: Problem "bad-name".
- A path already used in the same container gets `~2`, `~3`, ... appended, so no member
  hides another (archives may legally hold one name twice; the later one usually wins on
  extraction, which is exactly what an examiner must not miss).
"""

from __future__ import annotations

import hashlib
import re

from haven.evidence.base import Limits, Problem

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\udc80-\udcff]")
_DRIVE = re.compile(r"^[A-Za-z]:$")


def escape_name(name: str) -> tuple[str, bool]:
    """`name` with control characters and undecodable bytes as `%XX`; True if it had controls."""
    text = _SURROGATE.sub(lambda m: f"%{ord(m.group()) - 0xDC00:02X}", name)
    escaped = _CONTROL.sub(lambda m: f"%{ord(m.group()):02X}", text)
    return escaped, escaped != text


class MemberNames:
    """Places the members of one container under unique, sanitised evidence paths."""

    def __init__(self, container_path: str, limits: Limits):
        self.container_path = container_path
        self.max_length = limits.max_name_length
        self.taken: set[str] = set()

    def place(self, raw: str) -> tuple[str, list[Problem]]:
        """Full evidence path for the member named `raw`, and the problems its name has."""
        problems: list[tuple[str, str]] = []
        parts = raw.replace("\\", "/").split("/")
        kept: list[str] = []
        climbed = False
        for index, part in enumerate(parts):
            if part in ("", "."):
                climbed = climbed or (index == 0 and part == "" and len(parts) > 1)
                continue
            if part == ".." or (index == 0 and _DRIVE.match(part)):
                climbed = True
                continue
            kept.append(part)
        if climbed:
            problems.append(("traversal", "name climbs out of the container or is absolute"))
        name, had_controls = escape_name("/".join(kept))
        if had_controls:
            problems.append(("bad-name", "name holds control characters (shown as %XX)"))
        if len(name) > self.max_length:
            digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:12]
            name = name[: max(self.max_length - 13, 1)] + "~" + digest
            problems.append(
                ("bad-name", f"name is {len(raw)} characters long (limit {self.max_length}); cut")
            )
        if not name:
            name = "unnamed"
            problems.append(("bad-name", "name is empty"))
        path = self._unique(f"{self.container_path}/{name}")
        shown = escape_name(raw[:200])[0] + ("..." if len(raw) > 200 else "")
        return path, [
            Problem(path, kind, f"{reason}: {shown!r} listed as {path!r}")
            for kind, reason in problems
        ]

    def _unique(self, path: str) -> str:
        candidate, n = path, 1
        while candidate in self.taken:
            n += 1
            candidate = f"{path}~{n}"
        self.taken.add(candidate)
        return candidate
