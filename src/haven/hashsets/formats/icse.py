"""INTERPOL ICSE hash exports: semicolon CSV with a fixed 12-column header.

`MD5;SHA1;PhotoDNA;Image ID;Is distributed;Victim identified;Offender identified;Series name;
Number of submissions;File Available;Media Type;Baseline`. ICSE carries no category; the one
classification it has is Baseline (the item meets INTERPOL's baseline definition, which is the
same in every country), kept as category "baseline" under scheme "icse-baseline".
"""

from __future__ import annotations

from pathlib import Path

from haven.errors import HashSetFormatError
from haven.hashsets.formats import fields
from haven.hashsets.formats.registry import register
from haven.hashsets.formats.table import column_key, first_line, read_table, split_header
from haven.hashsets.model import HashEntry, ImportResult, Malformed

SCHEME = "icse-baseline"
BASELINE = "baseline"

# column_key of each ICSE header cell -> what it becomes
HEADER = {
    "md5": "md5",
    "sha1": "sha1",
    "photodna": "photodna",
    "imageid": "image_id",
    "isdistributed": "is_distributed",
    "victimidentified": "victim_identified",
    "offenderidentified": "offender_identified",
    "seriesname": "series",
    "numberofsubmissions": "submissions",
    "fileavailable": "file_available",
    "mediatype": "media_type",
    "baseline": "baseline",
}
# Enough of the header to tell ICSE from a generic CSV that happens to use semicolons.
REQUIRED = {"md5", "imageid", "victimidentified", "seriesname", "baseline"}


def _is_icse_header(cells: list[str]) -> bool:
    return REQUIRED <= {column_key(c) for c in cells}


@register
class IcseReader:
    name = "icse"
    priority = 20

    def sniff(self, path: Path, head: bytes) -> bool:
        if fields.looks_binary(head):
            return False
        return _is_icse_header(split_header(first_line(fields.head_text(head))))

    def read(self, path: Path, *, scheme: str | None = None) -> ImportResult:
        scheme = scheme or SCHEME
        result = ImportResult(format=self.name, scheme=scheme)
        header, rows = read_table(path, delimiter=";")
        if not _is_icse_header(header):
            raise HashSetFormatError(
                f"{path.name}: not an ICSE export (its header lacks "
                f"MD5, Image ID, Victim identified, Series name or Baseline)"
            )
        for row in rows:
            values = {HEADER[k]: v for c, v in row.values.items() if (k := column_key(c)) in HEADER}
            try:
                entry = self._entry(values, scheme)
            except ValueError as exc:
                result.malformed.append(Malformed(row.line, str(exc)))
                continue
            entry.line = row.line
            result.entries.append(entry)
        return result

    @staticmethod
    def _entry(values: dict[str, str], scheme: str) -> HashEntry:
        entry = HashEntry(
            md5=fields.hex_digest(values.get("md5"), "md5"),
            sha1=fields.hex_digest(values.get("sha1"), "sha1"),
            series=fields.text(values.get("series")),
            victim_identified=fields.flag(values.get("victim_identified"), "Victim identified"),
            scheme=scheme,
        )
        if not (entry.md5 or entry.sha1):
            raise ValueError("no MD5 or SHA1 in the row")
        if fields.flag(values.get("baseline"), "Baseline"):
            entry.category = BASELINE
        extra = {
            "photodna": fields.text(values.get("photodna")),
            "image_id": fields.text(values.get("image_id")),
            "media_type": fields.text(values.get("media_type")),
            "is_distributed": fields.flag(values.get("is_distributed"), "Is distributed"),
            "offender_identified": fields.flag(
                values.get("offender_identified"), "Offender identified"
            ),
            "file_available": fields.flag(values.get("file_available"), "File Available"),
            "submissions": fields.size(values.get("submissions"), "Number of submissions"),
        }
        entry.extra = {k: v for k, v in extra.items() if v is not None}
        return entry
