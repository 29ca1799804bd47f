"""The thought store: flowcharts, their nodes and edges, thought templates with tags, provenance, usage counts
and embeddings, in one SQLite file (WAL mode) through sqlite-utils.

:class:`ThoughtStore` is the facade over the store's parts, each its own module and reachable as an attribute:

- ``database`` (:mod:`~logreasoner.thoughts_db.db`): per-thread connections, transactions, migrations, meta;
- ``repository`` (:mod:`~logreasoner.thoughts_db.repository`): charts and templates, library sync;
- ``counter`` (:mod:`~logreasoner.thoughts_db.usage`): buffered usage counts, flushed at exit;
- ``indexes`` (:mod:`~logreasoner.thoughts_db.indexes`): embedder, template vectors, index files;
- ``retriever`` (:mod:`~logreasoner.thoughts_db.retrieve`): hybrid ranking and DPP diversity over the above.

- Every import is one ``BEGIN IMMEDIATE`` transaction: charts are parsed, validated and turned into templates
  first (:mod:`~logreasoner.thoughts_db.prepare`), then written together; an import that fails or is killed
  half-way leaves the database as it was.
- :meth:`ThoughtStore.default` opens ``<cache_dir>/thoughts.db`` and (re)loads the shipped library when the
  library files changed.
- :meth:`ThoughtStore.retrieve` implements the programs' ``Retriever`` protocol.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import sqlite_utils

from logreasoner.thoughts_db.db import Database
from logreasoner.thoughts_db.embed import Embedder
from logreasoner.thoughts_db.export import export_flowcharts
from logreasoner.thoughts_db.graph import Flowchart, FlowchartError
from logreasoner.thoughts_db.indexes import Indexes
from logreasoner.thoughts_db.library import library_files, library_hash
from logreasoner.thoughts_db.prepare import ImportResult, prepare_import, prepare_library
from logreasoner.thoughts_db.repository import ThoughtRepository
from logreasoner.thoughts_db.retrieve import Retriever
from logreasoner.thoughts_db.templates import DEFAULT_MAX_PATHS, ThoughtTemplate
from logreasoner.thoughts_db.usage import UsageCounter

__all__ = ["ThoughtStore", "ImportResult", "DEFAULT_DB_NAME"]

DEFAULT_DB_NAME = "thoughts.db"
_DEFAULTS: dict[tuple, "ThoughtStore"] = {}
_DEFAULTS_LOCK = threading.Lock()


class ThoughtStore:
    """A persistent, queryable store of expert flowcharts and thought templates (see the module docstring).

    Args:
        path: the SQLite file (created with its folder when missing).
        embeddings: ``None`` = use all-MiniLM-L6-v2 when installed; ``False`` = lexical retrieval only;
            ``True`` = require the model; or an :class:`Embedder` instance.
        busy_timeout: seconds a connection waits for another writer's lock.
    """

    def __init__(
        self, path: str | Path, *, embeddings: bool | Embedder | None = None, busy_timeout: float = 30.0
    ) -> None:
        self.database = Database(path, busy_timeout=busy_timeout)
        self.repository = ThoughtRepository(self.database)
        self.counter = UsageCounter(self.database)
        self.indexes = Indexes(self.database, embeddings)
        self.retriever = Retriever(self.database, self.repository, self.indexes, self.counter)

    # -- the database -------------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self.database.path

    @property
    def busy_timeout(self) -> float:
        return self.database.busy_timeout

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's sqlite-utils ``Database``."""
        return self.database.db

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (for checks on the raw database; the parts use ``database.connection()``)."""
        return self.database.connection()

    @property
    def schema_version(self) -> int:
        return self.database.schema_version

    @property
    def generation(self) -> int:
        return self.database.generation

    def get_meta(self, key: str) -> str | None:
        return self.database.get_meta(key)

    def close(self) -> None:
        """Flush pending usage counts and close every connection this store opened."""
        self.counter.close()
        self.database.close()

    def __enter__(self) -> "ThoughtStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ThoughtStore({str(self.path)!r})"

    # -- the default store and the shipped library -------------------------------------------------------
    @classmethod
    def default(cls, *, embeddings: bool | Embedder | None = None, load_library: bool = True) -> "ThoughtStore":
        """``<cache_dir>/thoughts.db`` (``LOGREASONER_CACHE_DIR``), with the shipped library loaded.

        Returns the same store for the same file (and ``embeddings`` choice) within a process; closing it only
        closes its connections, which reopen on the next use.
        """
        from logreasoner.settings import get_settings

        path = (get_settings().cache_dir / DEFAULT_DB_NAME).expanduser().resolve()
        key = (str(path), embeddings if isinstance(embeddings, (bool, type(None))) else id(embeddings))
        with _DEFAULTS_LOCK:  # one store per file and process: its template vectors are loaded once
            store = _DEFAULTS.get(key)
            if store is None:
                store = _DEFAULTS[key] = cls(path, embeddings=embeddings)
        if load_library:
            store.load_library()
        return store

    def load_library(self, directory: str | Path | None = None, *, force: bool = False) -> bool:
        """(Re)load the shipped flowcharts when their hash differs from the one recorded; True if it loaded.

        Library charts replace earlier library charts (those no longer shipped are removed); a chart the user
        imported under the same id is kept and the library one skipped. A library file that fails to parse or
        validate is skipped with a warning naming it.
        """
        files = library_files(directory)
        digest = library_hash(files)
        if not force and self.database.get_meta("library_hash") == digest:
            return False
        return self.repository.sync_library(prepare_library(files), digest=digest, directory=directory, force=force)

    # -- writing --------------------------------------------------------------------------------------------
    def import_flowcharts(
        self,
        items: Iterable[Flowchart | str | Path] | Flowchart | str | Path,
        *,
        origin: str = "user",
        replace: bool = True,
        strict: bool = True,
        max_paths: int = DEFAULT_MAX_PATHS,
    ) -> ImportResult:
        """Import flowcharts (objects, files, folders or globs) in one transaction.

        Everything is parsed, validated and derived before the first write. With ``strict`` an invalid chart
        stops the whole import; otherwise it is skipped and listed in ``skipped``. Without ``replace`` a chart
        whose id is already stored stops the import.
        """
        prepared, result = prepare_import(items, strict=strict, max_paths=max_paths)
        with self.database.write() as db:
            for fc, templates in prepared:
                if not replace and self.repository.has_flowchart(fc.id):
                    raise FlowchartError(f"flowchart {fc.id} is already in the store",
                                         "pass replace=True (CLI: --replace) to overwrite it")
                if self._write_flowchart(db, fc, templates, origin=origin):
                    result.flowcharts.append(fc.id)
                    result.templates += len(templates)
                else:
                    result.unchanged.append(fc.id)
            if result.flowcharts:
                self.database.bump_generation(db)
        return result

    def _write_flowchart(self, db: sqlite_utils.Database, fc: Flowchart, templates: list[ThoughtTemplate],
                         *, origin: str) -> bool:
        """One chart of an import, inside its transaction (see :meth:`ThoughtRepository.write_flowchart`)."""
        return self.repository.write_flowchart(db, fc, templates, origin=origin)

    def add_templates(self, templates: Iterable[ThoughtTemplate]) -> int:
        """Store templates that did not come from a chart import (abstracted by an LM, written by hand).

        A template whose ``flowchart_id`` names a stored chart is kept when that chart is re-imported.
        """
        return self.repository.add_templates(templates)

    def delete_flowchart(self, flowchart_id: str) -> None:
        self.repository.delete_flowchart(flowchart_id)

    # -- reading --------------------------------------------------------------------------------------------
    def has_flowchart(self, flowchart_id: str) -> bool:
        return self.repository.has_flowchart(flowchart_id)

    def get_flowchart(self, flowchart_id: str) -> Flowchart:
        """The stored flowchart ``flowchart_id`` as a :class:`Flowchart` (raises naming the known ids if absent)."""
        return self.repository.get_flowchart(flowchart_id)

    def flowchart_ids(self) -> list[str]:
        return self.repository.flowchart_ids()

    def list_flowcharts(self, *, task: str | None = None, system: str | None = None) -> list[dict[str, Any]]:
        """One summary per chart: id, title, tasks, systems, origin, node/edge/template counts."""
        return self.repository.list_flowcharts(task=task, system=system)

    def get_templates(self, ids: Iterable[str]) -> dict[str, ThoughtTemplate]:
        """Templates by id (unknown ids are left out)."""
        return self.repository.get_templates(ids)

    def templates(self, *, flowchart_id: str | None = None) -> list[ThoughtTemplate]:
        return self.repository.templates(flowchart_id=flowchart_id)

    def get_template(self, template_id: str) -> ThoughtTemplate:
        return self.repository.get_template(template_id)

    def method_template_ids(self, flowchart_id: str | None) -> list[str]:
        return self.repository.method_template_ids(flowchart_id)

    def usage(self, template_id: str | None = None) -> dict[str, int]:
        """Usage counts (retrievals that returned the template), all or one."""
        return self.counter.counts(template_id)

    def stats(self) -> dict[str, Any]:
        """Counts of the store (flowcharts, templates, tags, usage) after flushing pending usage counts."""
        self.counter.flush()
        return self.repository.stats()

    def export(self, out_dir: str | Path, *, fmt: str = "mermaid", ids: Iterable[str] | None = None) -> list[Path]:
        """Write charts as ``<id>.mmd`` (Mermaid) or ``<id>.json`` (node-link) files; returns the paths."""
        return export_flowcharts(self.repository, out_dir, fmt=fmt, ids=ids)

    # -- retrieval ------------------------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder | None:
        """The embedder hybrid retrieval uses, or ``None`` (lexical only)."""
        return self.indexes.embedder

    def retrieve(self, query: str, *, task: str | None = None, k: int = 3, **options: Any) -> list[ThoughtTemplate]:
        """Expert plans for a log excerpt (the programs' ``Retriever`` protocol).

        Hybrid ranking (FTS5 BM25 + embeddings when available), then DPP diversity selection; with ``task``
        only templates tagged for it (or untagged ones), and the task's method flowchart always a candidate.
        Options: ``mode`` ("hybrid"/"lexical"), ``theta`` (relevance vs diversity in (0, 1), ``None`` = no
        diversity step), ``pool``, ``lexical_weight``, ``record_usage``, ``engine`` ("auto"/"fts5"/"tantivy",
        the lexical ranking). See :meth:`logreasoner.thoughts_db.retrieve.Retriever.retrieve`.
        """
        return self.retriever.retrieve(query, task=task, k=k, **options)

    def record_usage(self, template_ids: Iterable[str]) -> None:
        """Count a use of each template. Counts are buffered and written at most every
        ``USAGE_FLUSH_SECONDS`` (or every ``USAGE_FLUSH_COUNT`` uses), on :meth:`usage`, :meth:`stats`,
        :meth:`close` and at interpreter exit; a write that would wait for another writer is deferred."""
        self.counter.record(template_ids)

    def flush_usage(self, *, wait: bool = True) -> bool:
        """Write pending usage counts; with ``wait=False`` give up at once if another writer holds the lock."""
        return self.counter.flush(wait=wait)

    def embedding_vectors(self, ids: list[str]) -> np.ndarray | None:
        """Stored vectors of the current embedder for ``ids`` (rows in order), or None if any is missing."""
        return self.indexes.embedding_vectors(ids)

    def ensure_embeddings(self, *, batch: int = 256) -> int:
        """Embed the templates that have no vector for the current model yet; returns how many."""
        return self.indexes.ensure_embeddings(batch=batch)

    def put_embeddings(self, model: str, ids: list[str], vectors: np.ndarray) -> None:
        """Store vectors (float32 rows) for templates; ids of templates deleted meanwhile are ignored."""
        self.indexes.put_embeddings(model, ids, vectors)

    def _vector_index(self):
        """The up-to-date vector index or None (see :meth:`Indexes.vector_index`), for checks and benchmarks."""
        return self.indexes.vector_index()

    def _text_index(self, engine: str = "auto"):
        """The up-to-date text index or None (see :meth:`Indexes.text_index`), for checks and benchmarks."""
        return self.indexes.text_index(engine)
