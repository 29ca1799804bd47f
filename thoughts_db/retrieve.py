"""Retrieval: hybrid ranking (FTS5 BM25 + sentence embeddings), then DPP diversity selection.

1. Candidates. Lexical: the query's distinctive words (no stop words, no hex or numbers) OR-ed into an FTS5
   query, ranked by BM25 with column weights (title and tags count more). Dense (when an embedder is
   available): cosine of the query vector with every stored template vector, held in memory per store
   generation. With a task, only templates tagged for it (or untagged ones) are candidates; the templates of
   the task's method flowchart always are.
2. Score. ``lexical_weight * bm25 / max_bm25 + (1 - lexical_weight) * cos / max_cos`` over the candidates
   (lexical alone when there is no embedder or ``mode="lexical"``).
3. Diversity. Greedy MAP on a DPP kernel of quality ``exp(alpha * score)`` times similarity (cosine of the
   template vectors, or Jaccard of their words without embeddings), so near-copies are not returned together.
4. Usage counts of the returned templates are incremented (best effort, see ``ThoughtStore.record_usage``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from logreasoner.errors import InputError
from logreasoner.programs.retrieval import tokenize
from logreasoner.thoughts_db.dpp import cosine_similarity, dpp_greedy, dpp_kernel, jaccard_similarity
from logreasoner.thoughts_db.templates import ThoughtTemplate, template_text

if TYPE_CHECKING:
    from logreasoner.thoughts_db.store import ThoughtStore

__all__ = ["retrieve", "fts_query", "query_terms", "DenseIndex", "LexicalIndex", "row_text", "BM25_WEIGHTS"]

# column weights for bm25(): title, problem_overview, key_challenges, reasoning_steps, search_text (tags)
BM25_WEIGHTS = (3.0, 1.0, 1.0, 1.0, 3.0)
MAX_QUERY_TERMS = 48
MAX_QUERY_CHARS = 4000

_STOP = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how if in into is it its
    may no not of on or our should so such than that the their then there these this those to was were what
    when where which while who why will with would you your log logs line lines entry entries given following
    please based above below""".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]+")


def query_terms(text: str, *, limit: int = MAX_QUERY_TERMS) -> list[str]:
    """Distinctive words of a query, most frequent first: letters lead, letters outnumber digits."""
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for i, m in enumerate(_WORD.finditer(text[: MAX_QUERY_CHARS * 4])):
        w = m.group(0).lower()
        digits = sum(ch.isdigit() for ch in w)
        if w in _STOP or digits * 2 > len(w) or len(w) > 40:
            continue
        counts[w] += 1
        first.setdefault(w, i)
    return sorted(counts, key=lambda w: (-counts[w], first[w]))[:limit]


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression (terms OR-ed, each quoted) or None when the text has no usable word."""
    terms = query_terms(text)
    return " OR ".join(f'"{t}"' for t in terms) if terms else None


def row_text(row: dict[str, Any]) -> str:
    """The text a stored template is embedded by (same parts as :func:`template_text`)."""
    parts = [
        row.get("title") or "",
        row.get("problem_overview") or "",
        " ".join(json.loads(row.get("key_challenges") or "[]")),
        " ".join(json.loads(row.get("reasoning_steps") or "[]")),
        row.get("search_text") or "",
    ]
    return "\n".join(p for p in parts if p)


@dataclass
class DenseIndex:
    """All template vectors of one model, in memory, with per-task masks."""

    model: str
    generation: int
    ids: list[str]
    matrix: np.ndarray
    pos: dict[str, int]
    task_ids: dict[str, np.ndarray] = field(default_factory=dict)
    untasked: np.ndarray | None = None

    @classmethod
    def load(cls, store: "ThoughtStore", model: str) -> "DenseIndex":
        conn = store._conn()
        with store._read():  # one snapshot for the generation, vectors and tags
            gen = store.generation
            ids, vecs = [], []
            for tid, blob in conn.execute("SELECT template_id, vector FROM embeddings WHERE model = ? "
                                          "ORDER BY template_id", (model,)):
                ids.append(tid)
                vecs.append(np.frombuffer(blob, dtype=np.float32))
            tasks: dict[str, list[str]] = {}
            for tid, value in conn.execute("SELECT template_id, value FROM tags WHERE kind = 'task'"):
                tasks.setdefault(value, []).append(tid)
        dim = len(vecs[0]) if vecs else 0
        matrix = np.vstack(vecs).astype(np.float32) if vecs else np.zeros((0, dim), dtype=np.float32)
        pos = {t: i for i, t in enumerate(ids)}
        task_rows = {
            name: np.fromiter((pos[t] for t in members if t in pos), dtype=np.int64)
            for name, members in tasks.items()
        }
        tagged = np.zeros(len(ids), dtype=bool)
        for rows in task_rows.values():
            tagged[rows] = True
        return cls(model, gen, ids, matrix, pos, task_rows, np.flatnonzero(~tagged))

    def mask(self, task: str | None) -> np.ndarray | None:
        if task is None:
            return None
        m = np.zeros(len(self.ids), dtype=bool)
        rows = self.task_ids.get(task)
        if rows is not None:
            m[rows] = True
        if self.untasked is not None:
            m[self.untasked] = True
        return m


@dataclass
class LexicalIndex:
    """Template rowids -> ids and task tags, in memory: the FTS query then needs no join or filter in SQL
    (joining 100,000 matches to ``templates`` and ``tags`` cost more than the BM25 ranking itself)."""

    generation: int
    ids: dict[int, str]
    tasks: dict[int, frozenset[str]]

    @classmethod
    def load(cls, store: "ThoughtStore") -> "LexicalIndex":
        conn = store._conn()
        with store._read():
            gen = store.generation
            ids = dict(conn.execute("SELECT rowid, id FROM templates"))
            tasks: dict[int, set[str]] = {}
            for rowid, value in conn.execute(
                "SELECT t.rowid, g.value FROM tags g JOIN templates t ON t.id = g.template_id WHERE g.kind = 'task'"
            ):
                tasks.setdefault(rowid, set()).add(value)
        return cls(gen, ids, {r: frozenset(v) for r, v in tasks.items()})

    def allowed(self, rowid: int, task: str | None) -> bool:
        if task is None:
            return True
        tags = self.tasks.get(rowid)
        return not tags or task in tags


def _lexical(store: "ThoughtStore", match: str, task: str | None, limit: int) -> dict[str, float]:
    """The ``limit`` best BM25 matches (of the task, when given) as {template id: score}."""
    weights = ", ".join(str(w) for w in BM25_WEIGHTS)
    sql = (f"SELECT rowid, -bm25(templates_fts, {weights}) AS s FROM templates_fts WHERE templates_fts MATCH ? "
           "ORDER BY s DESC LIMIT ?")
    index = store._lexical_index()
    fetch = limit if task is None else limit * 8
    while True:
        rows = store._conn().execute(sql, (match, fetch)).fetchall()
        out = {index.ids[r]: float(s) for r, s in rows if r in index.ids and index.allowed(r, task)}
        if len(out) >= limit or len(rows) < fetch:  # enough, or every match seen
            return dict(list(out.items())[:limit])
        fetch *= 8


def _normalise(scores: dict[str, float]) -> dict[str, float]:
    top = max(scores.values(), default=0.0)
    return {k: (max(v, 0.0) / top if top > 0 else 0.0) for k, v in scores.items()}


def retrieve(
    store: "ThoughtStore",
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
) -> list[ThoughtTemplate]:
    """Top ``k`` diverse templates for ``query`` (see the module docstring).

    ``pool`` candidates come from each of BM25 and the embeddings; the best ``dpp_pool`` of the union enter the
    DPP step (``theta`` in (0, 1): higher favours relevance; ``None`` skips it). Returned plans carry
    ``score`` (the hybrid relevance in [0, 1]) and ``task`` (the asked task, else the template's first).
    """
    if k <= 0:
        return []
    if mode not in ("hybrid", "lexical"):
        raise InputError(f"unknown retrieval mode {mode!r}", "use 'hybrid' or 'lexical'")
    if not 0.0 <= lexical_weight <= 1.0:
        raise InputError(f"lexical_weight must be in [0, 1], got {lexical_weight}")
    task_name = method_fc = None
    if task:
        from logreasoner.tasks import get_task

        t = get_task(task)
        task_name, method_fc = t.name, t.method_flowchart
    query = query or ""

    match = fts_query(query)
    lex = _lexical(store, match, task_name, pool) if match else {}

    dense: dict[str, float] = {}
    index = None
    qv = None
    emb = store.embedder if mode == "hybrid" else None
    if emb is not None and query.strip():
        index = store._dense_index()
        if index.ids:
            qv = emb.encode([query[:MAX_QUERY_CHARS]])[0].astype(np.float32)
            sims = index.matrix @ qv
            mask = index.mask(task_name)
            if mask is not None:
                sims = np.where(mask, sims, -np.inf)
            n = min(pool, len(sims))
            top = np.argpartition(-sims, n - 1)[:n] if n < len(sims) else np.arange(len(sims))
            dense = {index.ids[i]: float(sims[i]) for i in top if np.isfinite(sims[i])}
            for tid in lex:  # lexical candidates get their cosine too
                if tid in index.pos and tid not in dense:
                    dense[tid] = float(sims[index.pos[tid]])

    method_ids = store.method_template_ids(method_fc)
    candidates = list(dict.fromkeys(list(lex) + list(dense) + method_ids))
    if not candidates:
        return []
    if index is not None and qv is not None:
        for tid in method_ids:
            if tid not in dense and tid in index.pos:
                dense[tid] = float(index.matrix[index.pos[tid]] @ qv)

    lex_n = _normalise(lex)
    if dense:
        dense_n = _normalise(dense)
        score = {c: lexical_weight * lex_n.get(c, 0.0) + (1 - lexical_weight) * dense_n.get(c, 0.0)
                 for c in candidates}
    else:
        score = {c: lex_n.get(c, 0.0) for c in candidates}
    ranked = sorted(candidates, key=lambda c: (-score[c], c))[: max(dpp_pool if theta is not None else k, k)]
    templates = store.get_templates(ranked)
    ranked = [c for c in ranked if c in templates]

    if theta is not None and len(ranked) > k:
        vectors = store.embedding_vectors(ranked) if index is not None else None
        if vectors is not None:
            sim = cosine_similarity(vectors)
        else:
            sim = jaccard_similarity([set(tokenize(template_text(templates[c]))) for c in ranked])
        picked = dpp_greedy(dpp_kernel([score[c] for c in ranked], sim, theta=theta), k)
        chosen = [ranked[i] for i in picked]
        chosen += [c for c in ranked if c not in chosen][: k - len(chosen)]  # only when the rest are duplicates
    else:
        chosen = ranked[:k]

    out = [templates[c].as_plan(task=task_name or templates[c].task, score=round(score[c], 6)) for c in chosen]
    if record_usage and out:
        store.record_usage([p.id for p in out])
    return out
