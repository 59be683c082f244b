"""Same-scene search: local features, an aggregated global vector per image, and geometric
verification of the candidates.

The pipeline, in the order a query runs it:

1. `SiftExtractor` finds up to `N_FEATURES` SIFT keypoints on the image scaled to
   `LONG_SIDE` px on its long side. SIFT detects over a scale pyramid, so a close-up of a
   poster and the whole room meet at matching scales; descriptors are stored as the uint8
   values OpenCV computes and compared as **RootSIFT** (L1-normalised, square-rooted: the
   Hellinger kernel, which matches better than L2 on SIFT histograms).
2. `Vocabulary` turns the descriptors into one VLAD vector: each RootSIFT descriptor is
   assigned to its nearest of k centroids and the residuals are summed per centroid;
   intra-normalisation, signed square root and L2 normalisation follow, then a fixed random
   orthogonal projection to `GLOBAL_DIM` dimensions keeps the index small without training
   a PCA (small cases have too few images for one). The centroids are trained per case on a
   sample of its own descriptors and stored in the case.
3. `SceneIndex` holds the vectors in FAISS (exact inner product up to `IVF_FROM` vectors,
   an IVF index above) and returns `shortlist` candidates.
4. `verify` matches the query's descriptors to each candidate's (mutual nearest neighbours
   that pass Lowe's ratio test) and fits two models with MAGSAC++ (`cv2.USAC_MAGSAC`):
   a **fundamental matrix**, which holds for any static 3-D scene seen from two viewpoints
   (parallax between bed, wall and window), and a **homography**, which holds for a planar
   part (a poster, a wall, a façade) even when the rest of the two photos differ. The pair
   is the same scene when either model keeps enough inliers (`MIN_INLIERS` for the
   homography, `MIN_F_INLIERS` for the fundamental matrix, which chance matches satisfy
   more easily because it constrains a point to a line, not to a point).

Ranking (`rank`): verified candidates first, by inliers; then candidates reached through a
verified hit's links (query expansion: views already linked to the same place are checked
against the query and, when that fails, still listed as linked through the hit); then the
unverified rest: the checked ones by their best model's inliers (short of the threshold, but
evidence), then the unchecked by global similarity. Unverified candidates never outrank
verified ones.
Query expansion also re-searches the index with the query's vector averaged with those of
its verified hits, so views that share little with the query but much with its matches
enter the shortlist.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable

import cv2
import faiss
import numpy as np

from haven.victimid import indexfile
from haven.victimid.errors import VictimIdError

LONG_SIDE = 1024
N_FEATURES = 1500
DESCRIPTOR_BYTES = 128
VOCAB_K = 64
GLOBAL_DIM = 1024
MIN_INLIERS = 15  # homography inliers
MIN_F_INLIERS = 24  # fundamental-matrix inliers (20 let two different generated rooms through; docs/benchmarks.md)
SHORTLIST = 100
VERIFY_TOP = 50
# Exact search up to 2M vectors: at 1M it answers in ~250 ms on one core with every neighbour,
# while an IVF needs half its lists probed for recall@10 0.98 and 45 s to train after every
# change; the RANSAC stage after it takes ~1 s anyway (docs/benchmarks.md).
IVF_FROM = 2_000_000
_PROJECTION_SEED = 20240607  # fixed: vectors of every case and version stay comparable
_ORB_BYTES = 32  # descriptors of cases indexed before RootSIFT (extractor "orb...")


@dataclass
class Features:
    extractor: str
    keypoints: np.ndarray  # float32 (n, 2), in the scaled frame
    descriptors: np.ndarray  # uint8 (n, 128): SIFT as OpenCV computes it
    _root: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_blobs(self) -> tuple[bytes, bytes]:
        return self.keypoints.astype(np.float32).tobytes(), self.descriptors.astype(np.uint8).tobytes()

    @classmethod
    def from_blobs(cls, extractor: str, keypoints: bytes, descriptors: bytes) -> "Features":
        width = _ORB_BYTES if extractor.startswith("orb") else DESCRIPTOR_BYTES
        kp = np.frombuffer(keypoints, dtype=np.float32).reshape(-1, 2)
        desc = np.frombuffer(descriptors, dtype=np.uint8).reshape(-1, width)
        return cls(extractor, kp, desc)

    @property
    def root(self) -> np.ndarray:
        """RootSIFT descriptors (float32, unit L2 norm), computed once."""
        if self._root is None:
            self._root = rootsift(self.descriptors)
        return self._root


def rootsift(desc: np.ndarray) -> np.ndarray:
    """RootSIFT of SIFT descriptors: L1-normalise, then square root (unit L2 norm)."""
    d = np.asarray(desc, dtype=np.float32)
    total = d.sum(axis=1, keepdims=True)
    return np.sqrt(np.divide(d, total, out=np.zeros_like(d), where=total > 0))


def to_gray(rgb: np.ndarray, long_side: int = LONG_SIDE) -> np.ndarray:
    """Greyscale uint8 image scaled (down only) so its long side is at most `long_side`."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    h, w = gray.shape[:2]
    scale = long_side / max(h, w)
    if scale < 1:
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(gray)


class SiftExtractor:
    """SIFT keypoints over a scale pyramid, descriptors kept as uint8 (OpenCV)."""

    name = f"rootsift{N_FEATURES}-{LONG_SIDE}"

    def __init__(self, n_features: int = N_FEATURES):
        self._sift = cv2.SIFT_create(nfeatures=n_features)

    def extract(self, rgb: np.ndarray) -> Features:
        gray = to_gray(rgb)
        kps, desc = self._sift.detectAndCompute(gray, None)
        if desc is None or not kps:
            return Features(self.name, np.empty((0, 2), np.float32), np.empty((0, DESCRIPTOR_BYTES), np.uint8))
        pts = np.array([k.pt for k in kps], dtype=np.float32)
        # OpenCV's SIFT values are integers in 0..255 already; uint8 keeps them exactly.
        return Features(self.name, pts, np.clip(np.rint(desc), 0, 255).astype(np.uint8))


def default_extractor() -> SiftExtractor:
    """The extractor the indexer and queries use."""
    return SiftExtractor()


@lru_cache(maxsize=2)
def _projection(in_dim: int, out_dim: int) -> np.ndarray:
    """A fixed Gaussian random projection (Johnson-Lindenstrauss): inner products survive
    within a few percent at 1024 dimensions. Not orthogonalised: a QR of 8192 x 1024 took
    a minute of a loaded machine at every process start, for no measurable gain."""
    rng = np.random.default_rng(_PROJECTION_SEED)
    return (rng.standard_normal((in_dim, out_dim), dtype=np.float32) / np.sqrt(out_dim)).astype(np.float32)


@contextmanager
def _one_thread():
    """FAISS on one thread for the tiny searches of one query: OpenMP threads cost far more
    than the search when other work keeps the cores busy (see haven.match.library)."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


class Vocabulary:
    """k centroids over RootSIFT descriptors, and the VLAD encoding they define."""

    def __init__(self, centroids: np.ndarray):
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.k, self.dim = self.centroids.shape
        self._assign = faiss.IndexFlatL2(self.dim)
        self._assign.add(self.centroids)
        self._proj = _projection(self.k * self.dim, GLOBAL_DIM)

    @classmethod
    def train(cls, descriptors: np.ndarray, k: int = VOCAB_K, seed: int = 1) -> "Vocabulary":
        """k-means (FAISS) on a sample of uint8 (n, 128) SIFT descriptors."""
        if len(descriptors) < k * 4:
            raise VictimIdError(
                f"only {len(descriptors)} local features in the case; index more images "
                "before the scene vocabulary can be trained"
            )
        x = rootsift(descriptors)
        km = faiss.Kmeans(x.shape[1], k, niter=20, seed=seed, verbose=False)
        km.train(x)
        return cls(km.centroids)

    def encode(self, descriptors: np.ndarray | Features) -> np.ndarray:
        """Projected, normalised VLAD vector (float32, `GLOBAL_DIM`) of one image."""
        out = np.zeros(GLOBAL_DIM, dtype=np.float32)
        x = descriptors.root if isinstance(descriptors, Features) else rootsift(descriptors)
        if len(x) == 0 or x.shape[1] != self.dim:
            return out
        with _one_thread():
            _, nearest = self._assign.search(x, 1)
        onehot = np.zeros((self.k, len(x)), dtype=np.float32)
        onehot[nearest[:, 0], np.arange(len(x))] = 1
        # sum of residuals per centroid = sum of members - count * centroid
        vlad = onehot @ x - onehot.sum(axis=1, keepdims=True) * self.centroids
        # Intra-normalisation per centroid stops bursty textures (tiles, fabric) dominating.
        norms = np.linalg.norm(vlad, axis=1, keepdims=True)
        vlad = np.divide(vlad, norms, out=np.zeros_like(vlad), where=norms > 0)
        v = vlad.reshape(-1)
        v = np.sign(v) * np.sqrt(np.abs(v))
        v = v @ self._proj
        n = np.linalg.norm(v)
        return v / n if n > 0 else out


@dataclass
class Verification:
    matches: int
    inliers: int  # of the model that verified the pair, else the larger count
    model: str | None = None  # "homography" / "fundamental" when verified
    h_inliers: int = 0
    f_inliers: int = 0

    @property
    def verified(self) -> bool:
        return self.model is not None


def match_descriptors(q: np.ndarray, c: np.ndarray, ratio: float = 0.8) -> np.ndarray:
    """(query index, candidate index) rows: mutual nearest neighbours under RootSIFT that pass
    Lowe's ratio test. `q`, `c`: unit-norm float32 descriptors."""
    if len(q) < 2 or len(c) < 2:
        return np.empty((0, 2), dtype=np.int64)
    # FAISS on one thread: a 1500 x 1500 match costs ~40 ms on a loaded machine where
    # NumPy's threaded matrix product alone took 100 ms (docs/benchmarks.md).
    with _one_thread():
        fwd = faiss.IndexFlatIP(q.shape[1])
        fwd.add(c)
        sims, nn = fwd.search(q, 2)
        back = faiss.IndexFlatIP(q.shape[1])
        back.add(q)
        _, rev = back.search(c, 1)
    d1 = np.sqrt(np.maximum(2 - 2 * sims[:, 0], 0))
    d2 = np.sqrt(np.maximum(2 - 2 * sims[:, 1], 0))
    best = nn[:, 0]
    ok = (d1 < ratio * d2) & (best >= 0)
    # Mutual: one query feature per candidate feature. Many-to-one matches let RANSAC fit a
    # model that collapses a region onto one point, with many "inliers".
    ok[ok] = rev[best[ok], 0] == np.nonzero(ok)[0]
    rows = np.nonzero(ok)[0]
    return np.stack([rows, best[rows]], axis=1).astype(np.int64)


def verify(query: Features, candidate: Features, *, min_inliers: int = MIN_INLIERS,
           min_f_inliers: int = MIN_F_INLIERS) -> Verification:
    """Matches between two images' features and the inliers of a homography and of a
    fundamental matrix fitted to them (MAGSAC++); verified when either model holds."""
    if query.descriptors.shape[1] != candidate.descriptors.shape[1]:
        raise VictimIdError(f"features of {candidate.extractor!r} cannot be compared with "
                            f"{query.extractor!r}; re-index with `haven index --parts scene`")
    pairs = match_descriptors(query.root, candidate.root)
    n = len(pairs)
    if n < max(8, min(min_inliers, min_f_inliers)):  # too few matches for either model to verify
        return Verification(n, 0)
    src = np.ascontiguousarray(query.keypoints[pairs[:, 0]])
    dst = np.ascontiguousarray(candidate.keypoints[pairs[:, 1]])
    h_in = _homography_inliers(src, dst)
    f_in = _fundamental_inliers(src, dst) if h_in < min_inliers else 0
    if h_in >= min_inliers:
        return Verification(n, h_in, "homography", h_in, f_in)
    if f_in >= min_f_inliers:
        return Verification(n, f_in, "fundamental", h_in, f_in)
    return Verification(n, max(h_in, f_in), None, h_in, f_in)


def _homography_inliers(src: np.ndarray, dst: np.ndarray) -> int:
    try:
        h, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, 4.0, maxIters=2000, confidence=0.999)
    except cv2.error:
        return 0
    if h is None or mask is None:
        return 0
    keep = mask.ravel().astype(bool)
    if not _plausible(h, src[keep]) or not _spread(dst[keep]):
        return 0
    return int(keep.sum())


def _fundamental_inliers(src: np.ndarray, dst: np.ndarray) -> int:
    try:
        f, mask = cv2.findFundamentalMat(src, dst, cv2.USAC_MAGSAC, 1.5, 0.999, 5000)
    except cv2.error:
        return 0
    if f is None or mask is None or f.shape != (3, 3):
        return 0
    keep = mask.ravel().astype(bool)
    # Inliers bunched in one spot fit any epipolar geometry; a scene spreads over the frame.
    if not (_spread(src[keep]) and _spread(dst[keep])):
        return 0
    return int(keep.sum())


def _spread(pts: np.ndarray, min_extent: float = 40.0) -> bool:
    pts = pts.reshape(-1, 2)
    if len(pts) < 4:
        return False
    extent = np.percentile(pts, 90, axis=0) - np.percentile(pts, 10, axis=0)
    return bool(extent.min() > min_extent)


def _plausible(h: np.ndarray, inlier_src: np.ndarray) -> bool:
    """A homography a camera could produce: no extreme scaling or mirroring, and inliers
    spread over a real area rather than a cluster of near-identical points."""
    det = float(np.linalg.det(h[:2, :2]))
    if not 1 / 64 < det < 64:  # SIFT matches across scale: a close-up vs the whole room
        return False
    return _spread(inlier_src)


class SceneIndex:
    """Global scene vectors of many images under integer ids, searched by inner product."""

    def __init__(self, dim: int = GLOBAL_DIM):
        self.dim = dim
        self._index: faiss.Index = faiss.IndexFlatIP(dim)
        self._ids = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, nlist: int | None = None) -> "SceneIndex":
        """An index over `vectors` (float32, n x dim); IVF from `IVF_FROM` vectors on."""
        self = cls(vectors.shape[1])
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(vectors) >= IVF_FROM or nlist:
            # sqrt(n) lists: at 1M vectors training takes seconds where 4*sqrt(n) took minutes
            # (k-means cost grows with nlist twice: more centroids and a bigger sample), and
            # every rebuild after the case changed pays it (docs/benchmarks.md).
            nlist = nlist or int(np.sqrt(len(vectors)))
            quantiser = faiss.IndexFlatIP(self.dim)
            ivf = faiss.IndexIVFFlat(quantiser, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = vectors[np.random.default_rng(0).permutation(len(vectors))[: nlist * 40]]
            ivf.train(sample)
            ivf.nprobe = max(16, nlist // 4)  # recall@10 vs exact 0.91 at 1M (docs/benchmarks.md)
            self._index = ivf
        self._index.add(vectors)
        self._ids = np.asarray(ids, dtype=np.int64)
        return self

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to `path` and its ids beside it (`indexfile.save`)."""
        indexfile.save(self._index, self._ids, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SceneIndex":
        try:
            index, ids = indexfile.load(path)
        except ValueError as exc:
            raise VictimIdError(f"scene {exc}; delete it to rebuild") from None
        self = cls(index.d)
        self._index, self._ids = index, ids
        return self

    def vector(self, ident: int) -> np.ndarray | None:
        """The stored vector of `ident`, or None when the index cannot give it back."""
        rows = np.nonzero(self._ids == ident)[0]
        if len(rows) == 0:
            return None
        try:
            return self._index.reconstruct(int(rows[0]))
        except RuntimeError:  # an IVF index without a direct map
            return None

    def search(self, vector: np.ndarray, top: int) -> list[tuple[int, float]]:
        if len(self) == 0:
            return []
        with _one_thread():
            sims, rows = self._index.search(vector.reshape(1, -1).astype(np.float32), min(top, len(self)))
        return [(int(self._ids[r]), float(s)) for r, s in zip(rows[0], sims[0]) if r >= 0]


@dataclass
class SceneHit:
    media_id: int
    similarity: float  # global (VLAD) cosine similarity; 0 when reached only through a link
    inliers: int  # inliers of the verifying model (or the best model's count when unverified)
    matches: int
    verified: bool  # geometrically verified against the query itself
    model: str | None = None  # "homography" / "fundamental" when verified
    via: int | None = None  # a verified hit this one is linked to (query expansion)
    via_reason: str = ""  # why it is linked to `via`

    @property
    def linked(self) -> bool:
        """Not verified against the query, but linked to a hit that is."""
        return not self.verified and self.via is not None

    @property
    def tier(self) -> int:
        return 0 if self.verified else 1 if self.linked else 2

    @property
    def reason(self) -> str:
        if self.verified:
            what = "planar part (homography)" if self.model == "homography" else "3-D scene (fundamental matrix)"
            return f"same scene: {self.inliers} geometrically consistent feature matches, {what}"
        if self.linked:
            return f"linked to verified hit #{self.via}: {self.via_reason}"
        return f"similar appearance (global similarity {self.similarity:.2f}), not verified"


Linked = Callable[[list[int]], dict[int, list[tuple[int, str]]]]


def rank(query: Features, vocab: Vocabulary, index: SceneIndex, load_features, *,
         shortlist: int = SHORTLIST, verify_top: int = VERIFY_TOP, min_inliers: int = MIN_INLIERS,
         exclude: set[int] | None = None, linked: Linked | None = None, expand: bool = True,
         max_linked: int = 50) -> list[SceneHit]:
    """Candidates for the query's scene, best first; `load_features(id)` gives stored features.

    The top `verify_top` of the `shortlist` are verified geometrically. With `expand`, the
    index is searched again with the query's vector averaged with its best verified hits'
    (their new candidates verified too, up to half of `verify_top` more), and the views
    `linked(ids)` names for the verified hits (same series, scene links: views already tied
    to the place) are verified against the query; those that do not verify are listed as
    linked through the hit, after every verified hit and before every unverified one."""
    exclude = set(exclude or ())
    qv = vocab.encode(query)
    hits: dict[int, SceneHit] = {}

    def check(ident: int, sim: float) -> SceneHit:
        v = verify(query, load_features(ident), min_inliers=min_inliers)
        hit = SceneHit(ident, sim, v.inliers, v.matches, v.verified, v.model)
        hits[ident] = hit
        return hit

    def search(vector: np.ndarray) -> list[tuple[int, float]]:
        return [(i, s) for i, s in index.search(vector, shortlist + len(exclude) + len(hits))
                if i not in exclude][:shortlist + len(hits)]

    first = search(qv)
    for pos, (ident, sim) in enumerate(first[:shortlist]):
        if pos < verify_top:
            check(ident, sim)
        else:
            hits[ident] = SceneHit(ident, sim, 0, 0, False)
    verified = sorted((h for h in hits.values() if h.verified), key=lambda h: -h.inliers)
    if expand and verified:
        # Average query expansion: views that share little with the query but much with its
        # matches (the other end of the room) come up in the second search.
        vecs = [index.vector(h.media_id) for h in verified[:3]]
        vecs = [v for v in vecs if v is not None]
        if vecs:
            ev = qv + np.sum(vecs, axis=0)
            ev /= max(float(np.linalg.norm(ev)), 1e-12)
            budget = max(1, verify_top // 2)
            for ident, sim in search(ev):
                if budget == 0:
                    break
                old = hits.get(ident)
                if old is None or (not old.verified and old.matches == 0):
                    check(ident, old.similarity if old else sim)
                    budget -= 1
        if linked is not None:
            verified = sorted((h for h in hits.values() if h.verified), key=lambda h: -h.inliers)
            seen_links = 0
            for via, others in linked([h.media_id for h in verified]).items():
                for other, why in others:
                    if other in exclude or seen_links >= max_linked:
                        continue
                    old = hits.get(other)
                    if old is not None and (old.verified or old.linked):
                        continue
                    seen_links += 1
                    hit = check(other, old.similarity if old else 0.0)
                    if not hit.verified:
                        hit.via, hit.via_reason = via, why
    out = list(hits.values())
    inliers_of = {h.media_id: h.inliers for h in out if h.verified}
    # Within the unverified tier, candidates that were checked keep their best model's inlier
    # count as evidence (a true view short of the threshold still beats chance matches);
    # unchecked ones follow by similarity.
    out.sort(key=lambda h: (h.tier, -h.inliers if h.verified else -inliers_of.get(h.via, 0) if h.linked
                            else -h.inliers, -h.similarity))
    return out
