"""The thought store's database layer: one SQLite file in WAL mode, a connection per thread, transactions,
migrations and the ``meta`` table.

- WAL lets readers go on while one writer writes; each thread gets its own connection, every connection waits
  up to ``busy_timeout`` seconds for a lock and memory-maps the file for reads.
- :meth:`Database.write` is one ``BEGIN IMMEDIATE`` transaction (all or nothing), :meth:`Database.read` one
  snapshot for several queries.
- Opening a database with an older schema migrates it (see :mod:`logreasoner.thoughts_db.schema`); a file that
  is not a thought store is refused before SQLite writes to it.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import sqlite_utils

from logreasoner.errors import ConfigError, InputError
from logreasoner.thoughts_db.schema import migrate, schema_version

__all__ = ["Database", "check_db_file", "utc_now", "MMAP_BYTES"]

MMAP_BYTES = 1 << 30  # at most this much of the database file is memory-mapped (SQLite caps it to the file)
_SQLITE_MAGIC = b"SQLite format 3\x00"


def utc_now() -> str:
    """The timestamp written to the store's ``*_at`` and ``last_used`` columns."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_db_file(path: Path) -> None:
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


class Database:
    """A thought store's SQLite file, opened (created with its folder when missing) and migrated.

    Args:
        path: the SQLite file; ``":memory:"`` is refused (other threads and processes could not see it).
        busy_timeout: seconds a connection waits for another writer's lock.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        if str(path) == ":memory:":
            raise InputError("the thought store needs a file", "pass a path such as /tmp/thoughts.db")
        self.path = Path(path).expanduser()
        check_db_file(self.path)  # before sqlite touches it: a file that is not a store is never written to
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot create the folder for the thought store {self.path}: {e}",
                              "pass a writable --db path") from None
        self.busy_timeout = float(busy_timeout)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            conn = self.connection()
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
    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use, again after :meth:`close`)."""
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
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's sqlite-utils ``Database``."""
        self.connection()
        return self._local.db

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """One write transaction (``BEGIN IMMEDIATE``): all or nothing."""
        conn = self.connection()
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
    def read(self) -> Iterator[sqlite_utils.Database]:
        """Several queries on one snapshot (a deferred read transaction); nests inside an open transaction."""
        conn = self.connection()
        if conn.in_transaction:
            yield self._local.db
            return
        conn.execute("BEGIN")
        try:
            yield self._local.db
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    @contextmanager
    def lock_wait(self, seconds: float) -> Iterator[None]:
        """Inside the block this thread's connection waits at most ``seconds`` for another writer's lock."""
        conn = self.connection()
        conn.execute(f"PRAGMA busy_timeout={int(seconds * 1000)}")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")

    def close(self) -> None:
        """Close every connection opened so far; the next use opens new ones."""
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.close()
            except sqlite3.Error:  # pragma: no cover
                pass
        self._local = threading.local()

    # -- schema version, change generation, metadata ------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return schema_version(self.connection())

    @property
    def generation(self) -> int:
        """A counter every change of charts, templates or embeddings bumps (caches compare it)."""
        row = self.connection().execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def bump_generation(self, db: sqlite_utils.Database) -> None:
        """Count a change, inside the write transaction ``db``."""
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def get_meta(self, key: str) -> str | None:
        row = self.connection().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, db: sqlite_utils.Database, key: str, value: str) -> None:
        """Set a ``meta`` entry, inside the write transaction ``db``."""
        db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                   [key, value])
