"""Known victim-ID libraries: same-scene search and "find this face" across the case and
libraries built with `haven index`, hits labelled with their source, path, SHA-256 and series."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data as data
from PIL import Image
from typer.testing import CliRunner

from haven.victimid import scene
from haven.victimid.cli import victimid_app
from haven.victimid.errors import VictimIdError
from haven.victimid.search import (SceneSearch, find_face, open_libraries, open_library)
from haven.victimid.synth import make_room, photograph


def exif_bytes(serial: str, when: str) -> bytes:
    exif = Image.Exif()
    exif[0x0110] = "LibCam"
    sub = exif.get_ifd(0x8769)
    sub[0xA431] = serial  # BodySerialNumber
    sub[0x9003] = when  # DateTimeOriginal
    return exif.tobytes()

runner = CliRunner()


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A known library: two earlier photos of the case's room A (seed 11) in a series marked
    victim identified, six unrelated rooms, and a copy of the astronaut portrait."""
    from haven.victimid import series
    from haven.victimid.indexer import Indexer, IndexOptions
    from haven.victimid.store import VictimStore

    root = tmp_path_factory.mktemp("lib")
    media = root / "known_media"
    media.mkdir()
    room_a = make_room(11)
    # same camera body: the two join one series through their serial link
    for k in (1, 2):
        photograph(room_a, 30 + k, crop=0.85, warp=0.05, occlusion=0.05).save(
            media / f"known_room_{k}.jpg", quality=90, exif=exif_bytes("LIB-7", f"2019:05:0{k} 12:00:00"))
    for k in range(6):
        photograph(make_room(40 + k), 60 + k).save(media / f"other_{k}.jpg", quality=90)
    Image.fromarray(data.astronaut()).resize((448, 448)).save(media / "astronaut_known.jpg", quality=90)
    lib_dir = root / "icse-lib"
    vs = VictimStore(lib_dir, create=True)
    Indexer(vs, IndexOptions(parts=("metadata", "scene", "faces"))).run([str(media)])
    series.build_links(vs)
    series.build_series(vs)
    ids = {Path(m.path).name: m.id for m in vs.all_media()}
    [s] = [x for x in series.list_series(vs) if ids["known_room_1.jpg"] in {m["media_id"] for m in x["members"]}]
    series.update(vs, s["id"], name="blue room", victim_identified=True, user="tester")
    yield lib_dir, media, ids
    vs.close()


def _query_photo():
    return np.asarray(photograph(make_room(11), 99, crop=0.85, warp=0.05, occlusion=0.05).convert("RGB"))


def test_scene_search_ranks_case_and_library_items_with_their_source(indexed_case, library):
    vs, ids = indexed_case
    lib_dir, media, lib_ids = library
    hits = SceneSearch(vs, [open_library(lib_dir)]).find(_query_photo(), top=8)
    verified = [h for h in hits if h.verified]
    case_room = {ids[f"room_a_{k}.jpg"] for k in (1, 2, 3)}
    assert len({h.media_id for h in verified if h.source == "case"} & case_room) >= 2
    lib_hits = [h for h in verified if h.source == "icse-lib"]
    assert {Path(h.path).name for h in lib_hits} == {"known_room_1.jpg", "known_room_2.jpg"}
    for h in lib_hits:
        assert h.library
        assert h.sha256 == hashlib.sha256((media / Path(h.path).name).read_bytes()).hexdigest()
        assert h.series["name"] == "blue room" and h.series["victim_identified"] is True
    # verified hits of both stores come before every unverified one, by inliers
    flags = [h.verified for h in hits]
    assert flags == sorted(flags, reverse=True)
    inl = [h.inliers for h in verified]
    assert inl == sorted(inl, reverse=True)
    assert not any(h.source == "icse-lib" and Path(h.path).name.startswith("other_") and h.verified for h in hits)


def test_query_is_encoded_with_each_stores_own_vocabulary(indexed_case, library):
    vs, _ids = indexed_case
    lib = open_library(f"known={library[0]}")
    search = SceneSearch(vs, [lib])
    [(src, lib_scenes)] = search.libraries
    assert src.name == "known"
    assert not np.allclose(lib_scenes.vocab.centroids, search.vocab.centroids)
    q = search.extractor.extract(_query_photo())
    # shortlist of one per store: only a correct library-vocabulary shortlist puts the
    # library's photo of the room first among eight library images
    hits = search._find(q, top=10, verify_top=1, self_id=None)
    top_lib = [h for h in hits if h.source == "known"][0]
    assert top_lib.verified and Path(top_lib.path).name.startswith("known_room")
    stored = lib_scenes.index._index.reconstruct(int(np.where(lib_scenes.index._ids == top_lib.media_id)[0][0]))
    assert top_lib.similarity == pytest.approx(float(lib_scenes.vocab.encode(q.descriptors) @ stored), abs=1e-5)


def test_query_by_case_media_searches_the_library_too(indexed_case, library):
    vs, ids = indexed_case
    hits = SceneSearch(vs, open_libraries([library[0]])).find_media(ids["room_a_1.jpg"], top=6)
    assert not any(h.source == "case" and h.media_id == ids["room_a_1.jpg"] for h in hits)
    assert {Path(h.path).name for h in hits if h.verified and h.library} == {"known_room_1.jpg", "known_room_2.jpg"}


def test_find_this_face_across_case_and_library(indexed_case, library):
    from sqlalchemy import select

    from haven.victimid.models import FaceRow

    vs, ids = indexed_case
    with vs.session() as s:
        [q] = s.scalars(select(FaceRow).where(FaceRow.media_id == ids["astronaut.png"]))
    # include_rejected: test_faces records verdicts on these case pairs in the shared fixture
    hits = find_face(vs, face_id=q.id, max_distance=0.6, include_rejected=True,
                     libraries=[open_library(library[0])])
    by_source = {}
    for h in hits:
        by_source.setdefault(h.source, set()).add(Path(h.path).name)
    assert by_source == {"case": {"astronaut_flip.jpg", "astronaut_small.jpg"}, "icse-lib": {"astronaut_known.jpg"}}
    lib_hit = next(h for h in hits if h.library)
    assert lib_hit.decision is None and len(lib_hit.sha256) == 64
    rest = [h.distance for h in hits if h.decision != "confirm"]  # confirmed pairs come first
    assert rest == sorted(rest)


def test_command_line_labels_library_hits(indexed_case, library, evidence_dir):
    vs, _ids = indexed_case
    lib_dir = library[0]
    r = runner.invoke(victimid_app, ["scene", "--case", str(vs.dir), str(evidence_dir / "room_a_2.jpg"),
                                     "--library", f"known={lib_dir}", "--top", "6", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    lib_rows = [x for x in rows if x["source"] == "known" and x["verified"]]
    assert lib_rows and all(x["series"]["victim_identified"] for x in lib_rows)
    assert {x["source"] for x in rows} >= {"case", "known"}
    r = runner.invoke(victimid_app, ["scene", "--case", str(vs.dir), str(evidence_dir / "room_a_2.jpg"),
                                     "--library", f"known={lib_dir}", "--top", "6"])
    assert r.exit_code == 0 and "source" in r.output and "known" in r.output and "identified" in r.output
    r = runner.invoke(victimid_app, ["faces", "find", "--case", str(vs.dir), str(evidence_dir / "astronaut.png"),
                                     "--library", str(lib_dir), "--max-distance", "0.6", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert {(x["source"], Path(x["path"]).name) for x in rows if x["library"]} == {("icse-lib", "astronaut_known.jpg")}


def test_a_directory_that_is_not_an_indexed_library_is_refused(tmp_path, library):
    with pytest.raises(VictimIdError, match="not an indexed directory"):
        open_library(tmp_path)
    with pytest.raises(VictimIdError, match="two libraries"):
        open_libraries([library[0], library[0]])
    r = runner.invoke(victimid_app, ["scene", "--case", str(tmp_path), "--media", "1", "--library", str(tmp_path)])
    assert r.exit_code != 0 and "Traceback" not in r.output


def test_scene_index_is_cached_and_rebuilt_when_items_change(tmp_path):
    from haven.victimid.indexer import Indexer, IndexOptions
    from haven.victimid.store import VictimStore

    ev = tmp_path / "ev"
    ev.mkdir()
    for k in range(4):
        photograph(make_room(70 + k), k).save(ev / f"r{k}.jpg", quality=90)
    vs = VictimStore(tmp_path / "case", create=True)
    Indexer(vs, IndexOptions(parts=("metadata", "scene"))).run([str(ev)])
    SceneSearch(vs)
    [cached] = list(vs.cache_dir.glob("scene-vlad-*.index"))
    [words] = list(vs.cache_dir.glob("scene-words*.index"))  # the inverted file, cached the same way
    assert vs.generation("scene") in cached.name and vs.generation("scene") in words.name
    assert len(scene.SceneIndex.load(cached)) == 4
    again = SceneSearch(vs)  # served from the file
    assert len(again.index) == 4 and list(vs.cache_dir.glob("scene-vlad-*.index")) == [cached]
    assert len(again.case.inverted) == 4

    new = tmp_path / "ev2"
    new.mkdir()
    mild = dict(crop=0.85, warp=0.05, occlusion=0.05)
    photograph(make_room(90), 50, **mild).save(new / "new_room.jpg", quality=90)
    Indexer(vs, IndexOptions(parts=("metadata", "scene"))).run([str(new)])
    fresh = SceneSearch(vs)
    assert len(fresh.index) == 5
    [rebuilt] = list(vs.cache_dir.glob("scene-vlad-*.index"))
    assert rebuilt != cached  # the stale file is gone
    [rewords] = list(vs.cache_dir.glob("scene-words*.index"))
    assert rewords != words and not list(vs.cache_dir.glob(f"{words.name}*"))
    assert len(fresh.case.inverted) == 5
    new_id = max(m.id for m in vs.all_media())
    hits = fresh.query(np.asarray(photograph(make_room(90), 51, **mild).convert("RGB")), top=2)
    assert hits[0].media_id == new_id and hits[0].verified
    vs.close()
