"""iOS backup folders (Manifest.db or Manifest.mbdb beside Manifest.plist, Info.plist or
Status.plist); read by `haven.evidence.ios`."""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Extraction, Item, Limits, Problem
from haven.evidence.registry import register_folder


@register_folder
class IosBackup:
    name: ClassVar[str] = "ios-backup"

    @classmethod
    def recognise(cls, names: frozenset[str]) -> bool:
        # Manifest.plist is always written by iTunes/Finder; tools that copy only part of a
        # backup (forensic test sets) keep Info.plist or Status.plist beside the index.
        return bool({"Manifest.db", "Manifest.mbdb"} & names) and \
            bool({"Manifest.plist", "Info.plist", "Status.plist"} & names)

    def members(self, fs_dir: str, path: str, limits: Limits) -> Iterator[Item | Problem | Extraction]:
        from haven.evidence.ios import backup_members

        return backup_members(fs_dir, path, limits)
