"""Streaming a large generated file in bounded memory; templates, spool and sessions on the way."""

from __future__ import annotations

import gzip
import random
import tracemalloc
from pathlib import Path

import pytest

from logreasoner.scale import SessionSpec, scan_stream

TEMPLATES = [
    "{ts} INFO dfs.DataNode: Receiving block blk_{a} src: /10.{b}.{c}.{d}:{e} dest: /10.{c}.{d}.{b}:50010",
    "{ts} WARN worker {a} heartbeat late by {b} ms",
    "{ts} ERROR job {a} failed: exit code {b}",
    "{ts} INFO session opened for user u{a} by (uid={b})",
    "{ts} INFO PacketResponder {b} for block blk_{a} terminating",
]


def write_log(path: Path, n: int, seed: int = 0, templates: list[str] = TEMPLATES) -> Path:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            t = templates[i % len(templates)]
            ts = f"2024-01-01 {(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}"
            f.write(t.format(ts=ts, a=rng.randint(0, 10**9), b=rng.randint(0, 255), c=rng.randint(0, 255),
                             d=rng.randint(0, 255), e=rng.randint(1024, 65535)) + "\n")
    return path


@pytest.mark.parametrize("n", [100_000, pytest.param(1_000_000, marks=pytest.mark.slow)])
def test_large_file_streams_in_bounded_memory(tmp_path, n):
    path = write_log(tmp_path / "big.log", n)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        with scan_stream(path) as scan:
            peak = tracemalloc.get_traced_memory()[1]
            assert scan.lines == n
            assert len(scan.templates) == len(TEMPLATES)
            assert sum(t.count for t in scan.templates.values()) == n
            # every line is in the spool, in order, with its template
            rows = scan.iter_lines()
            first = next(rows)
            assert first[1] == 1 and first[2] in scan.templates
            assert 1 + sum(1 for _ in rows) == n
    finally:
        tracemalloc.stop()
    # 100k lines are ~8 MB of text (1M: ~80 MB); holding them as LogLine objects would take several times that.
    # The peak is the same for both sizes: the Drain3 tree, the templates and one spool chunk.
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"


def test_templates_are_final_and_examples_bounded(tmp_path):
    path = write_log(tmp_path / "a.log", 500)
    with scan_stream(path, examples=3) as scan:
        texts = sorted(t.template for t in scan.templates.values())
        assert any("heartbeat late by <NUM> ms" in t for t in texts)
        assert all(1 <= len(t.examples) <= 3 for t in scan.templates.values())


def test_gzip_and_several_sources(tmp_path):
    a = write_log(tmp_path / "a.log", 300, seed=1)
    b = tmp_path / "b.log.gz"
    with gzip.open(b, "wt", encoding="utf-8") as f:
        f.write(write_log(tmp_path / "b.log", 200, seed=2).read_text())
    (tmp_path / "b.log").unlink()
    with scan_stream([str(a), str(b)]) as scan:
        assert scan.lines == 500
        srcs = {s for s, _, _ in scan.iter_lines()}
        assert srcs == {str(a), str(b)}


def test_sessions_by_id_hdfs_blocks(tmp_path):
    lines = [
        "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating",
        "081109 203807 222 INFO dfs.DataNode$PacketResponder: PacketResponder 0 for block blk_-6952295868487656571 terminating",
        "081109 204005 35 INFO dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated: 10.251.73.220:50010 is added to blk_38865049064139660 size 67108864",
        "081109 204106 329 INFO dfs.DataNode$PacketResponder: PacketResponder 2 for block blk_-6952295868487656571 terminating",
        "081109 204132 26 INFO dfs.FSNamesystem: BLOCK* NameSystem.delete: blk_1 blk_2 is added to invalidSet",
        "081109 204200 1 INFO dfs.DataNode: no block here",
    ]
    p = tmp_path / "hdfs.log"
    p.write_text("\n".join(lines) + "\n")
    with scan_stream(p, sessions=SessionSpec(by="id")) as scan:
        rows = {r["session"]: r for r in scan.iter_sessions()}
        assert set(rows) == {"blk_38865049064139660", "blk_-6952295868487656571", "blk_1", "blk_2"}
        assert rows["blk_38865049064139660"]["lines"] == 2
        assert rows["blk_-6952295868487656571"]["lines"] == 2
        # both two-line blocks hold the same set of templates? no: one has addStoredBlock, one has two responders
        assert rows["blk_38865049064139660"]["pattern_id"] != rows["blk_-6952295868487656571"]["pattern_id"]
        assert rows["blk_1"]["pattern_id"] == rows["blk_2"]["pattern_id"]  # same line, same pattern
        assert scan.lines_without_session == 1
        assert scan.sessions == 4 and len(scan.patterns) == 3


def test_sessions_by_count(tmp_path):
    path = write_log(tmp_path / "c.log", 1050)
    with scan_stream(path, sessions=SessionSpec(by="count", size=100)) as scan:
        rows = list(scan.iter_sessions())
        assert [r["lines"] for r in rows] == [100] * 10 + [50]
        assert rows[0]["session"] == "lines-1-100" and rows[0]["first"][1] == 1 and rows[0]["last"][1] == 100
        # 100 lines cycle through all five templates the same way: one pattern for every window
        assert len(scan.patterns) == 1


def test_sessions_by_time_with_untimed_lines(tmp_path):
    p = tmp_path / "t.log"
    p.write_text(
        "2024-01-01 00:00:05 INFO start\n"
        "  at java.lang.Thread.run(Thread.java:748)\n"  # no timestamp: joins the line before
        "2024-01-01 00:00:59 INFO tick 1\n"
        "2024-01-01 00:01:00 INFO tick 2\n"
        "2024-01-01 00:03:10 ERROR boom\n"
    )
    with scan_stream(p, sessions=SessionSpec(by="time", seconds=60, lateness=0)) as scan:
        rows = list(scan.iter_sessions())
        assert [r["lines"] for r in rows] == [3, 1, 1]
        assert [r["session"] for r in rows] == ["2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z", "2024-01-01T00:03:00Z"]
        assert rows[0]["end_ts"] - rows[0]["start_ts"] == 54


def test_session_state_is_bounded(tmp_path):
    # 1,000 ids, at most 10 open: the least recently active close first; sequences are capped
    p = tmp_path / "ids.log"
    with open(p, "w") as f:
        for i in range(1000):
            for _ in range(3):
                f.write(f"req id=r{i} step done\n")
    spec = SessionSpec(by="id", id_regex=r"id=(r\d+)", max_open=10, max_templates=2)
    from logreasoner.scale import StreamScanner

    sc = StreamScanner(sessions=spec)
    sc.scan(p)
    assert len(sc.sessionizer.open) <= 10
    with sc.finish() as scan:
        rows = list(scan.iter_sessions())
        assert len(rows) == 1000 and all(r["lines"] == 3 for r in rows)
        assert all(len(r["templates"]) == 2 and r["truncated"] for r in rows)


def test_idle_sessions_close(tmp_path):
    p = tmp_path / "idle.log"
    p.write_text("".join(f"job j{i % 3 if i < 9 else 9} running\n" for i in range(30)))
    from logreasoner.scale import StreamScanner

    sc = StreamScanner(sessions=SessionSpec(by="id", id_regex=r"j\d+", idle_lines=5))
    sc.scan(p)
    assert set(sc.sessionizer.open) == {"j9"}  # j0..j2 went idle and were closed mid-stream
    sc.finish().close()


def test_bad_session_options_are_refused():
    with pytest.raises(ValueError):
        SessionSpec(by="id", id_regex="blk_(")
    with pytest.raises(ValueError):
        SessionSpec(by="time", ts_format="%Y")
    with pytest.raises(ValueError):
        SessionSpec(by="weekly")


def test_one_token_lines_share_a_template(tmp_path):
    # Drain3 0.9.x opens a new cluster for every one-token line (HealthApp's a|b|c lines); the scanner does not
    from logreasoner.logs.templates import single_token_bug

    p = tmp_path / "health.log"
    p.write_text("".join(f"20171223-22:15:{i % 60:02d}:{i:03d}|Step_LSC|30002312|onStandStepChanged {i}\n"
                         f"20171223-22:15:{i % 60:02d}:{i:03d}|Step_SPUtils|30002312|setTodayTotalDetailSteps={i}##7007\n"
                         for i in range(200)))
    with scan_stream(p) as scan:
        assert len(scan.templates) == 2  # a two-token template and a one-token template
        assert sorted(t.count for t in scan.templates.values()) == [200, 200]
    from logreasoner.logs.reader import read_lines
    from logreasoner.logs.templates import TemplateGrouper

    g = TemplateGrouper()  # the excerpt's grouper has the same fix
    for line in read_lines(str(p)):
        g.add(line)
    assert sorted(x.count for x in g.groups.values()) == [200, 200]
    assert isinstance(single_token_bug(), bool)


def test_a_failed_scan_leaves_no_spool_files(tmp_path):
    from logreasoner.errors import InputError
    from logreasoner.scale import get_scale_settings

    spool = tmp_path / "spool"
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InputError):
        scan_stream([str(write_log(tmp_path / "ok.log", 50)), str(bad)], sessions=SessionSpec(by="count"),
                    settings=get_scale_settings(spool_dir=spool))
    assert list(spool.iterdir()) == []
    with scan_stream(tmp_path / "ok.log", sessions=SessionSpec(by="count"),
                     settings=get_scale_settings(spool_dir=spool)) as scan:
        assert len(list(spool.iterdir())) == 2
        assert scan.lines == 50
    assert list(spool.iterdir()) == []
