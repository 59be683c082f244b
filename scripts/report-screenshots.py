#!/usr/bin/env python3
"""Redraw docs/screenshots/triage-report*.png from the bundled demo (benign generated data).

    .venv/bin/python scripts/report-screenshots.py [--out docs/screenshots]

Runs `haven demo`, takes the report's top and its work lists, then indexes the demo for
victim identification (metadata and thumbnails), writes the report with `--thumbnails` and
takes the fresh list again (thumbnails blurred and grey, as the page shows them until clicked). Needs Chromium
(scripts/browser-deps.sh) and Playwright, as the report's browser test does.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def haven(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "haven.cli", *args], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    out = ap.parse_args().out
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        haven("demo", "--out", str(demo))
        case, evidence = demo / "case", demo / "evidence"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            lists = browser.new_page(viewport={"width": 1280, "height": 1210})
            page.goto((case / "report.html").as_uri())
            page.screenshot(path=str(out / "triage-report.png"))
            lists.goto((case / "report.html").as_uri())
            lists.evaluate("document.getElementById('fresh-h').scrollIntoView()")
            lists.screenshot(path=str(out / "triage-report-lists.png"))
            # the seizures as the scan took them, so the index's paths are the findings' paths
            seizures = [str(p) for p in sorted(evidence.iterdir())]
            haven("index", "--case", str(case), *seizures, "--parts", "metadata,thumbs,faces")
            haven("report", "--case", str(case), "--thumbnails")
            lists.goto((case / "report.html").as_uri())
            lists.evaluate("document.getElementById('fresh-h').scrollIntoView()")
            lists.screenshot(path=str(out / "triage-report-thumbnails.png"))
            browser.close()
    print(f"written: {out}/triage-report.png, triage-report-lists.png, triage-report-thumbnails.png")


if __name__ == "__main__":
    main()
