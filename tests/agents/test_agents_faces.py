"""One definition, three faces: the dspy.Tool objects and OpenAI schemas match the MCP tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import dspy
from agents_helpers import PLAN, json_lm
from mcp import Client

from logreasoner.agents.dspy_tools import as_dspy_tools
from logreasoner.agents.mcp_server import build_server
from logreasoner.agents.openai_tools import dispatch_openai_call, openai_tool_schemas
from logreasoner.agents.tools import TOOL_NAMES, LogTools
from logreasoner.errors import InputError
from logreasoner.contracts.retrieval import ExpertPlan, InMemoryRetriever

RETRIEVER = InMemoryRetriever([ExpertPlan(id="disk-full", title="Disk full", task="rca",
                                          problem_overview="a disk runs out of space")])


def tools_for(root: Path, answers: list[dict] | None = None) -> LogTools:
    return LogTools([root], model="dummy", lm=json_lm(answers or []), retriever=RETRIEVER)


def test_the_three_faces_expose_the_same_tools_and_parameters(logs_dir: Path) -> None:
    tools = tools_for(logs_dir)

    async def go() -> Any:
        async with Client(build_server(tools)) as c:
            return (await c.list_tools()).tools

    mcp_tools = {t.name: t for t in anyio.run(go)}
    oa = {s["function"]["name"]: s["function"] for s in openai_tool_schemas(tools)}
    ds = {t.name: t for t in as_dspy_tools(tools)}
    assert set(mcp_tools) == set(oa) == set(ds) == set(TOOL_NAMES)
    for name in TOOL_NAMES:
        params = set(oa[name]["parameters"]["properties"])
        assert params == set(mcp_tools[name].input_schema["properties"]) == set(ds[name].args)
        assert oa[name]["description"] == mcp_tools[name].description == ds[name].desc
        for p, schema in oa[name]["parameters"]["properties"].items():
            assert schema.get("description"), f"{name}.{p} has no description"
    json.dumps(openai_tool_schemas(tools))  # plain JSON
    assert oa["analyze_logs"]["parameters"]["additionalProperties"] is False
    assert "$ref" not in json.dumps(oa)


def test_openai_dispatch_runs_calls_and_reports_errors_as_json(logs_dir: Path) -> None:
    step = {"steps": [{"step": "scan", "finding": "disk full", "evidence_lines": [3]}],
            "answer": {"verdict": "abnormal", "evidence_lines": [3]}}
    tools = tools_for(logs_dir, [PLAN, step])
    out = json.loads(dispatch_openai_call(tools, "analyze_logs", json.dumps({"task": "anomaly", "path": "db.log"})))
    assert out["primary"] == "abnormal" and out["evidence"][0]["line"] == 3
    err = json.loads(dispatch_openai_call(tools, "analyze_logs", '{"task": "anomaly", "path": "../../etc/passwd"}'))
    assert "outside the allowed folders" in err["error"] and err["hint"]
    assert "not valid JSON" in json.loads(dispatch_openai_call(tools, "list_tasks", "{oops"))["error"]
    assert "unknown tool" in json.loads(dispatch_openai_call(tools, "rm_rf", "{}"))["error"]
    extra = json.loads(dispatch_openai_call(tools, "list_tasks", '{"surprise": 1}'))
    assert "surprise" in extra["error"]
    assert len(json.loads(dispatch_openai_call(tools, "list_tasks", ""))["tasks"]) >= 5


def test_dspy_tools_validate_and_return_dicts(logs_dir: Path) -> None:
    ds = {t.name: t for t in as_dspy_tools(tools_for(logs_dir))}
    plans = ds["retrieve_expert_plan"](problem="No space left on device", task="rca")
    assert plans["plans"][0]["id"] == "disk-full"
    try:
        ds["analyze_logs"](task="anomaly", path="/etc/passwd")
    except InputError as e:
        assert "outside the allowed folders" in e.message
    else:
        raise AssertionError("a path outside the root was read")


def test_a_dspy_react_agent_can_use_the_tools(logs_dir: Path) -> None:
    lm = json_lm([
        {"next_thought": "which tasks exist?", "next_tool_name": "list_tasks", "next_tool_args": {}},
        {"next_thought": "done", "next_tool_name": "finish", "next_tool_args": {}},
        {"reasoning": "listed", "answer": "anomaly, diagnosis, interpret, parse, rca"},
    ])
    agent = dspy.ReAct("question -> answer", tools=as_dspy_tools(tools_for(logs_dir)), max_iters=3)
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        pred = agent(question="Which tasks can you do?")
    assert "rca" in pred.answer
    assert '"name": "anomaly"' in json.dumps(pred.trajectory["observation_0"])
