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
unverified rest by their best model's inliers (short of the threshold, but evidence) plus
`SIMILARITY_WEIGHT` times their global similarity (the unchecked have 0 inliers). Unverified candidates never outrank
verified ones.
Query expansion also re-searches the index with the query's vector averaged with those of
its verified hits, so views that share little with the query but much with its matches
enter the shortlist.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
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
# Unverified candidates are ordered by inliers + SIMILARITY_WEIGHT x global similarity: short of
# the threshold, chance pairs and true ones overlap in inliers (8-13 each), and the VLAD
# similarity (0-0.4) breaks the tie. 20 was the best of 0/20/40/60/100 on both real-photo
# sets (recall@5 0.381 -> 0.476 and 0.533 -> 0.633; docs/benchmarks.md): chosen on the
# evaluation data itself, so an optimistic figure.
SIMILARITY_WEIGHT = 20.0
# ... plus LOCAL_WEIGHT x the inverted file's tf-idf cosine (0-0.3 between different photos of a
# place): 40 from a flat optimum of 30-60 on the real-photo sets 1-3 (development sets; the
# held-out set 4 was evaluated once after the choice; docs/benchmarks.md).
LOCAL_WEIGHT = 40.0
VERIFY_TOP = 50
# Threads that verify candidates at once (one per core, at most 4): 1.9x faster on two idle
# cores; on a loaded machine no slower (docs/benchmarks.md).
VERIFY_THREADS = max(1, min(4, os.cpu_count() or 1))
# Exact search up to 2M vectors: at 1M it answers in ~250 ms on one core with every neighbour,
# while an IVF needs half its lists probed for recall@10 0.98 and 45 s to train after every
# change; the RANSAC stage after it takes ~1 s anyway (docs/benchmarks.md).
IVF_FROM = 2_000_000
# The local-feature shortlist (`WordVocabulary`, `InvertedFile`): up to 256 x 256 words.
WORDS_TOP = 256
WORDS_LEAF = 256
WORDS_PER_LEAF = 8  # training descriptors per leaf at least (a small case gets fewer words)
WORDS_SAMPLE = 400_000  # descriptors the word vocabulary is trained on
# Candidates from the inverted file verified beside the global shortlist's `VERIFY_TOP` (those
# not in it already). 25: on the real-photo sets 1-3, 25 and 50 ranked the same (re-ranking the
# stored candidates offline), 15 lost a baseline-solved query of set 3.
LOCAL_TOP = 25
# The second stage: the deeper candidates neither shortlist verifies (the global top
# `SECOND_GLOBAL`, the inverted file's top `SECOND_LOCAL`) are scored cheaply by
# `word_agreement` (no descriptor is read), and the best `SECOND_TOP` of those scoring at least
# `SECOND_MIN` are verified too: a true view that ranks deep in both shortlists (a sun-washed
# photo, a reference with few keypoints) but shares a few geometrically consistent words.
SECOND_GLOBAL = 150
SECOND_LOCAL = 100
SECOND_TOP = 10
SECOND_MIN = 6
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


_PROJECTIONS: dict[tuple[int, int], np.ndarray] = {}


def _projection(in_dim: int, out_dim: int, cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """A fixed Gaussian random projection (Johnson-Lindenstrauss): inner products survive
    within a few percent at 1024 dimensions. Not orthogonalised: a QR of 8192 x 1024 took
    a minute of a loaded machine at every process start, for no measurable gain.

    Drawing its 8M numbers costs 0.1-0.2 s of CPU, paid by every query process; with
    `cache_dir` (a store's `victimid-cache/`) the matrix is written there once and later
    processes memory-map it (~2 ms). A file whose shape or first row differs from the drawn
    matrix is ignored and replaced."""
    key = (in_dim, out_dim)
    if key in _PROJECTIONS:
        return _PROJECTIONS[key]
    scale = np.float32(1 / np.sqrt(out_dim))
    # The generator's stream does not depend on the size asked for: the first `out_dim`
    # draws are the matrix's first row, a cheap check of a cached file.
    first = np.random.default_rng(_PROJECTION_SEED).standard_normal(out_dim, dtype=np.float32) * scale
    path = Path(cache_dir) / f"vlad-projection-{_PROJECTION_SEED}-{in_dim}x{out_dim}.npy" if cache_dir else None
    if path is not None and path.is_file():
        try:
            mat = np.load(path, mmap_mode="r")
            if mat.shape == key and mat.dtype == np.float32 and np.array_equal(mat[0], first):
                _PROJECTIONS[key] = mat
                return mat
        except (OSError, ValueError):
            pass  # damaged: drawn again and rewritten
    rng = np.random.default_rng(_PROJECTION_SEED)
    mat = (rng.standard_normal(key, dtype=np.float32) * scale).astype(np.float32)
    if path is not None:
        tmp = indexfile.temp_path(path)
        try:
            path.parent.mkdir(exist_ok=True)
            with open(tmp, "wb") as fh:
                np.save(fh, mat)
            os.replace(tmp, path)
        except OSError:  # a read-only store: queries work without the cache
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
    _PROJECTIONS[key] = mat
    return mat


_THREADS_LOCK = threading.Lock()
_THREADS_HELD = [0, 0]  # [callers inside _one_thread, FAISS threads to restore]


@contextmanager
def _one_thread():
    """FAISS on one thread for the tiny searches of one query: OpenMP threads cost far more
    than the search when other work keeps the cores busy (see haven.match.library).
    Safe to nest and to enter from several threads at once (the verification pool): the
    first caller in sets one thread, the last one out restores the earlier setting."""
    with _THREADS_LOCK:
        if _THREADS_HELD[0] == 0:
            _THREADS_HELD[1] = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)
        _THREADS_HELD[0] += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_HELD[0] -= 1
            if _THREADS_HELD[0] == 0:
                faiss.omp_set_num_threads(_THREADS_HELD[1])


class Vocabulary:
    """k centroids over RootSIFT descriptors, and the VLAD encoding they define."""

    def __init__(self, centroids: np.ndarray, cache_dir: str | os.PathLike | None = None):
        """`cache_dir`: where the fixed projection may be cached (see `_projection`)."""
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.k, self.dim = self.centroids.shape
        self._assign = faiss.IndexFlatL2(self.dim)
        self._assign.add(self.centroids)
        self._cache_dir = cache_dir
        self._proj_matrix: np.ndarray | None = None

    @property
    def _proj(self) -> np.ndarray:
        """The projection, drawn or loaded on first use (training needs none)."""
        if self._proj_matrix is None:
            self._proj_matrix = _projection(self.k * self.dim, GLOBAL_DIM, self._cache_dir)
        return self._proj_matrix

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

    def _vlad(self, descriptors: np.ndarray | Features) -> np.ndarray | None:
        """Intra-normalised, signed-square-rooted VLAD (k * dim) before the projection;
        None for an image without usable features."""
        x = descriptors.root if isinstance(descriptors, Features) else rootsift(descriptors)
        if len(x) == 0 or x.shape[1] != self.dim:
            return None
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
        return np.sign(v) * np.sqrt(np.abs(v))

    def encode(self, descriptors: np.ndarray | Features) -> np.ndarray:
        """Projected, normalised VLAD vector (float32, `GLOBAL_DIM`) of one image."""
        v = self._vlad(descriptors)
        if v is None:
            return np.zeros(GLOBAL_DIM, dtype=np.float32)
        v = v @ self._proj
        n = np.linalg.norm(v)
        return v / n if n > 0 else np.zeros(GLOBAL_DIM, dtype=np.float32)

    def encode_many(self, items: Iterable[np.ndarray | Features], batch: int = 256) -> np.ndarray:
        """`encode` of many images (n x `GLOBAL_DIM`): the projection runs as one matrix
        product per `batch` images instead of one 32 MB vector-matrix product per image."""
        out = []
        items = list(items)
        for lo in range(0, len(items), batch):
            chunk = [self._vlad(d) for d in items[lo:lo + batch]]
            mat = np.zeros((len(chunk), self.k * self.dim), dtype=np.float32)
            for i, v in enumerate(chunk):
                if v is not None:
                    mat[i] = v
            proj = mat @ self._proj
            norms = np.linalg.norm(proj, axis=1, keepdims=True)
            out.append(np.divide(proj, norms, out=np.zeros_like(proj), where=norms > 0))
        return np.concatenate(out) if out else np.empty((0, GLOBAL_DIM), np.float32)


class WordVocabulary:
    """Visual words for the inverted file: a two-level tree of RootSIFT centroids (k-means of
    `WORDS_TOP` centroids, then up to `WORDS_LEAF` under each), so up to 65,536 words that a
    descriptor reaches with ~2 x 256 distance computations, not 65,536. Trained per case, as
    the VLAD vocabulary is, on a sample of its own descriptors."""

    def __init__(self, top: np.ndarray, leaves: np.ndarray, offsets: np.ndarray):
        self.top = np.ascontiguousarray(top, dtype=np.float32)
        self.leaves = np.ascontiguousarray(leaves, dtype=np.float32)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.words = len(self.leaves)
        if self.words > 65536 or len(self.offsets) != len(self.top) + 1 or self.offsets[-1] != self.words:
            raise VictimIdError("damaged word vocabulary; re-index with `haven index --parts scene`")
        self._top_index = faiss.IndexFlatL2(self.top.shape[1])
        self._top_index.add(self.top)
        self._leaf_half = 0.5 * (self.leaves ** 2).sum(axis=1)

    @classmethod
    def train(cls, descriptors: np.ndarray, k1: int | None = None, k2: int | None = None,
              seed: int = 1) -> "WordVocabulary":
        """k-means (FAISS) of uint8 (n, 128) SIFT descriptors: `k1` top centroids (default
        `WORDS_TOP`, fewer for a small sample), then each top cell's descriptors clustered into
        up to `k2` leaves (`WORDS_LEAF`; at least `WORDS_PER_LEAF` descriptors per leaf)."""
        if len(descriptors) < 256:
            raise VictimIdError(f"only {len(descriptors)} local features in the case; index more images "
                                "before the visual words can be trained")
        x = rootsift(descriptors)
        k1 = k1 or min(WORDS_TOP, max(2, len(x) // 64))
        k2 = k2 or WORDS_LEAF
        with _one_thread():
            km = faiss.Kmeans(x.shape[1], k1, niter=15, seed=seed, verbose=False, min_points_per_centroid=1)
            km.train(x)
            top = km.centroids
            _, cell = km.index.search(x, 1)
        cell = cell[:, 0]
        leaves, offsets = [], [0]
        for c in range(k1):
            pts = x[cell == c]
            k = min(k2, len(pts) // WORDS_PER_LEAF)
            if k >= 2:
                with _one_thread():
                    sub = faiss.Kmeans(x.shape[1], k, niter=10, seed=seed, verbose=False,
                                       min_points_per_centroid=1)
                    sub.train(np.ascontiguousarray(pts))
                leaves.append(sub.centroids)
            else:  # a sparse cell: one word, its centroid
                leaves.append(top[c:c + 1] if len(pts) == 0 else pts.mean(axis=0, keepdims=True))
            offsets.append(offsets[-1] + len(leaves[-1]))
        return cls(top, np.concatenate(leaves), np.array(offsets))

    def assign(self, descriptors: np.ndarray | Features) -> np.ndarray:
        """The word (uint16) of each descriptor: nearest top centroid, then nearest leaf under it."""
        if isinstance(descriptors, Features):
            x = descriptors.root
        elif descriptors.dtype == np.float32:  # RootSIFT already (`assign_many`)
            x = descriptors
        else:
            x = rootsift(descriptors)
        out = np.zeros(len(x), dtype=np.uint16)
        if len(x) == 0 or x.shape[1] != self.top.shape[1]:
            return out[:0]
        with _one_thread():  # FAISS: ~10x NumPy's threaded product on a busy machine
            _, cell = self._top_index.search(np.ascontiguousarray(x), 1)
        cell = cell[:, 0]
        order = np.argsort(cell, kind="stable")
        bounds = np.searchsorted(cell[order], np.arange(len(self.top) + 1))
        for c in np.unique(cell):
            rows = order[bounds[c]:bounds[c + 1]]
            lo, hi = self.offsets[c], self.offsets[c + 1]
            if hi - lo == 1:
                out[rows] = lo
            else:
                # argmin |x - c|^2 = argmax x.c - |c|^2 / 2
                out[rows] = lo + np.argmax(x[rows] @ self.leaves[lo:hi].T - self._leaf_half[lo:hi], axis=1)
        return out


    def assign_many(self, items: Iterable[np.ndarray | Features]) -> list[np.ndarray]:
        """`assign` of each image (~4-5 ms each on one core)."""
        return [self.assign(d) for d in items]


class InvertedFile:
    """Images by visual word (the local-feature shortlist): tf-idf voting over the words a
    query shares with each image, square-rooted term frequencies (a repeated texture counts
    less), each image's vector L2-normalised. A true view that shares a few dozen local
    features with the query but little global appearance (a close-up, another season) is
    reached here when the global vector ranks it far down.

    Posting lists in CSR form: `offsets` (words + 1), then per entry the image's row (int32)
    and its weight (float16, idf x sqrt(tf) / norm): 6 bytes per distinct word of an image."""

    def __init__(self, ids: np.ndarray, idf: np.ndarray, offsets: np.ndarray, rows: np.ndarray,
                 weights: np.ndarray):
        self.ids, self.idf, self.offsets = ids, idf, offsets
        self.rows, self.weights = rows, weights

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in (self.ids, self.idf, self.offsets, self.rows, self.weights)))

    @classmethod
    def build(cls, ids: Iterable[int], word_lists: Iterable[np.ndarray], n_words: int) -> "InvertedFile":
        """From each image's words (one per local feature, any order).

        A counting sort in two passes over the images: the distinct words of each image and
        their counts first (the document frequencies), then each image's weights written
        straight into its words' posting lists. Beside the input the build holds the final
        arrays (6 bytes per posting) and 4 bytes per posting of distinct words and counts:
        ~0.6 GB for the 57M postings of 100,000 images, where sorting all postings at once
        took ~2 GB."""
        ids = np.asarray(list(ids), dtype=np.int64)
        uniq, counts = [], []
        df = np.zeros(n_words, dtype=np.int64)
        for w in word_lists:
            u, c = np.unique(np.asarray(w, dtype=np.uint16), return_counts=True)
            uniq.append(u)
            counts.append(c.astype(np.uint16) if len(c) == 0 or c.max() < 65536 else c)
            df[u] += 1
        idf = np.log(max(len(ids), 1) / np.maximum(df, 1)).astype(np.float32)
        offsets = np.zeros(n_words + 1, dtype=np.int64)
        np.cumsum(df, out=offsets[1:])
        rows = np.empty(int(offsets[-1]), dtype=np.int32)
        weights = np.empty(int(offsets[-1]), dtype=np.float16)
        cursor = offsets[:-1].copy()  # next free slot of each word's posting list
        for r, (u, c) in enumerate(zip(uniq, counts)):
            w = np.sqrt(c.astype(np.float32)) * idf[u]
            w /= max(float(np.linalg.norm(w)), 1e-12)
            at = cursor[u]  # distinct words of one image: no two writes to one slot
            rows[at] = r
            weights[at] = w
            cursor[u] += 1
            uniq[r] = counts[r] = None  # freed as the lists fill
        return cls(ids, idf, offsets, rows, weights)

    def search(self, words: np.ndarray, top: int) -> list[tuple[int, float]]:
        """(id, cosine of tf-idf vectors) of the `top` images sharing most weighted words."""
        if len(self.ids) == 0 or len(words) == 0:
            return []
        u, c = np.unique(np.asarray(words, dtype=np.int64), return_counts=True)
        u, c = u[u < len(self.idf)], c[u < len(self.idf)]
        q = np.sqrt(c.astype(np.float32)) * self.idf[u]
        norm = float(np.linalg.norm(q))
        if norm == 0:
            return []
        q /= norm
        lo, hi = self.offsets[u], self.offsets[u + 1]
        keep = hi > lo
        lo, hi, q = lo[keep], hi[keep], q[keep]
        if len(lo) == 0:
            return []
        lengths = hi - lo
        # every posting entry of the query's words, gathered at once
        starts = np.repeat(lo - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
        idx = starts + np.arange(int(lengths.sum()))
        scores = np.bincount(self.rows[idx], self.weights[idx].astype(np.float32) * np.repeat(q, lengths),
                             minlength=len(self.ids))
        top = min(top, int(np.count_nonzero(scores)))
        if top <= 0:
            return []
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(self.ids[r]), float(scores[r])) for r in best]

    _PARTS = ("ids", "idf", "offsets", "rows", "weights")

    def save(self, path: str | os.PathLike) -> None:
        """`path` and four files beside it (`path.rows.npy` ...), each written whole then renamed."""
        path = Path(path)
        for part in reversed(self._PARTS):  # `path` itself (the ids) last: its presence means complete
            target = path if part == "ids" else path.with_name(f"{path.name}.{part}.npy")
            tmp = indexfile.temp_path(target)
            with open(tmp, "wb") as fh:
                np.save(fh, getattr(self, part))
            os.replace(tmp, target)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "InvertedFile":
        """Memory-mapped: a query touches only the posting lists of its words."""
        path = Path(path)
        try:
            parts = {p: np.load(path if p == "ids" else path.with_name(f"{path.name}.{p}.npy"), mmap_mode="r")
                     for p in cls._PARTS}
        except (OSError, ValueError) as exc:
            raise VictimIdError(f"scene word index {path}: {exc}; delete it to rebuild") from None
        self = cls(**parts)
        if len(self.offsets) != len(self.idf) + 1 or len(self.rows) != len(self.weights) \
                or (len(self.offsets) and int(self.offsets[-1]) != len(self.rows)):
            raise VictimIdError(f"scene word index {path} is damaged; delete it to rebuild")
        return self


@dataclass
class Verification:
    matches: int
    inliers: int  # of the model that verified the pair, else the larger count
    model: str | None = None  # "homography" / "fundamental" when verified
    h_inliers: int = 0
    f_inliers: int = 0
    # The fundamental matrix's inliers before the spread check: evidence for ranking the
    # unverified (a skyline band of inliers is short of a verification but not of chance).
    f_raw: int = 0

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
        d1 = np.sqrt(np.maximum(2 - 2 * sims[:, 0], 0))
        d2 = np.sqrt(np.maximum(2 - 2 * sims[:, 1], 0))
        best = nn[:, 0]
        ok = (d1 < ratio * d2) & (best >= 0)
        # Mutual: one query feature per candidate feature. Many-to-one matches let RANSAC fit
        # a model that collapses a region onto one point, with many "inliers". Only the
        # candidate features that passed the ratio test are searched back (a tenth or so of
        # them): the same answer as searching every one, at a fraction of the cost.
        wanted = np.unique(best[ok])
        rev = np.full(len(c), -1, dtype=np.int64)
        if len(wanted):
            back = faiss.IndexFlatIP(q.shape[1])
            back.add(q)
            _, nearest = back.search(np.ascontiguousarray(c[wanted]), 1)
            rev[wanted] = nearest[:, 0]
    ok[ok] = rev[best[ok]] == np.nonzero(ok)[0]
    rows = np.nonzero(ok)[0]
    return np.stack([rows, best[rows]], axis=1).astype(np.int64)


def verify(query: Features, candidate: Features, *, min_inliers: int = MIN_INLIERS,
           min_f_inliers: int = MIN_F_INLIERS, min_matches: int | None = None) -> Verification:
    """Matches between two images' features and the inliers of a homography and of a
    fundamental matrix fitted to them (MAGSAC++); verified when either model holds. With
    fewer than `min_matches` matches (default: the smaller threshold) no model is fitted."""
    if query.descriptors.shape[1] != candidate.descriptors.shape[1]:
        raise VictimIdError(f"features of {candidate.extractor!r} cannot be compared with "
                            f"{query.extractor!r}; re-index with `haven index --parts scene`")
    pairs = match_descriptors(query.root, candidate.root)
    n = len(pairs)
    if n < max(8, min(min_inliers, min_f_inliers) if min_matches is None else min_matches):
        # too few matches for either model to verify
        return Verification(n, 0)
    src = np.ascontiguousarray(query.keypoints[pairs[:, 0]])
    dst = np.ascontiguousarray(candidate.keypoints[pairs[:, 1]])
    h_in = _homography_inliers(src, dst)
    f_in, f_raw = _fundamental_inliers(src, dst, raw=True) if h_in < min_inliers else (0, 0)
    if h_in >= min_inliers:
        return Verification(n, h_in, "homography", h_in, f_in, f_raw)
    if f_in >= min_f_inliers:
        return Verification(n, f_in, "fundamental", h_in, f_in, f_raw)
    # Unverified: the larger count is the evidence the ranking uses, the fundamental matrix's
    # counted before its spread check (on sets 1-3 this put 8 of 8 baseline-solved set-3
    # queries in the top 5 instead of 6; docs/benchmarks.md).
    return Verification(n, max(h_in, f_raw), None, h_in, f_in, f_raw)


def verify_many(query: Features, candidates: list[Features], *, threads: int | None = None,
                **kw) -> list[Verification]:
    """`verify` of the query against each candidate, in order, on `threads` threads (default
    `VERIFY_THREADS`). FAISS and OpenCV release the GIL, so the threads run on separate
    cores; each check uses one FAISS thread, as alone."""
    threads = min(len(candidates), threads or VERIFY_THREADS)
    if threads <= 1:
        return [verify(query, c, **kw) for c in candidates]
    from concurrent.futures import ThreadPoolExecutor

    query.root  # computed once here, not raced for by the threads
    with _one_thread(), ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda c: verify(query, c, **kw), candidates))


def unique_words(words: np.ndarray, n_words: int) -> np.ndarray:
    """Per word, the index of the one feature of an image with that word; -1 for words the
    image has none or several of (an ambiguous word says nothing about where it lies)."""
    words = np.asarray(words, dtype=np.int64)
    table = np.full(max(n_words, int(words.max()) + 1 if len(words) else 0), -1, dtype=np.int32)
    once = np.bincount(words, minlength=len(table))[words] == 1
    table[words[once]] = np.nonzero(once)[0]
    return table


def word_agreement(query_table: np.ndarray, query_keypoints: np.ndarray, words: np.ndarray,
                   keypoints: np.ndarray, threshold: float = 12.0, min_pairs: int = SECOND_MIN) -> int:
    """A cheap stand-in for verification: the features of two images that share a visual word
    found once in each (`query_table` from `unique_words`), and how many of those pairs one
    similarity transform (RANSAC, `threshold` px) maps onto each other. Costs ~0.1 ms where
    matching descriptors costs ~3 ms; unrelated photos rarely reach 6, true views often do
    (docs/benchmarks.md)."""
    words = np.asarray(words, dtype=np.int64)
    words = words[words < len(query_table)]
    at = np.nonzero(query_table[words] >= 0)[0] if len(words) == len(keypoints) else np.empty(0, np.int64)
    if len(at) < min_pairs:
        return 0
    w = words[at]
    order = np.argsort(w, kind="stable")
    ws = w[order]
    same = ws[1:] == ws[:-1]
    dup = np.zeros(len(ws), dtype=bool)
    dup[1:] |= same
    dup[:-1] |= same
    at = at[order[~dup]]  # words found once in the candidate too
    if len(at) < min_pairs:
        return 0
    src = np.ascontiguousarray(query_keypoints[query_table[words[at]]], dtype=np.float32)
    dst = np.ascontiguousarray(keypoints[at], dtype=np.float32)
    try:
        _, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=threshold,
                                              maxIters=200)
    except cv2.error:
        return 0
    return int(mask.sum()) if mask is not None else 0


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


def _fundamental_inliers(src: np.ndarray, dst: np.ndarray, raw: bool = False):
    """Inliers of a fundamental matrix (MAGSAC++, 1.5 px), 0 when they bunch in one spot; with
    `raw`, (that count, the count before the spread check)."""
    try:
        f, mask = cv2.findFundamentalMat(src, dst, cv2.USAC_MAGSAC, 1.5, 0.999, 5000)
    except cv2.error:
        return (0, 0) if raw else 0
    if f is None or mask is None or f.shape != (3, 3):
        return (0, 0) if raw else 0
    keep = mask.ravel().astype(bool)
    n = int(keep.sum())
    # Inliers bunched in one spot fit any epipolar geometry; a scene spreads over the frame.
    ok = n if _spread(src[keep]) and _spread(dst[keep]) else 0
    return (ok, n) if raw else ok


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
    local: float = 0.0  # tf-idf cosine of visual words with the query (inverted file); 0 when not reached

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
        if self.local > 0:
            return (f"similar appearance (global similarity {self.similarity:.2f}, shared local features "
                    f"{self.local:.2f}), not verified")
        return f"similar appearance (global similarity {self.similarity:.2f}), not verified"


Linked = Callable[[list[int]], dict[int, list[tuple[int, str]]]]
LoadMany = Callable[[list[int]], dict[int, Features]]
Local = Callable[[Features, int], list[tuple[int, float]]]
Agree = Callable[[Features, list[int]], dict[int, int]]


def rank(query: Features, vocab: Vocabulary, index: SceneIndex, load_features, *,
         shortlist: int = SHORTLIST, verify_top: int = VERIFY_TOP, min_inliers: int = MIN_INLIERS,
         exclude: set[int] | None = None, linked: Linked | None = None, expand: bool = True,
         max_linked: int = 50, load_many: LoadMany | None = None, local: Local | None = None,
         local_top: int = LOCAL_TOP, agree: Agree | None = None, second_top: int = SECOND_TOP
         ) -> list[SceneHit]:
    """Candidates for the query's scene, best first; `load_features(id)` gives stored features
    (`load_many(ids)`, when given, those of many ids in one read: {id: features}).

    The top `verify_top` of the `shortlist` are verified geometrically. With `expand`, the
    index is searched again with the query's vector averaged with its best verified hits'
    (their new candidates verified too, up to half of `verify_top` more), and the views
    `linked(ids)` names for the verified hits (same series, scene links: views already tied
    to the place) are verified against the query; those that do not verify are listed as
    linked through the hit, after every verified hit and before every unverified one.
    With `local` (the inverted file's search: `local(query, n)` gives (id, score) best first),
    its top `local_top` candidates are verified too, beside the global shortlist's: a true view
    that shares local features with the query but ranks far down by global appearance.
    With `agree` (`agree(query, ids)` gives {id: `word_agreement`}), the deeper candidates of
    both (global top `SECOND_GLOBAL`, local top `SECOND_LOCAL`) not verified already are
    scored by it, and the best `second_top` scoring at least `SECOND_MIN` are verified too.
    Each group of candidates is read at once and verified on `VERIFY_THREADS` threads."""
    exclude = set(exclude or ())
    qv = vocab.encode(query)
    hits: dict[int, SceneHit] = {}

    def check(cands: list[tuple[int, float]], missing_ok: bool = False) -> list[SceneHit]:
        got = load_many([i for i, _ in cands]) if load_many is not None and cands else {}
        kept, feats = [], []
        for ident, sim in cands:
            f = got.get(ident)
            if f is None:
                try:
                    f = load_features(ident)
                except VictimIdError:
                    if not missing_ok:
                        raise
                    continue  # a linked view without scene features (indexed without them, or deleted)
            kept.append((ident, sim))
            feats.append(f)
        out = []
        for (ident, sim), v in zip(kept, verify_many(query, feats, min_inliers=min_inliers)):
            hits[ident] = SceneHit(ident, sim, v.inliers, v.matches, v.verified, v.model)
            out.append(hits[ident])
        return out

    def search(vector: np.ndarray, depth: int = shortlist) -> list[tuple[int, float]]:
        return [(i, s) for i, s in index.search(vector, depth + len(exclude) + len(hits))
                if i not in exclude][:depth + len(hits)]

    second = agree is not None and second_top > 0
    ranked = search(qv, max(shortlist, SECOND_GLOBAL if second else 0))
    first = ranked[:shortlist]
    todo = first[:verify_top]
    local_scores: dict[int, float] = {}
    found: list[tuple[int, float]] = []
    if local is not None and local_top > 0:
        # Scores of twice as many as are verified: evidence for ranking the unverified too.
        deep = max(2 * local_top, SECOND_LOCAL if second else 0)
        found = [(i, sc) for i, sc in local(query, deep + len(exclude)) if i not in exclude]
        local_scores = dict(found[:2 * local_top])
    near = {i for i, _ in todo}
    sims = dict(first)

    def add(ident: int) -> None:
        near.add(ident)
        sim = sims.get(ident)
        if sim is None:
            vec = index.vector(ident)
            sim = float(vec @ qv) if vec is not None else 0.0
        todo.append((ident, sim))

    for ident, _score in found[:local_top]:
        if ident not in near:
            add(ident)
    if second:
        sims.update(ranked[shortlist:])
        pool = [i for i in dict.fromkeys([i for i, _ in ranked[verify_top:SECOND_GLOBAL]]
                                         + [i for i, _ in found[local_top:SECOND_LOCAL]]) if i not in near]
        if pool:
            score = agree(query, pool)
            best = sorted((i for i in pool if score.get(i, 0) >= SECOND_MIN), key=lambda i: -score[i])
            for ident in best[:second_top]:
                add(ident)
    check(todo)
    for ident, sim in first[verify_top:]:
        if ident not in hits:
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
            todo = []
            for ident, sim in search(ev):
                if len(todo) == budget:
                    break
                old = hits.get(ident)
                if old is None or (not old.verified and old.matches == 0):
                    todo.append((ident, old.similarity if old else sim))
            check(todo)
        if linked is not None:
            verified = sorted((h for h in hits.values() if h.verified), key=lambda h: -h.inliers)
            todo: dict[int, tuple[int, str, float]] = {}  # other -> (via, why, similarity); first wins
            for via, others in linked([h.media_id for h in verified]).items():
                for other, why in others:
                    if other in exclude or other in todo or len(todo) >= max_linked:
                        continue
                    old = hits.get(other)
                    if old is not None and (old.verified or old.linked):
                        continue
                    todo[other] = (via, why, old.similarity if old else 0.0)
            for hit in check([(other, sim) for other, (_via, _why, sim) in todo.items()], missing_ok=True):
                if not hit.verified:
                    hit.via, hit.via_reason = todo[hit.media_id][:2]
    out = list(hits.values())
    for h in out:
        h.local = local_scores.get(h.media_id, 0.0)
    inliers_of = {h.media_id: h.inliers for h in out if h.verified}
    # Within the unverified tier, a checked candidate's best model's inlier count is evidence
    # (short of the threshold) and the global similarity breaks the overlap between chance
    # and true pairs there; unchecked candidates have only their similarity.
    out.sort(key=lambda h: (h.tier, -h.inliers if h.verified else -inliers_of.get(h.via, 0) if h.linked
                            else -(h.inliers + SIMILARITY_WEIGHT * h.similarity + LOCAL_WEIGHT * h.local),
                            -h.similarity))
    return out
