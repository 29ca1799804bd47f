"""The persistent answer cache: SQLite (WAL) in the toolkit's cache dir.

An answer is stored under (program fingerprint, model name, task, labels, template text). A second file from the
same system then costs only its new templates; a changed program, model, task or label set misses the cache.
Safe to share between threads (one connection behind a lock) and between processes (WAL, busy timeout).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from logreasoner.errors import ConfigError

__all__ = ["AnswerCache", "CachedAnswer", "cache_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    labels TEXT NOT NULL,
    template TEXT NOT NULL,
    answer TEXT,
    format_error TEXT,
    seconds REAL,
    created REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS answers_program ON answers (fingerprint, model, task);
"""


def _labels(labels: Iterable[str] | None) -> str:
    return json.dumps(sorted({str(x).strip() for x in labels or () if str(x).strip()}))


def cache_key(fingerprint: str, model: str, task: str, labels: Iterable[str] | None, template: str) -> str:
    """sha256 over the five parts (labels as a sorted set)."""
    blob = json.dumps([fingerprint, model, task, _labels(labels), template], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    answer: dict | None
    format_error: str | None
    seconds: float | None


class AnswerCache:
    """``get_many(keys)`` / ``put(key, ...)``; ``stats()`` says what it holds."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(f"cannot open the answer cache {self.path}: {e}",
                              "set LOGREASONER_SCALE_CACHE_PATH to a writable file, or run with --no-cache") from None
        self._lock = threading.Lock()

    @classmethod
    def default(cls) -> "AnswerCache":
        from logreasoner.scale.config import get_scale_settings

        return cls(get_scale_settings().resolved_cache_path())

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        keys = list(dict.fromkeys(keys))
        out: dict[str, CachedAnswer] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                q = f"SELECT key, answer, format_error, seconds FROM answers WHERE key IN ({','.join('?' * len(part))})"
                for key, answer, err, secs in self._db.execute(q, part):
                    out[key] = CachedAnswer(json.loads(answer) if answer is not None else None, err, secs)
            if out:
                found = list(out)
                for i in range(0, len(found), 500):
                    part = found[i:i + 500]
                    self._db.execute(f"UPDATE answers SET hits = hits + 1 WHERE key IN ({','.join('?' * len(part))})",
                                     part)
        return out

    def put(self, key: str, *, fingerprint: str, model: str, task: str, labels: Iterable[str] | None,
            template: str, answer: dict | None, format_error: str | None = None, seconds: float | None = None) -> None:
        row = (key, fingerprint, model, task, _labels(labels), template,
               json.dumps(answer, ensure_ascii=False) if answer is not None else None, format_error, seconds,
               time.time())
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, fingerprint, model, task, labels, template, answer, format_error,"
                " seconds, created) VALUES (?,?,?,?,?,?,?,?,?,?)", row)

    def stats(self) -> dict:
        with self._lock:
            n, failed, hits = self._db.execute(
                "SELECT COUNT(*), SUM(answer IS NULL), COALESCE(SUM(hits), 0) FROM answers").fetchone()
        return {"path": str(self.path), "answers": n, "failed": failed or 0, "hits": hits}

    def clear(self) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM answers").rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "AnswerCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
