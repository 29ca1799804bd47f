"""What the index files beside the store share: the change log they follow, a lock between processes, and
atomic writes of their JSON sidecars.

The store's ``index_log`` table (schema 3, kept by triggers) lists in order the template rowids whose text
(``model = ''``) or vector (``model`` = the embedder's name) was written, or that were deleted (``NULL``). An
index file records the log position it reflects; bringing it up to date means re-reading the templates
touched since.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Iterator

__all__ = ["log_head", "touched_since", "file_lock", "write_json", "read_json", "TEXT"]

TEXT = ""  # the index_log "model" of a template's text


def log_head(conn: sqlite3.Connection) -> int:
    """The store's current change-log position (0 when nothing was logged)."""
    return conn.execute("SELECT coalesce(max(seq), 0) FROM index_log").fetchone()[0]


def touched_since(conn: sqlite3.Connection, since: int, head: int, model: str) -> list[int]:
    """Template rowids whose ``model`` entry (``TEXT`` for the text) changed, or that were deleted, after
    position ``since`` up to ``head``."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT tpl FROM index_log WHERE seq > ? AND seq <= ? AND (model IS NULL OR model = ?)",
        (since, head, model))]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``<path>.lock`` between processes (none in a read-only folder or off POSIX)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        fh = open(path.with_name(path.name + ".lock"), "a+")
    except OSError:  # a read-only folder: the index lives in memory only
        yield
        return
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (readers see the old or the new)."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def read_json(path: Path, expected: dict) -> dict | None:
    """The JSON object at ``path`` when it carries every key/value of ``expected``, else None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or any(data.get(k) != v for k, v in expected.items()):
        return None
    return data
