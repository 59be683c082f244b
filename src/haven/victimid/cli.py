"""Command line of victim identification: `index` and the `victimid` sub-commands.

Register with `app.command("index")(index)` and `app.add_typer(victimid_app, name="victimid")`
(`index_command` is the same function, exported for that).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from haven.commandline import KEY_FILE_OPTION, PASSWORDS_OPTION
from haven.terminal import Stages, fail as _fail, interrupted, out, print_json
from haven.errors import HavenError

victimid_app = typer.Typer(
    help="Victim identification: timeline, map, same-scene search, faces, text search, series.\n\n"
    "Run `haven index --case DIR EVIDENCE...` first.",
    no_args_is_help=True, add_completion=False, rich_markup_mode=None,
)
faces_app = typer.Typer(help="Faces of a case: list, find, confirm/reject, cluster.", no_args_is_help=True)
series_app = typer.Typer(help="Series: build from links, list, merge, split, name, export.", no_args_is_help=True)
victimid_app.add_typer(faces_app, name="faces")
victimid_app.add_typer(series_app, name="series")
CASE = typer.Option(..., "--case", help="Case directory.")


def _library_option():
    return typer.Option(
        None, "--library",
        help="Known victim-ID library to search as well: a directory built with `haven index` "
        "(repeatable; NAME=DIR names it, default: the directory's name).")




def _store(case: Path, create: bool = False, evidence: tuple = ()):
    from haven.victimid.store import VictimStore

    return VictimStore(case, create=create, evidence=evidence)


def _store_writing(case: Path, output: Optional[Path]):
    """The case's store, once `output` is known not to lie inside the case's evidence."""
    vs = _store(case)
    if output is not None:
        vs.case.check_output(output)
    return vs


def _query_image(image: Path) -> bytes:
    """The bytes of a query image given on the command line, refused early with a clear word."""
    from haven.victimid.errors import VictimIdError

    if not image.exists():
        raise VictimIdError(f"query image {image} does not exist")
    if image.is_dir():
        raise VictimIdError(f"query image {image} is a directory: give one image file")
    return image.read_bytes()


def _query_pixels(image: Path, region: tuple[int, int, int, int] | None = None):
    """Decoded pixels of a query image; a file that is no image is refused by name."""
    from PIL import UnidentifiedImageError

    from haven.victimid.errors import VictimIdError
    from haven.victimid.pixels import image_pixels

    data = _query_image(image)
    try:
        return image_pixels(data, region)
    except VictimIdError as exc:
        cause = exc.__cause__
        if not isinstance(cause, (UnidentifiedImageError, OSError, ValueError, SyntaxError,
                                  EOFError)):
            raise
    raise VictimIdError(f"{image} is not an image haven can read (JPEG, PNG, WebP, HEIC, …)")


def _query_features(pixels):
    """Scene features of a query's pixels (a future of them), extracted as the index does."""
    from haven.victimid import scene

    return scene.default_extractor().extract(pixels.result())


def _region(value: Optional[str]) -> tuple[int, int, int, int] | None:
    if not value:
        return None
    try:
        x, y, w, h = (int(v) for v in value.split(","))
    except ValueError:
        raise typer.BadParameter("region is X,Y,WIDTH,HEIGHT in pixels, e.g. 100,80,400,300") from None
    return x, y, w, h


def index_command(
    evidence: list[Path] = typer.Argument(..., help="Folders, files, archives or disk images (as for scan)."),
    case: Path = typer.Option(..., "--case", help="Case directory (created if missing)."),
    parts: str = typer.Option("metadata,scene,faces,ocr,thumbs", help="What to index, comma-separated (thumbs: small pictures for the web views)."),
    face_models: Optional[Path] = typer.Option(None, help="Directory of face model files (default: $HAVEN_FACE_MODELS or face-recognition-models)."),
    face_detector: str = typer.Option("hog", help="Face detector: hog (fast, frontal faces), cnn (also turned and partly hidden faces; seconds per photo), hog+cnn (the CNN only where HOG finds none)."),
    ocr_lang: str = typer.Option("eng", help="Tesseract language(s), e.g. eng+deu."),
    workers: int = typer.Option(0, min=0, help="Processes that decode and analyse images (0: every core)."),
    passwords: Optional[Path] = PASSWORDS_OPTION,
    key_file: Optional[list[Path]] = KEY_FILE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Index evidence for victim identification: metadata, scene features, faces, text.

    A separate step after `haven scan`, so triage stays fast; re-running resumes.

    Example: haven index --case case1 /evidence/seizure1 --parts metadata,scene --workers 4

    Encrypted volumes and archives are opened with the passwords and key files given, as by
    `haven scan` (never stored): haven index --case case1 /evidence/laptop.E01 --passwords pw.txt
    """
    from haven.evidence.base import Limits
    from haven.evidence.keys import load_keyring
    from haven.scan.census import has_files
    from haven.scan.pipeline import ScanProgress
    from haven.store.lock import case_lock
    from haven.victimid.indexer import Indexer, IndexOptions

    for ev in evidence:
        if not ev.exists():
            _fail(HavenError(f"evidence {ev} does not exist"))
        if not has_files(ev):
            _fail(HavenError(f"no files found in evidence {ev}"))
    indexer = None
    try:
        vs = _store(case, create=True, evidence=tuple(evidence))
        opts = IndexOptions(tuple(p.strip() for p in parts.split(",") if p.strip()),
                            str(face_models) if face_models else None, ocr_lang, workers, face_detector)
        limits = Limits(keys=load_keyring(passwords, key_file or ()))
        with case_lock(vs.dir, "indexed"), Stages() as stages:
            stages.stage("loading models")
            indexer = Indexer(vs, opts, limits)
            from haven.scan.census import start_census

            count = ScanProgress()
            start_census([str(e) for e in evidence], count)
            stages.stage("indexing items")

            def show(st, _path) -> None:
                stages.update(completed=st.seen, total=count.disk_files or None)

            def vectors(done: int, total: int) -> None:
                stages.stage("encoding scene vectors and visual words")
                stages.update(completed=done, total=total)

            stats = indexer.run([str(e) for e in evidence], show, vectors)
    except HavenError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        done = indexer.stats.indexed if indexer is not None else 0
        interrupted(f"{done:,} items indexed")
    if as_json:
        print_json({"indexed": stats.indexed, "skipped": stats.skipped, "errors": stats.errors,
                    "faces": stats.faces, "texts": stats.texts, "seconds": stats.seconds})
        return
    out.print(f"indexed {stats.indexed}, skipped {stats.skipped}, with errors {stats.errors}; "
              f"faces {stats.faces}, images with text {stats.texts}")
    out.print("CPU seconds per part: " + ", ".join(f"{k} {v:.1f}" for k, v in stats.seconds.items()))


@victimid_app.command()
def timeline(case: Path = CASE, output: Optional[Path] = typer.Option(None, "--out", help="Write JSON here."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Media by capture time (UTC when the offset or GPS time is known).

    Example: haven victimid timeline --case case1 --out timeline.json
    """
    from haven.victimid.timeline import timeline as tl, write_json

    try:
        rows = tl(_store_writing(case, output))
    except HavenError as exc:
        _fail(exc)
    if output:
        write_json(rows, output)
        out.print(f"{len(rows)} media -> {output}")
        return
    if as_json:
        print_json(rows)
        return
    t = Table("time", "utc", "camera", "serial", "path")
    for r in rows:
        t.add_row(r["sort_time"], "yes" if r["utc_known"] else "no", " ".join(filter(None, [r["make"], r["model"]])),
                  r["body_serial"] or "", r["path"])
    out.print(t)


@victimid_app.command()
def geojson(case: Path = CASE, output: Path = typer.Option(..., "--out", help="GeoJSON file to write.")) -> None:
    """Map of geotagged media as GeoJSON (open in QGIS, geojson.io offline copies, ...).

    Example: haven victimid geojson --case case1 --out places.geojson
    """
    from haven.victimid.timeline import geojson as gj, write_json

    try:
        doc = gj(_store_writing(case, output))
    except HavenError as exc:
        _fail(exc)
    write_json(doc, output)
    out.print(f"{len(doc['features'])} geotagged media -> {output}")


@victimid_app.command()
def scene(
    image: Optional[Path] = typer.Argument(None, help="Query image (a file outside the case)."),
    case: Path = CASE,
    media: Optional[int] = typer.Option(None, help="Query with an indexed media id instead of a file."),
    region: Optional[str] = typer.Option(None, help="Only this part of the query image: X,Y,WIDTH,HEIGHT."),
    library: Optional[list[str]] = _library_option(),
    top: int = typer.Option(20, min=1, help="Results to show."),
    verify_top: int = typer.Option(50, min=0, help="Candidates checked geometrically (RANSAC), per store."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Rank the case's images (and known libraries') by how likely they show the same place.

    Example: haven victimid scene --case case1 photo.jpg --region 0,200,640,280 --library known/
    """
    from concurrent.futures import ThreadPoolExecutor

    # The query image is decoded and its features extracted on a second thread while this one
    # imports the search code (~0.5 s of CPU) and opens the case: Pillow and OpenCV release the
    # GIL, so on two cores the extraction costs no wall time (docs/benchmarks.md).
    area = _region(region)
    pool = ThreadPoolExecutor(1)
    pixels = features = None
    if media is None and image is not None:
        pixels = pool.submit(_query_pixels, image, area)
        features = pool.submit(_query_features, pixels)
    try:
        from haven.victimid.search import SceneSearch, open_libraries

        if pixels is not None:
            pixels.result()  # the query is checked first: a wrong file is the likelier mistake
        vs = _store(case)
        search = SceneSearch(vs, open_libraries(library or []))
        if media is not None:
            hits = search.find_media(media, top=top, verify_top=verify_top)
        elif features is not None:
            hits = search.find_features(features.result(), top=top, verify_top=verify_top)
        else:
            raise typer.BadParameter("give a query IMAGE or --media ID")
    except HavenError as exc:
        _fail(exc)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    rows = [{"source": h.source, "media_id": h.media_id, "path": h.path, "sha256": h.sha256,
             "verified": h.verified, "inliers": h.inliers, "similarity": round(h.similarity, 4),
             "reason": h.reason, "series": h.series, "model": h.model, "linked_via": h.linked_via} for h in hits]
    if as_json:
        print_json(rows)
        return
    cols = _columns(bool(library), any(r["series"] for r in rows))
    t = Table(*[c for c in ("source", "media", "verified", "inliers", "similarity", "series") if c in cols])
    t.add_column("path", overflow="fold")  # evidence paths are never cut short
    for r in rows:
        cells = {"source": r["source"], "media": str(r["media_id"]), "verified": "yes" if r["verified"] else f"linked #{r['linked_via']}" if r["linked_via"] else "",
                 "inliers": str(r["inliers"]), "similarity": f"{r['similarity']:.2f}",
                 "series": _series_label(r["series"])}
        t.add_row(*[v for k, v in cells.items() if k in cols], r["path"])
    out.print(t)
    old = [name for name, st in [("the case", search.case), *((f"library {src.name}", st) for src, st in search.libraries)]
           if st.inverted is None]
    if old:
        out.print(f"note: {', '.join(old)} indexed before the local-feature shortlist: searched by global "
                  "similarity only; run `haven index --parts scene` over the same evidence again to add it")


def _columns(libraries: bool, series: bool) -> set[str]:
    """Table columns: source only when libraries are attached, series only when a hit has one."""
    cols = {"media", "face", "verified", "inliers", "similarity", "distance", "decision"}
    return cols | ({"source"} if libraries else set()) | ({"series"} if series else set())


def _series_label(series: Optional[dict]) -> str:
    if not series:
        return ""
    return series["name"] + (" (victim identified)" if series["victim_identified"] else "")


@victimid_app.command("ocr-search")
def ocr_search(
    query: str = typer.Argument(..., help="Words to find (all must occur)."),
    case: Path = CASE,
    raw: bool = typer.Option(False, help="Use SQLite FTS5 syntax: \"exact phrase\", OR, NEAR, prefix*."),
    limit: int = typer.Option(50, min=1, help="Most matches to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Full-text search of the text read in a case's images.

    Example: haven victimid ocr-search --case case1 "hotel room"
    """
    from haven.victimid.ocr import search

    try:
        vs = _store(case)
        with vs.engine.connect() as conn:
            hits = search(conn, query, limit, raw)
    except HavenError as exc:
        _fail(exc)
    if as_json:
        print_json([{"media_id": h.media_id, "path": h.path, "snippet": h.snippet} for h in hits])
        return
    for h in hits:
        out.print(f"#{h.media_id}  {h.path}\n    {h.snippet}")
    if not hits:
        out.print("no match")


@faces_app.command("list")
def faces_list(case: Path = CASE, cluster: Optional[int] = typer.Option(None, help="Only this cluster."),
               as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Faces found in the case, with their media and cluster.

    Example: haven victimid faces list --case case1
    """
    from sqlalchemy import select

    from haven.victimid.models import FaceRow, MediaRow

    try:
        vs = _store(case)
        with vs.session() as s:
            stmt = select(FaceRow, MediaRow.path).join(MediaRow, MediaRow.id == FaceRow.media_id).order_by(FaceRow.id)
            if cluster is not None:
                stmt = stmt.where(FaceRow.cluster == cluster)
            rows = s.execute(stmt).all()
    except HavenError as exc:
        _fail(exc)
    if as_json:
        print_json([{"face": f.id, "media_id": f.media_id, "cluster": f.cluster,
                     "box": [f.left, f.top, f.right, f.bottom], "path": path} for f, path in rows])
        return
    t = Table("face", "cluster", "box", "path")
    for f, path in rows:
        t.add_row(str(f.id), "" if f.cluster is None else str(f.cluster), f"{f.left},{f.top},{f.right},{f.bottom}", path)
    out.print(t)


@faces_app.command("cluster")
def faces_cluster(case: Path = CASE,
                  max_distance: Optional[float] = typer.Option(None, help="Join faces closer than this (default: the model's gallery threshold, 0.35 for dlib-resnet-v1)."),
                  as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Group the case's faces into clusters (confirmed pairs always together).

    Example: haven victimid faces cluster --case case1
    """
    from haven.victimid.search import cluster_faces

    try:
        clusters = cluster_faces(_store(case), max_distance)
    except HavenError as exc:
        _fail(exc)
    multi = {k: v for k, v in clusters.items() if len(v) > 1}
    if as_json:
        print_json({"clusters": len(clusters), "with_several_faces": len(multi),
                    "members": {str(k): list(v) for k, v in clusters.items()}})
        return
    out.print(f"{len(clusters)} clusters, {len(multi)} with more than one face")
    for k, v in sorted(multi.items(), key=lambda kv: -len(kv[1])):
        out.print(f"cluster {k}: faces {', '.join(map(str, v))}")


@faces_app.command("find")
def faces_find(
    image: Optional[Path] = typer.Argument(None, help="Image with the face to find (largest face is used)."),
    case: Path = CASE,
    face: Optional[int] = typer.Option(None, help="Find this stored face id instead."),
    library: Optional[list[str]] = _library_option(),
    top: int = typer.Option(20, min=1, help="Results to show."),
    max_distance: float = typer.Option(0.8, help="Leave out faces farther than this (0.6: dlib's same-person point)."),
    face_models: Optional[Path] = typer.Option(None, help="Face model directory."),
    face_detector: str = typer.Option("hog+cnn", help="Detector for the IMAGE: hog, cnn, or hog+cnn (the CNN when HOG finds none)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Find a face across the case (and known libraries), with distances, similarity and
    earlier analyst verdicts.

    Example: haven victimid faces find --case case1 --face 12 --library known/
    """
    from haven.victimid import search as S

    try:
        vs = _store(case)
        libs = S.open_libraries(library or [])
        if face is not None:
            hits = S.find_face(vs, face_id=face, top=top, max_distance=max_distance, libraries=libs)
        elif image is not None:
            from haven.victimid.faces import FaceModel

            pixels = _query_pixels(image)
            model = FaceModel(face_models, detector=face_detector)
            found = S.faces_of_pixels(model, pixels)
            if not found:
                raise HavenError(f"no face found in {image}")
            hits = S.find_face(vs, embedding=found[0].embedding, model=model.name, top=top,
                               max_distance=max_distance, libraries=libs)
        else:
            raise typer.BadParameter("give an IMAGE or --face ID")
    except HavenError as exc:
        _fail(exc)
    rows = [h.__dict__ for h in hits]
    if as_json:
        print_json(rows)
        return
    cols = _columns(bool(library), any(h.series for h in hits))
    heads = ("source", "face", "media", "distance", "similarity", "decision", "series")
    t = Table(*[c for c in heads if c in cols])
    t.add_column("path", overflow="fold")
    for h in hits:
        cells = (h.source, str(h.face_id), str(h.media_id), f"{h.distance:.3f}", f"{h.similarity:.2f}",
                 f"{h.decision} ({h.decided_by})" if h.decision else "", _series_label(h.series))
        t.add_row(*[v for k, v in zip(heads, cells) if k in cols], h.path)
    out.print(t)


def _decide(decision: str, face_a: int, face_b: int, case: Path, user: Optional[str], note: Optional[str]) -> None:
    from haven.victimid.search import decide

    try:
        row = decide(_store(case), face_a, face_b, decision, user, note)
    except HavenError as exc:
        _fail(exc)
    out.print(f"{decision}ed faces #{row.face_a} and #{row.face_b} (distance {row.distance:.3f}) as {row.user}")


@faces_app.command("confirm")
def faces_confirm(face_a: int, face_b: int, case: Path = CASE, user: Optional[str] = typer.Option(None, help="Analyst (default $HAVEN_USER or login)."),
                  note: Optional[str] = typer.Option(None)) -> None:
    """Record that two faces are the same person (stored with user and time, logged).

    Example: haven victimid faces confirm 12 40 --case case1 --user analyst1
    """
    _decide("confirm", face_a, face_b, case, user, note)


@faces_app.command("reject")
def faces_reject(face_a: int, face_b: int, case: Path = CASE, user: Optional[str] = typer.Option(None),
                 note: Optional[str] = typer.Option(None)) -> None:
    """Record that two faces are NOT the same person; the pair is hidden from later searches.

    Example: haven victimid faces reject 12 41 --case case1 --user analyst1
    """
    _decide("reject", face_a, face_b, case, user, note)


@series_app.command("build")
def series_build(
    case: Path = CASE,
    kinds: str = typer.Option("pdq,scene,face,serial", help="Link kinds that join a series."),
    time_window: float = typer.Option(2.0, help="Seconds apart for a capture-time link."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recompute links (PDQ, scene, confirmed faces, serial, time) and the automatic series.

    Example: haven victimid series build --case case1
    """
    from haven.victimid import series as S

    try:
        vs = _store(case)
        stats = S.SceneLinkStats()
        counts = S.build_links(vs, time_window=time_window, scene_stats=stats)
        made = S.build_series(vs, tuple(k.strip() for k in kinds.split(",") if k.strip()))
    except HavenError as exc:
        _fail(exc)
    scene_cost = {"media": stats.media, "pairs_verified": stats.verified_pairs,
                  "seconds": round(stats.wall_seconds, 2), "cpu_seconds": round(stats.cpu_seconds, 2)}
    if as_json:
        print_json({"links": counts, "automatic_series": len(made), "scene_linking": scene_cost})
        return
    out.print("links: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if stats.media:
        out.print(f"scene: {stats.verified_pairs} pairs of {stats.media} photos verified in "
                  f"{stats.wall_seconds:.1f} s ({stats.ms_per_media:.0f} ms per photo)")
    out.print(f"{len(made)} automatic series")


@series_app.command("list")
def series_list(case: Path = CASE, as_json: bool = typer.Option(False, "--json")) -> None:
    """Series with members and why each belongs.

    Example: haven victimid series list --case case1
    """
    from haven.victimid.series import list_series

    try:
        data = list_series(_store(case))
    except HavenError as exc:
        _fail(exc)
    if as_json:
        print_json(data)
        return
    for x in data:
        flag = " (victim identified)" if x["victim_identified"] else ""  # not [..]: rich markup
        out.print(f"#{x['id']} {x['name']} ({x['origin']}, {len(x['members'])} media){flag}")
        for m in x["members"]:
            out.print(f"   #{m['media_id']} {m['path']}")
            for r in m["reasons"]:
                out.print(f"      - {r}")


@series_app.command("merge")
def series_merge(series_ids: list[int], case: Path = CASE, name: Optional[str] = typer.Option(None),
                 user: Optional[str] = typer.Option(None)) -> None:
    """Merge series into the first one given.

    Example: haven victimid series merge 3 7 --case case1 --name "blue room"
    """
    from haven.victimid.series import merge

    try:
        row = merge(_store(case), series_ids, user, name)
    except HavenError as exc:
        _fail(exc)
    out.print(f"merged into #{row.id} {row.name}")


@series_app.command("split")
def series_split(series_id: int, media_ids: list[int], case: Path = CASE, name: Optional[str] = typer.Option(None),
                 user: Optional[str] = typer.Option(None)) -> None:
    """Move some media of a series into a new series.

    Example: haven victimid series split 3 15 16 --case case1 --name "second room"
    """
    from haven.victimid.series import split

    try:
        row = split(_store(case), series_id, media_ids, user, name)
    except HavenError as exc:
        _fail(exc)
    out.print(f"new series #{row.id} {row.name}")


@series_app.command("set")
def series_set(series_id: int, case: Path = CASE, name: Optional[str] = typer.Option(None),
               identified: Optional[bool] = typer.Option(None, "--identified/--not-identified", help="Victim-identified status."),
               user: Optional[str] = typer.Option(None)) -> None:
    """Name a series or set its victim-identified status.

    Example: haven victimid series set 3 --case case1 --name "blue room" --identified
    """
    from haven.victimid.series import update

    try:
        row = update(_store(case), series_id, name=name, victim_identified=identified, user=user)
    except HavenError as exc:
        _fail(exc)
    out.print(f"#{row.id} {row.name} victim identified: {row.victim_identified}")


@series_app.command("export")
def series_export(case: Path = CASE, output: Path = typer.Option(..., "--out"),
                  case_name: Optional[str] = typer.Option(None, help="Case number in the export (default: case dir name).")) -> None:
    """Export series and victim-identified status as VICS 2.0 JSON.

    Example: haven victimid series export --case case1 --out series.json
    """
    from haven.victimid.series import export_vics

    try:
        n = export_vics(_store_writing(case, output), output, case_name or case.resolve().name)
    except HavenError as exc:
        _fail(exc)
    out.print(f"{n} media -> {output}")


# Also reachable as `haven victimid index` so the sub-app works on its own.
victimid_app.command("index")(index_command)
