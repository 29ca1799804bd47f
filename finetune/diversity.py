"""Diversity selection of training traces: the thought store's DPP (greedy MAP) over hashed TF-IDF vectors.

The DPP itself is :mod:`logreasoner.thoughts_db.dpp` (the one that de-duplicates thought templates); this module
only turns traces into vectors and relevances. Vectors are TF-IDF over word unigrams and bigrams hashed into a
fixed number of buckets (no vocabulary to fit, no model to load).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from typing import Sequence

import numpy as np

__all__ = ["hashed_tfidf", "select_diverse"]


def _features(text: str) -> list[str]:
    words = re.findall(r"[a-z][a-z0-9_]+|\d+", text.lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


def _bucket(feature: str, dim: int) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big") % dim


def hashed_tfidf(texts: Sequence[str], dim: int = 4096) -> np.ndarray:
    """L2-normalised TF-IDF rows, features hashed into ``dim`` buckets."""
    counts = [Counter(_bucket(f, dim) for f in _features(t)) for t in texts]
    df: Counter[int] = Counter()
    for c in counts:
        df.update(c.keys())
    n = max(1, len(texts))
    m = np.zeros((len(texts), dim), dtype=np.float64)
    for i, c in enumerate(counts):
        for j, tf in c.items():
            m[i, j] = (1.0 + math.log(tf)) * math.log((1 + n) / (1 + df[j]) + 1.0)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1.0, norms)


def select_diverse(texts: Sequence[str], k: int | None, *, relevance: Sequence[float] | None = None,
                   theta: float = 0.7) -> list[int]:
    """Indices of up to ``k`` diverse items (all when ``k`` is None or >= len), by greedy MAP on a DPP kernel.

    Exact duplicates add nothing to a DPP, so fewer than ``k`` may come back when the items are that redundant.
    """
    from logreasoner.thoughts_db.dpp import cosine_similarity, dpp_greedy, dpp_kernel

    n = len(texts)
    if k is None or k >= n:
        return list(range(n))
    if k <= 0 or n == 0:
        return []
    sim = cosine_similarity(hashed_tfidf(texts))
    rel = list(relevance) if relevance is not None else [1.0] * n
    return dpp_greedy(dpp_kernel(rel, sim, theta=theta), k)
