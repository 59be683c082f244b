"""Wellness and the analyst's media pages: pictures blurred and grey unless deliberately
unblurred (audited), per-user defaults (still audited), scope, victim-ID pages.

The case is benign (scikit-image sample photos, generated rooms, a rendered sign), scanned and
indexed through the library (tests/service/vi_case.py).
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from servicekit import PASSWORD, database_url, make_service
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner
from vi_case import SERIAL, case_copy
from web_fixtures import csrf_of, fields, page_login

from haven.service.accounts import create_user, utcnow
from haven.service.models import AuditEntry, Case


@pytest.fixture(scope="module")
def world(tmp_path_factory, backend, pg_cluster):
    base = tmp_path_factory.mktemp("wellness")
    svc = make_service(base, database_url(backend, pg_cluster))
    ids = case_copy(base / "case")
    with svc.session() as s:
        case_id = s.scalar(select(Case.id).where(Case.name == "case-1"))
        other_dir = base / "case2"
        other_dir.mkdir()
        s.add(Case(name="case-2", directory=str(other_dir), created_at=utcnow()))
        s.flush()
        create_user(s, "analyst2", PASSWORD, "analyst", case_name="case-2")
        create_user(s, "calm", PASSWORD, "analyst", case_name="case-1")
        s.commit()
    yield {"svc": svc, "ids": ids, "case": case_id, "case_dir": base / "case"}
    svc.app.state.svc.engine.dispose()


def _clear_thumb(world, name: str) -> Image.Image:
    from haven.victimid import thumbs
    from haven.victimid.store import VictimStore

    vs = VictimStore(world["case_dir"])
    try:
        return Image.open(io.BytesIO(thumbs.thumbnail(vs, world["ids"][name])))
    finally:
        vs.close()


def _laplacian_var(img: Image.Image) -> float:
    """High-frequency energy: variance of the 4-neighbour Laplacian of the luminance."""
    g = np.asarray(img.convert("L"), dtype=np.float64)
    lap = (g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1])
    return float(lap.var())


def _channel_spread(img: Image.Image) -> float:
    """Mean absolute difference between colour channels (0 for greyscale)."""
    a = np.asarray(img.convert("RGB"), dtype=np.int16)
    return float(np.abs(a[..., 0] - a[..., 1]).mean() + np.abs(a[..., 1] - a[..., 2]).mean())


def _get_image(client, url: str) -> Image.Image:
    r = client.get(url)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "no-store"
    return Image.open(io.BytesIO(r.content))


def _audit(world, action: str) -> list[AuditEntry]:
    with world["svc"].session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)
                              .order_by(AuditEntry.seq)))


def _verify_chain(world) -> None:
    from haven.service.cli import audit_app

    settings = world["svc"].settings
    args = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        args += ["--database-url", settings.database_url]
    result = CliRunner().invoke(audit_app, ["verify", *args])
    assert result.exit_code == 0 and "chain intact" in result.output, result.output


def test_the_index_stores_a_small_thumbnail_of_every_image(world):
    for name in ("astronaut.png", "coffee.jpg", "room_1.jpg", "sign.png"):
        img = _clear_thumb(world, name)
        assert img.format == "JPEG" and max(img.size) == 320
    assert "notes.txt" not in world["ids"]


def test_pictures_are_blurred_and_grey_by_default(world):
    c, case, ids = world["svc"].client, world["case"], world["ids"]
    page_login(c, "analyst", PASSWORD)
    page = c.get(f"/cases/{case}")
    assert page.status_code == 200
    for name in ("astronaut.png", "coffee.jpg", "room_1.jpg"):
        assert f'src="/cases/{case}/media/{ids[name]}/thumb"' in page.text
    assert page.text.count('action="/cases/%d/media/' % case) >= 6  # an unblur form each
    before = len(_audit(world, "media.view.clear"))
    clear = _clear_thumb(world, "astronaut.png")
    served = _get_image(c, f"/cases/{case}/media/{ids['astronaut.png']}/thumb")
    assert served.size == clear.size
    assert _channel_spread(clear) > 10 and _channel_spread(served) < 1
    assert _laplacian_var(served) < 0.02 * _laplacian_var(clear)
    # and the blurred picture is far from the clear one pixel by pixel
    diff = np.abs(np.asarray(served.convert("L"), float) - np.asarray(clear.convert("L"), float))
    assert diff.mean() > 15
    assert len(_audit(world, "media.view.clear")) == before


def test_unblurring_needs_the_csrf_post_is_audited_and_stays_with_the_session(world):
    c, case, ids = world["svc"].client, world["case"], world["ids"]
    m = ids["coffee.jpg"]
    url = f"/cases/{case}/media/{m}"
    page_login(c, "analyst", PASSWORD)
    token = csrf_of(c.get(url).text)
    assert c.get(f"{url}/unblur").status_code == 405
    r = c.post(f"{url}/unblur", follow_redirects=False, **fields(csrf="forged"))
    assert r.status_code == 403
    assert _channel_spread(_get_image(c, f"{url}/thumb")) < 1
    unblurs = len(_audit(world, "media.unblur"))

    r = c.post(f"{url}/unblur", follow_redirects=False, **fields(csrf=token, next=url))
    assert r.status_code == 303 and r.headers["location"] == url
    entry = _audit(world, "media.unblur")[-1]
    assert len(_audit(world, "media.unblur")) == unblurs + 1
    assert entry.actor == "user:analyst" and entry.target == f"case:{case}/media:{m}"
    assert entry.detail["path"].endswith("coffee.jpg")

    clear = _clear_thumb(world, "coffee.jpg")
    views = len(_audit(world, "media.view.clear"))
    shown = _get_image(c, f"{url}/thumb")
    assert _channel_spread(shown) > 10
    assert _laplacian_var(shown) > 0.5 * _laplacian_var(clear)
    last = _audit(world, "media.view.clear")
    assert len(last) == views + 1 and last[-1].detail["reason"] == "unblurred"
    # only that item: another one stays blurred
    other = _get_image(c, f"/cases/{case}/media/{ids['chelsea.jpg']}/thumb")
    assert _channel_spread(other) < 1
    # the page says so and offers to blur it again
    assert f'action="{url}/reblur"' in c.get(url).text

    # a new session of the same analyst starts blurred again
    other_client = type(c)(c.app, base_url="http://127.0.0.1")
    page_login(other_client, "analyst", PASSWORD)
    assert _channel_spread(_get_image(other_client, f"{url}/thumb")) < 1

    r = c.post(f"{url}/reblur", follow_redirects=False, **fields(csrf=token, next=url))
    assert r.status_code == 303
    assert _channel_spread(_get_image(c, f"{url}/thumb")) < 1
    assert _audit(world, "media.reblur")[-1].target == f"case:{case}/media:{m}"
    _verify_chain(world)


def test_a_user_setting_changes_the_default_and_clear_views_are_still_audited(world):
    c, case, ids = world["svc"].client, world["case"], world["ids"]
    page_login(c, "calm", PASSWORD)
    page = c.get("/settings")
    assert page.status_code == 200
    assert 'name="blur" value="1" checked' in page.text
    token = csrf_of(page.text)
    r = c.post("/settings", follow_redirects=False, **fields(csrf=token, grey=1))  # blur off
    assert r.status_code == 303
    change = _audit(world, "user.wellness.change")[-1]
    assert change.actor == "user:calm" and change.detail["blur"] is False
    assert change.detail["was_blur"] is True
    assert 'name="blur" value="1" checked' not in c.get("/settings").text

    url = f"/cases/{case}/media/{ids['room_1.jpg']}/thumb"
    clear = _clear_thumb(world, "room_1.jpg")
    views = len(_audit(world, "media.view.clear"))
    sharp_grey = _get_image(c, url)
    assert _channel_spread(sharp_grey) < 1
    assert _laplacian_var(sharp_grey) > 0.5 * _laplacian_var(clear)
    _get_image(c, url)
    entries = _audit(world, "media.view.clear")
    assert len(entries) == views + 2                                  # one per picture sent
    assert entries[-1].actor == "user:calm" and entries[-1].detail["reason"] == "user setting"

    c.post("/settings", follow_redirects=False, **fields(csrf=token))  # both off
    assert _channel_spread(_get_image(c, url)) > 5
    # the other analyst's defaults are untouched
    page_login(c, "analyst", PASSWORD)
    assert _channel_spread(_get_image(c, url)) < 1
    _verify_chain(world)


def test_other_analysts_get_404_and_other_roles_403(world):
    svc, case, ids = world["svc"], world["case"], world["ids"]
    c = svc.client
    m, face = ids["room_1.jpg"], ids["face:astronaut.png"]
    page_login(c, "analyst2", PASSWORD)
    token = csrf_of(c.get("/settings").text)
    gets = [f"/cases/{case}/media/{m}", f"/cases/{case}/media/{m}/thumb",
            f"/cases/{case}/media/{m}/scene", f"/cases/{case}/faces/{face}",
            f"/cases/{case}/series", f"/cases/{case}/series/1", f"/cases/{case}/text?q=room"]
    posts = [f"/cases/{case}/media/{m}/unblur", f"/cases/{case}/media/{m}/reblur",
             f"/cases/{case}/faces/{face}/decide"]
    denied = len(_audit(world, "denied"))
    for url in gets:
        r = c.get(url)
        assert r.status_code == 404, url
        assert "image/jpeg" not in r.headers["content-type"]
    for url in posts:
        r = c.post(url, follow_redirects=False,
                   **fields(csrf=token, other=ids["face:chelsea.jpg"], decision="confirm"))
        assert r.status_code == 404, url
    assert len(_audit(world, "denied")) == denied + len(gets) + len(posts)
    assert not [e for e in _audit(world, "media.unblur") if e.actor == "user:analyst2"]
    # a liaison may never use these pages at all
    page_login(c, "fr", PASSWORD)
    assert c.get(f"/cases/{case}/media/{m}/thumb").status_code == 403
    # the case's own analyst: an absent item is a 404 too
    page_login(c, "analyst", PASSWORD)
    assert c.get(f"/cases/{case}/media/99999/thumb").status_code == 404
    assert c.get(f"/cases/{case}/faces/99999").status_code == 404
    assert c.get(f"/cases/{case}/series/99999").status_code == 404


def test_item_series_scene_and_text_pages(world):
    c, case, ids = world["svc"].client, world["case"], world["ids"]
    page_login(c, "analyst", PASSWORD)
    r1, r2 = ids["room_1.jpg"], ids["room_2.jpg"]
    item = c.get(f"/cases/{case}/media/{r1}")
    assert item.status_code == 200
    for text in ("TestMaker TestCam 2", SERIAL, "2023-05-06T13:00:00 UTC",
                 f'href="/cases/{case}/series/1"', f"/cases/{case}/media/{r1}/scene"):
        assert text in item.text, text
    assert "blurred picture" in item.text and f"/cases/{case}/media/{r1}/unblur" in item.text
    series = c.get(f"/cases/{case}/series")
    assert series.status_code == 200 and "series-" in series.text
    one = c.get(f"/cases/{case}/series/1")
    assert f"same camera body serial {SERIAL}" in one.text
    assert "geometrically consistent feature matches" in one.text
    assert f'src="/cases/{case}/media/{r2}/thumb"' in one.text
    room = c.get(f"/cases/{case}/media/{r1}/scene")
    assert room.status_code == 200
    rows = room.text.split('<tbody>')[1].split("</tr>")
    assert "room_2.jpg" in rows[0] and "same scene" in rows[0]     # the same room ranks first
    assert _audit(world, "victimid.scene.search")[-1].target == f"case:{case}/media:{r1}"
    if shutil.which("tesseract"):
        found = c.get(f"/cases/{case}/text", params={"q": "mirador"})
        assert "sign.png" in found.text and "room_1.jpg" not in found.text
        assert _audit(world, "victimid.text.search")[-1].detail["q"] == "mirador"
    nothing = c.get(f"/cases/{case}/text", params={"q": "zebra"})
    assert nothing.status_code == 200 and "No match." in nothing.text


def test_find_this_face_with_confirm_and_reject(world):
    from haven.victimid.models import FaceDecisionRow
    from haven.victimid.store import VictimStore

    c, case, ids = world["svc"].client, world["case"], world["ids"]
    a, b = ids["face:astronaut.png"], ids["face:chelsea.jpg"]
    page_login(c, "analyst", PASSWORD)
    assert f'href="/cases/{case}/faces/{a}"' in c.get(f"/cases/{case}/media/{ids['astronaut.png']}").text
    page = c.get(f"/cases/{case}/faces/{a}")
    assert page.status_code == 200 and "chelsea.jpg" in page.text
    token = csrf_of(page.text)
    bad = c.post(f"/cases/{case}/faces/{a}/decide", follow_redirects=False,
                 **fields(csrf=token, other=b, decision="maybe"))
    assert bad.status_code == 422
    r = c.post(f"/cases/{case}/faces/{a}/decide", follow_redirects=False,
               **fields(csrf=token, other=b, decision="confirm"))
    assert r.status_code == 303
    assert "confirm (analyst)" in c.get(f"/cases/{case}/faces/{a}").text
    entry = _audit(world, "victimid.face.decide")[-1]
    assert entry.detail["decision"] == "confirm" and entry.target == f"case:{case}/face:{a}-{b}"
    c.post(f"/cases/{case}/faces/{a}/decide", follow_redirects=False,
           **fields(csrf=token, other=b, decision="reject"))
    assert "chelsea.jpg" not in c.get(f"/cases/{case}/faces/{a}").text  # rejected: hidden
    vs = VictimStore(world["case_dir"])
    try:
        with vs.session() as s:
            rows = list(s.scalars(select(FaceDecisionRow).order_by(FaceDecisionRow.id)))
        assert [(r.decision, r.user) for r in rows][-2:] == [("confirm", "analyst"),
                                                             ("reject", "analyst")]
        assert vs.verify_log()
    finally:
        vs.close()
    _verify_chain(world)


def test_the_media_pages_speak_french(world):
    c, case, ids = world["svc"].client, world["case"], world["ids"]
    page_login(c, "analyst", PASSWORD)
    m, face = ids["room_1.jpg"], ids["face:astronaut.png"]
    c.cookies.set("haven_lang", "fr")
    try:
        expected = {f"/cases/{case}": "Déflouter", f"/cases/{case}/media/{m}": "Même pièce",
                    f"/cases/{case}/media/{m}/scene": "Même pièce que l'élément",
                    f"/cases/{case}/faces/{face}": "Visages proches du visage",
                    f"/cases/{case}/series": "Séries de case-1",
                    f"/cases/{case}/series/1": "Pourquoi elle en fait partie",
                    f"/cases/{case}/text?q=x": "Recherche de texte",
                    "/settings": "Flouter les images par défaut"}
        for url, text in expected.items():
            r = c.get(url)
            assert r.status_code == 200 and text in r.text.replace("&#39;", "'"), url
    finally:
        c.cookies.delete("haven_lang")


def test_same_room_and_face_pages_load_the_case_caches_on_either_service_database(world, monkeypatch):
    """The service's own database (SQLite or PostgreSQL) holds accounts and audit; each case
    is its own case.db, so its search caches work the same under both: the second query loads
    the files in the case's victimid-cache/, a change to the case rebuilds."""
    from haven.victimid import faces as facemod
    from haven.victimid import scene
    from haven.victimid.models import FaceRow
    from haven.victimid.store import VictimStore

    c, case, ids = world["svc"].client, world["case"], world["ids"]
    cache = world["case_dir"] / "victimid-cache"
    shutil.rmtree(cache, ignore_errors=True)
    built = {"scene": 0, "words": 0, "faces": 0}

    def counting(kind, real):
        def build(*a, **k):
            built[kind] += 1
            return real(*a, **k)
        return build

    monkeypatch.setattr(scene.SceneIndex, "build", counting("scene", scene.SceneIndex.build))
    monkeypatch.setattr(scene.InvertedFile, "build", counting("words", scene.InvertedFile.build))
    real_init = facemod.FaceIndex.__init__
    monkeypatch.setattr(facemod.FaceIndex, "__init__",
                        lambda self, *a, **k: (built.__setitem__("faces", built["faces"] + 1),
                                               real_init(self, *a, **k))[1])
    page_login(c, "analyst", PASSWORD)
    r1, face = ids["room_1.jpg"], ids["face:astronaut.png"]
    for _ in range(2):
        room = c.get(f"/cases/{case}/media/{r1}/scene")
        assert room.status_code == 200 and "room_2.jpg" in room.text.split("<tbody>")[1].split("</tr>")[0]
        assert c.get(f"/cases/{case}/faces/{face}").status_code == 200
    assert built == {"scene": 1, "words": 1, "faces": 1}
    assert {p.name.split("-")[0] for p in cache.glob("*.index")} == {"scene", "faces"}

    vs = VictimStore(world["case_dir"])
    try:
        with vs.session() as s, s.begin():
            s.add(FaceRow(media_id=ids["coffee.jpg"], model="test-model", left=1, top=1, right=50,
                          bottom=50, detector_score=1.0, embedding=np.zeros(128, np.float32).tobytes()))
    finally:
        vs.close()
    assert c.get(f"/cases/{case}/faces/{face}").status_code == 200
    assert c.get(f"/cases/{case}/media/{r1}/scene").status_code == 200
    assert built == {"scene": 1, "words": 1, "faces": 2}  # a face changed: only faces rebuilt
