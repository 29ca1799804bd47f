"""The tool surface as ``dspy.Tool`` objects, for DSPy agents (``dspy.ReAct(sig, tools=as_dspy_tools(...))``)."""

from __future__ import annotations

from typing import Any

from logreasoner.agents.spec import ToolSpec
from logreasoner.agents.tools import LogTools

__all__ = ["as_dspy_tools", "dspy_tool"]


def dspy_tool(spec: ToolSpec) -> Any:
    """One ``dspy.Tool``: same name, description and argument schema as the MCP tool; returns a JSON-ready dict.

    Errors raise (``LogReasonerError`` with a message and a hint): ``dspy.ReAct`` shows them to the model as the
    observation, so it can correct its call.
    """
    import dspy

    def run(**kwargs: Any) -> dict:
        return spec.call(kwargs).model_dump(mode="json")

    run.__name__ = spec.name
    run.__doc__ = spec.description
    schema = spec.parameters_schema()
    args = schema.get("properties", {})
    fn = spec.function()
    arg_types = {k: v for k, v in fn.__annotations__.items() if k != "return"}
    arg_desc = {k: v.get("description", "") for k, v in args.items()}
    return dspy.Tool(run, name=spec.name, desc=spec.description, args=args, arg_types=arg_types, arg_desc=arg_desc)


def as_dspy_tools(tools: LogTools | None = None, **kwargs: Any) -> list[Any]:
    """All tools of a :class:`LogTools` (built from ``kwargs`` when not given) as ``dspy.Tool`` objects."""
    tools = tools or LogTools(**kwargs)
    return [dspy_tool(s) for s in tools.specs()]
