"""A counting stand-in model for the scale tests: answers any JSON-schema request, counts every call.

``counting_lm()`` gives a ``dspy.LM`` whose engine fills the requested schema with a valid minimal value
(for an anomaly verdict: ``abnormal`` when the log data holds a severity word, else ``normal``), counts calls,
and records the most requests it ever had in flight at once. ``delay`` makes each call take that long, to
measure concurrency as a remote model would show it.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from logreasoner.logs.excerpt import BEGIN, END, SEVERITY_RE

__all__ = ["CountingEngine", "counting_lm"]


def _resolve(node: dict, root: dict) -> dict:
    while "$ref" in node:
        name = node["$ref"].split("/")[-1]
        target = root.get("$defs", {}).get(name) or root.get("definitions", {}).get(name) or {}
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _fill(node: dict, root: dict, severe: bool, depth: int = 0) -> Any:
    node = _resolve(node, root)
    if depth > 20:
        return None
    if "const" in node:
        return node["const"]
    if "enum" in node:
        values = list(node["enum"])
        if "abnormal" in values:
            return "abnormal" if severe else "normal"
        return values[0]
    for key in ("anyOf", "oneOf"):
        if key in node:
            options = [o for o in node[key] if _resolve(o, root).get("type") != "null"] or node[key]
            return _fill(options[0], root, severe, depth + 1)
    t = node.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "null")
    if t == "object" or "properties" in node:
        return {k: _fill(v, root, severe, depth + 1) for k, v in node.get("properties", {}).items()}
    if t == "array":
        n = int(node.get("minItems", 0) or 0)
        return [_fill(node.get("items", {"type": "string"}), root, severe, depth + 1) for _ in range(n)]
    if t == "string":
        return "ok"
    if t == "integer":
        return 1
    if t == "number":
        return 1.0
    if t == "boolean":
        return False
    return None


class CountingEngine:
    """A DSPy 3.4 engine: ``complete(request) -> Response``. Thread-safe counters; no lock around answering."""

    supports_response_schema = True
    supports_function_calling = False
    supports_reasoning = False
    supported_params = frozenset({"response_format", "temperature", "max_tokens", "stop", "seed", "top_p"})

    def __init__(self, delay: float = 0.0, keep_prompts: int = 0) -> None:
        self.delay = delay
        self.keep_prompts = keep_prompts
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.prompts: list[str] = []
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.calls = self.max_in_flight = 0
            self.prompts = []

    def complete(self, request: Any) -> Any:
        from dspy.lm15 import Message, Response, Usage

        text = "\n".join(m.text or "" for m in request.messages)
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if len(self.prompts) < self.keep_prompts:
                self.prompts.append(text)
        try:
            if self.delay:
                time.sleep(self.delay)
            data = text.split(BEGIN, 1)[-1].split(END, 1)[0]
            fmt = request.config.response_format
            schema = None
            if isinstance(fmt, dict):
                schema = fmt.get("schema") or (fmt.get("json_schema") or {}).get("schema")
            out = json.dumps(_fill(schema, schema, bool(SEVERITY_RE.search(data)))) if schema else "{}"
            return Response(id=None, model="counting", message=Message.assistant(out), finish_reason="stop",
                            usage=Usage(input_tokens=len(text) // 4, output_tokens=len(out) // 4,
                                        total_tokens=(len(text) + len(out)) // 4))
        finally:
            with self._lock:
                self.in_flight -= 1

    def stream(self, request: Any) -> Any:
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        pass


def counting_lm(delay: float = 0.0, name: str = "fake/counting", keep_prompts: int = 0) -> Any:
    """A ``dspy.LM`` over a fresh :class:`CountingEngine` (DSPy's own cache off, so every call reaches it)."""
    import dspy

    return dspy.LM(name, engine=CountingEngine(delay=delay, keep_prompts=keep_prompts), cache=False)
