"""Write findings as a Project VIC VICS 2.0 case export (JSON), for Griffeye, IPED and peers.

One Case holds one Media per distinct MD5, each with every path the content was found at
(`MediaFiles[]`). A Media is precategorised only from a hash-set match whose category scheme is
the export's region (a "vics-uk" category number means nothing in a US export); exact matches
are preferred over near (PDQ) ones.

VICS describes media: only images and videos are exported. Containers (archives, disk
images), text, documents and anything else are left out, and so is every known-good item (a
known-good list is not case material); so are items without an MD5 (unreadable ones). The
region must be one VICS defines (Default, US, UK), else nothing is written.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from haven import __version__
from haven.errors import HavenError
from haven.hashsets.formats.vics import DEFAULT_REGION, scheme_for_region

# The context string the example exports and Project VIC's own 2.0 distributions carry.
CONTEXT = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/{region}/$metadata#Cases"


#: VICS regions (the category scheme of an export), spelt as the context URL spells them.
REGIONS = (DEFAULT_REGION, "US", "UK")
#: item media kinds VICS carries (the case store's `media`)
MEDIA_KINDS = ("image", "video")


class VicsExportError(HavenError):
    """A VICS export was asked for with settings VICS cannot express."""


def vics_region(region: str) -> str:
    """The canonical spelling of a VICS region ("us" → "US"); VicsExportError otherwise."""
    wanted = (region or "").strip().casefold()
    for known in REGIONS:
        if known.casefold() == wanted:
            return known
    raise VicsExportError(f"unknown VICS region {region[:20]!r}; choose one of "
                          f"{', '.join(REGIONS)}")


def left_out_reason(finding: dict) -> str | None:
    """Why a finding is not a VICS Media ("no MD5", "known-good", "not an image or video"),
    None if it is one."""
    if not finding.get("md5"):
        return "no MD5"
    if finding.get("finding") == "known-good":
        return "known-good"
    if finding.get("media") not in MEDIA_KINDS:
        return "not an image or video"
    return None


def _file_name(path: str) -> str:
    # Evidence paths nest containers with "/" ("disk.E01/p1/x.zip/a.jpg"); Windows ones use "\".
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def _vics_category(category: str) -> int | str:
    # VICS writes category numbers as JSON numbers; anything else stays as given.
    return int(category) if category.isdigit() else category


def _precategorising_match(matches: list[dict], scheme: str) -> dict | None:
    usable = [m for m in matches if m.get("scheme") == scheme and m.get("category") is not None]
    exact = [m for m in usable if not m.get("distance")]
    return (exact or usable or [None])[0]


class _Media:
    """Accumulates every finding that shares one MD5."""

    def __init__(self, finding: dict):
        self.md5 = finding["md5"].lower()
        self.first = finding
        self.paths: list[str] = []
        self.matches: list[dict] = []

    def add(self, finding: dict) -> None:
        for path in finding.get("paths") or [finding.get("path")]:
            if path and path not in self.paths:
                self.paths.append(path)
        self.matches.extend(finding.get("matches") or [])

    def record(self, media_id: int, scheme: str) -> dict:
        first = self.first
        chosen = _precategorising_match(self.matches, scheme)
        series = (chosen or {}).get("series") or next(
            (m["series"] for m in self.matches if m.get("series")), None
        )
        record: dict = {"MediaID": media_id, "Category": None, "MD5": self.md5.upper()}
        if first.get("sha1"):
            record["SHA1"] = first["sha1"].upper()
        if first.get("size") is not None:
            record["MediaSize"] = int(first["size"])
        if first.get("mime"):
            record["MimeType"] = first["mime"]
        record["IsPrecategorized"] = chosen is not None
        if chosen is not None:
            record["Category"] = _vics_category(str(chosen["category"]))
            if chosen.get("hashset"):
                record["PrecategorizationSource"] = str(chosen["hashset"])
        if series:
            record["Series"] = series
        alternatives = [("SHA256", first.get("sha256")), ("PDQ", first.get("pdq"))]
        hashes = [
            {"MD5": self.md5.upper(), "HashName": name, "HashValue": value.lower()}
            for name, value in alternatives
            if value
        ]
        if hashes:
            record["AlternativeHashes"] = hashes
        record["MediaFiles"] = [
            {"MD5": self.md5.upper(), "FileName": _file_name(p), "FilePath": p} for p in self.paths
        ]
        return record


def write_vics_case(
    findings: Iterable[dict],
    out_path: str | os.PathLike,
    case_name: str,
    scheme_region: str = DEFAULT_REGION,
    left_out: Counter | None = None,
) -> int:
    """Write the media among `findings` as a VICS 2.0 case export at `out_path`; returns the
    Media count.

    `scheme_region` (Default, US or UK, any case) names the category scheme of the export;
    only matches under that scheme precategorise. Findings that are no VICS media are
    counted in `left_out` by reason (see `left_out_reason`). The file is written whole or
    not at all.
    """
    scheme_region = vics_region(scheme_region)
    media: dict[str, _Media] = {}
    for finding in findings:
        reason = left_out_reason(finding)
        if reason is not None:
            if left_out is not None:
                left_out[reason] += 1
            continue
        media.setdefault(finding["md5"].lower(), _Media(finding)).add(finding)

    scheme = scheme_for_region(scheme_region)
    records = [m.record(i, scheme) for i, m in enumerate(media.values(), start=1)]
    document = {
        "@odata.context": CONTEXT.format(region=scheme_region),
        "value": [
            {
                # Stable per case name, so a re-export updates the same case downstream.
                "CaseID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"haven:case:{case_name}")),
                "CaseNumber": case_name,
                "SourceApplicationName": "haven",
                "SourceApplicationVersion": __version__,
                "TotalMediaFiles": sum(len(r["MediaFiles"]) for r in records),
                "TotalPrecategorized": sum(1 for r in records if r["IsPrecategorized"]),
                "Media": records,
            }
        ],
    }

    out_path = Path(out_path)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(records)
