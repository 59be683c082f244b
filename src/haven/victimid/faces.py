"""Faces: detection, 128-d embeddings, clustering, "find this face", analyst decisions.

Default model (no download at run time): dlib's HOG frontal detector (built into dlib), its
5-point landmark model for alignment and its ResNet face-recognition model, both shipped as
files by the PyPI package `face-recognition-models` (Davis King released them into the public
domain; the 68-point model, whose training set forbids commercial use, is never loaded).
`HAVEN_FACE_MODELS` or `FaceModel(model_dir=...)` points at another directory holding files
of the same names (e.g. a better-trained ResNet); its name is stored with every face so
embeddings of different models are never compared.

Distances are Euclidean between embeddings; dlib's model is trained so that the same person
is usually below 0.6. `similarity = 1 - distance / 1.2` (clipped to 0..1) is only a display
scale: 0.5 at the 0.6 threshold.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from haven.victimid import indexfile
from haven.victimid.errors import ModelMissingError

SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"
EMBED_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SAME_PERSON = 0.6  # dlib's published operating point
CLUSTER_DISTANCE = 0.5  # stricter than SAME_PERSON: a wrong merge costs an analyst more than a split
MAX_DETECT_SIDE = 1600
MIN_FACE = 40  # pixels; smaller detections give unreliable embeddings
#: HOG detector score below which a detection is dropped; at 0 the detector finds a "face" in
#: the mission patch of skimage's astronaut photo (score 0.12), the real face scores 1.16.
MIN_SCORE = 0.3


def default_model_dir() -> Path | None:
    """`$HAVEN_FACE_MODELS`, else the models directory of `face-recognition-models`."""
    env = os.environ.get("HAVEN_FACE_MODELS")
    if env:
        return Path(env)
    # find_spec does not import: the package's __init__ needs pkg_resources, which
    # recent setuptools no longer ships.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@dataclass
class DetectedFace:
    box: tuple[int, int, int, int]  # left, top, right, bottom in the image's pixels
    score: float
    embedding: np.ndarray  # float32 (128,)


def similarity(distance: float) -> float:
    return float(min(1.0, max(0.0, 1.0 - distance / 1.2)))


class FaceModel:
    """Detector + aligner + embedder, loaded once per process."""

    def __init__(self, model_dir: str | os.PathLike | None = None, upsample: int = 1,
                 min_score: float = MIN_SCORE):
        import dlib

        root = Path(model_dir) if model_dir else default_model_dir()
        missing = [f for f in (SHAPE_FILE, EMBED_FILE) if root is None or not (root / f).is_file()]
        if missing:
            raise ModelMissingError(
                f"face model files {missing} not found in {root}; install the PyPI package "
                "face-recognition-models or set HAVEN_FACE_MODELS to a directory holding them"
            )
        self.dir = root
        self.upsample, self.min_score = upsample, min_score
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(root / SHAPE_FILE))
        self._embed = dlib.face_recognition_model_v1(str(root / EMBED_FILE))
        digest = hashlib.sha256((root / EMBED_FILE).read_bytes()).hexdigest()[:12]
        self.name = f"dlib-hog+resnet-v1:{digest}"

    def faces(self, rgb: np.ndarray) -> list[DetectedFace]:
        """Every frontal face in an RGB uint8 image, with its embedding."""
        import cv2
        import dlib

        h, w = rgb.shape[:2]
        scale = min(1.0, MAX_DETECT_SIDE / max(h, w))
        small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        small = np.ascontiguousarray(small)
        rects, scores, _ = self._detector.run(small, self.upsample, self.min_score)
        out = []
        for rect, score in zip(rects, scores):
            if min(rect.width(), rect.height()) < MIN_FACE * scale:
                continue
            shape = self._shape(small, rect)
            # jitter=1: no augmentation; num_jitters > 1 is 10x slower for ~1% accuracy.
            vec = np.asarray(self._embed.compute_face_descriptor(small, shape, 1), dtype=np.float32)
            box = tuple(int(round(v / scale)) for v in (rect.left(), rect.top(), rect.right(), rect.bottom()))
            box = (max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3]))
            out.append(DetectedFace(box, float(score), vec))
        return out


def cluster(embeddings: np.ndarray, max_distance: float = CLUSTER_DISTANCE,
            must_link: list[tuple[int, int]] = (), cannot_link: set[tuple[int, int]] = frozenset()
            ) -> list[int]:
    """Cluster label per row: connected components of pairs closer than `max_distance`
    (FAISS range search, so it scales), plus analyst-confirmed pairs (`must_link`, row
    indices); pairs in `cannot_link` (analyst-rejected, (small, large) row indices) are not
    joined directly."""
    n = len(embeddings)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    if n:
        x = np.ascontiguousarray(embeddings, dtype=np.float32)
        index = faiss.IndexFlatL2(x.shape[1])
        index.add(x)
        lims, _d, rows = index.range_search(x, max_distance**2)
        for i in range(n):
            for j in rows[lims[i]:lims[i + 1]]:
                j = int(j)
                if j != i and (min(i, j), max(i, j)) not in cannot_link:
                    union(i, j)
    for a, b in must_link:
        union(a, b)
    roots: dict[int, int] = {}
    return [roots.setdefault(find(i), len(roots)) for i in range(n)]


class FaceIndex:
    """Embeddings of many faces under integer ids; exact Euclidean search (FAISS flat).

    Exact on purpose: a missed face is a missed victim, and a flat scan of 1M 128-d
    embeddings stays in the tens of milliseconds (docs/benchmarks.md)."""

    def __init__(self, ids: Sequence[int] | np.ndarray, embeddings: np.ndarray):
        x = np.ascontiguousarray(embeddings, dtype=np.float32).reshape(len(ids), -1) if len(ids) else \
            np.empty((0, 128), np.float32)
        self._ids = np.asarray(ids, dtype=np.int64)
        self._index = faiss.IndexFlatL2(x.shape[1])
        self._index.add(x)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def nearest(self, embedding: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(face id, distance) of the k closest faces, closest first."""
        if len(self) == 0 or k <= 0:
            return []
        d2, rows = self._index.search(np.asarray(embedding, np.float32).reshape(1, -1), min(k, len(self)))
        return [(int(self._ids[r]), float(np.sqrt(max(0.0, d)))) for r, d in zip(rows[0], d2[0]) if r >= 0]

    def save(self, path: str | os.PathLike) -> None:
        """The FAISS index at `path`, its ids beside it (`indexfile.save`)."""
        indexfile.save(self._index, self._ids, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FaceIndex":
        self = cls.__new__(cls)
        self._index, self._ids = indexfile.load(path)
        return self
