"""The per-country package as the writers see it: one country's subjects and their records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from haven.refer.routing import COORDINATOR, country_name

#: Subject keys copied into a package (everything attribute wrote, plus routing).
SUBJECT_KEYS = ("subject_id", "country", "confidence", "countries", "shared", "review",
                "scores", "names", "records", "evidence", "indicators", "links")


@dataclass
class Package:
    code: str                       # alpha-2, or COORDINATOR
    language: str
    built_at: datetime
    provenance: dict
    subjects: list[dict] = field(default_factory=list)   # with shared_with / routing_note
    records: list[dict] = field(default_factory=list)    # source records, with subject_id

    @property
    def coordinator(self) -> bool:
        return self.code == COORDINATOR

    @property
    def name(self) -> str:
        return country_name(self.code)

    @property
    def timestamp(self) -> str:
        return self.built_at.strftime("%Y-%m-%dT%H:%M:%SZ")

    def counts(self) -> dict[str, int]:
        return {
            "subjects": len(self.subjects),
            "records": len(self.records),
            "shared": sum(1 for s in self.subjects if s.get("shared_with")),
            "review": sum(1 for s in self.subjects if s.get("review")),
            "with_indicators": sum(1 for s in self.subjects if s.get("indicators")),
        }


def package_subject(subject: dict, shared_with: tuple[str, ...], note: str | None) -> dict:
    """The subject as it travels: attribute's fields plus who else received it and why."""
    out = {k: subject.get(k) for k in SUBJECT_KEYS}
    out["shared_with"] = list(shared_with)
    out["routing_note"] = note
    return out
