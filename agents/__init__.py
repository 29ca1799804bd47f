"""Reasoning as a tool: one tool surface (MCP server, ``dspy.Tool``, OpenAI schemas) and a log investigator agent.

Names are imported lazily, so ``import logreasoner.agents.cli`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "LogTools", "ToolSpec", "Sandbox", "ReadLimits", "PathNotAllowedError",
    "build_server", "serve_stdio", "serve_http", "BackgroundHTTPServer",
    "as_dspy_tools", "openai_tool_schemas", "dispatch_openai_call",
    "Investigator", "InvestigationResult", "investigate", "FolderTools",
]

_WHERE = {
    "LogTools": "tools", "ToolSpec": "spec", "Sandbox": "sandbox", "ReadLimits": "sandbox",
    "PathNotAllowedError": "sandbox", "build_server": "mcp_server", "serve_stdio": "mcp_server",
    "serve_http": "mcp_server", "BackgroundHTTPServer": "mcp_server", "as_dspy_tools": "dspy_tools",
    "openai_tool_schemas": "openai_tools", "dispatch_openai_call": "openai_tools",
    "Investigator": "investigator", "InvestigationResult": "investigator", "investigate": "investigator",
    "FolderTools": "folder_tools",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"logreasoner.agents.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'logreasoner.agents' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
