"""Record-file readers: one module per format, one registry (`registry`), detection by content."""

from __future__ import annotations

from haven.intel.readers.base import RawRow, RecordReader, RowProblem, Table
from haven.intel.readers.registry import read_table, reader_for, readers, register

__all__ = ["RawRow", "RowProblem", "Table", "RecordReader", "read_table", "reader_for",
           "readers", "register"]
