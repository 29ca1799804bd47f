"""The finetune CLI: a stage from a TOML config with a JSONL dataset, resumed on the second call, and status."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from logreasoner.finetune.cli import app


def _config(tmp_path):
    rows = [{"log": f"node-{i} machine check interrupt failed" if i % 2 else f"node-{i} generating core",
             "answer": "abnormal" if i % 2 else "normal"} for i in range(40)]
    data = tmp_path / "lines.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    cfg = tmp_path / "ft.toml"
    cfg.write_text('run_dir = "run"\n[[datasets]]\npath = "lines.jsonl"\ntask = "anomaly"\ntrain_limit = 6\n'
                   '[program]\nretriever = "builtin"\n[teacher]\nkind = "expert"\n')
    return cfg


def test_traces_stage_from_toml_and_status(tmp_path):
    cfg = _config(tmp_path)
    runner = CliRunner()
    first = runner.invoke(app, ["traces", "--config", str(cfg), "--json"])
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    assert out["traces"] == 6 and out["by_source"] == {"expert:anomaly-rules": 6}
    traces = [json.loads(x) for x in (tmp_path / "run" / "traces" / "traces.jsonl").read_text().splitlines()]
    assert {t["answer"]["verdict"] for t in traces} == {"normal", "abnormal"}
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    stamp = state["stages"]["traces"]["finished"]
    again = runner.invoke(app, ["traces", "--config", str(cfg)])
    assert again.exit_code == 0
    assert json.loads((tmp_path / "run" / "state.json").read_text())["stages"]["traces"]["finished"] == stamp
    status = runner.invoke(app, ["status", "--config", str(cfg)])
    assert status.exit_code == 0 and "traces" in status.output and "done" in status.output


def test_missing_config_is_a_one_line_error(tmp_path):
    from logreasoner.errors import ConfigError

    result = CliRunner().invoke(app, ["traces", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)


def test_run_resumes_the_chosen_stages(tmp_path):
    cfg = _config(tmp_path)
    runner = CliRunner()
    first = runner.invoke(app, ["run", "--config", str(cfg), "--stages", "traces"])
    assert first.exit_code == 0, first.output
    assert "traces: examples=6, traces=6" in first.output and "run folder:" in first.output
    stamp = json.loads((tmp_path / "run" / "state.json").read_text())["stages"]["traces"]["finished"]
    again = runner.invoke(app, ["run", "--config", str(cfg), "--stages", "traces"])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "run" / "state.json").read_text())["stages"]["traces"]["finished"] == stamp
    bad = runner.invoke(app, ["run", "--config", str(cfg), "--stages", "traces,distil"])
    assert bad.exit_code != 0 and "unknown stage" in str(bad.exception)
