"""Token usage, cost and cache hits of one example, read from the LM's history.

The runner gives every example its own ``lm.copy()`` (history isolated, the engine and DSPy's cache shared),
so the copy's history holds exactly that example's calls. A call served from DSPy's cache records empty usage
while its stored response still carries the original token counts: that is how cache hits are counted.
"""

from __future__ import annotations

from typing import Any

__all__ = ["usage_from_history", "add_usage", "EMPTY_USAGE"]

EMPTY_USAGE = {"lm_calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost": 0.0,
               "cache_hits": 0}


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _response_tokens(response: Any) -> int:
    usage = _get(response, "usage")
    if usage is None:
        return 0
    total = 0
    for k in ("total_tokens", "input_tokens", "output_tokens", "prompt_tokens", "completion_tokens"):
        v = _get(usage, k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            total += int(v)
    return total


def _is_cache_hit(entry: dict[str, Any]) -> bool:
    response = entry.get("response")
    if _get(response, "cache_hit") is True:
        return True
    return not entry.get("usage") and _response_tokens(response) > 0


def usage_from_history(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum of calls, tokens, cost and cache hits over LM history entries."""
    out = dict(EMPTY_USAGE)
    for e in history or []:
        out["lm_calls"] += 1
        u = e.get("usage") or {}
        p = int(u.get("prompt_tokens") or 0)
        c = int(u.get("completion_tokens") or 0)
        out["prompt_tokens"] += p
        out["completion_tokens"] += c
        out["total_tokens"] += int(u.get("total_tokens") or (p + c))
        if _is_cache_hit(e):  # cached entries keep the original cost, but nothing was paid this time
            out["cache_hits"] += 1
        elif isinstance(e.get("cost"), (int, float)):
            out["cost"] += float(e["cost"])
    return out


def add_usage(a: dict[str, Any], b: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(a)
    for k, v in (b or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = out.get(k, 0) + v
    return out
