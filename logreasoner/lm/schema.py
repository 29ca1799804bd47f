"""JSON schemas for constrained decoding: take the schema an adapter asked for and make it safe for tiny models.

Tiny models fill free-text fields with endless tokens and arrays with endless items; capped schemas keep
grammar-constrained output inside ``max_tokens`` so it parses.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["schema_from_response_format", "cap_schema", "untuple_schema", "longest_output", "caps_for_budget"]


def schema_from_response_format(fmt: Any) -> dict | None:
    """The JSON schema inside an OpenAI/lm15 ``response_format`` (None when it asks for no schema)."""
    if not fmt:
        return None
    if isinstance(fmt, type):  # a pydantic model class
        try:
            return fmt.model_json_schema()
        except Exception:
            return None
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        inner = fmt.get("json_schema", fmt)
        return inner.get("schema") if isinstance(inner, dict) else None
    if fmt.get("type") == "json_object":
        return fmt.get("schema") or {"type": "object"}
    return None


def _resolve(schema: dict, root: dict, depth: int = 0) -> dict:
    if depth > 20:
        return schema
    if "$ref" in schema:
        ref = schema["$ref"].split("/")[-1]
        target = root.get("$defs", {}).get(ref) or root.get("definitions", {}).get(ref) or {}
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return _resolve(merged, root, depth + 1)
    return schema


def cap_schema(schema: dict, *, max_string: int = 300, max_items: int = 6) -> dict:
    """Inline ``$ref``s and give every string a ``maxLength`` and every array a ``maxItems``.

    Existing caps are kept when tighter. ``json_schema_extra`` keys the adapter left in place are dropped.
    """
    root = copy.deepcopy(schema)

    def walk(node: Any, depth: int = 0) -> Any:
        if not isinstance(node, dict) or depth > 30:
            return node
        node = _resolve(node, root)
        node = {k: v for k, v in node.items() if k not in ("json_schema_extra", "title", "$defs", "definitions")}
        for key in ("anyOf", "oneOf", "allOf"):
            if key in node:
                node[key] = [walk(x, depth + 1) for x in node[key]]
        t = node.get("type")
        if t == "string" and "enum" not in node and "const" not in node:
            node["maxLength"] = min(int(node.get("maxLength", max_string)), max_string)
        if t == "integer":  # bound the digits a tiny model may write
            node["minimum"] = max(int(node.get("minimum", -(10**9))), -(10**9))
            node["maximum"] = min(int(node.get("maximum", 10**9)), 10**9)
        if t == "array" and isinstance(node.get("items"), list):  # a tuple: its own length, each item capped
            node["items"] = [walk(x, depth + 1) for x in node["items"]]
        elif t == "array":
            node["maxItems"] = min(int(node.get("maxItems", max_items)), max_items)
            if "minItems" in node:  # a cap below a list's least length: the cap wins
                node["minItems"] = min(int(node["minItems"]), node["maxItems"])
            if "items" in node:
                node["items"] = walk(node["items"], depth + 1)
        if t == "object" or "properties" in node:
            node["properties"] = {k: walk(v, depth + 1) for k, v in node.get("properties", {}).items()}
        return node

    out = walk(root)
    # top-level lists (plan steps, step results) must not come back empty from a model that takes the shortcut
    for prop in out.get("properties", {}).values():
        if isinstance(prop, dict) and prop.get("type") == "array" and "minItems" not in prop:
            prop["minItems"] = 1
    return out


def untuple_schema(schema: dict) -> dict:
    """``schema`` with every tuple (``items`` given as a list) as a list of the same length whose items may be any
    of the tuple's (``anyOf``): for decoders that read only one item schema (lm-format-enforcer). The order of the
    tuple is then not enforced; llama.cpp's grammar enforces it."""

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(x) for x in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items()}
        items = out.get("items")
        if isinstance(items, list):
            distinct = [x for i, x in enumerate(items) if x not in items[:i]]
            out["items"] = distinct[0] if len(distinct) == 1 else {"anyOf": distinct}
            out["minItems"] = out["maxItems"] = len(items)
        return out

    return walk(schema)


def longest_output(schema: dict) -> int:
    """Characters of the longest compact JSON a capped schema allows (strings at ``maxLength``, arrays at
    ``maxItems``, integers at their widest bound), with one character of whitespace per separator. A model may
    spend at most one token per character, so a schema whose longest output fits in ``max_tokens`` cannot be
    cut off (bar runs of whitespace)."""

    def size(node: Any, depth: int = 0) -> int:
        if not isinstance(node, dict) or depth > 30:
            return 8
        if "enum" in node:
            return max((len(str(v)) + 2 for v in node["enum"]), default=8)
        if "const" in node:
            return len(str(node["const"])) + 2
        for key in ("anyOf", "oneOf"):
            if key in node:
                return max((size(x, depth + 1) for x in node[key]), default=8)
        t = node.get("type")
        if t == "string":
            return int(node.get("maxLength", 10_000)) + 2
        if t == "integer":
            return max(len(str(node.get("maximum", 10**9))), len(str(node.get("minimum", 0))))
        if t == "number":
            return 24
        if t == "boolean":
            return 5
        if t == "null":
            return 4
        if t == "array" and isinstance(node.get("items"), list):
            return 2 + sum(size(x, depth + 1) + 2 for x in node["items"])
        if t == "array":
            n = int(node.get("maxItems", 100))
            return 2 + n * (size(node.get("items", {}), depth + 1) + 2)
        if t == "object" or "properties" in node:
            props = node.get("properties", {})
            return 2 + sum(len(k) + 5 + size(v, depth + 1) for k, v in props.items())
        return 8

    return size(schema)


def caps_for_budget(schema: dict, max_tokens: int, *, max_string: int, max_items: int,
                    min_string: int = 16) -> tuple[int, int] | None:
    """The largest string cap, with an item cap of 3 (else 2, else 1), under which ``schema``'s longest output
    fits in ``max_tokens`` characters; None when even ``min_string`` and one item do not fit."""
    for items in range(min(3, max_items), 0, -1):
        lo, hi, best = min_string, max_string, None
        while lo <= hi:
            mid = (lo + hi) // 2
            if longest_output(cap_schema(schema, max_string=mid, max_items=items)) <= max_tokens:
                best, lo = mid, mid + 1
            else:
                hi = mid - 1
        if best is not None:
            return best, items
    return None
