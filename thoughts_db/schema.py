"""The store's SQLite schema and its migrations.

A database records every migration applied in ``schema_version``; its version is the highest one. A new
database is built by running all migrations from 0, so the path an old database takes is the same code every
fresh store runs. Each migration runs in one ``BEGIN IMMEDIATE`` transaction together with its version row:
a migration that fails leaves the database at the previous version.

History:
  1. flowcharts, nodes, edges, templates (tags as a JSON list in a column), provenance.
  2. tags in their own table (task/system/component/keyword), usage counts, embeddings (float32 blobs),
     ``meta`` key/values (library hash, generation), FTS5 index over templates (porter stemming) kept by
     triggers.
  3. ``template_tasks`` (template rowid -> task, ``''`` for a template without a task tag) so the task filter
     of retrieval runs in SQL next to the FTS5 ranking; ``index_log`` (in order, the template rowids whose
     text (``model = ''``) or vector (``model`` = its name) was written, or that were deleted (``NULL``)) so
     the index files beside the store are brought up to date instead of rebuilt; a random ``store_id`` in
     ``meta`` that those files must carry. Both tables are kept by triggers.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import datetime, timezone
from typing import Callable

from logreasoner.errors import ConfigError

__all__ = ["SCHEMA_VERSION", "MIGRATIONS", "schema_version", "migrate", "FTS_COLUMNS"]

FTS_COLUMNS = ("title", "problem_overview", "key_challenges", "reasoning_steps", "search_text")

_V1 = """
CREATE TABLE schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE flowcharts (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    meta TEXT NOT NULL,
    mermaid TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    origin TEXT NOT NULL DEFAULT 'user',
    imported_at TEXT NOT NULL
);
CREATE TABLE nodes (
    flowchart_id TEXT NOT NULL REFERENCES flowcharts(id) ON DELETE CASCADE,
    node_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('symptom', 'check', 'decision', 'action', 'conclusion')),
    text TEXT NOT NULL,
    PRIMARY KEY (flowchart_id, node_id)
);
CREATE TABLE edges (
    flowchart_id TEXT NOT NULL REFERENCES flowcharts(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    condition TEXT,
    PRIMARY KEY (flowchart_id, src, dst),
    FOREIGN KEY (flowchart_id, src) REFERENCES nodes(flowchart_id, node_id) ON DELETE CASCADE,
    FOREIGN KEY (flowchart_id, dst) REFERENCES nodes(flowchart_id, node_id) ON DELETE CASCADE
);
CREATE TABLE templates (
    id TEXT PRIMARY KEY,
    flowchart_id TEXT REFERENCES flowcharts(id) ON DELETE CASCADE,
    title TEXT NOT NULL DEFAULT '',
    problem_overview TEXT NOT NULL DEFAULT '',
    key_challenges TEXT NOT NULL DEFAULT '[]',
    reasoning_steps TEXT NOT NULL DEFAULT '[]',
    source TEXT,
    origin TEXT NOT NULL DEFAULT 'flowchart',
    node_path TEXT NOT NULL DEFAULT '[]',
    tags TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL
);
CREATE INDEX templates_flowchart ON templates(flowchart_id);
CREATE TABLE provenance (
    template_id TEXT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    flowchart_id TEXT,
    node_ids TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (template_id, step)
);
"""

_V2 = """
CREATE TABLE tags (
    template_id TEXT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('task', 'system', 'component', 'keyword')),
    value TEXT NOT NULL,
    PRIMARY KEY (template_id, kind, value)
);
CREATE INDEX tags_kind_value ON tags(kind, value);
CREATE TABLE usage (
    template_id TEXT PRIMARY KEY,
    count INTEGER NOT NULL DEFAULT 0,
    last_used TEXT
);
CREATE TABLE embeddings (
    template_id TEXT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (template_id, model)
);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
INSERT INTO meta(key, value) VALUES ('generation', '0');
ALTER TABLE templates ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
"""

_FTS = """
CREATE VIRTUAL TABLE templates_fts USING fts5(
    {cols}, content='templates', content_rowid='rowid', tokenize='porter unicode61'
);
CREATE TRIGGER templates_fts_ai AFTER INSERT ON templates BEGIN
  INSERT INTO templates_fts(rowid, {cols}) VALUES (new.rowid, {new});
END;
CREATE TRIGGER templates_fts_ad AFTER DELETE ON templates BEGIN
  INSERT INTO templates_fts(templates_fts, rowid, {cols}) VALUES ('delete', old.rowid, {old});
END;
CREATE TRIGGER templates_fts_au AFTER UPDATE ON templates BEGIN
  INSERT INTO templates_fts(templates_fts, rowid, {cols}) VALUES ('delete', old.rowid, {old});
  INSERT INTO templates_fts(rowid, {cols}) VALUES (new.rowid, {new});
END;
""".format(
    cols=", ".join(FTS_COLUMNS),
    new=", ".join(f"new.{c}" for c in FTS_COLUMNS),
    old=", ".join(f"old.{c}" for c in FTS_COLUMNS),
)


_V3 = """
CREATE TABLE template_tasks (
    tpl INTEGER NOT NULL,
    task TEXT NOT NULL,
    PRIMARY KEY (tpl, task)
) WITHOUT ROWID;
CREATE TABLE index_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tpl INTEGER NOT NULL,
    model TEXT
);
CREATE TRIGGER template_tasks_ti AFTER INSERT ON templates BEGIN
  INSERT OR IGNORE INTO template_tasks(tpl, task) VALUES (new.rowid, '');
  INSERT INTO index_log(tpl, model) VALUES (new.rowid, '');
END;
CREATE TRIGGER template_tasks_td AFTER DELETE ON templates BEGIN
  DELETE FROM template_tasks WHERE tpl = old.rowid;
  INSERT INTO index_log(tpl, model) VALUES (old.rowid, NULL);
END;
CREATE TRIGGER template_tasks_gi AFTER INSERT ON tags WHEN new.kind = 'task' BEGIN
  INSERT OR IGNORE INTO template_tasks(tpl, task) SELECT rowid, new.value FROM templates WHERE id = new.template_id;
  DELETE FROM template_tasks WHERE task = '' AND tpl = (SELECT rowid FROM templates WHERE id = new.template_id);
END;
CREATE TRIGGER template_tasks_gd AFTER DELETE ON tags WHEN old.kind = 'task' BEGIN
  DELETE FROM template_tasks WHERE task = old.value AND tpl = (SELECT rowid FROM templates WHERE id = old.template_id);
  INSERT OR IGNORE INTO template_tasks(tpl, task) SELECT rowid, '' FROM templates WHERE id = old.template_id
    AND NOT EXISTS (SELECT 1 FROM tags WHERE template_id = old.template_id AND kind = 'task');
END;
CREATE TRIGGER index_log_ei AFTER INSERT ON embeddings BEGIN
  INSERT INTO index_log(tpl, model) SELECT rowid, new.model FROM templates WHERE id = new.template_id;
END;
CREATE TRIGGER index_log_ed AFTER DELETE ON embeddings BEGIN
  INSERT INTO index_log(tpl, model) SELECT rowid, old.model FROM templates WHERE id = old.template_id;
END;
"""


def _statements(script: str) -> list[str]:
    """Split a DDL script into statements (trigger bodies keep their inner ';')."""
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        text = "\n".join(buf).strip()
        if text.endswith(";") and (not text.upper().startswith("CREATE TRIGGER") or text.upper().endswith("END;")):
            out.append(text)
            buf = []
    if "\n".join(buf).strip():
        out.append("\n".join(buf).strip())
    return out


def _run(conn: sqlite3.Connection, script: str) -> None:
    for stmt in _statements(script):
        conn.execute(stmt)


def _to_v1(conn: sqlite3.Connection) -> None:
    _run(conn, _V1)


def _to_v2(conn: sqlite3.Connection) -> None:
    _run(conn, _V2)
    # tags move from the JSON column to the tags table; the FTS column gathers them as words
    rows = conn.execute("SELECT id, tags FROM templates").fetchall()
    for tid, raw in rows:
        try:
            tags = json.loads(raw or "[]")
        except json.JSONDecodeError:
            tags = []
        words = []
        for tag in tags:
            kind, _, value = str(tag).partition(":")
            if kind in ("task", "system", "component", "keyword") and value:
                conn.execute("INSERT OR IGNORE INTO tags(template_id, kind, value) VALUES (?, ?, ?)", (tid, kind, value))
                words.append(value)
        conn.execute("UPDATE templates SET search_text = ? WHERE id = ?", (" ".join(words), tid))
    conn.execute("ALTER TABLE templates DROP COLUMN tags")
    _run(conn, _FTS)
    conn.execute("INSERT INTO templates_fts(templates_fts) VALUES ('rebuild')")


def _to_v3(conn: sqlite3.Connection) -> None:
    _run(conn, _V3)
    conn.execute("INSERT OR IGNORE INTO template_tasks(tpl, task) SELECT t.rowid, g.value FROM tags g "
                 "JOIN templates t ON t.id = g.template_id WHERE g.kind = 'task'")
    conn.execute("INSERT OR IGNORE INTO template_tasks(tpl, task) SELECT rowid, '' FROM templates t "
                 "WHERE NOT EXISTS (SELECT 1 FROM tags g WHERE g.template_id = t.id AND g.kind = 'task')")
    conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('store_id', ?)", (uuid.uuid4().hex,))


MIGRATIONS: dict[int, tuple[str, Callable[[sqlite3.Connection], None]]] = {
    1: ("flowcharts, nodes, edges, templates, provenance", _to_v1),
    2: ("tags table, usage, embeddings, meta, FTS5 over templates", _to_v2),
    3: ("task filter and vector change log for the retrieval indexes", _to_v3),
}
SCHEMA_VERSION = max(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The database's schema version (0 for an empty database)."""
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'").fetchone()
    if not has:
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
        if tables:
            raise ConfigError(
                "this SQLite file is not a thought store (it has tables but no schema_version)",
                "point --db at a new file or at an existing thought store",
            )
        return 0
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, *, path: str = "") -> list[int]:
    """Bring the database to :data:`SCHEMA_VERSION`; returns the versions applied (one transaction each)."""
    applied: list[int] = []
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = schema_version(conn)
            if current > SCHEMA_VERSION:
                raise ConfigError(
                    f"the thought store {path} has schema version {current}, newer than this logreasoner "
                    f"supports ({SCHEMA_VERSION})",
                    "upgrade logreasoner, or use another --db",
                )
            if current == SCHEMA_VERSION:
                conn.execute("COMMIT")
                return applied
            target = current + 1
            desc, step = MIGRATIONS[target]
            step(conn)
            conn.execute(
                "INSERT INTO schema_version(version, applied_at, description) VALUES (?, ?, ?)",
                (target, datetime.now(timezone.utc).isoformat(timespec="seconds"), desc),
            )
            conn.execute("COMMIT")
            applied.append(target)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
