"""`logreasoner eval compile`: a DSPy optimizer on a dataset's train split, saved, then run by `analyze`."""

import json

import dspy
from dspy.utils import DummyLM
from typer.testing import CliRunner

from logreasoner.evals.compile import balanced


def test_balanced_takes_answers_in_turn():
    exs = [{"answer": a, "i": i} for i, a in enumerate("aaaab")]
    assert [e["answer"] for e in balanced(exs, 4)] == ["a", "b", "a", "a"]
    assert balanced(exs, None) == exs


def test_compile_saves_a_program_that_analyze_runs(tmp_path, monkeypatch):
    import logreasoner.evals.resolve as resolve
    import logreasoner.lm
    from logreasoner.cli.main import app as main_app
    from logreasoner.evals.cli import app

    data = tmp_path / "d.jsonl"
    rows = [{"log": f"ERROR disk failure {i}", "answer": "abnormal"} for i in range(3)]
    rows += [{"log": f"INFO heartbeat ok {i}", "answer": "normal"} for i in range(3)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    teacher = DummyLM([{"answer": {"verdict": "abnormal", "evidence_lines": [1]}},
                       {"answer": {"verdict": "normal", "evidence_lines": []}}] * 2, adapter=dspy.JSONAdapter())
    monkeypatch.setattr(resolve, "load_model", lambda spec: teacher)
    out = tmp_path / "tuned.json"
    r = CliRunner().invoke(app, ["compile", "--data", str(data), "--task", "anomaly", "--split", "all",
                                 "--program", "direct", "--model", "fake", "--limit", "4", "--out", str(out)])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout[r.stdout.index("{\n"):])
    assert info["train_examples"] == 4 and info["demos"] == {"predict": 2}
    assert json.loads((tmp_path / "tuned.json.meta.json").read_text())["kind"] == "direct"

    lm = DummyLM([{"answer": {"verdict": "abnormal", "evidence_lines": [1]}}], adapter=dspy.JSONAdapter())
    monkeypatch.setattr(logreasoner.lm, "load_lm", lambda spec, **kw: lm)
    log = tmp_path / "a.log"
    log.write_text("ERROR fan failure\n")
    r = CliRunner().invoke(main_app, ["analyze", str(log), "--program", str(out), "--model", "fake", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["answer"]["verdict"] == "abnormal"
    assert any("disk failure" in m["content"] for m in lm.history[0]["messages"])  # the demos are in the prompt


def test_compile_refuses_bad_arguments(tmp_path):
    from logreasoner.evals.cli import app

    r = CliRunner().invoke(app, ["compile", "--out", str(tmp_path / "x.json")])
    assert r.exit_code != 0 and "exactly one of --dataset" in str(r.exception)
    r = CliRunner().invoke(app, ["compile", "--dataset", "bgl_templates_anomaly", "--out", str(tmp_path / "x.pkl")])
    assert r.exit_code != 0 and "must end in .json" in str(r.exception)
