"""A real model server in the tests (issue 14): llama-cpp-python's OpenAI-compatible server with the embedded GGUF,
spoken to through ``--model openai/<name> --api-base http://127.0.0.1:<port>/v1`` by ``analyze``, ``eval run`` and
an MCP tool call.

What is checked: structured output goes through the server's ``response_format`` JSON schema (llama-cpp-python
accepts the ``json_object`` + ``schema`` form, which the engine falls back to), ``max_tokens`` is honoured (the
server ignores ``max_completion_tokens``), a server that dies mid-run gives exit 3, timeouts and retries are
bounded. The server runs with one thread and a 4k context; each test sends a handful of short prompts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

pytestmark = [pytest.mark.model, pytest.mark.timeout(600)]

ALIAS = "smol"
LOG = ("2024-05-01 10:00:00 INFO app: service started\n2024-05-01 10:00:05 INFO app: user alice logged in\n"
       "2024-05-01 10:00:09 ERROR app: disk /dev/sda1 failed: I/O error\n")
ROWS = [("kernel: FATAL machine check on cpu 3", "abnormal"), ("sshd: Accepted password for root", "normal"),
        ("app: ERROR cannot open /etc/app.conf", "abnormal"), ("cron: job 42 finished", "normal"),
        ("kernel: data TLB error interrupt", "abnormal"), ("ntpd: clock synchronized", "normal")]


def _gguf() -> str:
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llama_cpp.server") is None:
        pytest.skip("llama-cpp-python[server] is not installed")
    for mod in ("fastapi", "uvicorn", "sse_starlette", "starlette_context"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"llama-cpp-python's server needs {mod} (pip install 'llama-cpp-python[server]')")
    from logreasoner.lm.registry import resolve_embedded

    try:
        return str(resolve_embedded("local", allow_download=False))
    except Exception:
        pytest.skip("embedded model not pulled (run: logreasoner models pull local)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` on a free loopback port; ``stop()`` kills it like a crash would."""

    def __init__(self, gguf: str, log: Path) -> None:
        self.port = _free_port()
        self.api_base = f"http://127.0.0.1:{self.port}/v1"
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1", "--port", str(self.port),
             "--model_alias", ALIAS, "--n_ctx", "4096", "--n_threads", "1", "--n_threads_batch", "2",
             "--verbose", "False"], stdout=self._log, stderr=subprocess.STDOUT)
        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the llama.cpp server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.api_base}/models", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.3)
        self.stop()
        pytest.fail("the llama.cpp server did not start within 120 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    srv = LlamaServer(_gguf(), tmp_path_factory.mktemp("llama-server") / "server.log")
    yield srv
    srv.stop()


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "LOGREASONER_THREADS": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LOGREASONER_EMBEDDINGS": "0", **extra}


def _cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "logreasoner.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or _env(), stdin=subprocess.DEVNULL)


def _data(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"log": log, "answer": gold, "id": f"r{i}"}) + "\n"
                            for i, (log, gold) in enumerate(rows)))
    return path


def test_structured_output_and_max_tokens_through_the_server(server: LlamaServer, tmp_path: Path) -> None:
    """In process, to see what went over the wire: the schema form the server took, and tokens per call."""
    import dspy

    from logreasoner.analysis import analyze
    from logreasoner.lm import load_lm
    from logreasoner.tasks import get_task

    log = tmp_path / "app.log"
    log.write_text(LOG)
    lm = load_lm(f"openai/{ALIAS}", api_base=server.api_base, max_tokens=48, cache=False)
    res = analyze(log, task="anomaly", model=lm, program="direct")
    assert res.answer is not None, res.format_error
    get_task("anomaly").answer_type.model_validate(res.answer)
    engine = lm.engine
    assert engine.schema_form == "json_object"  # llama-cpp-python refused json_schema; its own form was used
    assert engine.stats.constrained_calls >= 1
    assert all(c["out"] <= 48 for c in engine.stats.per_call), engine.stats.per_call  # max_tokens honoured
    assert isinstance(lm, dspy.LM) and lm.model == f"openai/{ALIAS}@127.0.0.1:{server.port}"


def test_analyze_from_the_cli(server: LlamaServer, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(LOG)
    proc = _cli("analyze", str(log), "--task", "anomaly", "--program", "direct", "--json",
                "--model", f"openai/{ALIAS}", "--api-base", server.api_base)
    assert proc.returncode == 0, proc.stderr  # schema-constrained on the server: the tiny model's answer parses
    out = json.loads(proc.stdout)
    assert out["answer"]["verdict"] in ("normal", "abnormal") and out["model"].startswith(f"openai/{ALIAS}@")


def test_eval_run_through_the_server(server: LlamaServer, tmp_path: Path) -> None:
    data = _data(tmp_path / "rows.jsonl", ROWS[:3])
    out = tmp_path / "run"
    proc = _cli("eval", "run", "--data", str(data), "--task", "anomaly", "--program", "direct",
                "--model", f"openai/{ALIAS}", "--out", str(out), "--no-progress", "--bootstrap", "0", "--no-cache",
                env=_env(LOGREASONER_API_BASE=server.api_base))
    assert proc.returncode == 0, proc.stderr
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 3 and not any(s["error"] for s in samples), [s["error"] for s in samples]
    assert sum(s["pred"] is not None for s in samples) >= 2  # constrained output parses


def test_an_mcp_tool_call_through_the_server(server: LlamaServer, tmp_path: Path) -> None:
    import anyio
    from mcp import Client, StdioServerParameters

    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text(LOG)
    params = StdioServerParameters(command=sys.executable, args=[
        "-m", "logreasoner.agents.cli", "mcp", "serve", "--root", str(tmp_path / "logs"), "--model",
        f"openai/{ALIAS}", "--api-base", server.api_base, "--tool-timeout", "240"], env=_env(PYTHONUNBUFFERED="1"))

    async def go():  # noqa: ANN202
        with anyio.fail_after(300):
            async with Client(params) as c:
                return await c.call_tool("analyze_logs", {"task": "anomaly", "path": "app.log",
                                                          "program": "direct"})

    r = anyio.run(go)
    assert not r.is_error, r.content[0].text
    out = r.structured_content
    assert out["model"] == f"openai/{ALIAS}" and out["input"]["lines"] == 3
    assert out["answer"] is None or out["answer"]["verdict"] in ("normal", "abnormal")


def test_a_server_killed_mid_eval_is_exit_3_and_finished_examples_stay(tmp_path: Path) -> None:
    srv = LlamaServer(_gguf(), tmp_path / "server.log")
    data = _data(tmp_path / "rows.jsonl", ROWS)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "logreasoner.cli.main", "eval", "run", "--data", str(data), "--task", "anomaly",
           "--program", "direct", "--model", f"openai/{ALIAS}", "--out", str(out), "--no-progress", "--bootstrap",
           "0", "--no-cache"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(LOGREASONER_API_BASE=srv.api_base))
    samples = out / "samples.jsonl"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not (samples.is_file() and samples.read_text().count("\n") >= 2):
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        srv.stop()  # the server dies mid-run
        _, err = proc.communicate(timeout=120)
    finally:
        srv.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    rows = [json.loads(x) for x in samples.read_text().splitlines()]
    finished = [r for r in rows if not r["error"]]
    assert len(finished) >= 2  # what finished before the crash is kept
    assert "Traceback" not in err
    assert proc.returncode == 3, err  # the run stops: the model is unavailable
    assert "127.0.0.1" in err.strip().splitlines()[-1]
