"""A store's scene vocabulary, read for queries and for the indexer's encoding.

Apart from the indexer so a query does not import the indexer's evidence walking, metadata,
OCR and thumbnail code (`haven victimid scene` pays every import at each call)."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from haven.victimid import scene
from haven.victimid.models import VocabularyRow, WordVocabularyRow
from haven.victimid.store import VictimStore


def load_vocabulary(vs: VictimStore) -> scene.Vocabulary | None:
    """The store's latest scene vocabulary of the current extractor (None: none yet, or only
    one of an older extractor, which `encode_scene_vectors` replaces)."""
    with vs.session() as s:
        row = s.scalar(select(VocabularyRow).order_by(VocabularyRow.id.desc()).limit(1))
    if row is None or row.extractor != scene.default_extractor().name:
        return None
    return scene.Vocabulary(np.frombuffer(row.centroids, dtype=np.float32).reshape(row.k, -1), vs.cache_dir)


def load_word_vocabulary(vs: VictimStore) -> tuple[int, scene.WordVocabulary] | None:
    """The store's latest visual-word vocabulary of the current extractor and its id (None:
    the case was indexed before the local-feature shortlist; `haven index` adds it)."""
    with vs.session() as s:
        row = s.scalar(select(WordVocabularyRow).order_by(WordVocabularyRow.id.desc()).limit(1))
    if row is None or row.extractor != scene.default_extractor().name:
        return None
    dim = scene.DESCRIPTOR_BYTES
    return row.id, scene.WordVocabulary(np.frombuffer(row.top, dtype=np.float32).reshape(-1, dim),
                                        np.frombuffer(row.leaves, dtype=np.float32).reshape(-1, dim),
                                        np.frombuffer(row.offsets, dtype=np.int64))
