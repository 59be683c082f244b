"""`haven index`: read each item of the evidence once and store what victim identification
needs — metadata, scene features, faces, text, a small thumbnail — in the case.

A separate step from the triage scan (so the scan's speed is untouched). Items are matched to
the scan's rows by evidence path (the seizure's name in the case replaces the evidence's base
name, as the scan does) and carry their SHA-256 either way. Re-running skips items already
indexed with the same content and parts, so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image
from sqlalchemy import delete, select, update

from haven.evidence.base import Item, Limits, Problem
from haven.evidence.walk import walk
from haven.signals.pdq import ImageDecodeError, pdq_from_image
from haven.sniff import sniff
from haven.store.case import keep_apart, utcnow
from haven.store.models import ItemRow, Seizure
from haven.victimid import metadata, ocr, scene, thumbs
from haven.victimid.errors import VictimIdError
from haven.victimid.pixels import DECODE_LONG_SIDE, MAX_PIXELS, decode as _decode  # noqa: F401 - re-exported
from haven.victimid.models import (FaceRow, MediaRow, OcrRow, SceneRow, SceneWordsRow, ThumbRow, VocabularyRow,
                                   WordVocabularyRow)
from haven.victimid.store import VictimStore
from haven.victimid.vocabulary import load_vocabulary, load_word_vocabulary

PARTS = ("metadata", "scene", "faces", "ocr", "thumbs")
MAX_IMAGE_BYTES = 512 * 1024**2


@dataclass
class IndexOptions:
    parts: tuple[str, ...] = PARTS
    face_model_dir: str | None = None
    ocr_lang: str = "eng"
    workers: int = 1  # processes that decode and analyse images (0: every core)
    face_detector: str = "hog"  # faces.DETECTORS: hog, cnn, hog+cnn


@dataclass
class IndexStats:
    seen: int = 0
    indexed: int = 0
    skipped: int = 0  # already indexed, or not an image/video
    errors: int = 0
    faces: int = 0
    texts: int = 0
    # CPU seconds per part, summed over the workers (with several workers their sum exceeds
    # the wall time)
    seconds: dict = field(default_factory=lambda: {p: 0.0 for p in ("read", *PARTS)})

    @property
    def rate(self) -> float:
        total = sum(self.seconds.values())
        return self.indexed / total if total else 0.0


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (OCR runs Tesseract as one):
    what `IndexStats.seconds` adds up, so a loaded machine does not inflate the parts."""
    t = os.times()
    return time.process_time() + t.children_user + t.children_system


def _seizure_names(vs: VictimStore) -> dict[str, str]:
    with vs.session() as s:
        return {src: name for name, src in s.execute(select(Seizure.name, Seizure.source_path))}


@dataclass
class _Job:
    """One item read and not yet analysed: what the main process hands a worker."""

    path: str
    data: bytes
    media: str  # image / video
    wanted: frozenset
    fields: dict


@dataclass
class _Analysis:
    """What a worker found in one item (picklable)."""

    parts: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    meta: object = None
    pdq: str | None = None
    features: scene.Features | None = None
    faces: list | None = None
    text: object = None
    thumb: tuple | None = None
    seconds: dict = field(default_factory=dict)


class _Analysers:
    """The models one process keeps loaded: scene extractor, face model, OCR settings."""

    def __init__(self, options: IndexOptions):
        self.options = options
        self.extractor = scene.default_extractor() if "scene" in options.parts else None
        self.faces = None
        if "faces" in options.parts:
            from haven.victimid.faces import FaceModel

            self.faces = FaceModel(options.face_model_dir, detector=options.face_detector)

    def analyse(self, job: _Job) -> _Analysis:
        """Decode one item and compute every wanted part (pure: no database)."""
        out = _Analysis()
        sec = out.seconds
        if job.media == "video":
            t0 = _cpu()
            try:
                out.meta = metadata.from_video(io.BytesIO(job.data))
                out.parts["metadata"] = True
            except VictimIdError as exc:
                out.errors["metadata"] = str(exc)
            sec["metadata"] = _cpu() - t0
            return out
        try:
            t0 = _cpu()
            head_img, rgb = _decode(job.data)
            sec["read"] = _cpu() - t0
        except VictimIdError as exc:
            out.errors["decode"] = str(exc)
            return out
        t0 = _cpu()
        try:
            out.meta = metadata.from_image(head_img)
            out.parts["metadata"] = True
        except Exception as exc:  # untrusted tags: any parser failure is recorded
            out.errors["metadata"] = f"{type(exc).__name__}: {exc}"
        try:
            out.pdq = pdq_from_image(Image.fromarray(rgb)).hex
        except ImageDecodeError as exc:
            out.errors["pdq"] = str(exc)
        sec["metadata"] = _cpu() - t0
        if self.extractor is not None:
            t0 = _cpu()
            out.features = self.extractor.extract(rgb)
            out.features._root = None  # derived; not worth pickling back
            out.parts["scene"] = True
            sec["scene"] = _cpu() - t0
        if self.faces is not None:
            t0 = _cpu()
            out.faces = self.faces.faces(rgb)
            out.parts["faces"] = self.faces.detector  # truthy; says which detector looked
            sec["faces"] = _cpu() - t0
        if "thumbs" in job.wanted:
            t0 = _cpu()
            out.thumb = thumbs.make(rgb)  # from the pixels already decoded
            out.parts["thumbs"] = True
            sec["thumbs"] = _cpu() - t0
        if "ocr" in job.wanted:
            t0 = _cpu()
            try:
                out.text = ocr.read_text(rgb, self.options.ocr_lang)
                out.parts["ocr"] = True
            except VictimIdError as exc:
                out.errors["ocr"] = str(exc)
            sec["ocr"] = _cpu() - t0
        return out


_WORKER: _Analysers | None = None


def _worker_init(options: IndexOptions) -> None:
    global _WORKER
    _WORKER = _Analysers(options)


def _worker_analyse(job: _Job) -> _Analysis:
    return _WORKER.analyse(job)


def worker_count(workers: int) -> int:
    """Processes to use: `workers`, or every core when 0."""
    return max(1, workers or os.cpu_count() or 1)


class Indexer:
    """Indexes items into a `VictimStore`.

    The main process walks the evidence, reads each item, skips what is already indexed and
    writes results to the store; decoding and analysis (scene features, faces, OCR,
    thumbnails) run in `options.workers` processes (0: every core), each keeping its own
    models loaded. With one worker everything runs in this process."""

    def __init__(self, vs: VictimStore, options: IndexOptions | None = None,
                 limits: Limits | None = None):
        self.vs = vs
        self.options = options or IndexOptions()
        #: the walk's limits and unlocking keys (`haven.evidence.keys`), as the scan's: kept in
        #: this process only, never handed to the workers nor stored
        self.limits = limits or Limits()
        unknown = set(self.options.parts) - set(PARTS)
        if unknown:
            raise VictimIdError(f"unknown index parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
        # Loaded here even with workers: a missing face model stops the run before any evidence is read.
        self._local = _Analysers(self.options)
        self._extractor = self._local.extractor
        self._faces = self._local.faces
        if "ocr" in self.options.parts:
            ocr.tesseract_path()  # fail before reading any evidence
        self.stats = IndexStats()

    def _entries(self, evidence: list[str]):
        names = _seizure_names(self.vs)
        for ev in evidence:
            source = Path(ev).resolve()
            root = source.name or str(source)
            case_root = names.get(str(source), root)
            for entry in walk([str(source)], self.limits):
                if isinstance(entry, Problem):
                    continue
                if case_root != root:
                    entry.path = case_root + entry.path[len(root):]
                yield entry

    def run(self, evidence: list[str], on_item: Callable[[IndexStats, str], None] | None = None,
            on_vectors: Callable[[int, int], None] | None = None) -> IndexStats:
        """Index `evidence`; `on_item(stats, path)` after each item, `on_vectors(done, total)`
        while the scene vectors are encoded at the end (minutes at 100,000 images)."""
        keep_apart(self.vs.dir, evidence)
        workers = worker_count(self.options.workers)
        if workers == 1:
            for entry in self._entries(evidence):
                self.index_item(entry)
                if on_item:
                    on_item(self.stats, entry.path)
        else:
            self._run_pool(evidence, workers, on_item)
        if self._extractor is not None:
            encode_scene_vectors(self.vs, progress=on_vectors)
        return self.stats

    def _run_pool(self, evidence: list[str], workers: int, on_item) -> None:
        import multiprocessing as mp
        from collections import deque
        from concurrent.futures import ProcessPoolExecutor

        # fork: workers inherit the loaded modules; each loads its own models once. Not with
        # dlib's CNN detector: it runs on a thread pool that a forked child inherits without
        # its threads, so in a process that already ran the CNN a forked worker waits forever
        # (forkserver starts workers from a fresh process).
        cnn = "faces" in self.options.parts and "cnn" in self.options.face_detector
        method = "forkserver" if cnn else "fork"
        ctx = mp.get_context(method) if method in mp.get_all_start_methods() else None
        pending: deque = deque()
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=(self.options,)) as pool:
            def drain(limit: int) -> None:
                while len(pending) > limit:
                    job, fut = pending.popleft()
                    self._store(job, fut.result())
                    if on_item:
                        on_item(self.stats, job.path)

            for entry in self._entries(evidence):
                job = self._prepare(entry)
                if job is None:
                    if on_item:
                        on_item(self.stats, entry.path)
                    continue
                pending.append((job, pool.submit(_worker_analyse, job)))
                drain(workers * 2)  # bounded: a few images per worker in memory at once
            drain(0)

    def index_item(self, item: Item) -> MediaRow | None:
        """Index one item in this process; the stored row (None when not indexable)."""
        job = self._prepare(item)
        if job is None:
            return self._skipped_row
        return self._store(job, self._local.analyse(job))

    def _prepare(self, item: Item) -> _Job | None:
        """Read one item and decide whether it needs indexing (None: skipped or unreadable)."""
        st = self.stats
        st.seen += 1
        self._skipped_row = None
        t0 = _cpu()
        if item.size is not None and item.size > MAX_IMAGE_BYTES:
            st.skipped += 1
            return None
        try:
            with item.open() as fh:
                head = fh.read(4096)
        except OSError:
            st.errors += 1
            return None
        kind = sniff(head, item.path)
        if kind.media not in ("image", "video"):
            st.skipped += 1
            return None
        try:
            data = item.read_all()
        except OSError:
            st.errors += 1
            return None
        sha256 = hashlib.sha256(data).hexdigest()
        wanted = set(self.options.parts) if kind.media == "image" else {"metadata"}
        with self.vs.session() as s:
            row = s.scalar(select(MediaRow).where(MediaRow.path == item.path))
            if row is not None and row.sha256 == sha256 and wanted <= set(k for k, v in row.parts.items() if v):
                # Scene features of an older extractor (ORB before RootSIFT) are extracted again.
                stale = "scene" in wanted and self._extractor is not None and s.scalar(
                    select(SceneRow.extractor).where(SceneRow.media_id == row.id)) not in (None, self._extractor.name)
                # Faces looked for with another detector are looked for again (True: stored
                # before the detector was a choice, so HOG).
                looked = row.parts.get("faces")
                looked = "hog" if looked is True else looked
                stale = stale or ("faces" in wanted and self._faces is not None and looked != self._faces.detector)
                if not stale:
                    st.skipped += 1
                    self._skipped_row = row
                    return None
            item_id = s.scalar(select(ItemRow.id).where(ItemRow.path == item.path))
        st.seconds["read"] += _cpu() - t0
        fields = {
            "item_id": item_id, "path": item.path, "sha256": sha256,
            "md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest(),
            "size": len(data), "mime": kind.mime, "media": kind.media, "indexed_at": utcnow(),
        }
        return _Job(item.path, data, kind.media, frozenset(wanted), fields)

    def _store(self, job: _Job, res: _Analysis) -> MediaRow:
        """Write one analysed item (and its parts) to the store."""
        st = self.stats
        for part, secs in res.seconds.items():
            st.seconds[part] = st.seconds.get(part, 0.0) + secs
        fields = dict(job.fields)
        if res.pdq is not None:
            fields["pdq"] = res.pdq
        meta = res.meta
        if meta is not None:
            fields.update(
                width=meta.width, height=meta.height, make=meta.make, model=meta.model,
                body_serial=meta.body_serial, lens=meta.lens, lens_serial=meta.lens_serial,
                software=meta.software, owner=meta.owner, unique_id=meta.unique_id,
                captured_local=meta.captured_local, captured_offset=meta.captured_offset,
                captured_utc=meta.captured_utc, gps_lat=meta.gps_lat, gps_lon=meta.gps_lon,
                gps_alt=meta.gps_alt, meta={**meta.tags, "utc_source": meta.utc_source},
            )
        fields["parts"], fields["errors"] = res.parts, res.errors
        with self.vs.session() as s, s.begin():
            row = s.scalar(select(MediaRow).where(MediaRow.path == job.path))
            if row is None:
                row = MediaRow(**fields)
                s.add(row)
            else:
                for k, v in fields.items():
                    setattr(row, k, v)
            s.flush()
            if res.features is not None:
                s.execute(delete(SceneRow).where(SceneRow.media_id == row.id))
                s.execute(delete(SceneWordsRow).where(SceneWordsRow.media_id == row.id))
                kp, desc = res.features.to_blobs()
                s.add(SceneRow(media_id=row.id, extractor=res.features.extractor, keypoints=kp, descriptors=desc))
            if res.faces is not None:
                s.execute(delete(FaceRow).where(FaceRow.media_id == row.id))
                for f in res.faces:
                    s.add(FaceRow(media_id=row.id, model=self._faces.name, detector=f.detector,
                                  left=f.box[0], top=f.box[1],
                                  right=f.box[2], bottom=f.box[3], detector_score=f.score,
                                  embedding=f.embedding.astype(np.float32).tobytes()))
                st.faces += len(res.faces)
            if res.thumb is not None:
                s.execute(delete(ThumbRow).where(ThumbRow.media_id == row.id))
                s.add(ThumbRow(media_id=row.id, jpeg=res.thumb[0], width=res.thumb[1], height=res.thumb[2]))
            if res.text is not None:
                store_text(self.vs, s, row.id, res.text)
                st.texts += bool(res.text.text)
        st.indexed += 1
        if res.errors:
            st.errors += 1
        return row


def store_text(vs: VictimStore, s, media_id: int, text: ocr.OcrText) -> None:
    """Replace the OCR text of one media, in the table and in the FTS index."""
    from sqlalchemy import text as sql

    s.execute(delete(OcrRow).where(OcrRow.media_id == media_id))
    s.add(OcrRow(media_id=media_id, engine=text.engine, text=text.text, confidence=text.confidence))
    if vs.fts:
        s.execute(sql("DELETE FROM vi_ocr_fts WHERE media_id = :m"), {"m": media_id})
        if text.text:
            s.execute(sql("INSERT INTO vi_ocr_fts(text, media_id) VALUES (:t, :m)"), {"t": text.text, "m": media_id})


VOCAB_IMAGES = 1000  # images whose descriptors a new vocabulary is trained on (a random choice beyond)
ENCODE_BATCH = 256  # images encoded, written and committed together


def _training_descriptors(s, name: str, sample: int) -> np.ndarray | None:
    """Up to `sample` local descriptors (extractor `name`) of at most `VOCAB_IMAGES` of the
    case's images, both drawn at random with seed 0: what a vocabulary is trained on; None
    when the case has none."""
    ids = list(s.scalars(select(SceneRow.media_id).where(SceneRow.extractor == name).order_by(SceneRow.media_id)))
    rng = np.random.default_rng(0)
    if len(ids) > VOCAB_IMAGES:
        ids = sorted(rng.choice(ids, VOCAB_IMAGES, replace=False).tolist())
    blobs = [b for (b,) in s.execute(select(SceneRow.descriptors).where(SceneRow.media_id.in_(ids))
                                     .order_by(SceneRow.media_id))] if ids else []
    if not blobs:
        return None
    desc = np.concatenate([np.frombuffer(b, dtype=np.uint8).reshape(-1, scene.DESCRIPTOR_BYTES)
                           for b in blobs])
    return desc[rng.permutation(len(desc))[:sample]]


def encode_scene_vectors(vs: VictimStore, retrain: bool = False, sample: int = 200_000,
                         progress: Callable[[int, int], None] | None = None) -> int:
    """Train the case's vocabulary if it has none (or `retrain`), then give every image
    without a global vector one. Returns the number encoded.

    Memory stays bounded at any case size: the vocabulary is trained on `sample`
    descriptors of at most `VOCAB_IMAGES` images (chosen at random, seed 0), and vectors
    are encoded and committed `ENCODE_BATCH` images at a time (an interrupted run leaves
    the rest without a vector, and the next run encodes them). `progress(done, total)` is
    called before the first batch and after each."""
    vocab = None if retrain else load_vocabulary(vs)
    name = scene.default_extractor().name
    if vocab is None:
        with vs.session() as s, s.begin():
            desc = _training_descriptors(s, name, sample)
            if desc is None:
                return 0
            try:
                vocab = scene.Vocabulary.train(desc)
            except VictimIdError:
                return 0  # too few features yet; a later run trains it
            vocab = scene.Vocabulary(vocab.centroids, vs.cache_dir)
            s.add(VocabularyRow(extractor=name, centroids=vocab.centroids.tobytes(),
                                k=vocab.k, trained_on=len(desc), created_at=utcnow()))
            s.execute(SceneRow.__table__.update().values(vector=None))
    with vs.session() as s:
        todo = list(s.scalars(select(SceneRow.media_id).where(SceneRow.vector.is_(None), SceneRow.extractor == name)
                              .order_by(SceneRow.media_id)))
    if progress is not None:
        progress(0, len(todo))
    for lo in range(0, len(todo), ENCODE_BATCH):
        with vs.session() as s, s.begin():
            rows = s.execute(select(SceneRow.media_id, SceneRow.descriptors)
                             .where(SceneRow.media_id.in_(todo[lo:lo + ENCODE_BATCH]))).all()
            vecs = vocab.encode_many([np.frombuffer(d, dtype=np.uint8).reshape(-1, scene.DESCRIPTOR_BYTES)
                                      for _m, d in rows])
            if rows:
                s.execute(update(SceneRow), [{"media_id": m, "vector": v.tobytes()} for (m, _d), v in zip(rows, vecs)])
        if progress is not None:
            progress(min(lo + ENCODE_BATCH, len(todo)), len(todo))
    encode_scene_words(vs, retrain=retrain, progress=progress)
    return len(todo)


def encode_scene_words(vs: VictimStore, retrain: bool = False, sample: int = scene.WORDS_SAMPLE,
                       progress: Callable[[int, int], None] | None = None) -> int:
    """Train the case's visual-word vocabulary if it has none (or `retrain`), then give every
    image without words under it its words (`vi_scene_words`, what the inverted file of the
    local-feature shortlist is built from). Cases indexed before the inverted file get it
    here, on their next `haven index --parts scene` run (~4-5 ms of CPU per image). Returns the
    number of images given words; `progress(done, total)` as `encode_scene_vectors`'."""
    name = scene.default_extractor().name
    found = None if retrain else load_word_vocabulary(vs)
    if found is None:
        with vs.session() as s, s.begin():
            desc = _training_descriptors(s, name, sample)
            if desc is None:
                return 0
            try:
                words = scene.WordVocabulary.train(desc)
            except VictimIdError:
                return 0  # too few features yet; a later run trains it
            row = WordVocabularyRow(extractor=name, top=words.top.tobytes(), leaves=words.leaves.tobytes(),
                                    offsets=words.offsets.tobytes(), words=words.words, trained_on=len(desc),
                                    created_at=utcnow())
            s.add(row)
            s.flush()
            s.execute(delete(SceneWordsRow))
            found = (row.id, words)
    vocab_id, words = found
    with vs.session() as s:
        have = select(SceneWordsRow.media_id).where(SceneWordsRow.vocabulary_id == vocab_id)
        todo = list(s.scalars(select(SceneRow.media_id).where(SceneRow.extractor == name, SceneRow.media_id.not_in(have))
                              .order_by(SceneRow.media_id)))
    if progress is not None and todo:
        progress(0, len(todo))
    for lo in range(0, len(todo), ENCODE_BATCH):
        with vs.session() as s, s.begin():
            rows = s.execute(select(SceneRow.media_id, SceneRow.descriptors)
                             .where(SceneRow.media_id.in_(todo[lo:lo + ENCODE_BATCH]))).all()
            s.execute(delete(SceneWordsRow).where(SceneWordsRow.media_id.in_([m for m, _d in rows])))
            assigned = words.assign_many([np.frombuffer(d, dtype=np.uint8).reshape(-1, scene.DESCRIPTOR_BYTES)
                                          for _m, d in rows])
            s.add_all([SceneWordsRow(media_id=m, vocabulary_id=vocab_id, words=w.tobytes())
                       for (m, _d), w in zip(rows, assigned)])
        if progress is not None:
            progress(min(lo + ENCODE_BATCH, len(todo)), len(todo))
    return len(todo)
