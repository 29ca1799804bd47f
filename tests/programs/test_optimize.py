import asyncio
import json

import dspy
import pytest
from dspy.utils import DummyLM

from logreasoner.programs import LogReasoner, build_program
from logreasoner.programs.optimize import compile_program, load_compiled, save_program, task_metric

PLAN = {"problem_overview": "errors among normal lines", "key_challenges": ["rare"], "reasoning_steps": ["scan", "decide"]}
AB = {"steps": [{"step": "scan", "finding": "L1 is an error", "evidence_lines": [1]}],
      "answer": {"verdict": "abnormal", "evidence_lines": [1]}}
NO = {"steps": [{"step": "scan", "finding": "all routine", "evidence_lines": []}],
      "answer": {"verdict": "normal", "evidence_lines": []}}


def trainset():
    return [dspy.Example(log="ERROR disk failure", question="", labels=None, answer="abnormal").with_inputs("log", "question", "labels"),
            dspy.Example(log="INFO heartbeat ok", question="", labels=None, answer="normal").with_inputs("log", "question", "labels")]


def test_bootstrap_compiles_saves_and_loads(tmp_path):
    prog = LogReasoner("anomaly", retriever=None)
    lm = DummyLM([PLAN, AB, PLAN, NO] * 4, adapter=dspy.JSONAdapter())
    with dspy.context(lm=lm):
        compiled = compile_program(prog, trainset(), optimizer="bootstrap")
    demos = [len(p.demos) for _, p in compiled.named_predictors()]
    assert demos and all(d >= 1 for d in demos)
    path = save_program(compiled, tmp_path / "compiled.json", kind="coarse_to_fine_noretrieval")
    meta = json.loads((tmp_path / "compiled.json.meta.json").read_text())
    assert meta == {"kind": "coarse_to_fine_noretrieval", "task": "anomaly", "format": "logreasoner-compiled-1"}
    again = load_compiled(path)
    assert again.retriever is None
    assert [len(p.demos) for _, p in again.named_predictors()] == demos
    # the demos reach the prompt of the loaded program
    lm2 = DummyLM([PLAN, AB], adapter=dspy.JSONAdapter())
    with dspy.context(lm=lm2):
        out = again(log="ERROR again")
    assert out.answer.verdict == "abnormal"
    assert any("disk failure" in m["content"] for m in lm2.history[0]["messages"])


def test_compiled_for_other_task_is_refused(tmp_path):
    from logreasoner.errors import ConfigError

    path = save_program(LogReasoner("anomaly", retriever=None), tmp_path / "c.json")
    with pytest.raises(ConfigError, match="compiled for task 'anomaly'"):
        load_compiled(path, task="rca")


def test_metric_counts_unparsed_as_wrong():
    m = task_metric("anomaly")
    ex = trainset()[0]
    assert m(ex, dspy.Prediction(answer=None)) == 0.0


def test_acall_and_batch():
    prog = build_program("direct", "anomaly")
    answers = [{"answer": {"verdict": "abnormal", "evidence_lines": [1]}}] * 3
    with dspy.context(lm=DummyLM(answers, adapter=dspy.JSONAdapter())):
        out = asyncio.run(prog.acall(log="ERROR x"))
        assert out.answer.verdict == "abnormal"
        res = prog.batch([dspy.Example(log="ERROR a").with_inputs("log"), dspy.Example(log="ERROR b").with_inputs("log")],
                         num_threads=1, disable_progress_bar=True)
    assert [r.answer.verdict for r in res] == ["abnormal", "abnormal"]


def test_cli_runs_compiled_program(tmp_path, capsys, monkeypatch):
    import logreasoner.lm
    from logreasoner.cli.main import main

    lm = DummyLM([{"answer": {"verdict": "abnormal", "evidence_lines": [1]}}], adapter=dspy.JSONAdapter())
    monkeypatch.setattr(logreasoner.lm, "load_lm", lambda spec, **kw: lm)

    path = save_program(build_program("direct", "anomaly"), tmp_path / "direct.json", kind="direct")
    log = tmp_path / "a.log"
    log.write_text("ERROR disk failure\nINFO ok\n")
    with pytest.raises(SystemExit) as e:
        main(["analyze", str(log), "--program", str(path), "--model", "fake", "--json"])
    out = capsys.readouterr().out
    assert e.value.code == 0, out
    assert json.loads(out)["answer"] == {"verdict": "abnormal", "evidence_lines": [1]}
    assert json.loads(out)["program"] == str(path)


def _compiled_with_demo(tmp_path):
    """A direct program compiled by BootstrapFewShot on DummyLM (its demo carries 'disk failure')."""
    lm = DummyLM([{"answer": {"verdict": "abnormal", "evidence_lines": [1]}},
                  {"answer": {"verdict": "normal", "evidence_lines": []}}] * 3, adapter=dspy.JSONAdapter())
    with dspy.context(lm=lm):
        compiled = compile_program(build_program("direct", "anomaly"), trainset(), optimizer="bootstrap")
    return save_program(compiled, tmp_path / "tuned.json", kind="direct")


def test_eval_run_accepts_a_compiled_program(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import logreasoner.evals.resolve as resolve
    from logreasoner.evals.cli import app

    path = _compiled_with_demo(tmp_path)
    data = tmp_path / "d.jsonl"
    data.write_text('{"log": "ERROR disk gone", "answer": "abnormal"}\n{"log": "INFO fine", "answer": "normal"}\n')
    lm = DummyLM([{"answer": {"verdict": "abnormal", "evidence_lines": [1]}}] * 2, adapter=dspy.JSONAdapter())
    monkeypatch.setattr(resolve, "load_model", lambda spec: lm)
    r = CliRunner().invoke(app, ["run", "--data", str(data), "--task", "anomaly", "--program", str(path),
                                 "--model", "fake", "--out", str(tmp_path / "run"), "--no-progress",
                                 "--bootstrap", "0", "--threads", "1"])
    assert r.exit_code == 0, r.output
    cell = json.loads((tmp_path / "run" / "results.json").read_text())["cells"][0]
    assert cell["program"] == "tuned" and cell["done"] == 2
    assert cell["score"] == pytest.approx(2 / 3)  # F1 of the abnormal class: P = 1/2, R = 1
    built = resolve.parse_program(str(path)).build("anomaly")  # what the runner ran: the compiled demos
    assert any("disk failure" in str(dict(d)) for _, p in built.named_predictors() for d in p.demos)


def test_mcp_tool_runs_a_compiled_program(tmp_path):
    import anyio
    from mcp import Client

    from logreasoner.agents import LogTools, build_server
    from logreasoner.errors import InputError

    path = _compiled_with_demo(tmp_path)
    lm = DummyLM([{"answer": {"verdict": "abnormal", "evidence_lines": [1]}}], adapter=dspy.JSONAdapter())
    tools = LogTools([tmp_path], model="dummy", lm=lm, compiled={"tuned": path})

    async def go():
        async with Client(build_server(tools)) as c:
            listed = await c.call_tool("list_tasks", {})
            called = await c.call_tool("analyze_logs", {"task": "anomaly", "text": "ERROR x", "program": "tuned"})
            wrong = await c.call_tool("analyze_logs", {"task": "anomaly", "text": "ERROR x", "program": "nope"})
            return listed, called, wrong

    listed, called, wrong = anyio.run(go)
    assert "tuned (compiled for anomaly)" in listed.structured_content["programs"]
    assert not called.is_error and called.structured_content["answer"]["verdict"] == "abnormal"
    assert any("disk failure" in m["content"] for m in lm.history[0]["messages"])
    assert wrong.is_error and "unknown program 'nope'" in str(wrong.content)
    with pytest.raises(InputError, match="hides the built-in"):
        LogTools([tmp_path], model="dummy", lm=lm, compiled={"direct": path})
