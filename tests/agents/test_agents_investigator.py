"""The investigator with scripted DummyLMs over the fixture log folder: answers, evidence checks, budgets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agents_helpers import PLAN, FakeClock, json_lm, ticking
from typer.testing import CliRunner

from logreasoner.agents.folder_tools import FolderTools
from logreasoner.agents.investigator import Investigator
from logreasoner.agents.sandbox import Sandbox
from logreasoner.errors import InputError
from logreasoner.contracts.retrieval import builtin_plans
from logreasoner.contracts.retrieval import InMemoryRetriever

QUESTION = "why did the job fail at 14:02?"
RETRIEVER = InMemoryRetriever(builtin_plans())
ANSWER = {"reasoning": "the disk filled up", "cause": "db-primary ran out of disk space (No space left on device), "
          "so COPY staging.events failed and job nightly-etl aborted",
          "evidence": [{"file": "worker.log", "line": 7}, {"file": "db.log", "line": 3},
                       {"file": "db.log", "line": 99}, {"file": "ghost.log", "line": 1},
                       {"file": "../../../etc/passwd", "line": 1}, {"file": "scheduler.log:5", "line": 0}],
          "next_steps": ["free disk space on db-primary", "re-run nightly-etl"]}


def step(tool: str, **args: object) -> dict:
    return {"next_thought": f"use {tool}", "next_tool_name": tool, "next_tool_args": args}


def make(folder: Path, answers: list[dict], **kw: object) -> Investigator:
    return Investigator(folder, lm=json_lm(answers), retriever=RETRIEVER, **kw)


def test_answers_with_verified_evidence_and_counts_invented_lines(logs_dir: Path) -> None:
    inv = make(logs_dir, [step("grep", pattern="error|fail"), step("read_window", path="worker.log", start=5, count=4),
                          step("finish"), ANSWER], max_steps=5, timeout_s=60)
    r = inv.investigate(QUESTION)
    assert r.status == "finished" and r.answered_by == "model"
    assert r.cause.startswith("db-primary ran out of disk space")
    assert [e.ref for e in r.evidence] == ["worker.log:7", "db.log:3", "scheduler.log:5"]
    assert r.evidence[1].text.endswith("No space left on device") and all(e.seen for e in r.evidence)
    assert r.invented_evidence == 3
    assert r.dropped_evidence == ["db.log:99", "ghost.log:1", "../../../etc/passwd:1"]
    assert [s.tool for s in r.steps] == ["grep", "read_window", "finish"]
    assert "3 matching lines" in r.steps[0].observation or "matching lines" in r.steps[0].observation
    assert r.next_steps == ["free disk space on db-primary", "re-run nightly-etl"]
    assert r.lm_calls == 4 and r.seconds < r.timeout_s


def test_evidence_not_shown_by_a_tool_is_kept_but_marked(logs_dir: Path) -> None:
    r = make(logs_dir, [step("finish"), {**ANSWER, "evidence": [{"file": "db.log", "line": 1}]}]).investigate(QUESTION)
    assert [(e.ref, e.seen) for e in r.evidence] == [("db.log:1", False)]


def test_the_step_budget_ends_the_loop_and_the_agent_still_answers(logs_dir: Path) -> None:
    inv = make(logs_dir, [step("list_files"), step("template_summary"), ANSWER],
               max_steps=2, timeout_s=60)
    r = inv.investigate(QUESTION)
    assert r.status == "step_budget" and len(r.steps) == 2 and r.answered_by == "model"
    assert "templates" in r.steps[1].observation and r.lm_calls == 3


def test_the_time_budget_stops_cleanly_before_it_runs_out(logs_dir: Path) -> None:
    clock = FakeClock()
    inv = make(logs_dir, [], max_steps=10, timeout_s=100, clock=clock)
    inv._lm.answers = ticking([step("list_files"), step("grep", pattern="space"), ANSWER],
                              clock, 30.0)
    r = inv.investigate(QUESTION)
    # 30 s a call: after two steps (t=60) one more step plus the answer (60 s) no longer fit in the 40 s left
    assert r.status == "time_budget" and len(r.steps) == 2 and r.answered_by == "model"
    assert r.seconds <= r.timeout_s and r.cause.startswith("db-primary")


def test_when_time_is_gone_it_answers_from_the_reasoner_without_another_call(logs_dir: Path) -> None:
    clock = FakeClock()
    rca = {"steps": [{"step": "scan", "finding": "no space", "evidence_lines": [3]}],
           "answer": {"cause": "the database volume is full", "remediation": ["free space"]}}
    inv = make(logs_dir, [], max_steps=10, timeout_s=100, clock=clock)
    inv._lm.answers = ticking([step("analyze", path="db.log", task="rca"), PLAN, rca, ANSWER], clock, 40.0)
    r = inv.investigate(QUESTION)
    assert r.status == "time_budget" and r.answered_by == "fallback" and r.lm_calls == 3  # no final-answer call
    assert r.cause == "the database volume is full" and [e.ref for e in r.evidence] == ["db.log:3"]
    assert "reasoner answer (rca)" in r.steps[0].observation and "db.log:3" in r.steps[0].observation


def test_no_time_and_no_findings_means_no_answer(logs_dir: Path) -> None:
    clock = FakeClock()
    inv = make(logs_dir, [], max_steps=10, timeout_s=100, clock=clock)
    inv._lm.answers = ticking([step("list_files"), ANSWER], clock, 150.0)
    r = inv.investigate(QUESTION)
    assert (r.status, r.answered_by, r.cause, r.evidence, r.lm_calls) == ("time_budget", "none", "", [], 1)


def test_a_model_call_that_overruns_the_budget_is_abandoned_on_time(logs_dir: Path) -> None:
    import time

    def slow():
        time.sleep(3.0)  # one model call far longer than the whole budget
        yield step("grep", pattern="space")
        yield ANSWER

    inv = make(logs_dir, [], max_steps=4, timeout_s=0.5, grace_s=0.2)
    inv._lm.answers = slow()
    t0 = time.monotonic()
    r = inv.investigate(QUESTION)
    assert time.monotonic() - t0 < 2.0  # returned at the budget, not when the call ended
    assert (r.status, r.answered_by, r.steps, r.cause) == ("time_budget", "none", [], "")
    assert "still running" in (r.format_error or "")
    assert inv.wait(10) and inv._lm.history[-1]  # the call finished in the background; its result was dropped
    assert next(inv._lm.answers, None) is ANSWER  # no tool ran and no final answer was asked for


def test_the_reasoner_tool_refuses_when_too_little_time_is_left(logs_dir: Path) -> None:
    clock = FakeClock()
    tools = FolderTools(Sandbox([logs_dir]), retriever=RETRIEVER, clock=clock, reasoner_seconds=20)
    tools.deadline = clock.now + 5
    assert "not enough time left" in tools.analyze("db.log")


def test_a_format_failure_ends_the_loop_and_is_reported(logs_dir: Path) -> None:
    r = make(logs_dir, [{"nonsense": True}, ANSWER], max_steps=4, timeout_s=60).investigate(QUESTION)
    assert r.status == "format_error" and "step 1" in (r.format_error or "") and r.answered_by == "model"


def test_tool_errors_become_observations(logs_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("password=hunter2\n")
    (logs_dir / "link.log").symlink_to(tmp_path / "secret.txt")
    inv = make(logs_dir, [step("read_window", path="../secret.txt"), step("read_window", path="link.log"),
                          step("grep", pattern="password", path=str(tmp_path)), step("read_window"), step("finish"),
                          ANSWER], max_steps=6, timeout_s=60)
    r = inv.investigate(QUESTION)
    obs = [s.observation for s in r.steps]
    assert "outside the allowed folders" in obs[0] and "symlink" in obs[1] and "outside" in obs[2]
    assert "Execution error in read_window" in obs[3]  # a missing required argument
    assert not any("hunter2" in o for o in obs) and r.status == "finished"


def test_grep_counts_group_values_and_survives_bad_patterns(tmp_path: Path) -> None:
    log = "".join(f"Failed password for {u} from 10.0.0.{i} port 22\n"
                  for i, u in enumerate(["root"] * 5 + ["admin"] * 2 + ["bob"]))
    (tmp_path / "auth.log").write_text(log + "x" * 5000 + "!\n")
    tools = FolderTools(Sandbox([tmp_path]), retriever=RETRIEVER, grep_seconds=1.0)
    out = tools.grep(r"Failed password for (\S+)")
    assert "8 matching lines" in out and "root x5, admin x2, bob x1" in out
    assert "literal text" in tools.grep("for (")  # invalid regex: searched literally
    out = tools.grep(r"(x+x+)+y")  # catastrophic backtracking: bounded by the time limit
    assert "the pattern is too slow" in out
    with pytest.raises(InputError):
        tools.grep("")


def test_read_window_template_summary_and_listing(logs_dir: Path) -> None:
    tools = FolderTools(Sandbox([logs_dir]), retriever=RETRIEVER)
    out = tools.read_window("worker.log", start=7, count=500)
    assert "worker.log lines 7-8" in out and "worker.log:7 " in out and ("worker.log", 8) in tools.seen
    assert "has no line 50" in tools.read_window("worker.log", start=50)
    out = tools.template_summary(".")
    assert out.startswith("BEGIN LOG DATA") and "19 lines" in out and "No space left on device" in out
    assert tools.list_files().splitlines()[0].startswith("db.log (")
    assert "How an expert" in tools.expert_plans("job failed", task="rca")


def test_the_reasoner_tool_cites_real_file_line_numbers_for_a_window(logs_dir: Path) -> None:
    lm = json_lm([PLAN, {"steps": [{"step": "scan", "finding": "no space", "evidence_lines": [7, 2]}],
                         "answer": {"cause": "disk full", "remediation": []}}])
    tools = FolderTools(Sandbox([logs_dir]), retriever=RETRIEVER, lm=lm)
    out = tools.analyze("worker.log", start=6, count=3, question="why?")
    assert "cause: disk full" in out and "worker.log:7 " in out
    assert tools.last_analysis["evidence"] == [("worker.log", 7)]  # line 2 was not in the window: dropped


def test_bad_budgets_and_questions_are_refused(logs_dir: Path) -> None:
    with pytest.raises(InputError):
        make(logs_dir, [], max_steps=0)
    with pytest.raises(InputError):
        make(logs_dir, [], timeout_s=0)
    with pytest.raises(InputError):
        make(logs_dir, []).investigate("  ")


def test_cli_investigate_json(logs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import logreasoner.lm as lm_module
    from logreasoner.agents.cli import app

    answers = [step("grep", pattern="No space"), step("finish"), ANSWER]
    monkeypatch.setattr(lm_module, "load_lm", lambda spec, **kw: json_lm(answers))
    monkeypatch.setattr("logreasoner.contracts.retrieval._RESOLVED", [RETRIEVER])
    res = CliRunner().invoke(app, ["investigate", str(logs_dir), QUESTION, "--model", "x", "--max-steps", "3",
                                   "--timeout", "30", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["status"] == "finished" and out["invented_evidence"] == 3 and out["max_steps"] == 3
    res = CliRunner().invoke(app, ["investigate", str(logs_dir), QUESTION, "--model", "x"])
    assert res.exit_code == 0 and "Cause:" in res.output and "worker.log:7" in res.output
