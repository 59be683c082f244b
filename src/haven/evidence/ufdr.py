"""UFDR reports (Cellebrite Reader files): a zip holding `report.xml` and the extracted files.

`report.xml` (namespace `http://pa.cellebrite.com/report/2.0`) describes the extraction: the
`<project>` element (report version, extraction type), `<sourceExtractions>` (one
`<extractionInfo>` per extraction: name, type, device name), project-level `<metadata
section="…">` lists of `<item name="…">` (device info, extraction data: manufacturer, model,
IMEI, extraction and decoding times) and `<taggedFiles>`: one `<file fs="…" path="…"
size="…" deleted="…">` per extracted file, whose `<metadata section="File">` item `Local Path`
names the zip member holding its content (`files\\Image\\IMG_0001.JPG`).

The zip is read as any zip (`haven.evidence.zip`: bomb checks, encryption, salvage), but each
member a tagged file names is placed under that file's path on the phone
(`report.ufdr/private/var/mobile/Media/DCIM/100APPLE/IMG_0001.JPG`), prefixed with its file
system's name (`fs`) when the report holds more than one, and flagged `deleted` when the report
says so. Members no tagged file names (report.xml itself, DbData, files of decoded chats) keep
their name in the zip; a tagged file whose Local Path is not in the zip is a Problem
"unreadable". Decoded records (`<decodedData>`: chats, calls, contacts) are not read. The
report's device and extraction data become an `Extraction` for summary.json.

An unzipped report (a folder holding report.xml and `files/`) is read the same way, as a folder
kind: tagged files under their phone paths, the rest under their names in the folder.

The XML is parsed as a stream (expat refuses entity-expansion bombs) and elements are dropped
as soon as they are read, so a report of millions of records needs little memory.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from typing import Iterator
from xml.etree import ElementTree

from haven.evidence.base import Extraction, Item, Problem
from haven.evidence.names import MemberNames, escape_name

_REPORT_NAMES = ("report.xml", "Report.xml")
_DEVICE_SECTIONS = ("Device Info", "Extraction Data", "Additional Fields")


@dataclass
class UfdrLayout:
    """Where a UFDR's members belong: zip member name -> (path on the phone, flags)."""

    places: dict[str, tuple[str, dict]] = field(default_factory=dict)
    record: dict = field(default_factory=dict)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (path on the phone, local path)


def _member_key(name: str) -> str:
    return name.replace("\\", "/").lstrip("/")


def report_member(archive: zipfile.ZipFile) -> zipfile.ZipInfo | None:
    """The zip's `report.xml` when it is a Cellebrite report, else None."""
    for name in _REPORT_NAMES:
        try:
            info = archive.getinfo(name)
        except KeyError:
            continue
        if info.flag_bits & 0x1:
            return None
        try:
            with archive.open(info) as fh:
                head = fh.read(4096)
        except Exception:  # untrusted data: an unreadable report is just a zip member
            return None
        if is_report(head):
            return info
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_layout(archive: zipfile.ZipFile, report: zipfile.ZipInfo) -> UfdrLayout:
    """The layout `report.xml` gives the zip's members (raises on XML it cannot parse)."""
    members = {_member_key(i.filename) for i in archive.infolist() if not i.is_dir()}
    with archive.open(report) as fh:
        return parse_report(fh, members)


def is_report(head: bytes) -> bool:
    """True when the first bytes of a report.xml are a Cellebrite report's."""
    return b"pa.cellebrite.com/report" in head or (b"<project" in head and b"sourceExtractions" in head)


def parse_report(fh, members: set[str]) -> UfdrLayout:
    """The layout the report read from `fh` gives `members` (their names, `/`-separated)."""
    layout = UfdrLayout()
    record = layout.record
    record["format"] = "UFDR (Cellebrite report)"
    extractions: list[dict] = []
    device: dict[str, dict[str, str]] = {}
    tagged: list[tuple[str, str, str, bool]] = []  # fs, path, local path, deleted
    stack: list[str] = []
    for event, elem in ElementTree.iterparse(fh, events=("start", "end")):
        tag = _local(elem.tag)
        if event == "start":
            stack.append(tag)
            if tag == "project" and len(stack) == 1:
                for attr, key in (("reportVersion", "report_version"),
                                  ("extractionType", "extraction_type"), ("name", "project_name")):
                    if elem.get(attr):
                        record[key] = elem.get(attr)
            continue
        stack.pop()
        if tag == "extractionInfo":
            extractions.append({k: v for k, v in (
                ("id", elem.get("id")), ("name", elem.get("name")), ("type", elem.get("type")),
                ("device_name", elem.get("deviceName")), ("full_name", elem.get("fullName")))
                if v is not None})
        elif tag == "metadata" and stack == ["project"]:
            section = elem.get("section") or "metadata"
            if section in _DEVICE_SECTIONS:
                values = device.setdefault(section, {})
                for child in elem:
                    if _local(child.tag) == "item" and child.get("name"):
                        values[child.get("name")] = (child.text or "").strip()
            elem.clear()
        elif tag == "file" and "taggedFiles" in stack:
            local = None
            for meta in elem:
                if _local(meta.tag) == "metadata" and meta.get("section") == "File":
                    for child in meta:
                        if child.get("name") == "Local Path":
                            local = (child.text or "").strip()
            if local:
                tagged.append((elem.get("fs") or "", elem.get("path") or "", local,
                               (elem.get("deleted") or "").lower() == "deleted"))
            elem.clear()
        elif tag in ("model", "modelType", "decodedData", "extraInfo"):
            elem.clear()
    if extractions:
        record["extractions"] = extractions
    for section, values in device.items():
        record[section.lower().replace(" ", "_")] = values
    record["tagged_files"] = len(tagged)
    several_fs = len({fs for fs, *_ in tagged}) > 1
    for fs, path, local, deleted in tagged:
        logical = path.lstrip("/") or local
        if several_fs and fs:
            logical = f"{fs}/{logical}"
        key = _member_key(local)
        if key not in members:
            layout.missing.append((logical, local))
            continue
        if key not in layout.places:
            layout.places[key] = (logical, {"deleted": True} if deleted else {})
    return layout


def layout_of(archive: zipfile.ZipFile, path: str) -> tuple[UfdrLayout | None, list]:
    """The UFDR layout of the zip at `path` (None for any other zip) and the records and
    problems to report with it."""
    report = report_member(archive)
    if report is None:
        return None, []
    try:
        layout = read_layout(archive, report)
    except (ElementTree.ParseError, zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        return None, [Problem(f"{path}/{report.filename}", "corrupt",
                              f"UFDR report.xml unreadable ({type(exc).__name__}: {exc}); its files "
                              "are listed under their names in the zip")]
    out: list = [Extraction(path, "ufdr", layout.record)]
    out += [Problem(f"{path}/{escape_name(logical)[0]}", "unreadable",
                    f"listed in report.xml (Local Path {local!r}) but not in the UFDR")
            for logical, local in layout.missing]
    return layout, out


def folder_members(fs_dir: str, path: str, limits) -> Iterator[Item | Problem | Extraction]:
    """The files of an unzipped UFDR (a folder with report.xml and files/), placed as the
    report says; a folder whose report.xml is not a Cellebrite report is listed plainly."""
    files: list[tuple[str, str]] = []  # (name in the folder, `/`-separated; full path)
    for root, dirs, names_here in os.walk(fs_dir):
        dirs.sort(key=os.fsencode)
        relative_root = os.path.relpath(root, fs_dir)
        for name in sorted(names_here, key=os.fsencode):
            relative = name if relative_root == "." else f"{relative_root}/{name}".replace(os.sep, "/")
            files.append((relative, os.path.join(root, name)))
    layout = None
    report = next((os.path.join(fs_dir, n) for n in _REPORT_NAMES
                   if os.path.isfile(os.path.join(fs_dir, n))), None)
    if report is not None:
        try:
            with open(report, "rb") as fh:
                if is_report(fh.read(4096)):
                    fh.seek(0)
                    layout = parse_report(fh, {name for name, _ in files})
        except (ElementTree.ParseError, OSError, ValueError) as exc:
            yield Problem(f"{path}/{os.path.basename(report)}", "corrupt",
                          f"UFED report.xml unreadable ({type(exc).__name__}: {exc}); its files "
                          "are listed under their names in the folder")
    if layout is not None:
        yield Extraction(path, "ufdr", {**layout.record, "format": "UFED report folder (Cellebrite)"})
        for logical, local in layout.missing:
            yield Problem(f"{path}/{escape_name(logical)[0]}", "unreadable",
                          f"listed in report.xml (Local Path {local!r}) but not in the folder")
    names = MemberNames(path, limits)
    for relative, full in files:
        name, flags = layout.places.get(relative, (relative, {})) if layout else (relative, {})
        where, name_problems = names.place(name)
        yield Item(where, None, fs_path=full, flags=dict(flags))
        yield from name_problems
