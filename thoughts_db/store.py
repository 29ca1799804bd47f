"""The thought store: flowcharts, their nodes and edges, thought templates with tags, provenance, usage counts
and embeddings, in one SQLite file (WAL mode) through sqlite-utils.

- Every import is one ``BEGIN IMMEDIATE`` transaction: charts are parsed, validated and turned into templates
  first, then written together; an import that fails or is killed half-way leaves the database as it was.
- WAL lets readers go on while one writer writes; each thread gets its own connection, every connection waits
  up to ``busy_timeout`` seconds for a lock.
- Opening a database with an older schema migrates it (see :mod:`logreasoner.thoughts_db.schema`).
- :meth:`ThoughtStore.default` opens ``<cache_dir>/thoughts.db`` and (re)loads the shipped library when the
  library files changed.
- :meth:`ThoughtStore.retrieve` implements the programs' ``Retriever`` protocol (see
  :mod:`logreasoner.thoughts_db.retrieve`).
"""

from __future__ import annotations

import atexit
import difflib
import hashlib
import json
import logging
import sqlite3
import threading
import time
import warnings
import weakref
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import sqlite_utils
from pydantic import BaseModel, Field

from logreasoner.errors import ConfigError, InputError
from logreasoner.thoughts_db import indexes
from logreasoner.thoughts_db.embed import Embedder
from logreasoner.thoughts_db.graph import Flowchart, FlowchartError, FlowchartMeta
from logreasoner.thoughts_db.library import (
    expand_flowchart_paths,
    library_dir,
    library_files,
    library_hash,
    load_flowchart,
)
from logreasoner.thoughts_db.schema import migrate, schema_version
from logreasoner.thoughts_db.templates import DEFAULT_MAX_PATHS, StepProvenance, ThoughtTemplate, flowchart_to_plans
from logreasoner.thoughts_db.validate import validate

__all__ = ["ThoughtStore", "ImportResult", "DEFAULT_DB_NAME"]

log = logging.getLogger(__name__)
DEFAULT_DB_NAME = "thoughts.db"
_TAG_KINDS = (("task", "tasks"), ("system", "systems"), ("component", "components"), ("keyword", "keywords"))


MMAP_BYTES = 1 << 30  # at most this much of the database file is memory-mapped (SQLite caps it to the file)
USAGE_FLUSH_SECONDS = 5.0
USAGE_FLUSH_COUNT = 200
_OPEN_STORES: "weakref.WeakSet[ThoughtStore]" = weakref.WeakSet()
_DEFAULTS: dict[tuple, "ThoughtStore"] = {}
_DEFAULTS_LOCK = threading.Lock()


@atexit.register
def _flush_open_stores() -> None:
    for store in list(_OPEN_STORES):
        try:
            store.flush_usage(wait=False)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


_SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_CHART_BYTES = 1_000_000  # a flowchart file larger than this is refused (expert charts are a few KB)


def _load_chart_file(path: Path) -> Flowchart:
    try:
        size = path.stat().st_size
    except OSError as e:
        raise FlowchartError(f"{path}: cannot read it ({e.strerror})", "check the path") from None
    if size > MAX_CHART_BYTES:
        raise FlowchartError(f"{path}: {size} bytes is too large for a flowchart (at most {MAX_CHART_BYTES})",
                             "split it into smaller charts")
    return load_flowchart(path)


def _check_db_file(path: Path) -> None:
    """Refuse a ``--db`` that is a folder, a special file, not SQLite, or a truncated SQLite file, with exit 2."""
    if not path.exists():
        return
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a thought store file",
                         "point --db at a thought store file, or a new file name such as thoughts.db")
    if not path.is_file():
        raise InputError(f"{path} is not a regular file", "point --db at a thought store file or a new file name")
    size = path.stat().st_size
    if size == 0:
        return  # an empty file is a new database to SQLite
    try:
        with path.open("rb") as f:
            head = f.read(100)
    except OSError as e:
        raise InputError(f"cannot read the thought store {path}: {e.strerror}", "check its permissions") from None
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        raise InputError(f"{path} is not a SQLite thought store (unknown content)",
                         "point --db at a thought store or a new file (this one was left as it is)")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    if pages and size < pages * page_size:
        raise InputError(f"the thought store {path} is truncated ({size} of {pages * page_size} bytes)",
                         "restore it from a copy, or point --db at a new file (this one was left as it is)")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ImportResult(BaseModel):
    """What an import wrote."""

    flowcharts: list[str] = Field(default_factory=list)
    templates: int = 0
    unchanged: list[str] = Field(default_factory=list, description="charts already stored exactly so")
    skipped: list[str] = Field(default_factory=list, description="'<file or id>: <why>' for invalid charts")
    warnings: list[str] = Field(default_factory=list)


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
        if str(path) == ":memory:":
            raise InputError("the thought store needs a file", "pass a path such as /tmp/thoughts.db")
        self.path = Path(path).expanduser()
        _check_db_file(self.path)  # before sqlite touches it: a file that is not a store is never written to
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot create the folder for the thought store {self.path}: {e}",
                              "pass a writable --db path") from None
        self.busy_timeout = float(busy_timeout)
        self._embeddings_opt = embeddings
        self._embedder: Embedder | None = None
        self._embedder_resolved = False
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._vectors: dict[str, Any] = {}  # model name -> VectorIndex (the usearch file beside the store)
        self._text: Any = None  # TextIndex (the tantivy folder beside the store), made on first use
        self._count_cache: tuple[int, int] = (-1, 0)  # (generation, templates)
        self._embedded_generation: int | None = None
        self._vectors_warned = False
        self._pending_usage: dict[str, int] = {}
        self._last_flush = time.monotonic()
        try:
            conn = self._conn()
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "schema_version" not in tables:
                self.close()
                raise ConfigError(f"{self.path} is a SQLite database but not a thought store",
                                 "point --db at a thought store or a new file (this one was left as it is)")
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            migrate(conn, path=str(self.path))
        except sqlite3.Error as e:
            self.close()
            raise InputError(f"cannot open the thought store {self.path}: {e}",
                             "point --db at a thought store or a new file (this one was left as it is)") from None

    # -- connections --------------------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                str(self.path), timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            # reads of the database file through a memory map: retrieval touches a few random template rows per
            # query, and page faults on cached pages cost less than a read() each (0.4 ms of 5 at 100,000)
            conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            self._local.conn = conn
            self._local.db = sqlite_utils.Database(conn)
            with self._lock:
                self._conns.append(conn)
            _OPEN_STORES.add(self)
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's sqlite-utils ``Database``."""
        self._conn()
        return self._local.db

    @contextmanager
    def _write(self) -> Iterator[sqlite_utils.Database]:
        """One write transaction (``BEGIN IMMEDIATE``): all or nothing."""
        conn = self._conn()
        if conn.in_transaction:
            raise RuntimeError("nested write transaction on the thought store")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._local.db
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _read(self) -> Iterator[sqlite_utils.Database]:
        """Several queries on one snapshot (a deferred read transaction); nests inside an open transaction."""
        conn = self._conn()
        if conn.in_transaction:
            yield self._local.db
            return
        conn.execute("BEGIN")
        try:
            yield self._local.db
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def close(self) -> None:
        """Flush pending usage counts and close every connection this store opened."""
        try:
            self.flush_usage()
        except sqlite3.Error as e:  # pragma: no cover - best effort at shutdown
            log.warning("thought store: usage counts not saved: %s", e)
        _OPEN_STORES.discard(self)
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.close()
            except sqlite3.Error:  # pragma: no cover
                pass
        self._local = threading.local()

    def __enter__(self) -> "ThoughtStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ThoughtStore({str(self.path)!r})"

    @property
    def schema_version(self) -> int:
        return schema_version(self._conn())

    @property
    def generation(self) -> int:
        row = self._conn().execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def _bump_generation(self, db: sqlite_utils.Database) -> None:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def get_meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, db: sqlite_utils.Database, key: str, value: str) -> None:
        db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                   [key, value])

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
        if not force and self.get_meta("library_hash") == digest:
            return False
        charts: list[tuple[Flowchart, list[ThoughtTemplate]]] = []
        for f in files:
            try:
                fc = load_flowchart(f)
                rep = validate(fc)
                rep.raise_for_errors(str(f))
                charts.append((fc, flowchart_to_plans(fc, strict=False)))
            except FlowchartError as e:
                warnings.warn(f"thought library: skipped {f.name}: {e}", stacklevel=2)
        with self._write() as db:
            if not force and self.get_meta("library_hash") == digest:  # another process loaded it meanwhile
                return False
            user_ids = {r["id"] for r in db.query("SELECT id FROM flowcharts WHERE origin != 'library'")}
            new_ids = {fc.id for fc, _ in charts}
            for r in list(db.query("SELECT id FROM flowcharts WHERE origin = 'library'")):
                if r["id"] not in new_ids:
                    self._delete_flowchart(db, r["id"])
            for fc, templates in charts:
                if fc.id in user_ids:
                    log.info("thought library: keeping the user's flowchart %s", fc.id)
                    continue
                self._write_flowchart(db, fc, templates, origin="library")
            self._set_meta(db, "library_hash", digest)
            self._set_meta(db, "library_dir", str(Path(directory) if directory else library_dir()))
            self._bump_generation(db)
        return True

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
        if isinstance(items, (Flowchart, str, Path)):
            items = [items]
        loaded: list[tuple[Flowchart, str]] = []
        result = ImportResult()
        for item in items:
            if isinstance(item, Flowchart):
                loaded.append((item, item.id))
                continue
            for p in expand_flowchart_paths([item]):
                try:
                    loaded.append((_load_chart_file(p), str(p)))
                except FlowchartError as e:  # unparsable or too large: lenient imports skip it and say why
                    if strict:
                        raise
                    result.skipped.append(f"{p}: {e.one_line()}")
        prepared: list[tuple[Flowchart, list[ThoughtTemplate]]] = []
        seen: dict[str, str] = {}
        for fc, where in loaded:
            if fc.id in seen:
                if not strict:
                    result.skipped.append(f"{where}: flowchart id {fc.id!r} is also used by {seen[fc.id]}")
                    continue
                raise FlowchartError(f"{where}: flowchart id {fc.id!r} is also used by {seen[fc.id]}",
                                     "give every flowchart a unique id")
            seen[fc.id] = where
            rep = validate(fc)
            if rep.errors:
                if strict:
                    rep.raise_for_errors(where)
                result.skipped.append(f"{where}: " + "; ".join(e.message for e in rep.errors))
                continue
            result.warnings += [f"{where}: {w.message}" for w in rep.warnings]
            prepared.append((fc, flowchart_to_plans(fc, strict=False, max_paths=max_paths)))
        with self._write() as db:
            for fc, templates in prepared:
                if not replace and db["flowcharts"].count_where("id = ?", [fc.id]):
                    raise FlowchartError(f"flowchart {fc.id} is already in the store",
                                         "pass replace=True (CLI: --replace) to overwrite it")
                if self._write_flowchart(db, fc, templates, origin=origin):
                    result.flowcharts.append(fc.id)
                    result.templates += len(templates)
                else:
                    result.unchanged.append(fc.id)
            if result.flowcharts:
                self._bump_generation(db)
        return result

    def _write_flowchart(self, db: sqlite_utils.Database, fc: Flowchart, templates: list[ThoughtTemplate],
                         *, origin: str) -> bool:
        """Write one chart with its templates; a chart stored unchanged (same text, same templates, same
        origin) is left alone, so its embeddings stay. Returns whether it wrote."""
        from logreasoner.thoughts_db.mermaid import to_mermaid

        mermaid = to_mermaid(fc)
        h = hashlib.sha256(mermaid.encode("utf-8"))
        for t in templates:
            h.update(t.model_dump_json().encode("utf-8"))
        content_hash = h.hexdigest()
        old = list(db.query("SELECT content_hash, origin FROM flowcharts WHERE id = ?", [fc.id]))
        if old and old[0]["content_hash"] == content_hash and old[0]["origin"] == origin:
            return False
        db.execute("DELETE FROM templates WHERE flowchart_id = ? AND origin = 'flowchart'", [fc.id])
        db.execute("DELETE FROM edges WHERE flowchart_id = ?", [fc.id])
        db.execute("DELETE FROM nodes WHERE flowchart_id = ?", [fc.id])
        db["flowcharts"].upsert(
            {
                "id": fc.id,
                "title": fc.meta.title,
                "source": fc.meta.source,
                "meta": fc.meta.model_dump_json(),
                "mermaid": mermaid,
                "content_hash": content_hash,
                "origin": origin,
                "imported_at": _now(),
            },
            pk="id",
        )
        db["nodes"].insert_all(
            [{"flowchart_id": fc.id, "node_id": n, "position": i, "kind": k.value, "text": t}
             for i, (n, k, t) in enumerate(fc.iter_nodes())]
        )
        db["edges"].insert_all(
            [{"flowchart_id": fc.id, "position": i, "src": a, "dst": b, "condition": c}
             for i, (a, b, c) in enumerate(fc.iter_edges())]
        )
        self._write_templates(db, templates)
        return True

    def _write_templates(self, db: sqlite_utils.Database, templates: list[ThoughtTemplate]) -> None:
        if not templates:
            return
        ids = [t.id for t in templates]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            db.execute(f"DELETE FROM templates WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        now = _now()
        db["templates"].insert_all(
            (
                {
                    "id": t.id,
                    "flowchart_id": t.flowchart_id,
                    "title": t.title,
                    "problem_overview": t.problem_overview,
                    "key_challenges": json.dumps(t.key_challenges, ensure_ascii=False),
                    "reasoning_steps": json.dumps(t.reasoning_steps, ensure_ascii=False),
                    "source": t.source,
                    "origin": t.origin,
                    "node_path": json.dumps(t.node_path),
                    "created_at": now,
                    "search_text": " ".join(t.tasks + t.systems + t.components + t.keywords),
                }
                for t in templates
            ),
            batch_size=500,
        )
        db["tags"].insert_all(
            (
                {"template_id": t.id, "kind": kind, "value": v}
                for t in templates
                for kind, attr in _TAG_KINDS
                for v in dict.fromkeys(getattr(t, attr))
            ),
            batch_size=500,
        )
        db["provenance"].insert_all(
            (
                {"template_id": t.id, "step": p.step, "flowchart_id": p.flowchart_id,
                 "node_ids": json.dumps(p.node_ids)}
                for t in templates
                for p in t.provenance
            ),
            batch_size=500,
        )

    def add_templates(self, templates: Iterable[ThoughtTemplate]) -> int:
        """Store templates that did not come from a chart import (abstracted by an LM, written by hand).

        A template whose ``flowchart_id`` names a stored chart is kept when that chart is re-imported.
        """
        templates = list(templates)
        for t in templates:
            if not isinstance(t, ThoughtTemplate):
                raise InputError(f"expected ThoughtTemplate, got {type(t).__name__}",
                                 "wrap plans with ThoughtTemplate(**plan.model_dump())")
            if t.origin == "flowchart":
                raise InputError(f"template {t.id}: origin 'flowchart' templates come from importing their chart",
                                 "set origin='abstracted' or 'manual'")
        with self._write() as db:
            for t in templates:
                if t.flowchart_id and not db["flowcharts"].count_where("id = ?", [t.flowchart_id]):
                    raise InputError(f"template {t.id} refers to flowchart {t.flowchart_id}, which is not stored",
                                     "import the flowchart first, or leave flowchart_id empty")
            self._write_templates(db, templates)
            self._bump_generation(db)
        return len(templates)

    def delete_flowchart(self, flowchart_id: str) -> None:
        with self._write() as db:
            if not db["flowcharts"].count_where("id = ?", [flowchart_id]):
                raise self._unknown("flowchart", flowchart_id)
            self._delete_flowchart(db, flowchart_id)
            self._bump_generation(db)

    def _delete_flowchart(self, db: sqlite_utils.Database, flowchart_id: str) -> None:
        db.execute("DELETE FROM flowcharts WHERE id = ?", [flowchart_id])  # cascades to nodes, edges, templates

    # -- reading --------------------------------------------------------------------------------------------
    def _unknown(self, what: str, key: str) -> InputError:
        table = "flowcharts" if what == "flowchart" else "templates"
        ids = [r["id"] for r in self.db.query(f"SELECT id FROM {table}")]
        close = difflib.get_close_matches(key, ids, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "list them with `logreasoner thoughts list`"
        return InputError(f"no {what} {key!r} in {self.path}", hint)

    def has_flowchart(self, flowchart_id: str) -> bool:
        return bool(self.db["flowcharts"].count_where("id = ?", [flowchart_id]))

    def get_flowchart(self, flowchart_id: str) -> Flowchart:
        with self._read() as db:
            rows = list(db.query("SELECT meta FROM flowcharts WHERE id = ?", [flowchart_id]))
            nodes = list(db.query("SELECT node_id, kind, text FROM nodes WHERE flowchart_id = ? ORDER BY position",
                                  [flowchart_id]))
            edges = list(db.query("SELECT src, dst, condition FROM edges WHERE flowchart_id = ? ORDER BY position",
                                  [flowchart_id]))
        if not rows:
            raise self._unknown("flowchart", flowchart_id)
        fc = Flowchart(FlowchartMeta.model_validate_json(rows[0]["meta"]))
        for r in nodes:
            fc.add_node(r["node_id"], r["kind"], r["text"])
        for r in edges:
            fc.add_edge(r["src"], r["dst"], r["condition"])
        return fc

    def flowchart_ids(self) -> list[str]:
        return [r["id"] for r in self.db.query("SELECT id FROM flowcharts ORDER BY id")]

    def list_flowcharts(self, *, task: str | None = None, system: str | None = None) -> list[dict[str, Any]]:
        """One summary per chart: id, title, tasks, systems, origin, node/edge/template counts."""
        if task:
            from logreasoner.tasks import get_task

            task = get_task(task).name
        sql = """
            SELECT f.id, f.title, f.meta, f.origin, f.imported_at,
                   (SELECT count(*) FROM nodes n WHERE n.flowchart_id = f.id) AS nodes,
                   (SELECT count(*) FROM edges e WHERE e.flowchart_id = f.id) AS edges,
                   (SELECT count(*) FROM templates t WHERE t.flowchart_id = f.id) AS templates
            FROM flowcharts f ORDER BY f.id
        """
        out = []
        for r in self.db.query(sql):
            meta = json.loads(r["meta"])
            if task and task not in meta.get("tasks", []):
                continue
            if system and system.lower() not in [s.lower() for s in meta.get("systems", [])]:
                continue
            out.append({
                "id": r["id"], "title": r["title"], "tasks": meta.get("tasks", []),
                "systems": meta.get("systems", []), "origin": r["origin"], "nodes": r["nodes"],
                "edges": r["edges"], "templates": r["templates"], "imported_at": r["imported_at"],
            })
        return out

    def get_templates(self, ids: Iterable[str]) -> dict[str, ThoughtTemplate]:
        """Templates by id (unknown ids are left out)."""
        ids = list(dict.fromkeys(ids))
        rows: dict[str, dict] = {}
        tags: dict[str, dict[str, list[str]]] = {}
        prov: dict[str, list[StepProvenance]] = {}
        with self._read() as db:
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for r in db.query(f"SELECT * FROM templates WHERE id IN ({marks})", chunk):
                    rows[r["id"]] = r
                for r in db.query(f"SELECT template_id, kind, value FROM tags WHERE template_id IN ({marks}) "
                                  "ORDER BY rowid", chunk):
                    tags.setdefault(r["template_id"], {}).setdefault(r["kind"], []).append(r["value"])
                for r in db.query(f"SELECT template_id, step, flowchart_id, node_ids FROM provenance "
                                  f"WHERE template_id IN ({marks}) ORDER BY template_id, step", chunk):
                    prov.setdefault(r["template_id"], []).append(StepProvenance(
                        step=r["step"], flowchart_id=r["flowchart_id"] or "", node_ids=json.loads(r["node_ids"])))
        out = {}
        for tid in ids:
            r = rows.get(tid)
            if r is None:
                continue
            tg = tags.get(tid, {})
            out[tid] = ThoughtTemplate(
                id=tid, title=r["title"], problem_overview=r["problem_overview"],
                key_challenges=json.loads(r["key_challenges"]), reasoning_steps=json.loads(r["reasoning_steps"]),
                source=r["source"], origin=r["origin"], flowchart_id=r["flowchart_id"],
                node_path=json.loads(r["node_path"]), provenance=prov.get(tid, []),
                tasks=tg.get("task", []), systems=tg.get("system", []), components=tg.get("component", []),
                keywords=tg.get("keyword", []),
            )
        return out

    def templates(self, *, flowchart_id: str | None = None) -> list[ThoughtTemplate]:
        with self._read() as db:
            if flowchart_id is None:
                ids = [r["id"] for r in db.query("SELECT id FROM templates ORDER BY rowid")]
            else:
                ids = [r["id"] for r in db.query("SELECT id FROM templates WHERE flowchart_id = ? ORDER BY rowid",
                                                 [flowchart_id])]
            got = self.get_templates(ids)
        return [got[i] for i in ids if i in got]

    def get_template(self, template_id: str) -> ThoughtTemplate:
        got = self.get_templates([template_id])
        if template_id not in got:
            raise self._unknown("template", template_id)
        return got[template_id]

    def usage(self, template_id: str | None = None) -> dict[str, int]:
        """Usage counts (retrievals that returned the template), all or one."""
        self.flush_usage()
        if template_id is not None:
            rows = self.db.query("SELECT template_id, count FROM usage WHERE template_id = ?", [template_id])
        else:
            rows = self.db.query("SELECT template_id, count FROM usage ORDER BY count DESC, template_id")
        return {r["template_id"]: r["count"] for r in rows}

    def stats(self) -> dict[str, Any]:
        self.flush_usage()
        with self._read():
            return self._stats()

    def _stats(self) -> dict[str, Any]:
        q = lambda sql, *a: self._conn().execute(sql, a).fetchone()[0]  # noqa: E731
        by_origin = {r["origin"]: r["n"] for r in self.db.query(
            "SELECT origin, count(*) AS n FROM templates GROUP BY origin ORDER BY origin")}
        by_task = {r["value"]: r["n"] for r in self.db.query(
            "SELECT value, count(*) AS n FROM tags WHERE kind = 'task' GROUP BY value ORDER BY value")}
        by_model = {r["model"]: r["n"] for r in self.db.query(
            "SELECT model, count(*) AS n FROM embeddings GROUP BY model ORDER BY model")}
        return {
            "path": str(self.path),
            "schema_version": self.schema_version,
            "flowcharts": q("SELECT count(*) FROM flowcharts"),
            "library_flowcharts": q("SELECT count(*) FROM flowcharts WHERE origin = 'library'"),
            "nodes": q("SELECT count(*) FROM nodes"),
            "edges": q("SELECT count(*) FROM edges"),
            "templates": q("SELECT count(*) FROM templates"),
            "templates_by_origin": by_origin,
            "templates_by_task": by_task,
            "embeddings": by_model,
            "retrievals_recorded": q("SELECT coalesce(sum(count), 0) FROM usage"),
            "most_used": {r["template_id"]: r["count"] for r in self.db.query(
                "SELECT template_id, count FROM usage ORDER BY count DESC, template_id LIMIT 5")},
            "library_hash": (self.get_meta("library_hash") or "")[:12],
            "size_bytes": self.path.stat().st_size if self.path.exists() else 0,
        }

    def export(self, out_dir: str | Path, *, fmt: str = "mermaid", ids: Iterable[str] | None = None) -> list[Path]:
        """Write charts as ``<id>.mmd`` (Mermaid) or ``<id>.json`` (node-link) files; returns the paths."""
        from logreasoner.thoughts_db.jsonio import to_json
        from logreasoner.thoughts_db.mermaid import to_mermaid

        if fmt not in ("mermaid", "json"):
            raise InputError(f"unknown export format {fmt!r}", "use 'mermaid' or 'json'")
        out = Path(out_dir).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for fid in (list(ids) if ids is not None else self.flowchart_ids()):
            fc = self.get_flowchart(fid)
            p = out / f"{fid}.{'mmd' if fmt == 'mermaid' else 'json'}"
            p.write_text(to_mermaid(fc) if fmt == "mermaid" else to_json(fc), encoding="utf-8")
            paths.append(p)
        return paths

    # -- retrieval (the index functions live in logreasoner.thoughts_db.indexes) -------------------------------
    @property
    def embedder(self) -> Embedder | None:
        """The embedder hybrid retrieval uses, or ``None`` (lexical only)."""
        return indexes.resolve_embedder(self)

    def retrieve(self, query: str, *, task: str | None = None, k: int = 3, **options: Any) -> list[ThoughtTemplate]:
        """Expert plans for a log excerpt (the programs' ``Retriever`` protocol).

        Hybrid ranking (FTS5 BM25 + embeddings when available), then DPP diversity selection; with ``task``
        only templates tagged for it (or untagged ones), and the task's method flowchart always a candidate.
        Options: ``mode`` ("hybrid"/"lexical"), ``theta`` (relevance vs diversity in (0, 1), ``None`` = no
        diversity step), ``pool``, ``lexical_weight``, ``record_usage``, ``engine`` ("auto"/"fts5"/"tantivy",
        the lexical ranking). See
        :func:`logreasoner.thoughts_db.retrieve.retrieve`.
        """
        from logreasoner.thoughts_db.retrieve import retrieve

        return retrieve(self, query, task=task, k=k, **options)

    def record_usage(self, template_ids: Iterable[str]) -> None:
        """Count a use of each template. Counts are buffered and written at most every
        ``USAGE_FLUSH_SECONDS`` (or every ``USAGE_FLUSH_COUNT`` uses), on :meth:`usage`, :meth:`stats`,
        :meth:`close` and at interpreter exit; a write that would wait for another writer is deferred."""
        with self._lock:
            for t in template_ids:
                self._pending_usage[t] = self._pending_usage.get(t, 0) + 1
            total = sum(self._pending_usage.values())
            due = total >= USAGE_FLUSH_COUNT or time.monotonic() - self._last_flush >= USAGE_FLUSH_SECONDS
        if due:
            self.flush_usage(wait=False)

    def flush_usage(self, *, wait: bool = True) -> bool:
        """Write pending usage counts; with ``wait=False`` give up at once if another writer holds the lock."""
        with self._lock:
            pending, self._pending_usage = self._pending_usage, {}
            self._last_flush = time.monotonic()
        if not pending:
            return True
        conn = self._conn()
        if not wait:
            conn.execute("PRAGMA busy_timeout=50")
        try:
            with self._write() as db:
                now = _now()
                for tid, n in pending.items():
                    db.execute(
                        "INSERT INTO usage(template_id, count, last_used) VALUES (?, ?, ?) "
                        "ON CONFLICT(template_id) DO UPDATE SET count = count + excluded.count, "
                        "last_used = excluded.last_used",
                        [tid, n, now],
                    )
            return True
        except sqlite3.OperationalError as e:  # locked or read-only: keep the counts for the next flush
            log.debug("thought store: usage counts deferred: %s", e)
            with self._lock:
                for tid, n in pending.items():
                    self._pending_usage[tid] = self._pending_usage.get(tid, 0) + n
            return False
        finally:
            if not wait:
                conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")

    def method_template_ids(self, flowchart_id: str | None) -> list[str]:
        if not flowchart_id:
            return []
        return [r["id"] for r in self.db.query("SELECT id FROM templates WHERE flowchart_id = ? ORDER BY rowid",
                                               [flowchart_id])]

    def embedding_vectors(self, ids: list[str]) -> np.ndarray | None:
        """Stored vectors of the current embedder for ``ids`` (rows in order), or None if any is missing."""
        return indexes.embedding_vectors(self, ids)

    def ensure_embeddings(self, *, batch: int = 256) -> int:
        """Embed the templates that have no vector for the current model yet; returns how many."""
        return indexes.ensure_embeddings(self, batch=batch)

    def put_embeddings(self, model: str, ids: list[str], vectors: np.ndarray) -> None:
        """Store vectors (float32 rows) for templates; ids of templates deleted meanwhile are ignored."""
        indexes.put_embeddings(self, model, ids, vectors)

    def _vector_index(self):
        return indexes.vector_index(self)

    def _text_index(self, engine: str = "auto"):
        return indexes.text_index(self, engine)
