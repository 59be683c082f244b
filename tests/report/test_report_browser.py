"""report.html in a real browser (Debian's Chromium through Playwright, headless, file://).

On a generated 1,200-item case: the lists page, search, filter by seizure and type, sort both
ways and page; every input has a label; nothing is fetched from the network. Chromium comes
from apt (scripts/browser-deps.sh); skipped with the reason only when it is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reportkit import synthetic_case

from haven.report.html import render_report

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Chromium missing: run scripts/browser-deps.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, tmp_path_factory):
    summary, findings = synthetic_case(1200)
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(summary, findings), encoding="utf-8")
    pg = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, requests = [], []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("request", lambda r: requests.append(r.url))
    pg.goto(path.as_uri())
    pg.wait_for_selector("html[data-ready='1']")
    yield pg, findings
    assert errors == [], errors
    assert all(u.startswith("file://") for u in requests), requests
    pg.close()


def _rows(pg, section: str) -> list[list[str]]:
    return pg.eval_on_selector_all(
        f"#{section} tbody tr", "trs => trs.map(tr => [...tr.cells].map(td => td.innerText))")


def _pos(pg, section: str) -> str:
    return pg.inner_text(f"#{section} .pos")


def test_fresh_list_pages_fifty_rows_at_a_time(page):
    pg, findings = page
    fresh = sum(1 for f in findings if f["finding"] == "fresh")
    assert len(_rows(pg, "fresh")) == 50
    assert _pos(pg, "fresh").startswith(f"Rows 1–50 of {fresh:,}")
    first = _rows(pg, "fresh")[0]
    pg.click("#fresh .next")
    assert _pos(pg, "fresh").startswith("Rows 51–100")
    assert _rows(pg, "fresh")[0] != first
    pg.click("#fresh .prev")
    assert _rows(pg, "fresh")[0] == first
    pg.select_option("#fresh .per", "500")
    assert len(_rows(pg, "fresh")) == min(500, fresh)
    pg.select_option("#fresh .per", "50")


def test_search_finds_one_path_and_clearing_restores_all(page):
    pg, findings = page
    target = next(f for f in findings if f["finding"] == "fresh" and ".zip/" in f["path"])
    name = target["path"].rsplit("/", 1)[1]
    pg.fill("#fresh .q", name.upper())  # case-insensitive
    pg.wait_for_function(f"document.querySelector('#fresh .pos').innerText.includes('of 1 ')")
    rows = _rows(pg, "fresh")
    assert len(rows) == 1 and name in rows[0][0]
    # the container chain is shown as crumbs: the zip is its own crumb
    crumbs = pg.eval_on_selector_all("#fresh tbody td.path .crumb", "cs => cs.map(c => c.innerText)")
    assert any(c.endswith(".zip") for c in crumbs) and crumbs[-1].endswith(name)
    pg.fill("#fresh .q", "")
    pg.wait_for_function("!document.querySelector('#fresh .pos').innerText.includes('filtered')")
    assert len(_rows(pg, "fresh")) == 50


def test_search_by_md5_which_is_the_path_tooltip(page):
    pg, findings = page
    target = next(f for f in findings if f["finding"] == "known")
    pg.fill("#known .q", target["md5"])
    pg.wait_for_function("document.querySelector('#known .pos').innerText.includes('of 1 ')")
    assert _rows(pg, "known")[0][0].endswith(target["path"].rsplit("/", 1)[1])
    assert pg.get_attribute("#known tbody td.path", "title") == "MD5 " + target["md5"]
    pg.fill("#known .q", "")


def test_filter_by_seizure_and_type(page):
    pg, findings = page
    want = sum(1 for f in findings if f["finding"] == "fresh" and f["path"].startswith("phone-02/")
               and f["mime"] == "image/png")
    pg.select_option("#fresh .f-seizure", "phone-02")
    pg.select_option("#fresh .f-type", "image/png")
    assert f"of {want:,} (filtered from" in _pos(pg, "fresh")
    rows = _rows(pg, "fresh")
    assert rows and all(r[1] == "phone-02" and r[2] == "image/png" for r in rows)
    pg.select_option("#fresh .f-seizure", "")
    pg.select_option("#fresh .f-type", "")


def test_sort_by_a_column_both_ways(page):
    pg, _ = page
    pg.click("#near-known th:nth-child(5) button")  # Distance
    assert pg.get_attribute("#near-known th:nth-child(5)", "aria-sort") == "ascending"
    d = [int(r[4]) for r in _rows(pg, "near-known")]
    assert d == sorted(d) and d[0] < d[-1]
    pg.click("#near-known th:nth-child(5) button")
    assert pg.get_attribute("#near-known th:nth-child(5)", "aria-sort") == "descending"
    d = [int(r[4]) for r in _rows(pg, "near-known")]
    assert d == sorted(d, reverse=True)
    pg.click("#fresh th:nth-child(1) button")  # Path, text
    paths = [r[0] for r in _rows(pg, "fresh")]
    assert paths == sorted(paths)


def test_accessibility_headings_and_labels(page):
    pg, _ = page
    assert pg.eval_on_selector_all("h1", "hs => hs.length") == 1
    unlabelled = pg.eval_on_selector_all(
        "input, select", "es => es.filter(e => !e.closest('label') && !e.getAttribute('aria-label')).length")
    assert unlabelled == 0
    assert pg.eval_on_selector_all("section.worklist", "ss => ss.every(s => s.querySelector('h2'))")
    # near-known says how in words: crop window / central crop
    hows = [r[5] for r in _rows(pg, "near-known")]
    assert any("crop window" in h for h in hows) and any("central 84%" in h for h in hows)


def test_thumbnails_are_blurred_and_grey_until_clicked(browser, tmp_path):
    """`--thumbnails` pages: a generated benign gradient stands in for a thumbnail."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.linear_gradient("L").resize((64, 64)).save(buf, "JPEG")
    summary, findings = synthetic_case(40)
    path = next(f["path"] for f in findings if f["finding"] == "fresh")
    page_file = tmp_path / "report.html"
    page_file.write_text(render_report(summary, findings, thumbnails={
        path: base64.b64encode(buf.getvalue()).decode()}), encoding="utf-8")
    pg = browser.new_page()
    pg.goto(page_file.as_uri())
    pg.wait_for_selector("html[data-ready='1']")
    assert "This file holds pictures" in pg.inner_text(".notice.pictures")
    thumbs = pg.locator("button.thumb")
    assert thumbs.count() == 1
    style = "e => getComputedStyle(e.querySelector('img')).filter"
    assert "blur" in thumbs.evaluate(style) and "grayscale" in thumbs.evaluate(style)
    assert thumbs.get_attribute("aria-pressed") == "false"
    thumbs.click()
    assert thumbs.evaluate(style) == "none"
    assert thumbs.get_attribute("aria-pressed") == "true"
    thumbs.click()
    assert "blur" in thumbs.evaluate(style)
    pg.close()
