"""The template cache across runs: one SQLite file, templates kept per system (``HDFS``, ``my-app``, ...).

A template is stored once it has been checked against every line of its group. The next run loads the
system's templates into a :class:`~logreasoner.logs.template_match.TemplateIndex` first, so a line that fits a
known template costs a lookup, not a model call. Each row records where the template came from (``model`` or
``drain``), which model wrote it, and how many lines it has taken. Safe to share between processes (WAL, busy
timeout); opening is lazy, so building a store does no I/O.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterable

from logreasoner.errors import ConfigError

__all__ = ["TemplateStore", "default_template_store_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS templates (
    system TEXT NOT NULL,
    template TEXT NOT NULL,
    source TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    lines INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    PRIMARY KEY (system, template)
);
"""


def default_template_store_path() -> Path:
    """``<cache dir>/parse_templates.sqlite`` (the cache dir of :func:`logreasoner.settings.get_settings`)."""
    from logreasoner.settings import get_settings

    return Path(get_settings().cache_dir) / "parse_templates.sqlite"


class TemplateStore:
    """``templates(system)`` / ``add(system, rows)`` / ``clear(system)`` over one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
            except (OSError, sqlite3.Error) as e:
                raise ConfigError(f"cannot open the template cache {self.path}: {e}",
                                  "pass --cache with a writable file, or --no-cache") from None
            self._db = db
        return self._db

    def templates(self, system: str, modelless: bool = True) -> list[str]:
        """The system's templates, most used first. ``modelless=False`` leaves out the Drain templates stored by
        runs without a model (a run with a model asks it about those lines rather than take them)."""
        where = "" if modelless else " AND NOT (source = 'drain' AND model = '')"
        with self._lock:
            rows = self._conn().execute(f"SELECT template FROM templates WHERE system = ?{where} "
                                        "ORDER BY lines DESC, template", (system,)).fetchall()
        return [r[0] for r in rows]

    def add(self, system: str, rows: Iterable[tuple[str, str, str, int]]) -> int:
        """Store ``(template, source, model, lines)`` rows; a known template adds to its line count, and a row from
        a run with a model (``model`` not empty) takes over its source and model."""
        now = time.time()
        data = [(system, t, src, model or "", int(n), now) for t, src, model, n in rows]
        if not data:
            return 0
        with self._lock:
            db = self._conn()
            db.execute("BEGIN")
            db.executemany("INSERT INTO templates (system, template, source, model, lines, created) "
                           "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (system, template) DO UPDATE SET "
                           "lines = lines + excluded.lines, "
                           "source = CASE WHEN excluded.model != '' THEN excluded.source ELSE source END, "
                           "model = CASE WHEN excluded.model != '' THEN excluded.model ELSE model END", data)
            db.execute("COMMIT")
        return len(data)

    def stats(self) -> dict[str, int]:
        """Templates per system."""
        with self._lock:
            rows = self._conn().execute("SELECT system, COUNT(*) FROM templates GROUP BY system").fetchall()
        return {s: n for s, n in rows}

    def clear(self, system: str | None = None) -> int:
        """Delete one system's templates (or all); returns how many rows went."""
        with self._lock:
            db = self._conn()
            cur = db.execute("DELETE FROM templates" + (" WHERE system = ?" if system else ""),
                             (system,) if system else ())
        return cur.rowcount

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
