"""The full-text index of large stores: the templates' text in a tantivy index folder beside the store.

FTS5's ``bm25()`` walks every doclist of the query's words and scores every matching row, so an OR query of
40 common words costs 25-210 ms (median 123) at 100,000 templates (benchmarks/RETRIEVAL.md). tantivy keeps
per-block score bounds and skips the blocks that cannot enter the top ``k`` (block-max WAND): under 2 ms.

- Used from :data:`TEXT_INDEX_FROM` templates on (``engine="auto"``) when tantivy is installed
  (``pip install 'logreasoner[search]'``); smaller stores, and any store without tantivy, rank with FTS5.
- Where: ``<store file>.tantivy/`` next to the SQLite file, with ``logreasoner.json`` (store id, the
  ``index_log`` position it reflects). Derived from the ``templates`` table, which stays the source of truth.
- Kept up to date from ``index_log`` like the vector index: the templates touched since are deleted and added
  again; a missing, foreign or unreadable folder, or more changes than half the index, is rebuilt in a new
  folder that then replaces the old one.
- Scoring: BM25 per field summed, title and tags boosted 3x (FTS5: one BM25 over column-weighted term counts),
  words stemmed by Snowball English (FTS5: Porter). The two rank alike but not identically; the hit rates of
  both are in benchmarks/RETRIEVAL.md.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

from logreasoner.thoughts_db.sidecar import TEXT, file_lock, log_head, read_json, touched_since, write_json

__all__ = ["TextIndex", "text_index_available", "text_index_path", "text_search", "TEXT_INDEX_FROM"]

log = logging.getLogger(__name__)

TEXT_INDEX_FROM = 20_000  # templates: below this FTS5 ranks (about 15 ms at 10,000 on 2 loaded cores)
INDEX_FORMAT = 2  # 2: no tasks field (the task filter runs in SQL)
FIELDS = ("title", "problem_overview", "key_challenges", "reasoning_steps", "search_text")
BOOSTS = {"title": 3.0, "search_text": 3.0}  # the FTS5 column weights
_META = "logreasoner.json"
_ROWS = "SELECT t.rowid, t.title, t.problem_overview, t.key_challenges, t.reasoning_steps, t.search_text FROM templates t"


def text_index_available() -> bool:
    """True when tantivy can be imported."""
    try:
        import tantivy  # noqa: F401
    except ImportError:
        return False
    return True


def text_index_path(db_path: str | Path) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".tantivy")


def _schema():
    import tantivy

    sb = tantivy.SchemaBuilder()
    for f in FIELDS:
        sb.add_text_field(f, stored=False, tokenizer_name="en_stem")
    sb.add_integer_field("rid", stored=True, indexed=True, fast=True)
    return sb.build()


def _document(row: tuple) -> Any:
    import tantivy

    rid, title, overview, challenges, steps, search_text = row
    return tantivy.Document(
        rid=int(rid), title=title or "", problem_overview=overview or "",
        key_challenges=" ".join(json.loads(challenges or "[]")), reasoning_steps=" ".join(json.loads(steps or "[]")),
        search_text=search_text or "",
    )


class TextIndex:
    """The tantivy index of one store (see the module docstring)."""

    def __init__(self, db_path: str | Path) -> None:
        self.path = text_index_path(db_path)
        self.seq = -1
        self._index = None
        self._searcher = None
        self._lock = threading.Lock()

    def refresh(self, conn: sqlite3.Connection, store_id: str) -> None:
        """Bring the index to the store's current ``index_log`` position (call inside one read snapshot)."""
        head = log_head(conn)
        if self.seq == head:
            return
        with self._lock, file_lock(self.path):
            meta = read_json(self.path / _META, {"format": INDEX_FORMAT, "store_id": store_id})
            if meta is not None and meta.get("seq") != self.seq and isinstance(meta.get("seq"), int) \
                    and meta["seq"] <= head:
                self._open(meta["seq"])
            if self.seq == head:
                return
            touched = touched_since(conn, self.seq, head, TEXT) if self._index is not None and self.seq >= 0 else None
            if touched is not None and len(touched) <= max(1000, self._searcher.num_docs // 2):
                self._update(conn, touched)
            else:
                self._rebuild(conn)
            self.seq = head
            try:
                write_json(self.path / _META, {"format": INDEX_FORMAT, "store_id": store_id, "seq": head})
            except OSError as e:
                log.warning("text index %s: position not saved (%s); it is brought up to date again next time",
                            self.path, e)

    def _open(self, seq: int) -> None:
        import tantivy

        try:
            index = tantivy.Index.open(str(self.path))
            searcher = index.searcher()
        except Exception as e:  # noqa: BLE001 - an unreadable folder is rebuilt, whatever tantivy raises
            log.warning("text index %s unreadable (%s): rebuilding it", self.path, e)
            return
        self._index, self._searcher, self.seq = index, searcher, seq

    def _write(self, index, rows) -> None:
        writer = index.writer(heap_size=64_000_000, num_threads=1)
        try:
            for row in rows:
                writer.add_document(_document(row))
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        writer.wait_merging_threads()

    def _rebuild(self, conn: sqlite3.Connection) -> None:
        import tantivy

        tmp = self.path.with_name(self.path.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self._write(tantivy.Index(_schema(), path=str(tmp)), conn.execute(_ROWS))
        old = self.path.with_name(self.path.name + f".old{os.getpid()}")
        if self.path.exists():
            os.replace(self.path, old)
        os.replace(tmp, self.path)
        shutil.rmtree(old, ignore_errors=True)
        index = tantivy.Index.open(str(self.path))
        self._index, self._searcher = index, index.searcher()
        log.info("text index %s built (%d templates)", self.path.name, self._searcher.num_docs)

    def _update(self, conn: sqlite3.Connection, touched: list[int]) -> None:
        writer = self._index.writer(heap_size=64_000_000, num_threads=1)
        try:
            for rid in touched:
                writer.delete_documents_by_term("rid", rid)
            for i in range(0, len(touched), 500):
                chunk = touched[i:i + 500]
                for row in conn.execute(_ROWS + f" WHERE t.rowid IN ({','.join('?' * len(chunk))})", chunk):
                    writer.add_document(_document(row))
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        writer.wait_merging_threads()
        self._index.reload()
        self._searcher = self._index.searcher()

    def search(self, terms: list[str], limit: int) -> list[tuple[int, float]]:
        """(template rowid, score) of the ``limit`` best BM25 matches of any of ``terms``, best first."""
        index, searcher = self._index, self._searcher
        if index is None or not terms or limit <= 0:
            return []
        query = index.parse_query(" ".join(terms), default_field_names=list(FIELDS), field_boosts=BOOSTS)
        hits = searcher.search(query, int(limit), count=False).hits  # no count: top-k may skip blocks
        rids = searcher.fast_field_values("rid", [addr for _, addr in hits])
        return [(int(r), float(score)) for r, (score, _) in zip(rids, hits)]


def text_search(conn: sqlite3.Connection, index: TextIndex, terms: list[str], *, task: str | None,
                limit: int) -> dict[str, float]:
    """The ``limit`` best tantivy matches (of ``task`` and untagged templates, when given) as {template id:
    score}, best first. The task filter runs in SQL on the hits, asking tantivy for more until enough pass
    (a filter inside the tantivy query cost more than this)."""
    fetch = limit if task is None else limit * 4
    while True:
        hits = index.search(terms, fetch)
        rowids = [r for r, _ in hits]
        marks = ",".join("?" * len(rowids))
        if task is None:
            ids = dict(conn.execute(f"SELECT rowid, id FROM templates WHERE rowid IN ({marks})", rowids))
        else:
            ids = dict(conn.execute(f"SELECT t.rowid, t.id FROM templates t WHERE t.rowid IN ({marks}) AND EXISTS "
                                    "(SELECT 1 FROM template_tasks x WHERE x.tpl = t.rowid AND x.task IN (?, ''))",
                                    [*rowids, task]))
        out = {ids[r]: s for r, s in hits if r in ids}
        if len(out) >= limit or len(hits) < fetch:
            return dict(list(out.items())[:limit])
        fetch *= 4
