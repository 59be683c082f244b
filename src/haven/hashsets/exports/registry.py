"""One registry of findings exports: a case's findings written out as a hash set.

An export is a small class decorated with `@register` in its own module of this package
(see `FindingsExport`); every module here is imported on first use, so a new export format
(`haven hashsets export --format NAME`) is one new module and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from haven.errors import HavenError
from haven.plugins import claim, discover

_PACKAGE = "haven.hashsets.exports"
_EXPORTS: dict[str, FindingsExport] = {}


@dataclass(frozen=True)
class ExportRequest:
    """What the user asked for: where to write, the case's name, the VICS region."""

    out: Path
    case_name: str
    region: str = "Default"


@runtime_checkable
class FindingsExport(Protocol):
    """One export format: checks a request before anything is opened, then writes."""

    name: str

    def prepare(self, request: ExportRequest) -> ExportRequest:
        """The request made canonical; HavenError when it cannot be honoured (checked before
        the case is opened, so nothing is half-written)."""
        ...

    def write(self, findings: Iterable[dict], request: ExportRequest) -> Iterator[str]:
        """Write the export; yields the lines that tell the user what was written."""
        ...


def register(cls: type) -> type:
    """Class decorator: instantiate an export and add it to the registry under its `name`."""
    export = cls()
    if not isinstance(export, FindingsExport):
        raise TypeError(f"{cls.__name__} lacks name/prepare/write")
    claim(_EXPORTS, export.name, export, "findings exports")
    return cls


def _discover() -> None:
    discover(_PACKAGE)


def export_names() -> list[str]:
    """Every registered export's name, sorted."""
    _discover()
    return sorted(_EXPORTS)


def get_export(name: str) -> FindingsExport:
    """The export registered as `name` (any case); HavenError naming the supported ones."""
    _discover()
    wanted = name.strip().lower()
    try:
        return _EXPORTS[wanted]
    except KeyError:
        raise HavenError(f"unknown export format {wanted!r}; supported: "
                         f"{', '.join(export_names())}") from None
