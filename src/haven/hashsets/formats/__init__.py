"""Hash-set file formats: one module per format, one registry (see `registry`)."""

from haven.hashsets.formats.registry import (
    HashSetReader,
    detect,
    format_names,
    get_reader,
    read_hashset,
    register,
)

__all__ = ["HashSetReader", "detect", "format_names", "get_reader", "read_hashset", "register"]
