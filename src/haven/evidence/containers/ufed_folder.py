"""Unzipped UFDR reports (a folder holding report.xml and files/); read by `haven.evidence.ufdr`.
(A zipped UFDR is a zip: `haven.evidence.zip` asks `haven.evidence.ufdr` for its layout.)"""

from __future__ import annotations

from typing import ClassVar, Iterator

from haven.evidence.base import Extraction, Item, Limits, Problem
from haven.evidence.registry import register_folder


@register_folder
class UfedReportFolder:
    name: ClassVar[str] = "ufed-report"

    @classmethod
    def recognise(cls, names: frozenset[str]) -> bool:
        return bool({"report.xml", "Report.xml"} & names) and "files" in names

    def members(self, fs_dir: str, path: str, limits: Limits) -> Iterator[Item | Problem | Extraction]:
        from haven.evidence.ufdr import folder_members

        return folder_members(fs_dir, path, limits)
