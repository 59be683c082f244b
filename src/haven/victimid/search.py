"""Case-level queries: same-scene search, "find this face", face clusters and decisions.

Queries run over the case and, when given, known victim-ID **libraries**: directories built
with the same `haven index` over known or previously identified media (`open_library`).
Every hit says where it came from (`source`: "case" or the library's name), with the item's
path and SHA-256 and the series it belongs to in its own store (name, victim identified).

Each store keeps its own scene vocabulary (trained on its own images), so a query's RootSIFT
features are extracted once and encoded into a VLAD vector once **per store**, with that
store's vocabulary, and searched in that store's index only; global similarities of
different stores are never compared. What is compared across stores is the RANSAC
verification (inliers between the query's and the candidate's own features), which does
not depend on any vocabulary. Face embeddings of one model are comparable everywhere.

Search indexes are derived data cached in each store's `victimid-cache/` (FAISS files named
by the store's generation counter, see `VictimStore.generation`): the first query after the
store changed rebuilds from the database, later ones load the file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from sqlalchemy import func, or_, select

from haven.store.case import DB_NAME, utcnow
from haven.victimid import faces as facemod
from haven.victimid import scene
from haven.victimid.errors import VictimIdError
from haven.victimid.pixels import image_pixels  # noqa: F401 - re-exported
from haven.victimid.models import (FaceDecisionRow, FaceRow, LinkRow, MediaRow, SceneRow, SceneWordsRow,
                                   SeriesMemberRow, SeriesRow)
from haven.victimid.store import VictimStore, default_user
from haven.victimid.vocabulary import load_vocabulary, load_word_vocabulary

DECISIONS = ("confirm", "reject")
CASE = "case"


# -- sources: the case and known libraries ------------------------------------------------------


@dataclass
class Source:
    """A store queries run over: the case itself, or a known victim-ID library."""

    name: str
    vs: VictimStore
    library: bool = False


def open_library(spec: str | Path) -> Source:
    """A library given as `DIR` or `NAME=DIR`: a directory indexed with `haven index`.

    The name (default: the directory's name) labels its hits."""
    text = str(spec)
    name, sep, path = text.partition("=")
    if not sep or not name or "/" in name:
        name, path = "", text
    root = Path(path)
    if not (root / DB_NAME).is_file():
        raise VictimIdError(f"library {root} is not an indexed directory; build it with "
                            f"`haven index --case {root} KNOWN_MEDIA...`")
    name = name or root.resolve().name
    if name == CASE:
        raise VictimIdError('a library cannot be named "case"; give it another name with NAME=DIR')
    return Source(name, VictimStore(root), library=True)


def open_libraries(specs: Sequence[str | Path]) -> list[Source]:
    out = [open_library(s) for s in specs]
    names = [s.name for s in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise VictimIdError(f"two libraries are named {sorted(dup)}; name them with NAME=DIR")
    return out


@dataclass
class MediaLabel:
    path: str
    sha256: str
    series: dict | None  # {"id", "name", "victim_identified"} in the hit's own store


def labels(vs: VictimStore, media_ids: Sequence[int]) -> dict[int, MediaLabel]:
    """Path, SHA-256 and series of media of one store."""
    ids = sorted(set(int(i) for i in media_ids))
    if not ids:
        return {}
    with vs.session() as s:
        media = s.execute(select(MediaRow.id, MediaRow.path, MediaRow.sha256).where(MediaRow.id.in_(ids))).all()
        series = s.execute(select(SeriesMemberRow.media_id, SeriesRow.id, SeriesRow.name, SeriesRow.victim_identified)
                           .join(SeriesRow, SeriesRow.id == SeriesMemberRow.series_id)
                           .where(SeriesMemberRow.media_id.in_(ids))).all()
    of = {m: {"id": sid, "name": name, "victim_identified": bool(vi)} for m, sid, name, vi in series}
    return {i: MediaLabel(p, h, of.get(i)) for i, p, h in media}


# -- cached indexes -----------------------------------------------------------------------------


def _cached(vs: VictimStore, kind: str, key: str, build, load, save):
    """The index `kind`/`key` of a store from its cache when current, else built and cached.

    The generation is read before and after the build; a store that changed meanwhile gets
    no cache file (the next query builds again)."""
    gen = vs.generation(kind)
    if gen is None:
        return build()
    path = vs.cache_dir / f"{kind}-{key}-{gen}.index"
    if path.is_file():
        try:
            return load(path)
        except (OSError, RuntimeError, ValueError, VictimIdError):
            pass  # a damaged cache is rebuilt
    index = build()
    if vs.generation(kind) == gen:
        try:
            vs.cache_dir.mkdir(exist_ok=True)
            save(index, path)
            for old in vs.cache_dir.glob(f"{kind}-{key}-*"):
                if not old.name.startswith(path.name):
                    old.unlink(missing_ok=True)
        except OSError:
            pass  # read-only library: searches still work, without a cache
    return index


def scene_vectors_query():
    """Every image's global vector (SQLite answers it from the covering index `store.py` makes)."""
    return select(SceneRow.media_id, SceneRow.vector).where(SceneRow.vector.is_not(None))


def _scene_index(vs: VictimStore) -> scene.SceneIndex:
    def build() -> scene.SceneIndex:
        # Streamed into one preallocated matrix: holding every row's bytes as well doubled the
        # memory (1.2 GB at 100,000 images).
        k = 0
        with vs.session() as s:
            n = s.scalar(select(func.count()).select_from(scene_vectors_query().subquery()))
            ids, vecs = np.empty(n, np.int64), np.empty((n, scene.GLOBAL_DIM), np.float32)
            for media_id, vector in s.execute(scene_vectors_query().execution_options(yield_per=4096)):
                if k == n:  # rows added since the count: the generation moved, the next query rebuilds
                    break
                ids[k], vecs[k] = media_id, np.frombuffer(vector, dtype=np.float32)
                k += 1
        return scene.SceneIndex.build(ids[:k], vecs[:k])

    return _cached(vs, "scene", "vlad", build, scene.SceneIndex.load, lambda ix, p: ix.save(p))


def _word_index(vs: VictimStore, vocab_id: int, n_words: int) -> scene.InvertedFile:
    """The inverted file of the store's images under word vocabulary `vocab_id`, cached like
    the global index (rebuilt from `vi_scene_words` when the store changed)."""
    def build() -> scene.InvertedFile:
        ids, lists = [], []
        with vs.session() as s:
            for media_id, words in s.execute(select(SceneWordsRow.media_id, SceneWordsRow.words)
                                             .where(SceneWordsRow.vocabulary_id == vocab_id)
                                             .order_by(SceneWordsRow.media_id).execution_options(yield_per=4096)):
                ids.append(media_id)
                lists.append(np.frombuffer(words, dtype=np.uint16))
        return scene.InvertedFile.build(ids, lists, n_words)

    return _cached(vs, "scene", f"words{vocab_id}", build, scene.InvertedFile.load, lambda ix, p: ix.save(p))


# -- same scene --------------------------------------------------------------------------------


class StoreScenes:
    """One store's scene index: its vocabulary, the FAISS shortlist, its stored features and
    the links between its views (for query expansion)."""

    def __init__(self, vs: VictimStore, name: str = CASE):
        self.vs, self.name = vs, name
        self.vocab = load_vocabulary(vs)
        if self.vocab is None:
            what = "this case has" if name == CASE else f"library {name} has"
            raise VictimIdError(f"{what} no scene index of the current features yet; run "
                                f"`haven index --case {vs.dir} EVIDENCE` (again) first")
        self.index = _scene_index(vs)
        # The local-feature shortlist; None for a case indexed before it (`haven index` adds it).
        found = load_word_vocabulary(vs)
        self.words = found[1] if found else None
        self.words_id = found[0] if found else None
        self.inverted = _word_index(vs, found[0], found[1].words) if found else None
        self._last_words: tuple[scene.Features, np.ndarray] | None = None  # `_query_words`

    def words_of(self, media_ids: list[int]) -> dict[int, np.ndarray]:
        """The stored visual words of media (those without words under the current vocabulary left out)."""
        if self.words_id is None:
            return {}
        out = {}
        with self.vs.session() as s:
            for lo in range(0, len(media_ids), 4096):
                for m, w in s.execute(select(SceneWordsRow.media_id, SceneWordsRow.words).where(
                        SceneWordsRow.vocabulary_id == self.words_id,
                        SceneWordsRow.media_id.in_(media_ids[lo:lo + 4096]))):
                    out[m] = np.frombuffer(w, dtype=np.uint16)
        return out

    def _query_words(self, feats: scene.Features) -> np.ndarray:
        """The visual words of a query's features, assigned once per query (the last one kept)."""
        last = self._last_words
        if last is None or last[0] is not feats:
            last = self._last_words = (feats, self.words.assign(feats))
        return last[1]

    def local(self, feats: scene.Features, top: int) -> list[tuple[int, float]]:
        """The `top` images sharing most (tf-idf weighted) visual words with `feats`."""
        if self.inverted is None or self.words is None:
            return []
        return self.inverted.search(self._query_words(feats), top)

    def keypoints_of(self, media_ids: list[int]) -> dict[int, np.ndarray]:
        """Stored keypoints of media, without their descriptors (the column before them)."""
        out = {}
        with self.vs.session() as s:
            for lo in range(0, len(media_ids), 4096):
                for m, k in s.execute(select(SceneRow.media_id, SceneRow.keypoints).where(
                        SceneRow.media_id.in_(media_ids[lo:lo + 4096]))):
                    out[m] = np.frombuffer(k, dtype=np.float32).reshape(-1, 2)
        return out

    def agreement(self, feats: scene.Features, media_ids: list[int]) -> dict[int, int]:
        """`scene.word_agreement` of the query with each of `media_ids` (stored words and
        keypoints only: ~4 KB read per image, no descriptor)."""
        if self.words is None or not media_ids:
            return {}
        table = scene.unique_words(self._query_words(feats), self.words.words)
        words, kps = self.words_of(media_ids), self.keypoints_of(media_ids)
        return {m: scene.word_agreement(table, feats.keypoints, w, kps[m]) for m, w in words.items() if m in kps}

    def features(self, media_id: int) -> scene.Features:
        with self.vs.session() as s:
            row = s.get(SceneRow, media_id)
        if row is None:
            raise VictimIdError(f"media #{media_id} has no scene features; index it with --parts scene")
        return scene.Features.from_blobs(row.extractor, row.keypoints, row.descriptors)

    def features_many(self, media_ids: list[int]) -> dict[int, scene.Features]:
        """Stored features of many media in one read (ids without features left out)."""
        with self.vs.session() as s:
            rows = s.execute(select(SceneRow.media_id, SceneRow.extractor, SceneRow.keypoints,
                                    SceneRow.descriptors).where(SceneRow.media_id.in_(list(media_ids)))).all()
        return {m: scene.Features.from_blobs(e, k, d) for m, e, k, d in rows}

    def linked(self, media_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
        """Views already tied to each of `media_ids`: links that join series (scene, PDQ,
        confirmed face, serial) and fellow members of its series, each with the reason."""
        if not media_ids:
            return {}
        from haven.victimid.series import SERIES_KINDS

        ids = list(dict.fromkeys(media_ids))
        out: dict[int, dict[int, str]] = {i: {} for i in ids}
        with self.vs.session() as s:
            for l in s.scalars(select(LinkRow).where(LinkRow.kind.in_(SERIES_KINDS), or_(
                    LinkRow.media_a.in_(ids), LinkRow.media_b.in_(ids)))):
                for me, other in ((l.media_a, l.media_b), (l.media_b, l.media_a)):
                    if me in out and other not in out[me]:
                        out[me][other] = l.detail
            member = s.execute(select(SeriesMemberRow.media_id, SeriesMemberRow.series_id)
                               .where(SeriesMemberRow.media_id.in_(ids))).all()
            series_of = dict(member)
            if series_of:
                rows = s.execute(select(SeriesMemberRow.media_id, SeriesMemberRow.series_id, SeriesRow.name)
                                 .join(SeriesRow, SeriesRow.id == SeriesMemberRow.series_id)
                                 .where(SeriesMemberRow.series_id.in_(set(series_of.values())))).all()
                for other, sid, sname in rows:
                    for me, my_sid in series_of.items():
                        if my_sid == sid and other != me and other not in out[me]:
                            out[me][other] = f"same series {sname!r}"
        # Links first (each says why), then series members; nearest hits first.
        return {i: list(out[i].items()) for i in ids if out[i]}

    def rank(self, feats: scene.Features, top: int = 20, verify_top: int = scene.VERIFY_TOP,
             exclude: set[int] | None = None, expand: bool = True) -> list[scene.SceneHit]:
        hits = scene.rank(feats, self.vocab, self.index, self.features,
                          shortlist=max(top, verify_top, scene.SHORTLIST), verify_top=verify_top,
                          exclude=exclude, linked=self.linked, expand=expand, load_many=self.features_many,
                          local=self.local if self.inverted is not None else None,
                          agree=self.agreement if self.inverted is not None else None)
        return hits[:top]


@dataclass
class SceneMatch:
    """A same-scene hit labelled with its store."""

    source: str  # "case" or the library's name
    library: bool
    media_id: int  # in its own store
    path: str
    sha256: str
    similarity: float  # global similarity in its own store's vocabulary
    inliers: int
    verified: bool
    reason: str
    series: dict | None = None
    rank_in_source: int = 0
    model: str | None = None  # "homography" / "fundamental" when verified
    linked_via: int | None = None  # unverified, but linked to this verified hit (same store)

    @property
    def tier(self) -> int:
        return 0 if self.verified else 1 if self.linked_via is not None else 2

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def merge_scene_hits(per_source: list[tuple[Source, list[scene.SceneHit]]], top: int) -> list[SceneMatch]:
    """One ranking over several stores: verified hits by inliers (comparable everywhere),
    then hits linked to a verified one, then unverified ones, both by their rank in their own
    store (global similarities of different vocabularies are not comparable), ties by
    similarity."""
    out: list[SceneMatch] = []
    for src, hits in per_source:
        lab = labels(src.vs, [h.media_id for h in hits])
        for pos, h in enumerate(hits):
            m = lab.get(h.media_id)
            out.append(SceneMatch(src.name, src.library, h.media_id, m.path if m else "", m.sha256 if m else "",
                                  h.similarity, h.inliers, h.verified, h.reason, m.series if m else None, pos,
                                  h.model, h.via if h.linked else None))
    out.sort(key=lambda x: (x.tier, -x.inliers if x.verified else x.rank_in_source, -x.similarity))
    return out[:top]


class SceneSearch:
    """Same-scene search over the case (`query`, `query_media`: case only, unlabelled) and,
    with `find` / `find_media`, over the case and the attached libraries together."""

    def __init__(self, vs: VictimStore, libraries: Sequence[Source] = ()):
        self.vs = vs
        self.case = StoreScenes(vs)
        self.vocab, self.index = self.case.vocab, self.case.index
        self.libraries = [(src, StoreScenes(src.vs, src.name)) for src in libraries]
        self.extractor = scene.default_extractor()

    def _features(self, media_id: int) -> scene.Features:
        return self.case.features(media_id)

    def query(self, rgb: np.ndarray, top: int = 20, verify_top: int = 50, exclude: set[int] | None = None
              ) -> list[scene.SceneHit]:
        return self.case.rank(self.extractor.extract(rgb), top, verify_top, exclude)

    def query_media(self, media_id: int, **kw) -> list[scene.SceneHit]:
        """Rank against a media already in the case (its stored features; itself excluded)."""
        return self.case.rank(self._features(media_id), kw.get("top", 20), kw.get("verify_top", 50), {media_id})

    def find(self, rgb: np.ndarray, top: int = 20, verify_top: int = 50) -> list[SceneMatch]:
        """The case's and the libraries' images of the query's scene, labelled, best first."""
        return self._find(self.extractor.extract(rgb), top, verify_top, None)

    def find_features(self, feats: scene.Features, top: int = 20, verify_top: int = 50) -> list[SceneMatch]:
        """As `find`, for features already extracted from the query."""
        return self._find(feats, top, verify_top, None)

    def find_media(self, media_id: int, top: int = 20, verify_top: int = 50) -> list[SceneMatch]:
        """As `find`, for a media of the case (left out of its own results)."""
        return self._find(self._features(media_id), top, verify_top, media_id)

    def _find(self, feats: scene.Features, top: int, verify_top: int, self_id: int | None) -> list[SceneMatch]:
        per = [(Source(CASE, self.vs), self.case.rank(feats, top, verify_top, {self_id} if self_id else None))]
        per += [(src, st.rank(feats, top, verify_top)) for src, st in self.libraries]
        return merge_scene_hits(per, top)


# -- faces ----------------------------------------------------------------------------------


@dataclass
class FaceHit:
    face_id: int  # in its own store
    media_id: int
    path: str
    box: tuple[int, int, int, int]
    distance: float
    similarity: float
    decision: str | None  # an analyst's earlier verdict on (query face, this face); case only
    decided_by: str | None
    source: str = CASE  # "case" or the library's name
    library: bool = False
    sha256: str = ""
    series: dict | None = None


def _embedding(row: FaceRow) -> np.ndarray:
    return np.frombuffer(row.embedding, dtype=np.float32)


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def decisions_for(vs: VictimStore, face_id: int) -> dict[int, FaceDecisionRow]:
    """The latest decision on each pair that involves `face_id`, by the other face's id."""
    with vs.session() as s:
        rows = list(s.scalars(select(FaceDecisionRow).where(
            or_(FaceDecisionRow.face_a == face_id, FaceDecisionRow.face_b == face_id)).order_by(FaceDecisionRow.id)))
    out: dict[int, FaceDecisionRow] = {}
    for r in rows:
        out[r.face_b if r.face_a == face_id else r.face_a] = r
    return out


def face_index(vs: VictimStore, model: str | None) -> facemod.FaceIndex:
    """The store's faces comparable with `model` (every model when None) in an exact index, cached."""
    same = facemod.comparable_ids(model) if model else None

    def build() -> facemod.FaceIndex:
        stmt = select(FaceRow.id, FaceRow.embedding)
        if same:
            stmt = stmt.where(FaceRow.model.in_(same))
        with vs.session() as s:
            rows = s.execute(stmt).all()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1) if rows else \
            np.empty((0, 128), np.float32)
        return facemod.FaceIndex(ids, mat)

    key = hashlib.sha256((same[0] if same else "*").encode()).hexdigest()[:12]
    return _cached(vs, "faces", key, build, facemod.FaceIndex.load, lambda ix, p: ix.save(p))


def _nearest_faces(vs: VictimStore, embedding: np.ndarray, model: str | None, k: int, max_distance: float
                   ) -> list[tuple[FaceRow, str, float]]:
    near = [(i, d) for i, d in face_index(vs, model).nearest(embedding, k) if d <= max_distance]
    if not near:
        return []
    with vs.session() as s:
        rows = {r.id: (r, p) for r, p in s.execute(
            select(FaceRow, MediaRow.path).join(MediaRow, MediaRow.id == FaceRow.media_id)
            .where(FaceRow.id.in_([i for i, _ in near]))).all()}
    return [(rows[i][0], rows[i][1], d) for i, d in near if i in rows]


def find_face(vs: VictimStore, *, face_id: int | None = None, embedding: np.ndarray | None = None,
              model: str | None = None, top: int = 20, max_distance: float = 0.8,
              include_rejected: bool = False, libraries: Sequence[Source] = ()) -> list[FaceHit]:
    """Faces closest to a stored face of the case (`face_id`) or an embedding, best first,
    in the case and in the given libraries (faces of the same model only).

    Pairs an analyst rejected are left out unless `include_rejected`; earlier verdicts are
    returned with each hit so the analyst never judges the same pair twice. Confirmed pairs
    come first; the rest by distance, which is comparable across stores."""
    if face_id is not None:
        with vs.session() as s:
            qrow = s.get(FaceRow, face_id)
            if qrow is None:
                raise VictimIdError(f"no face #{face_id} in this case; list faces with `haven victimid faces list`")
            embedding, model = _embedding(qrow), qrow.model
    if embedding is None:
        raise VictimIdError("give a face id or an image with a face")
    prior = decisions_for(vs, face_id) if face_id is not None else {}
    hidden = {i for i, d in prior.items() if d.decision == "reject"} if not include_rejected else set()
    hits: list[FaceHit] = []
    for src in [Source(CASE, vs), *libraries]:
        skip = (hidden | {face_id}) if not src.library else set()
        near = _nearest_faces(src.vs, embedding, model, top + len(skip), max_distance)
        near = [n for n in near if n[0].id not in skip][:top]
        lab = labels(src.vs, [r.media_id for r, _p, _d in near])
        for row, path, dist in near:
            d = prior.get(row.id) if not src.library else None
            m = lab.get(row.media_id)
            hits.append(FaceHit(row.id, row.media_id, path, (row.left, row.top, row.right, row.bottom),
                                dist, facemod.similarity(dist), d.decision if d else None, d.user if d else None,
                                src.name, src.library, m.sha256 if m else "", m.series if m else None))
    # Confirmed pairs first: the analyst already said they are the same person.
    hits.sort(key=lambda h: (h.decision != "confirm", h.distance))
    return hits[:top]


def decide(vs: VictimStore, face_a: int, face_b: int, decision: str, user: str | None = None,
           note: str | None = None) -> FaceDecisionRow:
    """Record an analyst's verdict on a face pair (kept forever; the latest one counts)."""
    if decision not in DECISIONS:
        raise VictimIdError(f"decision must be one of {DECISIONS}, not {decision!r}")
    if face_a == face_b:
        raise VictimIdError("a face cannot be compared with itself")
    a, b = _pair(face_a, face_b)
    user = user or default_user()
    with vs.session() as s, s.begin():
        fa, fb = s.get(FaceRow, a), s.get(FaceRow, b)
        if fa is None or fb is None:
            raise VictimIdError(f"no face #{a if fa is None else b} in this case")
        dist = float(np.linalg.norm(_embedding(fa) - _embedding(fb)))
        row = FaceDecisionRow(face_a=a, face_b=b, decision=decision, user=user, decided_at=utcnow(),
                              distance=dist, note=note)
        s.add(row)
        vs.log(s, user, f"face-{decision}", {"face_a": a, "face_b": b, "distance": round(dist, 4), "note": note})
    return row


def latest_decisions(vs: VictimStore) -> dict[tuple[int, int], str]:
    with vs.session() as s:
        rows = list(s.scalars(select(FaceDecisionRow).order_by(FaceDecisionRow.id)))
    return {(r.face_a, r.face_b): r.decision for r in rows}


def cluster_faces(vs: VictimStore, max_distance: float | None = None) -> dict[int, list[int]]:
    """Cluster the case's faces (per model), store each face's cluster, return cluster -> face ids.

    `max_distance` None: each model's gallery threshold (`faces.thresholds(model).gallery`).

    Confirmed pairs are always in one cluster; rejected pairs are never joined directly
    (they can still meet through a chain of close faces, which the analyst then sees)."""
    decisions = latest_decisions(vs)
    out: dict[int, list[int]] = {}
    with vs.session() as s, s.begin():
        rows = list(s.scalars(select(FaceRow).order_by(FaceRow.id)))
        next_label = 0
        space = {r.id: facemod.comparable_ids(r.model)[0] for r in rows}
        for model in sorted(set(space.values())):
            group = [r for r in rows if space[r.id] == model]
            pos = {r.id: i for i, r in enumerate(group)}
            must = [(pos[a], pos[b]) for (a, b), d in decisions.items() if d == "confirm" and a in pos and b in pos]
            cannot = {_pair(pos[a], pos[b]) for (a, b), d in decisions.items() if d == "reject" and a in pos and b in pos}
            limit = max_distance if max_distance is not None else facemod.thresholds(model).gallery
            labels = facemod.cluster(np.stack([_embedding(r) for r in group]), limit, must, cannot)
            for r, lab in zip(group, labels):
                r.cluster = next_label + lab
                out.setdefault(r.cluster, []).append(r.id)
            next_label += max(labels) + 1
    return out


def faces_in_image(model: facemod.FaceModel, data: bytes) -> list[facemod.DetectedFace]:
    """Faces of a query image given as bytes, largest first."""
    return faces_of_pixels(model, image_pixels(data))


def faces_of_pixels(model: facemod.FaceModel, rgb: np.ndarray) -> list[facemod.DetectedFace]:
    """Faces of a query image's RGB pixels, largest first."""
    found = model.faces(rgb)
    found.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    return found
