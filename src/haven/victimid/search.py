"""Case-level queries: same-scene search, "find this face", face clusters and decisions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import or_, select

from haven.store.case import utcnow
from haven.victimid import faces as facemod
from haven.victimid import scene
from haven.victimid.errors import VictimIdError
from haven.victimid.indexer import _decode, load_vocabulary
from haven.victimid.models import FaceDecisionRow, FaceRow, MediaRow, SceneRow
from haven.victimid.store import VictimStore, default_user

DECISIONS = ("confirm", "reject")


def image_pixels(data: bytes, region: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """RGB pixels of image bytes, optionally only `region` = (x, y, width, height) in the
    image's own pixels."""
    _head, rgb = _decode(data)
    if region:
        head_w = _head.width
        f = rgb.shape[1] / head_w  # the decode may have scaled the image down
        x, y, w, h = (int(round(v * f)) for v in region)
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > rgb.shape[1] + 1 or y + h > rgb.shape[0] + 1:
            raise VictimIdError(f"region {region} lies outside the {_head.width}x{_head.height} image")
        rgb = np.ascontiguousarray(rgb[y:y + h, x:x + w])
    return rgb


class SceneSearch:
    """The case's scene index, loaded once; `query` ranks media by same-scene likelihood."""

    def __init__(self, vs: VictimStore):
        self.vs = vs
        self.vocab = load_vocabulary(vs)
        if self.vocab is None:
            raise VictimIdError("this case has no scene index yet; run `haven index --case DIR EVIDENCE` first")
        with vs.session() as s:
            rows = s.execute(select(SceneRow.media_id, SceneRow.vector).where(SceneRow.vector.is_not(None))).all()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vecs = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows]) if rows else np.empty((0, scene.GLOBAL_DIM), np.float32)
        self.index = scene.SceneIndex.build(ids, vecs)
        self.extractor = scene.OrbExtractor()

    def _features(self, media_id: int) -> scene.Features:
        with self.vs.session() as s:
            row = s.get(SceneRow, media_id)
        return scene.Features.from_blobs(row.extractor, row.keypoints, row.descriptors)

    def query(self, rgb: np.ndarray, top: int = 20, verify_top: int = 50, exclude: set[int] | None = None
              ) -> list[scene.SceneHit]:
        q = self.extractor.extract(rgb)
        hits = scene.rank(q, self.vocab, self.index, self._features, shortlist=max(top, verify_top),
                          verify_top=verify_top, exclude=exclude)
        return hits[:top]

    def query_media(self, media_id: int, **kw) -> list[scene.SceneHit]:
        """Rank against a media already in the case (its stored features; itself excluded)."""
        feats = self._features(media_id)
        hits = scene.rank(feats, self.vocab, self.index, self._features,
                          shortlist=max(kw.get("top", 20), kw.get("verify_top", 50)),
                          verify_top=kw.get("verify_top", 50), exclude={media_id})
        return hits[: kw.get("top", 20)]


# -- faces ----------------------------------------------------------------------------------


@dataclass
class FaceHit:
    face_id: int
    media_id: int
    path: str
    box: tuple[int, int, int, int]
    distance: float
    similarity: float
    decision: str | None  # an analyst's earlier verdict on (query face, this face)
    decided_by: str | None


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


def find_face(vs: VictimStore, *, face_id: int | None = None, embedding: np.ndarray | None = None,
              model: str | None = None, top: int = 20, max_distance: float = 0.8,
              include_rejected: bool = False) -> list[FaceHit]:
    """Faces of the case closest to a stored face (`face_id`) or an embedding, best first.

    Pairs an analyst rejected are left out unless `include_rejected`; earlier verdicts are
    returned with each hit so the analyst never judges the same pair twice."""
    with vs.session() as s:
        if face_id is not None:
            qrow = s.get(FaceRow, face_id)
            if qrow is None:
                raise VictimIdError(f"no face #{face_id} in this case; list faces with `haven victimid faces list`")
            embedding, model = _embedding(qrow), qrow.model
        if embedding is None:
            raise VictimIdError("give a face id or an image with a face")
        stmt = select(FaceRow, MediaRow.path).join(MediaRow, MediaRow.id == FaceRow.media_id)
        if model:
            stmt = stmt.where(FaceRow.model == model)
        rows = s.execute(stmt).all()
    if not rows:
        return []
    mat = np.stack([_embedding(r[0]) for r in rows])
    dist = np.linalg.norm(mat - embedding[None, :], axis=1)
    prior = decisions_for(vs, face_id) if face_id is not None else {}
    hits = []
    for k in np.argsort(dist):
        row, path = rows[k]
        if row.id == face_id or dist[k] > max_distance:
            continue
        d = prior.get(row.id)
        if d is not None and d.decision == "reject" and not include_rejected:
            continue
        hits.append(FaceHit(row.id, row.media_id, path, (row.left, row.top, row.right, row.bottom),
                            float(dist[k]), facemod.similarity(float(dist[k])),
                            d.decision if d else None, d.user if d else None))
        if len(hits) >= top:
            break
    # Confirmed pairs first: the analyst already said they are the same person.
    hits.sort(key=lambda h: (h.decision != "confirm", h.distance))
    return hits


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


def cluster_faces(vs: VictimStore, max_distance: float = facemod.CLUSTER_DISTANCE) -> dict[int, list[int]]:
    """Cluster the case's faces (per model), store each face's cluster, return cluster -> face ids.

    Confirmed pairs are always in one cluster; rejected pairs are never joined directly
    (they can still meet through a chain of close faces, which the analyst then sees)."""
    decisions = latest_decisions(vs)
    out: dict[int, list[int]] = {}
    with vs.session() as s, s.begin():
        rows = list(s.scalars(select(FaceRow).order_by(FaceRow.id)))
        next_label = 0
        for model in sorted({r.model for r in rows}):
            group = [r for r in rows if r.model == model]
            pos = {r.id: i for i, r in enumerate(group)}
            must = [(pos[a], pos[b]) for (a, b), d in decisions.items() if d == "confirm" and a in pos and b in pos]
            cannot = {_pair(pos[a], pos[b]) for (a, b), d in decisions.items() if d == "reject" and a in pos and b in pos}
            labels = facemod.cluster(np.stack([_embedding(r) for r in group]), max_distance, must, cannot)
            for r, lab in zip(group, labels):
                r.cluster = next_label + lab
                out.setdefault(r.cluster, []).append(r.id)
            next_label += max(labels) + 1
    return out


def faces_in_image(model: facemod.FaceModel, data: bytes) -> list[facemod.DetectedFace]:
    """Faces of a query image given as bytes, largest first."""
    rgb = image_pixels(data)
    found = model.faces(rgb)
    found.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    return found
