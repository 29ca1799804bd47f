"""Sentence vectors of the shipped library's thought templates, shipped beside it.

Embedding the 235 templates of the library (about 217 tokens each) costs 12-30 s of CPU on this 2-core machine;
every new thought store paid it on its first hybrid retrieval. The vectors ship in ``thoughts_db/vectors/`` (one
``.npz`` per embedding model: the sha1 of each embedded text and its float32 vector), and
:func:`encode_with_shipped` takes a text's vector from there when the text is the same, embedding only the others
(templates a user imported, or a library changed since the file was written).

Rewrite the file after changing the library or the template derivation::

    python -m logreasoner.thoughts_db.vectors_build

(tests/thoughts_db/test_shipped_vectors.py fails while a library template has no shipped vector).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["vectors_file", "shipped_vectors", "encode_with_shipped", "text_key"]


def vectors_file(model: str) -> Path:
    return Path(__file__).resolve().parent / "vectors" / f"{model}.npz"


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=4)
def shipped_vectors(model: str) -> dict[str, np.ndarray]:
    """text sha1 -> vector for the embedding model ``model`` ({} when none ship for it)."""
    path = vectors_file(model)
    if not path.is_file():
        return {}
    with np.load(path) as data:
        keys, vectors = data["keys"], data["vectors"].astype(np.float32)
    return {str(k): v for k, v in zip(keys, vectors)}


def encode_with_shipped(embedder, texts: list[str]) -> np.ndarray:
    """``embedder.encode(texts)``, with the vectors of texts the shipped file holds taken from it."""
    known = shipped_vectors(embedder.name)
    keys = [text_key(t) for t in texts]
    missing = [i for i, k in enumerate(keys) if k not in known]
    out = np.zeros((len(texts), next(iter(known.values())).shape[0] if known else 0), dtype=np.float32)
    if missing:
        fresh = np.asarray(embedder.encode([texts[i] for i in missing]), dtype=np.float32)
        if out.shape[1] == 0:
            out = np.zeros((len(texts), fresh.shape[1]), dtype=np.float32)
        out[missing] = fresh
    for i, k in enumerate(keys):
        if k in known:
            out[i] = known[k]
    return out
