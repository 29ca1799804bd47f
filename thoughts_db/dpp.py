"""Diversity selection with a determinantal point process (greedy MAP inference).

The kernel is ``L = diag(r) S diag(r)``: ``r_i = exp(alpha * relevance_i)`` is item quality and ``S`` a
positive semi-definite similarity (cosine of normalised embeddings, or Jaccard of word sets). The greedy MAP
algorithm of Chen, Zhang & Zhou (NeurIPS 2018, "Fast Greedy MAP Inference for DPP") adds, at each step, the item
that most increases ``log det L_Y``, updating a Cholesky factor incrementally (O(k^2 n)). With
``alpha = theta / (2 (1 - theta))`` the objective trades relevance (theta -> 1) against diversity (theta -> 0).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["dpp_greedy", "dpp_kernel", "jaccard_similarity", "cosine_similarity"]


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    v = v / np.where(norms == 0, 1.0, norms)
    return v @ v.T


def jaccard_similarity(token_sets: Sequence[set[str]]) -> np.ndarray:
    """Pairwise Jaccard similarity (a PSD kernel on sets); empty sets are similar only to themselves."""
    n = len(token_sets)
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, toks in enumerate(token_sets):
        for t in toks:
            rows.append(i)
            cols.append(vocab.setdefault(t, len(vocab)))
    b = np.zeros((n, max(1, len(vocab))), dtype=np.float64)
    if rows:
        b[rows, cols] = 1.0
    inter = b @ b.T
    size = np.diag(inter)
    union = size[:, None] + size[None, :] - inter
    s = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    np.fill_diagonal(s, 1.0)
    return s


def dpp_kernel(relevance: Sequence[float], similarity: np.ndarray, *, theta: float = 0.7) -> np.ndarray:
    if not 0.0 < theta < 1.0:
        raise ValueError(f"theta must be in (0, 1), got {theta}")
    alpha = theta / (2.0 * (1.0 - theta))
    r = np.exp(alpha * np.asarray(relevance, dtype=np.float64))
    return r[:, None] * np.asarray(similarity, dtype=np.float64) * r[None, :]


def dpp_greedy(kernel: np.ndarray, k: int, *, eps: float = 1e-10) -> list[int]:
    """Indices of up to ``k`` items chosen by greedy MAP on ``kernel``, in selection order.

    Stops early when every remaining item is (numerically) a linear combination of the chosen ones, i.e. a
    duplicate; the caller decides whether to pad with such items.
    """
    L = np.asarray(kernel, dtype=np.float64)
    n = L.shape[0]
    k = min(k, n)
    if k <= 0:
        return []
    c = np.zeros((k, n))
    d2 = np.diag(L).copy()
    j = int(np.argmax(d2))
    if d2[j] <= eps:
        return []
    selected = [j]
    while len(selected) < k:
        m = len(selected) - 1
        e = (L[j, :] - c[:m, j] @ c[:m, :]) / math.sqrt(d2[j])
        c[m, :] = e
        d2 = d2 - e * e
        d2[selected] = -np.inf
        j = int(np.argmax(d2))
        if d2[j] <= eps:
            break
        selected.append(j)
    return selected
