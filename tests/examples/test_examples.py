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
    covered = {"custom_task.py", "compose_stages.py", "analyze_sample.py", "custom_stage.py", "custom_engine.py",
               "custom_dataset.py"}
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


def test_custom_task_through_eval_run(tmp_path, monkeypatch):
    """The example's task in `logreasoner eval run --data ... --task urgency` (the model faked, the program real)."""
    import json as _json

    from typer.testing import CliRunner

    import logreasoner.evals.resolve as resolve
    from logreasoner.evals.cli import app

    runpy.run_path(str(EXAMPLES / "custom_task.py"), run_name="example")
    data = tmp_path / "urgent.jsonl"
    data.write_text("\n".join(_json.dumps(r) for r in [{"log": "kernel panic on node 3", "gold": "high"},
                                                        {"log": "heartbeat ok", "gold": "low"}]) + "\n")
    lm = DummyLM([{"answer": {"level": "high", "reason": "panic"}}, {"answer": {"level": "high", "reason": "x"}}],
                 adapter=dspy.JSONAdapter())
    monkeypatch.setattr(resolve, "load_model", lambda spec: lm)
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["run", "--data", str(data), "--task", "urgency", "--label-field", "gold",
                                 "--program", "direct", "--model", "fake", "--out", str(out), "--no-progress",
                                 "--bootstrap", "0", "--threads", "1"])
    assert r.exit_code == 0, r.output
    cell = _json.loads((out / "results.json").read_text())["cells"][0]
    assert cell["done"] == 2 and cell["score"] == 0.5


def test_custom_task_through_an_mcp_tool_call(tmp_path):
    import anyio
    from mcp import Client

    from logreasoner.agents import LogTools, build_server
    from logreasoner.programs import InMemoryRetriever, builtin_plans

    runpy.run_path(str(EXAMPLES / "custom_task.py"), run_name="example")
    lm = DummyLM([PLAN, _steps({"level": "medium", "reason": "retries"})], adapter=dspy.JSONAdapter())
    tools = LogTools([tmp_path], model="dummy", lm=lm, retriever=InMemoryRetriever(builtin_plans()))

    async def go():
        async with Client(build_server(tools)) as c:
            listed = await c.call_tool("list_tasks", {})
            called = await c.call_tool("analyze_logs", {"task": "urgency", "text": "WARN retry 3 of 5"})
            return listed, called

    listed, called = anyio.run(go)
    assert "urgency" in str(listed.structured_content)
    assert not called.is_error
    assert called.structured_content["answer"] == {"level": "medium", "reason": "retries"}


def test_custom_task_through_a_tiny_offline_finetune(tmp_path, tiny_student_dir):
    """The example's task through the finetune pipeline (LM teacher faked, tiny student really trained), and the
    tuned run folder answering it through `analyze` with constrained decoding."""
    import json as _json

    from logreasoner import analyze
    from logreasoner.finetune import load_config
    from logreasoner.finetune.data import load_examples
    from logreasoner.finetune.pipeline import Pipeline

    runpy.run_path(str(EXAMPLES / "custom_task.py"), run_name="example")
    rows = [("kernel panic: unable to mount root fs on node 3", "high"), ("heartbeat ok from node 7", "low"),
            ("disk /dev/sda1 at 91% capacity", "medium"), ("ECC memory error corrected on DIMM 2", "medium"),
            ("session opened for user cron by (uid=0)", "low"), ("RAS KERNEL FATAL data storage interrupt", "high"),
            ("link eth0 flapping: down/up 12 times in 60s", "high"), ("ntpd: time synchronised to 10.0.0.1", "low")]
    data = tmp_path / "urgency.jsonl"
    data.write_text("".join(_json.dumps({"log": log, "answer": gold}) + "\n" for log, gold in rows))
    cfg_file = tmp_path / "finetune.toml"
    cfg_file.write_text(f'''
run_dir = "{tmp_path / 'run'}"
student = "{tiny_student_dir}"
threads = 1
[[datasets]]
path = "{data}"
task = "urgency"
test_fraction = 0.25
[program]
retriever = "builtin"
k = 1
[teacher]
kind = "lm"
model = "a DummyLM handed in below"
samples = 1
keep_per_example = 1
[sft_data]
select = 8
max_tokens = 4000
[sft.lora]
r = 4
lora_alpha = 8
target_modules = ["q_proj", "v_proj"]
[sft.trl]
num_train_epochs = 2
per_device_train_batch_size = 2
learning_rate = 5e-3
max_length = 4096
[eval]
enabled = false
''')
    cfg = load_config(cfg_file)
    train = load_examples(cfg.datasets[0], "train", seed=cfg.seed)
    assert train and all(ex["task"] == "urgency" for ex in train)
    script = []
    for ex in train:  # the teacher plans, then answers each training example right
        script += [PLAN, _steps({"level": ex["answer"], "reason": "what the line says"})]
    p = Pipeline(cfg, teacher_lm=DummyLM(script, adapter=dspy.JSONAdapter()), progress=False)
    out = p.run(["traces", "sft-data", "sft", "export"])
    assert out["traces"]["by_task"] == {"urgency": len(train)}
    rows_sft = [_json.loads(line) for line in (p.run_dir / "data" / "stepwise.jsonl").read_text().splitlines()]
    reply = _json.loads(rows_sft[0]["messages"][-1]["content"])
    assert set(reply["answer"]) == {"level", "reason"}  # the custom answer type is what the student learns
    assert out["sft"]["stepwise"]["lora_max_change"] > 1e-4
    res = analyze(text="kernel panic on node 3\nheartbeat ok", task="urgency", model=str(p.run_dir),
                  lm_kwargs={"max_tokens": 3000})
    assert res.answer["level"] in {"low", "medium", "high"}  # the tuned tiny student, constrained to the schema
