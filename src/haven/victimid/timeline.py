"""Timeline and map of a case's indexed media (from capture metadata)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy import or_, select

from haven.victimid.models import MediaRow
from haven.victimid.store import VictimStore


def _entry(m: MediaRow) -> dict:
    return {
        "media_id": m.id, "item_id": m.item_id, "path": m.path, "sha256": m.sha256,
        "captured_local": m.captured_local, "captured_offset": m.captured_offset,
        "captured_utc": m.captured_utc.isoformat() if m.captured_utc else None,
        "make": m.make, "model": m.model, "body_serial": m.body_serial,
        "gps": [m.gps_lat, m.gps_lon] if m.gps_lat is not None else None,
    }


def timeline(vs: VictimStore) -> list[dict]:
    """Media with a capture time, oldest first. UTC when known; otherwise the camera's local
    time, which can be hours off UTC and is flagged `"utc_known": false`."""
    with vs.session() as s:
        rows = list(s.scalars(select(MediaRow).where(
            or_(MediaRow.captured_utc.is_not(None), MediaRow.captured_local.is_not(None)))))
    out = []
    for m in rows:
        e = _entry(m)
        e["utc_known"] = m.captured_utc is not None
        e["sort_time"] = e["captured_utc"] or m.captured_local
        out.append(e)
    out.sort(key=lambda e: (e["sort_time"], e["path"]))
    return out


def geojson(vs: VictimStore) -> dict:
    """A GeoJSON FeatureCollection of the geotagged media (points, [lon, lat] order)."""
    with vs.session() as s:
        rows = list(s.scalars(select(MediaRow).where(MediaRow.gps_lat.is_not(None)).order_by(MediaRow.id)))
    features = []
    for m in rows:
        coords = [m.gps_lon, m.gps_lat] + ([m.gps_alt] if m.gps_alt is not None else [])
        props = _entry(m)
        props.pop("gps")
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": coords},
                         "properties": props})
    return {"type": "FeatureCollection", "features": features}


def write_json(document, out_path: str | os.PathLike) -> None:
    """Write JSON whole or not at all."""
    out = Path(out_path)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, out)
