"""examples/custom_stage.py through a tiny offline finetune (programmatic teacher, tiny student tokenizer): the
stage runs after sft-data, writes its card from the run folder, is recorded in state.json, is skipped while
current and runs again when its [stages.data-card] table changes; and it is a `finetune` command of a process that
registered it before building the CLI."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from logreasoner.errors import ConfigError
from logreasoner.finetune import Pipeline, load_config
from logreasoner.finetune import stages as stages_module
from logreasoner.finetune.stages import pipeline_stages

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "custom_stage.py"


@pytest.fixture
def data_card(monkeypatch):
    """The example's stage, registered for this test only (the run order is put back afterwards)."""
    monkeypatch.setattr(stages_module, "_ORDER", pipeline_stages())
    return runpy.run_path(str(EXAMPLE), run_name="example")


def _recipe(tmp_path: Path, student: Path, table: str) -> Path:
    rows = [{"log": f"node-{i} machine check interrupt failed" if i % 3 else f"node-{i} generating core",
             "answer": "abnormal" if i % 3 else "normal"} for i in range(24)]
    (tmp_path / "lines.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tmp_path / "ft.toml"
    cfg.write_text(f'run_dir = "run"\nstudent = "{student}"\n[[datasets]]\npath = "lines.jsonl"\ntask = "anomaly"\n'
                   'train_limit = 9\n[program]\nretriever = "builtin"\n[teacher]\nkind = "expert"\n'
                   f'[sft_data]\nmax_tokens = 4000\n[stages.data-card]\n{table}\n')
    return cfg


def _state(p: Pipeline) -> dict:
    return json.loads((p.run_dir / "state.json").read_text())["stages"]


def test_data_card_stage_runs_records_skips_and_reruns(tmp_path, tiny_student_dir, data_card):
    assert [s.name for s in pipeline_stages()][:4] == ["traces", "sft-data", "data-card", "sft"]
    cfg = load_config(_recipe(tmp_path, tiny_student_dir, "top_answers = 1"))
    assert cfg.stages["data-card"] == data_card["DataCardSettings"](top_answers=1)
    p = Pipeline(cfg, progress=False)
    out = p.run(["traces", "sft-data", "data-card"])

    # the card counts what sft-data wrote
    rows = {k: [json.loads(x) for x in (p.run_dir / "data" / f"{k}.jsonl").read_text().splitlines()]
            for k in ("thought", "stepwise")}
    card = json.loads((p.run_dir / "data-card" / "card.json").read_text())
    assert {(r["kind"], r["task"], r["source"]): r["rows"] for r in card["rows"]} == dict(
        Counter((k, r["task"], r["source"]) for k, rs in rows.items() for r in rs))
    assert out["data-card"]["rows"] == out["sft-data"]["thought"]["rows"] + out["sft-data"]["stepwise"]["rows"]
    assert set(card["tokens"]) == {"thought", "stepwise"}
    for kind, t in card["tokens"].items():
        assert t["max"] == max(r["n_tokens"] for r in rows[kind]) and t["p50"] <= t["p90"] <= t["max"]
    golds = Counter(r["gold"] for r in rows["stepwise"])
    assert card["answers"] == {"anomaly": [{"answer": "abnormal", "examples": golds["abnormal"]}]}
    assert "| thought | anomaly | expert:anomaly-rules |" in (p.run_dir / "data-card" / "card.md").read_text()

    # recorded in state.json like a built-in stage
    entry = _state(p)["data-card"]
    assert entry["status"] == "done" and entry["outputs"] == out["data-card"]

    # current: skipped (the card is not written again)
    (p.run_dir / "data-card" / "card.json").unlink()
    again = Pipeline(load_config(_recipe(tmp_path, tiny_student_dir, "top_answers = 1")), progress=False)
    assert again.run(["traces", "sft-data", "data-card"])["data-card"] == out["data-card"]
    assert not (p.run_dir / "data-card" / "card.json").exists()

    # its table changed: it runs again, the stages before it stay as they are
    data_stamp = (p.run_dir / "data" / "thought.jsonl").stat().st_mtime_ns
    changed = Pipeline(load_config(_recipe(tmp_path, tiny_student_dir, "top_answers = 2\npercentiles = [50]")),
                       progress=False)
    changed.run(["traces", "sft-data", "data-card"])
    card = json.loads((p.run_dir / "data-card" / "card.json").read_text())
    assert set(card["tokens"]["thought"]) == {"p50", "max"} and len(card["answers"]["anomaly"]) == 2
    assert _state(changed)["data-card"]["config_hash"] != entry["config_hash"]
    assert (p.run_dir / "data" / "thought.jsonl").stat().st_mtime_ns == data_stamp

    with pytest.raises(ConfigError, match=r"\[stages.data-card\] top_answer: Extra inputs"):
        load_config(_recipe(tmp_path, tiny_student_dir, "top_answer = 2"))
    with pytest.raises(ConfigError, match=r"\[stages.data-card\] percentiles.0: .*less than or equal to 100"):
        load_config(_recipe(tmp_path, tiny_student_dir, "percentiles = [500]"))


def test_data_card_stage_from_the_command_line(tmp_path, tiny_student_dir, data_card):
    from logreasoner.finetune.cli import app

    cfg = _recipe(tmp_path, tiny_student_dir, "percentiles = [90]")
    # `logreasoner finetune run --stages ...` runs a stage registered in this process
    first = CliRunner().invoke(app, ["run", "--config", str(cfg), "--stages", "traces,sft-data,data-card"])
    assert first.exit_code == 0, first.output
    assert "data-card: rows=" in first.output
    # a process that registers the stage before building the CLI has its command: the example run as a script
    r = subprocess.run([sys.executable, str(EXAMPLE), "data-card", "--config", str(cfg), "--force", "--json"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["by_kind"] == {"thought": 9, "stepwise": 9}
    card = json.loads((tmp_path / "run" / "data-card" / "card.json").read_text())
    assert set(card["tokens"]["stepwise"]) == {"p90", "max"}
