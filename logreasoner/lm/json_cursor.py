"""Where a JSON prefix stands, read one character at a time.

The decode-time helpers of the llama.cpp engine both follow the JSON an answer is writing: the schema drafts
(``schema_draft``: what the schema forces next) and the repeat guard (``repeat_guard``: which tokens would loop
inside a string). ``JsonCursor`` is their one reader: the open containers (each a frame that also carries its
schema node, the key being written and the item index), whether a string is open and whether it is a key, and
the last structural event. It never validates: the grammar that constrains the model does that.
"""

from __future__ import annotations

from typing import Any

__all__ = ["JsonCursor", "item_schema"]

OPEN, CLOSE, CONTENT = "open", "close", "content"  # the string events feed() reports


def item_schema(node: dict, i: int) -> Any:
    """The schema of item ``i`` of an array: ``items``, or its ``i``-th entry when ``items`` is a tuple."""
    items = node.get("items")
    if isinstance(items, list):
        return items[i] if i < len(items) else None
    return items


class JsonCursor:
    """Feed characters with :meth:`feed`; read ``stack``, ``last``, ``in_string``, ``is_key``, ``expect``.

    ``stack`` holds one dict per open container: ``array`` (bool), ``node`` (its schema, ``{}`` without one),
    ``key`` (an object's last closed key) or ``i`` (an array's item index). Callers may keep their own data in a
    frame; it goes when the container closes. ``last`` is the last structural event: ``{`` ``[`` ``,`` ``:``
    ``open`` (a string opened), ``key`` / ``value`` (a key or a value closed), ``scalar``. ``expect`` is the schema
    of the value that comes next, when the cursor was given a schema.
    """

    __slots__ = ("stack", "expect", "last", "in_string", "escaped", "is_key", "key_chars", "after_space")

    def __init__(self, schema: Any = None) -> None:
        self.stack: list[dict] = []
        self.expect: Any = schema
        self.last = ""
        self.in_string = self.escaped = self.is_key = False
        self.key_chars: list[str] = []  # the text of the key being written
        self.after_space = False  # was the last character whitespace outside a string?

    def feed(self, ch: str) -> str | None:
        """Advance by one character. Returns ``"open"`` when it opens a string, ``"close"`` when it closes one,
        ``"content"`` when it is (part of) a character inside one, else None."""
        if self.in_string:
            if self.escaped:
                self.escaped = False
            elif ch == "\\":
                self.escaped = True
            elif ch == '"':
                self.in_string = False
                if self.is_key:
                    if self.stack:
                        self.stack[-1]["key"] = "".join(self.key_chars)
                    self.last = "key"
                else:
                    self.last = "value"
                return CLOSE
            elif self.is_key:
                self.key_chars.append(ch)
            return CONTENT
        self.after_space = ch in " \t\r\n"
        if self.after_space:
            return None
        if ch == "{":
            self.stack.append({"array": False, "node": self.expect if isinstance(self.expect, dict) else {},
                               "key": None})
            self.last = "{"
        elif ch == "[":
            node = self.expect if isinstance(self.expect, dict) else {}
            self.stack.append({"array": True, "node": node, "i": 0})
            self.expect, self.last = item_schema(node, 0), "["
        elif ch in "}]":
            if self.stack:
                self.stack.pop()
            self.last = "value"
        elif ch == ",":
            self.last = ","
            if self.stack and self.stack[-1]["array"]:
                self.stack[-1]["i"] += 1
                self.expect = item_schema(self.stack[-1]["node"], self.stack[-1]["i"])
        elif ch == ":":
            self.last = ":"
            if self.stack and not self.stack[-1]["array"]:
                self.expect = (self.stack[-1]["node"].get("properties") or {}).get(self.stack[-1]["key"])
        elif ch == '"':
            self.is_key = bool(self.stack) and not self.stack[-1]["array"] and self.last in ("{", ",")
            self.in_string, self.escaped, self.last = True, False, "open"
            self.key_chars = []
            return OPEN
        else:
            self.last = "scalar"
        return None

    def feed_text(self, text: str) -> "JsonCursor":
        for ch in text:
            self.feed(ch)
        return self

    @property
    def in_value_string(self) -> bool:
        """Is a string value (not a key) open?"""
        return self.in_string and not self.is_key

    @property
    def in_array(self) -> bool:
        return bool(self.stack) and self.stack[-1]["array"]

    def closes_string(self, text: str) -> bool:
        """Would ``text``, written next, end the open string (an unescaped quote in it)?"""
        escaped = self.escaped
        for ch in text:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                return True
        return False
