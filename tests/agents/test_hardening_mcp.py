"""Issue 14, items 1, 2, 4 (sandbox and folder tools) and 13 (a busy HTTP port) for the MCP server.

- 1: a FIFO inside ``--root`` is refused at once (no thread blocks on it); every tool call is bounded in time;
  the server still answers and stops on SIGTERM.
- 2: DNS-rebinding protection holds for every loopback address (127.0.0.2, ``0:0:0:0:0:0:0:1``), not only the
  SDK's literal 127.0.0.1/localhost/::1; an optional bearer token guards HTTP.
- 4: a corrupt ``.gz`` is a clear tool error; folder tools skip it and say so.
- 13: a busy port is exit 2 with a one-line message (was exit 3, the code for "model unavailable").
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import dspy
import httpx
import pytest
from agents_helpers import json_lm
from dspy.utils import DummyLM
from mcp import Client

from logreasoner.agents.folder_tools import FolderTools
from logreasoner.agents.mcp_server import BackgroundHTTPServer, build_server
from logreasoner.agents.sandbox import Sandbox
from logreasoner.agents.tools import LogTools
from logreasoner.errors import InputError
from logreasoner.contracts.retrieval import ExpertPlan, InMemoryRetriever

RETRIEVER = InMemoryRetriever([ExpertPlan(id="disk", title="Disk full", task="rca", problem_overview="disk",
                                          reasoning_steps=["look"], tags=["disk"])])
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _unblock(fifo: Path) -> None:
    """Wake any reader stuck opening or reading the FIFO (only needed when the fix is missing)."""
    for _ in range(100):
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return
        os.close(fd)
        time.sleep(0.01)


def _corrupt_gz() -> bytes:
    data = bytearray(gzip.compress(b"".join(b"2024-05-01 ERROR disk sda failed %d\n" % i for i in range(2000))))
    for i in range(40, 60):
        data[i] ^= 0xFF
    return bytes(data)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- item 1: FIFOs and time bounds ----------------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_in_the_root_is_refused_and_the_server_keeps_answering(logs_dir: Path) -> None:
    fifo = logs_dir / "fifo"
    os.mkfifo(fifo)
    tools = LogTools([logs_dir], model="dummy", lm=json_lm([]), retriever=RETRIEVER)

    async def go() -> tuple[list[Any], Any]:
        with anyio.fail_after(30):
            async with Client(build_server(tools)) as c:
                results: list[Any] = []

                async def one() -> None:
                    results.append(await c.call_tool("analyze_logs", {"task": "anomaly", "path": "fifo"}))

                async with anyio.create_task_group() as tg:
                    for _ in range(45):
                        tg.start_soon(one)
                return results, await c.call_tool("list_tasks", {})

    try:
        results, tasks = anyio.run(go)
    finally:
        _unblock(fifo)
    assert len(results) == 45 and all(r.is_error for r in results)
    assert "not a regular file" in results[0].content[0].text and "FIFO" in results[0].content[0].text
    assert not tasks.is_error


def test_the_sandbox_refuses_special_files_without_opening_them(logs_dir: Path) -> None:
    sandbox = Sandbox([logs_dir])
    if hasattr(os, "mkfifo"):
        os.mkfifo(logs_dir / "pipe")
        try:
            with pytest.raises(InputError, match="not a regular file"):
                sandbox.read("pipe")
            with pytest.raises(InputError, match="not a regular file"):
                sandbox.list_files("pipe")
            assert "pipe" not in {f.path for f in sandbox.list_files()[0]}
        finally:
            _unblock(logs_dir / "pipe")
    sock_path = logs_dir / "sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock_path))
        with pytest.raises(InputError, match="not a regular file"):
            sandbox.read("sock")


class SlowLM(DummyLM):
    def forward(self, *a: Any, **kw: Any) -> Any:
        time.sleep(3)
        return super().forward(*a, **kw)


def test_a_tool_call_is_bounded_in_time(logs_dir: Path) -> None:
    from logreasoner.agents.mcp_server import CallLimits

    lm = SlowLM([{"answer": {"verdict": "normal", "evidence_lines": []}}] * 4, adapter=dspy.JSONAdapter())
    tools = LogTools([logs_dir], model="dummy", lm=lm, retriever=RETRIEVER)
    server = build_server(tools, limits=CallLimits(timeout=1.0, max_calls=4))

    async def go() -> tuple[Any, Any, float]:
        with anyio.fail_after(20):
            async with Client(server) as c:
                t0 = time.monotonic()
                slow = await c.call_tool("analyze_logs", {"task": "anomaly", "text": "ERROR x", "program": "direct"})
                waited = time.monotonic() - t0
                return slow, await c.call_tool("list_tasks", {}), waited

    slow, tasks, waited = anyio.run(go)
    assert slow.is_error and "did not finish within 1 s" in slow.content[0].text
    assert waited < 2.5 and not tasks.is_error


@pytest.mark.skipif(not hasattr(os, "mkfifo") or sys.platform == "win32", reason="needs FIFOs and signals")
def test_the_http_server_survives_fifo_calls_and_stops_on_sigterm(logs_dir: Path) -> None:
    os.mkfifo(logs_dir / "fifo")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "logreasoner.agents.cli", "mcp", "serve", "--http", "--port",
                             str(port), "--root", str(logs_dir), "--model", "local"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)

        async def go() -> tuple[list[Any], Any]:
            with anyio.fail_after(30):
                async with Client(url) as c:
                    bad = [await c.call_tool("analyze_logs", {"task": "anomaly", "path": "fifo"}) for _ in range(5)]
                    return bad, await c.call_tool("list_tasks", {})

        bad, tasks = anyio.run(go)
        assert all(r.is_error and "not a regular file" in r.content[0].text for r in bad) and not tasks.is_error
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        _unblock(logs_dir / "fifo")
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert "Traceback" not in proc.stderr.read()


# -- item 2: DNS rebinding and the bearer token ----------------------------------------------------------------------
def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("host", ["127.0.0.2", "0:0:0:0:0:0:0:1", "127.0.0.1", "localhost"])
def test_foreign_host_and_origin_are_refused_on_every_loopback_address(logs_dir: Path, host: str) -> None:
    if ":" in host and not _ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    if host == "127.0.0.2" and sys.platform != "linux":
        pytest.skip("127.0.0.2 is a loopback address on Linux only")
    tools = LogTools([logs_dir], model="dummy", lm=json_lm([]), retriever=RETRIEVER)
    with BackgroundHTTPServer(build_server(tools), host=host, port=0) as h:
        bracketed = f"[{host}]" if ":" in host else host
        with httpx.Client(timeout=10) as http:
            evil_host = http.post(h.url, json=INIT, headers={**HEADERS, "Host": f"evil.example:{h.port}"})
            evil_origin = http.post(h.url, json=INIT, headers={**HEADERS, "Origin": "http://evil.example"})
            own = http.post(h.url, json=INIT, headers={**HEADERS, "Host": f"{bracketed}:{h.port}",
                                                        "Origin": f"http://{bracketed}:{h.port}"})
    assert evil_host.status_code == 421
    assert evil_origin.status_code == 403
    assert own.status_code == 200


def test_a_bearer_token_is_required_when_set(logs_dir: Path) -> None:
    tools = LogTools([logs_dir], model="dummy", lm=json_lm([]), retriever=RETRIEVER)
    with BackgroundHTTPServer(build_server(tools), port=0, token="s3cret-token-1") as h:
        with httpx.Client(timeout=10) as http:
            none = http.post(h.url, json=INIT, headers=HEADERS)
            wrong = http.post(h.url, json=INIT, headers={**HEADERS, "Authorization": "Bearer nope-nope-nope"})
            right = http.post(h.url, json=INIT, headers={**HEADERS, "Authorization": "Bearer s3cret-token-1"})
    assert none.status_code == 401 and wrong.status_code == 401 and right.status_code == 200


def test_the_cli_takes_the_token_from_the_environment(logs_dir: Path) -> None:
    port = _free_port()
    env = {**os.environ, "LOGREASONER_MCP_TOKEN": "from-the-env-123"}
    proc = subprocess.Popen([sys.executable, "-m", "logreasoner.agents.cli", "mcp", "serve", "--http", "--port",
                             str(port), "--root", str(logs_dir)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline, codes = time.monotonic() + 60, None
        while time.monotonic() < deadline and codes is None:
            try:
                with httpx.Client(timeout=5) as http:
                    url = f"http://127.0.0.1:{port}/mcp"
                    codes = (http.post(url, json=INIT, headers=HEADERS).status_code,
                             http.post(url, json=INIT, headers={**HEADERS, "Authorization":
                                                                "Bearer from-the-env-123"}).status_code)
            except httpx.TransportError:
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(20)
    assert codes == (401, 200)


# -- item 13: a busy port -----------------------------------------------------------------------------------------
def test_a_busy_port_is_exit_2(logs_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "logreasoner.cli.main", "mcp", "serve", "--http", "--port",
                               str(port), "--root", str(logs_dir)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "already in use" in last and "--port" in last
    assert "Traceback" not in proc.stderr


def test_an_empty_model_spec_is_exit_2(logs_dir: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "logreasoner.cli.main", "mcp", "serve", "--root", str(logs_dir),
                           "--model", ""], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "--model is empty" in proc.stderr


# -- item 4: corrupt gzip in the sandbox and the folder tools --------------------------------------------------------
def test_a_corrupt_gz_is_a_clear_tool_error(logs_dir: Path) -> None:
    (logs_dir / "old.log.gz").write_bytes(_corrupt_gz())
    with pytest.raises(InputError, match="old.log.gz"):
        Sandbox([logs_dir]).read("old.log.gz")
    tools = LogTools([logs_dir], model="dummy", lm=json_lm([]), retriever=RETRIEVER)

    async def go() -> Any:
        with anyio.fail_after(20):
            async with Client(build_server(tools)) as c:
                return await c.call_tool("analyze_logs", {"task": "anomaly", "path": "old.log.gz"})

    r = anyio.run(go)
    assert r.is_error and "cannot read old.log.gz" in r.content[0].text and "internal error" not in r.content[0].text


def test_folder_tools_skip_a_corrupt_file_and_say_so(logs_dir: Path) -> None:
    (logs_dir / "old.log.gz").write_bytes(_corrupt_gz())
    tools = FolderTools(Sandbox([logs_dir]), retriever=RETRIEVER)
    out = tools.grep("No space left")
    assert "db.log: 1" in out and "skipped 1 unreadable file" in out and "old.log.gz" in out
    summary = tools.template_summary(".")
    assert "skipped 1 unreadable file" in summary and "No space left" in summary
    assert json.dumps(out)  # plain text, no exception
