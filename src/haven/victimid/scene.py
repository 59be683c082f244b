"""Same-scene search: local features, an aggregated global vector per image, and geometric
verification of the best candidates.

The pipeline, in the order a query runs it:

1. `OrbExtractor` finds up to 1000 ORB keypoints on the image scaled to 640 px on its long
   side (binary 256-bit descriptors: fast to compute and to match, free of patents).
2. `Vocabulary` turns the descriptors into one VLAD vector: each descriptor (as 256 bits in
   [0, 1]) is assigned to its nearest of k centroids and the residuals are summed per
   centroid; signed square root and L2 normalisation follow, then a fixed random orthogonal
   projection to `GLOBAL_DIM` dimensions keeps the index small without training a PCA
   (small cases have too few images for one). The centroids are trained per case on a sample
   of its own descriptors (`train_vocabulary`) and stored in the case.
3. `SceneIndex` holds the vectors in FAISS (exact inner product up to `IVF_FROM` vectors,
   an IVF index above) and returns `shortlist` candidates.
4. `verify` matches the query's descriptors to each of the top `verify_top` candidates'
   (Hamming, Lowe ratio test) and fits a homography with RANSAC; the inlier count is the
   evidence. Rooms are mostly planes (walls, floor, bed, posters), so a homography holds for
   the parts that matter; a fundamental matrix would accept too many chance matches with
   the few hundred correspondences ORB gives.

Ranking: verified candidates (>= `MIN_INLIERS`) first by inliers, then the others by global
similarity.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import faiss
import numpy as np

from haven.victimid import indexfile
from haven.victimid.errors import VictimIdError

LONG_SIDE = 640
N_FEATURES = 1000
VOCAB_K = 32
GLOBAL_DIM = 512
MIN_INLIERS = 15
# Exact search up to 2M vectors: at 1M it answers in ~250 ms on one core with every neighbour,
# while an IVF needs half its lists probed for recall@10 0.98 and 45 s to train after every
# change; the RANSAC stage after it takes ~1 s anyway (docs/benchmarks.md).
IVF_FROM = 2_000_000
_PROJECTION_SEED = 20240607  # fixed: vectors of every case and version stay comparable


@dataclass
class Features:
    extractor: str
    keypoints: np.ndarray  # float32 (n, 2)
    descriptors: np.ndarray  # uint8 (n, 32)

    def to_blobs(self) -> tuple[bytes, bytes]:
        return self.keypoints.astype(np.float32).tobytes(), self.descriptors.astype(np.uint8).tobytes()

    @classmethod
    def from_blobs(cls, extractor: str, keypoints: bytes, descriptors: bytes) -> "Features":
        kp = np.frombuffer(keypoints, dtype=np.float32).reshape(-1, 2)
        desc = np.frombuffer(descriptors, dtype=np.uint8).reshape(-1, 32)
        return cls(extractor, kp, desc)


def to_gray(rgb: np.ndarray, long_side: int = LONG_SIDE) -> np.ndarray:
    """Greyscale uint8 image scaled (down only) so its long side is at most `long_side`."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    h, w = gray.shape[:2]
    scale = long_side / max(h, w)
    if scale < 1:
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(gray)


class OrbExtractor:
    """ORB keypoints and 256-bit descriptors (OpenCV)."""

    name = f"orb{N_FEATURES}-{LONG_SIDE}"

    def __init__(self, n_features: int = N_FEATURES):
        self._orb = cv2.ORB_create(nfeatures=n_features, scaleFactor=1.2, nlevels=8, fastThreshold=10)

    def extract(self, rgb: np.ndarray) -> Features:
        gray = to_gray(rgb)
        # Histogram equalisation evens out lighting before FAST picks corners.
        gray = cv2.equalizeHist(gray)
        kps, desc = self._orb.detectAndCompute(gray, None)
        if desc is None or not kps:
            return Features(self.name, np.empty((0, 2), np.float32), np.empty((0, 32), np.uint8))
        pts = np.array([k.pt for k in kps], dtype=np.float32)
        return Features(self.name, pts, desc)


def _bits(desc: np.ndarray) -> np.ndarray:
    return np.unpackbits(desc, axis=1).astype(np.float32)


@lru_cache(maxsize=2)  # a QR of 8192 x 512: seconds; every store's vocabulary shares it
def _projection(in_dim: int, out_dim: int) -> np.ndarray:
    rng = np.random.default_rng(_PROJECTION_SEED)
    q, _ = np.linalg.qr(rng.standard_normal((in_dim, out_dim)).astype(np.float32))
    return q.astype(np.float32)


class Vocabulary:
    """k centroids over descriptor bits, and the VLAD encoding they define."""

    def __init__(self, centroids: np.ndarray):
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.k, self.dim = self.centroids.shape
        self._assign = faiss.IndexFlatL2(self.dim)
        self._assign.add(self.centroids)
        self._proj = _projection(self.k * self.dim, GLOBAL_DIM)

    @classmethod
    def train(cls, descriptors: np.ndarray, k: int = VOCAB_K, seed: int = 1) -> "Vocabulary":
        """k-means (FAISS) on a sample of uint8 (n, 32) descriptors."""
        if len(descriptors) < k * 4:
            raise VictimIdError(
                f"only {len(descriptors)} local features in the case; index more images "
                "before the scene vocabulary can be trained"
            )
        km = faiss.Kmeans(descriptors.shape[1] * 8, k, niter=20, seed=seed, verbose=False)
        km.train(_bits(descriptors))
        return cls(km.centroids)

    def encode(self, descriptors: np.ndarray) -> np.ndarray:
        """Projected, normalised VLAD vector (float32, `GLOBAL_DIM`) of one image."""
        out = np.zeros(GLOBAL_DIM, dtype=np.float32)
        if len(descriptors) == 0:
            return out
        x = _bits(descriptors)
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
    inliers: int


def match_descriptors(q: np.ndarray, c: np.ndarray, ratio: float = 0.8) -> list[tuple[int, int]]:
    """(query index, candidate index) pairs passing Lowe's ratio test under Hamming distance."""
    if len(q) < 2 or len(c) < 2:
        return []
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    best: dict[int, tuple[float, int]] = {}
    for m in matcher.knnMatch(q, c, k=2):
        if len(m) == 2 and m[0].distance < ratio * m[1].distance:
            # One query feature per candidate feature: many-to-one matches let RANSAC fit a
            # homography that collapses a region onto one point, with many "inliers".
            t = m[0].trainIdx
            if t not in best or m[0].distance < best[t][0]:
                best[t] = (m[0].distance, m[0].queryIdx)
    return sorted((qi, t) for t, (_d, qi) in best.items())


def verify(query: Features, candidate: Features, reproj: float = 6.0) -> Verification:
    """Ratio-test matches and RANSAC homography inliers between two images' features."""
    pairs = match_descriptors(query.descriptors, candidate.descriptors)
    if len(pairs) < 8:
        return Verification(len(pairs), 0)
    src = query.keypoints[[p[0] for p in pairs]].reshape(-1, 1, 2)
    dst = candidate.keypoints[[p[1] for p in pairs]].reshape(-1, 1, 2)
    h, mask = cv2.findHomography(src, dst, cv2.RANSAC, reproj, maxIters=2000, confidence=0.995)
    if h is None or mask is None or not _plausible(h, src[mask.ravel() == 1]):
        return Verification(len(pairs), 0)
    return Verification(len(pairs), int(mask.sum()))


def _plausible(h: np.ndarray, inlier_src: np.ndarray) -> bool:
    """A homography a camera could produce: no extreme scaling or mirroring, and inliers
    spread over a real area rather than a cluster of near-identical points."""
    det = float(np.linalg.det(h[:2, :2]))
    if not 1 / 16 < det < 16:
        return False
    pts = inlier_src.reshape(-1, 2)
    if len(pts) < 4:
        return False
    spread = pts.max(axis=0) - pts.min(axis=0)
    return bool(spread.min() > 20)


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

    def search(self, vector: np.ndarray, top: int) -> list[tuple[int, float]]:
        if len(self) == 0:
            return []
        sims, rows = self._index.search(vector.reshape(1, -1).astype(np.float32), min(top, len(self)))
        return [(int(self._ids[r]), float(s)) for r, s in zip(rows[0], sims[0]) if r >= 0]


@dataclass
class SceneHit:
    media_id: int
    similarity: float  # global (VLAD) cosine similarity
    inliers: int  # RANSAC homography inliers; 0 when not verified
    matches: int
    verified: bool

    @property
    def reason(self) -> str:
        if self.verified:
            return f"same scene: {self.inliers} geometrically consistent feature matches"
        return f"similar appearance (global similarity {self.similarity:.2f}), not verified"


def rank(query: Features, vocab: Vocabulary, index: SceneIndex, load_features, *,
         shortlist: int = 100, verify_top: int = 50, min_inliers: int = MIN_INLIERS,
         exclude: set[int] | None = None) -> list[SceneHit]:
    """Candidates for the query's scene, best first; `load_features(id)` gives stored features."""
    exclude = exclude or set()
    candidates = [(i, s) for i, s in index.search(vocab.encode(query.descriptors), shortlist + len(exclude))
                  if i not in exclude][:shortlist]
    hits = []
    for pos, (ident, sim) in enumerate(candidates):
        if pos < verify_top:
            v = verify(query, load_features(ident))
            hits.append(SceneHit(ident, sim, v.inliers, v.matches, v.inliers >= min_inliers))
        else:
            hits.append(SceneHit(ident, sim, 0, 0, False))
    hits.sort(key=lambda h: (not h.verified, -h.inliers if h.verified else 0, -h.similarity))
    return hits
