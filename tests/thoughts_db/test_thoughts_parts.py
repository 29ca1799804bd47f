"""The store's parts on their own: database layer, usage counter, chart preparation, repository, retriever,
export, and the flowchart writers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest

from logreasoner.errors import InputError
from logreasoner.thoughts_db import ThoughtStore, to_json, to_mermaid
from logreasoner.thoughts_db.db import Database
from logreasoner.thoughts_db.export import export_flowcharts
from logreasoner.thoughts_db.indexes import Indexes
from logreasoner.thoughts_db.prepare import prepare_import
from logreasoner.thoughts_db.repository import ThoughtRepository
from logreasoner.thoughts_db.retrieve import Retriever
from logreasoner.thoughts_db.usage import UsageCounter
from logreasoner.thoughts_db.writers import to_mermaid as write_mermaid


def parts(path):
    database = Database(path)
    repository = ThoughtRepository(database)
    counter = UsageCounter(database)
    return database, repository, counter, Retriever(database, repository, Indexes(database, False), counter)


def test_database_connection_per_thread_and_lock_wait(tmp_path):
    database = Database(tmp_path / "d.db", busy_timeout=2)
    mine = database.connection()
    assert database.connection() is mine
    other = []
    t = threading.Thread(target=lambda: other.append(database.connection()))
    t.start()
    t.join()
    assert other[0] is not mine
    with database.lock_wait(0.05):
        assert mine.execute("PRAGMA busy_timeout").fetchone()[0] == 50
    assert mine.execute("PRAGMA busy_timeout").fetchone()[0] == 2000
    with database.write() as db:
        with database.read() as inner:  # a read nests inside the open write
            assert inner is db
        database.bump_generation(db)
    assert database.generation == 1
    database.close()
    assert database.connection() is not mine  # reopens after close
    database.close()
    with pytest.raises(InputError, match="needs a file"):
        Database(":memory:")


def test_usage_counter_defers_while_another_writer_holds_the_lock(tmp_path):
    database = Database(tmp_path / "u.db")
    counter = UsageCounter(database)
    counter.record(["a", "b", "a"])
    blocker = sqlite3.connect(database.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    assert counter.flush(wait=False) is False  # kept for the next flush
    blocker.execute("COMMIT")
    blocker.close()
    assert counter.counts() == {"a": 2, "b": 1}
    counter.close()
    database.close()


def test_usage_counts_are_flushed_at_exit(tmp_path):
    script = textwrap.dedent("""
        import sys
        from logreasoner.thoughts_db.db import Database
        from logreasoner.thoughts_db.usage import UsageCounter
        counter = UsageCounter(Database(sys.argv[1]))
        counter.record(["t1", "t1"])
    """)
    path = tmp_path / "x.db"
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=120)
    database = Database(path)
    assert UsageCounter(database).counts() == {"t1": 2}
    database.close()


def test_prepare_is_pure_and_the_parts_make_a_store(tmp_path, disk_full):
    twin = disk_full.copy()
    prepared, result = prepare_import([disk_full, twin], strict=False)
    assert [fc.id for fc, _ in prepared] == [disk_full.id]
    assert result.skipped and "also used by" in result.skipped[0] and not result.flowcharts

    database, repository, counter, retriever = parts(tmp_path / "p.db")
    fc, templates = prepared[0]
    with database.write() as db:
        assert repository.write_flowchart(db, fc, templates, origin="user")
        assert not repository.write_flowchart(db, fc, templates, origin="user")  # unchanged: left alone
    assert repository.get_flowchart(fc.id) == disk_full
    plans = retriever.retrieve("no space left on device", k=2, theta=None)
    assert plans and all(p.id in {t.id for t in templates} for p in plans)
    assert counter.counts() == {p.id: 1 for p in plans}
    counter.close()
    database.close()

    store = ThoughtStore(tmp_path / "p.db", embeddings=False)  # the facade reads what the parts wrote
    assert [p.id for p in store.retrieve("no space left on device", k=2, theta=None, record_usage=False)] == \
        [p.id for p in plans]
    store.close()


def test_writers_and_export(store, disk_full, tmp_path):
    assert disk_full.to_mermaid() == write_mermaid(disk_full) == to_mermaid(disk_full)
    assert disk_full.to_json() == to_json(disk_full)
    store.import_flowcharts(disk_full)
    [path] = export_flowcharts(store.repository, tmp_path / "out", fmt="json")
    assert path.name == f"{disk_full.id}.json" and path.read_text(encoding="utf-8") == to_json(disk_full)
    with pytest.raises(InputError, match="export format"):
        export_flowcharts(store.repository, tmp_path / "out", fmt="dot")
