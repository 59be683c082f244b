"""Package file formats: one module per format, one registry (`registry`).

Each format is a class with a `name`, an `order`, `on_request` and
`write(package, out_dir) -> list[str]` returning the file names it wrote (relative to the
package directory), registered with `@register`. Adding a format is one new module.
"""

from __future__ import annotations

from haven.refer.formats.registry import PackageFormat, format_names, package_formats, register

__all__ = ["PackageFormat", "format_names", "package_formats", "register"]
