"""``logreasoner scan`` (the scale sub-command): rows out, report, errors as one line; and the backend choice."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from logreasoner.scale.cli import app
from logreasoner.scale.fake import counting_lm

runner = CliRunner()


@pytest.fixture
def fake_model(monkeypatch):
    lm = counting_lm()
    import logreasoner.lm

    monkeypatch.setattr(logreasoner.lm, "load_lm", lambda spec, **kw: lm)
    return lm


def _log(tmp_path):
    p = tmp_path / "a.log"
    p.write_text("".join(f"2024-01-01 00:00:{i % 60:02d} {'ERROR disk failed' if i % 10 == 0 else 'INFO tick'} {i}\n"
                         for i in range(200)))
    return p


def test_scan_writes_rows_and_reports(tmp_path, fake_model):
    log, out, cache = _log(tmp_path), tmp_path / "out.jsonl", tmp_path / "c.sqlite"
    r = runner.invoke(app, ["scan", str(log), "--program", "direct", "--cache", str(cache), "-o", str(out),
                            "--only", "abnormal", "--text", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["lines"] == 200 and report["model_calls"] == 2 == fake_model.engine.calls
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 20 and all(x["verdict"] == "abnormal" and "ERROR" in x["text"] for x in rows)
    r2 = runner.invoke(app, ["scan", str(log), "--program", "direct", "--cache", str(cache)])
    assert r2.exit_code == 0 and "cache hits 2" in r2.stdout
    r3 = runner.invoke(app, ["cache", "--cache", str(cache)])
    assert "2 answers" in r3.stdout


def test_scan_sessions_to_stdout(tmp_path, fake_model):
    log = _log(tmp_path)
    r = runner.invoke(app, ["scan", str(log), "--program", "direct", "--no-cache", "--sessions", "count",
                            "--window-lines", "50", "-o", "-"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert len(rows) == 4 and {x["lines"] for x in rows} == {50}


def test_bad_options_raise_toolkit_errors(tmp_path, fake_model):
    from logreasoner.errors import LogReasonerError

    log = _log(tmp_path)
    for args in (["--sessions", "weekly"], ["--per", "file"], ["--sessions", "id", "--id-regex", "("]):
        r = runner.invoke(app, ["scan", str(log), "--no-cache", *args])
        assert isinstance(r.exception, LogReasonerError), args


def test_faster_backend_is_chosen_when_both_are_installed(monkeypatch):
    import importlib.util

    import logreasoner.lm.llamacpp as llamacpp
    from logreasoner.lm.spec import _choose_backend

    monkeypatch.setattr(llamacpp, "llama_cpp_available", lambda: True)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name in ("torch", "transformers")
                        else real(name, *a))
    assert _choose_backend(None, None) == "llamacpp"
    monkeypatch.setattr(llamacpp, "llama_cpp_available", lambda: False)
    assert _choose_backend(None, None) == "hf"
