"""Template-aware reasoning: one model call per distinct template, cache hits across files, the concurrency bound."""

from __future__ import annotations

import json
import sqlite3

import pytest
from scale_fakes import CountingEngine, counting_lm

from logreasoner.scale import AnswerCache, ReasonItem, SessionSpec, TemplateReasoner, scan_log


def _log(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


A = [
    "2024-01-01 00:00:{s:02d} INFO worker {n} started",
    "2024-01-01 00:00:{s:02d} ERROR worker {n} crashed with code {m}",
    "2024-01-01 00:00:{s:02d} INFO heartbeat from 10.0.{n}.{m} ok",
]
B_NEW = ["2024-01-02 00:00:{s:02d} WARN disk {n} is {m} percent full"]


def _lines(templates, n, seed=0):
    import random

    rng = random.Random(seed)
    return [templates[i % len(templates)].format(s=i % 60, n=rng.randint(0, 999), m=rng.randint(0, 255))
            for i in range(n)]


@pytest.fixture
def cache(tmp_path):
    c = AnswerCache(tmp_path / "answers.sqlite")
    yield c
    c.close()


def test_calls_equal_distinct_templates_and_every_line_gets_an_answer(tmp_path, cache):
    log = _log(tmp_path / "a.log", _lines(A, 3000))
    lm = counting_lm()
    out = tmp_path / "out.jsonl"
    r = scan_log(log, model=lm, program="direct", cache=cache, out=out)
    assert r.lines == 3000 and r.templates == 3
    assert r.model_calls == 3 == lm.engine.calls == r.lm_requests
    assert r.naive_calls == 3000 and r.calls_per_1000_lines == 1.0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 3000 and [x["line"] for x in rows] == list(range(1, 3001))
    # the counting model says abnormal for the template with a severity word, normal otherwise
    by_line = {x["line"]: x["verdict"] for x in rows}
    assert by_line[2] == "abnormal" and by_line[1] == "normal" and by_line[3] == "normal"
    assert r.counts == {"normal": 2000, "abnormal": 1000}


def test_second_file_costs_only_its_new_templates(tmp_path, cache):
    a = _log(tmp_path / "a.log", _lines(A, 600, seed=1))
    b = _log(tmp_path / "b.log", _lines(A + B_NEW, 800, seed=2))
    lm = counting_lm()
    r1 = scan_log(a, model=lm, program="direct", cache=cache)
    assert (r1.model_calls, r1.cache_hits) == (3, 0)
    r2 = scan_log(b, model=lm, program="direct", cache=cache)
    assert (r2.model_calls, r2.cache_hits) == (1, 3)
    assert lm.engine.calls == 4
    # a third run over either file costs nothing
    r3 = scan_log(b, model=lm, program="direct", cache=cache)
    assert (r3.model_calls, r3.cache_hits) == (0, 4) and lm.engine.calls == 4
    # the cache is SQLite in WAL mode
    assert sqlite3.connect(cache.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert cache.stats()["answers"] == 4


def test_cache_key_separates_program_model_task_and_labels(tmp_path, cache):
    log = _log(tmp_path / "a.log", _lines(A, 90))
    lm = counting_lm()
    scan_log(log, model=lm, program="direct", cache=cache)
    assert scan_log(log, model=lm, program="cot", cache=cache).model_calls == 3  # another program
    assert scan_log(log, model=counting_lm(name="fake/other"), program="direct", cache=cache).model_calls == 3
    assert scan_log(log, model=lm, program="direct", task="interpret", cache=cache).model_calls == 3
    d1 = scan_log(log, model=lm, program="direct", task="diagnosis", labels=["crash", "ok"], cache=cache)
    d2 = scan_log(log, model=lm, program="direct", task="diagnosis", labels=["ok", "crash"], cache=cache)
    d3 = scan_log(log, model=lm, program="direct", task="diagnosis", labels=["crash", "ok", "disk"], cache=cache)
    assert (d1.model_calls, d2.model_calls, d3.model_calls) == (3, 0, 3)  # label order does not matter


def test_program_fingerprint_follows_its_state():
    from logreasoner.programs import build_program
    from logreasoner.scale import program_fingerprint

    p1, p2 = build_program("direct", "anomaly"), build_program("direct", "anomaly")
    assert program_fingerprint(p1, "direct") == program_fingerprint(p2, "direct")
    import dspy

    p2.predict.demos = [dspy.Example(log_excerpt="x", question="", answer={"verdict": "normal"})]
    assert program_fingerprint(p1, "direct") != program_fingerprint(p2, "direct")
    assert program_fingerprint(p1, "direct") != program_fingerprint(p1, "cot")


@pytest.mark.parametrize("bound", [1, 3])
def test_concurrency_bound_is_respected(bound):
    lm = counting_lm(delay=0.03)
    r = TemplateReasoner("direct", lm, cache=None, concurrency=bound)
    items = [ReasonItem(f"template {i}", f"line {i} ok") for i in range(12)]
    out = r.run(items)
    assert len(out) == 12 and lm.engine.calls == 12
    assert lm.engine.max_in_flight == bound  # reached, never exceeded
    assert r.stats.max_in_flight == bound


def test_concurrency_default_comes_from_the_setting(monkeypatch):
    monkeypatch.setenv("LOGREASONER_SCALE_CONCURRENCY", "2")
    lm = counting_lm(delay=0.03)
    r = TemplateReasoner("direct", lm, cache=None)
    r.run([ReasonItem(f"t{i}", f"l{i}") for i in range(8)])
    assert lm.engine.max_in_flight == 2
    monkeypatch.setenv("LOGREASONER_SCALE_CONCURRENCY", "0")
    from logreasoner.scale import get_scale_settings

    with pytest.raises(ValueError):
        get_scale_settings()


def test_in_process_engines_are_called_from_one_thread():
    import dspy

    from logreasoner.lm.engine_base import LocalEngine
    from logreasoner.scale import is_serial_lm

    class Serial(LocalEngine):
        def _generate(self, messages, **kw):
            return '{"answer": {"verdict": "normal", "evidence_lines": []}}', 10, 5, "stop"

    eng = Serial()
    lm = dspy.LM("local/serial", engine=eng, cache=False)
    assert is_serial_lm(lm) and not is_serial_lm(counting_lm())
    r = TemplateReasoner("direct", lm, cache=None, concurrency=16)
    out = r.run([ReasonItem(f"t{i}", f"l{i}") for i in range(5)])
    assert r.stats.workers == 1 and r.stats.max_in_flight == 1 and eng.stats.calls == 5
    assert all(a.primary == "normal" for a in out.values())


def test_duplicate_keys_are_reasoned_once_and_errors_are_not_cached(tmp_path, cache):
    class Flaky(CountingEngine):
        def complete(self, request):
            text = "\n".join(m.text or "" for m in request.messages)
            if "explode" in text:
                with self._lock:
                    self.calls += 1
                raise ConnectionError("server went away")
            return super().complete(request)

    import dspy

    eng = Flaky()
    lm = dspy.LM("fake/flaky", engine=eng, cache=False)
    r = TemplateReasoner("direct", lm, cache=cache, concurrency=2)
    items = [ReasonItem("t1", "a ok"), ReasonItem("t1", "a ok again"), ReasonItem("t2", "explode now")]
    out = r.run(items)
    assert eng.calls == 2 and r.stats.distinct == 2 and r.stats.errors == 1
    assert out["t2"].answer is None and "server went away" in out["t2"].error
    assert cache.stats()["answers"] == 1  # the error was not cached: next run retries it
    r2 = TemplateReasoner("direct", lm, cache=cache)
    r2.run(items)
    assert r2.stats.cache_hits == 1 and r2.stats.calls == 1


def test_format_failures_are_cached_unless_retried(tmp_path, cache):
    import dspy

    class Garbage(CountingEngine):
        def complete(self, request):
            from dspy.lm15 import Message, Response, Usage

            with self._lock:
                self.calls += 1
            return Response(id=None, model="g", message=Message.assistant("not json"), finish_reason="stop",
                            usage=Usage(input_tokens=1, output_tokens=1, total_tokens=2))

    eng = Garbage()
    lm = dspy.LM("fake/garbage", engine=eng, cache=False)
    r = TemplateReasoner("direct", lm, cache=cache)
    out = r.run([ReasonItem("t", "x")])
    assert out["t"].answer is None and out["t"].format_error and r.stats.failed == 1
    calls = eng.calls
    TemplateReasoner("direct", lm, cache=cache).run([ReasonItem("t", "x")])
    assert eng.calls == calls  # served from the cache
    TemplateReasoner("direct", lm, cache=cache, retry_failed=True).run([ReasonItem("t", "x")])
    assert eng.calls > calls


def test_sessions_reason_once_per_pattern(tmp_path, cache):
    lines = []
    for b in range(40):  # 40 blocks: 30 with the normal pair, 10 with an extra failure line
        lines.append(f"081109 2036{b % 60:02d} 1 INFO dfs.DataNode: Receiving block blk_{1000 + b} src: /10.0.0.{b}:5")
        lines.append(f"081109 2037{b % 60:02d} 2 INFO dfs.DataNode: PacketResponder 1 for block blk_{1000 + b} terminating")
        if b % 4 == 0:
            lines.append(f"081109 2038{b % 60:02d} 3 WARN dfs.DataNode: failed to transfer blk_{1000 + b} to 10.0.0.9")
    log = _log(tmp_path / "hdfs.log", lines)
    lm = counting_lm()
    out = tmp_path / "sessions.jsonl"
    r = scan_log(log, model=lm, program="direct", cache=cache, sessions=SessionSpec(by="id"), out=out)
    assert r.unit == "session" and r.sessions == 40 and r.patterns == 2
    assert r.model_calls == 2 == lm.engine.calls and r.naive_calls == 40
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 40
    assert sum(x["verdict"] == "abnormal" for x in rows) == 10


def test_bad_combinations_say_what_to_do(tmp_path):
    from logreasoner.errors import InputError, UnknownTaskError

    log = _log(tmp_path / "a.log", _lines(A, 10))
    with pytest.raises(InputError):
        scan_log(log, model=counting_lm(), per="session", cache=None)
    with pytest.raises(UnknownTaskError):
        scan_log(log, model=counting_lm(), task="diagnosis", cache=None)  # needs labels
    empty = tmp_path / "empty.log"
    empty.write_text("\n\n")
    with pytest.raises(InputError):
        scan_log(empty, model=counting_lm(), cache=None)


def test_coarse_to_fine_runs_once_per_template_with_two_requests_each(tmp_path):
    log = _log(tmp_path / "a.log", _lines(A, 300))
    lm = counting_lm()
    r = scan_log(log, model=lm, program="coarse_to_fine_noretrieval", cache=None)
    assert r.model_calls == 3 and r.lm_requests == 6 == lm.engine.calls  # planner + step reasoner per template
    assert r.failed == 0 and r.counts == {"normal": 200, "abnormal": 100}
