"""A decode-time check against loops inside a JSON string value.

A small model under a grammar always writes valid JSON, but inside a string it can fall into a loop (``"no label
fits -> no, such -> no, such -> no, such -> no, ..."``) that only the string's ``maxLength`` ends: the answer is
garbage and every looping token costs a forward pass. ``RepeatGuard`` follows the JSON the model writes, token
by token, and names the tokens that would repeat, inside the string being written, a run of ``n`` tokens that
string already holds (the no-repeat-n-gram rule of beam search, limited to one string value), or, for an item of
a list of strings, a run of ``n + 2`` tokens of an earlier item of the same list (a list that says the same thing
twice). The sampler then takes the model's best token that is not banned. A token that closes the string is never
banned, so the model can always end the string instead; keys, numbers and the JSON around strings are never
touched, nor are other values (a step may quote the plan; an item may begin like the one before it).
"""

from __future__ import annotations

from typing import Callable

from logreasoner.lm.json_cursor import CLOSE, CONTENT, OPEN, JsonCursor

__all__ = ["RepeatGuard"]


class RepeatGuard:
    """Tracks the JSON an answer writes; ``banned()`` are the tokens that would repeat an n-gram of the open string.

    ``piece(token) -> str`` gives a token's text. ``accept(token)`` is called with every token written, in order.
    """

    def __init__(self, piece: Callable[[int], str], n: int = 4) -> None:
        if n < 2:
            raise ValueError(f"the guard's n-gram size must be at least 2, got {n}")
        self.n = n
        self._piece = piece
        self._pieces: dict[int, str] = {}
        self._json = JsonCursor()  # its frames keep the (n+2)-grams of their earlier string items ("grams")
        self._cur: list[int] = []  # the tokens of the open string value (the one that opened it, when it holds text)
        self._next: dict[tuple[int, ...], set[int]] = {}  # (n-1)-gram of the open string -> tokens that followed it
        self.bans = 0  # how often a ban changed the model's pick (counted by the sampler)

    def _text(self, token: int) -> str:
        text = self._pieces.get(token)
        if text is None:
            text = self._pieces[token] = self._piece(token)
        return text

    def banned(self) -> list[int]:
        """Tokens that would repeat a run of ``n`` tokens of the string value being written (none outside one)."""
        js = self._json
        if not js.in_value_string or len(self._cur) < self.n - 1:
            return []
        followers = set(self._next.get(tuple(self._cur[-(self.n - 1):]), ()))
        m = self.n + 2
        if js.in_array and len(self._cur) >= m - 1:
            followers |= js.stack[-1].get("grams", {}).get(tuple(self._cur[-(m - 1):]), set())
        return [t for t in followers if not js.closes_string(self._text(t))]

    def accept(self, token: int) -> None:
        """Feed one written token."""
        js = self._json
        was_open = js.in_value_string
        opened = False
        content = False  # did this token put text into a string value it leaves open?
        for ch in self._text(token):
            event = js.feed(ch)
            if event == CONTENT:
                content = True
            elif event == OPEN:
                opened, content = True, False
                self._cur, self._next = [], {}
            elif event == CLOSE:
                if js.last == "value" and js.in_array:
                    self._remember_item(self._cur + ([token] if content else []))
                content = False
        if not js.in_value_string:
            self._cur, self._next = [], {}
            return
        if opened:  # a new string value: only this token's text after the quote belongs to it
            self._cur = [token] if content else []
            return
        if was_open:
            self._cur.append(token)
            self._grams(self._cur)

    def _grams(self, cur: list[int]) -> None:
        n = self.n
        if len(cur) >= n:
            self._next.setdefault(tuple(cur[-n:-1]), set()).add(cur[-1])

    def _remember_item(self, tokens: list[int]) -> None:
        """Keep the (n+2)-grams of a finished string item of the open list."""
        m = self.n + 2
        table = self._json.stack[-1].setdefault("grams", {})
        for i in range(len(tokens) - m + 1):
            table.setdefault(tuple(tokens[i:i + m - 1]), set()).add(tokens[i + m - 1])
