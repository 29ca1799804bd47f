"""Usage counts of thought templates (retrievals that returned them), buffered in memory.

Counts are written at most every ``USAGE_FLUSH_SECONDS`` (or every ``USAGE_FLUSH_COUNT`` uses), when they are
read, when the store closes and at interpreter exit; a write that would wait for another writer is deferred to
the next flush, so counting never slows retrieval down.
"""

from __future__ import annotations

import atexit
import logging
import sqlite3
import threading
import time
import weakref
from contextlib import nullcontext
from typing import Iterable

from logreasoner.thoughts_db.db import Database, utc_now

__all__ = ["UsageCounter", "USAGE_FLUSH_SECONDS", "USAGE_FLUSH_COUNT"]

log = logging.getLogger(__name__)
USAGE_FLUSH_SECONDS = 5.0
USAGE_FLUSH_COUNT = 200
_NO_WAIT_SECONDS = 0.05  # how long a deferrable flush waits for another writer's lock
_COUNTING: "weakref.WeakSet[UsageCounter]" = weakref.WeakSet()  # counters that may hold unwritten counts


@atexit.register
def _flush_at_exit() -> None:
    for counter in list(_COUNTING):
        try:
            counter.flush(wait=False)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class UsageCounter:
    """The ``usage`` table of one :class:`~logreasoner.thoughts_db.db.Database`, with a write buffer."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}
        self._last_flush = time.monotonic()

    def record(self, template_ids: Iterable[str]) -> None:
        """Count a use of each template (buffered, see the module docstring)."""
        with self._lock:
            for t in template_ids:
                self._pending[t] = self._pending.get(t, 0) + 1
            total = sum(self._pending.values())
            due = total >= USAGE_FLUSH_COUNT or time.monotonic() - self._last_flush >= USAGE_FLUSH_SECONDS
        _COUNTING.add(self)
        if due:
            self.flush(wait=False)

    def flush(self, *, wait: bool = True) -> bool:
        """Write pending counts; with ``wait=False`` give up at once if another writer holds the lock.
        Returns whether nothing is left pending."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._last_flush = time.monotonic()
        if not pending:
            return True
        try:
            with (
                nullcontext() if wait else self.database.lock_wait(_NO_WAIT_SECONDS),
                self.database.write() as db,
            ):
                now = utc_now()
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
                    self._pending[tid] = self._pending.get(tid, 0) + n
            return False

    def counts(self, template_id: str | None = None) -> dict[str, int]:
        """Stored counts (pending ones written first), all (most used first) or one."""
        self.flush()
        if template_id is not None:
            rows = self.database.db.query("SELECT template_id, count FROM usage WHERE template_id = ?",
                                          [template_id])
        else:
            rows = self.database.db.query("SELECT template_id, count FROM usage ORDER BY count DESC, template_id")
        return {r["template_id"]: r["count"] for r in rows}

    def close(self) -> None:
        """Write pending counts (best effort: a failure is logged, not raised)."""
        try:
            self.flush()
        except sqlite3.Error as e:  # pragma: no cover - best effort at shutdown
            log.warning("thought store: usage counts not saved: %s", e)
        _COUNTING.discard(self)
