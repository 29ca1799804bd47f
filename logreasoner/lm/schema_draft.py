"""Drafts of what a JSON schema makes certain, for llama.cpp's speculative decoding loop.

Under a grammar a model spends one forward pass on every token, also on the ones the schema leaves no choice
about: the keys of an object in their order, the ``": "`` after a key, the ``"`` that opens a string value, the
``[{"`` that opens a list of objects. In a coarse-to-fine step answer these are ~40% of the tokens. Evaluating
such a run as one batch costs about what two single tokens cost on this CPU (15 ms for one token, 32 ms for a
batch of five, SmolLM2-135M Q4_1 on one thread), so the answer arrives sooner.

``next_literal(text, schema)`` reads the JSON written so far and returns the text the schema forces next (empty
when the model has a choice: inside a string value, before an integer, at an optional key). ``SchemaDraft`` is the
draft model llama-cpp-python's ``generate`` asks after each token: it tokenizes that literal. Every drafted token
is still checked: the model samples each position from the batch's logits and the rest of the draft is dropped at
the first token it would not write (llama-cpp-python's loop), so a draft can only save passes, never force text.
The logits of a batch are computed together rather than one token at a time, so the floating-point sums differ
in the last bits; where the model is at a near tie between two tokens that can pick the other one.
"""

from __future__ import annotations

import json
from typing import Any

from logreasoner.lm.json_cursor import JsonCursor, item_schema

__all__ = ["next_literal", "literal_at", "constant_texts", "SchemaDraft"]

_MAX_DRAFT = 16  # tokens per draft; a longer literal is drafted again after these are accepted


def _keys(node: dict) -> list[str]:
    """The object's keys in the order a schema grammar writes them: required ones first, in schema order."""
    props = node.get("properties") or {}
    required = set(node.get("required") or ())
    return [k for k in props if k in required] + [k for k in props if k not in required]


def _word_prefix(prefix: str, values: list[str]) -> str:
    """``prefix`` cut back so that it ends where a word does: not inside a word the values go on with, not on a
    space (a word-piece tokenizer writes the space with the word after it: the model writes ``" timeout"`` after
    ``"network"``, so a drafted lone ``" "`` is always rejected, a wasted batch position; drafts never force text)."""
    n = len(prefix)
    if n and prefix[-1].isalnum() and any(len(v) > n and v[n].isalnum() for v in values):
        while n and prefix[n - 1].isalnum():
            n -= 1
    return prefix[:n].rstrip()


def _opener(node: Any, depth: int = 0) -> str:
    """What a value of ``node`` must begin with ('' when the model has a choice)."""
    if not isinstance(node, dict) or depth > 8:
        return ""
    if "enum" in node:
        values = node["enum"]
        if not values or not all(isinstance(v, str) for v in values):
            return ""
        prefix = values[0]
        for v in values[1:]:
            while not v.startswith(prefix):
                prefix = prefix[:-1]
        return '"' + _word_prefix(prefix, values)
    kind = node.get("type")
    if kind == "string":
        return json.dumps(node["const"]) if isinstance(node.get("const"), str) else '"'
    if kind == "array":  # an empty list is allowed unless minItems says otherwise
        if int(node.get("minItems", 0)) < 1:
            return ""
        return "[" + _opener(item_schema(node, 0), depth + 1)
    if kind == "object" or "properties" in node:
        keys = _keys(node)
        if not keys or keys[0] not in set(node.get("required") or ()):
            return "{"
        return "{" + _key_part(node, keys[0], depth + 1)
    return ""


def _key_part(node: dict, key: str, depth: int = 0) -> str:
    opener = _opener((node.get("properties") or {}).get(key), depth)
    return f'"{key}": {opener}' if opener else f'"{key}":'


def _next_key(node: dict, done: str | None) -> str | None:
    """The key after ``done`` (the first when None), when the schema requires it."""
    keys, required = _keys(node), set(node.get("required") or ())
    if done is None:
        nxt = keys[0] if keys else None
    elif done in keys and keys.index(done) + 1 < len(keys):
        nxt = keys[keys.index(done) + 1]
    else:
        return None
    return nxt if nxt in required else None


def next_literal(text: str, schema: dict) -> str:
    """The text ``schema`` forces after the JSON prefix ``text`` ('' when the next characters are the model's choice).

    Separators follow Python's ``json.dumps`` (``", "`` and ``": "``), which is how models write JSON; a model that
    writes other whitespace simply rejects the draft.
    """
    return literal_at(JsonCursor(schema).feed_text(text))


def literal_at(cur: JsonCursor) -> str:
    """:func:`next_literal` of the JSON a cursor (made with the schema) has read."""
    stack, last, in_string, is_key, expect = cur.stack, cur.last, cur.in_string, cur.is_key, cur.expect
    if not stack:
        return ""
    space = "" if cur.after_space else " "  # the separator's space, unless the model already wrote it
    top = stack[-1]
    node = top["node"]
    if top["array"]:
        items = item_schema(node, top["i"])
        if last == "[":
            return _opener(items)
        if last == ",":
            opener = _opener(items)
            return space + opener if opener else ""
        if last == "value" and isinstance(node.get("items"), list):  # a tuple: what follows an item is known
            nxt = item_schema(node, top["i"] + 1)
            return "]" if nxt is None else ", " + _opener(nxt)
        return ""
    if in_string:
        if not is_key:
            return ""
        typed = "".join(cur.key_chars)
        nxt = _next_key(node, top.get("key"))
        if nxt is None or not nxt.startswith(typed):
            return ""
        return _key_part(node, nxt)[1 + len(typed):]
    if last == "{":
        nxt = _next_key(node, None)
        return _key_part(node, nxt) if nxt else ""
    if last == ",":
        nxt = _next_key(node, top.get("key"))
        return space + _key_part(node, nxt) if nxt else ""
    if last == "value":  # a value just closed: a required key after it forces the comma and the key
        nxt = _next_key(node, top.get("key"))
        return ", " + _key_part(node, nxt) if nxt else ""
    if last == "key":
        opener = _opener((node.get("properties") or {}).get(top["key"]))
        return ": " + opener if opener else ":"
    if last == ":":
        opener = _opener(expect)
        return space + opener if opener else ""
    return ""


_NOT_CONSTANT = object()


def _constant(node: Any, depth: int = 0) -> Any:
    """The one value ``node`` allows (``_NOT_CONSTANT`` when the model has a choice)."""
    if not isinstance(node, dict) or depth > 12:
        return _NOT_CONSTANT
    if "const" in node:
        return node["const"]
    if isinstance(node.get("enum"), list) and len(node["enum"]) == 1:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "array":
        items = node.get("items")
        if int(node.get("maxItems", -1)) == 0:
            return []
        if not isinstance(items, list) or int(node.get("minItems", 0)) != len(items) \
                or int(node.get("maxItems", -1)) != len(items):
            return _NOT_CONSTANT
        values = []
        for it in items:
            values.append(_constant(it, depth + 1))
            if values[-1] is _NOT_CONSTANT:
                return _NOT_CONSTANT
        return values
    if kind == "object" or "properties" in node:
        props = node.get("properties") or {}
        if set(node.get("required") or ()) != set(props):
            return _NOT_CONSTANT
        out = {}
        for k in _keys(node):
            out[k] = _constant(props[k], depth + 1)
            if out[k] is _NOT_CONSTANT:
                return _NOT_CONSTANT
        return out
    return _NOT_CONSTANT


def constant_texts(schema: Any) -> list[str]:
    """The answers a schema of constant alternatives allows, as a model writes them (``json.dumps``), else [].

    A planner narrowed to the task's method paths (``programs.plan_choices``) is such a schema: the model only
    chooses where the paths branch, and the drafts write the common text of the paths still open.
    """
    if not isinstance(schema, dict):
        return []
    alternatives = schema.get("anyOf") if "anyOf" in schema else [schema]
    if not isinstance(alternatives, list):
        return []
    values = [_constant(alt) for alt in alternatives]
    if not values or any(v is _NOT_CONSTANT for v in values):
        return []
    return [json.dumps(v, ensure_ascii=False) for v in values]


def _common_tokens(token_lists: list[list[int]]) -> list[int]:
    prefix = list(token_lists[0])
    for tokens in token_lists[1:]:
        n = 0
        while n < len(prefix) and n < len(tokens) and prefix[n] == tokens[n]:
            n += 1
        del prefix[n:]
    return prefix


class SchemaDraft:
    """A draft model for ``llama_cpp.Llama.generate``: the tokens of ``next_literal`` of the answer so far.

    The engine sets ``schema`` (None: no drafts) and ``start`` (the prompt's length) before each request. Counters:
    ``proposed`` drafted tokens, ``passes`` forward passes of the answer (the tokens written minus ``passes`` is
    what the drafts saved).
    """

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self._schema: dict | None = None
        self._start = 0
        self.proposed = 0
        self.passes = 0
        self._reset()

    def _reset(self) -> None:
        self._cursor = JsonCursor(self._schema)
        self._seen = ""  # the answer text the cursor has read
        self._texts = constant_texts(self._schema)  # every answer the schema allows, when it is a list of constants

    @property
    def schema(self) -> dict | None:
        return self._schema

    @schema.setter
    def schema(self, value: dict | None) -> None:
        self._schema = value
        self._reset()

    @property
    def start(self) -> int:
        return self._start

    @start.setter
    def start(self, value: int) -> None:  # set before each request: a new answer begins
        self._start = value
        self._reset()

    def __call__(self, input_ids: Any, /, **_: Any) -> Any:
        import numpy as np

        if self._schema is None:
            return np.array([], dtype=np.intc)
        # the answer only grows between calls of one request: the cursor reads what is new
        text = self.llm.detokenize(list(input_ids[self._start:])).decode("utf-8", errors="ignore")
        if not text.startswith(self._seen):
            self._reset()
        self._cursor.feed_text(text[len(self._seen):])
        self._seen = text
        open_texts = [t[len(text):] for t in self._texts if t.startswith(text)]
        if open_texts:
            # the tokens the open answers share, cut at a token boundary: a draft ending in a lone space (`"-> "`)
            # is rejected there anyway, since the model writes `" yes"`, not `" "` + `"yes"`; only a pass is lost
            tokens = _common_tokens([self.llm.tokenize(t.encode("utf-8"), add_bos=False, special=False)
                                     for t in open_texts])[:_MAX_DRAFT]
            self.proposed += len(tokens)
            return np.array(tokens, dtype=np.intc)
        literal = literal_at(self._cursor)
        if not literal:
            return np.array([], dtype=np.intc)
        tokens = self.llm.tokenize(literal.encode("utf-8"), add_bos=False, special=False)[:_MAX_DRAFT]
        self.proposed += len(tokens)
        return np.array(tokens, dtype=np.intc)
