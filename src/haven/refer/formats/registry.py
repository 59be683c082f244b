"""One registry of package file formats, in writing order.

A format is a small class decorated with `@register` in its own module of this package (see
`PackageFormat`); every module here is imported on first use, so a new format is one new
module and nothing else changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from haven.plugins import claim, discover
from haven.refer.package import Package

_PACKAGE = "haven.refer.formats"
_FORMATS: dict[str, PackageFormat] = {}


@runtime_checkable
class PackageFormat(Protocol):
    """One kind of file in a referral package: writes it and names what it wrote."""

    name: str
    order: int  # writing order; the manifest lists files as written
    on_request: bool  # written only when asked for (the PDF)

    def write(self, package: Package, out_dir: Path) -> list[str]:
        """Write the format's files into `out_dir`; their names, relative to it."""
        ...


def register(cls: type) -> type:
    """Class decorator: instantiate a format and add it to the registry under its `name`."""
    fmt = cls()
    if not isinstance(fmt, PackageFormat):
        raise TypeError(f"{cls.__name__} lacks name/order/on_request/write")
    claim(_FORMATS, fmt.name, fmt, "package formats")
    return cls


def _discover() -> None:
    discover(_PACKAGE)


def package_formats(requested: frozenset[str] | set[str] = frozenset()) -> tuple[PackageFormat, ...]:
    """Every format written into a package, in writing order; those written only on request
    (the PDF) when their name is in `requested`."""
    _discover()
    return tuple(sorted((f for f in _FORMATS.values()
                         if not f.on_request or f.name in requested),
                        key=lambda f: (f.order, f.name)))


def format_names() -> list[str]:
    """Names of every registered format, in writing order."""
    _discover()
    return [f.name for f in sorted(_FORMATS.values(), key=lambda f: (f.order, f.name))]
