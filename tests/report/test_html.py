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
    # the matcher does not record rotation/mirroring: the report says so rather than guess
    assert "does not record" in how_matched(_m("pdq", 3, "pdq"))
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
