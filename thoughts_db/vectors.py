"""The vector index beside the store: one embedding model's template vectors in a usearch file.

- Where: ``<store file>.<model>-<hash>.usearch`` next to the SQLite file, with a ``.json`` sidecar (store id,
  model, dimensions, the ``index_log`` position it reflects, its size in bytes). The store's ``embeddings``
  table stays the source of truth; the file is derived from it and may be deleted at any time.
- Start-up: the file is memory-mapped (usearch ``view``), so the first query reads no vectors up front.
- Kept up to date: triggers append to ``index_log`` the templates whose vector was written or that were
  deleted; before a search those few are removed and re-added and the file saved again. A missing, foreign
  (another store, model or dimension) or damaged file, or more changes than half the index, means a rebuild
  from the table. Writers take a file lock, write a temporary file and rename it over the old one.
- Search: cosine distance; exact below :data:`EXACT_BELOW` vectors (the same candidates as a full scan), HNSW
  above. Vectors are stored as int8 (a quarter of float32); callers rescore candidates with the exact float32
  vectors of the table (:func:`vectors_for`), so the index only picks candidates.
- Optional: without usearch (``pip install 'logreasoner[embed]'``) retrieval is lexical only.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from logreasoner.errors import ConfigError
from logreasoner.thoughts_db.sidecar import file_lock, log_head, read_json, touched_since, write_json

__all__ = ["VectorIndex", "vectors_available", "index_path", "vectors_for", "nearest_templates", "EXACT_BELOW",
           "INDEX_FORMAT"]

log = logging.getLogger(__name__)

EXACT_BELOW = 20_000  # exact (brute-force SIMD) search up to this many vectors, HNSW above
INDEX_FORMAT = 1
DTYPE = "i8"
HNSW = {"connectivity": 16, "expansion_add": 64, "expansion_search": 128}
_CHUNK = 500


_STDCXX_LOADED = False


def _usearch_index():
    """usearch's ``Index`` class, imported after the system C++ runtime.

    usearch's extension carries its own static copy of libstdc++ and exports its symbols; imported before llama.cpp
    loads a model, llama.cpp binds to that copy and fails on the vocabulary (``error loading model vocabulary:
    std::bad_cast``: the ``[local]`` install's first ``analyze``). Loading the system ``libstdc++.so.6`` globally
    first (as pyarrow or torch do as a side effect in fuller installs) gives both one C++ runtime."""
    global _STDCXX_LOADED
    if not _STDCXX_LOADED:
        _STDCXX_LOADED = True
        if sys.platform.startswith("linux"):
            import ctypes

            with contextlib.suppress(OSError):
                ctypes.CDLL("libstdc++.so.6", mode=ctypes.RTLD_GLOBAL)
    from usearch.index import Index

    return Index


def vectors_available() -> bool:
    """True when usearch can be imported (hybrid retrieval needs it)."""
    try:
        _usearch_index()
    except ImportError:
        return False
    return True


def index_path(db_path: str | Path, model: str) -> Path:
    """The index file of ``model`` beside the store file ``db_path``."""
    db_path = Path(db_path)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model)[:60]
    digest = hashlib.sha1(model.encode("utf-8")).hexdigest()[:8]
    return db_path.with_name(f"{db_path.name}.{slug}-{digest}.usearch")


def _chunks(items: list, size: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def vectors_for(conn: sqlite3.Connection, model: str, ids: list[str]) -> dict[str, np.ndarray]:
    """The stored float32 vectors of ``model`` for ``ids`` (those without one are left out)."""
    out: dict[str, np.ndarray] = {}
    for chunk in _chunks(list(dict.fromkeys(ids))):
        marks = ",".join("?" * len(chunk))
        for tid, blob in conn.execute(f"SELECT template_id, vector FROM embeddings WHERE model = ? "
                                      f"AND template_id IN ({marks})", [model, *chunk]):
            out[tid] = np.frombuffer(blob, dtype=np.float32)
    return out


def _rows_to_arrays(rows: list[tuple[int, bytes]], model: str) -> tuple[np.ndarray, np.ndarray]:
    keys = np.fromiter((r[0] for r in rows), dtype=np.uint64, count=len(rows))
    sizes = {len(r[1]) for r in rows}
    if len(sizes) != 1 or next(iter(sizes)) % 4:
        raise ConfigError(f"the stored vectors of {model!r} do not all have the same dimension",
                          "delete them (DELETE FROM embeddings WHERE model = ...) so they are computed again")
    return keys, np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)


class VectorIndex:
    """The usearch index of one model's template vectors (keys: template rowids), see the module docstring."""

    def __init__(self, db_path: str | Path, model: str) -> None:
        self.model = model
        self.path = index_path(db_path, model)
        self.meta_path = self.path.with_name(self.path.name + ".json")
        self.seq = -1  # the index_log position the index reflects
        self._index = None
        self._view = False  # a memory-mapped file: read-only, reloaded into memory before a change
        self._lock = threading.Lock()
        self._save_warned = False

    def __len__(self) -> int:
        index = self._index
        return 0 if index is None else len(index)

    # -- keeping it current ------------------------------------------------------------------------------
    def refresh(self, conn: sqlite3.Connection, store_id: str) -> None:
        """Bring the index to the store's current ``index_log`` position (call inside one read snapshot)."""
        head = log_head(conn)
        if self.seq == head:
            return
        with self._lock, file_lock(self.path):
            meta = self._read_meta(store_id)
            if meta is not None and (self._index is None or meta["seq"] != self.seq) and meta["seq"] <= head:
                self._open_view(meta)
            if self.seq == head:
                return
            touched = touched_since(conn, self.seq, head, self.model) if 0 <= self.seq <= head else None
            if touched is not None and len(touched) <= max(1000, len(self) // 2):
                index = self._apply(conn, self._writable(), touched)
                how = f"updated ({len(touched)} templates changed)"
            else:
                index = self._build(conn)
                how = f"built ({len(index) if index is not None else 0} vectors)"
            self._index, self._view, self.seq = index, False, head
            self._save(store_id)
            log.info("vector index %s %s", self.path.name, how)

    def _new(self, ndim: int):
        Index = _usearch_index()
        return Index(ndim=ndim, metric="cos", dtype=DTYPE, **HNSW)

    def _build(self, conn: sqlite3.Connection):
        index = None
        cur = conn.execute("SELECT t.rowid, e.vector FROM embeddings e JOIN templates t ON t.id = e.template_id "
                           "WHERE e.model = ? ORDER BY t.rowid", (self.model,))
        while rows := cur.fetchmany(20_000):
            keys, vecs = _rows_to_arrays(rows, self.model)
            if index is None:
                index = self._new(vecs.shape[1])
            elif vecs.shape[1] != index.ndim:
                raise ConfigError(f"the stored vectors of {self.model!r} do not all have the same dimension",
                                  "delete them so they are computed again")
            index.add(keys, vecs)
        return index

    def _writable(self):
        """A copy to change (searches in other threads go on with the current one until it is swapped in)."""
        if self._view:
            Index = _usearch_index()
            return Index.restore(str(self.path), view=False)  # a memory-mapped index must never be changed
        return None if self._index is None else self._index.copy()

    def _apply(self, conn: sqlite3.Connection, index, touched: list[int]):
        """``index`` with the vectors of ``touched`` templates removed and their current ones added."""
        current: list[tuple[int, bytes]] = []
        for chunk in _chunks(touched):
            marks = ",".join("?" * len(chunk))
            current += conn.execute(f"SELECT t.rowid, e.vector FROM templates t JOIN embeddings e ON "
                                    f"e.template_id = t.id AND e.model = ? WHERE t.rowid IN ({marks})",
                                    [self.model, *chunk]).fetchall()
        stale = np.asarray([k for k in touched if index is not None and index.contains(k)], dtype=np.uint64)
        if len(stale):
            index.remove(stale)
        if current:
            keys, vecs = _rows_to_arrays(current, self.model)
            if index is None:
                index = self._new(vecs.shape[1])
            if vecs.shape[1] != index.ndim:
                raise ConfigError(f"new vectors of {self.model!r} have {vecs.shape[1]} dimensions, the index "
                                  f"{index.ndim}", f"delete {self.path} and the old vectors")
            index.add(keys, vecs)
        return index

    # -- the file -----------------------------------------------------------------------------------------
    def _expected(self, store_id: str) -> dict:
        return {"format": INDEX_FORMAT, "store_id": store_id, "model": self.model, "dtype": DTYPE}

    def _read_meta(self, store_id: str) -> dict | None:
        meta = read_json(self.meta_path, self._expected(store_id))
        try:
            size = self.path.stat().st_size
        except OSError:
            return None
        if meta is None or meta.get("bytes") != size or not isinstance(meta.get("seq"), int):
            return None  # a file written by a crashed writer, or replaced by hand
        return meta

    def _open_view(self, meta: dict) -> None:
        Index = _usearch_index()
        try:
            index = Index.restore(str(self.path), view=True)
        except Exception as e:  # noqa: BLE001 - a damaged file is rebuilt, whatever usearch raises
            log.warning("vector index %s unreadable (%s): rebuilding it", self.path, e)
            return
        if index is None or index.ndim != meta.get("ndim") or len(index) != meta.get("count"):
            return
        self._index, self._view, self.seq = index, True, meta["seq"]

    def _save(self, store_id: str) -> None:
        index = self._index
        tmp = self.path.with_name(self.path.name + f".tmp{os.getpid()}")
        try:
            if index is None:
                self.path.unlink(missing_ok=True)
                self.meta_path.unlink(missing_ok=True)
                return
            index.save(str(tmp))
            os.replace(tmp, self.path)
            write_json(self.meta_path, {**self._expected(store_id), "ndim": int(index.ndim), "count": len(index),
                                        "seq": self.seq, "bytes": self.path.stat().st_size})
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            if not self._save_warned:
                log.warning("vector index not saved beside %s (%s): it is kept in memory for this process",
                            self.path.parent, e)
                self._save_warned = True

    # -- search -------------------------------------------------------------------------------------------
    def search(self, vector: np.ndarray, k: int) -> np.ndarray:
        """Keys (template rowids) of the ``k`` nearest vectors by cosine, nearest first."""
        index = self._index
        if index is None or k <= 0 or not len(index):
            return np.zeros(0, dtype=np.int64)
        k = min(int(k), len(index))
        found = index.search(np.asarray(vector, dtype=np.float32), k, exact=len(index) <= EXACT_BELOW)
        return np.asarray(found.keys, dtype=np.int64)


def _template_ids(conn: sqlite3.Connection, keys: np.ndarray, task: str | None) -> list[str]:
    """Template ids of ``keys`` in their order, only those of ``task`` (or untagged) when given."""
    found: dict[int, str] = {}
    filt = ("" if task is None else " AND EXISTS (SELECT 1 FROM template_tasks x WHERE x.tpl = t.rowid "
            "AND x.task IN (?, ''))")
    for chunk in _chunks([int(k) for k in keys]):
        marks = ",".join("?" * len(chunk))
        args = [*chunk] if task is None else [*chunk, task]
        found.update(conn.execute(f"SELECT t.rowid, t.id FROM templates t WHERE t.rowid IN ({marks}){filt}", args))
    return [found[int(k)] for k in keys if int(k) in found]


def nearest_templates(conn: sqlite3.Connection, index: VectorIndex, vector: np.ndarray, *, task: str | None,
                      limit: int) -> list[str]:
    """Ids of the ``limit`` templates nearest to ``vector`` (of ``task`` and untagged ones when given), nearest
    first; the task filter runs in SQL on the candidates, asking the index for more until enough pass."""
    if limit <= 0:
        return []
    fetch = limit if task is None else limit * 4
    while True:
        keys = index.search(vector, fetch)
        ids = _template_ids(conn, keys, task)
        if len(ids) >= limit or len(keys) < fetch:
            return ids[:limit]
        fetch *= 4
