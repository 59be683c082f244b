"""iOS backup folders (Manifest.plist beside Manifest.db or Manifest.mbdb); read by
`haven.evidence.ios`."""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Extraction, Item, Limits, Problem
from haven.evidence.registry import register_folder


@register_folder
class IosBackup:
    name: ClassVar[str] = "ios-backup"

    @classmethod
    def recognise(cls, names: frozenset[str]) -> bool:
        return "Manifest.plist" in names and bool({"Manifest.db", "Manifest.mbdb"} & names)

    def members(self, fs_dir: str, path: str, limits: Limits) -> Iterator[Item | Problem | Extraction]:
        from haven.evidence.ios import backup_members

        return backup_members(fs_dir, path, limits)
