"""``logreasoner scan`` (the scale sub-command): rows out, report, errors as one line; and the backend choice."""

from __future__ import annotations

import json

import pytest

from logreasoner.errors import ModelUnavailableError
from scale_fakes import counting_lm
from typer.testing import CliRunner

from logreasoner.scale.cli import app

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

    from logreasoner.lm.engines import choose_engine

    installed = {"llama_cpp", "torch", "transformers"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name in installed else None)
    assert choose_engine(None, None) == "llamacpp"
    installed.discard("llama_cpp")
    assert choose_engine(None, None) == "hf"
    installed.clear()
    with pytest.raises(ModelUnavailableError, match="no in-process backend"):
        choose_engine(None, None)


def test_a_folder_scan_skips_unreadable_files_and_says_which(tmp_path, fake_model):
    """Files found in a folder that cannot be read are skipped and reported (the reader's contract); one that
    breaks mid-way keeps the lines before the damage, and ``--text`` re-reads exactly those."""
    import gzip

    folder = tmp_path / "logs"
    folder.mkdir()
    _log(folder)
    data = bytearray(gzip.compress("".join(f"2024-01-01 00:00:00 INFO gz line {i}\n" for i in range(20_000))
                                   .encode()))
    for i in range(len(data) // 2, len(data) // 2 + 20):
        data[i] ^= 0xFF
    (folder / "0.log.gz").write_bytes(bytes(data))  # read first: the lines after it must keep their texts
    (folder / "c.bin").write_bytes(bytes(range(256)) * 40)
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["scan", str(folder), "--program", "direct", "--no-cache", "--text", "-o", str(out),
                            "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert len(report["skipped_sources"]) == 2
    assert any("0.log.gz" in s for s in report["skipped_sources"]) and any("c.bin" in s for s in
                                                                           report["skipped_sources"])
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    log_rows = [x for x in rows if x["source"].endswith("a.log")]
    assert len(rows) == report["lines"] > len(log_rows) == 200
    assert all(x["text"].endswith(f" {x['line'] - 1}") for x in log_rows)
    r2 = runner.invoke(app, ["scan", str(folder), "--program", "direct", "--no-cache"])
    assert r2.exit_code == 0 and "skipped 2 unreadable file(s)" in r2.stdout
