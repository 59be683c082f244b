"""Capture metadata of an item: EXIF (Pillow), XMP (the packet, parsed here), IPTC, and the
container tags of videos (PyAV).

EXIF wins over XMP for each field (XMP is often rewritten by editors; EXIF is what the camera
wrote), and both are kept raw in `CaptureMetadata.tags` so the analyst sees every source.
Times: `captured_local` is the wall-clock time the camera wrote; `captured_utc` is only set
when an offset is recorded (OffsetTimeOriginal / XMP offset) or, failing that, from the GPS
time stamp, which is UTC by definition; `utc_source` says which.
"""

from __future__ import annotations

import io
import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

from PIL import ExifTags, Image, IptcImagePlugin

from haven.victimid.errors import VictimIdError

MAX_XMP = 1024 * 1024  # an XMP packet larger than this is not parsed (malicious or junk)

_IFD_EXIF = ExifTags.IFD.Exif
_IFD_GPS = ExifTags.IFD.GPSInfo
_IPTC_NAMES = {
    (2, 5): "ObjectName", (2, 25): "Keywords", (2, 55): "DateCreated", (2, 60): "TimeCreated",
    (2, 80): "By-line", (2, 90): "City", (2, 92): "Sublocation", (2, 95): "Province-State",
    (2, 101): "Country", (2, 116): "CopyrightNotice", (2, 120): "Caption-Abstract",
}
_XMP_PREFIXES = {
    "http://ns.adobe.com/xap/1.0/": "xmp", "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/exif/1.0/": "exif", "http://cipa.jp/exif/1.0/": "exifEX",
    "http://ns.adobe.com/exif/1.0/aux/": "aux", "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM", "http://purl.org/dc/elements/1.1/": "dc",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
}
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"


@dataclass
class CaptureMetadata:
    """What an item says about the device, time and place it was made."""

    make: str | None = None
    model: str | None = None
    body_serial: str | None = None
    lens: str | None = None
    lens_serial: str | None = None
    software: str | None = None
    owner: str | None = None
    unique_id: str | None = None
    captured_local: str | None = None  # "2021-06-01T12:34:56.250"
    captured_offset: str | None = None  # "+02:00"
    captured_utc: datetime | None = None  # naive UTC
    utc_source: str | None = None  # "offset" / "gps" / "container"
    gps_lat: float | None = None
    gps_lon: float | None = None
    gps_alt: float | None = None
    width: int | None = None
    height: int | None = None
    tags: dict = field(default_factory=dict)  # {"exif": {...}, "gps": {...}, "xmp": {...}, ...}

    def as_dict(self) -> dict:
        d = asdict(self)
        d["captured_utc"] = self.captured_utc.isoformat() if self.captured_utc else None
        return d


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = str(value).strip().strip("\x00").strip()
    return value or None


def _jsonable(value):
    if isinstance(value, bytes):
        return value.hex() if any(b < 9 for b in value) else value.decode("latin-1")
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, (int, str)) or value is None:
        return value
    try:
        return float(value)  # IFDRational
    except (TypeError, ValueError, ZeroDivisionError):
        return str(value)


def _dms(value, ref: str | None) -> float | None:
    """Degrees from an EXIF (deg, min, sec) triple and its N/S/E/W reference."""
    try:
        deg, minutes, sec = (float(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    out = deg + minutes / 60 + sec / 3600
    return -out if (ref or "").upper().startswith(("S", "W")) else out


def _xmp_coord(value: str | None) -> float | None:
    """XMP GPS coordinate "DDD,MM.mmk" or "DDD,MM,SSk" (k = N/S/E/W) as degrees."""
    m = re.fullmatch(r"\s*(\d+),(\d+(?:\.\d+)?)(?:,(\d+(?:\.\d+)?))?([NSEW])\s*", value or "")
    if not m:
        return None
    out = int(m[1]) + float(m[2]) / 60 + float(m[3] or 0) / 3600
    return -out if m[4] in "SW" else out


_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")


def _parse_time(value: str | None) -> tuple[str | None, str | None]:
    """(local ISO time, offset) from "2021:06:01 12:34:56" or XMP "2021-06-01T12:34:56.25+02:00"."""
    value = _text(value)
    if not value:
        return None, None
    m = re.fullmatch(
        r"(\d{4})[:-](\d{2})[:-](\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*(Z|[+-]\d{2}:?\d{2})?",
        value,
    )
    if not m or m[1] == "0000":
        return None, None
    local = f"{m[1]}-{m[2]}-{m[3]}T{m[4]}:{m[5]}:{m[6] or '00'}"
    if m[7]:
        local += "." + m[7][:6]
    offset = m[8]
    if offset == "Z":
        offset = "+00:00"
    elif offset and ":" not in offset:
        offset = offset[:3] + ":" + offset[3:]
    try:
        datetime.fromisoformat(local)
    except ValueError:
        return None, None
    return local, offset


def to_utc(local: str, offset: str) -> datetime | None:
    """Naive UTC datetime from a local ISO time and a "+HH:MM" offset."""
    try:
        aware = datetime.fromisoformat(local + offset)
    except ValueError:
        return None
    return aware.astimezone(timezone.utc).replace(tzinfo=None)


def _read_xmp(packet: bytes | str | None) -> dict:
    """Simple properties (attributes and leaf elements) and bags of an XMP packet, by
    "prefix:Name"; unknown namespaces keep their URI in braces."""
    if not packet:
        return {}
    if isinstance(packet, str):
        packet = packet.encode("utf-8", "replace")
    if len(packet) > MAX_XMP:
        return {"_error": "XMP packet too large"}
    start = packet.find(b"<x:xmpmeta")
    end = packet.rfind(b"</x:xmpmeta>")
    if start < 0 or end < 0:
        start, end = packet.find(b"<rdf:RDF"), packet.rfind(b"</rdf:RDF>")
        if start < 0 or end < 0:
            return {}
        body = packet[start:end + len(b"</rdf:RDF>")]
    else:
        body = packet[start:end + len(b"</x:xmpmeta>")]
    if b"<!ENTITY" in packet or b"<!DOCTYPE" in packet:
        return {"_error": "XMP with a DTD is not parsed"}  # entity expansion is an attack vector
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        return {"_error": f"XMP not well-formed: {exc}"}

    def name(tag: str) -> str:
        if tag.startswith("{"):
            uri, local = tag[1:].split("}", 1)
            prefix = _XMP_PREFIXES.get(uri)
            return f"{prefix}:{local}" if prefix else tag
        return tag

    out: dict = {}
    for desc in root.iter(f"{_RDF}Description"):
        for key, value in desc.attrib.items():
            if not key.startswith(_RDF):
                out[name(key)] = value
        for child in desc:
            items = [li.text or "" for li in child.iter(f"{_RDF}li")]
            if items:
                out[name(child.tag)] = items
            elif len(child) == 0 and child.text and child.text.strip():
                out[name(child.tag)] = child.text.strip()
    return out


def _read_iptc(img: Image.Image) -> dict:
    try:
        info = IptcImagePlugin.getiptcinfo(img) or {}
    except Exception:  # malformed IPTC blocks are common and never worth a failed item
        return {}
    out: dict = {}
    for key, value in info.items():
        label = _IPTC_NAMES.get(key, f"{key[0]}:{key[1]}")
        if isinstance(value, list):
            out[label] = [_text(v) for v in value]
        else:
            out[label] = _text(value)
    return out


def _first(*values) -> str | None:
    for v in values:
        t = _text(v)
        if t:
            return t
    return None


def from_image(img: Image.Image) -> CaptureMetadata:
    """Capture metadata of an opened Pillow image (nothing is decoded beyond the header)."""
    meta = CaptureMetadata(width=img.width, height=img.height)
    exif = img.getexif()
    ifd0 = {ExifTags.TAGS.get(k, str(k)): v for k, v in exif.items()}
    sub = {ExifTags.TAGS.get(k, str(k)): v for k, v in exif.get_ifd(_IFD_EXIF).items()}
    gps = {ExifTags.GPSTAGS.get(k, str(k)): v for k, v in exif.get_ifd(_IFD_GPS).items()}
    ifd0.pop("ExifOffset", None), ifd0.pop("GPSInfo", None)
    xmp = _read_xmp(img.info.get("xmp") or img.info.get("XML:com.adobe.xmp"))
    iptc = _read_iptc(img)
    meta.tags = {k: v for k, v in {
        "ifd0": {k: _jsonable(v) for k, v in ifd0.items() if k != "MakerNote"},
        "exif": {k: _jsonable(v) for k, v in sub.items() if k not in ("MakerNote", "UserComment")},
        "gps": {k: _jsonable(v) for k, v in gps.items()},
        "xmp": xmp,
        "iptc": iptc,
    }.items() if v}

    meta.make = _first(ifd0.get("Make"), xmp.get("tiff:Make"))
    meta.model = _first(ifd0.get("Model"), xmp.get("tiff:Model"))
    meta.body_serial = _first(sub.get("BodySerialNumber"), xmp.get("exifEX:BodySerialNumber"),
                              xmp.get("aux:SerialNumber"))
    meta.lens = _first(sub.get("LensModel"), xmp.get("exifEX:LensModel"), xmp.get("aux:Lens"))
    meta.lens_serial = _first(sub.get("LensSerialNumber"), xmp.get("exifEX:LensSerialNumber"),
                              xmp.get("aux:LensSerialNumber"))
    meta.software = _first(ifd0.get("Software"), xmp.get("xmp:CreatorTool"))
    meta.owner = _first(sub.get("CameraOwnerName"), ifd0.get("Artist"), iptc.get("By-line"))
    meta.unique_id = _first(sub.get("ImageUniqueID"), xmp.get("xmpMM:OriginalDocumentID"))

    local, offset = _parse_time(_first(sub.get("DateTimeOriginal")))
    if local:
        subsec = _text(sub.get("SubsecTimeOriginal"))
        if subsec and subsec.isdigit() and "." not in local:
            local += "." + subsec[:6]
        offset = offset or (_text(sub.get("OffsetTimeOriginal")) or _text(sub.get("OffsetTime")))
    else:
        local, offset = _parse_time(_first(xmp.get("exif:DateTimeOriginal"), xmp.get("photoshop:DateCreated"),
                                           xmp.get("xmp:CreateDate"), ifd0.get("DateTime")))
    if offset and not _OFFSET.match(offset):
        offset = None
    meta.captured_local, meta.captured_offset = local, offset
    if local and offset:
        meta.captured_utc, meta.utc_source = to_utc(local, offset), "offset"

    lat = _dms(gps.get("GPSLatitude"), _text(gps.get("GPSLatitudeRef")))
    lon = _dms(gps.get("GPSLongitude"), _text(gps.get("GPSLongitudeRef")))
    if lat is None or lon is None:
        lat, lon = _xmp_coord(xmp.get("exif:GPSLatitude")), _xmp_coord(xmp.get("exif:GPSLongitude"))
    if lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180 and (lat, lon) != (0, 0):
        meta.gps_lat, meta.gps_lon = round(lat, 7), round(lon, 7)
        try:
            alt = float(gps["GPSAltitude"])
            meta.gps_alt = -alt if gps.get("GPSAltitudeRef") in (b"\x01", 1) else alt
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            pass
    if meta.captured_utc is None:
        meta.captured_utc = _gps_utc(gps)
        if meta.captured_utc is not None:
            meta.utc_source = "gps"
    return meta


def _gps_utc(gps: dict) -> datetime | None:
    try:
        day = datetime.strptime(_text(gps["GPSDateStamp"]) or "", "%Y:%m:%d")
        h, m, s = (float(v) for v in gps["GPSTimeStamp"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return day + timedelta(hours=h, minutes=m, seconds=s)


_ISO6709 = re.compile(r"([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?")


def from_video(fh) -> CaptureMetadata:
    """Container tags of a video (creation time, make/model, ISO 6709 location) via PyAV."""
    import av  # heavy; only videos need it

    meta = CaptureMetadata()
    try:
        with av.open(fh, metadata_errors="ignore") as container:
            tags = {k: str(v) for k, v in (container.metadata or {}).items()}
            stream = container.streams.video[0] if container.streams.video else None
            if stream is not None:
                meta.width, meta.height = stream.codec_context.width, stream.codec_context.height
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VictimIdError(f"video container unreadable: {exc}") from exc
    meta.tags = {"container": tags}
    low = {k.lower(): v for k, v in tags.items()}
    meta.make = _first(low.get("com.apple.quicktime.make"), low.get("make"))
    meta.model = _first(low.get("com.apple.quicktime.model"), low.get("model"))
    meta.software = _first(low.get("com.apple.quicktime.software"), low.get("encoder"))
    local, offset = _parse_time(_first(low.get("com.apple.quicktime.creationdate"), low.get("creation_time")))
    meta.captured_local, meta.captured_offset = local, offset
    if local and offset:
        meta.captured_utc, meta.utc_source = to_utc(local, offset), "container"
    loc = _first(low.get("com.apple.quicktime.location.iso6709"), low.get("location"))
    m = _ISO6709.match(loc or "")
    if m:
        meta.gps_lat, meta.gps_lon = float(m[1]), float(m[2])
        meta.gps_alt = float(m[3]) if m[3] else None
    return meta


def from_bytes(data: bytes) -> CaptureMetadata:
    """Capture metadata of image bytes; raises `VictimIdError` when not an image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            return from_image(img)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise VictimIdError(f"image header unreadable: {exc}") from exc
