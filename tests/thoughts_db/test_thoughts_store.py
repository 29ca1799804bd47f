"""The SQLite store: imports, reads, migration, interrupted imports, concurrency, the shipped library."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from logreasoner.errors import ConfigError, InputError
from logreasoner.thoughts_db import (
    SCHEMA_VERSION,
    FlowchartError,
    ThoughtStore,
    ThoughtTemplate,
    flowchart_to_plans,
    library_files,
    parse_mermaid,
)
from logreasoner.thoughts_db.schema import FTS_COLUMNS

FIXTURES = Path(__file__).parent / "fixtures"


def variant(fc, i: int, *, extra_check: bool = False):
    """A copy of the fixture chart under another id (optionally with one more node)."""
    v = fc.copy(id=f"{fc.id}-{i}", title=f"{fc.title} {i}")
    if extra_check:
        v.graph.remove_edge("S0", "C1")
        v.add_node("C9", "check", "Check: the mount table")
        v.add_edge("S0", "C9")
        v.add_edge("C9", "C1")
    return v


def counts(path: Path) -> dict[str, int]:
    con = sqlite3.connect(path)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("flowcharts", "nodes", "edges", "templates", "tags", "provenance")}
    finally:
        con.close()


def test_new_store_is_wal_and_current_schema(store):
    assert store.schema_version == SCHEMA_VERSION
    assert store._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = set(store.db.table_names())
    assert {"flowcharts", "nodes", "edges", "templates", "provenance", "tags", "usage", "embeddings",
            "schema_version", "meta", "templates_fts"} <= tables


def test_import_and_read_back(store, disk_full, disk_full_path):
    res = store.import_flowcharts([disk_full_path])
    assert res.flowcharts == ["fixture-disk-full"] and res.templates == 3
    assert any("cycle" in w for w in res.warnings)
    assert store.get_flowchart("fixture-disk-full") == disk_full
    stored = store.templates(flowchart_id="fixture-disk-full")
    assert [t.model_dump() for t in stored] == [t.model_dump() for t in flowchart_to_plans(disk_full)]
    assert store.get_template(stored[0].id).provenance == stored[0].provenance
    (row,) = store.list_flowcharts()
    assert row["nodes"] == 10 and row["edges"] == 10 and row["templates"] == 3 and row["origin"] == "user"
    assert store.list_flowcharts(task="parse") == [] and len(store.list_flowcharts(system="hdfs")) == 1
    s = store.stats()
    assert s["flowcharts"] == 1 and s["templates"] == 3 and s["templates_by_task"] == {"anomaly": 3, "rca": 3}


def test_replace_and_no_replace(store, disk_full):
    store.import_flowcharts(disk_full)
    changed = variant(disk_full, 0, extra_check=True).copy(id=disk_full.id, title=disk_full.meta.title)
    store.import_flowcharts(changed)
    assert store.get_flowchart(disk_full.id) == changed
    assert counts(store.path)["nodes"] == 11 and counts(store.path)["flowcharts"] == 1
    with pytest.raises(FlowchartError, match="already in the store"):
        store.import_flowcharts(disk_full, replace=False)
    assert store.get_flowchart(disk_full.id) == changed


def test_unchanged_chart_is_not_rewritten(tmp_path, disk_full):
    store = ThoughtStore(tmp_path / "u.db", embeddings=False)
    store.import_flowcharts(disk_full)
    store.put_embeddings("m", [t.id for t in store.templates()], [[1.0, 0.0]] * 3)
    gen = store.generation
    res = store.import_flowcharts(disk_full)
    assert res.flowcharts == [] and res.unchanged == [disk_full.id] and store.generation == gen
    assert store.stats()["embeddings"] == {"m": 3}  # kept
    assert store.import_flowcharts(disk_full, origin="library").flowcharts == [disk_full.id]  # origin differs
    assert store.stats()["embeddings"] == {}  # rewritten templates lose their vectors
    store.close()


def test_invalid_chart_stops_the_import_or_is_skipped(store, disk_full):
    broken = FIXTURES / "broken.mmd"
    with pytest.raises(FlowchartError, match="X9 is not reachable"):
        store.import_flowcharts([disk_full, broken])
    assert counts(store.path)["flowcharts"] == 0
    res = store.import_flowcharts([disk_full, broken], strict=False)
    assert res.flowcharts == [disk_full.id] and "broken.mmd" in res.skipped[0]
    with pytest.raises(FlowchartError, match="also used by"):
        store.import_flowcharts([disk_full, disk_full.copy()])
    with pytest.raises(InputError, match="no flowchart file"):
        store.import_flowcharts(["/nonexistent/chart.mmd"])


def test_unknown_ids_suggest_close_matches(store, disk_full):
    store.import_flowcharts(disk_full)
    with pytest.raises(InputError, match="did you mean fixture-disk-full"):
        store.get_flowchart("fixture-disk-ful")
    with pytest.raises(InputError, match="no template"):
        store.get_template("nope")


def test_delete_cascades_and_keeps_fts_in_step(store, disk_full):
    store.import_flowcharts(disk_full)
    assert store.retrieve("inode exhaustion", k=1, record_usage=False)
    store.delete_flowchart(disk_full.id)
    assert counts(store.path) == {t: 0 for t in ("flowcharts", "nodes", "edges", "templates", "tags", "provenance")}
    assert store.retrieve("inode exhaustion", k=1) == []
    con = sqlite3.connect(store.path)
    con.execute("INSERT INTO templates_fts(templates_fts) VALUES ('integrity-check')")  # raises if out of step
    con.close()


def test_abstracted_templates_survive_reimport(store, disk_full):
    store.import_flowcharts(disk_full)
    t = ThoughtTemplate(id="abstract:x", title="Full disk", problem_overview="A volume fills up.",
                        reasoning_steps=["Check usage"], tasks=["rca"], flowchart_id=disk_full.id, origin="abstracted")
    store.add_templates([t])
    changed = variant(disk_full, 0, extra_check=True).copy(id=disk_full.id, title=disk_full.meta.title)
    assert store.import_flowcharts(changed).flowcharts == [disk_full.id]  # rewritten: its templates replaced
    assert store.get_template("abstract:x").title == "Full disk"
    with pytest.raises(InputError, match="not stored"):
        store.add_templates([t.model_copy(update={"flowchart_id": "missing"})])
    with pytest.raises(InputError, match="origin 'flowchart'"):
        store.add_templates([t.model_copy(update={"origin": "flowchart"})])


def test_export_round_trip(store, disk_full, tmp_path):
    store.import_flowcharts([disk_full, variant(disk_full, 1)])
    for fmt in ("mermaid", "json"):
        paths = store.export(tmp_path / fmt, fmt=fmt)
        assert sorted(p.name for p in paths) == sorted(
            f"{i}.{'mmd' if fmt == 'mermaid' else 'json'}" for i in (disk_full.id, f"{disk_full.id}-1"))
        other = ThoughtStore(tmp_path / f"{fmt}.db", embeddings=False)
        other.import_flowcharts([tmp_path / fmt])
        assert other.get_flowchart(disk_full.id) == disk_full
        other.close()


# ---------------------------------------------------------------------------------------------- migration
OLD_V1_SCHEMA = """
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL, description TEXT NOT NULL DEFAULT '');
CREATE TABLE flowcharts (id TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '',
  meta TEXT NOT NULL, mermaid TEXT NOT NULL, content_hash TEXT NOT NULL, origin TEXT NOT NULL DEFAULT 'user',
  imported_at TEXT NOT NULL);
CREATE TABLE nodes (flowchart_id TEXT NOT NULL REFERENCES flowcharts(id) ON DELETE CASCADE, node_id TEXT NOT NULL,
  position INTEGER NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL, PRIMARY KEY (flowchart_id, node_id));
CREATE TABLE edges (flowchart_id TEXT NOT NULL REFERENCES flowcharts(id) ON DELETE CASCADE, position INTEGER NOT NULL,
  src TEXT NOT NULL, dst TEXT NOT NULL, condition TEXT, PRIMARY KEY (flowchart_id, src, dst));
CREATE TABLE templates (id TEXT PRIMARY KEY, flowchart_id TEXT REFERENCES flowcharts(id) ON DELETE CASCADE,
  title TEXT NOT NULL DEFAULT '', problem_overview TEXT NOT NULL DEFAULT '', key_challenges TEXT NOT NULL DEFAULT '[]',
  reasoning_steps TEXT NOT NULL DEFAULT '[]', source TEXT, origin TEXT NOT NULL DEFAULT 'flowchart',
  node_path TEXT NOT NULL DEFAULT '[]', tags TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL);
CREATE TABLE provenance (template_id TEXT NOT NULL REFERENCES templates(id) ON DELETE CASCADE, step INTEGER NOT NULL,
  flowchart_id TEXT, node_ids TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (template_id, step));
INSERT INTO schema_version VALUES (1, '2025-01-01T00:00:00+00:00', 'first layout');
"""


def test_old_schema_is_migrated(tmp_path):
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript(OLD_V1_SCHEMA)
    meta = {"id": "zk-old", "title": "Zookeeper quorum (old)", "tasks": ["anomaly"], "systems": ["Zookeeper"],
            "components": [], "keywords": [], "source": "v1"}
    con.execute("INSERT INTO flowcharts VALUES ('zk-old', 'Zookeeper quorum (old)', 'v1', ?, '', 'h', 'user', 'now')",
                (json.dumps(meta),))
    con.executemany("INSERT INTO nodes VALUES ('zk-old', ?, ?, ?, ?)", [
        ("S0", 0, "symptom", "Symptom: followers cannot reach the leader"),
        ("K1", 1, "conclusion", "Conclusion: quorum lost")])
    con.execute("INSERT INTO edges VALUES ('zk-old', 0, 'S0', 'K1', NULL)")
    con.execute(
        "INSERT INTO templates VALUES ('zk-old:S0-K1', 'zk-old', 'Quorum lost', 'Election keeps restarting', "
        "'[\"many notifications\"]', '[\"Conclude: quorum lost\"]', 'zk-old', 'flowchart', '[\"S0\", \"K1\"]', "
        "'[\"task:anomaly\", \"system:Zookeeper\", \"component:QuorumPeer\"]', 'now')")
    con.execute("INSERT INTO provenance VALUES ('zk-old:S0-K1', 0, 'zk-old', '[\"K1\"]')")
    con.commit()
    con.close()

    store = ThoughtStore(path, embeddings=False)
    assert store.schema_version == SCHEMA_VERSION == 3
    versions = [r["version"] for r in store.db.query("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [1, 2, 3]
    cols = [c.name for c in store.db["templates"].columns]
    assert "tags" not in cols and "search_text" in cols
    t = store.get_template("zk-old:S0-K1")
    assert (t.tasks, t.systems, t.components) == (["anomaly"], ["Zookeeper"], ["QuorumPeer"])
    assert t.provenance[0].node_ids == ["K1"]
    # the FTS index was built from the migrated rows: tag words and titles are searchable
    assert [p.id for p in store.retrieve("QuorumPeer zookeeper", task="anomaly", k=1)] == ["zk-old:S0-K1"]
    assert store.retrieve("QuorumPeer zookeeper", task="rca", k=1) == []  # tagged anomaly only: filtered in SQL
    assert store.get_flowchart("zk-old").meta.systems == ["Zookeeper"]
    store.import_flowcharts(FIXTURES / "disk_full.mmd")  # and it works as a current store
    assert store.stats()["templates"] == 4
    store.close()


def test_newer_schema_is_refused(tmp_path, store):
    store.db.execute("INSERT INTO schema_version VALUES (99, 'later', 'from the future')")
    with pytest.raises(ConfigError, match="newer than this logreasoner"):
        ThoughtStore(store.path, embeddings=False)


def test_not_a_thought_store(tmp_path):
    p = tmp_path / "other.db"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE x (a)")
    con.close()
    with pytest.raises(ConfigError, match="not a thought store"):
        ThoughtStore(p, embeddings=False)


def test_failed_migration_leaves_previous_version(tmp_path, monkeypatch):
    from logreasoner.thoughts_db import schema

    path = tmp_path / "m.db"
    con = sqlite3.connect(path)
    con.executescript(OLD_V1_SCHEMA)
    con.close()

    def boom(conn):
        conn.execute("CREATE TABLE tags (x)")
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(schema.MIGRATIONS, 2, ("broken", boom))
    with pytest.raises(RuntimeError, match="disk on fire"):
        ThoughtStore(path, embeddings=False)
    con = sqlite3.connect(path)
    assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == 1
    assert not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'tags'").fetchone()
    con.close()


# ------------------------------------------------------------------------------------- interrupted imports
def test_import_failing_half_way_leaves_nothing(store, disk_full, monkeypatch):
    store.import_flowcharts(variant(disk_full, 0))
    before = counts(store.path)
    gen = store.generation
    real = ThoughtStore._write_flowchart
    calls = []

    def failing(self, db, fc, templates, *, origin):
        real(self, db, fc, templates, origin=origin)
        calls.append(fc.id)
        if len(calls) == 2:
            raise KeyboardInterrupt("interrupted after two charts were written")

    monkeypatch.setattr(ThoughtStore, "_write_flowchart", failing)
    with pytest.raises(KeyboardInterrupt):
        store.import_flowcharts([variant(disk_full, i) for i in (1, 2, 3)] + [variant(disk_full, 0, extra_check=True)])
    assert len(calls) == 2
    assert counts(store.path) == before and store.generation == gen
    assert store.flowchart_ids() == [f"{disk_full.id}-0"]
    monkeypatch.undo()
    store.import_flowcharts(variant(disk_full, 1))  # the store is usable afterwards
    assert len(store.flowchart_ids()) == 2


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from logreasoner.thoughts_db import ThoughtStore, load_flowchart
    from logreasoner.thoughts_db.store import ThoughtStore as S
    real = S._write_flowchart
    n = [0]
    def killing(self, db, fc, templates, *, origin):
        real(self, db, fc, templates, origin=origin)
        n[0] += 1
        if n[0] == 2:
            sys.stdout.write("killing\\n"); sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    S._write_flowchart = killing
    fc = load_flowchart(sys.argv[2])
    store = ThoughtStore(sys.argv[1], embeddings=False)
    store.import_flowcharts([fc.copy(id=f"killed-{i}") for i in range(4)])
    print("not reached")
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_import_killed_half_way_leaves_no_partial_flowchart(store, disk_full, disk_full_path):
    store.import_flowcharts(disk_full)
    before = counts(store.path)
    store.close()
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(store.path), str(disk_full_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert "killing" in proc.stdout and "not reached" not in proc.stdout
    assert counts(store.path) == before
    again = ThoughtStore(store.path, embeddings=False)
    assert again._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert again.flowchart_ids() == [disk_full.id]
    assert not any(p.id.startswith("killed-") for p in again.retrieve("inode quota volume", k=10))
    again.close()


# -------------------------------------------------------------------------------------------- concurrency
def test_concurrent_readers_see_whole_flowcharts_while_a_writer_writes(tmp_path, disk_full):
    path = tmp_path / "c.db"
    a = variant(disk_full, 0).copy(id="flip")  # 10 nodes, 3 templates
    b = variant(disk_full, 0, extra_check=True).copy(id="flip")  # 11 nodes
    ThoughtStore(path, embeddings=False).import_flowcharts(a)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen_sizes: set[int] = set()
    reads = [0]

    def writer():
        w = ThoughtStore(path, embeddings=False)
        try:
            for i in range(30):
                w.import_flowcharts([b if i % 2 == 0 else a, variant(disk_full, 100 + i)])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            w.close()
            stop.set()

    def reader():
        r = ThoughtStore(path, embeddings=False)
        try:
            while not stop.is_set():
                fc = r.get_flowchart("flip")
                assert fc == a or fc == b, "a reader saw a half-written flowchart"
                seen_sizes.add(fc.graph.number_of_nodes())
                for row in r.list_flowcharts():
                    assert row["templates"] == 3 and row["nodes"] in (10, 11), row
                r.retrieve("inode usage", k=2)
                reads[0] += 1
        except BaseException as e:
            errors.append(e)
            stop.set()
        finally:
            r.close()

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert reads[0] > 3
    final = ThoughtStore(path, embeddings=False)
    assert len(final.flowchart_ids()) == 31 and final.usage()  # readers' usage counts were recorded
    final.close()


WRITER_SCRIPT = textwrap.dedent("""
    import sys
    from logreasoner.thoughts_db import ThoughtStore, load_flowchart
    fc = load_flowchart(sys.argv[2])
    s = ThoughtStore(sys.argv[1], embeddings=False)
    for i in range(40):
        s.import_flowcharts([fc.copy(id=f"proc-{i}")])
    s.close()
""")


def test_reader_threads_while_a_writer_process_writes(tmp_path, disk_full_path):
    path = tmp_path / "p.db"
    reader = ThoughtStore(path, embeddings=False)
    proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(path), str(disk_full_path)],
                            stderr=subprocess.PIPE, text=True)
    seen = 0
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        for row in reader.list_flowcharts():
            assert (row["nodes"], row["edges"], row["templates"]) == (10, 10, 3)
        seen = max(seen, len(reader.flowchart_ids()))
        time.sleep(0.01)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert len(reader.flowchart_ids()) == 40
    reader.close()


# ------------------------------------------------------------------------------------------------ library
def test_library_loads_once_and_reloads_when_files_change(tmp_path, disk_full_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(disk_full_path, lib / "disk.mmd")
    store = ThoughtStore(tmp_path / "l.db", embeddings=False)
    assert store.load_library(lib) is True
    assert store.load_library(lib) is False  # same hash: nothing to do
    assert store.list_flowcharts()[0]["origin"] == "library"
    # a changed file is reloaded; a removed one disappears; a broken one is skipped with a warning
    text = disk_full_path.read_text().replace("Disk full on a data node", "Disk full on a DataNode")
    (lib / "disk.mmd").write_text(text)
    (lib / "broken.mmd").write_text((FIXTURES / "broken.mmd").read_text())
    with pytest.warns(UserWarning, match="skipped broken.mmd"):
        assert store.load_library(lib) is True
    assert store.get_flowchart("fixture-disk-full").meta.title == "Disk full on a DataNode"
    (lib / "disk.mmd").unlink()
    (lib / "broken.mmd").unlink()
    (lib / "other.mmd").write_text(text.replace("id: fixture-disk-full", "id: other-chart"))
    assert store.load_library(lib) is True
    assert store.flowchart_ids() == ["other-chart"]
    # a user's chart with a library id is kept
    store.import_flowcharts(parse_mermaid(text.replace("id: fixture-disk-full", "id: other-chart")
                                          .replace("DataNode\n", "DataNode (mine)\n", 1)))
    assert store.load_library(lib, force=True) is True
    assert store.list_flowcharts()[0]["origin"] == "user"
    store.close()


def test_default_store_uses_cache_dir_and_ships_the_library(tmp_path, monkeypatch):
    files = library_files()
    assert len(files) >= 40, "the package must ship the flowchart library (thoughts_db/library/*.mmd)"
    monkeypatch.setenv("LOGREASONER_CACHE_DIR", str(tmp_path / "cache"))
    store = ThoughtStore.default(embeddings=False)
    assert store.path == tmp_path / "cache" / "thoughts.db"
    s = store.stats()
    assert s["library_flowcharts"] == len(files) and s["templates"] > len(files)
    h = store.get_meta("library_hash")
    store.close()
    again = ThoughtStore.default(embeddings=False)
    assert again is store  # one store per file in a process; closing it only closed its connections
    assert again.get_meta("library_hash") == h and again.load_library() is False
    plans = again.retrieve("", task="parse", k=2)  # no words: the task's method chart is still a candidate
    assert plans and all(p.source == "method-log-parsing" for p in plans)
    again.close()


def test_memory_path_is_refused():
    with pytest.raises(InputError, match="needs a file"):
        ThoughtStore(":memory:")


def test_fts_columns_cover_tags(store, disk_full):
    store.import_flowcharts(disk_full)
    row = next(store.db.query("SELECT search_text FROM templates LIMIT 1"))
    assert "DiskOutOfSpaceException" in row["search_text"] and "search_text" in FTS_COLUMNS
