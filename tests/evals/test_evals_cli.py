"""`logreasoner eval` through typer's CliRunner."""

import json

import dspy
from typer.testing import CliRunner

from logreasoner.errors import InputError
from logreasoner.evals.cli import app
from logreasoner.contracts.answers import DiagnosisAnswer

runner = CliRunner()


def test_datasets_and_suites_listing():
    r = runner.invoke(app, ["datasets"])
    assert r.exit_code == 0 and "loghub_parse" in r.output and "no (shared)" in r.output
    r = runner.invoke(app, ["suites"])
    assert r.exit_code == 0 and "quick:" in r.output


def test_run_baseline_then_report_two_runs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out, prog in ((a, "level"), (b, "keyword")):
        r = runner.invoke(app, ["run", "--dataset", "bgl_anomaly", "--program", prog, "--limit", "15",
                                "--out", str(out), "--no-progress", "--bootstrap", "50"])
        assert r.exit_code == 0, r.output
        assert f"| {prog} |" in r.output.replace(f"| {prog} @", "")
        assert (out / "results.json").is_file() and (out / "report.md").is_file()
    r = runner.invoke(app, ["report", str(a), str(b), "--out", str(tmp_path / "cmp.md")])
    assert r.exit_code == 0 and "a: level" in r.output and "b: keyword" in r.output
    assert (tmp_path / "cmp.md").read_text().startswith("# Eval comparison")


def test_run_user_data_with_an_llm_program(tmp_path, fixtures, monkeypatch):
    """--data with a column mapping; the program comes from build_program, the model from load_lm (both faked)."""
    import logreasoner.evals.resolve as resolve
    import logreasoner.programs as programs

    seen = []

    class Fake(dspy.Module):
        def forward(self, log, question=None, labels=None):
            seen.append(labels)
            return dspy.Prediction(answer=DiagnosisAnswer(label="Port Down"), format_error=None, raw=None)

    monkeypatch.setattr(programs.resolve, "build_program", lambda kind, task, **kw: Fake())
    monkeypatch.setattr(resolve, "load_model", lambda spec: dspy.utils.DummyLM([{"x": "y"}]))
    out = tmp_path / "u"
    r = runner.invoke(app, ["run", "--data", str(fixtures / "user_diag.csv"), "--task", "diagnosis",
                            "--input-field", "entry", "--label-field", "fault", "--program", "direct",
                            "--model", "openai/fake", "--out", str(out), "--no-progress", "--bootstrap", "20"])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "results.json").read_text())
    cell = res["cells"][0]
    assert cell["dataset"] == "user:user_diag" and cell["model"] == "openai/fake" and cell["done"] == 4
    assert cell["score"] == 0.5  # two of the four rows are "Port Down"
    assert seen[0] == ["CPU Caterr", "Memory ECC", "Port Down"]


def test_errors_are_logreasoner_errors(tmp_path, fixtures):
    r = runner.invoke(app, ["run", "--data", str(fixtures / "user_diag.csv"), "--task", "diagnosis",
                            "--input-field", "log", "--out", str(tmp_path / "x"), "--no-progress"])
    assert r.exit_code != 0 and isinstance(r.exception, InputError) and "entry, fault, id" in str(r.exception)
    r = runner.invoke(app, ["run", "--resume", "--no-progress"])
    assert isinstance(r.exception, InputError) and "--out" in str(r.exception)
    r = runner.invoke(app, ["run", "--dataset", "nope", "--program", "level", "--out", str(tmp_path / "y")])
    assert isinstance(r.exception, InputError)
