"""Findings exports (`haven hashsets export --format`): one module per format, one registry."""

from __future__ import annotations

from haven.hashsets.exports.registry import (ExportRequest, FindingsExport, export_names,
                                             get_export, register)

__all__ = ["ExportRequest", "FindingsExport", "export_names", "get_export", "register"]
