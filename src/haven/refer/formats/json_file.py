"""subjects.json: the package for machines — every subject with its records and evidence."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from haven.refer.package import Package
from haven.refer.formats.registry import register

FORMAT = "haven-referral-subjects/1"
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)   # reused: json.dumps makes one a call


@register
class JsonFormat:
    name = "json"
    order = 30
    on_request = False

    def write(self, package: Package, out_dir: Path) -> list[str]:
        records: dict[str, list[dict]] = defaultdict(list)
        for r in package.records:
            records[r["subject_id"]].append({k: v for k, v in r.items() if k != "subject_id"})
        head = {
            "format": FORMAT,
            "package": package.code,
            "country_name": package.name,
            "coordinator": package.coordinator,
            "built_at": package.timestamp,
            "operation": package.provenance.get("operation"),
            "counts": package.counts(),
        }
        name = "subjects.json"
        # One subject a line: readable with a pager or grep, and written with the C encoder
        # (json.dump with indent runs in pure Python, ten times slower on big packages).
        with (out_dir / name).open("w", encoding="utf-8") as fh:
            fh.write(json.dumps(head, ensure_ascii=False, default=str)[:-1])
            fh.write(', "subjects": [')
            for n, s in enumerate(package.subjects):
                fh.write(",\n" if n else "\n")
                fh.write(_ENCODER.encode({**s, "source_records": records.get(s["subject_id"], [])}))
            fh.write("\n]}\n")
        return [name]
