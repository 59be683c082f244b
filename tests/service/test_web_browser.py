"""The pages in a real browser: Playwright driving Debian's Chromium, headless.

The app is served by uvicorn in a thread on 127.0.0.1 and a free port. A coordinator
disseminates, the FR liaison downloads, acknowledges and reports an outcome, the coordinator
sees it on the dashboard; FR opening DE's package page gets 404. With HAVEN_SCREENSHOTS=1 the
main pages are written to docs/screenshots/.

Chromium comes from apt (scripts/browser-deps.sh); Playwright's own browser download is never
used. Skipped, with the reason, only when Chromium cannot be installed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from servicekit import PASSWORD, ROOT, make_service, tar_of

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
SHOTS = ROOT / "docs" / "screenshots"


def _chromium_or_skip() -> None:
    if not CHROMIUM.exists():
        try:
            run = subprocess.run([str(ROOT / "scripts" / "browser-deps.sh")],
                                 capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"Chromium missing and scripts/browser-deps.sh could not run: {exc}")
        if run.returncode != 0 or not CHROMIUM.exists():
            pytest.skip("Chromium missing and scripts/browser-deps.sh could not install it: "
                        + (run.stderr.strip()[-300:] or "no error output"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory, refer_output):
    """(base URL, service, operation id, package ids) with the packages attached."""
    import uvicorn

    svc = make_service(tmp_path_factory.mktemp("browser"), None)
    c = svc.client
    op = c.post("/api/v1/operations", json={"name": "Operation Lantern",
                                            "description": "synthetic test operation"},
                headers=svc.h("coord")).json()
    r = c.post(f"/api/v1/operations/{op['id']}/packages", headers=svc.h("coord"),
               files={"archive": ("p.tar.gz", tar_of(refer_output), "application/gzip")})
    assert r.status_code == 201, r.text
    pkgs = {p["country"]: p["id"] for p in
            c.get(f"/api/v1/operations/{op['id']}", headers=svc.h("coord")).json()["packages"]}
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(svc.app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", svc, op["id"], pkgs
    server.should_exit = True
    thread.join(10)
    svc.app.state.svc.engine.dispose()


@pytest.fixture(scope="module")
def browser():
    _chromium_or_skip()
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def _shot(page, name: str) -> None:
    if os.environ.get("HAVEN_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _login(page, base: str, user: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_the_operation_flow_in_a_real_browser(served, browser):
    base, svc, op_id, pkgs = served
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 800},
                              locale="en-GB")
    page = ctx.new_page()
    try:
        # the coordinator sends every package
        page.goto(f"{base}/operations")
        assert page.locator("input[name=password]").count() == 1  # not logged in: the form
        _shot(page, "login")
        _login(page, base, "coord")
        assert page.url.endswith("/operations")
        _shot(page, "operations")
        page.click(f"a[href='/operations/{op_id}']")
        page.click("text=Send the ticked packages")
        assert "The packages were sent." in page.inner_text("main")
        assert page.inner_text("tr[data-country=FR]").count("sent") >= 1
        page.click("button:has-text('Log out')")
        assert page.url.endswith("/login")

        # the FR liaison downloads, acknowledges, reports
        _login(page, base, "fr")
        assert page.url.endswith("/packages")
        _shot(page, "liaison-packages")
        page.click(f"a[href='/packages/{pkgs['FR']}']")
        with page.expect_download() as info:
            page.click("#download")
        download = info.value
        assert download.suggested_filename == "FR.tar"
        assert Path(download.path()).stat().st_size > 0
        page.reload()
        assert page.inner_text("#pkg-status") == "downloaded"
        page.click("#acknowledge")
        assert "the package is acknowledged" in page.inner_text("main")
        page.fill("input[name='t.searches']", "4")
        first = page.locator("#outcome-form input[name$='.arrests']").nth(1)
        first.fill("2")
        page.fill("textarea[name=notes]", "Two arrests after a search in <Lyon> & Paris")
        _shot(page, "liaison-package")
        page.click("#report")
        assert "the outcome is recorded" in page.inner_text("main")
        assert "<Lyon> & Paris" in page.inner_text("#outcomes")
        assert page.inner_text("#pkg-status") == "outcomes reported"

        # another country's package page: 404, same as one that does not exist
        r = page.goto(f"{base}/packages/{pkgs['DE']}")
        assert r.status == 404 and "Not found" in page.inner_text("h1")
        page.goto(f"{base}/packages/{pkgs['FR']}")
        page.click("button:has-text('Log out')")

        # the coordinator sees it on the dashboard
        _login(page, base, "coord")
        page.goto(f"{base}/operations/{op_id}")
        assert "outcomes reported" in page.inner_text("tr[data-country=FR]")
        _shot(page, "operation")
        page.goto(f"{base}/operations/{op_id}/dashboard")
        assert page.inner_text("#totals [data-metric=arrests]") == "2"
        assert page.inner_text("#totals [data-metric=searches]") == "4"
        fr_row = page.locator("#by-country tr[data-country=FR]")
        assert fr_row.locator("[data-metric=arrests]").inner_text().strip() == "2"
        assert page.locator("svg.chart rect").count() >= 5
        _shot(page, "dashboard")
    finally:
        ctx.close()


def test_an_analyst_sees_blurred_pictures_and_unblurs_one(served, browser):
    """The case view in a browser: pictures come blurred and grey; one click unblurs one."""
    import io

    import numpy as np
    from PIL import Image
    from sqlalchemy import select
    from vi_case import case_copy

    from haven.service.models import Case

    base, svc, _, _ = served
    with svc.session() as s:
        case = s.scalar(select(Case).where(Case.name == "case-1"))
    ids = case_copy(Path(case.directory))
    ctx = browser.new_context(viewport={"width": 1200, "height": 800}, locale="en-GB")
    page = ctx.new_page()

    def spread(media_id: int) -> float:
        r = ctx.request.get(f"{base}/cases/{case.id}/media/{media_id}/thumb")
        assert r.status == 200 and r.headers["cache-control"] == "no-store"
        a = np.asarray(Image.open(io.BytesIO(r.body())).convert("RGB"), dtype=np.int16)
        return float(np.abs(a[..., 0] - a[..., 1]).mean() + np.abs(a[..., 1] - a[..., 2]).mean())

    try:
        _login(page, base, "analyst")
        page.goto(f"{base}/cases/{case.id}")
        pictures = page.locator("figure.pic.blurred img")
        assert pictures.count() == 6
        page.wait_for_load_state("load")
        assert pictures.evaluate_all("els => els.every(i => i.complete && i.naturalWidth > 0)")
        _shot(page, "case-view")
        coffee = ids["coffee.jpg"]
        assert spread(coffee) < 1
        page.click(f"form[action='/cases/{case.id}/media/{coffee}/unblur'] button")
        assert page.url.endswith(f"/cases/{case.id}")
        assert page.locator("figure.pic.blurred img").count() == 5
        assert spread(coffee) > 10
        page.goto(f"{base}/cases/{case.id}/media/{ids['room_1.jpg']}")
        assert "SER-7731" in page.inner_text("main")
        _shot(page, "victimid-item")
    finally:
        ctx.close()
