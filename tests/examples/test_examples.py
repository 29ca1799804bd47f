"""Every example runs in the test suite (on DummyLM: offline and fast)."""

import runpy
from pathlib import Path

import dspy
import pytest
from dspy.utils import DummyLM

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PLAN = {"problem_overview": "repeated login failures", "key_challenges": ["many sources"],
        "reasoning_steps": ["count failures", "look for a success"]}


def _steps(answer):
    return {"steps": [{"step": "count failures", "finding": "L1 x3", "evidence_lines": [1]}], "answer": answer}


def test_every_example_is_covered():
    covered = {"custom_task.py", "compose_stages.py", "analyze_sample.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} <= covered


def test_custom_task_example_through_analyze(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    ns = runpy.run_path(str(EXAMPLES / "custom_task.py"), run_name="example")
    from logreasoner import analyze, get_task

    assert get_task("urgency") is ns["URGENCY"]
    lm = DummyLM([PLAN, _steps({"level": "high", "reason": "root login after failures"})], adapter=dspy.JSONAdapter())
    res = analyze("logreasoner/data/samples/OpenSSH_2k.log", task="urgency", model=lm)
    assert res.answer == {"level": "high", "reason": "root login after failures"}
    assert res.plan["reasoning_steps"] == PLAN["reasoning_steps"]


def test_compose_stages_example():
    ns = runpy.run_path(str(EXAMPLES / "compose_stages.py"), run_name="example")
    step_answers = [_steps({"verdict": "abnormal", "evidence_lines": [4]})] * 3
    lm = DummyLM([PLAN, step_answers[0], PLAN, step_answers[1], step_answers[2]], adapter=dspy.JSONAdapter())
    planner = DummyLM([PLAN], adapter=dspy.JSONAdapter())
    results = ns["main"](lm=lm, planner_lm=planner)
    assert {k: v.verdict for k, v in results.items()} == {
        "no retrieval": "abnormal", "own retriever": "abnormal", "strong planner, local steps": "abnormal"}
    assert len(planner.history) == 1  # the third program planned on its own model


def test_analyze_sample_example(monkeypatch):
    monkeypatch.chdir(ROOT)
    ns = runpy.run_path(str(EXAMPLES / "analyze_sample.py"), run_name="example")
    lm = DummyLM([PLAN, _steps({"verdict": "abnormal", "evidence_lines": [1]})], adapter=dspy.JSONAdapter())
    res = ns["main"](model=lm)
    assert res.answer["verdict"] == "abnormal" and res.input_stats["lines"] == 2000
