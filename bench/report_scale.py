"""report.html at scale in Chromium: time to first paint, to ready, and to filter.

    .venv/bin/python bench/report_scale.py                 # 100,000 items (the issue's case)
    .venv/bin/python bench/report_scale.py --items 20000 --limit 100000

Generates a benign case (tests/report/reportkit.py: generated paths and numbers, no store),
renders report.html, opens it from file:// in Debian's Chromium (Playwright, headless) and
measures: first contentful paint, the script's end (all lists drawn: `data-ready-ms`), a
search over the fresh list and a seizure filter (the script's own time for filter + sort +
draw, `data-apply-ms`, without the 120 ms typing debounce). Baseline, same run: a naive
static page with the same rows as plain <table> markup (what the report was before, without
its 2,000-row cap). Targets (issue 19): first paint < 2 s, filter < 200 ms on this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from html import escape
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "report"))
sys.path.insert(0, str(HERE.parent / "src"))

from reportkit import synthetic_case  # noqa: E402

from haven.report.html import ROW_LIMIT, render_report  # noqa: E402

ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def naive_page(findings: list[dict]) -> str:
    rows = "".join(f"<tr><td>{escape(f['path'])}</td><td>{escape(f['mime'] or '')}</td>"
                   f"<td>{f['size']}</td><td>{f['finding']}</td></tr>" for f in findings)
    return f"<!doctype html><html><body><h1>naive</h1><table>{rows}</table></body></html>"


def fcp(pg) -> float:
    return pg.evaluate("performance.getEntriesByType('paint')"
                       ".filter(e => e.name === 'first-contentful-paint')[0].startTime")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--limit", type=int, default=ROW_LIMIT, help="rows per list in the page")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    summary, findings = synthetic_case(a.items)
    t = time.perf_counter()
    page = render_report(summary, findings, limit=a.limit)
    render_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        ours, naive = Path(tmp) / "report.html", Path(tmp) / "naive.html"
        ours.write_text(page, encoding="utf-8")
        naive.write_text(naive_page(findings), encoding="utf-8")
        print(f"{len(findings):,} items, limit {a.limit:,}/list: rendered in {render_s:.2f} s, "
              f"report.html {ours.stat().st_size / 1e6:.1f} MB (naive {naive.stat().st_size / 1e6:.1f} MB)")
        res: dict[str, list[float]] = {k: [] for k in ("fcp", "ready", "search", "filter",
                                                        "naive_fcp", "naive_load")}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for _ in range(a.runs):
                pg = browser.new_page(viewport={"width": 1280, "height": 900})
                pg.goto(ours.as_uri())
                pg.wait_for_selector("html[data-ready='1']", timeout=120_000)
                res["fcp"].append(fcp(pg))
                res["ready"].append(float(pg.get_attribute("html", "data-ready-ms")))
                before = pg.get_attribute("#fresh", "data-apply-ms")
                pg.fill("#fresh .q", "holiday_0004")
                pg.wait_for_function("document.querySelector('#fresh .pos').innerText.includes('filtered')")
                res["search"].append(float(pg.get_attribute("#fresh", "data-apply-ms")))
                assert before is not None
                pg.fill("#fresh .q", "")
                pg.wait_for_function("!document.querySelector('#fresh .pos').innerText.includes('filtered')")
                pg.select_option("#fresh .f-seizure", "phone-02")
                pg.wait_for_function("document.querySelector('#fresh .pos').innerText.includes('filtered')")
                res["filter"].append(float(pg.get_attribute("#fresh", "data-apply-ms")))
                pg.close()
                pg = browser.new_page(viewport={"width": 1280, "height": 900})
                t = time.perf_counter()
                pg.goto(naive.as_uri(), timeout=300_000)
                res["naive_load"].append((time.perf_counter() - t) * 1000)
                res["naive_fcp"].append(fcp(pg))
                pg.close()
            browser.close()
    med = {k: sorted(v)[len(v) // 2] for k, v in res.items()}
    print(f"report.html  first paint {med['fcp']:.0f} ms, all lists ready {med['ready']:.0f} ms "
          f"(target < 2000)")
    print(f"             search fresh list {med['search']:.0f} ms, seizure filter "
          f"{med['filter']:.0f} ms (target < 200; plus the 120 ms typing debounce)")
    print(f"naive table  first paint {med['naive_fcp']:.0f} ms, load {med['naive_load']:.0f} ms "
          f"(baseline, same run)")
    print(f"ratio first paint report/naive: {med['fcp'] / med['naive_fcp']:.2f}; "
          f"ready/naive load: {med['ready'] / med['naive_load']:.2f}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}; median of {a.runs} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
