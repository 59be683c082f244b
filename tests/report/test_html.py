"""report.html from findings alone: words for matches, container crumbs, caps, escaping."""

import json
import re

from reportkit import synthetic_case

from haven.report import html
from haven.report.html import container_splits, how_matched, render_report


def _m(kind, distance=0, tag=None, **kw):
    return {"signal_type": kind, "distance": distance, "matched_signal": tag, **kw}


def test_how_matched_says_crop_window_and_banner_in_words():
    assert how_matched(_m("md5")) == "identical file (MD5 digest)"
    c84 = how_matched(_m("pdq", 6, "pdq-c84"))
    assert "6 of 256 bits differ" in c84 and "central 84%" in c84 and "banner" in c84
    w = how_matched(_m("pdq", 0, "pdq-w85x89+1-2"))
    assert "identical picture hash" in w and "crop window 85% x 89%" in w and "+1% / -2%" in w
    assert "cropped" in w
    # the matcher records which query hash matched: as is, rotated, mirrored, hash-only crop
    assert how_matched(_m("pdq", 3, "pdq")).endswith("whole picture; as is")
    assert "rotated 90° clockwise" in how_matched(_m("pdq", 3, "pdq@rot90"))
    assert "mirrored left-right" in how_matched(_m("pdq", 3, "pdq-c84@c84+flip-y"))
    framed = how_matched(_m("pdq", 12, "pdq@frame-l4r0t6b2"))
    assert "cropped" in framed and "4% left, 6% top, 2% bottom" in framed
    v = how_matched(_m("vpdq", 2, "item 0-10s ~ known 5-15s", query_share=0.5, known_share=0.25))
    assert "video frames" in v and "50% of the item's frames" in v and "25% of the known" in v


def test_container_chain_splits_where_an_item_is_a_container():
    containers = {"s/backup.zip", "s/backup.zip/inner/pack.zip"}
    p = "s/backup.zip/inner/pack.zip/a.jpg"
    assert container_splits(p, containers) == [12, 27]
    assert container_splits("s/Pictures/a.jpg", containers) == []


def _data(page: str) -> dict:
    raw = re.search(r'<script id="haven-data" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(raw.group(1))


def test_report_is_self_contained_and_inlines_the_service_stylesheet():
    summary, findings = synthetic_case(60)
    page = render_report(summary, findings)
    assert "<img" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page), "the report must fetch nothing"
    assert "<link" not in page
    assert html.STYLESHEET.read_text() in page
    assert page.count("<svg") == 3
    lists = {lst["key"]: lst for lst in _data(page)["lists"]}
    assert sum(lst["total"] for lst in lists.values()) == len(findings)
    assert lists["fresh"]["total"] == summary["by_finding"]["fresh"]
    # fresh: biggest first; near-known: closest first
    sizes = [r[4] for r in lists["fresh"]["rows"]]
    assert sizes == sorted(sizes, reverse=True)
    dists = [r[5] for r in lists["near-known"]["rows"]]
    assert dists == sorted(dists)
    # a file inside a zip shows its container in the chain
    zipped = next(r for r in lists["fresh"]["rows"] if ".zip/" in r[0])
    assert zipped[1] and zipped[0][:zipped[1][0]].endswith(".zip")


def test_above_the_cap_a_list_shows_its_top_and_says_where_the_rest_is():
    summary, findings = synthetic_case(300)
    page = render_report(summary, findings, limit=40)
    fresh = next(lst for lst in _data(page)["lists"] if lst["key"] == "fresh")
    assert fresh["total"] > 40 and len(fresh["rows"]) == 40 == fresh["shown"]
    assert f"Showing the top 40 of {fresh['total']:,}: findings.jsonl and findings.csv" in page


def test_a_hostile_path_cannot_end_the_script_or_inject_markup():
    summary, findings = synthetic_case(10)
    findings[0]["path"] = "laptop-01/</script><script>alert(1)</script>.jpg"
    page = render_report(summary, findings)
    assert "</script><script>alert(1)" not in page
    assert _data(page)["lists"]  # still parses
    paths = [r[0] for lst in _data(page)["lists"] for r in lst["rows"]]
    assert findings[0]["path"] in paths


def _luminance(hex_colour: str) -> float:
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def test_finding_colours_have_text_contrast_on_white():
    for kind, colour in html.COLOURS.items():
        ratio = 1.05 / (_luminance(colour) + 0.05)
        assert ratio >= 4.5, (kind, colour, ratio)


def test_indexed_case_orders_fresh_by_known_camera_then_faces_then_size():
    summary, findings = synthetic_case(120)
    fresh = [f for f in findings if f["finding"] == "fresh"]
    known = next(f for f in findings if f["finding"] == "known")
    small_with_camera, with_faces = fresh[0], fresh[1]
    context = {
        known["path"]: {"media_id": 1, "faces": 0, "camera": "Acme X #SN9", "serial": "SN9", "taken": None},
        small_with_camera["path"]: {"media_id": 2, "faces": 0, "camera": "Acme X #SN9",
                                    "serial": "SN9", "taken": "2024-05-01T10:00:00"},
        with_faces["path"]: {"media_id": 3, "faces": 2, "camera": None, "serial": None,
                             "taken": "2021-01-01T10:00:00"},
    }
    page = render_report(summary, findings, context=context)
    lst = next(lst for lst in _data(page)["lists"] if lst["key"] == "fresh")
    assert [c["key"] for c in lst["columns"]][4:7] == ["faces", "camera", "taken"]
    assert lst["rows"][0][0] == small_with_camera["path"]
    assert lst["rows"][0][6] == "Acme X #SN9 (also took known material)"
    assert lst["rows"][1][0] == with_faces["path"] and lst["rows"][1][5] == 2
    sizes = [r[4] for r in lst["rows"][2:]]
    assert sizes == sorted(sizes, reverse=True)
    assert page.count("<svg") == 4 and html.TIMELINE_TITLE in page  # the timeline
    assert "2021" in page and "2024" in page


def test_fresh_media_of_a_known_place_come_first_and_say_why():
    summary, findings = synthetic_case(120)
    fresh = [f for f in findings if f["finding"] == "fresh"]
    known = [f for f in findings if f["finding"] == "known"]
    by_scene, by_series, big_with_faces = fresh[0], fresh[1], fresh[2]

    def vi(mid, **kw):
        return {"media_id": mid, "faces": 0, "camera": None, "serial": None, "taken": None,
                "series": None, "scene": [], **kw}
    context = {
        known[0]["path"]: vi(1, scene=[by_scene["path"]]),
        known[1]["path"]: vi(2, series=(7, "S-7")),
        by_scene["path"]: vi(3, scene=[known[0]["path"]]),
        by_series["path"]: vi(4, series=(7, "S-7")),
        big_with_faces["path"]: vi(5, faces=3, series=(8, "S-8")),  # a series with no known
    }
    page = render_report(summary, findings, context=context)
    lst = next(lst for lst in _data(page)["lists"] if lst["key"] == "fresh")
    assert [c["key"] for c in lst["columns"]][7] == "place"
    rows = lst["rows"]
    assert [r[0] for r in rows[:3]] == [by_scene["path"], by_series["path"], big_with_faces["path"]]
    assert rows[0][8] == f"same place as known material: {known[0]['path']}"
    assert rows[1][8] == "in series S-7, which holds known material"
    assert rows[2][8] is None and rows[2][5] == 3


def test_timeline_uses_exif_time_else_the_file_modified_time():
    summary, findings = synthetic_case(40)
    media = [f for f in findings if f["media"] == "image"]
    for f in media[:5]:
        f["modified"] = "2019-03-04T05:06:07Z"
    context = {media[0]["path"]: {"media_id": 1, "faces": 0, "camera": None, "serial": None,
                                  "taken": "2020-07-01T10:00:00"}}
    bars = dict(html.timeline(findings, context))
    assert bars == {"2019-03": {"EXIF time taken": 0, "file modified": 4},
                    "2020-07": {"EXIF time taken": 1, "file modified": 0}}
    assert html.timeline(findings, {}) == [("2019-03", {"EXIF time taken": 0, "file modified": 5})]
    plain = render_report(summary, findings)  # a case never indexed still has its timeline
    assert plain.count("<svg") == 4 and html.TIMELINE_TITLE in plain


def test_thumbnails_only_when_asked_and_the_page_says_it_holds_pictures():
    summary, findings = synthetic_case(30)
    path = next(f["path"] for f in findings if f["finding"] == "fresh")
    plain = render_report(summary, findings)
    assert _data(plain)["thumbs"] == {} and "holds pictures" not in plain
    assert "base64," + "AAAA" not in plain
    page = render_report(summary, findings, thumbnails={path: "AAAA"})
    assert _data(page)["thumbs"] == {path: "AAAA"}
    assert "This file holds pictures:" in page and "blurred and in greyscale" in page
    asked = render_report(summary, findings, thumbnails={})
    assert "Thumbnails were asked for, but the case has none" in asked


def test_victim_id_table_name_is_the_models():
    from haven.report.context import VI_MEDIA
    from haven.victimid.models import MediaRow

    assert VI_MEDIA == MediaRow.__tablename__
