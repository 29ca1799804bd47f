"""Retrieval: hybrid ranking (FTS5 BM25 + sentence embeddings), then DPP diversity selection.

1. Candidates, from one SQLite snapshot. Lexical (:mod:`~logreasoner.thoughts_db.lexical`): the query's
   distinctive words OR-ed into an FTS5 query that SQLite ranks with ``bm25()``, filters by task and cuts at
   ``pool``; in stores of ``TEXT_INDEX_FROM`` templates or more the same words go to a tantivy index beside
   the store instead, when installed (:mod:`~logreasoner.thoughts_db.textindex`). Dense (when an embedder and
   usearch are available, :mod:`~logreasoner.thoughts_db.vectors`): the ``pool`` nearest template vectors from
   the usearch index file beside the store, filtered by task in SQL.
   With a task, only templates tagged for it (or untagged ones) are candidates; the templates of the task's
   method flowchart always are.
2. Score. ``lexical_weight * bm25 / max_bm25 + (1 - lexical_weight) * cos / max_cos`` over the candidates, the
   cosines from the exact float32 vectors of the store (lexical alone when there is no embedder, no usearch or
   ``mode="lexical"``).
3. Diversity. Greedy MAP on a DPP kernel of quality ``exp(alpha * score)`` times similarity (cosine of the
   template vectors, or Jaccard of their words without embeddings), so near-copies are not returned together.
4. Usage counts of the returned templates are incremented (best effort, see
   :mod:`~logreasoner.thoughts_db.usage`).

:class:`Retriever` does this over a store's parts, each passed to it: the database (one snapshot), the repository
(templates, a task's method chart), the indexes (embedder, vector and text index) and the usage counter.
"""

from __future__ import annotations

import re

import numpy as np

from logreasoner.errors import InputError
from logreasoner.thoughts_db.db import Database
from logreasoner.thoughts_db.dpp import cosine_similarity, dpp_greedy, dpp_kernel, jaccard_similarity
from logreasoner.thoughts_db.indexes import Indexes
from logreasoner.thoughts_db.lexical import (
    BM25_WEIGHTS,
    MAX_QUERY_CHARS,
    fts_query,
    lexical_search,
    match_expression,
    query_terms,
)
from logreasoner.thoughts_db.repository import ThoughtRepository
from logreasoner.thoughts_db.templates import ThoughtTemplate, row_text, template_text
from logreasoner.thoughts_db.textindex import text_search
from logreasoner.thoughts_db.usage import UsageCounter
from logreasoner.thoughts_db.vectors import nearest_templates, vectors_for

__all__ = ["Retriever", "fts_query", "query_terms", "row_text", "word_set", "BM25_WEIGHTS"]

_WORDS = re.compile(r"[a-z][a-z0-9_]{2,}")


def word_set(text: str) -> set[str]:
    """``set(tokenize(text))`` (words of three or more characters), without building the list first."""
    return set(_WORDS.findall(text.lower()))


def _normalise(scores: dict[str, float]) -> dict[str, float]:
    top = max(scores.values(), default=0.0)
    return {k: (max(v, 0.0) / top if top > 0 else 0.0) for k, v in scores.items()}


class Retriever:
    """Ranks a store's templates for a query (the programs' ``Retriever`` protocol, see the module docstring)."""

    def __init__(self, database: Database, repository: ThoughtRepository, indexes: Indexes,
                 usage: UsageCounter) -> None:
        self.database = database
        self.repository = repository
        self.indexes = indexes
        self.usage = usage

    def retrieve(
        self,
        query: str,
        *,
        task: str | None = None,
        k: int = 3,
        mode: str = "hybrid",
        theta: float | None = 0.7,
        pool: int = 50,
        dpp_pool: int = 20,
        lexical_weight: float = 0.5,
        record_usage: bool = True,
        engine: str = "auto",
    ) -> list[ThoughtTemplate]:
        """Top ``k`` diverse templates for ``query`` (see the module docstring).

        ``pool`` candidates come from each of BM25 and the embeddings; the best ``dpp_pool`` of the union enter the
        DPP step (``theta`` in (0, 1): higher favours relevance; ``None`` skips it). ``engine`` ranks the lexical
        side: "fts5" (SQLite), "tantivy" (:mod:`~logreasoner.thoughts_db.textindex`) or "auto" (tantivy for large
        stores when installed). Returned plans carry ``score`` (the hybrid relevance in [0, 1]) and ``task`` (the
        asked task, else the template's first).
        """
        if k <= 0:
            return []
        if mode not in ("hybrid", "lexical"):
            raise InputError(f"unknown retrieval mode {mode!r}", "use 'hybrid' or 'lexical'")
        if not 0.0 <= lexical_weight <= 1.0:
            raise InputError(f"lexical_weight must be in [0, 1], got {lexical_weight}")
        if engine not in ("auto", "fts5", "tantivy"):
            raise InputError(f"unknown lexical engine {engine!r}", "use 'auto', 'fts5' or 'tantivy'")
        task_name = method_fc = None
        if task:
            from logreasoner.tasks import get_task

            t = get_task(task)
            task_name, method_fc = t.name, t.method_flowchart
        query = query or ""

        terms = query_terms(query)
        text = self.indexes.text_index(engine) if terms else None
        emb = self.indexes.embedder if mode == "hybrid" and query.strip() else None
        index = self.indexes.vector_index() if emb is not None else None
        qv = None
        if index is not None and len(index):
            qv = np.asarray(emb.encode([query[:MAX_QUERY_CHARS]])[0], dtype=np.float32)
        conn = self.database.connection()
        vectors: dict[str, np.ndarray] = {}
        with self.database.read():  # one snapshot: lexical and dense candidates, method templates, vectors
            if not terms:
                lex = {}
            elif text is not None:
                lex = text_search(conn, text, terms, task=task_name, limit=pool)
            else:
                lex = lexical_search(conn, match_expression(terms), task=task_name, limit=pool)
            near = nearest_templates(conn, index, qv, task=task_name, limit=pool) if qv is not None else []
            method_ids = self.repository.method_template_ids(method_fc)
            candidates = list(dict.fromkeys([*lex, *near, *method_ids]))
            if qv is not None and candidates:
                vectors = vectors_for(conn, emb.name, candidates)
        if not candidates:
            return []
        dense = {c: float(vectors[c] @ qv) for c in candidates if c in vectors} if qv is not None else {}

        lex_n = _normalise(lex)
        if dense:
            dense_n = _normalise(dense)
            score = {c: lexical_weight * lex_n.get(c, 0.0) + (1 - lexical_weight) * dense_n.get(c, 0.0)
                     for c in candidates}
        else:
            score = {c: lex_n.get(c, 0.0) for c in candidates}
        ranked = sorted(candidates, key=lambda c: (-score[c], c))[: max(dpp_pool if theta is not None else k, k)]
        templates = self.repository.get_templates(ranked)
        ranked = [c for c in ranked if c in templates]

        if theta is not None and len(ranked) > k:
            if qv is not None and all(c in vectors for c in ranked):
                sim = cosine_similarity(np.vstack([vectors[c] for c in ranked]))
            else:
                sim = jaccard_similarity([word_set(template_text(templates[c])) for c in ranked])
            picked = dpp_greedy(dpp_kernel([score[c] for c in ranked], sim, theta=theta), k)
            chosen = [ranked[i] for i in picked]
            chosen += [c for c in ranked if c not in chosen][: k - len(chosen)]  # only when the rest are duplicates
        else:
            chosen = ranked[:k]

        out = [templates[c].as_plan(task=task_name or templates[c].task, score=round(score[c], 6)) for c in chosen]
        if record_usage and out:
            self.usage.record([p.id for p in out])
        return out
