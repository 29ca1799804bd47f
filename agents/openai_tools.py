"""The tool surface as OpenAI function-calling schemas, and a dispatcher for the calls a model sends back."""

from __future__ import annotations

import json
import logging
from typing import Any

from logreasoner.errors import LogReasonerError

from logreasoner.agents.tools import LogTools

__all__ = ["openai_tool_schemas", "dispatch_openai_call"]

logger = logging.getLogger(__name__)


def openai_tool_schemas(tools: LogTools | None = None, **kwargs: Any) -> list[dict]:
    """``[{"type": "function", "function": {name, description, parameters}}, ...]`` for the Chat Completions
    ``tools=`` argument (the Responses API takes the inner ``function`` objects with ``"type": "function"``)."""
    tools = tools or LogTools(**kwargs)
    return [
        {"type": "function",
         "function": {"name": s.name, "description": s.description, "parameters": s.parameters_schema()}}
        for s in tools.specs()
    ]


def dispatch_openai_call(tools: LogTools, name: str, arguments: str | dict | None) -> str:
    """Run one tool call (``name`` plus the JSON ``arguments`` string the model produced) and return the JSON
    text to send back as the tool message. Errors come back as ``{"error": ..., "hint": ...}``, never raised."""
    try:
        args = json.loads(arguments) if isinstance(arguments, str) and arguments.strip() else (arguments or {})
        if not isinstance(args, dict):
            raise ValueError("arguments must be a JSON object")
        return tools.spec(name).call(args).model_dump_json()
    except LogReasonerError as e:
        return json.dumps({"error": e.message, "hint": e.hint})
    except json.JSONDecodeError as e:
        return json.dumps({"error": f"arguments are not valid JSON: {e.msg}", "hint": "send a JSON object"})
    except ValueError as e:
        return json.dumps({"error": str(e), "hint": "send a JSON object of the tool's parameters"})
    except Exception as e:  # a crash must reach the model as a result, not end the agent loop
        logger.exception("tool %s failed", name)
        return json.dumps({"error": f"internal error in {name} ({type(e).__name__})", "hint": "see the server log"})
