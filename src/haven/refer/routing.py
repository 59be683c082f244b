"""Which package each subject goes to (pure).

A subject with a country goes to that country and to every secondary country in its
`countries` (marked shared). Subjects without a country (split evidence → review, or no
evidence at all) go to the coordinator. Countries on the no-legislation list get no package:
their subjects go to the coordinator with a note saying why, so nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pycountry

from haven.refer.errors import ReferError

#: Package code of the coordinator (ISO 3166 user-assigned code, never a real country).
COORDINATOR = "XX"
NO_LEGISLATION_NAME = "no_legislation.txt"


@dataclass(frozen=True)
class Delivery:
    """One subject delivered to one package."""

    package: str                    # alpha-2 or COORDINATOR
    shared_with: tuple[str, ...]    # other countries receiving the same subject
    note: str | None = None         # why the coordinator holds it


def route(subject: Mapping, no_legislation: frozenset[str] = frozenset()) -> list[Delivery]:
    """The packages one subject goes to, in a stable order (countries first, coordinator last)."""
    country = subject.get("country")
    if not country:
        concerned = ", ".join(subject.get("countries") or []) or "none"
        reason = ("review: evidence split between countries (" + concerned + ")"
                  if subject.get("review") else "unattributed: no country evidence")
        return [Delivery(COORDINATOR, (), reason)]
    concerned = [country] + [cc for cc in subject.get("countries") or [] if cc != country]
    receiving = [cc for cc in concerned if cc not in no_legislation]
    kept_aside = [cc for cc in concerned if cc in no_legislation]
    out = [Delivery(cc, tuple(o for o in receiving if o != cc)) for cc in receiving]
    if kept_aside:
        note = ("no legislation flag: " + ", ".join(kept_aside) + " kept aside"
                + (f"; also sent to {', '.join(receiving)}" if receiving else ""))
        out.append(Delivery(COORDINATOR, tuple(receiving), note))
    return out


def read_no_legislation(path: Path | None, extra: Iterable[str] = ()) -> frozenset[str]:
    """Alpha-2 codes from a no-legislation list (one a line, `#` comments) plus `extra`."""
    codes: list[str] = list(extra)
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ReferError(f"cannot read the no-legislation list {path}: {exc}") from exc
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                codes.extend(c for c in line.replace(",", " ").split() if c)
    out = set()
    for code in codes:
        cc = code.strip().upper()
        if pycountry.countries.get(alpha_2=cc) is None:
            raise ReferError(f"'{code}' in the no-legislation list is not an ISO 3166 alpha-2 "
                             "country code (write e.g. 'FR', one a line)")
        out.add(cc)
    return frozenset(out)


def default_no_legislation(op_dir: Path) -> Path | None:
    """OPERATION_DIR/no_legislation.txt when it exists."""
    path = op_dir / NO_LEGISLATION_NAME
    return path if path.is_file() else None


def country_name(code: str) -> str:
    if code == COORDINATOR:
        return "Coordinator"
    c = pycountry.countries.get(alpha_2=code)
    return (getattr(c, "common_name", None) or c.name) if c else code
