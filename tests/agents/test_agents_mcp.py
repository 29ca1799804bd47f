"""The MCP server driven in process with ``mcp.Client``, and over streamable HTTP on loopback."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import anyio
import pytest
from agents_helpers import PLAN, json_lm
from mcp import Client

from logreasoner.agents.mcp_server import BackgroundHTTPServer, build_server, make_http_server
from logreasoner.agents.sandbox import ReadLimits
from logreasoner.agents.tools import TOOL_NAMES, LogTools
from logreasoner.errors import ConfigError
from logreasoner.contracts.retrieval import ExpertPlan, InMemoryRetriever

RETRIEVER = InMemoryRetriever([
    ExpertPlan(id="disk-full", title="Disk full", task="rca", problem_overview="a disk runs out of space",
               reasoning_steps=["find 'No space left on device'", "find which volume"], tags=["disk"]),
    ExpertPlan(id="ssh-brute", title="SSH brute force", task="anomaly", problem_overview="many failed logins",
               reasoning_steps=["count failures per source"], tags=["ssh"]),
])

ANOMALY_STEP = {"steps": [{"step": "scan", "finding": "disk full on db", "evidence_lines": [3]}],
                "answer": {"verdict": "abnormal", "evidence_lines": [3, 42]}}


def make_tools(root: Path, answers: list[dict] | None = None, **kw: Any) -> LogTools:
    return LogTools([root], model="dummy", lm=json_lm(answers or []), retriever=RETRIEVER, **kw)


def call(server: Any, name: str, args: dict | None = None) -> Any:
    async def go() -> Any:
        with anyio.fail_after(20):
            async with Client(server) as c:
                return await c.call_tool(name, args or {})

    return anyio.run(go)


def test_lists_the_four_tools_with_described_schemas(logs_dir: Path) -> None:
    async def go() -> Any:
        async with Client(build_server(make_tools(logs_dir))) as c:
            return (await c.list_tools()).tools

    tools = {t.name: t for t in anyio.run(go)}
    assert set(tools) == set(TOOL_NAMES)
    props = tools["analyze_logs"].input_schema["properties"]
    assert {"task", "text", "path", "labels", "question", "model"} <= set(props)
    assert "allowed folders" in props["path"]["description"]
    assert tools["analyze_logs"].input_schema["required"] == [] if "required" in tools["analyze_logs"].input_schema \
        else True
    assert tools["retrieve_expert_plan"].input_schema["required"] == ["problem"]
    assert "answer" in tools["analyze_logs"].output_schema["properties"]
    assert tools["list_tasks"].annotations.read_only_hint is True


def test_analyze_logs_on_a_file_returns_a_structured_answer(logs_dir: Path) -> None:
    r = call(build_server(make_tools(logs_dir, [PLAN, ANOMALY_STEP])), "analyze_logs",
             {"task": "anomaly", "path": "db.log", "question": "is the database healthy?"})
    assert not r.is_error
    out = r.structured_content
    # line 42 was never shown: dropped from the answer, reported as invented
    assert out["answer"] == {"verdict": "abnormal", "evidence_lines": [3]} and out["primary"] == "abnormal"
    assert out["evidence"] == [{"source": "db.log", "line": 3,
                                "text": '2024-05-01 14:02:13 ERROR: could not extend file "base/16384/24576": '
                                        "No space left on device"}]
    assert out["invented_lines"] == [42]  # cited but never shown: dropped from evidence
    assert out["plan"]["reasoning_steps"] == ["scan", "decide"]
    assert out["input"]["source"] == "db.log" and out["input"]["lines"] == 5
    assert json.loads(r.content[0].text) == out  # the same JSON as text for clients without structured content


def test_analyze_logs_on_text_and_the_rca_task(logs_dir: Path) -> None:
    rca = {"steps": [{"step": "scan", "finding": "no space", "evidence_lines": [2]}],
           "answer": {"cause": "the disk is full", "remediation": ["free space"]}}
    r = call(build_server(make_tools(logs_dir, [PLAN, rca])), "analyze_logs",
             {"task": "rca", "text": "boot ok\nwrite failed: No space left on device\n"})
    assert not r.is_error
    assert r.structured_content["primary"] == "the disk is full"
    assert r.structured_content["evidence"][0]["source"] == "<text>"


def test_retrieve_expert_plan_and_list_tasks(logs_dir: Path) -> None:
    server = build_server(make_tools(logs_dir))
    r = call(server, "retrieve_expert_plan", {"problem": "No space left on device", "task": "root-cause", "k": 1})
    assert not r.is_error
    assert r.structured_content["task"] == "rca"  # the alias is resolved
    assert [p["id"] for p in r.structured_content["plans"]] == ["disk-full"]
    r = call(server, "list_tasks")
    tasks = {t["name"]: t for t in r.structured_content["tasks"]}
    assert {"anomaly", "diagnosis", "rca", "parse", "interpret"} <= set(tasks)
    assert tasks["diagnosis"]["needs_labels"] is True
    assert "verdict" in tasks["anomaly"]["answer_schema"]["properties"]


def test_explain_line(logs_dir: Path) -> None:
    explain = {"steps": [{"step": "decode", "finding": "disk full", "evidence_lines": [1]}],
               "answer": {"explanation": "the worker could not write because the disk is full"}}
    r = call(build_server(make_tools(logs_dir, [PLAN, explain])), "explain_line",
             {"line": "2024-05-01 14:02:13 ERROR worker-1: COPY failed: No space left on device"})
    assert not r.is_error
    out = r.structured_content
    assert out["explanation"].startswith("the worker could not write")
    assert "error" in out["severity_terms"] and "failed" in out["severity_terms"]
    assert "<NUM>" in out["template"] and "14:02:13" not in out["template"]


@pytest.mark.parametrize("args, message", [
    ({"task": "anomaly"}, "give exactly one of 'text'"),
    ({"task": "anomaly", "text": "x", "path": "db.log"}, "give exactly one of 'text'"),
    ({"task": "no-such-task", "text": "x"}, "unknown task 'no-such-task'"),
    ({"task": "diagnosis", "text": "x"}, "needs a label set"),
    ({"task": "anomaly", "path": "../../../etc/passwd"}, "outside the allowed folders"),
    ({"task": "anomaly", "path": "/etc/passwd"}, "outside the allowed folders"),
    ({"task": "anomaly", "path": "missing.log"}, "file not found"),
    ({"task": "anomaly", "text": "x", "model": "/tmp/evil.gguf"}, "not allowed by this server"),
    ({"task": "anomaly", "text": "x", "labels": "not-a-list"}, "labels"),
    ({"task": 5, "text": "x"}, "task"),
    ({"task": "anomaly", "text": "   \n  "}, "no log lines"),
])
def test_bad_input_gives_an_error_result_with_a_clear_message(logs_dir: Path, args: dict, message: str) -> None:
    r = call(build_server(make_tools(logs_dir)), "analyze_logs", args)
    assert r.is_error
    assert message in r.content[0].text


def test_out_of_range_arguments_are_error_results(logs_dir: Path) -> None:
    r = call(build_server(make_tools(logs_dir)), "retrieve_expert_plan", {"problem": "disk", "k": 500})
    assert r.is_error and "k" in r.content[0].text and "20" in r.content[0].text
    r = call(build_server(make_tools(logs_dir)), "explain_line", {"line": "a\nb"})
    assert r.is_error and "one line" in r.content[0].text


def test_a_format_failure_is_a_result_not_an_error(logs_dir: Path) -> None:
    r = call(build_server(make_tools(logs_dir, [{"nonsense": 1}, {"nonsense": 2}, {"x": 1}, {"y": 2}])),
             "analyze_logs", {"task": "anomaly", "path": "db.log"})
    assert not r.is_error
    assert r.structured_content["answer"] is None and "could not parse" in r.structured_content["format_error"]


def test_symlink_out_of_the_root_is_an_error_result(logs_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("top secret\n")
    (logs_dir / "innocent.log").symlink_to(tmp_path / "secret.txt")
    r = call(build_server(make_tools(logs_dir)), "analyze_logs", {"task": "anomaly", "path": "innocent.log"})
    assert r.is_error and "symlink" in r.content[0].text and "top secret" not in r.content[0].text


def test_text_over_the_size_limit_is_refused(logs_dir: Path) -> None:
    tools = make_tools(logs_dir, limits=ReadLimits(max_bytes=100))
    r = call(build_server(tools), "analyze_logs", {"task": "anomaly", "text": "x" * 200})
    assert r.is_error and "larger than this server's limit" in r.content[0].text


def test_unknown_tool_and_crashes_are_error_results(logs_dir: Path) -> None:
    tools = make_tools(logs_dir)

    class Broken:
        def retrieve(self, *a: Any, **k: Any) -> list:
            raise RuntimeError("database is locked /secret/path")

    tools._retriever = Broken()
    server = build_server(tools)
    r = call(server, "no_such_tool")
    assert r.is_error and "no_such_tool" in r.content[0].text
    r = call(server, "retrieve_expert_plan", {"problem": "x"})
    assert r.is_error and "internal error in retrieve_expert_plan (RuntimeError)" in r.content[0].text
    assert "/secret/path" not in r.content[0].text  # details stay in the server log


def test_without_roots_only_text_is_accepted(logs_dir: Path) -> None:
    tools = LogTools([], model="dummy", lm=json_lm([]), retriever=RETRIEVER)
    r = call(build_server(tools), "analyze_logs", {"task": "anomaly", "path": str(logs_dir / "db.log")})
    assert r.is_error and "--root" in r.content[0].text


def test_streamable_http_on_loopback(logs_dir: Path) -> None:
    server = build_server(make_tools(logs_dir))
    with BackgroundHTTPServer(server, host="127.0.0.1", port=0) as h:
        assert h.url.startswith("http://127.0.0.1:") and h.port
        bound = h.uvicorn.servers[0].sockets[0].getsockname()
        assert bound[0] == "127.0.0.1"

        async def go() -> Any:
            with anyio.fail_after(20):
                async with Client(h.url) as c:
                    names = {t.name for t in (await c.list_tools()).tools}
                    r = await c.call_tool("list_tasks", {})
                    bad = await c.call_tool("analyze_logs", {"task": "anomaly", "path": "../x"})
                    return names, r, bad

        names, r, bad = anyio.run(go)
    assert names == set(TOOL_NAMES)
    assert not r.is_error and "anomaly" in {t["name"] for t in r.structured_content["tasks"]}
    assert bad.is_error and "outside the allowed folders" in bad.content[0].text
    with socket.socket() as s:  # stopped: nothing listens there any more
        assert s.connect_ex(("127.0.0.1", h.port)) != 0


def test_http_refuses_a_non_loopback_host_unless_allowed(logs_dir: Path) -> None:
    server = build_server(make_tools(logs_dir))
    with pytest.raises(ConfigError, match="--allow-remote"):
        make_http_server(server, host="0.0.0.0", port=0)
    assert make_http_server(server, host="0.0.0.0", port=0, allow_remote=True).config.host == "0.0.0.0"
    assert make_http_server(server, host="::1", port=0).config.host == "::1"


def test_the_cli_serves_over_stdio(logs_dir: Path) -> None:
    import os
    import sys

    from mcp import StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["-m", "logreasoner.agents.cli", "mcp", "serve",
                                                                 "--root", str(logs_dir), "--model", "local"],
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})

    async def go() -> Any:
        with anyio.fail_after(60):
            async with Client(params) as c:
                names = {t.name for t in (await c.list_tools()).tools}
                tasks = await c.call_tool("list_tasks", {})
                escape = await c.call_tool("analyze_logs", {"task": "anomaly", "path": "../../../../etc/passwd"})
                return names, tasks, escape

    names, tasks, escape = anyio.run(go)
    assert names == set(TOOL_NAMES) and not tasks.is_error
    assert escape.is_error and "outside the allowed folders" in escape.content[0].text
