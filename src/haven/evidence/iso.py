"""ISO 9660 optical disc images (CD, DVD), read with pycdlib.

One disc may carry several name trees over the same files; the richest is used: Rock Ridge
(POSIX names), then Joliet (long Unicode names), then UDF (on bridge discs), then plain ISO
9660 names with their `;1` version stripped. Images with only UDF (no ISO 9660 volume
descriptor, as many Blu-ray and large DVD images) are a Problem "unsupported": pycdlib
needs the ISO 9660 descriptor to open them. No compression means no bombs, but a file
declaring more bytes than the image holds is a Problem "corrupt".
"""

from __future__ import annotations

import posixpath
from functools import partial
from typing import Iterator

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.names import MemberNames
from haven.evidence.containers.iso import DESCRIPTOR_AT, UDF_MARKS

def iso_members(item: Item, limits: Limits) -> Iterator[Item | Problem]:
    """The files of the disc image `item` (the `iso` container kind's reader)."""
    with item.open() as stream:
        disc = pycdlib.PyCdlib()
        try:
            disc.open_fp(stream)
        except PyCdlibException as exc:
            stream.seek(DESCRIPTOR_AT)
            udf_only = stream.read(5) in UDF_MARKS
            kind = "unsupported" if udf_only else "corrupt"
            reason = ("UDF-only disc image (no ISO 9660 descriptor) cannot be opened"
                      if udf_only else f"cannot read the disc image: {exc}")
            yield Problem(item.path, kind, reason, item.size)
            return
        try:
            yield from _listed(disc, item, limits)
        finally:
            disc.close()


def _open_file(disc: pycdlib.PyCdlib, key: str, disc_path: str):
    # pycdlib's reader sets its position on entering its context, not on creation.
    reader = disc.open_file_from_iso(**{key: disc_path})
    reader.__enter__()
    return reader


def _stamp(record, size: int) -> dict:
    """Where the file's data lies on the disc, its size and its recorded date."""
    stamp: dict = {"size": size}
    try:
        stamp["extent"] = record.extent_location()
        d = record.date
        stamp["date"] = [d.years_since_1900, d.month, d.day_of_month, d.hour, d.minute,
                         d.second, d.gmtoffset]
    except Exception:  # untrusted data (or a UDF record without these): size alone
        pass
    return stamp


def _namespace(disc: pycdlib.PyCdlib) -> str:
    if disc.has_rock_ridge():
        return "rr_path"
    if disc.has_joliet():
        return "joliet_path"
    if disc.has_udf():
        return "udf_path"
    return "iso_path"


def _listed(disc: pycdlib.PyCdlib, item: Item, limits: Limits) -> Iterator[Item | Problem]:
    names = MemberNames(item.path, limits)
    key = _namespace(disc)
    files: list[str] = []
    for directory, _, filenames in disc.walk(**{key: "/"}):
        files.extend(posixpath.join(directory, name) for name in filenames)
    for disc_path in sorted(files):
        shown = disc_path.lstrip("/")
        if key == "iso_path":
            shown = shown.rsplit(";", 1)[0]
        path, name_problems = names.place(shown)
        record = disc.get_record(**{key: disc_path})
        if record.is_symlink():
            yield Problem(path, "symlink", "symbolic link on the disc; not followed")
            continue
        size = record.get_data_length()
        if item.size is not None and size > item.size:
            yield Problem(path, "corrupt", f"file declares {size} bytes, more than the whole image",
                          size)
            continue
        yield Item(path, size, opener=partial(_open_file, disc, key, disc_path),
                   stamp=_stamp(record, size))
        yield from name_problems
