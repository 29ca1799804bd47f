"""Issue 14, items 3 and 13, through the CLI (in process, against a scripted OpenAI-compatible server).

- 3: model and log text reach the terminal escaped and without control sequences: rich markup (``[/]``,
  ``[link=...]``) in a model answer no longer crashes the render (exit 1, answer lost), ANSI/OSC escapes in
  evidence lines are removed.
- 13: ``--model ""`` is exit 2 (it ran the default model); an unknown provider is exit 3 at once (was exit 1
  after about 10 s of retries); a model server that is down is exit 3 ("model unavailable"), not exit 1.
"""

from __future__ import annotations

import json
import socket
import time
from io import StringIO
from pathlib import Path

import pytest
from openai_stub import StubServer
from rich.console import Console

from logreasoner.analysis import AnalysisResult, EvidenceLine
from logreasoner.cli.main import main
from logreasoner.cli.render import render_result

HOSTILE = "[/] [link=http://evil.example]click me[/link] [bold red]fake[/] :smile: \x1b[2J\x1b]0;pwned\x07 end"


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    p = tmp_path / "app.log"
    p.write_text("2024-05-01 ERROR \x1b[31mdisk\x1b[0m failed \x1b]8;;http://evil.example\x07link\x1b]8;;\x07 "
                 "\x1b]0;owned\x07\x1b[2J\n2024-05-01 INFO ok\n")
    return p


def _no_escapes(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text


# -- item 3 -------------------------------------------------------------------------------------------------------
def test_markup_in_a_model_answer_is_shown_literally(capsys: pytest.CaptureFixture, log_file: Path) -> None:
    reply = json.dumps({"answer": {"cause": HOSTILE, "remediation": [HOSTILE, "[link=file:///etc/passwd]x"]}})
    with StubServer(reply) as srv:
        code, out, err = run_cli(capsys, "analyze", str(log_file), "--task", "rca", "--program", "direct",
                                 "--model", "openai/stub", "--api-base", srv.api_base)
    assert code == 0, err
    assert "[/]" in out and "[link=http://evil.example]click me[/link]" in out and ":smile:" in out
    _no_escapes(out)
    assert "pwned" not in out


def test_escape_sequences_in_evidence_lines_are_removed(capsys: pytest.CaptureFixture, log_file: Path) -> None:
    reply = json.dumps({"answer": {"verdict": "abnormal", "evidence_lines": [1]}})
    with StubServer(reply) as srv:
        code, out, err = run_cli(capsys, "analyze", str(log_file), "--task", "anomaly", "--program", "direct",
                                 "--model", "openai/stub", "--api-base", srv.api_base)
    assert code == 0, err
    assert "disk failed" in out.replace("  ", " ")
    _no_escapes(out)
    assert "owned" not in out


def test_render_on_a_real_terminal_emits_no_hostile_sequences() -> None:
    r = AnalysisResult(task="rca", model=HOSTILE, program="direct", answer={"cause": HOSTILE, HOSTILE: [HOSTILE]},
                       plan={"problem_overview": HOSTILE, "key_challenges": [HOSTILE], "reasoning_steps": [HOSTILE]},
                       steps=[{"step": HOSTILE, "finding": HOSTILE, "evidence_lines": [1]}],
                       evidence=[EvidenceLine(source=HOSTILE, line=1, text=HOSTILE)], expert_plans=[HOSTILE])
    buf = StringIO()
    render_result(r, Console(file=buf, force_terminal=True, color_system="truecolor", width=200))
    out = buf.getvalue()
    assert "\x1b]" not in out and "\x1b[2J" not in out and "\x07" not in out  # no OSC (titles, links), no clear
    assert "pwned" not in out and "[/]" in out
    failed = AnalysisResult(task="rca", model="m", program="direct", answer=None, format_error=HOSTILE, raw=HOSTILE)
    buf = StringIO()
    render_result(failed, Console(file=buf, force_terminal=True, width=200))
    assert "\x1b]" not in buf.getvalue() and "[/]" in buf.getvalue()


# -- item 13 -------------------------------------------------------------------------------------------------------
def test_an_empty_model_spec_is_exit_2(capsys: pytest.CaptureFixture, log_file: Path) -> None:
    code, _, err = run_cli(capsys, "analyze", str(log_file), "--model", "")
    assert code == 2 and "--model is empty" in err and len(err.strip().splitlines()) == 1


def test_an_unknown_provider_is_exit_3_at_once(capsys: pytest.CaptureFixture, log_file: Path) -> None:
    t0 = time.monotonic()
    code, _, err = run_cli(capsys, "analyze", str(log_file), "--model", "nonexistent/model")
    assert code == 3 and "unknown model provider 'nonexistent'" in err
    # at once = before any request and its retries; the one cost is importing litellm for its provider list
    # (4-7 s on this 2-core machine, more under load), so the bound leaves room for a busy CI machine
    assert time.monotonic() - t0 < 15


def test_a_server_that_is_down_is_exit_3(capsys: pytest.CaptureFixture, log_file: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    t0 = time.monotonic()
    code, _, err = run_cli(capsys, "analyze", str(log_file), "--program", "direct", "--model", "openai/m",
                           "--api-base", f"http://127.0.0.1:{port}/v1")
    assert code == 3, err
    assert f"127.0.0.1:{port}" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert time.monotonic() - t0 < 20


def test_the_server_gets_max_tokens_and_the_answer_schema(capsys: pytest.CaptureFixture, log_file: Path) -> None:
    reply = json.dumps({"answer": {"verdict": "abnormal", "evidence_lines": [1]}})
    with StubServer(reply) as srv:
        code, out, err = run_cli(capsys, "analyze", str(log_file), "--program", "direct", "--json",
                                 "--model", "openai/stub", "--api-base", srv.api_base)
    assert code == 0, err
    body = srv.requests[-1]
    assert "max_tokens" in body and "max_completion_tokens" not in body
    schema = body["response_format"]["json_schema"]["schema"]
    assert "answer" in schema["properties"]
    assert json.loads(out)["model"].startswith("openai/stub@127.0.0.1:")


def test_a_server_that_never_answers_is_cut_off(capsys: pytest.CaptureFixture, log_file: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Accepts the connection, never replies: the call ends after LOGREASONER_API_TIMEOUT, exit 3."""
    monkeypatch.setenv("LOGREASONER_API_TIMEOUT", "2")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        t0 = time.monotonic()
        code, _, err = run_cli(capsys, "analyze", str(log_file), "--program", "direct", "--model", "openai/m",
                               "--api-base", f"http://127.0.0.1:{port}/v1")
        took = time.monotonic() - t0
    assert code == 3 and "did not answer within 2 s" in err
    assert took < 15


def test_retries_on_a_failing_server_are_bounded(capsys: pytest.CaptureFixture, log_file: Path) -> None:
    with StubServer("{}", status=503) as srv:
        t0 = time.monotonic()
        code, _, err = run_cli(capsys, "analyze", str(log_file), "--program", "direct", "--model", "openai/stub",
                               "--api-base", srv.api_base)
        took = time.monotonic() - t0
    assert code == 3 and "HTTP 503" in err and "3 attempts" in err
    assert len(srv.requests) == 3 and took < 15


def test_analyze_a_folder_with_one_corrupt_file(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    import gzip

    (tmp_path / "app.log").write_text("2024-05-01 ERROR disk failed\n2024-05-01 INFO ok\n")
    data = bytearray(gzip.compress(b"2024-05-01 ERROR x\n" * 5000))
    for i in range(40, 60):
        data[i] ^= 0xFF
    (tmp_path / "old.log.gz").write_bytes(bytes(data))
    reply = json.dumps({"answer": {"verdict": "abnormal", "evidence_lines": [1]}})
    with StubServer(reply) as srv:
        code, out, err = run_cli(capsys, "analyze", str(tmp_path), "--program", "direct", "--json",
                                 "--model", "openai/stub", "--api-base", srv.api_base)
    assert code == 0, err
    assert "warning: skipped 1 unreadable file(s)" in err and "old.log.gz" in err
    assert json.loads(out)["input_stats"]["lines"] == 2
