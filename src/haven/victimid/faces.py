"""Faces: detection, 128-d embeddings, clustering, "find this face", analyst decisions.

Default model (no download at run time): a dlib face detector, dlib's 5-point landmark model
for alignment and its ResNet face-recognition model, the files shipped by the PyPI package
`face-recognition-models` (Davis King released them into the public domain; the 68-point
model, whose training set forbids commercial use, is never loaded). Detectors (`DETECTORS`):

- `hog`: dlib's HOG frontal detector (built into dlib): fast (tens of ms per photo), misses
  turned, tilted and partly hidden faces;
- `cnn`: dlib's CNN (MMOD) detector, `mmod_human_face_detector.dat` from the same package:
  finds turned and partly hidden faces too, but costs seconds per photo on a CPU, so it runs
  on the photo scaled to at most `CNN_MAX_SIDE` pixels;
- `hog+cnn`: HOG first, the CNN only on photos where HOG found no face (docs/victimid.md has
  the measured recall and cost of each).

The embedding space is the ResNet's: faces found by any detector are aligned by the same
5-point model and embedded by the same network, so they are compared with each other. The
stored model id names the embedding model and a hash of its file (`FaceModel.name`); faces of
different ids are never compared. The detector is stored beside each face.
`HAVEN_FACE_MODELS` or `FaceModel(model_dir=...)` points at another directory holding files
of the same names (e.g. a better-trained ResNet).

Distances are Euclidean between embeddings; dlib's model is trained so that the same person
is usually below 0.6 when two photos are compared one to one; among many faces (clustering)
a far stricter distance is needed (`thresholds(model_id)`, per model). `similarity = 1 -
distance / 1.2` (clipped to 0..1) is only a display scale: 0.5 at the 0.6 threshold.
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

from haven.disjoint import DisjointSets
from haven.victimid import indexfile
from haven.victimid.errors import ModelMissingError, VictimIdError

SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"
EMBED_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CNN_FILE = "mmod_human_face_detector.dat"
DETECTORS = ("hog", "cnn", "hog+cnn")
EMBED_NAME = "dlib-resnet-v1"
#: Ids stored before the detector became a choice named the (then only) HOG detector; the
#: embeddings are the same model's, so they stay comparable with the current id.
_LEGACY_PREFIX = "dlib-hog+resnet-v1:"
SAME_PERSON = 0.6  # dlib's published operating point (two photos compared one to one)
MAX_DETECT_SIDE = 1600
MIN_FACE = 40  # pixels; smaller detections give unreliable embeddings
#: HOG detector score below which a detection is dropped; at 0 the detector finds a "face" in
#: the mission patch of skimage's astronaut photo (score 0.12), the real face scores 1.16.
MIN_SCORE = 0.3
#: CNN (MMOD) detector confidence below which a detection is dropped.
CNN_MIN_SCORE = 0.0
#: Long side the CNN detector sees: its cost grows with the pixels (about 4 us per pixel on
#: one core), and its 40-pixel window still finds faces a tenth of the photo's side at 800 px.
CNN_MAX_SIDE = 800



@dataclass(frozen=True)
class Thresholds:
    """Distances below which two faces of one embedding model are taken for one person."""

    same_person: float  # two photos compared one to one (an analyst looking at a pair)
    #: decisions taken among many faces without an analyst (clustering): each face meets
    #: every other, so the false-match rate per pair must be tiny. Measured for dlib-resnet-v1
    #: on 5,800 looked-at faces of adults (docs/benchmarks.md, "faces at seizure scale"):
    #: FMR per pair 6.9e-6 at 0.4 (~0.7 false matches per query at 100,000 faces, an
    #: extrapolation) and 2.2e-7 at 0.35 (~0.02), genuine-match rate 0.78 -> 0.63 on lab
    #: photos; so 0.35. East Asian faces match strangers far more often at every threshold.
    gallery: float


#: Thresholds per embedding model (the model id's name before the hash).
THRESHOLDS = {EMBED_NAME: Thresholds(same_person=SAME_PERSON, gallery=0.35)}
#: For a model the table does not know: dlib's point and the dlib model's gallery threshold.
DEFAULT_THRESHOLDS = THRESHOLDS[EMBED_NAME]
CLUSTER_DISTANCE = DEFAULT_THRESHOLDS.gallery


def thresholds(model_id: str) -> Thresholds:
    """The shipped thresholds of an embedding model id (`DEFAULT_THRESHOLDS` when unknown)."""
    name = EMBED_NAME if model_id.startswith(_LEGACY_PREFIX) else model_id.split(":", 1)[0]
    return THRESHOLDS.get(name, DEFAULT_THRESHOLDS)


def comparable_ids(model_id: str) -> list[str]:
    """Every stored model id whose embeddings live in the same space as `model_id`'s."""
    digest = model_id.split(":", 1)[1] if ":" in model_id else ""
    if model_id.startswith(_LEGACY_PREFIX) or model_id.startswith(EMBED_NAME + ":"):
        return [f"{EMBED_NAME}:{digest}", f"{_LEGACY_PREFIX}{digest}"]
    return [model_id]


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
    score: float  # the detector's own score (HOG and CNN scores are on different scales)
    embedding: np.ndarray  # float32 (128,)
    detector: str = "hog"  # which detector found it: hog or cnn


def similarity(distance: float) -> float:
    return float(min(1.0, max(0.0, 1.0 - distance / 1.2)))


class FaceModel:
    """Detector + aligner + embedder, loaded once per process.

    `detector` is one of `DETECTORS`; `upsample` is HOG's (each step doubles the image, so
    faces half the size are found, at about four times the cost); the CNN sees the photo
    scaled to at most `cnn_max_side` pixels, without upsampling."""

    def __init__(self, model_dir: str | os.PathLike | None = None, upsample: int = 1,
                 min_score: float = MIN_SCORE, detector: str = "hog",
                 cnn_max_side: int = CNN_MAX_SIDE, cnn_min_score: float = CNN_MIN_SCORE):
        import dlib

        if detector not in DETECTORS:
            raise VictimIdError(f"unknown face detector {detector!r}; choose from {', '.join(DETECTORS)}")
        root = Path(model_dir) if model_dir else default_model_dir()
        needed = [SHAPE_FILE, EMBED_FILE] + ([CNN_FILE] if "cnn" in detector else [])
        missing = [f for f in needed if root is None or not (root / f).is_file()]
        if missing:
            raise ModelMissingError(
                f"face model files {missing} not found in {root}; install the PyPI package "
                "face-recognition-models or set HAVEN_FACE_MODELS to a directory holding them"
            )
        self.dir = root
        self.detector = detector
        self.upsample, self.min_score = upsample, min_score
        self.cnn_max_side, self.cnn_min_score = cnn_max_side, cnn_min_score
        self._hog = dlib.get_frontal_face_detector() if "hog" in detector else None
        self._cnn = dlib.cnn_face_detection_model_v1(str(root / CNN_FILE)) if "cnn" in detector else None
        self._shape = dlib.shape_predictor(str(root / SHAPE_FILE))
        self._embed = dlib.face_recognition_model_v1(str(root / EMBED_FILE))
        digest = hashlib.sha256((root / EMBED_FILE).read_bytes()).hexdigest()[:12]
        #: The embedding space: faces of one name are comparable whatever found them.
        self.name = f"{EMBED_NAME}:{digest}"

    @property
    def thresholds(self) -> Thresholds:
        """This model's shipped thresholds."""
        return thresholds(self.name)

    def faces(self, rgb: np.ndarray) -> list[DetectedFace]:
        """Every face the chosen detector finds in an RGB uint8 image, with its embedding."""
        found = self.detect(rgb)
        return [self._embedded(rgb, box, score, how) for box, score, how in found]

    def detect(self, rgb: np.ndarray) -> list[tuple[tuple[int, int, int, int], float, str]]:
        """(box in the image's pixels, score, detector) of every face, without embeddings."""
        found = self._detect_hog(rgb) if self._hog is not None else []
        if self._cnn is not None and not (self.detector == "hog+cnn" and found):
            found = self._detect_cnn(rgb)
        return found

    def _detect_hog(self, rgb: np.ndarray):
        small, scale = _scaled(rgb, MAX_DETECT_SIDE)
        rects, scores, _ = self._hog.run(small, self.upsample, self.min_score)
        return _boxes(rgb, [(r, s) for r, s in zip(rects, scores)], scale, "hog")

    def _detect_cnn(self, rgb: np.ndarray):
        small, scale = _scaled(rgb, self.cnn_max_side)
        found = [(d.rect, d.confidence) for d in self._cnn(small, 0) if d.confidence >= self.cnn_min_score]
        return _boxes(rgb, found, scale, "cnn")

    def _embedded(self, rgb: np.ndarray, box, score: float, how: str) -> DetectedFace:
        """Align (5 points) and embed one detected face at up to MAX_DETECT_SIDE pixels."""
        import dlib

        small, scale = _scaled(rgb, MAX_DETECT_SIDE)
        rect = dlib.rectangle(*(int(round(v * scale)) for v in box))
        shape = self._shape(small, rect)
        # jitter=1: no augmentation; num_jitters > 1 is 10x slower for ~1% accuracy.
        vec = np.asarray(self._embed.compute_face_descriptor(small, shape, 1), dtype=np.float32)
        return DetectedFace(box, float(score), vec, how)


def _scaled(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image scaled down to at most `max_side` pixels (contiguous), and the scale."""
    import cv2

    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    return np.ascontiguousarray(small), scale


def _boxes(rgb: np.ndarray, found, scale: float, how: str):
    """Detections in scaled pixels -> boxes in the image's pixels, too-small ones dropped."""
    h, w = rgb.shape[:2]
    out = []
    for rect, score in found:
        if min(rect.width(), rect.height()) < MIN_FACE * scale:
            continue
        box = tuple(int(round(v / scale)) for v in (rect.left(), rect.top(), rect.right(), rect.bottom()))
        box = (max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3]))
        if box[2] > box[0] and box[3] > box[1]:
            out.append((box, float(score), how))
    return out


def cluster(embeddings: np.ndarray, max_distance: float = CLUSTER_DISTANCE,
            must_link: list[tuple[int, int]] = (), cannot_link: set[tuple[int, int]] = frozenset()
            ) -> list[int]:
    """Cluster label per row: connected components of pairs closer than `max_distance`
    (FAISS range search, so it scales), plus analyst-confirmed pairs (`must_link`, row
    indices); pairs in `cannot_link` (analyst-rejected, (small, large) row indices) are not
    joined directly."""
    n = len(embeddings)
    sets = DisjointSets(range(n))
    find, union = sets.find, sets.union

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
